//! `slm`: answers operators' questions with a small language model, grounded
//! in the live plant state.
//!
//! | | id | payload |
//! |---|---|---|
//! | input | `readings` | `reading` batches |
//! | input | `questions` | `question` batches |
//! | input | `metrics_tick` | timer: send a snapshot |
//! | output | `answers` | `answer`, one per question |
//! | output | `metrics` | `metric` snapshot |
//!
//! The model never computes or recalls a value: limit comparisons, trends
//! and staleness are computed in code ([`facts`]), the prompt carries them
//! as a fact sheet, and an answer whose numbers are not in that sheet (or
//! that contradicts a computed limit fact) is replaced by the fact's own
//! sentence.
//!
//! ```yaml
//! env:
//!   SLM_MODEL_PATH: ../models/SmolLM2-135M-Instruct.Q4_1.gguf
//!   SLM_PROFILE: ../hw-profiles/generic-x86-2core.toml
//!   SLM_MAX_TOKENS: "48"
//! ```
//! Every setting, the fact rules and the confidence formula: `docs/slm.md`.
//!
//! # Layout
//! - [`engine`]: llama.cpp: model-file and memory checks, cached greedy
//!   generation, grammar-constrained generation, confidence.
//! - [`tag_state`], [`plant_state`]: latest value, history and limits per tag.
//! - [`facts`]: limit, trend and staleness facts, and how they are written.
//! - [`relevance`]: which tags a question is about.
//! - [`tools`]: the read-only tools and their grammar.
//! - [`grounding`]: the prompt's fact sheet and the check of model answers.
//! - [`question_check`]: questions refused before any work.
//! - [`answering`]: one question to one answer; [`json_answer`]: the same
//!   as JSON under a grammar made from the question's JSON Schema;
//!   [`generator`]: what they need of the model and the plant state.
//! - [`state`]: the node's front as plain state: question admission
//!   ("busy" when the queue is full), pending readings (latest plant state
//!   wins), counts, the fair question queue; [`model_side`]: the workers
//!   (one per sequence) and the engine thread that decodes their answers
//!   together; [`driver`]: the front and the model side on dora.
//! - [`gate`]: the evaluation gate that keeps unevaluated or failed
//!   variants from loading (records written by `shopfloor model evaluate`).
//! - [`lora_control`]: run-time LoRA commands on the `lora` input.
//! - [`power`]: the power-state policy: variant per state, swapped between questions.

pub mod answering;
pub mod config;
pub mod driver;
/// llama.cpp, shared with the vision node: its own crate, `slm-engine`.
pub use slm_engine as engine;
pub mod facts;
pub mod gate;
pub mod generator;
pub mod grounding;
pub mod json_answer;
pub mod lora_control;
pub mod metrics;
pub mod model_side;
pub mod no_data;
pub mod plant_state;
pub mod power;
pub mod question_check;
pub mod relevance;
pub mod state;
pub mod tag_state;
pub mod tools;

#[cfg(test)]
mod test_support;
