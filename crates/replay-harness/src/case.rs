//! A replay test case: a TOML file naming a recording, a dataflow, which
//! nodes the recording stands in for, what to collect, and what to expect.
//! Relative paths start at the case file's folder.
//!
//! ```toml
//! name = "overheat"
//! recording = "../fixtures/recordings/overheat.drec"
//! dataflow = "../../dataflows/plant-assistant.yml"
//! replace = ["opcua-source", "mqtt-source"]   # played from the recording
//! remove = ["plant-sim", "mqtt-broker", "mqtt-sink", "http-gateway"]
//! collect = ["router/answers", "limit-alarms/alerts"]
//! wait_for = ["slm", "slm-small", "router", "limit-alarms"]
//! speed = 4.0
//! golden = "golden/overheat.txt"
//!
//! [shift_times]   # into the replay's present: staleness and deadlines as at the plant
//! "opcua-source/readings" = ["source_ts_ms", "received_ts_ms", "server_ts_ms"]
//! "mqtt-source/questions" = ["received_ts_ms"]
//!
//! [[expect.answer]]
//! question = "q-overheat-temperature"
//! contains = ["spindle_temperature"]
//!
//! [[expect.alert]]
//! kind = "high_limit"
//! contains = ["spindle_temperature"]
//! after = { tag = "spindle_temperature", above = 80.0 }
//! within_s = 2.0
//!
//! [[expect.no_alert]]
//! from_s = 0.0
//! to_s = 10.0
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use recording::output_ref::{is_dora_id, OutputRef};
use serde::Deserialize;

/// Why a case file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// Not readable.
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// Not valid TOML for a case (the message names the field).
    #[error("{path}: {message}")]
    Parse {
        path: PathBuf,
        /// toml's words, with the field and line.
        message: String,
    },
    /// A field's value cannot be used.
    #[error("{path}: `{field}` {problem}")]
    Invalid { path: PathBuf, field: String, problem: String },
}

/// The case as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    name: String,
    #[serde(default)]
    description: String,
    recording: PathBuf,
    dataflow: PathBuf,
    replace: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
    collect: Vec<String>,
    #[serde(default)]
    wait_for: Vec<String>,
    #[serde(default = "default_speed")]
    speed: f64,
    #[serde(default = "default_timeout")]
    timeout_s: f64,
    #[serde(default = "default_settle")]
    settle_s: f64,
    #[serde(default)]
    golden: Option<PathBuf>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    plot: Vec<String>,
    #[serde(default)]
    shift_times: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    expect: Expectations,
}

fn default_speed() -> f64 {
    1.0
}
fn default_timeout() -> f64 {
    300.0
}
fn default_settle() -> f64 {
    10.0
}

/// What the outputs must show.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// Answers to recorded questions.
    #[serde(default)]
    pub answer: Vec<ExpectAnswer>,
    /// Alerts that must occur.
    #[serde(default)]
    pub alert: Vec<ExpectAlert>,
    /// Windows without any alert.
    #[serde(default)]
    pub no_alert: Vec<NoAlertWindow>,
    /// Latency bounds, reported (never a failure: timing depends on the machine).
    #[serde(default)]
    pub latency: Option<LatencyBound>,
}

/// An answer to the recorded question `question` (its id).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectAnswer {
    pub question: String,
    /// Texts the answer must contain (case-insensitive).
    #[serde(default)]
    pub contains: Vec<String>,
    /// Texts it must not contain (case-insensitive).
    #[serde(default)]
    pub excludes: Vec<String>,
}

/// An event in the recording: the first reading of `tag` above/below a value.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReadingEvent {
    pub tag: String,
    /// First value strictly above this.
    #[serde(default)]
    pub above: Option<f64>,
    /// First value strictly below this.
    #[serde(default)]
    pub below: Option<f64>,
}

/// An alert that must occur.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectAlert {
    /// Alert kind (`high_limit`, `scratch`, ...); any kind when absent.
    #[serde(default)]
    pub kind: Option<String>,
    /// Texts the alert message must contain (case-insensitive).
    #[serde(default)]
    pub contains: Vec<String>,
    /// Severity, when it matters.
    #[serde(default)]
    pub severity: Option<String>,
    /// The recorded event it must follow.
    #[serde(default)]
    pub after: Option<ReadingEvent>,
    /// At most this long after the event (plant time, seconds).
    #[serde(default)]
    pub within_s: Option<f64>,
    /// How many such alerts at least (default 1).
    #[serde(default)]
    pub count_at_least: Option<usize>,
}

