//! `limit-alarms`: where its alerts are filed, how far a value must come back
//! before an alarm clears, when an excursion is critical, and per-tag limits
//! that win over the ones the readings carry.

use std::collections::BTreeMap;

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars};

/// Settings of the limit alarms node.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitAlarmsConfig {
    /// Station its alerts are filed under, one topic level
    /// (`ALARMS_STATION`, default `station1`).
    pub station: String,
    /// Production line of that station (`ALARMS_LINE`, optional, one topic level).
    pub line: Option<String>,
    /// How far, in the tag's own unit, a value must be back inside its limit
    /// before the alarm clears (`ALARMS_DEADBAND`, ≥ 0, default 0.5).
    pub deadband: f64,
    /// An excursion at least this far beyond the limit, in the tag's unit, is
    /// `critical` rather than `warning` (`ALARMS_CRITICAL_MARGIN`, optional, > 0).
    pub critical_margin: Option<f64>,
    /// Upper limits by tag, used instead of the readings' `high_limit`
    /// (`ALARMS_HIGH_LIMITS`, `tag=value, tag=value`).
    pub high_limits: BTreeMap<String, f64>,
    /// Lower limits by tag, used instead of the readings' `low_limit`
    /// (`ALARMS_LOW_LIMITS`, `tag=value, tag=value`).
    pub low_limits: BTreeMap<String, f64>,
    /// The tags beyond a limit, kept for a restarted node
    /// (`ALARMS_STATE_FILE`, default `out/limit-alarms/active.json`, relative
    /// to the dataflow's folder).
    pub state_file: std::path::PathBuf,
    /// The site's documents: each alert carries the steps of the matching
    /// alarm-response section (`ALARMS_DOCS_DIR`, optional, an existing
    /// folder; relative to the dataflow's folder).
    pub docs_dir: Option<std::path::PathBuf>,
    /// How often that folder is scanned for changes (`ALARMS_DOCS_RESCAN_MS`,
    /// 100..=3600000, default 5000).
    pub docs_rescan: std::time::Duration,
}

impl LimitAlarmsConfig {
    /// Parses and validates the node's settings.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("limit-alarms", vars);
        let station = env.topic_level("ALARMS_STATION", "station1");
        let line = env.optional_string("ALARMS_LINE");
        if let Some(line) = &line {
            env.check_topic_level("ALARMS_LINE", line);
        }
        let deadband = env
            .parsed_or("ALARMS_DEADBAND", 0.5f64, "an amount ≥ 0 in the tag's unit", |d| d.is_finite() && *d >= 0.0);
        let critical_margin =
            env.optional_parsed("ALARMS_CRITICAL_MARGIN", "an amount > 0 in the tag's unit", |m: &f64| {
                m.is_finite() && *m > 0.0
            });
        let high_limits = limits(&mut env, "ALARMS_HIGH_LIMITS");
        let low_limits = limits(&mut env, "ALARMS_LOW_LIMITS");
        for (tag, low) in &low_limits {
            if let Some(high) = high_limits.get(tag).filter(|high| low >= *high) {
                env.invalid(
                    "ALARMS_LOW_LIMITS",
                    &format!("{tag}={low}"),
                    &format!("below the tag's high limit {high}"),
                );
            }
        }
        let state_file = env.string_or("ALARMS_STATE_FILE", "out/limit-alarms/active.json").into();
        let docs_dir = env.existing_dir("ALARMS_DOCS_DIR");
        let rescan_ms = env.parsed_or("ALARMS_DOCS_RESCAN_MS", 5_000u64, "milliseconds in 100..=3600000", |ms| {
            (100..=3_600_000).contains(ms)
        });
        env.finish(&["ALARMS_"])?;
        Ok(Self {
            station,
            line,
            deadband,
            critical_margin,
            high_limits,
            low_limits,
            state_file,
            docs_dir,
            docs_rescan: std::time::Duration::from_millis(rescan_ms),
        })
    }
}

