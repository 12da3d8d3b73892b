//! TLS and authentication against a real Mosquitto with a certificate made
//! in the test: `mqtt-source` (dora testing mode) connects over `mqtts://`
//! with a user and password and ingests telemetry; with a wrong password it
//! says so clearly, keeps running, and never logs the password.

use std::process::{Command, Stdio};
use std::time::Duration;

use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::process::ProcessGroup;
use shopfloor_dataflow_tests::{repo_root, scratch_dir};

const RUN_SECS: f64 = 4.0;
const PASSWORD: &str = "s3cret-pass-7731";

/// A CA and a server certificate for 127.0.0.1 signed by it (PEM).
fn certificates() -> anyhow::Result<(String, String, String)> {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "shopfloor test CA");
    let ca_key = rcgen::KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let server_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    let server_key = rcgen::KeyPair::generate()?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server = server_params.signed_by(&server_key, &issuer)?;
    Ok((ca.pem(), server.pem(), server_key.serialize_pem()))
}

/// Runs `mqtt-source` for RUN_SECS with `password`; returns its stderr and whether it exited cleanly.
fn run_source(broker: &Mosquitto, ca_file: &std::path::Path, password: &str, name: &str) -> anyhow::Result<(String, bool)> {
    let dir = scratch_dir(name);
    let inputs = dir.join("inputs.json");
    std::fs::write(
        &inputs,
        serde_json::json!({"id": "mqtt-source", "events": [{"time_offset_secs": RUN_SECS, "type": "Stop"}]}).to_string(),
    )?;
    let log = dir.join("stderr.log");
    let mut command = Command::new(repo_root().join("target/release/mqtt-source"));
    command
        .env("DORA_TEST_WITH_INPUTS", &inputs)
        .env("DORA_TEST_WRITE_OUTPUTS_TO", dir.join("outputs.jsonl"))
        .env("MQTT_BROKER_URL", format!("mqtts://127.0.0.1:{}", broker.port))
        .env("MQTT_TLS_CA_FILE", ca_file)
        .env("MQTT_USERNAME", "gateway")
        .env("MQTT_PASSWORD", password)
        .env("RUST_LOG", "debug")
        .stderr(Stdio::from(std::fs::File::create(&log)?));
    let mut node = ProcessGroup::spawn("mqtt-source", command)?;
    let status = node
        .wait_timeout(Duration::from_secs_f64(RUN_SECS + 10.0))
        .ok_or_else(|| anyhow::anyhow!("mqtt-source did not stop"))?;
    Ok((std::fs::read_to_string(log)?, status.success()))
}

#[test]
fn tls_with_a_password_connects_and_a_wrong_password_is_reported_clearly() -> anyhow::Result<()> {
    let (ca_pem, cert_pem, key_pem) = certificates()?;
    let broker = Mosquitto::start_tls(&cert_pem, &key_pem, &[("gateway", PASSWORD)])?;
    let dir = scratch_dir("mqtt-tls-ca");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_pem)?;

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
