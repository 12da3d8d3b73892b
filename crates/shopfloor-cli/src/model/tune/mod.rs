//! `shopfloor model tune`: measures the engine knobs that change generation speed on
//! this machine (threads, flash attention, KV-cache type, weight
//! repacking), compares them with the memory-bandwidth ceiling measured in
//! the same run, and with `--write` puts the fastest into the profile.

use std::path::{Path, PathBuf};

use slm_engine::bandwidth;
use slm_engine::profile::{FlashAttention, HardwareProfile, KvCacheType};
use toml_edit::{value, DocumentMut};

use crate::model::profile_edit::{rewrite, EditError, ProfileEditError};

use slm_engine::{ChatTurn, Engine, EngineError};

/// Why tuning could not run.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    /// The profile is unusable.
    #[error(transparent)]
    Profile(#[from] slm_engine::profile::ProfileError),
    /// The model could not load or run.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// No model to tune with.
    #[error("no model: pass --model or list [[models]] in {}", .0.display())]
    NoModel(PathBuf),
    /// The profile could not be rewritten.
    #[error(transparent)]
    Write(#[from] ProfileEditError),
}

/// What `shopfloor model tune` was asked.
#[derive(Debug, Clone, PartialEq)]
pub struct TuneOptions {
    /// The profile to tune.
    pub profile: PathBuf,
    /// Model to measure with (default: the profile's tier 0).
    pub model: Option<PathBuf>,
    /// Tokens generated per measurement.
    pub tokens: u32,
    /// Passes over all candidates (at least one).
    pub rounds: u32,
    /// Write the fastest settings into the profile.
    pub write: bool,
}

/// One combination of knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knobs {
    pub threads: u32,
    pub flash_attention: FlashAttention,
    pub kv_cache_type: KvCacheType,
    /// Weight repacking at load.
    pub weight_repack: bool,
}

impl std::fmt::Display for Knobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "threads {}, flash attention {}, KV {}, repack {}",
            self.threads,
            format!("{:?}", self.flash_attention).to_lowercase(),
            self.kv_cache_type.as_str(),
            if self.weight_repack { "on" } else { "off" }
        )
    }
}

/// Speed of one combination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    pub knobs: Knobs,
    /// Generation tokens/s (llama.cpp's timings, median of runs).
    pub generation_tps: f64,
    pub prompt_tps: f64,
}

/// The outcome.
#[derive(Debug, Clone)]
pub struct TuneReport {
    pub model: PathBuf,
    /// Read bandwidth, bytes/s.
    pub bandwidth: f64,
    /// Bytes read per generated token (the weights).
    pub bytes_per_token: u64,
    /// Every combination, in the order measured; the first is the profile as it was.
    pub results: Vec<Measurement>,
}

impl TuneReport {
    /// Tokens/s the bandwidth allows.
    pub fn ceiling(&self) -> f64 {
        bandwidth::token_ceiling(self.bandwidth, self.bytes_per_token)
    }

    /// The profile as it was.
    pub fn untuned(&self) -> Option<&Measurement> {
        self.results.first()
    }

    /// The fastest generation.
    pub fn best(&self) -> Option<&Measurement> {
        self.results.iter().max_by(|a, b| a.generation_tps.total_cmp(&b.generation_tps))
    }

    /// The report text.
    pub fn text(&self) -> String {
        let ceiling = self.ceiling();
        let mut out = format!(
            "model {}: {:.1} MiB read per token; read bandwidth {:.2} GB/s -> ceiling {:.0} tokens/s\n\n| knobs | gen tok/s | % of ceiling | prompt tok/s |\n|---|---|---|---|\n",
            self.model.display(),
            self.bytes_per_token as f64 / (1024.0 * 1024.0),
            self.bandwidth / 1e9,
            ceiling
        );
        for (n, m) in self.results.iter().enumerate() {
            let mark = if n == 0 { " (profile as it was)" } else { "" };
            out.push_str(&format!(
                "| {}{mark} | {:.1} | {:.0}% | {:.0} |\n",
                m.knobs,
                m.generation_tps,
                100.0 * m.generation_tps / ceiling,
                m.prompt_tps
            ));
        }
        if let (Some(untuned), Some(best)) = (self.untuned(), self.best()) {
            out.push_str(&format!(
                "\nfastest: {} at {:.1} tokens/s ({:.0}% of the ceiling); untuned {:.1} tokens/s ({:.0}%)\n",
                best.knobs,
                best.generation_tps,
                100.0 * best.generation_tps / ceiling,
                untuned.generation_tps,
                100.0 * untuned.generation_tps / ceiling
            ));
        }
        out
    }
}

