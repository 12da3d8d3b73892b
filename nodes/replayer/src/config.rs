//! The replayer's settings: which recording, which outputs, how fast.
//!
//! It also reads the variables the dora CLI's `dora replay` sets for its
//! injected node (`DORA_REPLAY_FILE`, `DORA_REPLAY_NODE`,
//! `DORA_REPLAY_SPEED`, `DORA_REPLAY_LOOP`), so that the CLI can use this
//! node as its own; ours win when both are set.

use std::collections::BTreeMap;
use std::path::PathBuf;

use recording::output_ref::{is_dora_id, output_pairs, OutputRef};
use shopfloor_core::env::{ConfigError, EnvReader, EnvVars};

/// Settings of the replayer node.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayerConfig {
    /// The `.drec` file to play (`REPLAY_FILE`, required, must exist).
    pub file: PathBuf,
    /// The recorded node whose outputs are played under their own output
    /// ids (`REPLAY_NODE`); optional when `REPLAY_TOPICS` is given.
    pub node: Option<String>,
    /// Recorded outputs played under another output id (`REPLAY_TOPICS`,
    /// `output=node/output, ...`): one replayer can so play several nodes
    /// in their recorded order.
    pub topics: BTreeMap<String, OutputRef>,
    /// Timing (`REPLAY_SPEED`, default 1: as recorded; 2: twice as fast; 0:
    /// as fast as the receivers take them, with their backpressure).
    pub speed: f64,
    /// Start again at the end (`REPLAY_LOOP`, default false).
    pub repeat: bool,
    /// A file written when the last message has been sent
    /// (`REPLAY_DONE_FILE`, optional; for test harnesses).
    pub done_file: Option<PathBuf>,
    /// Time fields moved into the replay's present, per played output
    /// (`REPLAY_SHIFT_TIMES`, `output:field+field, ...`, Int64 ms fields of
    /// struct payloads): a value stamped `t` becomes `replay start + (t -
    /// recording start) / speed`, so it is as old at its send time as it was
    /// when recorded (nodes that judge staleness, deadlines or latency see a
    /// live plant). Off by default: a replay is lossless.
    pub shift_times: BTreeMap<String, Vec<String>>,
    /// How long the node stays after the last message before it stops
    /// (`REPLAY_LINGER_MS`, 0..=60000, default 1000): dora can drop a message
    /// still in flight when its sender exits at once.
    pub linger: Option<std::time::Duration>,
    /// Most messages in flight when receivers acknowledge on `ack…` inputs
    /// (`REPLAY_WINDOW`, 1..=100000, default 50).
    pub window: u64,
}

/// `output:field+field, ...`; `None` when an entry is malformed.
fn field_entries(text: &str) -> Option<BTreeMap<String, Vec<String>>> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (output, fields) = entry.split_once(':')?;
            let fields: Vec<String> = fields.split('+').map(|f| f.trim().to_owned()).collect();
            (is_dora_id(output.trim()) && fields.iter().all(|f| is_dora_id(f)))
                .then(|| (output.trim().to_owned(), fields))
        })
        .collect()
}

