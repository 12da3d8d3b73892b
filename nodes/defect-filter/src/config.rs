//! `defect-filter`: where the good parts to learn from are, and overrides of
//! the stage-1 filter's settings (the filter's own defaults otherwise).

use std::path::PathBuf;
use std::time::Duration;

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars};

/// Settings of the stage-1 defect filter node.
#[derive(Debug, Clone, PartialEq)]
pub struct DefectFilterConfig {
    /// Folder of images of good parts (PNG/JPEG), learned at start
    /// (`FILTER_GOOD_DIR`, required, must exist).
    pub good_dir: PathBuf,
    /// Score above which a frame is flagged (`FILTER_THRESHOLD`, > 0;
    /// default: learned from the good parts).
    pub threshold: Option<f32>,
    /// Side of the square cells the filter models, in pixels
    /// (`FILTER_CELL`, even, 4..=128: the filter halves frames first;
    /// default: the filter's).
    pub cell: Option<u32>,
    /// Learned threshold = highest good score (outliers aside) times this margin
    /// (`FILTER_MARGIN`, 1..=10; default: the filter's).
    pub margin: Option<f32>,
    /// Used where the dataflow wires the vision model's verdicts back to this
    /// node (input `verdicts`): a flagged frame without a verdict this long
    /// after it was sent gets the filter's own alert, marked unconfirmed
    /// (`FILTER_CONFIRM_TIMEOUT_MS`, 100..=600000, default 15000).
    pub confirm_timeout: Duration,
    /// The vision model counts as gone when its liveness input (`vlm_alive`,
    /// its metrics) has been silent this long: flagged frames are then
    /// alerted at once, unconfirmed (`FILTER_VLM_STALE_MS`, 500..=600000,
    /// default 3000).
    pub vlm_stale_after: Duration,
}

impl DefectFilterConfig {
    /// Parses and validates the node's settings.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("defect-filter", vars);
        let good_dir = env.required_dir("FILTER_GOOD_DIR", "a folder of images of good parts");
        let threshold = env.optional_parsed("FILTER_THRESHOLD", "a score > 0", |t: &f32| *t > 0.0 && t.is_finite());
        let cell = env.optional_parsed("FILTER_CELL", "an even number of pixels in 4..=128", |c: &u32| {
            (4..=128).contains(c) && c.is_multiple_of(2)
        });
        let margin = env.optional_parsed("FILTER_MARGIN", "a factor in 1..=10", |m: &f32| (1.0..=10.0).contains(m));
        let confirm_ms = env.parsed_or("FILTER_CONFIRM_TIMEOUT_MS", 15_000u64, "milliseconds in 100..=600000", |n| {
            (100..=600_000).contains(n)
        });
        let stale_ms = env.parsed_or("FILTER_VLM_STALE_MS", 3_000u64, "milliseconds in 500..=600000", |n| {
            (500..=600_000).contains(n)
        });
        env.finish(&["FILTER_"])?;
        Ok(Self {
            good_dir,
            threshold,
            cell,
            margin,
            confirm_timeout: Duration::from_millis(confirm_ms),
            vlm_stale_after: Duration::from_millis(stale_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_field_is_named() {
        let vars: EnvVars = [
            ("FILTER_GOOD_DIR", "/nonexistent/good"),
            ("FILTER_THRESHOLD", "-1"),
            ("FILTER_CELL", "5"),
            ("FILTER_MARGIN", "x"),
            ("FILTER_CONFIRM_TIMEOUT_MS", "10"),
            ("FILTER_VLM_STALE_MS", "soon"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let err = DefectFilterConfig::from_env(&vars).unwrap_err();
        for field in [
            "FILTER_GOOD_DIR",
            "FILTER_THRESHOLD",
            "FILTER_CELL",
            "FILTER_MARGIN",
            "FILTER_CONFIRM_TIMEOUT_MS",
            "FILTER_VLM_STALE_MS",
        ] {
            assert!(err.names_field(field), "{field}: {err}");
        }
    }

    #[test]
    fn overrides_are_optional() {
        let vars = EnvVars::from([("FILTER_GOOD_DIR", env!("CARGO_MANIFEST_DIR"))]);
        let config = DefectFilterConfig::from_env(&vars).unwrap();
        assert_eq!((config.threshold, config.cell, config.margin), (None, None, None));
        assert_eq!((config.confirm_timeout, config.vlm_stale_after), (Duration::from_secs(15), Duration::from_secs(3)));
    }
}
