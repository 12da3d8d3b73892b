//! Sparkplug B (Eclipse Tahu specification 3.0) telemetry to readings.
//!
//! Topics: `spBv1.0/<group>/<type>/<edge node>[/<device>]`. Birth certificates
//! (NBIRTH, DBIRTH) name every metric and give it an alias; data messages
//! (NDATA, DDATA) may carry only the alias, resolved here from the birth. The
//! edge node's `seq` (0..=255, +1 per message) is checked, and `bdSeq` of an
//! NDEATH must match its NBIRTH. A sequence gap, an unknown alias, or data
//! before any birth makes the node ask the edge node to be born again (a
//! rebirth NCMD); a death re-emits the node's last values with bad quality.
//!
//! Tags are `<edge node>[.<device>].<metric>` with `/` in metric names turned
//! into `.` and spaces into `_` (`press1.hydraulics.oil_temperature`).

use std::collections::HashMap;

use prost::Message;
use shopfloor_core::schema::{Quality, Reading, ReadingValue};

use crate::rejection::Rejection;

/// The Sparkplug B payload (the parts this node reads).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    /// Milliseconds since the epoch.
    #[prost(uint64, optional, tag = "1")]
    pub timestamp: Option<u64>,
    /// Metrics.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    /// Sequence number 0..=255.
    #[prost(uint64, optional, tag = "3")]
    pub seq: Option<u64>,
}

/// One metric.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    /// Name (in births; optional in data when an alias is given).
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Alias.
    #[prost(uint64, optional, tag = "2")]
    pub alias: Option<u64>,
    /// Milliseconds since the epoch.
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: Option<u64>,
    /// Data type (Sparkplug numbering).
    #[prost(uint32, optional, tag = "4")]
    pub datatype: Option<u32>,
    /// The value is null.
    #[prost(bool, optional, tag = "7")]
    pub is_null: Option<bool>,
    /// Properties (in births: engineering unit, description, ...).
    #[prost(message, optional, tag = "9")]
    pub properties: Option<PropertySet>,
    /// The value.
    #[prost(oneof = "MetricValue", tags = "10, 11, 12, 13, 14, 15")]
    pub value: Option<MetricValue>,
}

/// A metric's properties: keys and their values, in the same order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertySet {
    #[prost(string, repeated, tag = "1")]
    pub keys: Vec<String>,
    #[prost(message, repeated, tag = "2")]
    pub values: Vec<PropertyValue>,
}

/// One property's value (the text ones are the ones read here).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertyValue {
    /// Data type (Sparkplug numbering).
    #[prost(uint32, optional, tag = "1")]
    pub datatype: Option<u32>,
    #[prost(bool, optional, tag = "2")]
    pub is_null: Option<bool>,
    /// String, Text.
    #[prost(string, optional, tag = "8")]
    pub string_value: Option<String>,
}

impl PropertySet {
    /// The text of the first property whose key is one of `keys` (any case).
    fn text(&self, keys: &[&str]) -> Option<String> {
        self.keys.iter().zip(&self.values).find_map(|(key, value)| {
            let wanted = keys.iter().any(|k| k.eq_ignore_ascii_case(key));
            let text = value.string_value.as_deref().map(str::trim).filter(|t| !t.is_empty());
            wanted.then_some(text).flatten().map(str::to_owned)
        })
    }
}

/// Property keys that give a metric's unit and its description (Sparkplug
/// leaves them to the edge node; these are the spellings in use).
const UNIT_KEYS: &[&str] = &["engUnit", "engUnits", "unit", "units", "engineeringUnits"];
const DESCRIPTION_KEYS: &[&str] = &["description", "documentation", "tooltip"];

/// A metric's value.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum MetricValue {
    /// Int8..Int32 (two's complement) and UInt8..UInt32.
    #[prost(uint32, tag = "10")]
    IntValue(u32),
    /// Int64 (two's complement), UInt64, DateTime.
    #[prost(uint64, tag = "11")]
    LongValue(u64),
    /// Float.
    #[prost(float, tag = "12")]
    FloatValue(f32),
    /// Double.
    #[prost(double, tag = "13")]
    DoubleValue(f64),
    /// Boolean.
    #[prost(bool, tag = "14")]
    BooleanValue(bool),
    /// String, Text, UUID.
    #[prost(string, tag = "15")]
    StringValue(String),
}

/// Sparkplug data types that matter for decoding integers.
mod datatype {
    pub const INT8: u32 = 1;
    pub const INT16: u32 = 2;
    pub const INT32: u32 = 3;
    pub const INT64: u32 = 4;
    pub const BOOLEAN: u32 = 11;
}

