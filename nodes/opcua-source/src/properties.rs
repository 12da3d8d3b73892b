//! Engineering units and EURange read from the server: a tag that configures
//! no unit takes its node's `EngineeringUnits` property, and every tag's
//! readings carry its node's `EURange` (`eu_low`/`eu_high`), so downstream
//! nodes know the value's scale. Alarm limits stay those configured.
//!
//! They are read at connect, and again when the server announces a model
//! change (or after a reconnect, when it may have restarted with another
//! address space): [`RefreshedProperties`] then overrides what each tag's
//! readings carried since connecting.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use opcua::client::Session;
use opcua::types::{
    AttributeId, BrowseDescription, BrowseDirection, BrowseResultMask, EUInformation, NodeClass, NodeId, Range,
    ReadValueId, ReferenceTypeId, TimestampsToReturn, Variant,
};

use crate::tags::MonitoredTag;
use shopfloor_core::schema::Reading;

/// Nodes per Browse or Read request, well inside common server limits.
const PER_REQUEST: usize = 500;

/// What a node's properties say about its value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeProperties {
    /// `EngineeringUnits` display name.
    pub unit: Option<String>,
    /// `EURange` low and high.
    pub range: Option<(f64, f64)>,
}

impl NodeProperties {
    /// Gives `tag` the server's unit where it configures none, and the range.
    pub fn fill(&self, tag: &mut MonitoredTag) {
        if tag.spec.unit.is_none() {
            tag.spec.unit = self.unit.clone();
        }
        if self.range.is_some() {
            tag.eu_range = self.range;
        }
    }
}

/// What a tag's readings say about it beside the value: unit, description
/// and EURange, as configured or read from the server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagProperties {
    pub unit: Option<String>,
    pub description: Option<String>,
    pub eu_range: Option<(f64, f64)>,
}

impl TagProperties {
    /// The properties `tag` gives its readings.
    pub fn of(tag: &MonitoredTag) -> Self {
        Self { unit: tag.spec.unit.clone(), description: tag.spec.description.clone(), eu_range: tag.eu_range }
    }

    fn apply(&self, reading: &mut Reading) {
        reading.unit.clone_from(&self.unit);
        reading.description.clone_from(&self.description);
        (reading.eu_low, reading.eu_high) = self.eu_range.unzip();
    }
}

/// The properties re-read after the server's last model change, by tag name;
/// empty until the first one. Shared between the re-reading task and the
/// data-change callback, which only holds the read lock for a map lookup.
#[derive(Debug, Clone, Default)]
pub struct RefreshedProperties(Arc<RwLock<HashMap<String, TagProperties>>>);

impl RefreshedProperties {
    /// Gives `reading` its tag's re-read properties, if there are any.
    pub fn apply(&self, reading: &mut Reading) {
        let table = self.0.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(properties) = table.get(&reading.tag) {
            properties.apply(reading);
        }
    }

    /// Replaces the table with `tags`' properties; returns the names of the
    /// tags whose properties differ from `before` (what they had until now).
    pub fn replace(&self, tags: &[MonitoredTag], before: &HashMap<String, TagProperties>) -> Vec<String> {
        let fresh: HashMap<String, TagProperties> =
            tags.iter().map(|tag| (tag.spec.tag.clone(), TagProperties::of(tag))).collect();
        let mut changed: Vec<String> =
            fresh.iter().filter(|(tag, now)| before.get(*tag) != Some(now)).map(|(tag, _)| tag.clone()).collect();
        changed.sort();
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        changed
    }

