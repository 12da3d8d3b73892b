//! The SLM node's event loop: readings update the plant state, each question
//! is answered in arrival order.

use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters};
use shopfloor_core::clock::now_ms;
use shopfloor_core::schema::{Answer, Question, Reading};

use crate::answering::{answer, AnswerSettings};
use crate::engine::Engine;
use crate::plant_state::PlantState;

/// Input id of reading batches.
pub const READINGS_INPUT: &str = "readings";
/// Input id of questions.
pub const QUESTIONS_INPUT: &str = "questions";
/// Output id of answers.
pub const ANSWERS_OUTPUT: &str = "answers";

/// Counts for the final log line.
#[derive(Debug, Default, Clone, Copy)]
pub struct SlmCounts {
    /// Questions answered.
    pub answered: u64,
    /// Inputs that did not decode as their schema.
    pub rejected_inputs: u64,
}

/// Runs until dora says stop.
pub fn run(
    engine: &mut Engine,
    settings: AnswerSettings,
    mut node: DoraNode,
    mut events: EventStream,
) -> Result<SlmCounts, dora_node_api::NodeError> {
    let mut state = PlantState::default();
    let mut counts = SlmCounts::default();
    let output = DataId::from(ANSWERS_OUTPUT.to_owned());

    while let Some(event) = events.recv() {
        let (id, data) = match event {
            Event::Input { id, data, .. } => (id, data),
            Event::Stop(_) => break,
            _ => continue,
        };
        match id.as_str() {
            READINGS_INPUT => match Reading::from_arrow(data.as_array().as_ref()) {
                Ok(readings) => state.update(readings),
                Err(error) => reject(&mut counts, &id, &error),
            },
            QUESTIONS_INPUT => match Question::from_arrow(data.as_array().as_ref()) {
                Ok(questions) => {
                    for question in questions {
                        let reply = answer(engine, &state, &question, settings, now_ms());
                        tracing::info!(id = %reply.id, latency_ms = reply.latency_ms, ttft_ms = ?reply.ttft_ms, "answered");
                        node.send_output(output.clone(), MetadataParameters::default(), Answer::to_arrow(&[reply]))?;
                        counts.answered += 1;
                    }
                }
                Err(error) => reject(&mut counts, &id, &error),
            },
            other => tracing::warn!(input = other, "unexpected input ignored"),
        }
    }
    Ok(counts)
}

fn reject(counts: &mut SlmCounts, input: &DataId, error: &dyn std::fmt::Display) {
    counts.rejected_inputs += 1;
    tracing::warn!(input = %input, %error, rejected = counts.rejected_inputs, "input rejected");
}
