//! The configured tags with their node ids parsed by the OPC UA library: pure.

use crate::config::TagSpec;
use opcua::types::NodeId;

/// A configured tag whose node id text is a valid OPC UA node id.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitoredTag {
    /// The tag as configured.
    pub spec: TagSpec,
    /// Its node id, parsed; for an `nsu=` node id the namespace index is set
    /// by [`resolve_namespace`] once the server's namespace table is known.
    pub node_id: NodeId,
    /// The namespace URI of an `nsu=` node id.
    pub namespace_uri: Option<String>,
    /// The browse names from Objects down to the node, for a tag given by
    /// path (`/Cell1/SpindleTemperature`); resolved once connected.
    pub browse_path: Option<Vec<String>>,
    /// The node's `EURange` (low, high), read from the server once connected.
    pub eu_range: Option<(f64, f64)>,
}

impl MonitoredTag {
    /// The reading for a data change of this tag's node, with the node's
    /// EURange when the server has one.
    pub fn reading(
        &self,
        source: &str,
        data_value: &opcua::types::DataValue,
        received_ts_ms: i64,
    ) -> Result<shopfloor_core::schema::Reading, crate::convert::Unconvertible> {
        let mut reading = crate::convert::to_reading(source, &self.spec, data_value, received_ts_ms)?;
        if let Some((low, high)) = self.eu_range {
            reading.eu_low = Some(low);
            reading.eu_high = Some(high);
        }
        Ok(reading)
    }

    /// Sets the namespace index of an `nsu=` node id from the server's table
    /// (`index_of(uri)`); an unknown URI gets the null node id, which the
    /// server refuses for this tag alone. Returns the URI when it was unknown.
    pub fn resolve_namespace(&mut self, index_of: impl Fn(&str) -> Option<u16>) -> Option<String> {
        let uri = self.namespace_uri.as_deref()?;
        match index_of(uri) {
            Some(index) => {
                self.node_id.namespace = index;
                None
            }
            None => {
                self.node_id = NodeId::null();
                Some(uri.to_owned())
            }
        }
    }
}

/// A tag whose node id the OPC UA library cannot parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "tag `{tag}` has node id {node_id:?}, which is not a valid OPC UA node id \
     (expected e.g. ns=2;s=Cell1.SpindleTemperature or ns=2;i=7; OPCUA_TAGS)"
)]
pub struct InvalidNodeId {
    pub tag: String,
    /// The node id text as configured.
    pub node_id: String,
}

/// Parses every tag's node id; the first bad one is an error naming its tag.
pub fn parse_tags(specs: &[TagSpec]) -> Result<Vec<MonitoredTag>, InvalidNodeId> {
    specs
        .iter()
        .map(|spec| {
            let invalid = || InvalidNodeId { tag: spec.tag.clone(), node_id: spec.node_id.clone() };
            if let Some(path) = spec.node_id.strip_prefix('/') {
                let names: Vec<String> = path.split('/').map(str::to_owned).collect();
                if names.iter().any(String::is_empty) {
                    return Err(invalid());
                }
                // The null node id until the path is resolved on the server.
                return Ok(MonitoredTag {
                    spec: spec.clone(),
                    node_id: NodeId::null(),
                    namespace_uri: None,
                    browse_path: Some(names),
                    eu_range: None,
                });
            }
            let (namespace_uri, text) = match split_namespace_uri(&spec.node_id) {
                Some((uri, identifier)) => (Some(uri.to_owned()), format!("ns=0;{identifier}")),
                None => (None, spec.node_id.clone()),
            };
            let node_id = text.parse::<NodeId>().map_err(|_| invalid())?;
            Ok(MonitoredTag { spec: spec.clone(), node_id, namespace_uri, browse_path: None, eu_range: None })
        })
        .collect()
}