    /// The table as it is now.
    pub fn snapshot(&self) -> HashMap<String, TagProperties> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// The unit text of an `EUInformation` value: its display name, if any.
pub fn unit_text(value: &Variant) -> Option<String> {
    let Variant::ExtensionObject(object) = value else { return None };
    let units = object.inner_as::<EUInformation>()?;
    let text = units.display_name.text.as_ref().trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// The low and high of a `Range` value, when both are finite and ordered.
pub fn range_of(value: &Variant) -> Option<(f64, f64)> {
    let Variant::ExtensionObject(object) = value else { return None };
    let range = object.inner_as::<Range>()?;
    (range.low.is_finite() && range.high.is_finite() && range.low < range.high).then_some((range.low, range.high))
}

/// Reads `EngineeringUnits` and `EURange` of every tag's node and fills them
/// in. Nodes without these properties keep what they have; only a failed
/// request is an error.
pub async fn fill_from_server(session: &Session, tags: &mut [MonitoredTag]) -> Result<usize, opcua::types::Error> {
    let wanted: Vec<usize> = (0..tags.len()).filter(|&i| !tags[i].node_id.is_null()).collect();
    // (tag index, property name, property node)
    let mut found: Vec<(usize, String, NodeId)> = Vec::new();
    for chunk in wanted.chunks(PER_REQUEST) {
        let descriptions: Vec<BrowseDescription> = chunk
            .iter()
            .map(|&i| BrowseDescription {
                node_id: tags[i].node_id.clone(),
                browse_direction: BrowseDirection::Forward,
                reference_type_id: NodeId::from(ReferenceTypeId::HasProperty),
                include_subtypes: false,
                node_class_mask: NodeClass::Variable as u32,
                result_mask: BrowseResultMask::BrowseName as u32,
            })
            .collect();
        let results = session.browse(&descriptions, 100, None).await?;
        for (&i, result) in chunk.iter().zip(results) {
            for reference in result.references.unwrap_or_default() {
                let name = reference.browse_name.name.as_ref();
                if name == "EngineeringUnits" || name == "EURange" {
                    found.push((i, name.to_owned(), reference.node_id.node_id));
                }
            }
        }
    }
    let mut filled = 0;
    for chunk in found.chunks(PER_REQUEST) {
        let reads: Vec<ReadValueId> = chunk
            .iter()
            .map(|(_, _, node)| ReadValueId {
                node_id: node.clone(),
                attribute_id: AttributeId::Value as u32,
                ..Default::default()
            })
            .collect();
        let values = session.read(&reads, TimestampsToReturn::Neither, 0.0).await?;
        for ((i, name, _), value) in chunk.iter().zip(values) {
            let Some(value) = value.value else { continue };
            let properties = match name.as_str() {
                "EngineeringUnits" => NodeProperties { unit: unit_text(&value), range: None },
                _ => NodeProperties { unit: None, range: range_of(&value) },
            };
            if properties != NodeProperties::default() {
                properties.fill(&mut tags[*i]);
                filled += 1;
            }
        }
    }
    // The node's Description, for tags whose line gives none: what lets the
    // assistant find `TT_4711` when asked for the reactor temperature.
    let undescribed: Vec<usize> = wanted.into_iter().filter(|&i| tags[i].spec.description.is_none()).collect();
    let nodes: Vec<NodeId> = undescribed.iter().map(|&i| tags[i].node_id.clone()).collect();
    for (i, description) in undescribed.into_iter().zip(descriptions(session, &nodes).await?) {
        // Many servers describe a node by its own name ("Temperature"): that
        // says nothing the tag name does not.
        let tag_tail = tags[i].spec.tag.rsplit('.').next().unwrap_or_default().replace('_', "");
        let description = description.filter(|d| !d.replace([' ', '_'], "").eq_ignore_ascii_case(&tag_tail));
        if description.is_some() {
            tags[i].spec.description = description;
            filled += 1;
        }
    }
    Ok(filled)
}

/// The `Description` attribute of each node (`None` where empty or absent).
pub async fn descriptions(session: &Session, nodes: &[NodeId]) -> Result<Vec<Option<String>>, opcua::types::Error> {
    let mut found = Vec::with_capacity(nodes.len());
    for chunk in nodes.chunks(PER_REQUEST) {
        let reads: Vec<ReadValueId> = chunk
            .iter()
            .map(|node| ReadValueId {
                node_id: node.clone(),
                attribute_id: AttributeId::Description as u32,
                ..Default::default()
            })
            .collect();
        let values = session.read(&reads, TimestampsToReturn::Neither, 0.0).await?;
        found.extend(values.into_iter().map(|value| value.value.as_ref().and_then(description_text)));
    }
    found.resize(nodes.len(), None);
    Ok(found)
}

/// The text of a `Description` value, on one line.
pub fn description_text(value: &Variant) -> Option<String> {
    let text = match value {
        Variant::LocalizedText(text) => text.text.as_ref().to_owned(),
        Variant::String(text) => text.as_ref().to_owned(),
        _ => return None,
    };
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!one_line.is_empty()).then_some(one_line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TagSpec;
    use opcua::types::ExtensionObject;

    fn spec() -> TagSpec {
        TagSpec {
            tag: "t".into(),
            node_id: "ns=2;i=1".into(),
            unit: None,
            low_limit: None,
            high_limit: None,
            monitoring: Default::default(),
            description: None,
        }
    }

    #[test]
    fn the_server_unit_fills_only_an_unset_one_and_the_range_never_touches_the_limits() {
        let server = NodeProperties { unit: Some("°C".into()), range: Some((0.0, 150.0)) };
        let tag = |spec: TagSpec| crate::tags::parse_tags(&[spec]).unwrap().remove(0);
        let mut bare = tag(spec());
        server.fill(&mut bare);
        assert_eq!((bare.spec.unit.as_deref(), bare.eu_range), (Some("°C"), Some((0.0, 150.0))));
        assert_eq!((bare.spec.low_limit, bare.spec.high_limit), (None, None));
        let mut configured = tag(TagSpec { unit: Some("degC".into()), high_limit: Some(80.0), ..spec() });
        server.fill(&mut configured);
        assert_eq!((configured.spec.unit.as_deref(), configured.spec.high_limit), (Some("degC"), Some(80.0)));
    }

    #[test]
    fn re_read_properties_replace_what_readings_carried_and_name_the_changed_tags() {
        let tag = |name: &str, description: &str, range| {
            let mut tag = crate::tags::parse_tags(&[TagSpec {
                tag: name.into(),
                description: Some(description.into()),
                ..spec()
            }])
            .unwrap()
            .remove(0);
            tag.eu_range = range;
            tag
        };
        let at_connect = [tag("a", "Platen temperature", None), tag("b", "Spindle speed", None)];
        let before: HashMap<String, TagProperties> =
            at_connect.iter().map(|t| (t.spec.tag.clone(), TagProperties::of(t))).collect();
        let refreshed = RefreshedProperties::default();
        let mut reading = Reading {
            description: Some("Platen temperature".into()),
            ..Reading::good(
                "opc.tcp://plc",
                "a".into(),
                shopfloor_core::schema::ReadingValue::Number(1.0),
                None,
                None,
                0,
            )
        };
        refreshed.apply(&mut reading);
        assert_eq!(reading.description.as_deref(), Some("Platen temperature"), "nothing re-read yet");

        let after = [tag("a", "Mould temperature", Some((0.0, 250.0))), tag("b", "Spindle speed", None)];
        assert_eq!(refreshed.replace(&after, &before), ["a"]);
        refreshed.apply(&mut reading);
        assert_eq!(reading.description.as_deref(), Some("Mould temperature"));
        assert_eq!((reading.eu_low, reading.eu_high), (Some(0.0), Some(250.0)));
        assert_eq!(refreshed.replace(&after, &refreshed.snapshot()), Vec::<String>::new());
    }

    #[test]
    fn descriptions_are_read_as_one_line_of_text() {
        let text =
            Variant::LocalizedText(Box::new(opcua::types::LocalizedText::new("en", "Reactor jacket\n outlet  temp")));
        assert_eq!(description_text(&text).as_deref(), Some("Reactor jacket outlet temp"));
        assert_eq!(description_text(&Variant::String("".into())), None);
        assert_eq!(description_text(&Variant::Double(1.0)), None);
    }

    #[test]
    fn ranges_and_units_are_read_from_their_extension_objects() {
        let range = Variant::ExtensionObject(ExtensionObject::from_message(Range { low: -5.0, high: 95.0 }));
        assert_eq!(range_of(&range), Some((-5.0, 95.0)));
        let upside_down = Variant::ExtensionObject(ExtensionObject::from_message(Range { low: 5.0, high: -5.0 }));
        assert_eq!(range_of(&upside_down), None);
        assert_eq!(range_of(&Variant::Double(1.0)), None);
        let units = EUInformation { display_name: "mm/s".into(), ..Default::default() };
        assert_eq!(unit_text(&Variant::ExtensionObject(ExtensionObject::from_message(units))).as_deref(), Some("mm/s"));
    }
}
