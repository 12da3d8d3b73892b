//! `slm`: which model answers, on which hardware profile.

use std::path::PathBuf;

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars};

/// Settings of the text SLM node.
#[derive(Debug, Clone, PartialEq)]
pub struct SlmConfig {
    /// GGUF model file (`SLM_MODEL_PATH`, required, must exist).
    pub model_path: PathBuf,
    /// Hardware profile file (`SLM_PROFILE`, required, a `hw-profiles/*.toml`).
    pub profile_path: PathBuf,
    /// Tokens per answer sentence (`SLM_MAX_TOKENS`, 1..=512, default 48);
    /// a long sentence of facts gets up to twice this (`answering::sentence_budget`).
    pub max_tokens: u32,
    /// Questions waiting beyond the one being answered (`SLM_QUEUE_CAPACITY`,
    /// 1..=1000, default 8); when full, a question is answered "busy" at once.
    pub queue_capacity: usize,
    /// Longest accepted question in characters (`SLM_MAX_QUESTION_CHARS`,
    /// 1..=4000, default 500).
    pub max_question_chars: usize,
    /// Answers with a lower confidence are marked `low_confidence`
    /// (`SLM_CONFIDENCE_THRESHOLD`, 0..=1, default 0.5).
    pub confidence_threshold: f32,
    /// When the model may call read-only tools (`SLM_TOOLS`: `off`, `auto`,
    /// `always`; default `auto`).
    pub tools: ToolMode,
    /// How much history is kept per tag, in seconds (`SLM_HISTORY_SECS`,
    /// 10..=86400, default 600).
    pub history_secs: u64,
    /// A value unchanged for longer than this is reported as possibly stale,
    /// in seconds (`SLM_STALE_AFTER_SECS`, 1..=86400, default 300).
    pub stale_after_secs: u64,
    /// Up to this many tags, the prompt carries the whole fact sheet (kept
    /// in the KV cache); beyond it, only the facts a question is about
    /// (`SLM_FACT_SHEET_MAX_TAGS`, 0..=500, default 0: always the focused
    /// facts, faster where prompt evaluation is slow, as on 2 CPU cores).
    pub fact_sheet_max_tags: usize,
    /// Most tokens of a JSON answer (a question with a `response_schema`)
    /// (`SLM_JSON_MAX_TOKENS`, 16..=2048, default 256).
    pub json_max_tokens: u32,
    /// Load a model even without a passing evaluation record in the profile
    /// (`SLM_ALLOW_UNEVALUATED`, `true`/`false`, default false): the
    /// post-quantization gate's explicit override.
    pub allow_unevaluated: bool,
    /// Threads for generation and prompt processing, instead of the
    /// profile's (`SLM_THREADS`, 1..=256): where other model nodes share the
    /// machine's cores, each gets its share.
    pub threads: Option<u32>,
    /// Questions decoded together, instead of the profile's
    /// `engine.parallel` (`SLM_PARALLEL`, 1..=64): 1 answers one at a time.
    pub parallel: Option<u32>,
}

/// When the model may call read-only tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolMode {
    /// Never: answers come from the fact sheet.
    Off,
    /// When the fact sheet cannot say which tags a question is about.
    Auto,
    /// For every question (slower; for sites with many tags and for tests).
    Always,
}

impl std::str::FromStr for ToolMode {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "off" => Ok(ToolMode::Off),
            "auto" => Ok(ToolMode::Auto),
            "always" => Ok(ToolMode::Always),
            _ => Err(()),
        }
    }
}