/// `nsu=<uri>;<identifier>` split into the URI and the identifier (`s=...`,
/// `i=...`, `g=...`, `b=...`); the last `;` before an identifier kind ends
/// the URI, since URIs may hold `;` themselves.
fn split_namespace_uri(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("nsu=")?;
    let cut = rest
        .rmatch_indices(';')
        .map(|(at, _)| at)
        .find(|&at| ["s=", "i=", "g=", "b="].iter().any(|kind| rest[at + 1..].starts_with(kind)))?;
    Some((&rest[..cut], &rest[cut + 1..])).filter(|(uri, _)| !uri.is_empty())
}

/// The client handle of the monitored item for `tags[index]`; handles start at 1
/// because the library treats 0 as "assign one for me".
pub fn client_handle(index: usize) -> u32 {
    u32::try_from(index).map_or(u32::MAX, |i| i.saturating_add(1))
}

/// The tag whose monitored item has `handle`, if any.
pub fn tag_for_handle(tags: &[MonitoredTag], handle: u32) -> Option<&MonitoredTag> {
    let index = usize::try_from(handle.checked_sub(1)?).ok()?;
    tags.get(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(tag: &str, node_id: &str) -> TagSpec {
        TagSpec {
            tag: tag.into(),
            node_id: node_id.into(),
            unit: None,
            low_limit: None,
            high_limit: None,
            monitoring: Default::default(),
            description: None,
        }
    }

    #[test]
    fn string_and_numeric_node_ids_parse() {
        let tags = parse_tags(&[spec("a", "ns=2;s=Cell1.SpindleTemperature"), spec("b", "ns=2;i=7")]).unwrap();
        assert_eq!(tags[0].node_id, NodeId::new(2, "Cell1.SpindleTemperature"));
        assert_eq!(tags[1].node_id, NodeId::new(2, 7u32));
    }

    #[test]
    fn namespace_uris_resolve_against_the_servers_table() {
        let mut tags = parse_tags(&[
            spec("a", "nsu=urn:shopfloor-slm:plant-sim;s=Cell1.SpindleTemperature"),
            spec("b", "nsu=http://vendor.example/UA;v=2;i=7"),
            spec("c", "nsu=urn:unknown;s=X"),
        ])
        .unwrap();
        let table = |uri: &str| match uri {
            "urn:shopfloor-slm:plant-sim" => Some(2),
            "http://vendor.example/UA;v=2" => Some(5),
            _ => None,
        };
        let unknown: Vec<Option<String>> = tags.iter_mut().map(|t| t.resolve_namespace(table)).collect();
        assert_eq!(tags[0].node_id, NodeId::new(2, "Cell1.SpindleTemperature"));
        assert_eq!(tags[1].node_id, NodeId::new(5, 7u32));
        assert!(tags[2].node_id.is_null());
        assert_eq!(unknown, [None, None, Some("urn:unknown".to_owned())]);
    }

    #[test]
    fn a_browse_path_waits_for_the_server() {
        let tags = parse_tags(&[spec("t", "/Cell1/SpindleTemperature")]).unwrap();
        assert_eq!(tags[0].browse_path.as_deref(), Some(&["Cell1".to_owned(), "SpindleTemperature".to_owned()][..]));
        assert!(tags[0].node_id.is_null());
        assert!(parse_tags(&[spec("t", "/Cell1//X")]).is_err());
    }

    #[test]
    fn an_unparsable_node_id_names_the_tag() {
        let err = parse_tags(&[spec("ok", "ns=2;i=1"), spec("speed", "ns=x;s=Speed")]).unwrap_err();
        assert_eq!(err.tag, "speed");
        assert!(err.to_string().contains("`speed`") && err.to_string().contains("ns=x;s=Speed"), "{err}");
    }

    #[test]
    fn client_handles_map_back_to_their_tags() {
        let tags = parse_tags(&[spec("a", "ns=2;i=1"), spec("b", "ns=2;i=2")]).unwrap();
        for (index, tag) in tags.iter().enumerate() {
            assert_eq!(tag_for_handle(&tags, client_handle(index)), Some(tag));
        }
        assert_eq!(tag_for_handle(&tags, 0), None);
        assert_eq!(tag_for_handle(&tags, 3), None);
    }
}
