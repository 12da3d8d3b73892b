//! Why an MQTT payload was refused, how often, and the dead-letter message
//! that tells the plant about it.

use std::collections::BTreeMap;
use std::sync::Arc;

/// A reason to refuse an incoming payload; its text is [`Rejection::detail`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.detail())]
pub enum Rejection {
    /// Larger than `MQTT_MAX_PAYLOAD_BYTES`.
    Oversized {
        /// Payload size in bytes.
        bytes: usize,
        limit: usize,
    },
    /// Not valid UTF-8.
    NotUtf8,
    /// Not valid JSON (shared: a rejection is cloned, the parser's error is not).
    InvalidJson(#[source] Arc<serde_json::Error>),
    /// JSON, but not an object.
    NotAnObject,
    /// A required field is absent.
    MissingField(&'static str),
    /// A field has the wrong JSON type.
    WrongType {
        field: &'static str,
        /// The JSON type expected.
        expected: &'static str,
    },
    /// A field's value is unusable (empty, too long, bad characters).
    InvalidValue { field: &'static str, why: &'static str },
    /// The topic is not `<root>/assistant/query/<operator>`.
    UnexpectedTopic,
    /// A telemetry payload that should be a number is not one.
    NotANumber,
    /// A JSON telemetry payload has none of the mapped fields.
    NoMappedField,
    /// A Sparkplug payload is not a valid protobuf message.
    InvalidProtobuf(#[source] prost::DecodeError),
    /// Sparkplug data from an edge node whose birth was not seen.
    NotBorn,
    /// A Sparkplug metric alias that no birth certificate defined.
    UnknownAlias(u64),
    /// More Sparkplug edge nodes than the node tracks.
    TooManyEdgeNodes,
    /// A Sparkplug sequence number other than the expected one.
    SequenceGap {
        /// Expected `seq`.
        expected: u8,
        /// Received `seq`.
        got: u8,
    },
}

/// Two rejections are alike when they say the same thing.
impl PartialEq for Rejection {
    fn eq(&self, other: &Self) -> bool {
        self.reason() == other.reason() && self.detail() == other.detail()
    }
}

impl Eq for Rejection {}

impl From<serde_json::Error> for Rejection {
    fn from(error: serde_json::Error) -> Self {
        Rejection::InvalidJson(Arc::new(error))
    }
}

impl Rejection {
    /// Short stable name, used as the counter key and in dead letters.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Oversized { .. } => "oversized",
            Rejection::NotUtf8 => "not_utf8",
            Rejection::InvalidJson(_) => "invalid_json",
            Rejection::NotAnObject => "not_an_object",
            Rejection::MissingField(_) => "missing_field",
            Rejection::WrongType { .. } => "wrong_type",
            Rejection::InvalidValue { .. } => "invalid_value",
            Rejection::UnexpectedTopic => "unexpected_topic",
            Rejection::NotANumber => "not_a_number",
            Rejection::NoMappedField => "no_mapped_field",
            Rejection::InvalidProtobuf(_) => "invalid_protobuf",
            Rejection::NotBorn => "not_born",
            Rejection::UnknownAlias(_) => "unknown_alias",
            Rejection::SequenceGap { .. } => "sequence_gap",
            Rejection::TooManyEdgeNodes => "too_many_edge_nodes",
        }
    }

    /// Human-readable detail.
    pub fn detail(&self) -> String {
        match self {
            Rejection::Oversized { bytes, limit } => format!("payload is {bytes} bytes, limit is {limit}"),
            Rejection::NotUtf8 => "payload is not valid UTF-8".into(),
            Rejection::InvalidJson(error) => format!("payload is not valid JSON: {error}"),
            Rejection::NotAnObject => "payload must be a JSON object".into(),
            Rejection::MissingField(field) => format!("field `{field}` is required"),
            Rejection::WrongType { field, expected } => format!("field `{field}` must be {expected}"),
            Rejection::InvalidValue { field, why } => format!("field `{field}` {why}"),
            Rejection::UnexpectedTopic => "topic is not <root>/assistant/query/<operator>".into(),
            Rejection::NotANumber => "payload is not a finite number".into(),
            Rejection::NoMappedField => "payload has none of the fields mapped to tags".into(),
            Rejection::InvalidProtobuf(error) => format!("payload is not a Sparkplug B protobuf: {error}"),
            Rejection::NotBorn => "data from an edge node before its birth certificate; rebirth requested".into(),
            Rejection::UnknownAlias(alias) => {
                format!("metric alias {alias} is not in the birth certificate; rebirth requested")
            }
            Rejection::TooManyEdgeNodes => "more Sparkplug edge nodes than the 10000 tracked".into(),
            Rejection::SequenceGap { expected, got } => {
                format!("seq {got} where {expected} was expected (messages lost); values kept, rebirth requested")
            }
        }
    }
}

/// Rejections counted per reason since the node started.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RejectionCounts(BTreeMap<&'static str, u64>);

impl RejectionCounts {
    /// Counts one rejection and returns the new count for its reason.
    pub fn count(&mut self, rejection: &Rejection) -> u64 {
        let n = self.0.entry(rejection.reason()).or_default();
        *n += 1;
        *n
    }

    /// The count for one reason.
    pub fn get(&self, reason: &str) -> u64 {
        self.0.get(reason).copied().unwrap_or(0)
    }

    /// All rejections.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Each reason with its count.
    pub fn by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.0.iter().map(|(reason, count)| (*reason, *count))
    }
}

/// Longest slice of the refused payload copied into a dead letter.
const DEADLETTER_PAYLOAD_BYTES: usize = 1024;

/// The JSON dead letter for a refused payload.
pub fn deadletter_payload(
    node: &str,
    topic: &str,
    payload: &[u8],
    rejection: &Rejection,
    count_for_reason: u64,
    now_ms: i64,
) -> Vec<u8> {
    let shown = &payload[..payload.len().min(DEADLETTER_PAYLOAD_BYTES)];
    serde_json::json!({
        "node": node,
        "reason": rejection.reason(),
        "detail": rejection.detail(),
        "topic": topic,
        "payload": String::from_utf8_lossy(shown),
        "payload_truncated": payload.len() > DEADLETTER_PAYLOAD_BYTES,
        "count_for_reason": count_for_reason,
        "ts_ms": now_ms,
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_are_counted_per_reason() {
        let mut counts = RejectionCounts::default();
        counts.count(&Rejection::NotUtf8);
        counts.count(&Rejection::NotUtf8);
        assert_eq!(counts.count(&Rejection::MissingField("id")), 1);
        assert_eq!((counts.get("not_utf8"), counts.total()), (2, 3));
    }

    #[test]
    fn a_dead_letter_names_reason_topic_and_a_bounded_payload() {
        let payload = vec![b'x'; 5000];
        let letter = deadletter_payload("mqtt-source", "a/b", &payload, &Rejection::NotAnObject, 4, 9);
        let json: serde_json::Value = serde_json::from_slice(&letter).unwrap();
        assert_eq!(json["reason"], "not_an_object");
        assert_eq!(json["topic"], "a/b");
        assert_eq!(json["payload"].as_str().unwrap().len(), 1024);
        assert_eq!(json["payload_truncated"], true);
        assert_eq!(json["count_for_reason"], 4);
    }
}
