//! Turning a payload on a query topic into a [`Question`], or a [`Rejection`].
//!
//! Payload: `{"id": "q-1", "question": "What is the spindle temperature?"}`,
//! optionally with `"reply_to": "<topic>"` (where the answer goes instead of
//! `<root>/assistant/answer/<operator>`) and `"timeout_ms": 2000` (the answer
//! is wanted within that time). Unknown fields are ignored so that newer
//! clients can add fields; the operator comes from the topic.
//!
//! An MQTT 5 question may carry a response topic (it wins over `reply_to`)
//! and correlation data (returned unchanged with the answer).

use serde_json::{Map, Value};
use shopfloor_core::schema::{Origin, Question};
use shopfloor_core::topics::{is_plain_level, TopicLayout};

use crate::rejection::Rejection;

/// Longest accepted question text, in characters.
pub const MAX_QUESTION_CHARS: usize = 1000;
/// Longest accepted question id, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// Longest accepted MQTT 5 correlation data, in bytes.
pub const MAX_CORRELATION_BYTES: usize = 1024;

/// The MQTT 5 request properties of a question, when it had any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestProperties {
    /// Where the asker wants the answer.
    pub response_topic: Option<String>,
    /// Returned unchanged with the answer.
    pub correlation_data: Option<Vec<u8>>,
}

/// Parses one query message.
pub fn parse_question(
    layout: &TopicLayout,
    topic: &str,
    payload: &[u8],
    properties: RequestProperties,
    max_payload_bytes: usize,
    now_ms: i64,
) -> Result<Question, Rejection> {
    if payload.len() > max_payload_bytes {
        return Err(Rejection::Oversized { bytes: payload.len(), limit: max_payload_bytes });
    }
    let operator = layout.operator_of_query(topic).ok_or(Rejection::UnexpectedTopic)?;
    let text = std::str::from_utf8(payload).map_err(|_| Rejection::NotUtf8)?;
    let json: Value = serde_json::from_str(text).map_err(Rejection::from)?;
    let Value::Object(fields) = json else {
        return Err(Rejection::NotAnObject);
    };

    let id = required_string(&fields, "id")?;
    if id.chars().count() > MAX_ID_CHARS || !id.chars().all(|c| !c.is_control()) {
        return Err(Rejection::InvalidValue { field: "id", why: "must be 1..=128 printable characters" });
    }
    let question = required_string(&fields, "question")?;
    if question.chars().count() > MAX_QUESTION_CHARS {
        return Err(Rejection::InvalidValue { field: "question", why: "must be at most 1000 characters" });
    }
    let reply_to = optional_string(&fields, "reply_to")?;
    for (field, topic) in [("reply_to", &reply_to), ("response_topic", &properties.response_topic)] {
        if topic.as_ref().is_some_and(|topic| !topic.split('/').all(is_plain_level)) {
            return Err(Rejection::InvalidValue { field, why: "must be a topic without wildcards or empty levels" });
        }
    }
    if properties.correlation_data.as_ref().is_some_and(|data| data.len() > MAX_CORRELATION_BYTES) {
        return Err(Rejection::InvalidValue { field: "correlation_data", why: "must be at most 1024 bytes" });
    }
    let deadline_ms = match fields.get("timeout_ms") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let ms = value.as_u64().filter(|ms| (1..=600_000).contains(ms)).ok_or(Rejection::WrongType {
                field: "timeout_ms",
                expected: "an integer number of milliseconds in 1..=600000",
            })?;
            Some(now_ms + ms as i64)
        }
    };

    Ok(Question {
        id,
        text: question,
        operator,
        reply_to: properties.response_topic.or(reply_to),
        origin: Origin::Mqtt,
        received_ts_ms: now_ms,
        deadline_ms,
        correlation_data: properties.correlation_data,
        response_schema: None,
    })
}

fn required_string(fields: &Map<String, Value>, field: &'static str) -> Result<String, Rejection> {
    let value = optional_string(fields, field)?.ok_or(Rejection::MissingField(field))?;
    if value.trim().is_empty() {
        return Err(Rejection::InvalidValue { field, why: "must not be empty" });
    }
    Ok(value)
}

