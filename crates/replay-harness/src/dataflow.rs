//! The dataflow of a replay run, made from the one under test: the replaced
//! nodes give way to one `replay` node that plays their recorded outputs in
//! recorded order (one sender, so every receiver sees them in that order),
//! removed nodes and the inputs they fed are left out, and a `collect` node
//! (the recorder) records the outputs under test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use recording::output_ref::OutputRef;
use serde_norway::{Mapping, Value};

/// Id of the node that plays the recording.
pub const REPLAY_NODE: &str = "replay";
/// Id of the node that records the collected outputs.
pub const COLLECT_NODE: &str = "collect";

/// Why the dataflow cannot be turned into a replay run.
#[derive(Debug, thiserror::Error)]
pub enum DataflowError {
    #[error("the dataflow is not YAML: {0}")]
    NotYaml(#[source] serde_norway::Error),
    #[error("the dataflow has no `nodes:` list")]
    NoNodes,
    #[error("the dataflow is not a mapping")]
    NotAMapping,
    #[error("the dataflow's `env:` is not a mapping")]
    EnvNotAMapping,
    #[error("cannot write the replay dataflow as YAML: {0}")]
    Write(#[source] serde_norway::Error),
    /// The case names a node the dataflow lacks.
    #[error("the dataflow has no node `{0}`")]
    NoSuchNode(String),
}

/// What the replay run needs beyond the dataflow.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayPlan {
    /// Node ids of the case.
    pub replace: Vec<String>,
    pub remove: Vec<String>,
    /// Outputs recorded by the collect node.
    pub collect: Vec<OutputRef>,
    /// Nodes whose first metrics start the replay.
    pub wait_for: Vec<String>,
    /// Absolute path of the replayer binary.
    pub replayer: String,
    /// Absolute path of the recorder binary.
    pub recorder: String,
    /// Absolute path of the recording.
    pub recording: String,
    /// Where the collect node writes.
    pub collected: String,
    /// Where the replay node says it is done.
    pub done_file: String,
    pub speed: f64,
    /// Recorded outputs whose Int64 time fields the replay moves into its present.
    pub shift_times: Vec<(OutputRef, Vec<String>)>,
    /// Settings of the run: each replaces the value of every node that sets
    /// it, or else becomes a dataflow-level setting (`dora run --env` only
    /// reaches the dataflow level, where a node's own value would win).
    pub env: Vec<(String, String)>,
}

/// The output id under which the replay node plays `node/output`.
pub fn replay_output(source: &OutputRef) -> String {
    format!("{}__{}", source.node, source.output)
}

fn source_of(input: &Value) -> Option<&str> {
    match input {
        Value::String(text) => Some(text.as_str()),
        Value::Mapping(map) => map.get("source").and_then(Value::as_str),
        _ => None,
    }
}

fn set_source(input: &mut Value, source: String) {
    match input {
        Value::Mapping(map) => {
            map.insert("source".into(), Value::String(source));
        }
        other => *other = Value::String(source),
    }
}

fn backpressure_input(source: String) -> Value {
    let mut map = Mapping::new();
    map.insert("source".into(), Value::String(source));
    map.insert("queue_policy".into(), Value::String("backpressure".into()));
    Value::Mapping(map)
}

/// Makes the replay dataflow from `yaml`; relative node paths are made
/// absolute against `base` so the result can live anywhere.
pub fn replay_dataflow(yaml: &str, base: &Path, plan: &ReplayPlan) -> Result<String, DataflowError> {
    let mut root: Value = serde_norway::from_str(yaml).map_err(DataflowError::NotYaml)?;
    let nodes = root.get_mut("nodes").and_then(Value::as_sequence_mut).ok_or(DataflowError::NoNodes)?;
    let ids: BTreeSet<String> =
        nodes.iter().filter_map(|n| n.get("id").and_then(Value::as_str).map(str::to_owned)).collect();
    for id in plan.replace.iter().chain(&plan.remove).chain(&plan.wait_for) {
        if !ids.contains(id) {
            return Err(DataflowError::NoSuchNode(id.clone()));
        }
    }
    for output in &plan.collect {
        if !ids.contains(&output.node) {
            return Err(DataflowError::NoSuchNode(output.node.clone()));
        }
    }
    let gone: BTreeSet<&String> = plan.replace.iter().chain(&plan.remove).collect();
    let mut unplaced: Vec<&(String, String)> = Vec::new();
    for setting in &plan.env {
        let mut placed = false;
        for node in nodes.iter_mut() {
            if let Some(env) = node.get_mut("env").and_then(Value::as_mapping_mut) {
                if env.contains_key(setting.0.as_str()) {
                    env.insert(Value::String(setting.0.clone()), Value::String(setting.1.clone()));
                    placed = true;
                }
            }
        }
        if !placed {
            unplaced.push(setting);
        }
    }
    nodes.retain(|node| node.get("id").and_then(Value::as_str).is_none_or(|id| !gone.contains(&id.to_owned())));

    // Inputs fed by replaced nodes now come from the replay node; those fed
    // by removed nodes are dropped.
    let mut played: BTreeSet<OutputRef> = BTreeSet::new();
    for node in nodes.iter_mut() {
        if let Some(path) = node.get("path").and_then(Value::as_str) {
            if !Path::new(path).is_absolute() && !path.starts_with("dynamic") {
                let absolute = base.join(path).to_string_lossy().into_owned();
                node["path"] = Value::String(absolute);
            }
        }
        let Some(inputs) = node.get_mut("inputs").and_then(Value::as_mapping_mut) else { continue };
        let mut dropped = Vec::new();
        for (key, input) in inputs.iter_mut() {
            let Some(source) = source_of(input).and_then(|s| s.parse::<OutputRef>().ok()) else { continue };
            if plan.remove.contains(&source.node) {
                dropped.push(key.clone());
            } else if plan.replace.contains(&source.node) {
                set_source(input, format!("{REPLAY_NODE}/{}", replay_output(&source)));
                played.insert(source);
            }
        }
        for key in dropped {
            inputs.remove(&key);
        }
    }

    // The replay node, with one output per played node output.
    let mut replay = Mapping::new();
    replay.insert("id".into(), REPLAY_NODE.into());
    replay.insert("path".into(), Value::String(plan.replayer.clone()));
    let mut ready = Mapping::new();
    for node in &plan.wait_for {
        ready.insert(
            Value::String(format!("ready_{}", node.replace('-', "_"))),
            Value::String(format!("{node}/metrics")),
        );
    }
    if !ready.is_empty() {
        replay.insert("inputs".into(), Value::Mapping(ready));
    }
    replay.insert(
        "outputs".into(),
        Value::Sequence(played.iter().map(|source| Value::String(replay_output(source))).collect()),
    );
    let topics: Vec<String> = played.iter().map(|source| format!("{}={source}", replay_output(source))).collect();
    let mut replay_env = Mapping::new();
    replay_env.insert("REPLAY_FILE".into(), Value::String(plan.recording.clone()));
    replay_env.insert("REPLAY_TOPICS".into(), Value::String(topics.join(",")));
    replay_env.insert("REPLAY_SPEED".into(), Value::String(plan.speed.to_string()));
    replay_env.insert("REPLAY_DONE_FILE".into(), Value::String(plan.done_file.clone()));
    let shifted: Vec<String> = plan
        .shift_times
        .iter()
        .filter(|(source, _)| played.contains(source))
        .map(|(source, fields)| format!("{}:{}", replay_output(source), fields.join("+")))
        .collect();
    if !shifted.is_empty() {
        replay_env.insert("REPLAY_SHIFT_TIMES".into(), Value::String(shifted.join(",")));
    }
    replay.insert("env".into(), Value::Mapping(replay_env));

    // The collect node records what is under test, losing nothing.
    let mut collect = Mapping::new();
    collect.insert("id".into(), COLLECT_NODE.into());
    collect.insert("path".into(), Value::String(plan.recorder.clone()));
    let mut inputs = Mapping::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for output in &plan.collect {
        let base_name = format!("{}__{}", output.node, output.output).replace('-', "_");
        let count = names.entry(base_name.clone()).or_default();
        *count += 1;
        let name = if *count == 1 { base_name } else { format!("{base_name}_{count}") };
        inputs.insert(Value::String(name), backpressure_input(output.to_string()));
    }
    collect.insert("inputs".into(), Value::Mapping(inputs));
    let mut collect_env = Mapping::new();
    collect_env.insert("RECORD_FILE".into(), Value::String(plan.collected.clone()));
    collect.insert("env".into(), Value::Mapping(collect_env));

    nodes.push(Value::Mapping(replay));
    nodes.push(Value::Mapping(collect));
    if !unplaced.is_empty() {
        let Value::Mapping(top) = &mut root else {
            return Err(DataflowError::NotAMapping);
        };
        let env = top.entry("env".into()).or_insert_with(|| Value::Mapping(Mapping::new()));
        let Some(env) = env.as_mapping_mut() else {
            return Err(DataflowError::EnvNotAMapping);
        };
        for (key, value) in unplaced {
            env.insert(Value::String(key.clone()), Value::String(value.clone()));
        }
    }
    serde_norway::to_string(&root).map_err(DataflowError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: &str = r#"
env:
  MQTT_BROKER_URL: ""
nodes:
  - id: plant-sim
    path: ../target/release/plant-sim
  - id: opcua-source
    path: ../target/release/opcua-source
    inputs:
      metrics_tick: dora/timer/millis/1000
    outputs: [readings, metrics]
  - id: http-gateway
    path: ../target/release/http-gateway
    outputs: [questions]
  - id: slm
    path: ../target/release/slm
    inputs:
      readings:
        source: opcua-source/readings
        queue_policy: backpressure
      questions: http-gateway/questions
      metrics_tick: dora/timer/millis/1000
    outputs: [answers, metrics]
    env:
      SLM_MAX_TOKENS: "48"
"#;

    fn plan() -> ReplayPlan {
        ReplayPlan {
            replace: vec!["opcua-source".into()],
            remove: vec!["plant-sim".into(), "http-gateway".into()],
            collect: vec!["slm/answers".parse().unwrap()],
            wait_for: vec!["slm".into()],
            replayer: "/bin/replayer".into(),
            recorder: "/bin/recorder".into(),
            recording: "/r.drec".into(),
            collected: "/out/collected.drec".into(),
            done_file: "/out/done".into(),
            speed: 4.0,
            shift_times: vec![("opcua-source/readings".parse().unwrap(), vec!["received_ts_ms".into()])],
            env: vec![
                ("SLM_MAX_TOKENS".into(), "8".into()),
                ("MQTT_BROKER_URL".into(), "mqtt://x:1".into()),
                ("NEW".into(), "1".into()),
            ],
        }
    }

    #[test]
    fn replaced_nodes_give_way_to_the_replay_node() {
        let yaml = replay_dataflow(FLOW, Path::new("/repo/dataflows"), &plan()).unwrap();
        let root: Value = serde_norway::from_str(&yaml).unwrap();
        let nodes = root["nodes"].as_sequence().unwrap();
        let ids: Vec<&str> = nodes.iter().map(|n| n["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["slm", "replay", "collect"]);
        let slm = &nodes[0];
        assert_eq!(slm["path"].as_str(), Some("/repo/dataflows/../target/release/slm"));
        assert_eq!(slm["inputs"]["readings"]["source"].as_str(), Some("replay/opcua-source__readings"));
        assert_eq!(slm["inputs"]["readings"]["queue_policy"].as_str(), Some("backpressure"));
        assert!(slm["inputs"].get("questions").is_none(), "input of a removed node is dropped");
        assert_eq!(slm["inputs"]["metrics_tick"].as_str(), Some("dora/timer/millis/1000"));
        let replay = &nodes[1];
        assert_eq!(replay["outputs"][0].as_str(), Some("opcua-source__readings"));
        assert_eq!(replay["inputs"]["ready_slm"].as_str(), Some("slm/metrics"));
        assert_eq!(replay["env"]["REPLAY_TOPICS"].as_str(), Some("opcua-source__readings=opcua-source/readings"));
        assert_eq!(replay["env"]["REPLAY_SHIFT_TIMES"].as_str(), Some("opcua-source__readings:received_ts_ms"));
        let collect = &nodes[2];
        assert_eq!(collect["inputs"]["slm__answers"]["source"].as_str(), Some("slm/answers"));
        assert_eq!(collect["inputs"]["slm__answers"]["queue_policy"].as_str(), Some("backpressure"));
        // Settings go where they take effect.
        assert_eq!(slm["env"]["SLM_MAX_TOKENS"].as_str(), Some("8"));
        assert_eq!(root["env"]["MQTT_BROKER_URL"].as_str(), Some("mqtt://x:1"));
        assert_eq!(root["env"]["NEW"].as_str(), Some("1"));
    }

    #[test]
    fn unknown_nodes_are_named() {
        let mut bad = plan();
        bad.replace = vec!["camera".into()];
        let error = replay_dataflow(FLOW, Path::new("/"), &bad).unwrap_err();
        assert!(matches!(&error, DataflowError::NoSuchNode(node) if node == "camera"), "{error}");
    }
}
