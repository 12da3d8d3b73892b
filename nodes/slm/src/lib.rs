//! `slm`: answers operators' questions with a small language model, grounded
//! in the latest plant readings.
//!
//! | | id | payload |
//! |---|---|---|
//! | input | `readings` | `reading` batches |
//! | input | `questions` | `question` batches |
//! | output | `answers` | `answer`, one per question |
//!
//! The model never computes or recalls a value: the prompt carries a fact
//! sheet of the readings the question is about, and an answer whose numbers
//! are not in that sheet is replaced by a sentence made from the fact.
//!
//! ```yaml
//! env:
//!   SLM_MODEL_PATH: ../models/SmolLM2-135M-Instruct.Q4_1.gguf
//!   SLM_PROFILE: ../hw-profiles/generic-x86-2core.toml
//!   SLM_MAX_TOKENS: "48"
//! ```
//!
//! # Layout
//! - [`engine`]: llama.cpp: load, budget check, cached greedy generation.
//! - [`plant_state`]: latest readings and which ones a question is about.
//! - [`grounding`]: fact sheet, prompt, and the grounding check.
//! - [`answering`]: one question to one answer.
//! - [`node`]: the dora event loop.

pub mod answering;
pub mod engine;
pub mod grounding;
pub mod node;
pub mod plant_state;
