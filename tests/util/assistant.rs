//! Asking the plant assistant over MQTT, as an operator would.

use std::time::{Duration, Instant};

use crate::dataflow::RunningDataflow;
use crate::http;
use crate::mqtt::{Received, TestClient};

/// A question's JSON payload.
pub fn question(id: &str, text: &str) -> String {
    serde_json::json!({ "id": id, "question": text }).to_string()
}

/// Whether `message` is the answer to question `id`.
pub fn is_answer_to(message: &Received, id: &str) -> bool {
    message.topic.contains("/assistant/answer/") && message.json["id"] == id
}

/// Asks until the assistant answers from live plant data (not
/// `no_plant_data`): every model loaded, readings flowing.
pub fn wait_until_ready(
    client: &TestClient,
    root: &str,
    dataflow: &mut RunningDataflow,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    for attempt in 0.. {
        anyhow::ensure!(dataflow.is_running(), "dataflow stopped early:\n{}", dataflow.log_text());
        anyhow::ensure!(
            Instant::now() < deadline,
            "no answer from live data within {within:?}:\n{}",
            dataflow.log_text()
        );
        let id = format!("warm-up-{attempt}");
        client.publish(&format!("{root}/assistant/query/tester"), question(&id, "Is the machine running?"))?;
        if let Some(answer) = client.wait_for(Duration::from_secs(5), |m| is_answer_to(m, &id)) {
            if answer.json["error"] != "no_plant_data" {
                return Ok(());
            }
        }
    }
    unreachable!("the loop only ends by returning")
}

/// Asks a procedure question until the documents tier (`plant-docs`)
/// answers it: that node loads its embedding model and encodes the
/// documents at start, so it may be ready after the model tiers are.
pub fn wait_until_documents_ready(
    client: &TestClient,
    root: &str,
    dataflow: &mut RunningDataflow,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    for attempt in 0.. {
        anyhow::ensure!(dataflow.is_running(), "dataflow stopped early:\n{}", dataflow.log_text());
        anyhow::ensure!(
            Instant::now() < deadline,
            "the documents tier did not answer within {within:?}:\n{}",
            dataflow.log_text()
        );
        let id = format!("docs-warm-up-{attempt}");
        client.publish(
            &format!("{root}/assistant/query/tester"),
            question(&id, "How do I clear a jam on the conveyor?"),
        )?;
        if let Some(answer) = client.wait_for(Duration::from_secs(5), |m| is_answer_to(m, &id)) {
            // Until the router has seen the tier alive, its hop is `unreachable`.
            let by_docs = answer.json["route"]
                .as_array()
                .is_some_and(|route| route.iter().any(|hop| hop["tier"] == "docs" && hop["outcome"] != "unreachable"));
            if by_docs {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    unreachable!("the loop only ends by returning")
}

/// Like [`wait_until_ready`], asking the HTTP gateway on `port` (OpenAI
/// chat completions) until it answers from live plant data.
pub fn wait_until_ready_over_http(port: u16, dataflow: &mut RunningDataflow, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    let body = serde_json::json!({"model": "shopfloor-assistant", "messages": [{"role": "user", "content": "Is the machine running?"}]});
    loop {
        anyhow::ensure!(dataflow.is_running(), "dataflow stopped early:\n{}", dataflow.log_text());
        anyhow::ensure!(
            Instant::now() < deadline,
            "no answer from live data within {within:?}:\n{}",
            dataflow.log_text()
        );
        if let Ok((200, reply)) = http::post_json(port, "/v1/chat/completions", None, &body.to_string()) {
            if !reply.contains("no_plant_data") {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
