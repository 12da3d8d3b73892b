//! `opcua-source`: which OPC UA server to read and which nodes become which tags.

use super::env::{ConfigError, EnvReader, EnvVars};

/// One OPC UA node read as one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSpec {
    /// Tag name in readings, e.g. `spindle_temperature`.
    pub tag: String,
    /// OPC UA node id in its text form, e.g. `ns=2;s=Cell1.SpindleTemperature`.
    pub node_id: String,
    /// Engineering unit attached to readings, if any.
    pub unit: Option<String>,
}

/// Settings of the OPC UA source.
#[derive(Debug, Clone, PartialEq)]
pub struct OpcuaSourceConfig {
    /// Server endpoint (`OPCUA_ENDPOINT`, `opc.tcp://host:port/...`, required).
    pub endpoint: String,
    /// Tags to subscribe to (`OPCUA_TAGS`, one per line: `<tag> <node-id> [unit]`, required).
    pub tags: Vec<TagSpec>,
    /// Subscription publishing interval (`OPCUA_PUBLISH_INTERVAL_MS`, default 250).
    pub publish_interval_ms: u64,
    /// Longest wait between reconnect attempts (`OPCUA_RECONNECT_MAX_MS`, default 5000).
    pub reconnect_max_ms: u64,
}

impl OpcuaSourceConfig {
    /// Parses and validates the source's settings.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("opcua-source", vars);
        let endpoint = env
            .required_string("OPCUA_ENDPOINT", "an opc.tcp:// URL")
            .unwrap_or_default();
        if !endpoint.is_empty() && !endpoint.starts_with("opc.tcp://") {
            env.invalid("OPCUA_ENDPOINT", &endpoint, "an opc.tcp:// URL");
        }
        let tags_text = env
            .required_string("OPCUA_TAGS", "lines of `<tag> <node-id> [unit]`")
            .unwrap_or_default();
        let mut tags = Vec::new();
        for line in tags_text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match parse_tag_line(line) {
                Some(tag) if tags.iter().any(|t: &TagSpec| t.tag == tag.tag) => {
                    env.invalid("OPCUA_TAGS", line, "lines with distinct tag names")
                }
                Some(tag) => tags.push(tag),
                None => env.invalid(
                    "OPCUA_TAGS",
                    line,
                    "`<tag> <node-id> [unit]` with a node id like ns=2;s=Name or ns=2;i=7",
                ),
            }
        }
        let publish_interval_ms =
            env.parsed_or("OPCUA_PUBLISH_INTERVAL_MS", 250u64, "milliseconds in 10..=60000", |v| {
                (10..=60_000).contains(v)
            });
        let reconnect_max_ms =
            env.parsed_or("OPCUA_RECONNECT_MAX_MS", 5_000u64, "milliseconds in 100..=600000", |v| {
                (100..=600_000).contains(v)
            });
        env.finish(&["OPCUA_"])?;
        Ok(Self {
            endpoint,
            tags,
            publish_interval_ms,
            reconnect_max_ms,
        })
    }
}

fn parse_tag_line(line: &str) -> Option<TagSpec> {
    let mut parts = line.split_whitespace();
    let tag = parts.next()?;
    let node_id = parts.next()?;
    let unit = parts.next();
    if parts.next().is_some() || !looks_like_node_id(node_id) {
        return None;
    }
    let tag_ok = tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    tag_ok.then(|| TagSpec {
        tag: tag.to_owned(),
        node_id: node_id.to_owned(),
        unit: unit.map(str::to_owned),
    })
}

/// A cheap syntax check; the OPC UA client does the full parse.
fn looks_like_node_id(text: &str) -> bool {
    let identifier = match text.split_once(';') {
        // Namespace URIs (`nsu=`) are not resolved yet; only indices.
        Some((ns, rest)) if ns.starts_with("ns=") => rest,
        Some(_) => return false,
        None => text,
    };
    ["i=", "s=", "g=", "b="]
        .iter()
        .any(|kind| identifier.len() > 2 && identifier.starts_with(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(tags: &str) -> EnvVars {
        EnvVars::from([
            ("OPCUA_ENDPOINT".into(), "opc.tcp://127.0.0.1:4840/".into()),
            ("OPCUA_TAGS".into(), tags.into()),
        ])
    }

    #[test]
    fn tag_lines_give_tag_node_and_unit() {
        let cfg = OpcuaSourceConfig::from_env(&env(
            "spindle_temperature ns=2;s=Cell1.SpindleTemperature °C\npart_count ns=2;i=7\n",
        ))
        .unwrap();
        assert_eq!(
            cfg.tags,
            vec![
                TagSpec {
                    tag: "spindle_temperature".into(),
                    node_id: "ns=2;s=Cell1.SpindleTemperature".into(),
                    unit: Some("°C".into())
                },
                TagSpec { tag: "part_count".into(), node_id: "ns=2;i=7".into(), unit: None },
            ]
        );
    }

    #[test]
    fn a_bad_node_id_names_opcua_tags_and_the_line() {
        let err = OpcuaSourceConfig::from_env(&env("speed SpindleSpeed rpm")).unwrap_err();
        assert!(err.names_field("OPCUA_TAGS"), "{err}");
        assert!(err.to_string().contains("speed SpindleSpeed rpm"), "{err}");
    }

    #[test]
    fn a_duplicate_tag_is_rejected() {
        let err = OpcuaSourceConfig::from_env(&env("a ns=2;i=1\na ns=2;i=2")).unwrap_err();
        assert!(err.to_string().contains("distinct tag names"), "{err}");
    }

    #[test]
    fn a_missing_endpoint_is_named() {
        let vars = EnvVars::from([("OPCUA_TAGS".into(), "a ns=2;i=1".into())]);
        let err = OpcuaSourceConfig::from_env(&vars).unwrap_err();
        assert!(err.names_field("OPCUA_ENDPOINT"), "{err}");
    }

    #[test]
    fn an_http_endpoint_is_rejected() {
        let mut vars = env("a ns=2;i=1");
        vars.insert("OPCUA_ENDPOINT".into(), "http://plc:4840".into());
        let err = OpcuaSourceConfig::from_env(&vars).unwrap_err();
        assert!(err.to_string().contains("http://plc:4840"), "{err}");
    }
}
