//! What the MQTT path adds to a question's round trip: an asker publishes a
//! question and waits for its answer, one at a time, (a) answered by a bare
//! rumqttc client that republishes at once, and (b) answered through
//! `mqtt-source` → an instant answering node → `mqtt-sink`
//! (`dataflows/bench-mqtt-roundtrip.yml`), both on one Mosquitto in the same
//! run. Prints a markdown section; `scripts/bench.sh` appends it to
//! docs/benchmarks.md.

use std::time::{Duration, Instant};

use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};
use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::mqtt::{client_with_nodelay, TestClient};

const QUESTIONS: usize = 500;
const ROOT: &str = "benchrt/area/line";

/// Sends QUESTIONS questions one after the other; the round-trip times, sorted.
fn ask_all(asker: &TestClient, prefix: &str) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(QUESTIONS);
    for n in 0..QUESTIONS {
        let id = format!("{prefix}-{n}");
        let question = serde_json::json!({"id": id, "question": "What is the spindle temperature?"}).to_string();
        let sent = Instant::now();
        asker.publish(&format!("{ROOT}/assistant/query/bench"), question)?;
        asker
            .wait_for(Duration::from_secs(10), |m| m.json["id"] == id.as_str())
            .ok_or_else(|| anyhow::anyhow!("no answer to {id}"))?;
        times.push(sent.elapsed());
    }
    times.sort_unstable();
    Ok(times)
}

/// A bare rumqttc client that answers every question by republishing it to the answer topic.
fn start_bare_echo(port: u16) -> anyhow::Result<Client> {
    let mut options = MqttOptions::new("bench-rt-echo", "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut connection) = client_with_nodelay(options, 100);
    client.subscribe(format!("{ROOT}/assistant/query/+"), QoS::AtLeastOnce)?;
    let publisher = client.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for event in connection.iter() {
            match event {
                Ok(Event::Incoming(Incoming::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    let operator = p.topic.rsplit('/').next().unwrap_or_default().to_owned();
                    let _ = publisher.try_publish(
                        format!("{ROOT}/assistant/answer/{operator}"),
                        QoS::AtLeastOnce,
                        false,
                        p.payload.to_vec(),
                    );
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(10))?;
    Ok(client)
}

fn row(name: &str, times: &[Duration]) -> String {
    let pick = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    format!("| {name} | {} | {:.2} | {:.2} | {:.2} |", times.len(), pick(0.5), pick(0.95), pick(1.0))
}

pub fn run() -> anyhow::Result<()> {
    let broker = Mosquitto::start()?;
    let asker = TestClient::connect(broker.port, &[format!("{ROOT}/assistant/answer/#")])?;

    let echo = start_bare_echo(broker.port)?;
    ask_all(&asker, "warm-bare")?;
    let bare = ask_all(&asker, "bare")?;
    echo.disconnect()?;
    std::thread::sleep(Duration::from_millis(300));

    let dataflow = RunningDataflow::start(
        "bench-mqtt-roundtrip.yml",
        &[("MQTT_BROKER_URL", broker.url())],
        Duration::from_secs(300),
    )?;
    let ready_by = Instant::now() + Duration::from_secs(60);
    loop {
        asker.publish(&format!("{ROOT}/assistant/query/bench"), r#"{"id":"ready","question":"?"}"#)?;
        if asker.wait_for(Duration::from_millis(500), |m| m.json["id"] == "ready").is_some() {
            break;
        }
        anyhow::ensure!(Instant::now() < ready_by, "the round-trip dataflow did not answer:\n{}", dataflow.log_text());
    }
    ask_all(&asker, "warm-nodes")?;
    let nodes = ask_all(&asker, "nodes")?;
    let (success, _) = dataflow.stop();
    anyhow::ensure!(success, "the benchmark dataflow did not stop cleanly");

    println!("### MQTT answer round trip (Mosquitto on loopback, {QUESTIONS} questions one at a time, no model)\n");
    println!("| answered by | questions | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|");
    println!("{}", row("bare rumqttc client republishing the question", &bare));
    println!("{}", row("mqtt-source → instant answering node → mqtt-sink (dora)", &nodes));
    let median = |t: &[Duration]| t[t.len() / 2].as_secs_f64() * 1e3;
    println!("\nAdded by the nodes and dora at the median: {:.2} ms (goal ≤ 1 ms).", median(&nodes) - median(&bare));
    Ok(())
}
