//! TLS and authentication against a real Mosquitto with a certificate made
//! in the test: `mqtt-source` (dora testing mode) connects over `mqtts://`
//! with a user and password and ingests telemetry; with a wrong password it
//! says so clearly, keeps running, and never logs the password.

use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::node::TestNode;
use shopfloor_dataflow_tests::{certs, scratch_dir};

/// How long each run of the node lasts: dora's testing mode stops it at a
/// fixed time, so this is the deadline for its TLS handshake. 4 s was once
/// too short: with the chaos test's model threads spinning on both cores,
/// the node began its handshake just as its stop came.
const RUN_SECS: f64 = 15.0;
const PASSWORD: &str = "s3cret-pass-7731";

/// Runs `mqtt-source` for RUN_SECS with `password`; returns its log and whether it exited cleanly.
fn run_source(
    broker: &Mosquitto,
    ca_file: &std::path::Path,
    password: &str,
    name: &str,
) -> anyhow::Result<(String, bool)> {
    let envs = [
        ("MQTT_BROKER_URL", format!("mqtts://127.0.0.1:{}", broker.port)),
        ("MQTT_TLS_CA_FILE", ca_file.display().to_string()),
        ("MQTT_USERNAME", "gateway".to_owned()),
        ("MQTT_PASSWORD", password.to_owned()),
    ];
    // Metrics ticks keep the testing-mode events flowing, so a start slowed
    // by a loaded machine does not wait for the Stop (as in `embedded_broker.rs`).
    let ticks = Some((std::time::Duration::from_millis(500), "metrics_tick"));
    TestNode::start_with_input_ticks("mqtt-source", &envs, RUN_SECS, ticks, name)?.wait()
}

#[test]
fn tls_with_a_password_connects_and_a_wrong_password_is_reported_clearly() -> anyhow::Result<()> {
    let certs = certs::make()?;
    let broker = Mosquitto::start_tls(&certs.server_cert, &certs.server_key, &[("gateway", PASSWORD)])?;
    let dir = scratch_dir("mqtt-tls-ca");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &certs.ca)?;

    let (log, clean) = run_source(&broker, &ca_file, PASSWORD, "mqtt-tls-good")?;
    assert!(clean, "mqtt-source failed:\n{log}");
    assert!(log.contains("connected to MQTT broker"), "no TLS connection:\n{log}");
    assert!(!log.contains(PASSWORD), "the password appears in the log");

    let wrong = "wrong-pass-99";
    let (log, clean) = run_source(&broker, &ca_file, wrong, "mqtt-tls-bad")?;
    assert!(clean, "a wrong password must not crash the node:\n{log}");
    assert!(log.contains("bad user name or password") || log.contains("not authorized"), "no clear refusal:\n{log}");
    assert!(!log.contains(wrong), "the password appears in the log");
    Ok(())
}
