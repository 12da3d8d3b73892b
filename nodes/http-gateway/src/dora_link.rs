//! The dora side: questions out, answers and every node's metric snapshots in.

use std::sync::Arc;
use std::time::Instant;

use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters};
use shopfloor_core::schema::{Answer, MetricSample, Origin, Question};
use shopfloor_node::clock::now_ms;
use shopfloor_node::metrics::METRICS_TICK_INPUT;
use tokio::sync::mpsc;

use crate::server::Gateway;

/// Output id of questions.
pub const QUESTIONS_OUTPUT: &str = "questions";
/// Input ids starting with this carry answers (`answers`, `answers_tier1`, …).
pub const ANSWERS_INPUT: &str = "answers";
/// Input ids starting with this carry a node's metric snapshot
/// (`metrics_slm`, `metrics_opcua`, …).
pub const METRICS_INPUT: &str = "metrics";

/// Runs until dora says stop; then the HTTP server is told to stop too.
pub async fn run(
    gateway: Arc<Gateway>,
    mut node: DoraNode,
    mut events: EventStream,
    mut questions: mpsc::Receiver<Question>,
) -> Result<(), dora_node_api::NodeError> {
    let output = DataId::from(QUESTIONS_OUTPUT.to_owned());
    loop {
        tokio::select! {
            event = events.recv_async() => match event {
                None | Some(Event::Stop(_)) => break,
                Some(Event::Input { id, data, .. }) => handle_input(&gateway, id.as_str(), data.as_array().as_ref()),
                Some(_) => {}
            },
            Some(question) = questions.recv() => {
                tracing::debug!(id = %question.id, "question sent");
                node.send_output(output.clone(), MetadataParameters::default(), Question::to_arrow(std::slice::from_ref(&question)))?;
            }
        }
    }
    Ok(())
}

fn handle_input(gateway: &Gateway, input: &str, data: &dyn shopfloor_core::arrow::array::Array) {
    if input == METRICS_TICK_INPUT {
        let own = gateway.traffic.snapshot(&gateway.node_id);
        gateway.board().update(own, Instant::now(), now_ms());
    } else if input.starts_with(METRICS_INPUT) {
        match MetricSample::from_arrow(data) {
            Ok(samples) => {
                let refused = gateway.board().update(samples, Instant::now(), now_ms());
                for (sample, error) in refused {
                    gateway.traffic.refused_input("bad_series");
                    tracing::warn!(node = %sample.node, %error, "metric series refused");
                }
            }
            Err(error) => {
                gateway.traffic.refused_input("bad_metrics");
                tracing::warn!(input, %error, "metrics input rejected");
            }
        }
    } else if input.starts_with(ANSWERS_INPUT) {
        match Answer::from_arrow(data) {
            Ok(answers) => {
                // Answers to MQTT questions pass by here too; they are not ours.
                for answer in answers.into_iter().filter(|a| a.origin == Origin::Http) {
                    let id = answer.id.clone();
                    if !gateway.pending.resolve(answer) {
                        gateway.traffic.late_answer();
                        tracing::info!(%id, "answer arrived after its request ended");
                    }
                }
            }
            Err(error) => {
                gateway.traffic.refused_input("bad_answers");
                tracing::warn!(input, %error, "answers input rejected");
            }
        }
    } else {
        gateway.traffic.refused_input("unknown_input");
        tracing::warn!(input, "unexpected input ignored");
    }
}
