//! `node/output`, as a dataflow names an output, and the lists of them the
//! recorder and replayer nodes and the replay harness read.

use std::collections::BTreeMap;

/// `node/output`, as a dataflow names an output.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutputRef {
    pub node: String,
    /// Output id of that node.
    pub output: String,
}

impl std::fmt::Display for OutputRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.node, self.output)
    }
}

/// A dora node or output id: letters, digits, `_`, `-`, `.` (what dora's
/// YAML accepts).
pub fn is_dora_id(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl std::str::FromStr for OutputRef {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        let (node, output) = text.trim().split_once('/').ok_or(())?;
        (is_dora_id(node) && is_dora_id(output))
            .then(|| OutputRef { node: node.into(), output: output.into() })
            .ok_or(())
    }
}

/// `key=node/output, key=node/output` (keys are dora ids); `None` when any
/// entry is malformed.
pub fn output_pairs(text: &str) -> Option<BTreeMap<String, OutputRef>> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (key, value) = entry.split_once('=')?;
            let key = key.trim();
            is_dora_id(key).then_some(())?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// dora's `DORA_RECORD_TOPICS`: a JSON object `{"input": "node/output"}`.
pub fn json_output_pairs(text: &str) -> Option<BTreeMap<String, OutputRef>> {
    let map: BTreeMap<String, String> = serde_json::from_str(text).ok()?;
    map.into_iter().map(|(k, v)| Some((k, v.parse().ok()?))).collect()
}
