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
    let warm_up =
        WarmUp { id_prefix: "warm-up", question: "Is the machine running?", waiting_for: "an answer from live data" };
    ask_until(client, root, dataflow, within, &warm_up, |answer| answer.json["error"] != "no_plant_data")
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
    let warm_up = WarmUp {
        id_prefix: "docs-warm-up",
        question: "How do I clear a jam on the conveyor?",
        waiting_for: "an answer from the documents tier",
    };
    ask_until(client, root, dataflow, within, &warm_up, |answer| {
        // Until the router has seen the tier alive, its hop is `unreachable`.
        answer.json["route"]
            .as_array()
            .is_some_and(|route| route.iter().any(|hop| hop["tier"] == "docs" && hop["outcome"] != "unreachable"))
    })
}

/// A question asked again and again until the dataflow is ready.
struct WarmUp {
    id_prefix: &'static str,
    question: &'static str,
    /// What is waited for, for the error.
    waiting_for: &'static str,
}

/// Asks `warm_up`'s question until an answer passes `ready`, failing when
/// the dataflow stops or `within` passes.
fn ask_until(
    client: &TestClient,
    root: &str,
    dataflow: &mut RunningDataflow,
    within: Duration,
    warm_up: &WarmUp,
    ready: impl Fn(&Received) -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    for attempt in 0.. {
        anyhow::ensure!(dataflow.is_running(), "dataflow stopped early:\n{}", dataflow.log_text());
        anyhow::ensure!(
            Instant::now() < deadline,
            "no {} within {within:?}:\n{}",
            warm_up.waiting_for,
            dataflow.log_text()
        );
        let id = format!("{}-{attempt}", warm_up.id_prefix);
        client.publish(&format!("{root}/assistant/query/tester"), question(&id, warm_up.question))?;
        if let Some(answer) = client.wait_for(Duration::from_secs(5), |m| is_answer_to(m, &id)) {
            if ready(&answer) {
                return Ok(());
            }
            // Not ready yet, and answered at once: a short pause, not a flood.
            std::thread::sleep(Duration::from_millis(250));
        }
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
