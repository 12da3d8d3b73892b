//! `question`: an operator's natural-language question.
//!
//! Columns: `id` Utf8, `text` Utf8, `operator` Utf8, `reply_to` Utf8?,
//! `origin` Utf8 (`mqtt`/`http`), `received_ts_ms` Int64, `deadline_ms` Int64?,
//! `correlation_data` Binary?, `response_schema` Utf8?.

use std::sync::Arc;

use super::columns::{build_struct, optional_bytes, optional_i64, optional_str, Columns, SchemaError};
use crate::arrow::array::{Array, ArrayRef, BinaryArray, Int64Array, StringArray};

const MESSAGE: &str = "question";

/// Which front door a question came through; answers go back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An MQTT query topic.
    Mqtt,
    /// The HTTP gateway.
    Http,
}

impl Origin {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Mqtt => "mqtt",
            Origin::Http => "http",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "mqtt" => Some(Origin::Mqtt),
            "http" => Some(Origin::Http),
            _ => None,
        }
    }
}

/// An operator's question.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// Chosen by the asker; the answer carries the same id.
    pub id: String,
    /// The question in plain language.
    pub text: String,
    /// Who asked (from the query topic or the payload).
    pub operator: String,
    /// Where the answer must go, when the asker said so (e.g. an MQTT topic).
    pub reply_to: Option<String>,
    /// Front door the question came through.
    pub origin: Origin,
    /// When the gateway received it (ms since epoch).
    pub received_ts_ms: i64,
    /// Answer wanted before this time (ms since epoch), if the asker set one.
    pub deadline_ms: Option<i64>,
    /// MQTT 5 correlation data of the question, returned unchanged with the
    /// answer so the asker can match it to its request.
    pub correlation_data: Option<Vec<u8>>,
    /// A JSON Schema the answer must follow (the HTTP gateway's
    /// `response_format`); the answer is then JSON made under a grammar
    /// compiled from it, or refused when it does not compile.
    pub response_schema: Option<String>,
}

impl Question {
    /// A question with no reply topic, deadline, correlation data or schema.
    pub fn new(
        id: impl Into<String>,
        text: impl Into<String>,
        operator: impl Into<String>,
        origin: Origin,
        received_ts_ms: i64,
    ) -> Self {
        Self {
            id: id.into(),
            text: text.into(),
            operator: operator.into(),
            reply_to: None,
            origin,
            received_ts_ms,
            deadline_ms: None,
            correlation_data: None,
            response_schema: None,
        }
    }

    /// Encodes questions as one struct array.
    pub fn to_arrow(questions: &[Question]) -> ArrayRef {
        let str_col = |f: &dyn Fn(&Question) -> Option<&str>| -> ArrayRef {
            Arc::new(questions.iter().map(f).collect::<StringArray>())
        };
        build_struct(vec![
            ("id", str_col(&|q| Some(&q.id)), false),
            ("text", str_col(&|q| Some(&q.text)), false),
            ("operator", str_col(&|q| Some(&q.operator)), false),
            ("reply_to", str_col(&|q| q.reply_to.as_deref()), true),
            ("origin", str_col(&|q| Some(q.origin.as_str())), false),
            (
                "received_ts_ms",
                Arc::new(questions.iter().map(|q| Some(q.received_ts_ms)).collect::<Int64Array>()),
                false,
            ),
            ("deadline_ms", Arc::new(questions.iter().map(|q| q.deadline_ms).collect::<Int64Array>()), true),
            (
                "correlation_data",
                Arc::new(questions.iter().map(|q| q.correlation_data.as_deref()).collect::<BinaryArray>()),
                true,
            ),
            ("response_schema", str_col(&|q| q.response_schema.as_deref()), true),
        ])
    }

    /// Decodes questions.
    pub fn from_arrow(array: &dyn Array) -> Result<Vec<Question>, SchemaError> {
        let cols = Columns::new(MESSAGE, array)?;
        let id = cols.utf8("id")?;
        let text = cols.utf8("text")?;
        let operator = cols.utf8("operator")?;
        let reply_to = cols.utf8("reply_to")?;
        let origin = cols.utf8("origin")?;
        let received = cols.i64("received_ts_ms")?;
        let deadline = cols.i64("deadline_ms")?;
        let correlation = cols.binary("correlation_data")?;
        // Optional column: senders older than the gateway leave it out.
        let schema = cols.optional_utf8("response_schema")?;
        (0..cols.len())
            .map(|row| {
                let origin_text = cols.required_str(origin, "origin", row)?;
                let origin = Origin::parse(&origin_text).ok_or_else(|| cols.invalid("origin", row, origin_text))?;
                Ok(Question {
                    id: cols.required_str(id, "id", row)?,
                    text: cols.required_str(text, "text", row)?,
                    operator: cols.required_str(operator, "operator", row)?,
                    reply_to: optional_str(reply_to, row),
                    origin,
                    received_ts_ms: optional_i64(received, row).ok_or_else(|| cols.null("received_ts_ms", row))?,
                    deadline_ms: optional_i64(deadline, row),
                    correlation_data: optional_bytes(correlation, row),
                    response_schema: schema.and_then(|column| optional_str(column, row)),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::array::StringArray;

    #[test]
    fn questions_survive_a_round_trip() {
        let questions = vec![
            Question {
                id: "q-1".into(),
                text: "What is the spindle temperature?".into(),
                operator: "alice".into(),
                reply_to: Some("plant/answer/alice".into()),
                origin: Origin::Mqtt,
                received_ts_ms: 5,
                deadline_ms: Some(1005),
                correlation_data: Some(vec![0, 1, 0xff]),
                response_schema: None,
            },
            Question {
                id: "q-2".into(),
                text: "Is the machine running?".into(),
                operator: "bob".into(),
                reply_to: None,
                origin: Origin::Http,
                received_ts_ms: 6,
                deadline_ms: None,
                correlation_data: None,
                response_schema: Some(r#"{"type":"object"}"#.into()),
            },
        ];
        let decoded = Question::from_arrow(Question::to_arrow(&questions).as_ref()).unwrap();
        assert_eq!(decoded, questions);
    }

    #[test]
    fn a_plain_string_array_is_not_a_question() {
        let err = Question::from_arrow(&StringArray::from(vec!["hi"])).unwrap_err();
        assert!(err.to_string().starts_with("question: expected a struct array"), "{err}");
    }
}
