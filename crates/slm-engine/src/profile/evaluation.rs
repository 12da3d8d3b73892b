//! Evaluation records: the post-quantization gate's memory. `shopfloor model
//! evaluate --record` writes one per model file it measured on this profile; the
//! `slm` node loads only a model whose record passed (or when told to skip
//! the gate).
//!
//! ```toml
//! [[evaluations]]
//! sha256 = "b179c952…"   # the model file the record is about
//! model = "SmolLM2-135M-Instruct.Q4_1"
//! qa_set = "plant-qa (120 items)"
//! accuracy = 0.95
//! floor = 0.80
//! passed = true
//! generation_tps = 98.0
//! date = "2026-11-26"
//! ```

use serde::Deserialize;

/// One model's measured accuracy and speed on this profile.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationRecord {
    /// SHA-256 of the model file (64 hex digits).
    pub sha256: String,
    pub model: String,
    /// Which question set, and how many items.
    pub qa_set: String,
    /// Share of items answered correctly, 0..=1.
    pub accuracy: f64,
    /// The floor it was judged against.
    pub floor: f64,
    /// `accuracy >= floor`.
    pub passed: bool,
    /// Generation speed measured with it, tokens/s.
    #[serde(default)]
    pub generation_tps: Option<f64>,
    /// When it was measured (YYYY-MM-DD).
    pub date: String,
}

impl EvaluationRecord {
    /// The first problem, as (value, requirement).
    pub(super) fn problem(&self) -> Option<(String, &'static str)> {
        if self.sha256.len() != 64 || !self.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Some((format!("sha256 of {}", self.model), "64 hexadecimal digits"));
        }
        if !(0.0..=1.0).contains(&self.accuracy) || !(0.0..=1.0).contains(&self.floor) {
            return Some((format!("accuracy/floor of {}", self.model), "between 0 and 1"));
        }
        if self.passed != (self.accuracy >= self.floor) {
            return Some((format!("passed of {}", self.model), "accuracy >= floor"));
        }
        None
    }
}
