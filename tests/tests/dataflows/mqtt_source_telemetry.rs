//! The `mqtt-source` binary alone, in dora's testing mode (no daemon), against
//! a real Mosquitto: telemetry on wildcard subscriptions comes out as
//! `reading` batches; malformed telemetry (including huge, binary and deeply
//! nested payloads) is dead-lettered with its reason and the node stays up.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::node::input_ticks;
use shopfloor_dataflow_tests::process::ProcessGroup;
use shopfloor_dataflow_tests::{release_binary, scratch_dir};

/// The node stops itself after this (a Stop event in its test input). It
/// bounds how long the node may take to subscribe (`SUBSCRIBED_WITHIN`):
/// with 8 s, a node that needed 8 s to start and connect beside a model test
/// stopped before the test's 60 s wait could see it subscribed.
const RUN_SECS: f64 = 30.0;
/// How long the node may take to subscribe; the rest of `RUN_SECS` is the
/// test's own traffic.
const SUBSCRIBED_WITHIN: Duration = Duration::from_secs(20);

#[test]
fn telemetry_becomes_reading_batches_and_bad_payloads_are_dead_lettered() -> anyhow::Result<()> {
    let broker = Mosquitto::start()?;
    let dir = scratch_dir("mqtt-source-telemetry");
    let root = "site9/area/line";
    let subscriptions = "~/telemetry/+/temp number {5}_temperature °C\n\
                         site9/ovens/+/state json temp=oven_{3}_temp@°C mode=oven_{3}_mode ts=ts";
    let (mut node, outputs) = start_source(&broker, root, subscriptions, &[("MQTT_MAX_PAYLOAD_BYTES", "4096")], &dir)?;
    let client = TestClient::connect(broker.port, &["site9/shopfloor/deadletter/#".to_owned()])?;

    // Until the node has subscribed, messages are lost: send a malformed one
    // until its dead letter proves the subscription is live.
    let ready_by = Instant::now() + SUBSCRIBED_WITHIN;
    loop {
        client.publish(&format!("{root}/telemetry/probe/temp"), "not a number")?;
        if client.wait_for(Duration::from_millis(300), |m| m.json["reason"] == "not_a_number").is_some() {
            break;
        }
        anyhow::ensure!(Instant::now() < ready_by, "mqtt-source never subscribed");
    }

    for (n, value) in ["21.5", "22", "22.25"].iter().enumerate() {
        client.publish(&format!("{root}/telemetry/coolant{n}/temp"), *value)?;
    }
    client.publish("site9/ovens/oven7/state", r#"{"temp": 181.5, "mode": "AUTO", "ts": 1764086400000}"#)?;

    let bad: Vec<(&str, Vec<u8>, &str)> = vec![
        ("site9/ovens/o/state", b"{\"temp\": ".to_vec(), "invalid_json"),
        ("site9/ovens/o/state", "[".repeat(3000).into_bytes(), "invalid_json"),
        ("site9/ovens/o/state", vec![0xff, 0x00, 0xfe, 0x80], "not_utf8"),
        ("site9/ovens/o/state", vec![b' '; 5000], "oversized"),
        ("site9/ovens/o/state", br#"{"other": 1, "ts": 1}"#.to_vec(), "no_mapped_field"),
        ("site9/ovens/o/state", br#"{"temp": {"deep": 1}, "ts": 1}"#.to_vec(), "wrong_type"),
    ];
    for (topic, payload, _) in &bad {
        client.publish(topic, payload.clone())?;
    }
    for (_, _, reason) in &bad {
        let letter = client.wait_for(Duration::from_secs(30), |m| m.json["reason"] == *reason);
        anyhow::ensure!(letter.is_some(), "no dead letter with reason {reason}");
    }

    let status = node
        .wait_timeout(Duration::from_secs_f64(RUN_SECS + 10.0))
        .ok_or_else(|| anyhow::anyhow!("mqtt-source did not stop after its Stop event"))?;
    assert!(status.success(), "mqtt-source exited with {status}");

    let rows = reading_rows(&outputs)?;
    let tag_values: Vec<(String, serde_json::Value)> =
        rows.iter().map(|r| (r["tag"].as_str().unwrap_or_default().to_owned(), r["value_number"].clone())).collect();
    for (tag, value) in [
        ("coolant0_temperature", 21.5),
        ("coolant1_temperature", 22.0),
        ("coolant2_temperature", 22.25),
        ("oven_oven7_temp", 181.5),
    ] {
        assert!(
            tag_values.iter().any(|(t, v)| t == tag && v.as_f64() == Some(value)),
            "{tag} = {value} missing in {tag_values:?}"
        );
    }
    let mode = rows.iter().find(|r| r["tag"] == "oven_oven7_mode").expect("oven mode reading");
    assert_eq!(mode["value_text"], "AUTO");
    assert_eq!(mode["source_ts_ms"], 1_764_086_400_000i64);
    Ok(())
}

/// Starts `mqtt-source` in dora's testing mode with `subscriptions`; it stops
/// itself after [`RUN_SECS`]. Returns the process and its outputs file.
fn start_source(
    broker: &Mosquitto,
    root: &str,
    subscriptions: &str,
    extra_env: &[(&str, &str)],
    dir: &Path,
) -> anyhow::Result<(ProcessGroup, PathBuf)> {
    let inputs = dir.join("inputs.json");
    let outputs = dir.join("outputs.jsonl");
    // Metrics ticks keep dora's testing-mode events flowing: without them a
    // start slowed by a loaded machine waits for the Stop, and the node never
    // subscribes in time (seen in a full run beside a model test).
    let mut events = input_ticks(Duration::from_millis(500), "metrics_tick", RUN_SECS);
    events.push(serde_json::json!({"time_offset_secs": RUN_SECS, "type": "Stop"}));
    std::fs::write(&inputs, serde_json::json!({"id": "mqtt-source", "events": events}).to_string())?;
    let mut command = Command::new(release_binary("mqtt-source")?);
    command
        .env("DORA_TEST_WITH_INPUTS", &inputs)
        .env("DORA_TEST_WRITE_OUTPUTS_TO", &outputs)
        .env("MQTT_BROKER_URL", broker.url())
        .env("MQTT_TOPIC_ROOT", root)
        .env("TELEMETRY_SUBSCRIPTIONS", subscriptions)
        .envs(extra_env.iter().copied());
    Ok((ProcessGroup::spawn("mqtt-source", command)?, outputs))
}

fn reading_rows(outputs: &Path) -> anyhow::Result<Vec<serde_json::Value>> {
    Ok(std::fs::read_to_string(outputs)?
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|o| o["id"] == "readings")
        .flat_map(|o| o["data"].as_array().cloned().unwrap_or_default())
        .collect())
}

/// Sparkplug B: a birth names the metrics, data by alias resolves to them, a
/// sequence gap is dead-lettered and answered with a rebirth command, and a
/// death marks the values bad.
#[test]
fn sparkplug_births_data_aliases_and_rebirth_requests() -> anyhow::Result<()> {
    use mqtt_source::sparkplug::{Metric, MetricValue, Payload, REBIRTH_METRIC};
    use prost::Message;

    let metric = |name: Option<&str>, alias: u64, value: MetricValue| Metric {
        name: name.map(str::to_owned),
        alias: Some(alias),
        datatype: Some(10),
        value: Some(value),
        ..Metric::default()
    };
    let payload = |seq: u64, metrics: Vec<Metric>| {
        Payload { timestamp: Some(1_764_086_400_000), metrics, seq: Some(seq) }.encode_to_vec()
    };

    let broker = Mosquitto::start()?;
    let dir = scratch_dir("mqtt-source-sparkplug");
    let client =
        TestClient::connect(broker.port, &["spBv1.0/plant/NCMD/#".to_owned(), "sb/shopfloor/deadletter/#".to_owned()])?;
    let (mut node, outputs) = start_source(&broker, "sb/area/line", "spBv1.0/plant/# sparkplug", &[], &dir)?;

    // Data before any birth: refused with a rebirth request, which also proves the subscription is live.
    let ready_by = Instant::now() + SUBSCRIBED_WITHIN;
    loop {
        // A probe edge node of its own, so that press1's rebirth requests are not rate-limited by it.
        client
            .publish("spBv1.0/plant/NDATA/probe", payload(1, vec![metric(None, 1, MetricValue::DoubleValue(0.0))]))?;
        if client.wait_for(Duration::from_millis(300), |m| m.json["reason"] == "not_born").is_some() {
            break;
        }
        anyhow::ensure!(Instant::now() < ready_by, "mqtt-source never subscribed");
    }
    let probe_rebirth = client.wait_for(Duration::from_secs(30), |m| m.topic == "spBv1.0/plant/NCMD/probe");
    anyhow::ensure!(probe_rebirth.is_some(), "no rebirth request for data before birth");

    let birth = payload(
        0,
        vec![
            metric(Some("bdSeq"), 0, MetricValue::LongValue(1)),
            metric(Some("Oil Temperature"), 1, MetricValue::DoubleValue(41.5)),
        ],
    );
    client.publish("spBv1.0/plant/NBIRTH/press1", birth)?;
    client.publish("spBv1.0/plant/NDATA/press1", payload(1, vec![metric(None, 1, MetricValue::DoubleValue(42.25))]))?;
    client.publish("spBv1.0/plant/NDATA/press1", payload(7, vec![metric(None, 1, MetricValue::DoubleValue(43.0))]))?;
    let gap = client.wait_for(Duration::from_secs(30), |m| m.json["reason"] == "sequence_gap");
    anyhow::ensure!(gap.is_some(), "no dead letter for the sequence gap");
    // The rebirth NCMD is protobuf, not JSON: the test client keeps its topic only.
    let command = client.wait_for(Duration::from_secs(30), |m| m.topic == "spBv1.0/plant/NCMD/press1");
    anyhow::ensure!(command.is_some(), "no rebirth command after the gap (metric {REBIRTH_METRIC:?})");
    client.publish(
        "spBv1.0/plant/NDEATH/press1",
        payload(0, vec![metric(Some("bdSeq"), 0, MetricValue::LongValue(1))]),
    )?;

    let status =
        node.wait_timeout(Duration::from_secs_f64(RUN_SECS + 10.0)).ok_or_else(|| anyhow::anyhow!("no stop"))?;
    assert!(status.success(), "mqtt-source exited with {status}");
    let rows = reading_rows(&outputs)?;
    let values: Vec<(f64, String)> = rows
        .iter()
        .filter(|r| r["tag"] == "press1.Oil_Temperature")
        .map(|r| (r["value_number"].as_f64().unwrap_or(f64::NAN), r["quality"].as_str().unwrap_or_default().to_owned()))
        .collect();
    assert_eq!(
        values,
        [(41.5, "good".to_owned()), (42.25, "good".to_owned()), (43.0, "good".to_owned()), (43.0, "bad".to_owned())],
        "{rows:?}"
    );
    Ok(())
}
