//! `shopfloor model check <profile.toml>`: validates a hardware profile, checks
//! each tier's model file (GGUF header, length, SHA-256), does the memory
//! arithmetic against the profile and this machine, and says what would load
//! where, without loading anything.

use std::path::Path;

use crate::profile::{available_memory_bytes, Backend, HardwareProfile, TierModel};

use crate::memory::{compute_bytes_estimate, kv_cache_bytes};
use crate::model_file;

/// The report, one line per finding; `ok` is false if anything would fail.
#[derive(Debug, Default)]
pub struct Report {
    /// Human-readable lines.
    pub lines: Vec<String>,
    /// Nothing would fail at load.
    pub ok: bool,
}

impl Report {
    fn say(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    fn fail(&mut self, line: impl Into<String>) {
        self.ok = false;
        self.lines.push(format!("FAIL {}", line.into()));
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// Checks the profile at `path` against this machine.
pub fn check(path: &Path) -> Report {
    check_with_memory(path, available_memory_bytes())
}

/// Checks the profile at `path` as if `available` bytes were free.
pub fn check_with_memory(path: &Path, available: Option<u64>) -> Report {
    let mut report = Report { lines: Vec::new(), ok: true };
    let profile = match HardwareProfile::load(path) {
        Ok(profile) => profile,
        Err(error) => {
            report.fail(error.to_string());
            return report;
        }
    };
    let engine = &profile.engine;
    report.say(format!("profile {} ({}): valid", profile.name, profile.description));
    let feature = engine.backend.cargo_feature().map_or("none".to_owned(), |f| format!("`{f}`"));
    report.say(format!(
        "engine: backend {} (llama-cpp-2 cargo feature: {feature}), threads {}/{} (generation/prompt), context {} tokens, {} sequences decoded together, batch {}, flash attention {}, KV cache {}, weight repacking {}",
        engine.backend.as_str(),
        engine.threads,
        engine.threads_batch,
        engine.context_size,
        engine.parallel,
        engine.batch_size,
        format!("{:?}", engine.flash_attention).to_lowercase(),
        engine.kv_cache_type.as_str(),
        if engine.weight_repack { "on" } else { "off" },
    ));
    // SAFETY: takes no arguments and only reports which backends llama.cpp
    // was compiled with (no state that needs the backend initialised).
    let can_offload = unsafe { llama_cpp_sys_2::llama_supports_gpu_offload() };
    if engine.backend != Backend::Cpu && !can_offload {
        report.say(format!(
            "note: this slm build has no accelerator backend, so every layer would run on the CPU; build slm with its `{}` feature on the target",
            engine.backend.cargo_feature().unwrap_or_default()
        ));
    }
    match available {
        Some(bytes) => report.say(format!("machine: {:.0} MiB available now (MemAvailable)", bytes as f64 / MIB)),
        None => report.say("machine: available memory unknown (no /proc/meminfo)"),
    }
    if profile.models.is_empty() {
        report.say("models: none listed (the node takes SLM_MODEL_PATH)");
    }
    for model in &profile.models {
        check_model(&profile, model, available, can_offload, &mut report);
    }
    for adapter in &profile.lora {
        let path = profile.resolve(&adapter.path);
        let state = if adapter.at_start {
            format!("on at start, scale {}", adapter.scale)
        } else {
            "loaded, off until switched on".to_owned()
        };
        let for_model =
            adapter.model.as_ref().map(|m| format!(", for {}", profile.resolve(m).display())).unwrap_or_default();
        if !path.is_file() {
            report.fail(format!("lora {}: {} does not exist", adapter.name, path.display()));
            continue;
        }
        match (&adapter.sha256, crate::model_file::sha256_hex(&path)) {
            (Some(expected), Ok(actual)) if !actual.eq_ignore_ascii_case(expected) => report.fail(format!(
                "lora {}: {} has SHA-256 {actual}, expected {expected}",
                adapter.name,
                path.display()
            )),
            (Some(_), Err(error)) => {
                report.fail(format!("lora {}: cannot read {}: {error}", adapter.name, path.display()))
            }
            (Some(_), Ok(_)) => {
                report.say(format!("lora {}: {} ({state}{for_model}, SHA-256 ok)", adapter.name, path.display()))
            }
            (None, _) => report.say(format!("lora {}: {} ({state}{for_model})", adapter.name, path.display())),
        }
    }
    if let Some(power) = &profile.power {
        let source = match power.source {
            crate::profile::PowerSource::Linux => format!(
                "linux power-supply and thermal files every {} s, hot above {} °C",
                power.poll_secs, power.hot_above_celsius
            ),
            crate::profile::PowerSource::Tag => format!("tag {}", power.tag.as_deref().unwrap_or_default()),
        };
        report.say(format!("power: state from {source}"));
        for (state, variant) in &power.variants {
            let path = profile.resolve(variant);
            match model_file::check(&path) {
                Ok(file) => report.say(format!("  {state}: {} ({:.0} MiB)", path.display(), file.bytes as f64 / MIB)),
                Err(error) => report.fail(format!("power variant {state}: {error}")),
            }
        }
    }
    report.say(if report.ok { "result: ok" } else { "result: would fail" });
    report
}

fn check_model(
    profile: &HardwareProfile,
    model: &TierModel,
    available: Option<u64>,
    can_offload: bool,
    report: &mut Report,
) {
    let path = profile.model_path(model);
    let shown = path.display();
    let file = match model_file::check(&path) {
        Ok(file) => file,
        Err(error) => {
            report.fail(format!("tier {} ({}): {error}", model.tier, model.quant));
            return;
        }
    };
    let actual = crate::model_file::sha256_hex(&path);
    let digest = match &model.sha256 {
        None => "no SHA-256 listed".to_owned(),
        Some(expected) => match &actual {
            Ok(actual) if actual.eq_ignore_ascii_case(expected) => "SHA-256 matches".to_owned(),
            Ok(actual) => {
                report.fail(format!("tier {}: {shown} has SHA-256 {actual}, the profile says {expected}", model.tier));
                return;
            }
            Err(error) => {
                report.fail(format!("tier {}: cannot read {shown}: {error}", model.tier));
                return;
            }
        },
    };
    report.say(format!("tier {}: {shown} ({}, {:.0} MiB, {digest})", model.tier, model.quant, file.bytes as f64 / MIB));
    // The gate is the node's to enforce; here it is reported, since a
    // profile is often checked on a machine before the model is evaluated there.
    let adapter = profile.adapter_sha256_at_start(&path).ok().flatten();
    match actual.ok().and_then(|sha| profile.evaluation_of(&sha, adapter.as_deref())) {
        Some(r) if r.passed => report.say(format!("  evaluation: accuracy {:.3} >= floor {:.2} on {} ({}) — the node will load it", r.accuracy, r.floor, r.qa_set, r.date)),
        Some(r) => report.say(format!("  evaluation: REJECTED, accuracy {:.3} < floor {:.2} ({}) — the node will refuse it", r.accuracy, r.floor, r.date)),
        None => report.say("  evaluation: no record — the node will refuse it until `shopfloor model evaluate --record` runs with this profile (or SLM_ALLOW_UNEVALUATED=true)"),
    }
    let Some(shape) = file.shape else {
        report.say("  shape not in the header: KV cache and placement are known only after loading");
        return;
    };
    let layers = shape.n_layer;
    let placement = match profile.engine.backend {
        Backend::Cpu => format!("all {layers} layers on the CPU"),
        _ if !can_offload => format!(
            "all {layers} layers on the CPU (this build; {} of them on the accelerator with the feature)",
            u64::from(profile.engine.gpu_layers).min(layers)
        ),
        backend => {
            let offloaded = u64::from(profile.engine.gpu_layers).min(layers);
            format!("{offloaded} of {layers} layers on {}, {} on the CPU", backend.as_str(), layers - offloaded)
        }
    };
    report.say(format!("  loads: {placement}"));
    let plan = profile.memory_plan(
        file.bytes,
        kv_cache_bytes(&shape, &profile.engine),
        compute_bytes_estimate(&shape, &profile.engine),
        available,
    );
    if plan.fits() {
        report.say(format!("  memory: {} — fits", plan.arithmetic()));
    } else {
        report.fail(format!("tier {} memory: {} — does not fit", model.tier, plan.arithmetic()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks a profile with `text`, written to a scratch file named `name`, as if 1 GiB were free.
    fn check_text(name: &str, text: &str) -> Report {
        let dir = std::env::temp_dir().join(format!("profile-check-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        check_with_memory(&path, Some(1 << 30))
    }

    #[test]
    fn a_broken_profile_fails_with_the_field_named() {
        let report = check_text("bad.toml", "name = \"x\"\ndescription = \"y\"\n[engine]\nbackend = \"cpu\"\nthreads = 0\nthreads_batch = 1\ncontext_size = 2048\nbatch_size = 512\n[memory]\nbudget_mb = 1\nos_reserve_mb = 0\nengine_reserve_mb = 0\n");
        assert!(!report.ok);
        assert!(report.lines[0].contains("engine.threads"), "{:?}", report.lines);
    }

    #[test]
    fn a_missing_model_file_fails_naming_its_tier() {
        let report = check_text("p.toml", "name = \"p\"\ndescription = \"y\"\n[engine]\nbackend = \"cpu\"\nthreads = 2\nthreads_batch = 2\ncontext_size = 2048\nbatch_size = 512\n[memory]\nbudget_mb = 2048\nos_reserve_mb = 512\nengine_reserve_mb = 128\n[[models]]\ntier = 0\npath = \"nowhere.gguf\"\nquant = \"Q4_K_M\"\n");
        assert!(!report.ok);
        assert!(report.lines.iter().any(|l| l.starts_with("FAIL tier 0 (Q4_K_M)")), "{:?}", report.lines);
    }
}
