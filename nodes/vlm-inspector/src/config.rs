//! `vlm-inspector`: which vision-language model judges flagged frames, and
//! where alerts' crops are kept.

use std::path::PathBuf;

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars};

/// Settings of the vision-language inspection node.
#[derive(Debug, Clone, PartialEq)]
pub struct VlmInspectorConfig {
    /// Hardware profile (`VLM_PROFILE`, required): threads, memory budget
    /// and, in its `[vision]` table, the model and projector files.
    pub profile_path: PathBuf,
    /// GGUF language model (`VLM_MODEL_PATH`; overrides the profile's
    /// `vision.model`).
    pub model_path: Option<PathBuf>,
    /// GGUF image projector (`VLM_MMPROJ_PATH`; overrides the profile's
    /// `vision.mmproj`). With neither here nor in the profile, stage 2 is
    /// off and alerts carry the filter's findings alone.
    pub mmproj_path: Option<PathBuf>,
    /// Most tokens of the model's JSON verdict (`VLM_MAX_TOKENS`,
    /// 32..=1024, default 160).
    pub max_tokens: u32,
    /// Flagged frames waiting for the model beyond the one it is judging
    /// (`VLM_QUEUE_CAPACITY`, 0..=100, default 2); when full, a frame's
    /// alert goes out at once, `not_judged: busy`.
    pub queue_capacity: usize,
    /// Folder for the crops of defects (`VLM_CROPS_DIR`, default `crops`,
    /// created when missing); alerts name the file, never carry its bytes.
    pub crops_dir: PathBuf,
    /// At most this many crops are kept in that folder; the oldest go first
    /// (`VLM_CROPS_KEEP`, 1..=1000000, default 10000: more than the
    /// console's 2,000 alarms, whose crops it shows).
    pub crops_keep: usize,
    /// Crop around the regions plus this much context on each side, in
    /// pixels (`VLM_CROP_MARGIN`, 0..=512, default 24).
    pub crop_margin: u32,
    /// Send the model the crop around the anomaly (`true`) or the whole
    /// frame (`VLM_SEND_CROP`, default true: smaller details stay visible
    /// after the projector's resize).
    pub send_crop: bool,
    /// Threads for the model and the image encoder, instead of the profile's
    /// (`VLM_THREADS`, 1..=256): where other model nodes share the cores.
    pub threads: Option<u32>,
    /// The site's documents: each defect alert carries the steps of the
    /// matching defect-response section (`VLM_DOCS_DIR`, optional, an
    /// existing folder; relative to the dataflow's folder).
    pub docs_dir: Option<PathBuf>,
    /// How often that folder is scanned for changes (`VLM_DOCS_RESCAN_MS`,
    /// 100..=3600000, default 5000).
    pub docs_rescan: std::time::Duration,
}

impl VlmInspectorConfig {
    /// Parses and validates the node's settings.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("vlm-inspector", vars);
        let profile_path = env.required_file("VLM_PROFILE", "the path of a hw-profiles/*.toml file");
        let model_path = env.existing_file("VLM_MODEL_PATH");
        let mmproj_path = env.existing_file("VLM_MMPROJ_PATH");
        if model_path.is_some() != mmproj_path.is_some() {
            let missing = if model_path.is_none() { "VLM_MODEL_PATH" } else { "VLM_MMPROJ_PATH" };
            env.invalid(missing, "", "set together with the other of VLM_MODEL_PATH and VLM_MMPROJ_PATH");
        }
        let max_tokens = env.parsed_or("VLM_MAX_TOKENS", 160u32, "a count in 32..=1024", |n| (32..=1024).contains(n));
        let queue_capacity = env.parsed_or("VLM_QUEUE_CAPACITY", 2usize, "a count in 0..=100", |n| *n <= 100);
        let crops_dir = PathBuf::from(env.string_or("VLM_CROPS_DIR", "crops"));
        let crops_keep =
            env.parsed_or("VLM_CROPS_KEEP", 10_000usize, "a count in 1..=1000000", |n| (1..=1_000_000).contains(n));
        let crop_margin =
            env.optional_parsed("VLM_CROP_MARGIN", "pixels in 0..=512", |m: &u32| *m <= 512).unwrap_or(24);
        let send_crop = env.parsed_or("VLM_SEND_CROP", true, "true or false", |_| true);
        let threads = env.optional_parsed("VLM_THREADS", "a count in 1..=256", |n: &u32| (1..=256).contains(n));
        let docs_dir = env.existing_dir("VLM_DOCS_DIR");
        let rescan_ms = env.parsed_or("VLM_DOCS_RESCAN_MS", 5_000u64, "milliseconds in 100..=3600000", |ms| {
            (100..=3_600_000).contains(ms)
        });
        env.finish(&["VLM_"])?;
        Ok(Self {
            profile_path,
            model_path,
            mmproj_path,
            max_tokens,
            queue_capacity,
            crops_dir,
            crops_keep,
            crop_margin,
            send_crop,
            threads,
            docs_dir,
            docs_rescan: std::time::Duration::from_millis(rescan_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> EnvVars {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_model_without_its_projector_is_refused() {
        let this_file = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let err = VlmInspectorConfig::from_env(&vars(&[("VLM_PROFILE", this_file), ("VLM_MODEL_PATH", this_file)]))
            .unwrap_err();
        assert!(err.names_field("VLM_MMPROJ_PATH"), "{err}");
    }

    #[test]
    fn each_bad_field_is_named() {
        let err = VlmInspectorConfig::from_env(&vars(&[
            ("VLM_PROFILE", "/nonexistent.toml"),
            ("VLM_MAX_TOKENS", "8"),
            ("VLM_QUEUE_CAPACITY", "-1"),
            ("VLM_CROP_MARGIN", "9999"),
            ("VLM_THREADS", "0"),
            ("VLM_CROPS_KEEP", "0"),
            ("VLM_MODLE_PATH", "x"),
        ]))
        .unwrap_err();
        let fields = [
            "VLM_PROFILE",
            "VLM_MAX_TOKENS",
            "VLM_QUEUE_CAPACITY",
            "VLM_CROP_MARGIN",
            "VLM_THREADS",
            "VLM_CROPS_KEEP",
            "VLM_MODLE_PATH",
        ];
        for field in fields {
            assert!(err.names_field(field), "{field}: {err}");
        }
    }

    #[test]
    fn stage_two_may_be_off() {
        let this_file = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let config = VlmInspectorConfig::from_env(&vars(&[("VLM_PROFILE", this_file)])).unwrap();
        assert_eq!((config.model_path, config.queue_capacity, config.send_crop), (None, 2, true));
        assert_eq!(config.threads, None, "the profile's threads unless VLM_THREADS is set");
    }
}
