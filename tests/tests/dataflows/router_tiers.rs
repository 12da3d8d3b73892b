//! Routing across model tiers, whole-dataflow: `dataflows/plant-assistant.yml`
//! with its router, SmolLM2 (tier nano) and Gemma 3 270M (tier small), and
//! `dataflows/escalation-endpoint.yml` started on loopback as the off-site
//! tier (the project's own OpenAI-compatible gateway). Real dora, Mosquitto,
//! OPC UA simulator and models; thresholds forced so that each path is taken.

use std::time::Duration;

use serde_json::Value;
use shopfloor_dataflow_tests::assistant::wait_until_ready;
use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::{free_port, scratch_dir};

const DATAFLOW_LIMIT: Duration = Duration::from_secs(300);
const READY_TIMEOUT: Duration = Duration::from_secs(150);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

fn ask(client: &TestClient, root: &str, operator: &str, payload: Value) -> anyhow::Result<Value> {
    let id = payload["id"].as_str().unwrap_or_default().to_owned();
    client.publish(&format!("{root}/assistant/query/{operator}"), payload.to_string())?;
    client
        .wait_for(ANSWER_TIMEOUT, |m| m.topic.contains("/assistant/answer/") && m.json["id"] == id.as_str())
        .map(|m| m.json)
        .ok_or_else(|| anyhow::anyhow!("no answer to {id} within {ANSWER_TIMEOUT:?}"))
}