fn optional_string(fields: &Map<String, Value>, field: &'static str) -> Result<Option<String>, Rejection> {
    match fields.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Rejection::WrongType { field, expected: "a string" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> TopicLayout {
        TopicLayout::new("plant1/assembly/cell1").unwrap()
    }

    const TOPIC: &str = "plant1/assembly/cell1/assistant/query/alice";

    fn parse(payload: &str) -> Result<Question, Rejection> {
        parse_question(&layout(), TOPIC, payload.as_bytes(), RequestProperties::default(), 16_384, 1_000)
    }

    fn parse_v5(
        payload: &str,
        response_topic: Option<&str>,
        correlation_data: Option<&[u8]>,
    ) -> Result<Question, Rejection> {
        let properties = RequestProperties {
            response_topic: response_topic.map(str::to_owned),
            correlation_data: correlation_data.map(<[u8]>::to_vec),
        };
        parse_question(&layout(), TOPIC, payload.as_bytes(), properties, 16_384, 1_000)
    }

    #[test]
    fn a_well_formed_question_carries_id_text_and_operator() {
        let q = parse(r#"{"id":"q-1","question":"What is the spindle temperature?","extra":1}"#).unwrap();
        assert_eq!((q.id.as_str(), q.operator.as_str()), ("q-1", "alice"));
        assert_eq!(q.text, "What is the spindle temperature?");
        assert_eq!((q.reply_to, q.deadline_ms, q.received_ts_ms), (None, None, 1_000));
    }

    #[test]
    fn reply_to_and_timeout_are_honoured() {
        let q = parse(r#"{"id":"q","question":"x?","reply_to":"hmi/7/answers","timeout_ms":2000}"#).unwrap();
        assert_eq!(q.reply_to.as_deref(), Some("hmi/7/answers"));
        assert_eq!(q.deadline_ms, Some(3_000));
    }

    #[test]
    fn mqtt5_response_topic_wins_over_reply_to_and_correlation_data_is_kept() {
        let q = parse_v5(r#"{"id":"q","question":"x?","reply_to":"old/topic"}"#, Some("hmi/7/rsp"), Some(&[0, 0xff]))
            .unwrap();
        assert_eq!(q.reply_to.as_deref(), Some("hmi/7/rsp"));
        assert_eq!(q.correlation_data.as_deref(), Some(&[0u8, 0xff][..]));
        let err = parse_v5(r#"{"id":"q","question":"x?"}"#, Some("hmi/#"), None).unwrap_err();
        assert_eq!(err.reason(), "invalid_value");
        let err = parse_v5(r#"{"id":"q","question":"x?"}"#, None, Some(&[7; 1025])).unwrap_err();
        assert_eq!(err.reason(), "invalid_value");
    }

    #[test]
    fn each_kind_of_bad_payload_gets_its_own_reason() {
        let cases = [
            ("{", "invalid_json"),
            ("[1,2]", "not_an_object"),
            (r#"{"question":"x"}"#, "missing_field"),
            (r#"{"id":7,"question":"x"}"#, "wrong_type"),
            (r#"{"id":"a","question":"   "}"#, "invalid_value"),
            (r#"{"id":"a","question":"x","reply_to":"a/+/b"}"#, "invalid_value"),
            (r#"{"id":"a","question":"x","timeout_ms":-5}"#, "wrong_type"),
        ];
        for (payload, reason) in cases {
            assert_eq!(parse(payload).unwrap_err().reason(), reason, "payload {payload}");
        }
    }

    #[test]
    fn invalid_utf8_and_oversized_payloads_are_refused() {
        let none = RequestProperties::default;
        let err = parse_question(&layout(), TOPIC, &[0xff, 0xfe], none(), 100, 0).unwrap_err();
        assert_eq!(err, Rejection::NotUtf8);
        let err = parse_question(&layout(), TOPIC, &[b' '; 101], none(), 100, 0).unwrap_err();
        assert_eq!(err.reason(), "oversized");
    }

    #[test]
    fn a_foreign_topic_is_refused() {
        let topic = "plant1/assembly/cell1/assistant/query/a/b";
        let err = parse_question(&layout(), topic, b"{}", RequestProperties::default(), 100, 0);
        assert_eq!(err.unwrap_err(), Rejection::UnexpectedTopic);
    }
}
