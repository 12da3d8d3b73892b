//! The part of a dora dataflow YAML that placement needs: node ids, binary
//! paths, `env:` (dataflow-level and per node) and `deploy:` (machine or
//! labels). Every other key (inputs, outputs, restart policies, …) is
//! tolerated and ignored; `dora` itself validates the rest.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// Why a dataflow file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DescriptorError {
    /// The file could not be read.
    #[error("cannot read dataflow {path}: {source}")]
    Read { path: String, source: std::io::Error },
    /// The YAML does not parse into a dataflow (the parser names the key and line).
    #[error("invalid dataflow {path}: {message}")]
    Parse { path: String, message: String },
    /// An `env:` value that placement reads is not a scalar.
    #[error("invalid dataflow {path}: node `{node}` has invalid `env.{key}` (must be a string, number or boolean)")]
    EnvValue { path: String, node: String, key: String },
}

/// A dataflow, reduced to what placement reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Dataflow {
    /// Variables every node gets unless its own `env:` sets the key.
    #[serde(default)]
    pub env: BTreeMap<String, serde_norway::Value>,
    /// The dataflow-level `deploy:`, the default of nodes without their own.
    #[serde(default)]
    pub deploy: Option<Deploy>,
    /// The nodes, in file order.
    pub nodes: Vec<Node>,
}

/// One node of the dataflow.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Node {
    pub id: String,
    /// The executable (absent for operator nodes).
    #[serde(default)]
    pub path: Option<String>,
    /// The node's own variables (win over the dataflow-level ones).
    #[serde(default)]
    pub env: BTreeMap<String, serde_norway::Value>,
    /// Where it runs.
    #[serde(default)]
    pub deploy: Option<Deploy>,
}

/// `deploy:` of a node or of the dataflow (dora 1.1: `machine`, `labels`,
/// `working_dir`, `distribute`; the last two are not read here).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Deploy {
    /// The daemon's `--machine-id`.
    #[serde(default)]
    pub machine: Option<String>,
    /// Labels every candidate daemon's `--labels` must contain.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Deploy {
    /// Whether it names a machine or at least one label.
    pub fn pins(&self) -> bool {
        self.machine.is_some() || !self.labels.is_empty()
    }
}

impl Dataflow {
    /// Reads and parses a dataflow file.
    pub fn load(path: &Path) -> Result<Self, DescriptorError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| DescriptorError::Read { path: shown.clone(), source })?;
        Self::parse(&shown, &text)
    }

    /// Parses dataflow text; `path` is only used in errors.
    pub fn parse(path: &str, text: &str) -> Result<Self, DescriptorError> {
        serde_norway::from_str(text)
            .map_err(|e| DescriptorError::Parse { path: path.to_owned(), message: e.to_string() })
    }

    /// The value `node` sees for `key`: its own `env:` first, then the
    /// dataflow's (as dora merges them). `Ok(None)` when neither sets it.
    pub fn env_of(&self, path: &str, node: &Node, key: &str) -> Result<Option<String>, DescriptorError> {
        let Some(value) = node.env.get(key).or_else(|| self.env.get(key)) else {
            return Ok(None);
        };
        scalar_text(value).map(Some).ok_or_else(|| DescriptorError::EnvValue {
            path: path.to_owned(),
            node: node.id.clone(),
            key: key.to_owned(),
        })
    }
}

impl Node {
    /// The executable's file name (`slm` for `../../target/release/slm`),
    /// which tells what the node is.
    pub fn binary(&self) -> Option<&str> {
        let path = self.path.as_deref()?;
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        Some(name.strip_suffix(".exe").unwrap_or(name))
    }
}

/// A YAML scalar as the text a node reads from its environment.
fn scalar_text(value: &serde_norway::Value) -> Option<String> {
    match value {
        serde_norway::Value::String(text) => Some(text.clone()),
        serde_norway::Value::Number(number) => Some(number.to_string()),
        serde_norway::Value::Bool(flag) => Some(flag.to_string()),
        serde_norway::Value::Null => Some(String::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: &str = r#"
env:
  SHARED: global
  COUNT: 3
health_check_interval: 1.0
deploy:
  machine: gateway
nodes:
  - id: slm
    path: ../../target/release/slm
    restart_policy: on-failure
    inputs:
      questions: router/ask_nano
    deploy:
      labels:
        gpu: "true"
    env:
      SHARED: own
      LIST: [1, 2]
  - id: plain
    path: C:\dora\plant-sim.exe
  - id: operators
    operators:
      - id: op
        python: op.py
"#;

    #[test]
    fn unknown_keys_are_tolerated_and_deploy_is_read() {
        let flow = Dataflow::parse("f.yml", FLOW).unwrap();
        assert_eq!(flow.nodes.len(), 3);
        assert_eq!(flow.deploy.as_ref().and_then(|d| d.machine.as_deref()), Some("gateway"));
        let slm = &flow.nodes[0];
        assert_eq!(slm.deploy.as_ref().map(|d| d.labels.get("gpu").map(String::as_str)), Some(Some("true")));
        assert!(flow.nodes[2].path.is_none());
    }

    #[test]
    fn a_node_own_env_wins_over_the_dataflow_env() {
        let flow = Dataflow::parse("f.yml", FLOW).unwrap();
        let (slm, plain) = (&flow.nodes[0], &flow.nodes[1]);
        assert_eq!(flow.env_of("f.yml", slm, "SHARED").unwrap().as_deref(), Some("own"));
        assert_eq!(flow.env_of("f.yml", plain, "SHARED").unwrap().as_deref(), Some("global"));
        assert_eq!(flow.env_of("f.yml", plain, "COUNT").unwrap().as_deref(), Some("3"));
        assert_eq!(flow.env_of("f.yml", plain, "NONE").unwrap(), None);
        let err = flow.env_of("f.yml", slm, "LIST").unwrap_err();
        assert!(err.to_string().contains("`env.LIST`") && err.to_string().contains("`slm`"), "{err}");
    }

    #[test]
    fn the_binary_is_the_last_path_component() {
        let flow = Dataflow::parse("f.yml", FLOW).unwrap();
        assert_eq!(flow.nodes[0].binary(), Some("slm"));
        assert_eq!(flow.nodes[1].binary(), Some("plant-sim"));
        assert_eq!(flow.nodes[2].binary(), None);
    }

    #[test]
    fn a_file_without_nodes_is_refused_naming_the_key() {
        let err = Dataflow::parse("f.yml", "env: {}\n").unwrap_err();
        assert!(err.to_string().contains("nodes"), "{err}");
        let err = Dataflow::parse("f.yml", "nodes:\n  - path: x\n").unwrap_err();
        assert!(err.to_string().contains("id"), "{err}");
    }
}