/// The combinations worth measuring for `profile` on a machine with `cores` cores.
pub fn candidates(profile: &HardwareProfile, cores: u32) -> Vec<Knobs> {
    let engine = &profile.engine;
    let current = Knobs {
        threads: engine.threads,
        flash_attention: engine.flash_attention,
        kv_cache_type: engine.kv_cache_type,
        weight_repack: engine.weight_repack,
    };
    let mut threads = vec![1, cores.max(1), engine.threads];
    threads.sort_unstable();
    threads.dedup();
    let mut out = vec![current];
    for &t in &threads {
        for (flash, kv) in [
            (FlashAttention::Off, KvCacheType::F16),
            (FlashAttention::On, KvCacheType::F16),
            (FlashAttention::On, KvCacheType::Q8_0),
        ] {
            for repack in [true, false] {
                let knobs = Knobs { threads: t, flash_attention: flash, kv_cache_type: kv, weight_repack: repack };
                if !out.contains(&knobs) {
                    out.push(knobs);
                }
            }
        }
    }
    out
}

/// Measures every candidate for `options` (the slow part: a model load and
/// a few generations each).
pub fn tune(options: &TuneOptions) -> Result<TuneReport, TuneError> {
    let profile = HardwareProfile::load(&options.profile)?;
    let model = match &options.model {
        Some(model) => model.clone(),
        None => profile
            .models
            .first()
            .map(|m| profile.model_path(m))
            .ok_or_else(|| TuneError::NoModel(options.profile.clone()))?,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let bandwidth = bandwidth::read_bandwidth(cores as usize);
    let bytes_per_token = std::fs::metadata(&model).map(|m| m.len()).unwrap_or(0);
    let knobs_list = candidates(&profile, cores);
    let mut results: Vec<Measurement> = Vec::new();
    // Round-robin rounds, best round per candidate: a machine whose speed
    // drifts (clocks, neighbours on a VM) then favours no candidate by its
    // place in the order.
    for round in 0..options.rounds.max(1) {
        for (n, knobs) in knobs_list.iter().enumerate() {
            let mut trial = profile.clone();
            trial.engine.threads = knobs.threads;
            trial.engine.flash_attention = knobs.flash_attention;
            trial.engine.kv_cache_type = knobs.kv_cache_type;
            trial.engine.weight_repack = knobs.weight_repack;
            let (generation_tps, prompt_tps) = measure(&model, &trial, options.tokens)?;
            eprintln!("round {}: {knobs}: {generation_tps:.1} tokens/s", round + 1);
            let measured = Measurement { knobs: *knobs, generation_tps, prompt_tps };
            match results.get_mut(n) {
                Some(kept) if kept.generation_tps >= generation_tps => {}
                Some(kept) => *kept = measured,
                None => results.push(measured),
            }
        }
    }
    Ok(TuneReport { model, bandwidth, bytes_per_token, results })
}

/// Runs per measurement after one warm-up; the median counts.
const RUNS: usize = 3;

fn measure(model: &Path, profile: &HardwareProfile, tokens: u32) -> Result<(f64, f64), EngineError> {
    let mut engine = Engine::load(model, profile)?;
    let prompt = engine.chat_prompt(&[ChatTurn {
        role: "user",
        content: "Explain step by step how an operator restarts a packaging line after a jam, and what to check first.",
    }])?;
    let mut generation = Vec::new();
    let mut prompt_rates = Vec::new();
    for run in 0..=RUNS {
        engine.clear_cache();
        engine.reset_llama_timings();
        engine.generate_until(&prompt, tokens, false)?;
        let t = engine.llama_timings();
        if run > 0 {
            generation.push(t.eval_tokens as f64 * 1000.0 / t.eval_ms.max(1e-6));
            prompt_rates.push(t.prompt_tokens as f64 * 1000.0 / t.prompt_ms.max(1e-6));
        }
    }
    let median = |rates: &[f64]| shopfloor_node::stats::median(rates).unwrap_or(0.0);
    Ok((median(&generation), median(&prompt_rates)))
}

/// Writes `knobs` into the `[engine]` table of the profile at `path`, with
/// a comment that says when and what was measured; the rest of the file
/// stays as it was.
pub fn write_knobs(path: &Path, knobs: &Knobs, note: &str) -> Result<(), TuneError> {
    Ok(rewrite(path, |text| with_knobs(text, knobs, note))?)
}

/// The profile text with `knobs` in `[engine]` (pure; see [`write_knobs`]).
pub fn with_knobs(text: &str, knobs: &Knobs, note: &str) -> Result<String, EditError> {
    let mut doc: DocumentMut = text.parse()?;
    let engine = doc.get_mut("engine").and_then(|e| e.as_table_mut()).ok_or(EditError::Shape("engine"))?;
    set_keeping_comment(engine, "threads", value(i64::from(knobs.threads)));
    set_keeping_comment(engine, "flash_attention", value(format!("{:?}", knobs.flash_attention).to_lowercase()));
    set_keeping_comment(engine, "kv_cache_type", value(knobs.kv_cache_type.as_str()));
    set_keeping_comment(engine, "weight_repack", value(knobs.weight_repack));
    let prefix = engine.decor().prefix().and_then(|p| p.as_str()).unwrap_or("\n").to_owned();
    let kept: String = prefix.lines().filter(|l| !l.starts_with("# slm tune")).map(|l| format!("{l}\n")).collect();
    engine.decor_mut().set_prefix(format!("{kept}# slm tune {note}\n"));
    Ok(doc.to_string())
}

/// Sets `key` to `item`, keeping the comment after the old value.
fn set_keeping_comment(table: &mut toml_edit::Table, key: &str, item: toml_edit::Item) {
    let suffix = table
        .get(key)
        .and_then(|old| old.as_value())
        .and_then(|v| v.decor().suffix())
        .and_then(|s| s.as_str())
        .map(str::to_owned);
    table[key] = item;
    if let (Some(suffix), Some(new)) = (suffix, table.get_mut(key).and_then(|i| i.as_value_mut())) {
        new.decor_mut().set_suffix(suffix);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = "name = \"p\"\ndescription = \"d\"\n\n# the engine\n[engine]\nbackend = \"cpu\"\nthreads = 2 # cores\nthreads_batch = 2\ncontext_size = 2048\nbatch_size = 512\n\n[memory]\nbudget_mb = 2048\nos_reserve_mb = 512\nengine_reserve_mb = 128\n";

    #[test]
    fn candidates_start_with_the_profile_and_keep_quantized_caches_with_flash_attention() {
        let profile = HardwareProfile::parse("p.toml", PROFILE).unwrap();
        let all = candidates(&profile, 2);
        assert_eq!(all[0].threads, 2);
        assert_eq!(all[0].flash_attention, FlashAttention::Auto);
        assert!(all.iter().all(|k| k.kv_cache_type == KvCacheType::F16 || k.flash_attention == FlashAttention::On));
        assert_eq!(all.len(), 1 + 2 * 3 * 2, "{all:?}");
    }

    #[test]
    fn the_fastest_knobs_are_written_keeping_comments_and_replacing_the_last_note() {
        let knobs = Knobs {
            threads: 1,
            flash_attention: FlashAttention::On,
            kv_cache_type: KvCacheType::Q8_0,
            weight_repack: false,
        };
        let once = with_knobs(PROFILE, &knobs, "2026-11-26: 120 tokens/s").unwrap();
        let twice = with_knobs(&once, &knobs, "2026-11-27: 121 tokens/s").unwrap();
        assert!(twice.contains("# the engine\n# slm tune 2026-11-27: 121 tokens/s\n[engine]"), "{twice}");
        assert!(!twice.contains("2026-11-26"), "{twice}");
        let profile = HardwareProfile::parse("p.toml", &twice).unwrap();
        assert_eq!(
            (profile.engine.threads, profile.engine.kv_cache_type, profile.engine.weight_repack),
            (1, KvCacheType::Q8_0, false)
        );
        assert!(twice.contains("description = \"d\"") && twice.contains("threads = 1 # cores\n"), "{twice}");
    }
}
