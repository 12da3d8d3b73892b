//! Hardware profiles (`hw-profiles/*.toml`): how a machine runs models, and
//! how much memory they may take.
//!
//! ```toml
//! name = "generic-x86-2core"
//! description = "Any x86-64 CPU with 2 cores"
//!
//! [engine]
//! backend = "cpu"          # cpu | cuda | vulkan | metal
//! threads = 2              # generation threads
//! threads_batch = 2        # prompt-processing threads
//! gpu_layers = 0
//! context_size = 2048
//! batch_size = 512
//!
//! [memory]
//! budget_mb = 2048         # all the gateway may use for models
//! os_reserve_mb = 512      # left to the OS and other services
//! engine_reserve_mb = 128  # llama.cpp buffers beyond weights and KV cache
//! ```

use std::path::Path;

use serde::Deserialize;

/// Why a profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("cannot read hardware profile {path}: {source}")]
    Read {
        /// Profile path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a valid profile (unknown key, wrong type, missing field).
    #[error("invalid hardware profile {path}: {message}")]
    Parse {
        /// Profile path.
        path: String,
        /// The TOML parser's message, which names the key.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid hardware profile {path}: `{field}` is {value} (must be {requirement})")]
    Invalid {
        /// Profile path.
        path: String,
        /// Dotted key.
        field: &'static str,
        /// The value found.
        value: String,
        /// What it must be.
        requirement: &'static str,
    },
}

/// Which llama.cpp backend runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// CPU only.
    Cpu,
    /// NVIDIA GPUs (cargo feature `cuda` of llama-cpp-2).
    Cuda,
    /// Vulkan GPUs (cargo feature `vulkan`).
    Vulkan,
    /// Apple GPUs (cargo feature `metal`).
    Metal,
}

/// Inference engine settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineProfile {
    /// Backend.
    pub backend: Backend,
    /// Threads for token generation.
    pub threads: u32,
    /// Threads for prompt processing.
    pub threads_batch: u32,
    /// Layers offloaded to the GPU (0 on CPU).
    #[serde(default)]
    pub gpu_layers: u32,
    /// Context window in tokens.
    pub context_size: u32,
    /// Largest prompt batch in tokens.
    pub batch_size: u32,
}

/// Memory budget.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryProfile {
    /// Everything models may use, in MiB.
    pub budget_mb: u64,
    /// Kept free for the OS and other services, in MiB.
    pub os_reserve_mb: u64,
    /// llama.cpp's own buffers beyond weights and KV cache, in MiB.
    pub engine_reserve_mb: u64,
}

/// One machine's profile.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareProfile {
    /// Profile name.
    pub name: String,
    /// What machine it is for.
    pub description: String,
    /// Engine settings.
    pub engine: EngineProfile,
    /// Memory budget.
    pub memory: MemoryProfile,
}

/// The result of checking a model against a profile's memory budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryPlan {
    /// OS + engine reserve + weights + KV cache, in bytes.
    pub needed_bytes: u64,
    /// The profile's budget, in bytes.
    pub budget_bytes: u64,
}

impl MemoryPlan {
    /// Whether the plan fits the budget.
    pub fn fits(&self) -> bool {
        self.needed_bytes <= self.budget_bytes
    }
}

const MIB: u64 = 1024 * 1024;

impl HardwareProfile {
    /// Reads and validates a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&shown, &text)
    }

    /// Parses and validates profile text; `path` is only used in errors.
    pub fn parse(path: &str, text: &str) -> Result<Self, ProfileError> {
        let profile: HardwareProfile = toml::from_str(text).map_err(|e| ProfileError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned() + &span_hint(text, e.span()),
        })?;
        let invalid = |field, value: u64, requirement| ProfileError::Invalid {
            path: path.to_owned(),
            field,
            value: value.to_string(),
            requirement,
        };
        let engine = &profile.engine;
        if !(1..=256).contains(&engine.threads) {
            return Err(invalid("engine.threads", engine.threads.into(), "1..=256"));
        }
        if !(1..=256).contains(&engine.threads_batch) {
            return Err(invalid("engine.threads_batch", engine.threads_batch.into(), "1..=256"));
        }
        if !(256..=131_072).contains(&engine.context_size) {
            return Err(invalid("engine.context_size", engine.context_size.into(), "256..=131072"));
        }
        if engine.batch_size == 0 || engine.batch_size > engine.context_size {
            return Err(invalid("engine.batch_size", engine.batch_size.into(), "1..=context_size"));
        }
        if engine.backend == Backend::Cpu && engine.gpu_layers != 0 {
            return Err(invalid("engine.gpu_layers", engine.gpu_layers.into(), "0 with backend = \"cpu\""));
        }
        if profile.memory.budget_mb == 0 {
            return Err(invalid("memory.budget_mb", 0, "> 0"));
        }
        Ok(profile)
    }

    /// OS + engine + weights + KV cache against the budget.
    pub fn memory_plan(&self, model_bytes: u64, kv_cache_bytes: u64) -> MemoryPlan {
        let reserve = (self.memory.os_reserve_mb + self.memory.engine_reserve_mb) * MIB;
        MemoryPlan {
            needed_bytes: reserve + model_bytes + kv_cache_bytes,
            budget_bytes: self.memory.budget_mb * MIB,
        }
    }
}

fn span_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else { return String::new() };
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    format!(" (line {line})")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
description = "test"
[engine]
backend = "cpu"
threads = 2
threads_batch = 2
context_size = 2048
batch_size = 512
[memory]
budget_mb = 1024
os_reserve_mb = 512
engine_reserve_mb = 128
"#;

    #[test]
    fn a_valid_profile_parses() {
        let p = HardwareProfile::parse("t.toml", GOOD).unwrap();
        assert_eq!((p.engine.threads, p.engine.gpu_layers), (2, 0));
    }

    #[test]
    fn an_unknown_key_is_named() {
        let text = GOOD.replace("threads = 2\n", "threads = 2\nthreadz = 4\n");
        let err = HardwareProfile::parse("t.toml", &text).unwrap_err();
        assert!(err.to_string().contains("threadz"), "{err}");
    }

    #[test]
    fn gpu_layers_on_a_cpu_profile_are_rejected() {
        let text = GOOD.replace("threads = 2\n", "threads = 2\ngpu_layers = 10\n");
        let err = HardwareProfile::parse("t.toml", &text).unwrap_err();
        assert!(err.to_string().contains("engine.gpu_layers"), "{err}");
    }

    #[test]
    fn the_memory_plan_adds_reserves_weights_and_kv_cache() {
        let p = HardwareProfile::parse("t.toml", GOOD).unwrap();
        let plan = p.memory_plan(300 * MIB, 84 * MIB);
        assert_eq!(plan.needed_bytes, (512 + 128 + 300 + 84) * MIB);
        assert!(plan.fits());
        assert!(!p.memory_plan(400 * MIB, 0).fits());
    }
}
