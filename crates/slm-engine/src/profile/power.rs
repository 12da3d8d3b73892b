//! The power-state policy of a profile: which model variant runs in which
//! power state (e.g. Q8_0 on mains, Q4_K_M on battery or when hot).
//!
//! ```toml
//! [power]
//! source = "linux"          # linux: /sys/class/power_supply and thermal zones; tag: a plant reading
//! poll_secs = 5             # linux: how often the files are read
//! hot_above_celsius = 85.0  # linux: a thermal zone above this makes the state "hot"
//! # tag = "gateway_power"   # tag: the reading whose text value names the state
//! [power.variants]          # state -> model file, relative to the profile
//! mains = "../models/m.Q8_0.gguf"
//! battery = "../models/m.Q4_K_M.gguf"
//! hot = "../models/m.Q4_K_M.gguf"
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// Where the power state comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerSource {
    /// The gateway's own power-supply and thermal files (Linux sysfs).
    Linux,
    /// A plant reading (OPC UA or MQTT tag) whose text value is the state.
    Tag,
}

/// State names the Linux source reports.
pub const LINUX_STATES: &[&str] = &["mains", "battery", "hot"];

/// The `[power]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerPolicy {
    /// Where the state comes from.
    pub source: PowerSource,
    /// For `source = "tag"`: the reading's tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// For `source = "linux"`: seconds between reads of the files.
    #[serde(default = "default_poll_secs")]
    pub poll_secs: u64,
    /// For `source = "linux"`: a thermal zone above this (°C) means "hot".
    #[serde(default = "default_hot_above")]
    pub hot_above_celsius: f64,
    /// State name -> model file (relative to the profile's folder unless absolute).
    pub variants: BTreeMap<String, PathBuf>,
}

fn default_poll_secs() -> u64 {
    5
}

fn default_hot_above() -> f64 {
    85.0
}

impl PowerPolicy {
    /// The first problem, as (dotted field, value, requirement).
    pub(super) fn problem(&self) -> Option<(&'static str, String, &'static str)> {
        if self.variants.is_empty() {
            return Some(("power.variants", "empty".into(), "at least one state = \"model.gguf\""));
        }
        match self.source {
            PowerSource::Tag if self.tag.as_deref().is_none_or(|t| t.trim().is_empty()) => {
                Some(("power.tag", "missing".into(), "the tag whose value names the state when source = \"tag\""))
            }
            PowerSource::Linux if !(1..=3600).contains(&self.poll_secs) => {
                Some(("power.poll_secs", self.poll_secs.to_string(), "1..=3600"))
            }
            PowerSource::Linux => self
                .variants
                .keys()
                .find(|state| !LINUX_STATES.contains(&state.as_str()))
                .map(|state| ("power.variants", state.clone(), "mains, battery or hot with source = \"linux\"")),
            PowerSource::Tag => None,
        }
    }

    /// The variant for `state` (case-insensitive), if the policy names one.
    pub fn variant_for(&self, state: &str) -> Option<&PathBuf> {
        self.variants.iter().find(|(name, _)| name.eq_ignore_ascii_case(state.trim())).map(|(_, path)| path)
    }
}