impl SlmConfig {
    /// Parses and validates the node's settings; files must exist.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("slm", vars);
        let model_path = env.required_file("SLM_MODEL_PATH", "the path of a GGUF model file");
        let profile_path = env.required_file("SLM_PROFILE", "the path of a hw-profiles/*.toml file");
        let max_tokens = env.parsed_or("SLM_MAX_TOKENS", 48u32, "a count in 1..=512", |n| (1..=512).contains(n));
        let queue_capacity =
            env.parsed_or("SLM_QUEUE_CAPACITY", 8usize, "a count in 1..=1000", |n| (1..=1000).contains(n));
        let max_question_chars =
            env.parsed_or("SLM_MAX_QUESTION_CHARS", 500usize, "a count in 1..=4000", |n| (1..=4000).contains(n));
        let confidence_threshold =
            env.parsed_or("SLM_CONFIDENCE_THRESHOLD", 0.5f32, "a number in 0..=1", |v| (0.0..=1.0).contains(v));
        let tools = env.parsed_or("SLM_TOOLS", ToolMode::Auto, "one of off, auto, always", |_| true);
        let history_secs =
            env.parsed_or("SLM_HISTORY_SECS", 600u64, "seconds in 10..=86400", |v| (10..=86_400).contains(v));
        let stale_after_secs =
            env.parsed_or("SLM_STALE_AFTER_SECS", 300u64, "seconds in 1..=86400", |v| (1..=86_400).contains(v));
        let fact_sheet_max_tags = env.parsed_or("SLM_FACT_SHEET_MAX_TAGS", 0usize, "a count in 0..=500", |n| *n <= 500);
        let json_max_tokens =
            env.parsed_or("SLM_JSON_MAX_TOKENS", 256u32, "a count in 16..=2048", |n| (16..=2048).contains(n));
        let allow_unevaluated = env.parsed_or("SLM_ALLOW_UNEVALUATED", false, "true or false", |_| true);
        let threads = env.optional_parsed("SLM_THREADS", "a count in 1..=256", |n: &u32| (1..=256).contains(n));
        let parallel = env.optional_parsed("SLM_PARALLEL", "a count in 1..=64", |n: &u32| (1..=64).contains(n));
        env.finish(&["SLM_"])?;
        Ok(Self {
            model_path,
            profile_path,
            max_tokens,
            queue_capacity,
            max_question_chars,
            confidence_threshold,
            tools,
            history_secs,
            stale_after_secs,
            fact_sheet_max_tags,
            json_max_tokens,
            allow_unevaluated,
            threads,
            parallel,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_model_file_is_named() {
        let vars = EnvVars::from([
            ("SLM_MODEL_PATH", "/nonexistent/model.gguf"),
            ("SLM_PROFILE", concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")),
        ]);
        let err = SlmConfig::from_env(&vars).unwrap_err();
        assert!(err.names_field("SLM_MODEL_PATH"), "{err}");
        assert!(!err.names_field("SLM_PROFILE"), "{err}");
    }

    #[test]
    fn a_mistyped_setting_is_an_error_not_ignored() {
        let here = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let vars = EnvVars::from([("SLM_MODEL_PATH", here), ("SLM_PROFILE", here), ("SLM_MAX_TOKEN", "20")]);
        let err = SlmConfig::from_env(&vars).unwrap_err();
        assert!(err.names_field("SLM_MAX_TOKEN"), "{err}");
    }

    #[test]
    fn valid_settings_parse_with_defaults() {
        let here = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let vars = EnvVars::from([("SLM_MODEL_PATH", here), ("SLM_PROFILE", here)]);
        let cfg = SlmConfig::from_env(&vars).unwrap();
        assert_eq!(cfg.max_tokens, 48);
        assert_eq!((cfg.queue_capacity, cfg.tools), (8, ToolMode::Auto));
        assert_eq!(cfg.threads, None, "the profile's threads unless set");
        assert_eq!(cfg.parallel, None, "the profile's parallel sequences unless set");
    }

    #[test]
    fn threads_and_parallel_override_the_profile_only_within_range() {
        let here = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let with = |threads| EnvVars::from([("SLM_MODEL_PATH", here), ("SLM_PROFILE", here), ("SLM_THREADS", threads)]);
        assert_eq!(SlmConfig::from_env(&with("1")).unwrap().threads, Some(1));
        for bad in ["0", "257", "two"] {
            let err = SlmConfig::from_env(&with(bad)).unwrap_err();
            assert!(err.names_field("SLM_THREADS"), "{bad}: {err}");
        }
        let with = |n| EnvVars::from([("SLM_MODEL_PATH", here), ("SLM_PROFILE", here), ("SLM_PARALLEL", n)]);
        assert_eq!(SlmConfig::from_env(&with("4")).unwrap().parallel, Some(4));
        for bad in ["0", "65"] {
            assert!(SlmConfig::from_env(&with(bad)).unwrap_err().names_field("SLM_PARALLEL"), "{bad}");
        }
    }

    #[test]
    fn out_of_range_settings_are_named() {
        let here = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let vars = EnvVars::from([
            ("SLM_MODEL_PATH", here),
            ("SLM_PROFILE", here),
            ("SLM_TOOLS", "sometimes"),
            ("SLM_CONFIDENCE_THRESHOLD", "1.5"),
            ("SLM_QUEUE_CAPACITY", "0"),
        ]);
        let err = SlmConfig::from_env(&vars).unwrap_err();
        for field in ["SLM_TOOLS", "SLM_CONFIDENCE_THRESHOLD", "SLM_QUEUE_CAPACITY"] {
            assert!(err.names_field(field), "{field}: {err}");
        }
    }
}
