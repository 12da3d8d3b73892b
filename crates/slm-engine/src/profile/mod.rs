//! Hardware profiles (`hw-profiles/*.toml`): how a machine runs models, and
//! how much memory they may take.
//!
//! ```toml
//! name = "generic-x86-2core"
//! description = "Any x86-64 CPU with 2 cores"
//!
//! [engine]
//! backend = "cpu"          # cpu | cuda | vulkan | metal | opencl | openvino
//! threads = 2              # generation threads
//! threads_batch = 2        # prompt-processing threads
//! gpu_layers = 0
//! context_size = 2048
//! batch_size = 512
//! flash_attention = "auto" # auto | on | off
//! kv_cache_type = "f16"    # f16 | q8_0 | q4_0 (quantized needs flash attention)
//! parallel = 4             # questions decoded together (default 1)
//!
//! [memory]
//! budget_mb = 2048         # all the gateway may use for models
//! os_reserve_mb = 512      # left to the OS and other services
//! engine_reserve_mb = 128  # llama.cpp buffers beyond weights and KV cache
//!
//! [[models]]               # one per routing tier (0 = the smallest)
//! tier = 0
//! path = "../models/SmolLM2-135M-Instruct.Q4_1.gguf"  # relative to this file
//! quant = "Q4_1"
//! sha256 = "b179c952…"     # optional; `shopfloor model check` verifies it
//! ```
//!
//! Optional tables: `[[lora]]` ([`lora`]), `[power]` ([`power`]) and
//! `[[evaluations]]` ([`evaluation`]).

mod evaluation;
mod lora;
mod power;
mod vision;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use self::evaluation::EvaluationRecord;
pub use self::lora::LoraAdapter;
pub use self::power::{PowerPolicy, PowerSource, LINUX_STATES};
pub use self::vision::VisionModel;

/// Why a profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("cannot read hardware profile {path}: {source}")]
    Read { path: String, source: std::io::Error },
    /// The file is not a valid profile (unknown key, wrong type, missing field).
    #[error("invalid hardware profile {path}: {message}")]
    Parse {
        path: String,
        /// The TOML parser's message, which names the key.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid hardware profile {path}: `{field}` is {value} (must be {requirement})")]
    Invalid {
        path: String,
        field: &'static str,
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
    /// OpenCL GPUs, e.g. Qualcomm Adreno (cargo feature `opencl`).
    Opencl,
    /// Intel NPUs and GPUs through llama.cpp's OpenVINO backend: no
    /// llama-cpp-2 feature compiles it; `system-ggml` links a ggml built with it.
    Openvino,
}

impl Backend {
    /// The `llama-cpp-2` cargo feature that builds this backend (none for the CPU).
    pub fn cargo_feature(self) -> Option<&'static str> {
        match self {
            Backend::Cpu => None,
            Backend::Cuda => Some("cuda"),
            Backend::Vulkan => Some("vulkan"),
            Backend::Metal => Some("metal"),
            Backend::Opencl => Some("opencl"),
            Backend::Openvino => Some("system-ggml"),
        }
    }

    /// The name used in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
            Backend::Vulkan => "vulkan",
            Backend::Metal => "metal",
            Backend::Opencl => "opencl",
            Backend::Openvino => "openvino",
        }
    }
}

/// Quantizations a tier's model may declare (llama.cpp's names).
pub const KNOWN_QUANTS: &[&str] = &[
    "F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_1", "Q4_0",
    "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K", "IQ4_XS", "IQ4_NL", "IQ3_XXS", "IQ2_XXS", "TQ2_0", "TQ1_0",
];

/// The model a routing tier runs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierModel {
    /// Routing tier, 0 for the smallest model.
    pub tier: u32,
    /// GGUF file, relative to the profile's folder unless absolute.
    pub path: PathBuf,
    /// Its quantization, one of [`KNOWN_QUANTS`].
    pub quant: String,
    /// SHA-256 of the file (64 hex digits), checked by `shopfloor model check`.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// Whether llama.cpp uses flash attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FlashAttention {
    /// llama.cpp decides per backend.
    #[default]
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

