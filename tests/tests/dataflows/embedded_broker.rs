//! The embedded broker (`mqtt-broker`, dora testing mode): MQTT 3.1.1 and
//! MQTT 5 clients meet on one port; with accounts, a wrong or missing
//! password is refused with a CONNACK that says so; with TLS, the real
//! `mqtt-source` connects over `mqtts://` and a wrong password is reported
//! clearly; with an ACL file, an operator asks and reads its answers but
//! cannot forge an answer or an alert, nor read what is not theirs.

use std::path::Path;
use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode as V5Code, Packet};
use rumqttc::v5::mqttbytes::QoS as V5QoS;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::node::TestNode;
use shopfloor_dataflow_tests::{certs, free_port, scratch_dir};

/// The broker stops by itself after this; the tests end well before, and
/// stop it when they do.
const BROKER_SECS: f64 = 180.0;
/// How long a probe waits for the broker's answer (it comes at once unless
/// the machine is loaded).
const REPLY_DEADLINE: Duration = Duration::from_secs(30);
/// How long each `mqtt-source` run over TLS lasts: dora's testing mode
/// stops the node at a fixed time, so this is the deadline for its TLS
/// handshake. 3 s was too short in a full test run: the node began its
/// handshake just as its stop came (2026-12-06), as `mqtt_tls.rs` once saw.
const SOURCE_SECS: f64 = 15.0;
/// Metrics ticks, as a dataflow's timer gives a node: in dora's testing
/// mode they keep events due, so a node's start does not wait for its Stop.
const METRICS_TICKS: Option<(Duration, &str)> = Some((Duration::from_millis(500), "metrics_tick"));
const NODES_PASSWORD: &str = "nodes-pass-5521";
const ALICE_PASSWORD: &str = "alice-pass-8810";
const WRONG_PASSWORD: &str = "guess-2291";

/// A users file with two accounts in `dir`; its path.
fn users_file(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("users");
    std::fs::write(&path, format!("# accounts\nnodes:{NODES_PASSWORD}\nalice:{ALICE_PASSWORD}\n"))?;
    Ok(path.display().to_string())
}

