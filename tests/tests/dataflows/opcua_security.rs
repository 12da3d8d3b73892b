//! OPC UA security between the `opcua-source` node and the simulated plant (`shopfloor sim`):
//! SignAndEncrypt with a user login works once the operator trusts the
//! server's certificate (until then the node says where the certificate is
//! and where to move it); every supported policy works; an X.509 user
//! certificate logs in; a wrong password is reported as a refused login; no
//! password ever reaches a log.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use shopfloor_dataflow_tests::node::{output_rows, TestNode};
use shopfloor_dataflow_tests::{free_port, plant_sim, scratch_dir, shopfloor, Scratch};

const PASSWORD: &str = "s3cret-Pw-7731";
const WRONG_PASSWORD: &str = "not-the-Pw-4410";
const TAGS: &str = "spindle_temperature ns=2;s=Cell1.SpindleTemperature °C\nmachine_state ns=2;s=Cell1.MachineState";

/// A users file for the simulator with one account, `operator`, in `dir`.
fn users_file(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("users");
    std::fs::write(&path, format!("operator:{PASSWORD}\n"))?;
    Ok(path)
}

/// The simulator on a free port with Basic256Sha256/SignAndEncrypt and the
/// accounts of [`users_file`]: its port, the guard that stops it, and its
/// PKI folder (kept until the simulator has stopped: tuple fields drop in order).
fn secure_simulator_with_users(name: &str) -> anyhow::Result<(u16, plant_sim::SimServer, Scratch)> {
    let port = free_port();
    let sim_pki = scratch_dir(&format!("{name}-sim-pki"));
    let users = users_file(&sim_pki)?;
    let simulator = plant_sim::start(
        port,
        &[
            ("SIM_SECURITY", "Basic256Sha256/SignAndEncrypt".to_owned()),
            ("SIM_USERS_FILE", users.display().to_string()),
            ("SIM_PKI_DIR", sim_pki.display().to_string()),
        ],
        &format!("{name}-sim"),
    )?;
    Ok((port, simulator, sim_pki))
}

fn client_envs(port: u16, security: &str, pki: &Path, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let (policy, mode) = security.split_once('/').unwrap_or((security, "SignAndEncrypt"));
    let mut envs = vec![
        ("OPCUA_ENDPOINT", format!("opc.tcp://127.0.0.1:{port}/")),
        ("OPCUA_TAGS", TAGS.to_owned()),
        ("OPCUA_PUBLISH_INTERVAL_MS", "100".to_owned()),
        ("OPCUA_RECONNECT_MAX_MS", "500".to_owned()),
        ("OPCUA_SECURITY_POLICY", policy.to_owned()),
        ("OPCUA_SECURITY_MODE", mode.to_owned()),
        ("OPCUA_PKI_DIR", pki.display().to_string()),
    ];
    envs.extend(extra.iter().cloned());
    envs
}

fn good_readings(rows: &[(String, serde_json::Value)]) -> usize {
    rows.iter().filter(|(id, row)| id == "readings" && row["quality"] == "good").count()
}

fn status_reasons(rows: &[(String, serde_json::Value)]) -> Vec<String> {
    rows.iter()
        .filter(|(id, _)| id == "status")
        .filter_map(|(_, row)| row["reason"].as_str().map(str::to_owned))
        .collect()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|entries| entries.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}

#[test]
fn sign_and_encrypt_waits_for_the_operator_to_trust_the_server_then_delivers() -> anyhow::Result<()> {
    let (port, _simulator, _sim_pki) = secure_simulator_with_users("opcua-security")?;
    let pki = scratch_dir("opcua-security-client-pki");
    let secrets = scratch_dir("opcua-security-password");
    let password_file = secrets.join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n"))?;
    let envs = client_envs(
        port,
        "Basic256Sha256/SignAndEncrypt",
        &pki,
        &[("OPCUA_USER", "operator".to_owned()), ("OPCUA_PASSWORD_FILE", password_file.display().to_string())],
    );
    let mut node = TestNode::start_with_ticks(
        "opcua-source",
        &envs,
        10.0,
        Some(Duration::from_millis(100)),
        "opcua-security-node",
    )?;

    // The unknown server certificate lands in rejected/; the operator moves it.
    let deadline = Instant::now() + Duration::from_secs(8);
    let rejected = loop {
        if let Some(cert) = files_in(&pki.join("rejected")).into_iter().next() {
            break cert;
        }
        anyhow::ensure!(Instant::now() < deadline, "no certificate in rejected/:\n{}", node.log_text());
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(500));
    let before_trust = node.log_text();
    let trusted = pki.join("trusted").join(rejected.file_name().unwrap_or_default());
    std::fs::rename(&rejected, &trusted)?;

    let outputs = node.outputs();
    let (log, clean) = node.wait()?;
    assert!(clean, "opcua-source did not stop cleanly:\n{log}");
    assert!(
        before_trust.contains("not trusted") && before_trust.contains(&rejected.display().to_string()),
        "{before_trust}"
    );
    assert!(before_trust.contains("move that file into"), "{before_trust}");
    let rows = output_rows(&outputs);
    let reasons = status_reasons(&rows);
    assert!(
        reasons.iter().any(|r| r.contains("not trusted")),
        "the status output names the trust problem: {reasons:?}"
    );
    assert!(good_readings(&rows) > 0, "no readings after trusting the server:\n{log}");
    assert!(pki.join("own/cert.der").is_file(), "the client made its own certificate");
    assert!(!log.contains(PASSWORD), "the password reached the log");
    Ok(())
}

