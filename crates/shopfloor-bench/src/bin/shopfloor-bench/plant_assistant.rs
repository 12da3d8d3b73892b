//! End-to-end benchmark of `dataflows/plant-assistant.yml`: operators' MQTT
//! questions through a real Mosquitto, answered by the whole dataflow.
//!
//! For each question it measures the round trip as the operator sees it
//! (publish → answer received) and records whether the answer states the
//! value the simulator served (read over OPC UA just before and after), and
//! whether the model wrote the sentence or it was composed from the fact.
//! Prints a markdown section; `scripts/bench.sh` appends it to
//! docs/benchmarks.md.

use std::time::{Duration, Instant};

use shopfloor_core::schema::ReadingValue;
use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::free_port;
use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::opcua::SimReader;

const QUESTIONS: &[&str] = &[
    "What is the spindle temperature?",
    "How hot is the spindle?",
    "Tell me the spindle temperature.",
    "What's the current spindle temperature in °C?",
    "spindle temperature?",
];
const ROUNDS: usize = 20;
const TEMPERATURE_NODE: &str = "ns=2;s=Cell1.SpindleTemperature";

/// Peak resident memory (`VmHWM`) of the running process whose executable
/// is named `name`, from /proc.
fn peak_rss_kib(name: &str) -> Option<u64> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        if comm.trim() != name {
            return None;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    shopfloor_node::stats::percentile_of_sorted(sorted, p).unwrap_or(f64::NAN)
}

pub fn run() -> anyhow::Result<()> {
    let broker = Mosquitto::start()?;
    let sim_port = free_port();
    let root = "bench/assembly/cell1";
    let endpoint = format!("opc.tcp://127.0.0.1:{sim_port}/");
    let mut dataflow = RunningDataflow::start(
        "plant-assistant.yml",
        &[
            ("MQTT_BROKER_URL", broker.url()),
            ("MQTT_TOPIC_ROOT", root.to_owned()),
            ("SIM_PORT", sim_port.to_string()),
            ("OPCUA_ENDPOINT", endpoint.clone()),
            ("GATEWAY_LISTEN", format!("127.0.0.1:{}", free_port())),
        ],
        Duration::from_secs(600),
    )?;
    let client = TestClient::connect(broker.port, &[format!("{root}/assistant/answer/#")])?;
    let topic = format!("{root}/assistant/query/bench");

    // Warm up until live data is answered.
    let ready_by = Instant::now() + Duration::from_secs(120);
    for attempt in 0.. {
        anyhow::ensure!(
            dataflow.is_running() && Instant::now() < ready_by,
            "dataflow not ready:\n{}",
            dataflow.log_text()
        );
        let id = format!("warm-{attempt}");
        client.publish(&topic, serde_json::json!({"id": id, "question": "Is the machine running?"}).to_string())?;
        let reply = client.wait_for(Duration::from_secs(3), |m| m.json["id"] == id.as_str());
        if reply.is_some_and(|r| r.json["error"] != "no_plant_data") {
            break;
        }
    }

    let reader = SimReader::connect(&endpoint)?;
    let (mut round_trips, mut ttfts, mut correct, mut by_model) = (Vec::new(), Vec::new(), 0, 0);
    for round in 0..ROUNDS {
        for (n, question) in QUESTIONS.iter().enumerate() {
            let id = format!("b-{round}-{n}");
            let before = reader.sample_values(TEMPERATURE_NODE, Duration::from_millis(1500))?;
            let sent = Instant::now();
            client.publish(&topic, serde_json::json!({"id": id, "question": question}).to_string())?;
            let reply = client
                .wait_for(Duration::from_secs(30), |m| m.json["id"] == id.as_str())
                .ok_or_else(|| anyhow::anyhow!("no answer to {id}"))?;
            round_trips.push(sent.elapsed().as_secs_f64() * 1e3);
            let after = ReadingValue::Number(reader.read_double(TEMPERATURE_NODE)?).to_string();
            let text = reply.json["answer"].as_str().unwrap_or_default();
            if before.iter().chain([&after]).any(|value| text.contains(value.as_str())) {
                correct += 1;
            }
            if !reply.json["confidence"].is_null() {
                by_model += 1;
            }
            if let Some(ttft) = reply.json["ttft_ms"].as_f64() {
                ttfts.push(ttft);
            }
        }
    }
    let slm_peak_rss_kib = peak_rss_kib("slm");
    let (success, _) = dataflow.stop();
    anyhow::ensure!(success, "dataflow did not stop cleanly");

    round_trips.sort_by(f64::total_cmp);
    ttfts.sort_by(f64::total_cmp);
    let total = round_trips.len();
    println!("### End to end: MQTT question to MQTT answer (Mosquitto, plant-sim, router, tiers SmolLM2-135M Q4_1 and Gemma 3 270M Q4_K_M)\n");
    println!("| measure | value |");
    println!("|---|---|");
    println!("| questions | {total} ({} phrasings × {ROUNDS}), asked one after another |", QUESTIONS.len());
    println!(
        "| round trip p50 / p95 / max | {:.0} / {:.0} / {:.0} ms |",
        percentile(&round_trips, 0.5),
        percentile(&round_trips, 0.95),
        round_trips[total - 1]
    );
    if !ttfts.is_empty() {
        println!("| time to first token p50 (from question received) | {:.0} ms |", percentile(&ttfts, 0.5));
    }
    println!("| answers stating the served temperature | {correct} / {total} |");
    println!("| sentences written by the model (rest composed from the fact) | {by_model} / {total} |");
    match slm_peak_rss_kib {
        Some(kib) => println!("| peak RSS of the `slm` node (VmHWM) | {:.0} MiB |", kib as f64 / 1024.0),
        None => println!("| peak RSS of the `slm` node | not found |"),
    }
    Ok(())
}