/// How keys and values are stored in the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KvCacheType {
    /// 16-bit floats: exact, 2 bytes per value.
    #[default]
    F16,
    /// 8-bit blocks: ~1.06 bytes per value, near-lossless.
    Q8_0,
    /// 4-bit blocks: ~0.56 bytes per value.
    Q4_0,
}

impl KvCacheType {
    /// Bytes per stored value (block formats: 32 values plus a 2-byte scale).
    pub fn bytes_per_value(self) -> f64 {
        match self {
            KvCacheType::F16 => 2.0,
            KvCacheType::Q8_0 => 34.0 / 32.0,
            KvCacheType::Q4_0 => 18.0 / 32.0,
        }
    }

    /// The name used in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            KvCacheType::F16 => "f16",
            KvCacheType::Q8_0 => "q8_0",
            KvCacheType::Q4_0 => "q4_0",
        }
    }
}

/// Inference engine settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineProfile {
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
    /// Flash attention policy.
    #[serde(default)]
    pub flash_attention: FlashAttention,
    /// KV cache storage type.
    #[serde(default)]
    pub kv_cache_type: KvCacheType,
    /// Whether llama.cpp may repack weights at load for the CPU's vector
    /// units (Q4_0, Q4_K, IQ4_NL and Q8_0 on AVX2/NEON); off keeps the file's layout.
    #[serde(default = "default_weight_repack")]
    pub weight_repack: bool,
    /// Questions a model node decodes together, each as its own sequence of
    /// one llama.cpp context (continuous batching). 1 answers one at a time.
    #[serde(default = "default_parallel")]
    pub parallel: u32,
}

fn default_weight_repack() -> bool {
    true
}

fn default_parallel() -> u32 {
    1
}

impl EngineProfile {
    /// KV cache cells the context holds: one window of `context_size` per
    /// sequence, plus one for the shared cached prefix (sequence 0) when
    /// several sequences run, so no sequence can run out of cells however
    /// little of the prefix they share. With one sequence, the cached prefix
    /// gives way when both do not fit (as before there were sequences).
    pub fn kv_cells(&self) -> u32 {
        if self.parallel <= 1 {
            self.context_size
        } else {
            self.context_size.saturating_mul(self.parallel + 1)
        }
    }
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
    pub name: String,
    /// What machine it is for.
    pub description: String,
    pub engine: EngineProfile,
    pub memory: MemoryProfile,
    /// The model of each routing tier, in tier order.
    #[serde(default)]
    pub models: Vec<TierModel>,
    /// LoRA adapters applied to the models.
    #[serde(default)]
    pub lora: Vec<LoraAdapter>,
    /// Which model variant runs in which power state.
    #[serde(default)]
    pub power: Option<PowerPolicy>,
    /// The vision-language model (stage 2 of visual inspection), if any.
    #[serde(default)]
    pub vision: Option<VisionModel>,
    /// Evaluations of model files on this profile (the quantization gate).
    #[serde(default)]
    pub evaluations: Vec<EvaluationRecord>,
    /// The profile file's folder, against which relative model paths resolve.
    #[serde(skip)]
    pub folder: PathBuf,
}

/// What loading a model takes, part by part, against the profile's budget
/// and the memory the machine has free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Model weights (the GGUF file's size), bytes.
    pub model_bytes: u64,
    /// KV cache for the configured context, bytes.
    pub kv_cache_bytes: u64,
    /// llama.cpp's compute buffer (estimate), bytes.
    pub compute_bytes: u64,
    /// The profile's engine reserve, bytes.
    pub engine_reserve_bytes: u64,
    /// The profile's OS reserve, bytes.
    pub os_reserve_bytes: u64,
    /// The profile's budget, bytes.
    pub budget_bytes: u64,
    /// `MemAvailable` of the machine when checked, bytes (None where unknown).
    pub available_bytes: Option<u64>,
}

impl MemoryPlan {
    /// All the parts, OS reserve included: what the budget must cover.
    pub fn needed_bytes(&self) -> u64 {
        self.process_bytes() + self.os_reserve_bytes
    }