fn start_broker(port: u16, mut envs: Vec<(&'static str, String)>, name: &str) -> anyhow::Result<TestNode> {
    envs.push(("MQTT_EMBEDDED_LISTEN", format!("127.0.0.1:{port}")));
    // With no event due before its Stop, the broker's start waited for that
    // Stop on a loaded machine and never listened (its stall report: the
    // main thread in a futex, no CPU ticks, dora's testing thread asleep).
    let mut broker = TestNode::start_with_input_ticks("mqtt-broker", &envs, BROKER_SECS, METRICS_TICKS, name)?;
    let log = broker.log.clone();
    broker.process.wait_listening(port, || std::fs::read_to_string(&log).unwrap_or_default())?;
    Ok(broker)
}

/// Why a probe client got no further.
#[derive(Debug, PartialEq, thiserror::Error)]
enum Refused {
    /// The broker refused the connection with this MQTT 3.1.1 code.
    #[error("refused: {0:?}")]
    V311(rumqttc::ConnectReturnCode),
    /// The broker refused the connection with this MQTT 5 reason.
    #[error("refused: {0:?}")]
    V5(V5Code),
    /// The broker answered a QoS 1 publication with this MQTT 5 reason.
    #[error("publication refused: {0:?}")]
    V5PubAck(rumqttc::v5::mqttbytes::v5::PubAckReason),
    /// The broker closed the connection.
    #[error("connection closed by the broker: {0}")]
    Closed(String),
    /// No answer of the kind expected (the event seen instead, if any).
    #[error("no {expected}: {seen}")]
    NoAnswer { expected: &'static str, seen: String },
}

/// Connects with MQTT 3.1.1; the broker's refusal code if it refused.
fn v311_connect(port: u16, login: Option<(&str, &str)>) -> Result<(), Refused> {
    let mut options = rumqttc::MqttOptions::new(format!("probe4-{}", std::process::id()), "127.0.0.1", port);
    if let Some((user, password)) = login {
        options.set_credentials(user, password);
    }
    let (_client, mut connection) = rumqttc::Client::new(options, 8);
    match connection.recv_timeout(REPLY_DEADLINE) {
        Ok(Ok(rumqttc::Event::Incoming(rumqttc::Incoming::ConnAck(ack)))) => {
            if ack.code == rumqttc::ConnectReturnCode::Success {
                Ok(())
            } else {
                Err(Refused::V311(ack.code))
            }
        }
        Ok(Err(rumqttc::ConnectionError::ConnectionRefused(code))) => Err(Refused::V311(code)),
        other => Err(Refused::NoAnswer { expected: "CONNACK", seen: format!("{other:?}") }),
    }
}

/// Connects with MQTT 5 and publishes one QoS 1 message; the refusal if any.
fn v5_publish(port: u16, login: (&str, &str), topic: &str, payload: &str) -> Result<(), Refused> {
    let mut options = rumqttc::v5::MqttOptions::new(format!("probe5-{}", std::process::id()), "127.0.0.1", port);
    options.set_credentials(login.0, login.1);
    let (client, mut connection) = rumqttc::v5::Client::new(options, 8);
    client
        .publish(topic, V5QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
        .map_err(|e| Refused::NoAnswer { expected: "queued publish", seen: e.to_string() })?;
    let deadline = Instant::now() + REPLY_DEADLINE;
    while Instant::now() < deadline {
        match connection.recv_timeout(REPLY_DEADLINE) {
            Ok(Ok(rumqttc::v5::Event::Incoming(Packet::PubAck(ack)))) => {
                return match ack.reason {
                    rumqttc::v5::mqttbytes::v5::PubAckReason::Success => Ok(()),
                    reason => Err(Refused::V5PubAck(reason)),
                }
            }
            Ok(Err(rumqttc::v5::ConnectionError::ConnectionRefused(code))) => return Err(Refused::V5(code)),
            Ok(Ok(_)) => continue,
            other => return Err(Refused::NoAnswer { expected: "PUBACK", seen: format!("{other:?}") }),
        }
    }
    Err(Refused::NoAnswer { expected: "PUBACK", seen: format!("nothing within {} s", REPLY_DEADLINE.as_secs()) })
}

/// Connects with MQTT 3.1.1 and publishes one QoS 1 message.
fn v311_publish(port: u16, login: (&str, &str), topic: &str) -> Result<(), Refused> {
    let mut options = rumqttc::MqttOptions::new(format!("probe4p-{}", std::process::id()), "127.0.0.1", port);
    options.set_credentials(login.0, login.1);
    let (client, mut connection) = rumqttc::Client::new(options, 8);
    client
        .publish(topic, rumqttc::QoS::AtLeastOnce, false, b"{}".to_vec())
        .map_err(|e| Refused::NoAnswer { expected: "queued publish", seen: e.to_string() })?;
    let deadline = Instant::now() + REPLY_DEADLINE;
    while Instant::now() < deadline {
        match connection.recv_timeout(REPLY_DEADLINE) {
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Incoming::PubAck(_)))) => return Ok(()),
            Ok(Ok(_)) => continue,
            Ok(Err(error)) => return Err(Refused::Closed(error.to_string())),
            Err(_) => break,
        }
    }
    Err(Refused::NoAnswer { expected: "PUBACK", seen: format!("nothing within {} s", REPLY_DEADLINE.as_secs()) })
}

/// Connects with MQTT 3.1.1 and subscribes to `filter`; the SUBACK's codes.
fn v311_subscribe(port: u16, login: (&str, &str), filter: &str) -> Result<Vec<rumqttc::SubscribeReasonCode>, Refused> {
    let mut options = rumqttc::MqttOptions::new(format!("probe4s-{}", std::process::id()), "127.0.0.1", port);
    options.set_credentials(login.0, login.1);
    let (client, mut connection) = rumqttc::Client::new(options, 8);
    client
        .subscribe(filter, rumqttc::QoS::AtLeastOnce)
        .map_err(|e| Refused::NoAnswer { expected: "queued subscribe", seen: e.to_string() })?;
    let deadline = Instant::now() + REPLY_DEADLINE;
    while Instant::now() < deadline {
        match connection.recv_timeout(REPLY_DEADLINE) {
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Incoming::SubAck(ack)))) => return Ok(ack.return_codes),
            Ok(Ok(_)) => continue,
            other => return Err(Refused::NoAnswer { expected: "SUBACK", seen: format!("{other:?}") }),
        }
    }
    Err(Refused::NoAnswer { expected: "SUBACK", seen: format!("nothing within {} s", REPLY_DEADLINE.as_secs()) })
}