/// The name of the rebirth command metric.
pub const REBIRTH_METRIC: &str = "Node Control/Rebirth";

/// What one Sparkplug message produced.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    pub readings: Vec<Reading>,
    /// Why (part of) the message was refused.
    pub rejection: Option<Rejection>,
    /// A rebirth command to publish: topic and payload.
    pub rebirth: Option<(String, Vec<u8>)>,
}

#[derive(Debug, Clone)]
struct MetricInfo {
    tag: String,
    datatype: u32,
    /// From the birth's properties; carried by every reading of the metric.
    unit: Option<String>,
    description: Option<String>,
}

#[derive(Debug, Default)]
struct EdgeNode {
    born: bool,
    bd_seq: Option<u64>,
    last_seq: Option<u8>,
    /// (device, alias) to metric.
    aliases: HashMap<(Option<String>, u64), MetricInfo>,
    /// Last reading per tag, re-emitted with bad quality on death.
    last: HashMap<String, Reading>,
}

/// Most edge nodes tracked: a bound on memory whatever is published.
pub const MAX_EDGE_NODES: usize = 10_000;

/// Births, aliases and sequence numbers of every edge node seen.
#[derive(Debug, Default)]
pub struct SparkplugState {
    nodes: HashMap<(String, String), EdgeNode>,
}

/// The parts of a Sparkplug topic.
struct Topic<'a> {
    group: &'a str,
    kind: &'a str,
    edge: &'a str,
    device: Option<&'a str>,
}

fn parse_topic(topic: &str) -> Option<Topic<'_>> {
    let mut levels = topic.split('/');
    if levels.next()? != "spBv1.0" {
        return None;
    }
    let (group, kind, edge) = (levels.next()?, levels.next()?, levels.next()?);
    let device = levels.next();
    levels.next().is_none().then_some(Topic { group, kind, edge, device })
}

/// Whether `topic` is in the Sparkplug B namespace.
pub fn is_sparkplug(topic: &str) -> bool {
    topic.starts_with("spBv1.0/")
}

impl SparkplugState {
    /// Handles one message on a Sparkplug topic.
    pub fn handle(&mut self, source: &str, topic: &str, payload: &[u8], now_ms: i64) -> Outcome {
        let mut outcome = Outcome::default();
        let Some(t) = parse_topic(topic) else {
            outcome.rejection = Some(Rejection::UnexpectedTopic);
            return outcome;
        };
        if matches!(t.kind, "NCMD" | "DCMD" | "STATE") {
            return outcome; // commands (ours included) and host state are not telemetry
        }
        let decoded = match Payload::decode(payload) {
            Ok(p) => p,
            Err(e) => {
                outcome.rejection = Some(Rejection::InvalidProtobuf(e));
                return outcome;
            }
        };
        let key = (t.group.to_owned(), t.edge.to_owned());
        if !self.nodes.contains_key(&key) && self.nodes.len() >= MAX_EDGE_NODES {
            outcome.rejection = Some(Rejection::TooManyEdgeNodes);
            return outcome;
        }
        let rebirth = rebirth_command(t.group, t.edge);
        let node = self.nodes.entry(key).or_default();

        match t.kind {
            "NBIRTH" => {
                *node = EdgeNode { born: true, ..EdgeNode::default() };
                node.bd_seq = metric_u64(&decoded, "bdSeq");
                node.last_seq = decoded.seq.map(|s| s as u8);
                outcome.readings = births(node, source, t.edge, None, &decoded, now_ms);
            }
            "NDEATH" => {
                let bd_seq = metric_u64(&decoded, "bdSeq");
                if node.bd_seq.is_some() && bd_seq.is_some() && bd_seq != node.bd_seq {
                    // A late death of an earlier session: the node is alive in a newer one.
                    return outcome;
                }
                node.born = false;
                node.last_seq = None;
                outcome.readings = node
                    .last
                    .values()
                    .map(|r| Reading { quality: Quality::Bad, received_ts_ms: now_ms, ..r.clone() })
                    .collect();
            }
            "DBIRTH" | "DDATA" | "NDATA" | "DDEATH" => {
                if !node.born {
                    outcome.rejection = Some(Rejection::NotBorn);
                    outcome.rebirth = Some(rebirth);
                    return outcome;
                }
                if let Some(seq) = decoded.seq {
                    let expected = node.last_seq.map(|s| s.wrapping_add(1));
                    node.last_seq = Some(seq as u8);
                    if expected.is_some_and(|e| e != seq as u8) {
                        outcome.rejection =
                            Some(Rejection::SequenceGap { expected: expected.unwrap_or(0), got: seq as u8 });
                        outcome.rebirth = Some(rebirth.clone());
                        // The values are still current: keep them.
                    }
                }
                match t.kind {
                    "DBIRTH" => outcome.readings = births(node, source, t.edge, t.device, &decoded, now_ms),
                    "DDEATH" => {
                        let prefix = format!("{}.{}.", t.edge, t.device.unwrap_or_default());
                        outcome.readings = node
                            .last
                            .iter()
                            .filter(|(tag, _)| tag.starts_with(&prefix))
                            .map(|(_, r)| Reading { quality: Quality::Bad, received_ts_ms: now_ms, ..r.clone() })
                            .collect();
                    }
                    _ => match data(node, source, t.device, &decoded, now_ms) {
                        Ok(readings) => outcome.readings = readings,
                        Err(rejection) => {
                            outcome.rejection = Some(rejection);
                            outcome.rebirth = Some(rebirth);
                        }
                    },
                }
            }
            _ => outcome.rejection = Some(Rejection::UnexpectedTopic),
        }
        for reading in &outcome.readings {
            if reading.quality != Quality::Bad {
                node.last.insert(reading.tag.clone(), reading.clone());
            }
        }
        outcome
    }
}