#[test]
fn every_supported_policy_delivers_when_unknown_servers_are_trusted() -> anyhow::Result<()> {
    let securities =
        ["Basic256Sha256/Sign", "Aes128_Sha256_RsaOaep/SignAndEncrypt", "Aes256_Sha256_RsaPss/SignAndEncrypt"];
    let port = free_port();
    let sim_pki = scratch_dir("opcua-policies-sim-pki");
    let _simulator = plant_sim::start(
        port,
        &[("SIM_SECURITY", securities.join(", ")), ("SIM_PKI_DIR", sim_pki.display().to_string())],
        "opcua-policies-sim",
    )?;
    let pki = scratch_dir("opcua-policies-client-pki");
    for security in securities {
        let envs = client_envs(port, security, &pki, &[("OPCUA_TRUST_UNKNOWN_SERVER", "true".to_owned())]);
        let scratch = format!("opcua-policies-node-{}", security.replace('/', "-"));
        let mut node =
            TestNode::start_with_ticks("opcua-source", &envs, 4.0, Some(Duration::from_millis(100)), &scratch)?;
        let outputs = node.outputs();
        let (log, clean) = node.wait()?;
        assert!(clean, "{security}: opcua-source did not stop cleanly:\n{log}");
        assert!(good_readings(&output_rows(&outputs)) > 0, "{security}: no readings:\n{log}");
    }
    assert_eq!(files_in(&pki.join("trusted")).len(), 1, "the server's certificate was trusted on first contact");

    // `shopfloor opcua browse` reads the same security variables.
    let output = shopfloor()?
        .args(["opcua", "browse", &format!("opc.tcp://127.0.0.1:{port}/")])
        .envs(
            client_envs(port, securities[0], &pki, &[])
                .into_iter()
                .filter(|(k, _)| k.starts_with("OPCUA_SECURITY") || *k == "OPCUA_PKI_DIR"),
        )
        .output()?;
    let listing = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "secured browse failed:\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(listing.contains("cell1.spindle_temperature ns=2;s=Cell1.SpindleTemperature °C"), "{listing}");
    assert!(listing.contains("line1.jam_alarm ns=2;s=Line1.JamAlarm"), "{listing}");
    Ok(())
}

#[test]
fn a_wrong_password_is_reported_as_a_refused_login_and_never_logged() -> anyhow::Result<()> {
    let (port, _simulator, _sim_pki) = secure_simulator_with_users("opcua-wrong-password")?;
    let pki = scratch_dir("opcua-wrong-password-client-pki");
    let envs = client_envs(
        port,
        "Basic256Sha256/SignAndEncrypt",
        &pki,
        &[
            ("OPCUA_TRUST_UNKNOWN_SERVER", "true".to_owned()),
            ("OPCUA_USER", "operator".to_owned()),
            ("OPCUA_PASSWORD", WRONG_PASSWORD.to_owned()),
        ],
    );
    let mut node = TestNode::start_with_ticks(
        "opcua-source",
        &envs,
        4.0,
        Some(Duration::from_millis(100)),
        "opcua-wrong-password-node",
    )?;
    let outputs = node.outputs();
    let (log, clean) = node.wait()?;
    assert!(clean, "the node keeps running and stops cleanly on a refused login:\n{log}");
    let rows = output_rows(&outputs);
    assert_eq!(good_readings(&rows), 0);
    let reasons = status_reasons(&rows);
    assert!(reasons.iter().any(|r| r.contains("refused the login")), "{reasons:?}\n{log}");
    assert!(log.contains("refused the login"), "{log}");
    assert!(!log.contains(WRONG_PASSWORD), "the password reached the log");
    Ok(())
}

#[test]
fn an_x509_user_certificate_logs_in() -> anyhow::Result<()> {
    use opcua::crypto::{CertificateStore, X509Data};
    use opcua::types::ApplicationDescription;

    let dir = scratch_dir("opcua-x509-user");
    let (cert, key) = (dir.join("operator.der"), dir.join("operator.pem"));
    let identity = X509Data::from(ApplicationDescription {
        application_uri: "urn:shopfloor-slm:operator".into(),
        application_name: "operator".into(),
        ..Default::default()
    });
    CertificateStore::create_certificate_and_key(&identity, true, &cert, &key).map_err(anyhow::Error::msg)?;
    let port = free_port();
    let sim_pki = scratch_dir("opcua-x509-sim-pki");
    let client_pki = scratch_dir("opcua-x509-client-pki");
    let _simulator = plant_sim::start(
        port,
        &[
            ("SIM_SECURITY", "Basic256Sha256/SignAndEncrypt".to_owned()),
            ("SIM_USER_CERTS", format!("operator={}", cert.display())),
            ("SIM_PKI_DIR", sim_pki.display().to_string()),
        ],
        "opcua-x509-sim",
    )?;
    let envs = client_envs(
        port,
        "Basic256Sha256/SignAndEncrypt",
        &client_pki,
        &[
            ("OPCUA_TRUST_UNKNOWN_SERVER", "true".to_owned()),
            ("OPCUA_USER_CERT", cert.display().to_string()),
            ("OPCUA_USER_KEY", key.display().to_string()),
        ],
    );
    let mut node =
        TestNode::start_with_ticks("opcua-source", &envs, 4.0, Some(Duration::from_millis(100)), "opcua-x509-node")?;
    let outputs = node.outputs();
    let (log, clean) = node.wait()?;
    assert!(clean, "opcua-source did not stop cleanly:\n{log}");
    assert!(good_readings(&output_rows(&outputs)) > 0, "no readings with the certificate login:\n{log}");
    Ok(())
}
