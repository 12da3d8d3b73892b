//! The `mqtt-source` binary alone, in dora's testing mode (no daemon), against
//! a real Mosquitto: telemetry on wildcard subscriptions comes out as
//! `reading` batches; malformed telemetry (including huge, binary and deeply
//! nested payloads) is dead-lettered with its reason and the node stays up.

use std::process::Command;
use std::time::{Duration, Instant};

use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::process::ProcessGroup;
use shopfloor_dataflow_tests::{repo_root, scratch_dir};

/// The node stops itself after this (a Stop event in its test input).
const RUN_SECS: f64 = 8.0;

#[test]
fn telemetry_becomes_reading_batches_and_bad_payloads_are_dead_lettered() -> anyhow::Result<()> {
    let broker = Mosquitto::start()?;
    let dir = scratch_dir("mqtt-source-telemetry");
    let inputs = dir.join("inputs.json");
    let outputs = dir.join("outputs.jsonl");
    std::fs::write(
        &inputs,
        serde_json::json!({"id": "mqtt-source", "events": [{"time_offset_secs": RUN_SECS, "type": "Stop"}]}).to_string(),
    )?;
    let root = "site9/area/line";
    let mut command = Command::new(repo_root().join("target/release/mqtt-source"));
    command
        .env("DORA_TEST_WITH_INPUTS", &inputs)
        .env("DORA_TEST_WRITE_OUTPUTS_TO", &outputs)
        .env("MQTT_BROKER_URL", broker.url())
        .env("MQTT_TOPIC_ROOT", root)
        .env("MQTT_MAX_PAYLOAD_BYTES", "4096")
        .env(
            "TELEMETRY_SUBSCRIPTIONS",
            "~/telemetry/+/temp number {5}_temperature °C\n\
             site9/ovens/+/state json temp=oven_{3}_temp@°C mode=oven_{3}_mode ts=ts",
        );
    let mut node = ProcessGroup::spawn("mqtt-source", command)?;
    let client = TestClient::connect(broker.port, &["site9/shopfloor/deadletter/#".to_owned()])?;

    // Until the node has subscribed, messages are lost: send a malformed one
    // until its dead letter proves the subscription is live.
    let ready_by = Instant::now() + Duration::from_secs(5);
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
        let letter = client.wait_for(Duration::from_secs(5), |m| m.json["reason"] == *reason);
        anyhow::ensure!(letter.is_some(), "no dead letter with reason {reason}");
    }

    let status = node
        .wait_timeout(Duration::from_secs_f64(RUN_SECS + 10.0))
        .ok_or_else(|| anyhow::anyhow!("mqtt-source did not stop after its Stop event"))?;
    assert!(status.success(), "mqtt-source exited with {status}");

    let text = std::fs::read_to_string(&outputs)?;
    let rows: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|o| o["id"] == "readings")
        .flat_map(|o| o["data"].as_array().cloned().unwrap_or_default())
        .collect();
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