fn births(
    node: &mut EdgeNode,
    source: &str,
    edge: &str,
    device: Option<&str>,
    payload: &Payload,
    now_ms: i64,
) -> Vec<Reading> {
    let mut readings = Vec::new();
    for metric in &payload.metrics {
        let Some(name) = metric.name.as_deref() else { continue };
        if name == "bdSeq" || name.starts_with("Node Control/") {
            continue;
        }
        let properties = metric.properties.as_ref();
        let info = MetricInfo {
            tag: tag_name(edge, device, name),
            datatype: metric.datatype.unwrap_or(0),
            unit: properties.and_then(|p| p.text(UNIT_KEYS)),
            description: properties.and_then(|p| p.text(DESCRIPTION_KEYS)),
        };
        if let Some(alias) = metric.alias {
            node.aliases.insert((device.map(str::to_owned), alias), info.clone());
        }
        node.aliases.insert((device.map(str::to_owned), name_key(name)), info.clone());
        if let Some(reading) = reading(source, &info, metric, payload, now_ms) {
            readings.push(reading);
        }
    }
    readings
}

fn data(
    node: &EdgeNode,
    source: &str,
    device: Option<&str>,
    payload: &Payload,
    now_ms: i64,
) -> Result<Vec<Reading>, Rejection> {
    let mut readings = Vec::new();
    for metric in &payload.metrics {
        let key = match (metric.alias, metric.name.as_deref()) {
            (Some(alias), _) => alias,
            (None, Some(name)) => name_key(name),
            (None, None) => return Err(Rejection::UnknownAlias(0)),
        };
        let info = node
            .aliases
            .get(&(device.map(str::to_owned), key))
            .ok_or(Rejection::UnknownAlias(metric.alias.unwrap_or(0)))?;
        if let Some(reading) = reading(source, info, metric, payload, now_ms) {
            readings.push(reading);
        }
    }
    Ok(readings)
}

/// Names without an alias are looked up by a hash of the name in the same map
/// (aliases are small integers; the high bit keeps the two apart).
fn name_key(name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut hasher);
    hasher.finish() | (1 << 63)
}

fn tag_name(edge: &str, device: Option<&str>, metric: &str) -> String {
    let metric = metric.replace('/', ".").replace(' ', "_");
    match device {
        Some(device) => format!("{edge}.{device}.{metric}"),
        None => format!("{edge}.{metric}"),
    }
}

fn reading(source: &str, info: &MetricInfo, metric: &Metric, payload: &Payload, now_ms: i64) -> Option<Reading> {
    if metric.is_null == Some(true) {
        return None;
    }
    let datatype = metric.datatype.unwrap_or(info.datatype);
    let value = match metric.value.as_ref()? {
        MetricValue::IntValue(v) => ReadingValue::Number(match datatype {
            datatype::INT8 => f64::from(*v as u8 as i8),
            datatype::INT16 => f64::from(*v as u16 as i16),
            datatype::INT32 => f64::from(*v as i32),
            _ => f64::from(*v),
        }),
        MetricValue::LongValue(v) => {
            ReadingValue::Number(if datatype == datatype::INT64 { *v as i64 as f64 } else { *v as f64 })
        }
        MetricValue::FloatValue(v) => ReadingValue::Number(f64::from(*v)),
        MetricValue::DoubleValue(v) => ReadingValue::Number(*v),
        MetricValue::BooleanValue(v) => ReadingValue::Number(f64::from(u8::from(*v))),
        MetricValue::StringValue(s) => ReadingValue::Text(s.clone()),
    };
    if matches!(value, ReadingValue::Number(n) if !n.is_finite()) {
        return None;
    }
    let ts = metric.timestamp.or(payload.timestamp).and_then(|t| i64::try_from(t).ok());
    let mut reading = Reading::good(source, info.tag.clone(), value, info.unit.clone(), ts, now_ms);
    reading.description = info.description.clone();
    Some(reading)
}