    /// What this process will take: weights, KV cache, compute buffer, engine reserve.
    pub fn process_bytes(&self) -> u64 {
        self.model_bytes + self.kv_cache_bytes + self.compute_bytes + self.engine_reserve_bytes
    }

    /// Whether the plan fits both the budget and the free memory.
    pub fn fits(&self) -> bool {
        self.needed_bytes() <= self.budget_bytes && self.available_bytes.is_none_or(|free| self.process_bytes() <= free)
    }

    /// The arithmetic, for logs and refusals, e.g. `model 92 MiB + KV cache
    /// 45 MiB + compute buffer 114 MiB + engine reserve 128 MiB + OS reserve
    /// 512 MiB = 891 MiB of budget 2048 MiB; this process 379 MiB of 3120 MiB
    /// available`.
    pub fn arithmetic(&self) -> String {
        let mib = |b: u64| b.div_ceil(MIB);
        let available = match self.available_bytes {
            Some(free) => format!("; this process {} MiB of {} MiB available", mib(self.process_bytes()), free / MIB),
            None => String::new(),
        };
        format!(
            "model {} MiB + KV cache {} MiB + compute buffer {} MiB + engine reserve {} MiB + OS reserve {} MiB = {} MiB of budget {} MiB{available}",
            mib(self.model_bytes),
            mib(self.kv_cache_bytes),
            mib(self.compute_bytes),
            mib(self.engine_reserve_bytes),
            mib(self.os_reserve_bytes),
            mib(self.needed_bytes()),
            self.budget_bytes / MIB,
        )
    }
}

/// `MemAvailable` from `/proc/meminfo` (Linux), in bytes.
pub fn available_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

const MIB: u64 = 1024 * 1024;

impl HardwareProfile {
    /// This profile with `threads` for both generation and prompt processing:
    /// for a machine whose cores several model processes share, where two
    /// OpenMP teams on the same cores make each barrier wait for a time slice.
    pub fn with_threads(mut self, threads: u32) -> Self {
        self.engine.threads = threads;
        self.engine.threads_batch = threads;
        self
    }

