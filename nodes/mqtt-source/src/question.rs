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
use shopfloor_core::schema::{Answer, AnswerError, Origin, Question};
use shopfloor_core::topics::{is_plain_level, TopicLayout};

use crate::rejection::Rejection;

/// Longest accepted question text, in characters.
pub const MAX_QUESTION_CHARS: usize = 1000;
/// Longest accepted question id, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// Longest accepted MQTT 5 correlation data, in bytes.
pub const MAX_CORRELATION_BYTES: usize = 1024;
/// Why a blank `id` or `question` is refused (the refusal answer words an
/// empty question its own way).
const MUST_NOT_BE_EMPTY: &str = "must not be empty";

/// Why a reply topic among the gateway's own topics is refused.
const RESERVED_REPLY_TOPIC: &str = "must not be one of the gateway's own topics (questions, other operators' answers, alerts, dead letters, Sparkplug or $ topics)";

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
        let Some(topic) = topic else { continue };
        if !topic.split('/').all(is_plain_level) {
            return Err(Rejection::InvalidValue { field, why: "must be a topic without wildcards or empty levels" });
        }
        if !layout.is_reply_topic_for(topic, &operator) {
            return Err(Rejection::InvalidValue { field, why: RESERVED_REPLY_TOPIC });
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

/// The answer a refused question gets, besides the dead letter, so that the
/// operator learns why: on the MQTT 5 response topic, else the payload's
/// `reply_to`, else the operator's answer topic, with whatever `id` and
/// correlation data could be read (an `id` that could not be read is empty).
/// `None` when the topic names no operator: nobody to answer.
pub fn refusal_answer(
    layout: &TopicLayout,
    topic: &str,
    payload: &[u8],
    properties: &RequestProperties,
    rejection: &Rejection,
    max_payload_bytes: usize,
    now_ms: i64,
) -> Option<Answer> {
    let operator = layout.operator_of_query(topic)?;
    let plain_topic = |topic: &String| layout.is_reply_topic_for(topic, &operator);
    // An oversized payload is not parsed: that is what the limit is for.
    let fields = (payload.len() <= max_payload_bytes)
        .then(|| serde_json::from_slice::<Value>(payload).ok())
        .flatten()
        .and_then(|json| match json {
            Value::Object(fields) => Some(fields),
            _ => None,
        })
        .unwrap_or_default();
    let readable = |field: &str| match fields.get(field) {
        Some(Value::String(text)) => Some(text.clone()),
        _ => None,
    };
    // A cut-off payload (`{"id": "q-1", "question": `) still names its id.
    let id = readable("id")
        .or_else(|| std::str::from_utf8(payload).ok().and_then(id_in_broken_json))
        .filter(|id| id.chars().count() <= MAX_ID_CHARS && !id.chars().any(char::is_control))
        .unwrap_or_default();
    let reply_to = properties.response_topic.clone().filter(plain_topic).or(readable("reply_to").filter(plain_topic));
    let correlation_data = properties.correlation_data.clone().filter(|data| data.len() <= MAX_CORRELATION_BYTES);
    let text = match rejection {
        Rejection::InvalidValue { field: "question", why: MUST_NOT_BE_EMPTY } | Rejection::MissingField("question") => {
            "Your question is empty. Ask about the plant, for example: What is the spindle temperature?".to_owned()
        }
        other => format!(
            "Your question could not be read: {}. Send JSON such as {{\"id\": \"q-1\", \"question\": \"What is the spindle temperature?\"}}.",
            other.detail()
        ),
    };
    let question = Question {
        id,
        text: String::new(),
        operator,
        reply_to,
        origin: Origin::Mqtt,
        received_ts_ms: now_ms,
        deadline_ms: None,
        correlation_data,
        response_schema: None,
    };
    Some(Answer { error: Some(AnswerError::InvalidQuestion), ..Answer::to_question(&question, text) })
}

/// The first `"id": "<text>"` of a payload that is not valid JSON, if the
/// text has no escapes.
fn id_in_broken_json(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(at) = rest.find("\"id\"") {
        rest = &rest[at + 4..];
        let value = rest.trim_start().strip_prefix(':').map(str::trim_start);
        if let Some((id, _)) = value.and_then(|value| value.strip_prefix('"')).and_then(|body| body.split_once('"')) {
            if !id.contains('\\') {
                return Some(id.to_owned());
            }
        }
    }
    None
}

fn required_string(fields: &Map<String, Value>, field: &'static str) -> Result<String, Rejection> {
    let value = optional_string(fields, field)?.ok_or(Rejection::MissingField(field))?;
    if value.trim().is_empty() {
        return Err(Rejection::InvalidValue { field, why: MUST_NOT_BE_EMPTY });
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

    fn refusal(payload: &[u8], properties: RequestProperties) -> Answer {
        let rejection = parse_question(&layout(), TOPIC, payload, properties.clone(), 100, 0).unwrap_err();
        refusal_answer(&layout(), TOPIC, payload, &properties, &rejection, 100, 5).unwrap()
    }

    #[test]
    fn a_reply_topic_among_the_gateways_own_is_refused_and_the_refusal_goes_to_the_operator() {
        let payload = br#"{"id":"q-5","question":"x?","reply_to":"plant1/assembly/cell1/alerts/st1/critical"}"#;
        let err = parse_question(&layout(), TOPIC, payload, RequestProperties::default(), 1000, 0).unwrap_err();
        assert_eq!(err.reason(), "invalid_value");
        let answer = refusal(payload, RequestProperties::default());
        assert_eq!(answer.reply_to, None, "the refusal went to the forbidden topic");
        assert!(answer.text.contains("gateway's own topics"), "{}", answer.text);
        let v5 = RequestProperties { response_topic: Some("spBv1.0/plant/NCMD/press1".into()), correlation_data: None };
        let err = parse_question(&layout(), TOPIC, br#"{"id":"q","question":"x?"}"#, v5, 1000, 0).unwrap_err();
        assert_eq!(err.reason(), "invalid_value");
    }

    #[test]
    fn a_refused_question_is_answered_to_its_operator_with_what_could_be_read() {
        let cut_off = refusal(br#"{"id": "q-6", "question": "#, RequestProperties::default());
        assert_eq!(cut_off.id, "q-6");
        assert!(cut_off.text.contains("not valid JSON"), "{}", cut_off.text);
        let broken = refusal(br#"{"id":"q-7","question":"x","timeout_ms":"soon"}"#, RequestProperties::default());
        assert_eq!((broken.id.as_str(), broken.operator.as_str()), ("q-7", "alice"));
        assert_eq!((broken.error, broken.reply_to.as_deref()), (Some(AnswerError::InvalidQuestion), None));
        assert!(broken.text.contains("field `timeout_ms` must be"), "{}", broken.text);

        let empty = refusal(br#"{"id":"q-8","question":"  ","reply_to":"hmi/7"}"#, RequestProperties::default());
        assert!(empty.text.starts_with("Your question is empty."), "{}", empty.text);
        assert_eq!(empty.reply_to.as_deref(), Some("hmi/7"));
        assert!(refusal(br#"{"id":"q-9"}"#, RequestProperties::default()).text.starts_with("Your question is empty."));

        // Nothing readable: no id, the MQTT 5 properties still honoured.
        let v5 = RequestProperties { response_topic: Some("hmi/7/rsp".into()), correlation_data: Some(vec![1, 2]) };
        let garbage = refusal(&[0xff, 0xfe], v5);
        assert_eq!(garbage.id, "");
        assert_eq!(
            (garbage.reply_to.as_deref(), garbage.correlation_data.as_deref()),
            (Some("hmi/7/rsp"), Some(&[1u8, 2][..]))
        );
        assert!(garbage.text.contains("not valid UTF-8"), "{}", garbage.text);

        // Where the answer would go must itself be a plain topic.
        let wildcard = refusal(br#"{"id":"q","reply_to":"hmi/#"}"#, RequestProperties::default());
        assert_eq!(wildcard.reply_to, None);
    }

    #[test]
    fn a_foreign_topic_is_refused() {
        let topic = "plant1/assembly/cell1/assistant/query/a/b";
        let err = parse_question(&layout(), topic, b"{}", RequestProperties::default(), 100, 0).unwrap_err();
        assert_eq!(err, Rejection::UnexpectedTopic);
        let properties = RequestProperties::default();
        assert_eq!(refusal_answer(&layout(), topic, b"{}", &properties, &err, 100, 0), None, "nobody to answer");
    }
}
