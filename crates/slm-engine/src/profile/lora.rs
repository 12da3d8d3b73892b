//! LoRA adapters a profile applies on top of its models.
//!
//! ```toml
//! [[lora]]
//! name = "maintenance-terms"
//! path = "../models/lora/maintenance.gguf"  # relative to the profile
//! scale = 0.8                                # 0 leaves it loaded but off
//! at_start = true                            # applied from the start
//! model = "../models/SmolLM2-135M-Instruct.Q4_1.gguf"  # only with this base model
//! sha256 = "…"                               # checked when it loads
//! ```

use std::path::PathBuf;

use serde::Deserialize;

/// One GGUF LoRA adapter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraAdapter {
    /// Name used in logs and in run-time commands.
    pub name: String,
    /// GGUF adapter file, relative to the profile's folder unless absolute.
    pub path: PathBuf,
    /// Strength, 0..=4 (1 is the adapter as trained).
    #[serde(default = "default_scale")]
    pub scale: f32,
    /// Whether the adapter is applied when the node starts (otherwise it is
    /// loaded and switched on at run time).
    #[serde(default = "default_at_start")]
    pub at_start: bool,
    /// The base model file it was trained for, relative to the profile's
    /// folder unless absolute: an engine loading another model (another
    /// tier of the same profile) leaves the adapter out. None: every model.
    #[serde(default)]
    pub model: Option<PathBuf>,
    /// SHA-256 of the adapter file: a file that does not match is refused.
    #[serde(default)]
    pub sha256: Option<String>,
}

fn default_scale() -> f32 {
    1.0
}

fn default_at_start() -> bool {
    true
}

impl LoraAdapter {
    /// The first problem, as (value, requirement).
    pub(super) fn problem(&self) -> Option<(String, &'static str)> {
        if self.name.trim().is_empty() {
            return Some((format!("name {:?}", self.name), "a non-empty name"));
        }
        if !(0.0..=4.0).contains(&self.scale) {
            return Some((format!("scale {} of {}", self.scale, self.name), "0..=4"));
        }
        if self.sha256.as_ref().is_some_and(|h| h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit())) {
            return Some((format!("sha256 of {}", self.name), "64 hexadecimal digits"));
        }
        None
    }
}