fn tiers(answer: &Value) -> Vec<String> {
    answer["route"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|hop| hop["tier"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn outcomes(answer: &Value) -> Vec<String> {
    answer["route"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|hop| hop["outcome"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn model_tiers_escalate_refuse_keep_deadlines_and_redact_what_leaves() -> anyhow::Result<()> {
    let broker = Mosquitto::start()?;
    let endpoint_port = free_port();
    let endpoint = RunningDataflow::start(
        "escalation-endpoint.yml",
        &[("GATEWAY_LISTEN", format!("127.0.0.1:{endpoint_port}"))],
        DATAFLOW_LIMIT,
    )?;

    let sim_port = free_port();
    let root = format!("router{}/assembly/cell1", std::process::id());
    let scratch = scratch_dir("router-tiers");
    let outbound_log = scratch.join("outbound.jsonl");
    let _ = std::fs::remove_file(&outbound_log);
    let envs = [
        ("SIM_PORT", sim_port.to_string()),
        ("OPCUA_ENDPOINT", format!("opc.tcp://127.0.0.1:{sim_port}/")),
        ("MQTT_TOPIC_ROOT", root.clone()),
        ("MQTT_BROKER_URL", broker.url()),
        ("GATEWAY_LISTEN", format!("127.0.0.1:{}", free_port())),
        // Every model answer is below 1.0: nano and small always escalate.
        // Small is expected to take 10 s until measured, so a question with
        // a 5 s deadline stops at nano.
        ("ROUTER_TIERS", "nano threshold=1 expect_ms=400\nsmall threshold=1 expect_ms=10000\nremote kind=http threshold=0 expect_ms=3000".into()),
        // Procedures go straight to the off-site endpoint.
        ("ROUTER_CLASSES", "current_value=nano trend=nano alarm=nano procedure=remote".into()),
        ("ROUTER_DEADLINE_MS", "120000".into()),
        // Starved of CPU (two models and busy loops beside them), a tier's
        // metrics paused for over 5 s once, and the router took nano for gone
        // and asked small. Here every path must be the forced one; a silent
        // tier is tested by the chaos and distributed tests.
        ("ROUTER_TIER_STALE_MS", "60000".into()),
        ("ROUTER_HTTP_URL", format!("http://127.0.0.1:{endpoint_port}/v1")),
        ("ROUTER_HTTP_MODEL", "shopfloor-assistant".into()),
        ("ROUTER_REDACT", "(?i)northwind works => [site]\n(?i)hall c\\b => [area]".into()),
        ("ROUTER_OUTBOUND_LOG", outbound_log.display().to_string()),
    ];
    let mut dataflow = RunningDataflow::start("plant-assistant.yml", &envs, DATAFLOW_LIMIT)?;
    let client = TestClient::connect(broker.port, &[format!("{root}/assistant/answer/#")])?;
    wait_until_ready(&client, &root, &mut dataflow, READY_TIMEOUT)?;

    // Out of scope: refused politely by the router, no model asked.
    let refusal =
        ask(&client, &root, "alice", serde_json::json!({"id": "q-poem", "question": "Write me a poem about cats."}))?;
    assert_eq!(refusal["class"], "out_of_scope", "{refusal}");
    assert_eq!(outcomes(&refusal), ["refused"], "{refusal}");
    assert!(refusal["model"].is_null() && refusal["error"].is_null(), "{refusal}");
    assert!(
        refusal["answer"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Sorry, I can only answer questions about this plant"),
        "{refusal}"
    );

    // Deadline: escalation to small would miss it; nano's answer comes back marked.
    let cut = ask(
        &client,
        &root,
        "alice",
        serde_json::json!({"id": "q-deadline", "question": "What is the spindle speed?", "timeout_ms": 5000}),
    )?;
    assert_eq!(cut["deadline_reached"], true, "{cut}");
    assert_eq!(tiers(&cut), ["nano"], "{cut}");
    assert_eq!(outcomes(&cut), ["deadline"], "{cut}");
    assert!(cut["answer"].as_str().is_some_and(|t| !t.is_empty()) && cut["error"].is_null(), "{cut}");
    assert!(cut["route"][0]["confidence"].is_f64(), "a model answer has a confidence: {cut}");

    // Forced escalation from SmolLM2 to Gemma: small's answer is the last
    // local one (kept below its threshold, or accepted when the facts wrote it).
    let escalated = ask(
        &client,
        &root,
        "alice",
        serde_json::json!({"id": "q-escalate", "question": "What is the spindle temperature?"}),
    )?;
    assert_eq!(tiers(&escalated)[..2], ["nano", "small"], "{escalated}");
    assert_eq!(outcomes(&escalated)[0], "escalated", "{escalated}");
    let first = &escalated["route"][0];
    assert!(first["confidence"].is_f64() && first["latency_ms"].as_i64().is_some_and(|ms| ms > 0), "{first}");
    assert!(first["reason"].as_str().unwrap_or_default().contains("below threshold 1.00"), "{first}");
    assert_eq!(first["model"], "SmolLM2-135M-Instruct.Q4_1", "{first}");
    assert!(escalated["route"][1]["latency_ms"].as_i64().is_some_and(|ms| ms > 0), "{escalated}");
    assert_eq!(escalated["class"], "current_value", "{escalated}");

    // A procedure goes off the site, redacted, and the answer says it left.
    let question = "bob from Northwind Works hall C asks: how do I reset the spindle drive?";
    let routed = ask(&client, &root, "bob", serde_json::json!({"id": "q-procedure", "question": question}))?;
    assert_eq!((tiers(&routed), routed["class"].as_str()), (vec!["remote".to_owned()], Some("procedure")), "{routed}");
    assert_eq!(routed["left_site"], true, "{routed}");
    assert!(routed["answer"].as_str().is_some_and(|t| !t.is_empty()), "{routed}");

    // What left the site: the audit log holds the request exactly as sent...
    // (With every threshold forced to 1, model answers to the readiness
    // question escalate there too; the procedure went exactly once.)
    let sent = std::fs::read_to_string(&outbound_log)?;
    assert_eq!(sent.lines().filter(|l| l.contains("reset the spindle drive")).count(), 1, "{sent}");
    let lower = sent.to_lowercase();
    for secret in ["northwind", "hall c", "bob", "q-procedure"] {
        assert!(!lower.contains(secret), "{secret:?} left the site: {sent}");
    }
    assert!(sent.contains("[site]") && sent.contains("[area]") && sent.contains("[operator]"), "{sent}");
    // ...and the endpoint received the redacted words.
    let received = endpoint.log_text();
    let line = received
        .lines()
        .find(|l| l.contains("chat question received") && l.contains("reset the spindle drive"))
        .ok_or_else(|| anyhow::anyhow!("the endpoint logged no question:\n{received}"))?;
    assert!(line.contains("[site] [area] asks") && !line.to_lowercase().contains("northwind"), "{line}");

    let (stopped, leftovers) = dataflow.stop();
    assert!(stopped && leftovers.is_empty(), "dataflow did not stop cleanly: {leftovers:?}");
    let (stopped, leftovers) = endpoint.stop();
    assert!(stopped && leftovers.is_empty(), "endpoint did not stop cleanly: {leftovers:?}");
    Ok(())
}
