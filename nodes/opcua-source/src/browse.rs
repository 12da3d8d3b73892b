//! `shopfloor opcua browse <endpoint>`: walks the server's address space from
//! the Objects folder and prints every variable as an `OPCUA_TAGS` line, with
//! its engineering unit when the server has one and its description as a
//! `# comment` (which the node reads as the tag's description), ready to
//! paste into the dataflow YAML.
//!
//! The walk is bounded (depth and node count), skips namespace 0 (the
//! server's own diagnostics), and follows hierarchical references; a
//! variable's `HasProperty` children are read for the unit, never listed.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use crate::config::OpcuaClientSecurity;
use dora_node_api::futures::StreamExt;
use opcua::client::Session;
use opcua::types::{
    AttributeId, BrowseDescription, BrowseDirection, BrowseResultMask, NodeClass, NodeId, ReadValueId,
    ReferenceDescription, ReferenceTypeId, TimestampsToReturn,
};

use crate::client::{
    client_builder, needs_discovery, plain_endpoint, usable_endpoint, ClientConfigProblems, ClientOptions,
};
use crate::security::{EndpointProblem, IdentityError};

/// Deepest folder level walked below Objects.
const MAX_DEPTH: usize = 12;
/// Most nodes visited; a larger address space is cut off with a note.
const MAX_NODES: usize = 20_000;
/// Longest wait for the first connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait between the (three) connection attempts.
const RETRY_MAX: Duration = Duration::from_secs(2);

/// A variable found by the walk.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowsedVariable {
    /// Browse names from below Objects down to the variable.
    pub path: Vec<String>,
    pub node_id: NodeId,
    /// Display name of its `EngineeringUnits` property, if it has one.
    pub unit: Option<String>,
    /// Its `Description` attribute, if the server gives one.
    pub description: Option<String>,
}