/// No alert (of `kind`, or any) between `from_s` and `to_s` of plant time,
/// counted from the recording's first reading.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NoAlertWindow {
    /// Window start, s.
    pub from_s: f64,
    /// Window end, s.
    pub to_s: f64,
    /// Only alerts of this kind count.
    #[serde(default)]
    pub kind: Option<String>,
}

/// Latency figures to report against.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LatencyBound {
    /// Answer latency p50 bound, ms.
    #[serde(default)]
    pub answer_p50_ms: Option<f64>,
    /// Answer latency p95 bound, ms.
    #[serde(default)]
    pub answer_p95_ms: Option<f64>,
}

/// A validated case, paths resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    /// Short name (file names of the report).
    pub name: String,
    /// What the case shows.
    pub description: String,
    pub file: PathBuf,
    pub recording: PathBuf,
    /// The dataflow under test.
    pub dataflow: PathBuf,
    /// Nodes the recording stands in for.
    pub replace: Vec<String>,
    /// Nodes left out of the run.
    pub remove: Vec<String>,
    pub collect: Vec<OutputRef>,
    /// Nodes whose first metrics snapshot starts the replay.
    pub wait_for: Vec<String>,
    /// Replay speed (0: as fast as the receivers take it).
    pub speed: f64,
    /// Longest the whole run may take, s.
    pub timeout_s: f64,
    /// How long to wait for outputs after the replay, s.
    pub settle_s: f64,
    /// The stored golden output.
    pub golden: Option<PathBuf>,
    /// `dora run --env` settings.
    pub env: BTreeMap<String, String>,
    /// Tags drawn in the timeline (default: those the expectations name).
    pub plot: Vec<String>,
    /// Recorded outputs whose Int64 ms time fields the replay moves into its
    /// present (`[shift_times] "mqtt-source/questions" = ["received_ts_ms"]`),
    /// so that staleness, deadlines and latencies are judged as at the plant;
    /// the collected outputs' times are mapped back to recorded time.
    pub shift_times: Vec<(OutputRef, Vec<String>)>,
    /// What the outputs must show.
    pub expect: Expectations,
}

impl TestCase {
    /// Reads and validates a case file.
    pub fn load(path: &Path) -> Result<Self, CaseError> {
        let text = std::fs::read_to_string(path).map_err(|source| CaseError::Read { path: path.into(), source })?;
        Self::parse(path, &text)
    }

