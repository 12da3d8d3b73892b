//! The site's documents in the whole plant-assistant dataflow (real dora,
//! models, embedded broker, plant-sim in its overheat scenario): procedure
//! questions are answered by quoting the cited section, a question the
//! documents do not cover is told so, a document edited while the dataflow
//! runs is used at once, a PDF's section is cited with its page, and the
//! overheat alert carries its alarm-response section.

use std::time::{Duration, Instant};

use shopfloor_dataflow_tests::assistant::{is_answer_to, question, wait_until_documents_ready, wait_until_ready};
use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::mqtt::{Received, TestClient};
use shopfloor_dataflow_tests::{copy_sample_documents, free_port, scratch_dir};

/// dora stops the dataflow by itself after this, should a test hang.
const DATAFLOW_LIMIT: Duration = Duration::from_secs(600);
/// Model load, the documents' index by meaning, OPC UA connect and the first
/// readings: seconds on an idle machine, and on 2026-12-06 more than 120 s
/// beside two busy loops (`scripts/test-busy.sh`).
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// An answer, a rescan of the folder, the overheat scenario's alert.
const WAIT: Duration = Duration::from_secs(60);

fn ask(client: &TestClient, root: &str, id: &str, text: &str) -> anyhow::Result<Received> {
    client.publish(&format!("{root}/assistant/query/alice"), question(id, text))?;
    client.wait_for(WAIT, |m| is_answer_to(m, id)).ok_or_else(|| anyhow::anyhow!("no answer to {id} within {WAIT:?}"))
}

fn sources(answer: &Received) -> Vec<String> {
    answer.json["sources"].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_owned)).collect()
}

#[test]
fn procedures_are_quoted_from_the_sites_documents_and_alerts_carry_their_response() -> anyhow::Result<()> {
    let scratch = scratch_dir("plant-docs");
    let documents = scratch.path().join("docs");
    copy_sample_documents(&documents)?;
    let sim_port = free_port();
    let mqtt_port = free_port();
    let root = "test/docs/cell1";
    let folder = documents.display().to_string();
    let vector_file = scratch.path().join("state/section-vectors.bin");
    let envs = [
        ("SIM_PORT", sim_port.to_string()),
        ("SIM_SCENARIO", "overheat".to_owned()),
        ("OPCUA_ENDPOINT", format!("opc.tcp://127.0.0.1:{sim_port}/")),
        ("MQTT_TOPIC_ROOT", root.to_owned()),
        ("MQTT_EMBEDDED_LISTEN", format!("127.0.0.1:{mqtt_port}")),
        ("GATEWAY_LISTEN", format!("127.0.0.1:{}", free_port())),
        ("GATEWAY_CONSOLE_JOURNAL", scratch.path().join("alarms.jsonl").display().to_string()),
        ("ROUTER_PENDING_FILE", scratch.path().join("pending.arrow").display().to_string()),
        ("ROUTER_AUDIT_DIR", scratch.path().join("audit").display().to_string()),
        ("DOCS_DIR", folder.clone()),
        ("ALARMS_DOCS_DIR", folder),
        ("DOCS_VECTOR_FILE", vector_file.display().to_string()),
    ];
    let mut dataflow = RunningDataflow::start("plant-assistant.yml", &envs, DATAFLOW_LIMIT)?;
    let client = TestClient::connect(mqtt_port, &[format!("{root}/assistant/answer/#")])?;
    // Alerts on a client of their own (and its own id, or the two would
    // take each other's session): waiting for answers drops other messages.
    let alerts = TestClient::connect_named(mqtt_port, &[format!("{root}/alerts/#")], "alerts")?;
    wait_until_ready(&client, root, &mut dataflow, READY_TIMEOUT)?;
    wait_until_documents_ready(&client, root, &mut dataflow, READY_TIMEOUT)?;

    // A procedure: the steps of the cited section, quoted, in order.
    let jam = documents.join("dev/chip-conveyor-jam.txt");
    let answer = ask(&client, root, "p1", "How do I clear the chip conveyor?")?;
    assert_eq!(sources(&answer), ["chip-conveyor-jam.txt § Clearing the jam"], "{}", answer.json);
    assert_eq!((answer.json["class"].as_str(), &answer.json["error"]), (Some("procedure"), &serde_json::Value::Null));
    let text = answer.json["answer"].as_str().unwrap_or_default();
    let source = std::fs::read_to_string(&jam)?;
    let first_step = source
        .lines()
        .skip_while(|line| line.trim() != "Clearing the jam")
        .find_map(|line| line.strip_prefix("1. "))
        .ok_or_else(|| anyhow::anyhow!("the sample lost its section"))?;
    assert!(text.contains(&format!("1. {first_step}")), "the first step is quoted: {text}");
    assert!(answer.json["confidence"].is_null(), "no model wrote it: {}", answer.json);

    // A PDF's section, with its page.
    let answer = ask(&client, root, "p2", "How do I check the first part of the shift?")?;
    assert_eq!(sources(&answer), ["shift-start-checklist.pdf § First part check (page 2)"], "{}", answer.json);

    // Not covered: said so, never invented.
    const PROBE: &str = "How do I calibrate the touch probe of the machine?";
    let answer = ask(&client, root, "p3", PROBE)?;
    assert_eq!(answer.json["error"], "no_procedure", "{}", answer.json);
    assert!(sources(&answer).is_empty());

    // A document written while the dataflow runs is used without a restart.
    std::fs::write(
        documents.join("dev/touch-probe.md"),
        "# Touch Probe - Cell 1\n\n## Calibrating the touch probe\n\n1. Clean the probe tip with a lint-free cloth.\n2. Run the probe calibration cycle P9801.\n",
    )?;
    let deadline = Instant::now() + WAIT;
    let mut attempt = 0;
    let answer = loop {
        attempt += 1;
        let answer = ask(&client, root, &format!("p4-{attempt}"), PROBE)?;
        if answer.json["error"].is_null() || Instant::now() >= deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(sources(&answer), ["touch-probe.md § Calibrating the touch probe"], "{}", answer.json);
    assert!(answer.json["answer"].as_str().unwrap_or_default().contains("2. Run the probe calibration cycle P9801."));
    // The sections' vectors are kept for the next start (DOCS_VECTOR_FILE),
    // the new document's among them (the file is written after each
    // changed scan, before the answer above could find the section).
    let kept = std::fs::metadata(&vector_file).map(|m| m.len()).unwrap_or(0);
    assert!(kept > 384 * 4 * 10, "{} holds {kept} bytes", vector_file.display());

    // The overheat alert carries what to do.
    let alert = alerts
        .wait_for(WAIT * 2, |m| {
            m.topic.starts_with(&format!("{root}/alerts/"))
                && m.json["tag"] == "spindle_temperature"
                && !m.json["response"].is_null()
        })
        .ok_or_else(|| anyhow::anyhow!("no spindle temperature alert with a response:\n{}", dataflow.log_text()))?;
    let response_source = alert.json["response_source"].as_str().unwrap_or_default();
    assert!(response_source.starts_with("spindle-overheat-response.md § "), "{}", alert.json);
    assert!(alert.json["response"].as_str().unwrap_or_default().starts_with("1. "), "{}", alert.json);

    let (success, leftovers) = dataflow.stop();
    assert!(success && leftovers.is_empty(), "stopped cleanly: {success}, left {leftovers:?}");
    Ok(())
}
