//! The recorder's settings: where the recording goes and which output
//! each input records as.
//!
//! It also reads the variables the dora CLI's `dora record` sets for its
//! injected node (`DORA_RECORD_FILE`, `DORA_RECORD_TOPICS`), so that the CLI
//! can use this node as its own; ours win when both are set.

use std::collections::BTreeMap;
use std::path::PathBuf;

use recording::output_ref::{json_output_pairs, output_pairs, OutputRef};
use shopfloor_core::env::{ConfigError, EnvReader, EnvVars};

/// Settings of the recorder node.
#[derive(Debug, Clone, PartialEq)]
pub struct RecorderConfig {
    /// The `.drec` file to write (`RECORD_FILE`, required; its folder is
    /// created; an existing file is replaced).
    pub file: PathBuf,
    /// Which sender each input records as (`RECORD_TOPICS`,
    /// `input=node/output, ...`); inputs not listed record as the output
    /// the dataflow maps them to.
    pub topics: BTreeMap<String, OutputRef>,
    /// The dataflow YAML to store in the file's header (`DORA_RECORD_DESCRIPTOR`).
    pub descriptor_yaml: String,
}

impl RecorderConfig {
    /// Parses and validates the node's settings.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("recorder", vars);
        let dora_file = env.optional_string("DORA_RECORD_FILE");
        let file = match env.optional_string("RECORD_FILE").or(dora_file) {
            Some(text) => PathBuf::from(text),
            None => {
                env.required_string("RECORD_FILE", "the .drec file to write");
                PathBuf::new()
            }
        };
        let mut topics = BTreeMap::new();
        if let Some(text) = env.optional_string("DORA_RECORD_TOPICS") {
            match json_output_pairs(&text) {
                Some(map) => topics.extend(map),
                None => env.invalid("DORA_RECORD_TOPICS", &text, "a JSON object {\"input\": \"node/output\"}"),
            }
        }
        if let Some(text) = env.optional_string("RECORD_TOPICS") {
            match output_pairs(&text) {
                Some(map) => topics.extend(map),
                None => env.invalid("RECORD_TOPICS", &text, "`input=node/output` entries separated by commas"),
            }
        }
        let descriptor_yaml = env.optional_string("DORA_RECORD_DESCRIPTOR").unwrap_or_default();
        env.finish(&["RECORD_"])?;
        Ok(Self { file, topics, descriptor_yaml })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(entries: &[(&str, &str)]) -> EnvVars {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn recorder_takes_its_own_and_doras_names() {
        let config = RecorderConfig::from_env(&vars(&[
            ("RECORD_FILE", "out/a.drec"),
            ("RECORD_TOPICS", "answers=router/answers, alerts=limit-alarms/alerts"),
        ]))
        .unwrap();
        assert_eq!(config.file, PathBuf::from("out/a.drec"));
        assert_eq!(config.topics["alerts"].to_string(), "limit-alarms/alerts");
        let dora = RecorderConfig::from_env(&vars(&[
            ("DORA_RECORD_FILE", "b.drec"),
            ("DORA_RECORD_TOPICS", r#"{"cam__image": "cam/image"}"#),
        ]))
        .unwrap();
        assert_eq!(dora.file, PathBuf::from("b.drec"));
        assert_eq!(dora.topics["cam__image"].node, "cam");
    }

    #[test]
    fn recorder_mistakes_name_the_field() {
        assert!(RecorderConfig::from_env(&vars(&[])).unwrap_err().names_field("RECORD_FILE"));
        let bad = vars(&[("RECORD_FILE", "a"), ("RECORD_TOPICS", "answers=router")]);
        assert!(RecorderConfig::from_env(&bad).unwrap_err().names_field("RECORD_TOPICS"));
        let typo = vars(&[("RECORD_FILE", "a"), ("RECORD_TOPIC", "x")]);
        assert!(RecorderConfig::from_env(&typo).unwrap_err().names_field("RECORD_TOPIC"));
    }
}