    /// Validates the text of the case file at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, CaseError> {
        let raw: CaseFile =
            toml::from_str(text).map_err(|e| CaseError::Parse { path: path.into(), message: e.to_string() })?;
        let invalid =
            |field: &str, problem: String| CaseError::Invalid { path: path.into(), field: field.into(), problem };
        let base = path.parent().unwrap_or(Path::new("."));
        if !is_dora_id(&raw.name) {
            return Err(invalid("name", "must be letters, digits, '_', '-' or '.'".into()));
        }
        if raw.replace.is_empty() {
            return Err(invalid("replace", "must name at least one node of the dataflow".into()));
        }
        for (field, ids) in [("replace", &raw.replace), ("remove", &raw.remove), ("wait_for", &raw.wait_for)] {
            if let Some(bad) = ids.iter().find(|id| !is_dora_id(id)) {
                return Err(invalid(field, format!("has {bad:?}, which is not a node id")));
            }
        }
        let collect = raw
            .collect
            .iter()
            .map(|text| {
                text.parse::<OutputRef>().map_err(|()| invalid("collect", format!("has {text:?}: use node/output")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if collect.is_empty() {
            return Err(invalid("collect", "must name at least one node/output".into()));
        }
        if !(raw.speed.is_finite() && raw.speed >= 0.0) {
            return Err(invalid("speed", format!("is {}: must be ≥ 0 (0: as fast as possible)", raw.speed)));
        }
        for (field, value) in [("timeout_s", raw.timeout_s), ("settle_s", raw.settle_s)] {
            if !(value.is_finite() && value > 0.0 && value < 86_400.0) {
                return Err(invalid(field, format!("is {value}: must be a number of seconds > 0")));
            }
        }
        for (index, alert) in raw.expect.alert.iter().enumerate() {
            if let Some(event) = &alert.after {
                if event.above.is_none() == event.below.is_none() {
                    return Err(invalid(
                        &format!("expect.alert[{index}].after"),
                        "needs exactly one of above / below".into(),
                    ));
                }
            }
            if alert.within_s.is_some() && alert.after.is_none() {
                return Err(invalid(&format!("expect.alert[{index}].within_s"), "needs `after`".into()));
            }
        }
        for (index, window) in raw.expect.no_alert.iter().enumerate() {
            if window.from_s.partial_cmp(&window.to_s).is_none_or(|order| order.is_gt()) {
                return Err(invalid(&format!("expect.no_alert[{index}]"), "needs from_s ≤ to_s".into()));
            }
        }
        let resolve = |field: &str, relative: &Path| {
            let full = base.join(relative);
            if full.is_file() {
                // Absolute: the run happens in the dataflow's folder.
                Ok(std::fs::canonicalize(&full).unwrap_or(full))
            } else {
                Err(invalid(field, format!("names {}, which does not exist", full.display())))
            }
        };
        let mut shift_times = Vec::new();
        for (topic, fields) in &raw.shift_times {
            let output = topic
                .parse::<OutputRef>()
                .map_err(|()| invalid("shift_times", format!("has {topic:?}: use node/output")))?;
            if fields.is_empty() || !fields.iter().all(|f| is_dora_id(f)) {
                return Err(invalid("shift_times", format!("{topic:?} needs field names")));
            }
            shift_times.push((output, fields.clone()));
        }
        let plot = if raw.plot.is_empty() {
            raw.expect.alert.iter().filter_map(|a| a.after.as_ref().map(|e| e.tag.clone())).collect()
        } else {
            raw.plot
        };
        Ok(TestCase {
            recording: resolve("recording", &raw.recording)?,
            dataflow: resolve("dataflow", &raw.dataflow)?,
            golden: raw.golden.map(|g| std::path::absolute(base.join(&g)).unwrap_or_else(|_| base.join(g))),
            name: raw.name,
            description: raw.description,
            file: path.into(),
            replace: raw.replace,
            remove: raw.remove,
            collect,
            wait_for: raw.wait_for,
            speed: raw.speed,
            timeout_s: raw.timeout_s,
            settle_s: raw.settle_s,
            env: raw.env,
            plot,
            shift_times,
            expect: raw.expect,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case_in_temp(text: &str) -> Result<TestCase, CaseError> {
        let dir = std::env::temp_dir().join(format!("replay-case-{}-{}", std::process::id(), text.len()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("r.drec"), b"x").unwrap();
        std::fs::write(dir.join("d.yml"), b"nodes: []").unwrap();
        let result = TestCase::parse(&dir.join("case.toml"), text);
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    const HEAD: &str = "name = \"t\"\nrecording = \"r.drec\"\ndataflow = \"d.yml\"\nreplace = [\"opcua-source\"]\ncollect = [\"router/answers\"]\n";

    #[test]
    fn a_case_parses_with_defaults_and_resolved_paths() {
        let text = format!(
            "{HEAD}[[expect.alert]]\nkind = \"high_limit\"\nafter = {{ tag = \"t1\", above = 80.0 }}\nwithin_s = 2\n"
        );
        let case = case_in_temp(&text).unwrap();
        assert_eq!(case.speed, 1.0);
        assert!(case.recording.ends_with("r.drec"));
        assert_eq!(case.collect[0].to_string(), "router/answers");
        assert_eq!(case.plot, vec!["t1".to_string()]);
    }

    #[test]
    fn mistakes_name_the_field() {
        let message = |text: &str| case_in_temp(text).unwrap_err().to_string();
        assert!(message(&format!("{HEAD}speed = -1\n")).contains("`speed`"));
        assert!(message(&HEAD.replace("r.drec", "missing.drec")).contains("`recording`"));
        assert!(message(&HEAD.replace("router/answers", "router")).contains("`collect`"));
        assert!(message(&format!("{HEAD}colect = []\n")).contains("colect"));
        let both = format!("{HEAD}[[expect.alert]]\nkind = \"k\"\nafter = {{ tag = \"t\" }}\n");
        assert!(message(&both).contains("expect.alert[0].after"));
        let window = format!("{HEAD}[[expect.no_alert]]\nfrom_s = 5\nto_s = 1\n");
        assert!(message(&window).contains("expect.no_alert[0]"));
    }
}