/// `tag=value` entries separated by commas or line breaks; each bad entry is
/// recorded on its own.
fn limits(env: &mut EnvReader<'_>, key: &'static str) -> BTreeMap<String, f64> {
    let mut limits = BTreeMap::new();
    let Some(text) = env.optional_string(key) else {
        return limits;
    };
    for entry in text.split([',', '\n']).map(str::trim).filter(|e| !e.is_empty()) {
        let parsed = entry.split_once('=').and_then(|(tag, value)| {
            let tag = tag.trim();
            let value = value.trim().parse::<f64>().ok()?;
            let valid = !tag.is_empty() && !tag.contains(char::is_whitespace) && value.is_finite();
            valid.then(|| (tag.to_owned(), value))
        });
        match parsed {
            Some((tag, _)) if limits.contains_key(&tag) => env.invalid(key, entry, "each tag once"),
            Some((tag, value)) => {
                limits.insert(tag, value);
            }
            None => env.invalid(key, entry, "`tag=value` entries with a finite number, separated by commas"),
        }
    }
    limits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> EnvVars {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn nothing_set_gives_the_defaults() {
        let config = LimitAlarmsConfig::from_env(&vars(&[])).unwrap();
        assert_eq!((config.station.as_str(), config.line.as_deref()), ("station1", None));
        assert_eq!((config.deadband, config.critical_margin), (0.5, None));
        assert!(config.high_limits.is_empty() && config.low_limits.is_empty());
    }

    #[test]
    fn limits_are_read_per_tag() {
        let config = LimitAlarmsConfig::from_env(&vars(&[
            ("ALARMS_STATION", "cell1"),
            ("ALARMS_LINE", "line2"),
            ("ALARMS_DEADBAND", "0"),
            ("ALARMS_CRITICAL_MARGIN", "5"),
            ("ALARMS_HIGH_LIMITS", "spindle_temperature=80, vibration = 4.5,"),
            ("ALARMS_LOW_LIMITS", "spindle_temperature=-10\ncoolant_flow=2.5"),
        ]))
        .unwrap();
        assert_eq!((config.station.as_str(), config.line.as_deref()), ("cell1", Some("line2")));
        assert_eq!((config.deadband, config.critical_margin), (0.0, Some(5.0)));
        assert_eq!(
            config.high_limits,
            BTreeMap::from([("spindle_temperature".into(), 80.0), ("vibration".into(), 4.5)])
        );
        assert_eq!(
            config.low_limits,
            BTreeMap::from([("coolant_flow".into(), 2.5), ("spindle_temperature".into(), -10.0)])
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            ("ALARMS_STATION", "station 1"),
            ("ALARMS_LINE", "line/1"),
            ("ALARMS_DEADBAND", "-0.5"),
            ("ALARMS_DEADBAND", "NaN"),
            ("ALARMS_CRITICAL_MARGIN", "0"),
            ("ALARMS_HIGH_LIMITS", "spindle_temperature"),
            ("ALARMS_HIGH_LIMITS", "spindle_temperature=inf"),
            ("ALARMS_LOW_LIMITS", "=3"),
            ("ALARMS_LOW_LIMITS", "flow=2, flow=3"),
            ("ALARMS_HIGH_LIMIT", "spindle_temperature=80"),
        ];
        for (field, value) in cases {
            let err = LimitAlarmsConfig::from_env(&vars(&[(field, value)])).unwrap_err();
            assert_eq!(err.problems.len(), 1, "{field}={value}: {err}");
            assert!(err.names_field(field), "{field}={value}: {err}");
        }
    }

    #[test]
    fn every_bad_limit_entry_is_reported_with_its_text() {
        let err = LimitAlarmsConfig::from_env(&vars(&[
            ("ALARMS_HIGH_LIMITS", "a=1, b=hot, c=2, d"),
            ("ALARMS_LOW_LIMITS", "a=1"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.problems.len(), 3, "{text}");
        for entry in ["\"b=hot\"", "\"d\"", "\"a=1\""] {
            assert!(text.contains(entry), "{entry}: {text}");
        }
        assert!(text.contains("below the tag's high limit 1"), "{text}");
    }
}