    /// Reads and validates a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| ProfileError::Read { path: shown.clone(), source })?;
        let mut profile = Self::parse(&shown, &text)?;
        profile.folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(profile)
    }

    /// Where a tier's model file is.
    pub fn model_path(&self, model: &TierModel) -> PathBuf {
        self.resolve(&model.path)
    }

    /// A path from the profile, resolved against the profile's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.folder.join(path)
        }
    }

    /// The evaluation record of the model file with this SHA-256, measured
    /// with the adapter of SHA-256 `adapter_sha256` on (None: bare), if any.
    pub fn evaluation_of(&self, sha256: &str, adapter_sha256: Option<&str>) -> Option<&EvaluationRecord> {
        self.evaluations.iter().rev().find(|r| {
            r.sha256.eq_ignore_ascii_case(sha256)
                && match (&r.adapter_sha256, adapter_sha256) {
                    (None, None) => true,
                    (Some(recorded), Some(wanted)) => recorded.eq_ignore_ascii_case(wanted),
                    _ => false,
                }
        })
    }

    /// The adapters an engine loading `model_path` gets, in profile order:
    /// those for every model and those for this one.
    pub fn adapters_for(&self, model_path: &Path) -> Vec<&LoraAdapter> {
        self.lora
            .iter()
            .filter(|entry| entry.model.as_ref().is_none_or(|base| same_file(&self.resolve(base), model_path)))
            .collect()
    }

    /// The adapter switched on when an engine loads `model_path`, if any.
    pub fn adapter_at_start(&self, model_path: &Path) -> Option<&LoraAdapter> {
        self.adapters_for(model_path).into_iter().find(|entry| entry.at_start && entry.scale > 0.0)
    }

    /// SHA-256 of the adapter switched on for `model_path` (the one the
    /// profile lists, else the file's), None without one.
    pub fn adapter_sha256_at_start(&self, model_path: &Path) -> std::io::Result<Option<String>> {
        let Some(adapter) = self.adapter_at_start(model_path) else { return Ok(None) };
        match &adapter.sha256 {
            Some(listed) => Ok(Some(listed.to_ascii_lowercase())),
            None => crate::model_file::sha256_hex(&self.resolve(&adapter.path)).map(Some),
        }
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
        if !(1..=64).contains(&engine.parallel) || engine.parallel > engine.batch_size {
            return Err(invalid("engine.parallel", engine.parallel.into(), "1..=64 and at most batch_size"));
        }
        if engine.backend == Backend::Cpu && engine.gpu_layers != 0 {
            return Err(invalid("engine.gpu_layers", engine.gpu_layers.into(), "0 with backend = \"cpu\""));
        }
        if engine.kv_cache_type != KvCacheType::F16 && engine.flash_attention == FlashAttention::Off {
            return Err(ProfileError::Invalid {
                path: path.to_owned(),
                field: "engine.kv_cache_type",
                value: engine.kv_cache_type.as_str().to_owned(),
                requirement:
                    "f16 when flash_attention = \"off\" (llama.cpp needs flash attention for a quantized cache)",
            });
        }
        if profile.memory.budget_mb == 0 {
            return Err(invalid("memory.budget_mb", 0, "> 0"));
        }
        let model_problem = |value: String, requirement| ProfileError::Invalid {
            path: path.to_owned(),
            field: "models",
            value,
            requirement,
        };
        for (index, model) in profile.models.iter().enumerate() {
            if index as u32 != model.tier {
                return Err(model_problem(
                    format!("tier {} at position {index}", model.tier),
                    "tiers 0, 1, 2, … in order",
                ));
            }
            if !KNOWN_QUANTS.contains(&model.quant.as_str()) {
                return Err(model_problem(
                    model.quant.clone(),
                    "a llama.cpp quantization name such as Q4_K_M, Q8_0, F16",
                ));
            }
            if model.sha256.as_ref().is_some_and(|h| h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit())) {
                return Err(model_problem(format!("sha256 of tier {}", model.tier), "64 hexadecimal digits"));
            }
        }
        let table_problem = |field, (value, requirement): (String, &'static str)| ProfileError::Invalid {
            path: path.to_owned(),
            field,
            value,
            requirement,
        };
        if let Some(problem) = profile.lora.iter().find_map(LoraAdapter::problem) {
            return Err(table_problem("lora", problem));
        }
        let on_at_start: Vec<&str> =
            profile.lora.iter().filter(|a| a.at_start && a.scale > 0.0).map(|a| a.name.as_str()).collect();
        if on_at_start.len() > 1 {
            return Err(table_problem(
                "lora",
                (
                    format!("at_start on {}", on_at_start.join(", ")),
                    "at most one adapter on at a time (llama-cpp-2 applies one)",
                ),
            ));
        }
        if let Some(problem) = profile.evaluations.iter().find_map(EvaluationRecord::problem) {
            return Err(table_problem("evaluations", problem));
        }
        if let Some((field, value, requirement)) = profile.power.as_ref().and_then(PowerPolicy::problem) {
            return Err(ProfileError::Invalid { path: path.to_owned(), field, value, requirement });
        }
        Ok(profile)
    }

    /// The memory plan for a model of `model_bytes` whose KV cache and
    /// compute buffer take `kv_cache_bytes` and `compute_bytes`.
    pub fn memory_plan(
        &self,
        model_bytes: u64,
        kv_cache_bytes: u64,
        compute_bytes: u64,
        available_bytes: Option<u64>,
    ) -> MemoryPlan {
        MemoryPlan {
            model_bytes,
            kv_cache_bytes,
            compute_bytes,
            engine_reserve_bytes: self.memory.engine_reserve_mb * MIB,
            os_reserve_bytes: self.memory.os_reserve_mb * MIB,
            budget_bytes: self.memory.budget_mb * MIB,
            available_bytes,
        }
    }
}

fn span_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else { return String::new() };
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    format!(" (line {line})")
}

