//! MQTT telemetry ingest benchmark: JSON messages published as fast as a
//! rumqttc client can to a real Mosquitto, received (a) by a bare rumqttc
//! subscriber and (b) through `mqtt-source` into Arrow readings counted by a
//! node in `dataflows/bench-mqtt-ingest.yml`, at QoS 0 and QoS 1, one after
//! the other in the same run. Prints a markdown section; `scripts/bench.sh`
//! appends it to docs/benchmarks.md.

use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};
use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::scratch_dir;

const MESSAGES: usize = 100_000;
const SENSORS: usize = 100;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn options(id: &str, port: u16) -> MqttOptions {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30)).set_max_packet_size(1 << 20, 1 << 20);
    options
}

/// Publishes MESSAGES JSON payloads on `bench/telemetry/s<n>`; returns when all were handed to the broker.
fn publish_all(port: u16, qos: QoS) -> anyhow::Result<Duration> {
    let (client, mut connection) = Client::new(options("bench-publisher", port), 1000);
    let (done_tx, done_rx) = channel();
    std::thread::spawn(move || {
        let mut acked = 0usize;
        for event in connection.iter() {
            match event {
                Ok(Event::Incoming(Incoming::PubAck(_))) => {
                    acked += 1;
                    if acked == MESSAGES {
                        let _ = done_tx.send(());
                    }
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    let started = Instant::now();
    for n in 0..MESSAGES {
        let payload = format!("{{\"v\":{}.5,\"ts\":{}}}", n % 1000, now_ms());
        client.publish(format!("bench/telemetry/s{}", n % SENSORS), qos, false, payload)?;
    }
    if qos != QoS::AtMostOnce {
        done_rx.recv_timeout(Duration::from_secs(120)).map_err(|_| anyhow::anyhow!("publisher not acknowledged"))?;
    } else {
        std::thread::sleep(Duration::from_millis(500)); // let the queue drain to the socket
    }
    let elapsed = started.elapsed();
    let _ = client.disconnect();
    Ok(elapsed)
}

struct Run {
    received: usize,
    rate: f64,
    latency_p50_ms: Option<i64>,
    latency_p95_ms: Option<i64>,
}

/// A bare rumqttc subscriber counting messages.
fn bare(port: u16, qos: QoS) -> anyhow::Result<Run> {
    let (client, mut connection) = Client::new(options("bench-bare", port), 1000);
    client.subscribe("bench/telemetry/+", qos)?;
    let (tx, rx) = channel::<(Instant, i64)>();
    let (ready_tx, ready_rx) = channel();
    std::thread::spawn(move || {
        for event in connection.iter() {
            match event {
                Ok(Event::Incoming(Incoming::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    let ts = serde_json::from_slice::<serde_json::Value>(&p.payload)
                        .ok()
                        .and_then(|v| v["ts"].as_i64())
                        .unwrap_or(0);
                    if tx.send((Instant::now(), now_ms() - ts)).is_err() {
                        return;
                    }
                }
                Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(10))?;
    publish_all(port, qos)?;
    let mut arrivals = Vec::new();
    while let Ok(arrival) = rx.recv_timeout(Duration::from_secs(2)) {
        arrivals.push(arrival);
    }
    let _ = client.disconnect();
    let span = match (arrivals.first(), arrivals.last()) {
        (Some(first), Some(last)) => last.0.duration_since(first.0).as_secs_f64(),
        _ => 0.0,
    };
    let mut latencies: Vec<i64> = arrivals.iter().map(|a| a.1).collect();
    latencies.sort_unstable();
    let pick = |p: f64| latencies.get(((latencies.len() as f64 - 1.0) * p).round() as usize).copied();
    Ok(Run {
        received: arrivals.len(),
        rate: arrivals.len() as f64 / span.max(1e-9),
        latency_p50_ms: pick(0.5),
        latency_p95_ms: pick(0.95),
    })
}

/// The same stream through `mqtt-source` into Arrow, counted by the bench node.
fn through_node(broker: &Mosquitto, qos: QoS) -> anyhow::Result<Run> {
    let dir = scratch_dir("bench-mqtt-ingest");
    let out = dir.join("count.json");
    let qos_level = match qos {
        QoS::AtMostOnce => "0",
        QoS::AtLeastOnce => "1",
        QoS::ExactlyOnce => "2",
    };
    let dataflow = RunningDataflow::start(
        "bench-mqtt-ingest.yml",
        &[
            ("MQTT_BROKER_URL", broker.url()),
            ("MQTT_QOS", qos_level.to_owned()),
            ("COUNTER_OUT", out.display().to_string()),
        ],
        Duration::from_secs(300),
    )?;
    // Ready when a malformed message is dead-lettered: the subscription is live.
    let probe = TestClient::connect(broker.port, &["bench/shopfloor/deadletter/#".to_owned()])?;
    let ready_by = Instant::now() + Duration::from_secs(60);
    loop {
        probe.publish("bench/telemetry/probe", "{")?;
        if probe.wait_for(Duration::from_millis(500), |m| m.json["reason"] == "invalid_json").is_some() {
            break;
        }
        anyhow::ensure!(Instant::now() < ready_by, "mqtt-source not ready:\n{}", dataflow.log_text());
    }
    publish_all(broker.port, qos)?;
    std::thread::sleep(Duration::from_secs(3));
    let (success, _) = dataflow.stop();
    anyhow::ensure!(success, "the benchmark dataflow did not stop cleanly");
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
    let received = summary["count"].as_u64().unwrap_or(0) as usize;
    let span_ms = summary["last_ms"].as_i64().unwrap_or(0) - summary["first_ms"].as_i64().unwrap_or(0);
    Ok(Run {
        received,
        rate: received as f64 / (span_ms.max(1) as f64 / 1e3),
        latency_p50_ms: summary["latency_p50_ms"].as_i64(),
        latency_p95_ms: summary["latency_p95_ms"].as_i64(),
    })
}

pub fn run() -> anyhow::Result<()> {
    let broker = Mosquitto::start()?;
    println!("### MQTT telemetry ingest (Mosquitto on loopback, {MESSAGES} JSON messages on {SENSORS} topics)\n");
    println!("| QoS | receiver | received | messages/s | latency p50 / p95 (publish → arrival) |");
    println!("|---|---|---|---|---|");
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        let level = if qos == QoS::AtMostOnce { 0 } else { 1 };
        let bare = bare(broker.port, qos)?;
        let node = through_node(&broker, qos)?;
        let show = |name: &str, run: &Run| {
            println!(
                "| {level} | {name} | {} / {MESSAGES} | {:.0} | {} / {} ms |",
                run.received,
                run.rate,
                run.latency_p50_ms.map_or("-".into(), |v| v.to_string()),
                run.latency_p95_ms.map_or("-".into(), |v| v.to_string())
            )
        };
        show("bare rumqttc subscriber", &bare);
        show("mqtt-source → Arrow readings (counted by a dora node)", &node);
        println!("| {level} | ratio | | {:.2}x | |", node.rate / bare.rate.max(1e-9));
    }
    println!(
        "\nThe node's latency includes batching (`TELEMETRY_BATCH_MS`, 50 ms) and dora's delivery to the counter."
    );
    Ok(())
}
