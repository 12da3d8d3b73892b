//! The post-quantization gate: the `slm` node loads a model only if its
//! profile holds a passing evaluation record for that exact file.

use std::path::Path;

use slm_engine::profile::HardwareProfile;

use crate::engine::model_file::sha256_hex;

/// Why a model may not load.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The file could not be hashed.
    #[error("cannot read {path} to check its evaluation record: {source}")]
    Read { path: String, source: std::io::Error },
    /// No record for this file (with the adapter the profile switches on).
    #[error("{path} (SHA-256 {sha256}){with_adapter} has no evaluation record in profile `{profile}`: run `shopfloor model evaluate --record {profile_path} {path}` to measure it on this profile, or set SLM_ALLOW_UNEVALUATED=true to skip the gate")]
    NotEvaluated {
        path: String,
        /// Its SHA-256.
        sha256: String,
        /// " with LoRA adapter NAME (SHA-256 …)", or empty for the bare model.
        with_adapter: String,
        profile: String,
        /// Where the profile is.
        profile_path: String,
    },
    /// A record says it failed.
    #[error("{path} failed its evaluation on profile `{profile}`: accuracy {accuracy:.3} below the floor {floor:.3} on {qa_set} ({date}); use a less aggressive quantization, or set SLM_ALLOW_UNEVALUATED=true to load it anyway")]
    Rejected { path: String, profile: String, accuracy: f64, floor: f64, qa_set: String, date: String },
}

/// How the gate let a model through.
#[derive(Debug, Clone, PartialEq)]
pub enum GatePass {
    /// A passing record, with its accuracy.
    Evaluated { accuracy: f64 },
    /// The gate was skipped on request.
    Overridden,
}

/// Checks `model` against `profile`'s records (`allow_unevaluated` skips it).
pub fn check(
    model: &Path,
    profile: &HardwareProfile,
    profile_path: &Path,
    allow_unevaluated: bool,
) -> Result<GatePass, GateError> {
    if allow_unevaluated {
        tracing::warn!(model = %model.display(), "evaluation gate skipped (SLM_ALLOW_UNEVALUATED)");
        return Ok(GatePass::Overridden);
    }
    let path = model.display().to_string();
    let sha256 = sha256_hex(model).map_err(|source| GateError::Read { path: path.clone(), source })?;
    // The adapter on at start makes another model: its record must be of both.
    let adapter_sha256 = profile.adapter_sha256_at_start(model).map_err(|source| GateError::Read {
        path: profile
            .adapter_at_start(model)
            .map_or_else(String::new, |a| profile.resolve(&a.path).display().to_string()),
        source,
    })?;
    match profile.evaluation_of(&sha256, adapter_sha256.as_deref()) {
        None => Err(GateError::NotEvaluated {
            path,
            sha256,
            with_adapter: match (profile.adapter_at_start(model), &adapter_sha256) {
                (Some(adapter), Some(sha)) => format!(" with LoRA adapter {} (SHA-256 {sha})", adapter.name),
                _ => String::new(),
            },
            profile: profile.name.clone(),
            profile_path: profile_path.display().to_string(),
        }),
        Some(record) if !record.passed => Err(GateError::Rejected {
            path,
            profile: profile.name.clone(),
            accuracy: record.accuracy,
            floor: record.floor,
            qa_set: record.qa_set.clone(),
            date: record.date.clone(),
        }),
        Some(record) => Ok(GatePass::Evaluated { accuracy: record.accuracy }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = "name = \"t\"\ndescription = \"test\"\n[engine]\nbackend = \"cpu\"\nthreads = 2\nthreads_batch = 2\n\
        context_size = 2048\nbatch_size = 512\n[memory]\nbudget_mb = 1024\nos_reserve_mb = 512\nengine_reserve_mb = 128\n";

    fn record(model_sha: &str, adapter: Option<&str>) -> String {
        let adapter = adapter.map_or_else(String::new, |sha| format!("adapter_sha256 = \"{sha}\"\n"));
        format!(
            "[[evaluations]]\nsha256 = \"{model_sha}\"\nmodel = \"m\"\nqa_set = \"q\"\naccuracy = 0.9\nfloor = 0.5\npassed = true\ndate = \"2026-12-05\"\n{adapter}"
        )
    }

    /// A model with an adapter on at start passes only on a record of that
    /// model with that adapter, and the bare model only on a bare record.
    #[test]
    fn the_adapter_on_at_start_is_part_of_what_the_gate_checks() {
        let dir = std::env::temp_dir().join(format!("slm-gate-adapter-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (model, adapter) = (dir.join("m.gguf"), dir.join("a.gguf"));
        std::fs::write(&model, b"model").unwrap();
        std::fs::write(&adapter, b"adapter").unwrap();
        let (model_sha, adapter_sha) = (sha256_hex(&model).unwrap(), sha256_hex(&adapter).unwrap());
        let lora = format!("[[lora]]\nname = \"plant-qa\"\npath = \"{}\"\n", adapter.display());
        let check_with = |text: String| {
            let mut profile = HardwareProfile::parse("t.toml", &text).unwrap();
            profile.folder = dir.clone();
            check(&model, &profile, Path::new("t.toml"), false)
        };

        let bare_record_only = check_with(format!("{PROFILE}{lora}{}", record(&model_sha, None)));
        let error = bare_record_only.unwrap_err().to_string();
        assert!(error.contains("with LoRA adapter plant-qa") && error.contains(&adapter_sha), "{error}");
        assert!(check_with(format!("{PROFILE}{lora}{}", record(&model_sha, Some(&adapter_sha)))).is_ok());
        let switched_off = format!("{lora}at_start = false\n");
        assert!(check_with(format!("{PROFILE}{switched_off}{}", record(&model_sha, None))).is_ok());
        assert!(check_with(format!("{PROFILE}{switched_off}{}", record(&model_sha, Some(&adapter_sha)))).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