fn metric_u64(payload: &Payload, name: &str) -> Option<u64> {
    payload.metrics.iter().find(|m| m.name.as_deref() == Some(name)).and_then(|m| match m.value {
        Some(MetricValue::LongValue(v)) => Some(v),
        Some(MetricValue::IntValue(v)) => Some(u64::from(v)),
        _ => None,
    })
}

/// The NCMD that asks an edge node to publish its births again.
pub fn rebirth_command(group: &str, edge: &str) -> (String, Vec<u8>) {
    let payload = Payload {
        timestamp: None,
        metrics: vec![Metric {
            name: Some(REBIRTH_METRIC.into()),
            datatype: Some(datatype::BOOLEAN),
            value: Some(MetricValue::BooleanValue(true)),
            ..Metric::default()
        }],
        seq: None,
    };
    (format!("spBv1.0/{group}/NCMD/{edge}"), payload.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: Option<&str>, alias: u64, datatype: u32, value: MetricValue) -> Metric {
        Metric {
            name: name.map(str::to_owned),
            alias: Some(alias),
            datatype: Some(datatype),
            value: Some(value),
            ..Metric::default()
        }
    }

    fn payload(seq: u64, metrics: Vec<Metric>) -> Vec<u8> {
        Payload { timestamp: Some(1_764_086_400_000), metrics, seq: Some(seq) }.encode_to_vec()
    }

    fn birth() -> Vec<u8> {
        payload(
            0,
            vec![
                metric(Some("bdSeq"), 0, 8, MetricValue::LongValue(3)),
                metric(Some("Hydraulics/Oil Temperature"), 1, 10, MetricValue::DoubleValue(41.5)),
                metric(Some("Stroke Count"), 2, 7, MetricValue::IntValue(1200)),
                metric(Some("Offset"), 3, 3, MetricValue::IntValue((-5i32) as u32)),
            ],
        )
    }

    fn tags(outcome: &Outcome) -> Vec<(String, ReadingValue)> {
        outcome.readings.iter().map(|r| (r.tag.clone(), r.value.clone())).collect()
    }

    #[test]
    fn a_births_unit_and_description_properties_travel_with_every_reading() {
        let property =
            |text: &str| PropertyValue { datatype: Some(12), string_value: Some(text.into()), ..Default::default() };
        let mut described = metric(Some("TT_4711"), 7, 10, MetricValue::DoubleValue(61.5));
        described.properties = Some(PropertySet {
            keys: vec!["engUnit".into(), "engHigh".into(), "Description".into()],
            values: vec![
                property("°C"),
                PropertyValue { datatype: Some(10), ..Default::default() },
                property("Reactor jacket temperature"),
            ],
        });
        let mut state = SparkplugState::default();
        let birth = state.handle("mqtt", "spBv1.0/plant/NBIRTH/edge1", &payload(0, vec![described]), 1);
        let data = payload(1, vec![Metric { name: None, ..metric(None, 7, 10, MetricValue::DoubleValue(62.0)) }]);
        let later = state.handle("mqtt", "spBv1.0/plant/NDATA/edge1", &data, 2);
        for reading in birth.readings.iter().chain(&later.readings) {
            assert_eq!(reading.unit.as_deref(), Some("°C"));
            assert_eq!(reading.description.as_deref(), Some("Reactor jacket temperature"));
        }
        assert_eq!(later.readings.len(), 1);
    }

    #[test]
    fn a_birth_names_metrics_and_data_resolves_aliases() {
        let mut state = SparkplugState::default();
        let born = state.handle("s", "spBv1.0/plant/NBIRTH/press1", &birth(), 1);
        assert_eq!(
            tags(&born),
            [
                ("press1.Hydraulics.Oil_Temperature".into(), ReadingValue::Number(41.5)),
                ("press1.Stroke_Count".into(), ReadingValue::Number(1200.0)),
                ("press1.Offset".into(), ReadingValue::Number(-5.0)),
            ]
        );
        let data = state.handle(
            "s",
            "spBv1.0/plant/NDATA/press1",
            &payload(1, vec![metric(None, 1, 10, MetricValue::DoubleValue(42.0))]),
            2,
        );
        assert_eq!(tags(&data), [("press1.Hydraulics.Oil_Temperature".into(), ReadingValue::Number(42.0))]);
        assert!(data.rejection.is_none() && data.rebirth.is_none());
        assert_eq!(data.readings[0].source_ts_ms, Some(1_764_086_400_000));
    }

    #[test]
    fn a_sequence_gap_keeps_the_values_and_asks_for_a_rebirth() {
        let mut state = SparkplugState::default();
        state.handle("s", "spBv1.0/plant/NBIRTH/press1", &birth(), 1);
        let gap = state.handle(
            "s",
            "spBv1.0/plant/NDATA/press1",
            &payload(5, vec![metric(None, 2, 7, MetricValue::IntValue(1201))]),
            2,
        );
        assert_eq!(gap.rejection, Some(Rejection::SequenceGap { expected: 1, got: 5 }));
        assert_eq!(gap.readings.len(), 1);
        let (topic, command) = gap.rebirth.expect("rebirth requested");
        assert_eq!(topic, "spBv1.0/plant/NCMD/press1");
        let command = Payload::decode(command.as_slice()).unwrap();
        assert_eq!(command.metrics[0].name.as_deref(), Some(REBIRTH_METRIC));
        assert_eq!(command.metrics[0].value, Some(MetricValue::BooleanValue(true)));
    }

    #[test]
    fn an_unknown_alias_or_data_before_birth_is_refused_with_a_rebirth() {
        let mut state = SparkplugState::default();
        let early = state.handle(
            "s",
            "spBv1.0/plant/NDATA/press1",
            &payload(1, vec![metric(None, 1, 10, MetricValue::DoubleValue(1.0))]),
            1,
        );
        assert_eq!(early.rejection, Some(Rejection::NotBorn));
        assert!(early.rebirth.is_some());
        state.handle("s", "spBv1.0/plant/NBIRTH/press1", &birth(), 1);
        let unknown = state.handle(
            "s",
            "spBv1.0/plant/NDATA/press1",
            &payload(1, vec![metric(None, 99, 10, MetricValue::DoubleValue(1.0))]),
            2,
        );
        assert_eq!(unknown.rejection, Some(Rejection::UnknownAlias(99)));
        assert!(unknown.readings.is_empty() && unknown.rebirth.is_some());
    }

    #[test]
    fn a_death_marks_the_last_values_bad_unless_it_is_from_an_older_session() {
        let mut state = SparkplugState::default();
        state.handle("s", "spBv1.0/plant/NBIRTH/press1", &birth(), 1);
        let stale_death = payload(0, vec![metric(Some("bdSeq"), 0, 8, MetricValue::LongValue(2))]);
        assert!(state.handle("s", "spBv1.0/plant/NDEATH/press1", &stale_death, 2).readings.is_empty());
        let death = payload(0, vec![metric(Some("bdSeq"), 0, 8, MetricValue::LongValue(3))]);
        let dead = state.handle("s", "spBv1.0/plant/NDEATH/press1", &death, 3);
        assert_eq!(dead.readings.len(), 3);
        assert!(dead.readings.iter().all(|r| r.quality == Quality::Bad));
    }

    #[test]
    fn device_births_and_data_are_tagged_with_the_device() {
        let mut state = SparkplugState::default();
        state.handle("s", "spBv1.0/plant/NBIRTH/press1", &birth(), 1);
        let dbirth = payload(1, vec![metric(Some("Temperature"), 7, 9, MetricValue::FloatValue(20.5))]);
        let born = state.handle("s", "spBv1.0/plant/DBIRTH/press1/die", &dbirth, 2);
        assert_eq!(tags(&born), [("press1.die.Temperature".into(), ReadingValue::Number(20.5))]);
        let ddata = payload(2, vec![metric(None, 7, 9, MetricValue::FloatValue(21.0))]);
        assert_eq!(
            tags(&state.handle("s", "spBv1.0/plant/DDATA/press1/die", &ddata, 3)),
            [("press1.die.Temperature".into(), ReadingValue::Number(21.0))]
        );
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        let mut state = SparkplugState::default();
        let outcome = state.handle("s", "spBv1.0/plant/NBIRTH/press1", &[0xff, 0xff, 0xff, 0x01, 0x02], 1);
        assert!(matches!(outcome.rejection, Some(Rejection::InvalidProtobuf(_))));
        assert_eq!(state.handle("s", "spBv1.0/plant", b"", 1).rejection, Some(Rejection::UnexpectedTopic));
        assert!(state.handle("s", "spBv1.0/plant/NCMD/press1", b"", 1).readings.is_empty());
    }
}
