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
    /// No record for this file.
    #[error("{path} (SHA-256 {sha256}) has no evaluation record in profile `{profile}`: run `shopfloor model evaluate --record {profile_path} {path}` to measure it on this profile, or set SLM_ALLOW_UNEVALUATED=true to skip the gate")]
    NotEvaluated {
        path: String,
        /// Its SHA-256.
        sha256: String,
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
    match profile.evaluation_of(&sha256) {
        None => Err(GateError::NotEvaluated {
            path,
            sha256,
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