/// Why browsing failed.
#[derive(Debug, thiserror::Error)]
pub enum BrowseError {
    #[error(transparent)]
    Setup(#[from] ClientConfigProblems),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("cannot connect to {endpoint}")]
    Connect {
        endpoint: String,
        #[source]
        source: opcua::types::Error,
    },
    /// No connection within the time limit.
    #[error("no connection to {endpoint} within {seconds} s (is the server running, and is the URL right?)")]
    Unreachable { endpoint: String, seconds: u64 },
    /// The endpoint list could not be read.
    #[error("no connection to {endpoint} (is the server running, and is the URL right?)")]
    NoEndpoints {
        endpoint: String,
        #[source]
        source: EndpointProblem,
    },
    /// No endpoint with the configured security, or an untrusted server.
    #[error("cannot connect securely")]
    Security(#[source] EndpointProblem),
    /// The server refused a browse or read.
    #[error("the server refused to browse")]
    Refused(#[source] opcua::types::Error),
}

/// What the walk found, and whether it stopped at a bound.
#[derive(Debug, Default)]
pub struct Walk {
    /// Variables in the order found.
    pub variables: Vec<BrowsedVariable>,
    /// Set when `MAX_NODES` or `MAX_DEPTH` cut the walk short.
    pub truncated: bool,
}

/// Connects to `endpoint` with `security` (as the node would) and walks it.
pub async fn browse(
    endpoint: &str,
    security: &OpcuaClientSecurity,
    options: ClientOptions,
) -> Result<Walk, BrowseError> {
    let pki_dir = security.pki_dir.clone().unwrap_or(options.pki_dir);
    let mut client = client_builder(security, pki_dir, RETRY_MAX)
        .application_name("Shopfloor SLM opcua-source (browse)")
        .session_retry_limit(3)
        .client()
        .map_err(ClientConfigProblems)?;
    let identity = crate::security::identity_token(&security.identity)?;
    let description = if needs_discovery(security) {
        usable_endpoint(&client, endpoint, security).await.map_err(|problem| {
            if problem.is_unreachable() {
                BrowseError::NoEndpoints { endpoint: endpoint.to_owned(), source: problem }
            } else {
                BrowseError::Security(problem)
            }
        })?
    } else {
        plain_endpoint(endpoint)
    };
    let (session, event_loop) = client
        .connect_to_endpoint_directly(description, identity)
        .map_err(|source| BrowseError::Connect { endpoint: endpoint.to_owned(), source })?;
    let driver = tokio::spawn(async move {
        let events = event_loop.enter();
        tokio::pin!(events);
        while events.next().await.is_some() {}
    });
    let unreachable = || BrowseError::Unreachable { endpoint: endpoint.to_owned(), seconds: CONNECT_TIMEOUT.as_secs() };
    let walk = match tokio::time::timeout(CONNECT_TIMEOUT, session.wait_for_connection()).await {
        Ok(true) => walk(&session).await,
        Ok(false) | Err(_) => Err(unreachable()),
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), session.disconnect()).await;
    driver.abort();
    walk
}

async fn walk(session: &Arc<Session>) -> Result<Walk, BrowseError> {
    let mut found = Walk::default();
    let mut queue = VecDeque::from([(NodeId::objects_folder_id(), Vec::<String>::new())]);
    let mut seen = HashSet::new();
    while let Some((node, path)) = queue.pop_front() {
        if seen.len() >= MAX_NODES {
            found.truncated = true;
            break;
        }
        if !seen.insert(node.clone()) {
            continue;
        }
        let children = children(session, &node).await?;
        let unit = match path.is_empty() {
            true => None,
            false => engineering_units(session, &children).await,
        };
        if let Some(variable) = found.variables.iter_mut().find(|v| v.node_id == node) {
            variable.unit = unit;
        }
        for child in children {
            let child_id = child.node_id.node_id.clone();
            if child_id.namespace == 0 || is_property(&child) {
                continue;
            }
            let mut child_path = path.clone();
            child_path.push(child.browse_name.name.to_string());
            if child_path.len() > MAX_DEPTH {
                found.truncated = true;
                continue;
            }
            if child.node_class == NodeClass::Variable && !found.variables.iter().any(|v| v.node_id == child_id) {
                found.variables.push(BrowsedVariable {
                    path: child_path.clone(),
                    node_id: child_id.clone(),
                    unit: None,
                    description: None,
                });
            }
            queue.push_back((child_id, child_path));
        }
    }
    let nodes: Vec<NodeId> = found.variables.iter().map(|v| v.node_id.clone()).collect();
    // Descriptions are a help, not a must: a server that refuses them still gets its lines.
    if let Ok(descriptions) = crate::properties::descriptions(session, &nodes).await {
        for (variable, description) in found.variables.iter_mut().zip(descriptions) {
            variable.description = description;
        }
    }
    Ok(found)
}

/// The node at `path` (browse names from Objects down), matching each level's
/// browse name in any namespace; `None` when a level has no such child.
pub async fn resolve_path(session: &Session, path: &[String]) -> Result<Option<NodeId>, BrowseError> {
    let mut node = NodeId::objects_folder_id();
    for name in path {
        let children = children(session, &node).await?;
        match children.into_iter().find(|child| child.browse_name.name.as_ref() == name.as_str()) {
            Some(child) => node = child.node_id.node_id,
            None => return Ok(None),
        }
    }
    Ok(Some(node))
}

/// Forward hierarchical references of `node` (objects and variables), all pages.
async fn children(session: &Session, node: &NodeId) -> Result<Vec<ReferenceDescription>, BrowseError> {
    let description = BrowseDescription {
        node_id: node.clone(),
        browse_direction: BrowseDirection::Forward,
        reference_type_id: NodeId::from(ReferenceTypeId::HierarchicalReferences),
        include_subtypes: true,
        node_class_mask: NodeClass::Object as u32 | NodeClass::Variable as u32,
        result_mask: BrowseResultMask::All as u32,
    };
    let refused = BrowseError::Refused;
    let mut results = session.browse(&[description], 1000, None).await.map_err(refused)?;
    let mut references = Vec::new();
    // Bounded: a server hands out at most MAX_NODES references before the walk stops anyway.
    for _ in 0..MAX_NODES {
        let Some(result) = results.pop() else { break };
        references.extend(result.references.unwrap_or_default());
        if result.continuation_point.is_null() || references.len() >= MAX_NODES {
            break;
        }
        results = session.browse_next(false, &[result.continuation_point]).await.map_err(refused)?;
    }
    Ok(references)
}

fn is_property(reference: &ReferenceDescription) -> bool {
    reference.reference_type_id == ReferenceTypeId::HasProperty
}

/// The display name of the `EngineeringUnits` property among `children`.
async fn engineering_units(session: &Session, children: &[ReferenceDescription]) -> Option<String> {
    let property = children.iter().find(|c| is_property(c) && c.browse_name.name.as_ref() == "EngineeringUnits")?;
    let read = ReadValueId {
        node_id: property.node_id.node_id.clone(),
        attribute_id: AttributeId::Value as u32,
        ..Default::default()
    };
    let values = session.read(&[read], TimestampsToReturn::Neither, 0.0).await.ok()?;
    let text = crate::properties::unit_text(&values.into_iter().next()?.value?)?;
    // A tag line's unit is one word.
    (!text.contains(char::is_whitespace)).then_some(text)
}

/// A tag name from a browse path: `["Cell1", "SpindleTemperature"]` →
/// `cell1.spindle_temperature` (camel case to snake case; characters a tag
/// may not hold become `_`).
pub fn tag_name(path: &[String]) -> String {
    path.iter()
        .map(|name| {
            let mut snake = String::new();
            let mut previous: Option<char> = None;
            for c in name.chars() {
                if c.is_uppercase() && previous.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit()) {
                    snake.push('_');
                }
                snake.extend(c.to_lowercase());
                previous = Some(c);
            }
            snake.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The `OPCUA_TAGS` text for `walk`, with a header naming the endpoint.
pub fn tag_lines(endpoint: &str, walk: &Walk) -> String {
    let mut text = format!(
        "# {} variables browsed from {endpoint}; paste into OPCUA_TAGS and rename as you like\n",
        walk.variables.len()
    );
    if walk.truncated {
        text.push_str(&format!(
            "# the walk stopped at {MAX_NODES} nodes or {MAX_DEPTH} levels; list tags below that by hand\n"
        ));
    }
    for variable in &walk.variables {
        text.push_str(&tag_name(&variable.path));
        text.push(' ');
        text.push_str(&variable.node_id.to_string());
        if let Some(unit) = &variable.unit {
            text.push(' ');
            text.push_str(unit);
        }
        // The assistant reads the comment as the tag's description; one that
        // only repeats the node's name (many servers' default) says nothing.
        let repeats_name = |d: &String| variable.path.last().is_some_and(|name| name.eq_ignore_ascii_case(d));
        if let Some(description) = variable.description.as_ref().filter(|d| !repeats_name(d)) {
            text.push_str(" # ");
            text.push_str(description);
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OpcuaSourceConfig;
    use shopfloor_core::env::EnvVars;

    fn path(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn browse_paths_become_snake_case_tag_names() {
        assert_eq!(tag_name(&path(&["Cell1", "SpindleTemperature"])), "cell1.spindle_temperature");
        assert_eq!(tag_name(&path(&["Line 2", "PLC-A", "motorRPM"])), "line_2.plc_a.motor_rpm");
    }

    #[test]
    fn the_printed_lines_are_valid_opcua_tags() {
        let walk = Walk {
            variables: vec![
                BrowsedVariable {
                    path: path(&["Cell1", "SpindleTemperature"]),
                    node_id: NodeId::new(2, "Cell1.SpindleTemperature"),
                    unit: Some("°C".into()),
                    description: Some("Spindle bearing temperature".into()),
                },
                BrowsedVariable {
                    path: path(&["Cell1", "PartCount"]),
                    node_id: NodeId::new(2, 7u32),
                    unit: None,
                    description: None,
                },
            ],
            truncated: false,
        };
        let text = tag_lines("opc.tcp://plc:4840/", &walk);
        assert!(
            text.contains(
                "cell1.spindle_temperature ns=2;s=Cell1.SpindleTemperature °C # Spindle bearing temperature\n"
            ),
            "{text}"
        );
        let vars = EnvVars::from([("OPCUA_ENDPOINT", "opc.tcp://plc:4840/"), ("OPCUA_TAGS", text.as_str())]);
        let config = OpcuaSourceConfig::from_env(&vars).expect("browse output must parse as OPCUA_TAGS");
        assert_eq!(config.tags.len(), 2);
        assert_eq!(config.tags[0].description.as_deref(), Some("Spindle bearing temperature"));
    }
}