#[test]
fn both_protocol_versions_meet_on_one_port_and_bad_logins_are_refused_with_a_reason() -> anyhow::Result<()> {
    let port = free_port();
    let dir = scratch_dir("embedded-accounts");
    let broker = start_broker(port, vec![("BROKER_USERS_FILE", users_file(&dir)?)], "embedded-accounts")?;

    let alice = TestClient::connect_as(port, &["line/#".to_owned()], "alice", ALICE_PASSWORD)?;
    v5_publish(port, ("nodes", NODES_PASSWORD), "line/alerts/st1", r#"{"id":"x-1"}"#)?;
    let received = alice
        .wait_for(REPLY_DEADLINE, |m| m.topic == "line/alerts/st1")
        .ok_or_else(|| anyhow::anyhow!("an MQTT 5 publication did not reach an MQTT 3.1.1 subscriber"))?;
    assert_eq!(received.json["id"], "x-1");

    let bad_login = Err(Refused::V311(rumqttc::ConnectReturnCode::BadUserNamePassword));
    assert_eq!(v311_connect(port, Some(("alice", WRONG_PASSWORD))), bad_login);
    assert_eq!(v311_connect(port, None), bad_login);
    assert_eq!(
        v5_publish(port, ("nodes", WRONG_PASSWORD), "line/x", "{}"),
        Err(Refused::V5(V5Code::BadUserNamePassword))
    );
    assert_eq!(v311_connect(port, Some(("alice", ALICE_PASSWORD))), Ok(()));

    let log = broker.log_text();
    for password in [NODES_PASSWORD, ALICE_PASSWORD, WRONG_PASSWORD] {
        assert!(!log.contains(password), "a password appears in the broker's log");
    }
    assert!(log.contains("wrong password for user \"alice\""), "refusal not logged:\n{log}");
    Ok(())
}

#[test]
fn over_tls_the_source_connects_and_a_wrong_password_is_reported() -> anyhow::Result<()> {
    let certs = certs::make()?;
    let dir = scratch_dir("embedded-tls-files");
    let (ca, cert, key) = (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&ca, &certs.ca)?;
    std::fs::write(&cert, &certs.server_cert)?;
    std::fs::write(&key, &certs.server_key)?;
    let port = free_port();
    let envs = vec![
        ("BROKER_TLS_CERT", cert.display().to_string()),
        ("BROKER_TLS_KEY", key.display().to_string()),
        ("BROKER_USERS_FILE", users_file(&dir)?),
    ];
    let _broker = start_broker(port, envs, "embedded-tls")?;

    assert!(v311_connect(port, Some(("alice", ALICE_PASSWORD))).is_err(), "plain MQTT accepted on the TLS port");

    let source = |password: &str, name: &str| {
        let envs = [
            ("MQTT_BROKER_URL", format!("mqtts://127.0.0.1:{port}")),
            ("MQTT_TLS_CA_FILE", ca.display().to_string()),
            ("MQTT_USERNAME", "nodes".to_owned()),
            ("MQTT_PASSWORD", password.to_owned()),
        ];
        // Without ticks a start slowed by a loaded machine waits for the
        // Stop, and the node stops before it has tried to log in (seen in a
        // cold run).
        TestNode::start_with_input_ticks("mqtt-source", &envs, SOURCE_SECS, METRICS_TICKS, name)?.wait()
    };
    let (log, clean) = source(NODES_PASSWORD, "embedded-tls-good")?;
    assert!(clean && log.contains("connected to MQTT broker"), "no TLS connection to the embedded broker:\n{log}");
    let (log, clean) = source("wrong-pass-1", "embedded-tls-bad")?;
    assert!(clean && log.contains("bad user name or password"), "no clear refusal:\n{log}");
    Ok(())
}

/// Operators may ask as themselves and read their answers and the alerts;
/// only the nodes' account publishes answers and alerts.
const ACL: &str = "\
user nodes
topic readwrite line/#
pattern write line/assistant/query/%u
pattern read line/assistant/answer/%u
pattern read line/alerts/#
";

#[test]
fn with_an_acl_an_operator_cannot_forge_answers_or_alerts_nor_read_other_answers() -> anyhow::Result<()> {
    use rumqttc::v5::mqttbytes::v5::PubAckReason;
    let port = free_port();
    let dir = scratch_dir("embedded-acl");
    let acl = dir.join("acl");
    std::fs::write(&acl, ACL)?;
    let envs = vec![("BROKER_USERS_FILE", users_file(&dir)?), ("BROKER_ACL_FILE", acl.display().to_string())];
    let broker = start_broker(port, envs, "embedded-acl")?;
    let alice = TestClient::connect_as(
        port,
        &["line/assistant/answer/alice".to_owned(), "line/alerts/#".to_owned()],
        "alice",
        ALICE_PASSWORD,
    )?;

    let nodes = ("nodes", NODES_PASSWORD);
    let operator = ("alice", ALICE_PASSWORD);
    v5_publish(port, operator, "line/assistant/query/alice", r#"{"id":"q-1","question":"Temperature?"}"#)?;
    let not_authorized = Err(Refused::V5PubAck(PubAckReason::NotAuthorized));
    let forged_answer = r#"{"id":"forged","answer":"all fine"}"#;
    assert_eq!(v5_publish(port, operator, "line/assistant/answer/alice", forged_answer), not_authorized);
    assert_eq!(v5_publish(port, operator, "line/alerts/st1/critical", r#"{"id":"forged"}"#), not_authorized);
    assert_eq!(v5_publish(port, operator, "line/assistant/query/bob", r#"{"id":"as-bob"}"#), not_authorized);
    assert!(
        matches!(v311_publish(port, operator, "line/alerts/st1/critical"), Err(Refused::Closed(_))),
        "MQTT 3.1.1 cannot refuse a publication: the connection must close"
    );
    assert_eq!(
        v311_subscribe(port, operator, "line/#").map_err(|e| anyhow::anyhow!("{e}"))?,
        [rumqttc::SubscribeReasonCode::Failure],
        "an operator reads everything"
    );
    assert_eq!(
        v311_subscribe(port, operator, "line/assistant/answer/+").map_err(|e| anyhow::anyhow!("{e}"))?,
        [rumqttc::SubscribeReasonCode::Failure],
        "an operator reads other operators' answers"
    );

    v5_publish(port, nodes, "line/assistant/answer/alice", r#"{"id":"q-1","answer":"84 °C"}"#)?;
    v5_publish(port, nodes, "line/alerts/st1/critical", r#"{"id":"a-1"}"#)?;
    let answer = alice
        .wait_for(REPLY_DEADLINE, |m| m.topic == "line/assistant/answer/alice")
        .ok_or_else(|| anyhow::anyhow!("the nodes' answer did not reach the operator"))?;
    assert_eq!(answer.json["id"], "q-1", "a forged answer arrived: {}", answer.json);
    let alert = alice
        .wait_for(REPLY_DEADLINE, |m| m.topic.starts_with("line/alerts/"))
        .ok_or_else(|| anyhow::anyhow!("the nodes' alert did not reach the operator"))?;
    assert_eq!(alert.json["id"], "a-1", "a forged alert arrived: {}", alert.json);

    let log = broker.log_text();
    assert!(
        log.contains(r#"user "alice" may not publish to "line/alerts/st1/critical""#)
            || log.contains(r#"user=alice why=may not publish to "line/alerts/st1/critical""#),
        "refusal not logged:\n{log}"
    );
    Ok(())
}