impl ReplayerConfig {
    /// Parses and validates the node's settings.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("replayer", vars);
        let dora_file = env.optional_string("DORA_REPLAY_FILE");
        let file = match env.optional_string("REPLAY_FILE").or(dora_file) {
            Some(text) => {
                if !PathBuf::from(&text).is_file() {
                    env.invalid(
                        "REPLAY_FILE",
                        &text,
                        "an existing .drec file (relative paths start at the dataflow's folder)",
                    );
                }
                PathBuf::from(text)
            }
            None => {
                env.required_string("REPLAY_FILE", "the .drec file to play");
                PathBuf::new()
            }
        };
        let dora_node = env.optional_string("DORA_REPLAY_NODE");
        let node = env.optional_string("REPLAY_NODE").or(dora_node);
        if let Some(text) = &node {
            if !is_dora_id(text) {
                env.invalid("REPLAY_NODE", text, "a node id of the recording");
            }
        }
        let topics = match env.optional_string("REPLAY_TOPICS") {
            None => BTreeMap::new(),
            Some(text) => output_pairs(&text).unwrap_or_else(|| {
                env.invalid("REPLAY_TOPICS", &text, "`output=node/output` entries separated by commas");
                BTreeMap::new()
            }),
        };
        if node.is_none() && topics.is_empty() {
            env.required_string("REPLAY_NODE", "the recorded node to play (or REPLAY_TOPICS)");
        }
        let speed_requirement = "a factor ≥ 0 (1: as recorded, 0: as fast as the receivers take them)";
        let dora_speed = env.parsed_or("DORA_REPLAY_SPEED", 1.0f64, speed_requirement, |s| s.is_finite() && *s >= 0.0);
        let speed = env.parsed_or("REPLAY_SPEED", dora_speed, speed_requirement, |s| s.is_finite() && *s >= 0.0);
        let dora_loop = env.parsed_or("DORA_REPLAY_LOOP", false, "true or false", |_| true);
        let repeat = env.parsed_or("REPLAY_LOOP", dora_loop, "true or false", |_| true);
        let done_file = env.optional_string("REPLAY_DONE_FILE").map(PathBuf::from);
        let shift_times = match env.optional_string("REPLAY_SHIFT_TIMES") {
            None => BTreeMap::new(),
            Some(text) => field_entries(&text).unwrap_or_else(|| {
                env.invalid("REPLAY_SHIFT_TIMES", &text, "`output:field+field` entries separated by commas");
                BTreeMap::new()
            }),
        };
        let linger_ms = env.parsed_or("REPLAY_LINGER_MS", 1000u64, "milliseconds in 0..=60000", |ms| *ms <= 60_000);
        let linger = (linger_ms > 0).then(|| std::time::Duration::from_millis(linger_ms));
        let window = env.parsed_or("REPLAY_WINDOW", 50u64, "a count in 1..=100000", |n| (1..=100_000).contains(n));
        env.finish(&["REPLAY_"])?;
        Ok(Self { file, node, topics, speed, repeat, done_file, shift_times, linger, window })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(entries: &[(&str, &str)]) -> EnvVars {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn replayer_settings_parse_and_mistakes_name_the_field() {
        let file = std::env::temp_dir().join(format!("replayer-config-{}.drec", std::process::id()));
        std::fs::write(&file, b"x").unwrap();
        let path = file.to_str().unwrap();
        let config = ReplayerConfig::from_env(&vars(&[
            ("REPLAY_FILE", path),
            ("REPLAY_TOPICS", "readings=opcua-source/readings,questions=mqtt-source/questions"),
            ("REPLAY_SPEED", "0"),
            ("REPLAY_LOOP", "true"),
            ("REPLAY_SHIFT_TIMES", "questions:received_ts_ms, readings:source_ts_ms+received_ts_ms"),
        ]))
        .unwrap();
        assert_eq!(config.shift_times["questions"], vec!["received_ts_ms".to_string()]);
        assert_eq!(config.shift_times["readings"].len(), 2);
        assert_eq!(config.topics.len(), 2);
        assert_eq!(config.speed, 0.0);
        assert!(config.repeat && config.node.is_none());
        let dora = ReplayerConfig::from_env(&vars(&[
            ("DORA_REPLAY_FILE", path),
            ("DORA_REPLAY_NODE", "opcua-source"),
            ("DORA_REPLAY_SPEED", "2.5"),
        ]))
        .unwrap();
        assert_eq!((dora.node.as_deref(), dora.speed), (Some("opcua-source"), 2.5));
        assert!(ReplayerConfig::from_env(&vars(&[("REPLAY_FILE", "/nonexistent.drec"), ("REPLAY_NODE", "a")]))
            .unwrap_err()
            .names_field("REPLAY_FILE"));
        assert!(ReplayerConfig::from_env(&vars(&[("REPLAY_FILE", path)])).unwrap_err().names_field("REPLAY_NODE"));
        let stamp = vars(&[("REPLAY_FILE", path), ("REPLAY_NODE", "a"), ("REPLAY_SHIFT_TIMES", "questions")]);
        assert!(ReplayerConfig::from_env(&stamp).unwrap_err().names_field("REPLAY_SHIFT_TIMES"));
        let slow = vars(&[("REPLAY_FILE", path), ("REPLAY_NODE", "a"), ("REPLAY_SPEED", "-1")]);
        assert!(ReplayerConfig::from_env(&slow).unwrap_err().names_field("REPLAY_SPEED"));
        std::fs::remove_file(&file).unwrap();
    }
}
