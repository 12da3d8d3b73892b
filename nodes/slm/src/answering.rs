//! One question to one answer: pick the facts, ask the model, check its
//! sentence against the facts.

use std::time::Instant;

use shopfloor_core::schema::{Answer, AnswerError, Question};

use crate::engine::{ChatTurn, Engine};
use crate::grounding::{fact_sentence, facts, is_grounded, prompt_facts, system_prompt};
use crate::plant_state::PlantState;

/// Settings that shape answers.
#[derive(Debug, Clone, Copy)]
pub struct AnswerSettings {
    /// Most generated tokens.
    pub max_tokens: u32,
}

/// Answers `question` from `state` with `engine`.
pub fn answer(
    engine: &mut Engine,
    state: &PlantState,
    question: &Question,
    settings: AnswerSettings,
    now_ms: i64,
) -> Answer {
    let started = Instant::now();
    let queued_ms = (now_ms - question.received_ts_ms).max(0);
    let mut answer = Answer::to_question(question, String::new());

    if question.deadline_ms.is_some_and(|deadline| now_ms > deadline) {
        answer.text = "The question expired before it could be answered.".into();
        answer.error = Some(AnswerError::DeadlineExceeded);
        answer.latency_ms = queued_ms;
        return answer;
    }
    if state.is_empty() {
        answer.text = "No plant data has arrived yet, so I cannot answer from live values.".into();
        answer.error = Some(AnswerError::NoPlantData);
        answer.latency_ms = queued_ms;
        return answer;
    }

    let relevant = state.relevant(&question.text);
    answer.facts_used = facts(&relevant, now_ms);
    let fact_lines = prompt_facts(&relevant);
    let system = system_prompt(&fact_lines);
    let turns = [
        ChatTurn { role: "system", content: &system },
        ChatTurn { role: "user", content: &question.text },
    ];
    let generation = engine
        .chat_prompt(&turns)
        .and_then(|prompt| engine.generate(&prompt, settings.max_tokens));

    match generation {
        Ok(generation) => {
            answer.ttft_ms = Some(queued_ms + generation.ttft_ms.round() as i64);
            tracing::debug!(
                prompt_tokens = generation.prompt_tokens,
                evaluated = generation.prompt_tokens_evaluated,
                tokens = generation.tokens,
                ttft_ms = generation.ttft_ms,
                total_ms = generation.total_ms,
                "generated"
            );
            let primary = relevant[0];
            if is_grounded(&generation.text, primary, &fact_lines) {
                answer.text = generation.text;
                answer.confidence = Some(generation.confidence);
                answer.model = Some(engine.model_name.clone());
            } else {
                tracing::info!(id = %question.id, model_text = %generation.text, "model answer not grounded; answering from the fact");
                answer.text = fact_sentence(primary, now_ms);
            }
        }
        Err(error) => {
            tracing::error!(id = %question.id, %error, "generation failed");
            answer.text = format!("The model failed ({error}); {}", fact_sentence(relevant[0], now_ms));
            answer.error = Some(AnswerError::GenerationFailed);
        }
    }
    answer.latency_ms = queued_ms + started.elapsed().as_millis() as i64;
    answer
}
