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
//! adapter_sha256 = "7305aece…" # the LoRA adapter on at start while measured, if any
//! ```
//!
//! A model with an adapter on is another model: the gate wants a record of
//! that model file with that adapter (or, without one, a record without).

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
    /// SHA-256 of the LoRA adapter that was on while it was measured (the
    /// one the profile switches on at start for this model); None: the bare model.
    #[serde(default)]
    pub adapter_sha256: Option<String>,
}

impl EvaluationRecord {
    /// The first problem, as (value, requirement).
    pub(super) fn problem(&self) -> Option<(String, &'static str)> {
        let is_sha256 = |text: &str| text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit());
        if !is_sha256(&self.sha256) {
            return Some((format!("sha256 of {}", self.model), "64 hexadecimal digits"));
        }
        if self.adapter_sha256.as_deref().is_some_and(|sha| !is_sha256(sha)) {
            return Some((format!("adapter_sha256 of {}", self.model), "64 hexadecimal digits"));
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