/// Whether two paths name the same file (either may be relative or a link;
/// compared as written when either is missing).
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
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

    /// Every profile the project ships parses, and the 135M model (about
    /// 100 MiB of weights, 45 MiB of f16 KV cache at 2048 tokens) fits it.
    #[test]
    fn every_shipped_profile_parses_and_fits_the_small_model() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hw-profiles");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let profile = HardwareProfile::load(&path).unwrap_or_else(|e| panic!("{e}"));
                let plan = profile.memory_plan(100 * MIB, 45 * MIB, 20 * MIB, None);
                assert!(plan.fits(), "{}: {}", profile.name, plan.arithmetic());
                assert_eq!(
                    path.file_stem().and_then(|s| s.to_str()),
                    Some(profile.name.as_str()),
                    "file name = profile name"
                );
                names.push(profile.name);
            }
        }
        assert!(names.len() >= 4, "{names:?}");
    }

    #[test]
    fn tier_models_resolve_against_the_profile_folder_and_are_checked() {
        let text = format!("{GOOD}\n[[models]]\ntier = 0\npath = \"../models/m.gguf\"\nquant = \"Q4_K_M\"\n");
        let mut profile = HardwareProfile::parse("t.toml", &text).unwrap();
        profile.folder = PathBuf::from("/opt/shopfloor/hw-profiles");
        assert_eq!(
            profile.model_path(&profile.models[0]),
            PathBuf::from("/opt/shopfloor/hw-profiles/../models/m.gguf")
        );
        for (bad, field_text) in [
            ("tier = 1", "tiers 0, 1, 2"),
            ("quant = \"Q4_K_Z\"", "quantization name"),
            ("sha256 = \"abc\"", "64 hexadecimal"),
        ] {
            let key = bad.split(' ').next().unwrap();
            let line = text.lines().find(|l| l.starts_with(key)).unwrap_or("").to_owned();
            let broken = if line.is_empty() { format!("{text}{bad}\n") } else { text.replace(&line, bad) };
            let err = HardwareProfile::parse("t.toml", &broken).unwrap_err().to_string();
            assert!(err.contains("models") && err.contains(field_text), "{bad}: {err}");
        }
    }

    #[test]
    fn power_lora_and_evaluation_tables_parse_and_are_checked() {
        let sha = "ab".repeat(32);
        let text = format!(
            "{GOOD}[power]\nsource = \"tag\"\ntag = \"gateway_power\"\n[power.variants]\nmains = \"q8.gguf\"\nbattery = \"q4.gguf\"\n\
             [[lora]]\nname = \"terms\"\npath = \"terms.gguf\"\nscale = 0.5\n\
             [[evaluations]]\nsha256 = \"{sha}\"\nmodel = \"m\"\nqa_set = \"plant-qa\"\naccuracy = 0.9\nfloor = 0.8\npassed = true\ndate = \"2026-11-26\"\n"
        );
        let profile = HardwareProfile::parse("t.toml", &text).unwrap();
        let power = profile.power.as_ref().unwrap();
        assert_eq!(power.variant_for("Battery"), Some(&PathBuf::from("q4.gguf")));
        assert_eq!(power.variant_for("hot"), None);
        assert_eq!((profile.lora[0].scale, profile.lora[0].at_start), (0.5, true));
        assert!(profile.evaluation_of(&sha.to_uppercase(), None).is_some_and(|r| r.passed));
        // A record of the bare model is not one of the model with an adapter on, nor the other way round.
        assert!(profile.evaluation_of(&sha, Some(&"cd".repeat(32))).is_none());
        let with_adapter = text.replace(
            "date = \"2026-11-26\"",
            &format!("date = \"2026-11-26\"\nadapter_sha256 = \"{}\"", "CD".repeat(32)),
        );
        let adapted = HardwareProfile::parse("t.toml", &with_adapter).unwrap();
        assert!(adapted.evaluation_of(&sha, Some(&"cd".repeat(32))).is_some_and(|r| r.passed));
        assert!(adapted.evaluation_of(&sha, None).is_none());
        assert!(profile.engine.weight_repack, "repacking is on unless the profile says otherwise");
        for (bad, named) in [
            (text.replace("tag = \"gateway_power\"\n", ""), "power.tag"),
            (text.replace("source = \"tag\"", "source = \"linux\"").replace("battery = ", "eco = "), "power.variants"),
            (text.replace("scale = 0.5", "scale = 9.0"), "lora"),
            (text.replace("scale = 0.5", "scale = 0.5\nsha256 = \"abc\""), "sha256 of terms"),
            (format!("{text}[[lora]]\nname = \"b\"\npath = \"b.gguf\"\n"), "at most one adapter"),
            (text.replace("passed = true", "passed = false"), "evaluations"),
            (text.replace("accuracy = 0.9", "accuracy = 0.7"), "evaluations"),
        ] {
            let err = HardwareProfile::parse("t.toml", &bad).unwrap_err().to_string();
            assert!(err.contains(named), "{named}: {err}");
        }
    }

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
    fn the_memory_plan_adds_reserves_weights_kv_cache_and_compute() {
        let p = HardwareProfile::parse("t.toml", GOOD).unwrap();
        let plan = p.memory_plan(300 * MIB, 40 * MIB, 44 * MIB, None);
        assert_eq!(plan.needed_bytes(), (512 + 128 + 300 + 40 + 44) * MIB);
        assert!(plan.fits());
        assert!(!p.memory_plan(400 * MIB, 0, 0, None).fits());
    }

    #[test]
    fn a_plan_within_budget_but_beyond_free_memory_does_not_fit() {
        let p = HardwareProfile::parse("t.toml", GOOD).unwrap();
        let plan = p.memory_plan(100 * MIB, 0, 0, Some(200 * MIB));
        assert_eq!(plan.process_bytes(), 228 * MIB);
        assert!(!plan.fits());
        assert!(p.memory_plan(100 * MIB, 0, 0, Some(300 * MIB)).fits());
    }

    #[test]
    fn the_arithmetic_shows_every_part() {
        let p = HardwareProfile::parse("t.toml", GOOD).unwrap();
        let text = p.memory_plan(300 * MIB, 40 * MIB, 44 * MIB, Some(4096 * MIB)).arithmetic();
        assert_eq!(
            text,
            "model 300 MiB + KV cache 40 MiB + compute buffer 44 MiB + engine reserve 128 MiB + OS reserve 512 MiB = 1024 MiB of budget 1024 MiB; this process 512 MiB of 4096 MiB available"
        );
    }

    #[test]
    fn mem_available_is_read_from_meminfo() {
        let meminfo = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(parse_mem_available(meminfo), Some(2048 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn a_quantized_kv_cache_without_flash_attention_is_rejected() {
        let text = GOOD
            .replace("batch_size = 512\n", "batch_size = 512\nkv_cache_type = \"q8_0\"\nflash_attention = \"off\"\n");
        let err = HardwareProfile::parse("t.toml", &text).unwrap_err();
        assert!(err.to_string().contains("engine.kv_cache_type"), "{err}");
        let ok = GOOD.replace("batch_size = 512\n", "batch_size = 512\nkv_cache_type = \"q8_0\"\n");
        assert_eq!(HardwareProfile::parse("t.toml", &ok).unwrap().engine.kv_cache_type, KvCacheType::Q8_0);
    }
    #[test]
    fn parallel_sequences_default_to_one_and_get_a_window_each_plus_the_shared_prefix() {
        let one = HardwareProfile::parse("t.toml", GOOD).unwrap();
        assert_eq!((one.engine.parallel, one.engine.kv_cells()), (1, 2048));
        let four = GOOD.replace("batch_size = 512\n", "batch_size = 512\nparallel = 4\n");
        assert_eq!(HardwareProfile::parse("t.toml", &four).unwrap().engine.kv_cells(), 2048 * 5);
        for bad in ["0", "65"] {
            let text = GOOD.replace("batch_size = 512\n", &format!("batch_size = 512\nparallel = {bad}\n"));
            let err = HardwareProfile::parse("t.toml", &text).unwrap_err();
            assert!(err.to_string().contains("engine.parallel"), "{err}");
        }
    }
}
