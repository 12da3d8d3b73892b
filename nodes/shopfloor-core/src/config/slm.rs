//! `slm`: which model answers, on which hardware profile.

use std::path::PathBuf;

use super::env::{ConfigError, EnvReader, EnvVars};

/// Settings of the text SLM node.
#[derive(Debug, Clone, PartialEq)]
pub struct SlmConfig {
    /// GGUF model file (`SLM_MODEL_PATH`, required, must exist).
    pub model_path: PathBuf,
    /// Hardware profile file (`SLM_PROFILE`, required, a `hw-profiles/*.toml`).
    pub profile_path: PathBuf,
    /// Most tokens generated per answer (`SLM_MAX_TOKENS`, 1..=512, default 48).
    pub max_tokens: u32,
}

impl SlmConfig {
    /// Parses and validates the node's settings; files must exist.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("slm", vars);
        let model_path = existing_file(&mut env, "SLM_MODEL_PATH", "the path of a GGUF model file");
        let profile_path = existing_file(&mut env, "SLM_PROFILE", "the path of a hw-profiles/*.toml file");
        let max_tokens = env.parsed_or("SLM_MAX_TOKENS", 48u32, "a count in 1..=512", |n| {
            (1..=512).contains(n)
        });
        env.finish(&["SLM_"])?;
        Ok(Self {
            model_path,
            profile_path,
            max_tokens,
        })
    }
}

fn existing_file(env: &mut EnvReader<'_>, key: &'static str, requirement: &str) -> PathBuf {
    let Some(text) = env.required_string(key, requirement) else {
        return PathBuf::new();
    };
    let path = PathBuf::from(&text);
    if !path.is_file() {
        let why = format!("{requirement}; no such file (relative paths start at the dataflow's folder)");
        env.invalid(key, &text, &why);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_model_file_is_named() {
        let vars = EnvVars::from([
            ("SLM_MODEL_PATH".into(), "/nonexistent/model.gguf".into()),
            ("SLM_PROFILE".into(), concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml").into()),
        ]);
        let err = SlmConfig::from_env(&vars).unwrap_err();
        assert!(err.names_field("SLM_MODEL_PATH"), "{err}");
        assert!(!err.names_field("SLM_PROFILE"), "{err}");
    }

    #[test]
    fn a_mistyped_setting_is_an_error_not_ignored() {
        let here = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let vars = EnvVars::from([
            ("SLM_MODEL_PATH".into(), here.into()),
            ("SLM_PROFILE".into(), here.into()),
            ("SLM_MAX_TOKEN".into(), "20".into()),
        ]);
        let err = SlmConfig::from_env(&vars).unwrap_err();
        assert!(err.names_field("SLM_MAX_TOKEN"), "{err}");
    }

    #[test]
    fn valid_settings_parse_with_defaults() {
        let here = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let vars = EnvVars::from([
            ("SLM_MODEL_PATH".into(), here.into()),
            ("SLM_PROFILE".into(), here.into()),
        ]);
        let cfg = SlmConfig::from_env(&vars).unwrap();
        assert_eq!(cfg.max_tokens, 48);
    }
}
