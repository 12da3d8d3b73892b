//! `answer`: the reply to one question.
//!
//! Columns: `id` Utf8, `operator` Utf8, `reply_to` Utf8?, `origin` Utf8,
//! `text` Utf8, `confidence` Float32?, `model` Utf8?, `facts_used`
//! List<Utf8>, `ttft_ms` Int64?, `latency_ms` Int64, `error` Utf8?.

use std::sync::Arc;

use super::columns::{build_struct, optional_i64, optional_str, Columns, SchemaError};
use super::question::{Origin, Question};
use crate::arrow::array::{
    Array, ArrayRef, AsArray, Float32Array, Int64Array, ListBuilder, StringArray, StringBuilder,
};

const MESSAGE: &str = "answer";

/// Why a question got no model answer; the answer text then explains it to the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerError {
    /// The model failed while generating.
    GenerationFailed,
    /// The question's deadline passed before an answer was ready.
    DeadlineExceeded,
    /// No plant data was available to ground an answer.
    NoPlantData,
}

impl AnswerError {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerError::GenerationFailed => "generation_failed",
            AnswerError::DeadlineExceeded => "deadline_exceeded",
            AnswerError::NoPlantData => "no_plant_data",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "generation_failed" => Some(AnswerError::GenerationFailed),
            "deadline_exceeded" => Some(AnswerError::DeadlineExceeded),
            "no_plant_data" => Some(AnswerError::NoPlantData),
            _ => None,
        }
    }
}

/// The answer to one question.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The question's id.
    pub id: String,
    /// The question's operator.
    pub operator: String,
    /// The question's `reply_to`.
    pub reply_to: Option<String>,
    /// The question's front door.
    pub origin: Origin,
    /// The answer in plain language.
    pub text: String,
    /// Mean probability of the generated tokens (0..1), when a model answered.
    pub confidence: Option<f32>,
    /// Which model answered.
    pub model: Option<String>,
    /// The facts (one line each) the answer was grounded in.
    pub facts_used: Vec<String>,
    /// Time to first generated token (ms).
    pub ttft_ms: Option<i64>,
    /// From receiving the question to the finished answer (ms).
    pub latency_ms: i64,
    /// Set when no proper answer could be given.
    pub error: Option<AnswerError>,
}

impl Answer {
    /// An answer skeleton that copies the routing fields of `question`.
    pub fn to_question(question: &Question, text: String) -> Answer {
        Answer {
            id: question.id.clone(),
            operator: question.operator.clone(),
            reply_to: question.reply_to.clone(),
            origin: question.origin,
            text,
            confidence: None,
            model: None,
            facts_used: Vec::new(),
            ttft_ms: None,
            latency_ms: 0,
            error: None,
        }
    }

    /// Encodes answers as one struct array.
    pub fn to_arrow(answers: &[Answer]) -> ArrayRef {
        let str_col = |f: &dyn Fn(&Answer) -> Option<&str>| -> ArrayRef {
            Arc::new(answers.iter().map(f).collect::<StringArray>())
        };
        let mut facts = ListBuilder::new(StringBuilder::new());
        for answer in answers {
            for fact in &answer.facts_used {
                facts.values().append_value(fact);
            }
            facts.append(true);
        }
        build_struct(vec![
            ("id", str_col(&|a| Some(&a.id)), false),
            ("operator", str_col(&|a| Some(&a.operator)), false),
            ("reply_to", str_col(&|a| a.reply_to.as_deref()), true),
            ("origin", str_col(&|a| Some(a.origin.as_str())), false),
            ("text", str_col(&|a| Some(&a.text)), false),
            (
                "confidence",
                Arc::new(answers.iter().map(|a| a.confidence).collect::<Float32Array>()),
                true,
            ),
            ("model", str_col(&|a| a.model.as_deref()), true),
            ("facts_used", Arc::new(facts.finish()), false),
            (
                "ttft_ms",
                Arc::new(answers.iter().map(|a| a.ttft_ms).collect::<Int64Array>()),
                true,
            ),
            (
                "latency_ms",
                Arc::new(answers.iter().map(|a| Some(a.latency_ms)).collect::<Int64Array>()),
                false,
            ),
            ("error", str_col(&|a| a.error.map(AnswerError::as_str)), true),
        ])
    }

    /// Decodes answers.
    pub fn from_arrow(array: &dyn Array) -> Result<Vec<Answer>, SchemaError> {
        let cols = Columns::new(MESSAGE, array)?;
        let id = cols.utf8("id")?;
        let operator = cols.utf8("operator")?;
        let reply_to = cols.utf8("reply_to")?;
        let origin = cols.utf8("origin")?;
        let text = cols.utf8("text")?;
        let confidence = cols.f32("confidence")?;
        let model = cols.utf8("model")?;
        let facts = cols.utf8_list("facts_used")?;
        let ttft = cols.i64("ttft_ms")?;
        let latency = cols.i64("latency_ms")?;
        let error = cols.utf8("error")?;
        (0..cols.len())
            .map(|row| {
                let origin_text = cols.required_str(origin, "origin", row)?;
                let origin = Origin::parse(&origin_text)
                    .ok_or_else(|| cols.invalid("origin", row, origin_text))?;
                let error = match optional_str(error, row) {
                    None => None,
                    Some(kind) => Some(
                        AnswerError::parse(&kind).ok_or_else(|| cols.invalid("error", row, kind))?,
                    ),
                };
                let facts_used = if facts.is_null(row) {
                    Vec::new()
                } else {
                    let values = facts.value(row);
                    values
                        .as_string::<i32>()
                        .iter()
                        .map(|fact| fact.unwrap_or_default().to_owned())
                        .collect()
                };
                Ok(Answer {
                    id: cols.required_str(id, "id", row)?,
                    operator: cols.required_str(operator, "operator", row)?,
                    reply_to: optional_str(reply_to, row),
                    origin,
                    text: cols.required_str(text, "text", row)?,
                    confidence: (!confidence.is_null(row)).then(|| confidence.value(row)),
                    model: optional_str(model, row),
                    facts_used,
                    ttft_ms: optional_i64(ttft, row),
                    latency_ms: optional_i64(latency, row)
                        .ok_or_else(|| cols.null("latency_ms", row))?,
                    error,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question() -> Question {
        Question {
            id: "q-7".into(),
            text: "How hot is the spindle?".into(),
            operator: "alice".into(),
            reply_to: None,
            origin: Origin::Mqtt,
            received_ts_ms: 1,
            deadline_ms: None,
        }
    }

    #[test]
    fn answers_survive_a_round_trip() {
        let answers = vec![
            Answer {
                confidence: Some(0.82),
                model: Some("SmolLM2-135M-Instruct Q4_1".into()),
                facts_used: vec!["spindle_temperature = 72.4 °C".into(), "spindle_speed = 1200 rpm".into()],
                ttft_ms: Some(40),
                latency_ms: 310,
                ..Answer::to_question(&question(), "The spindle is at 72.4 °C.".into())
            },
            Answer {
                error: Some(AnswerError::NoPlantData),
                ..Answer::to_question(&question(), "No plant data yet.".into())
            },
        ];
        let decoded = Answer::from_arrow(Answer::to_arrow(&answers).as_ref()).unwrap();
        assert_eq!(decoded, answers);
    }

    #[test]
    fn an_answer_keeps_the_questions_id_and_operator() {
        let answer = Answer::to_question(&question(), String::new());
        assert_eq!((answer.id.as_str(), answer.operator.as_str()), ("q-7", "alice"));
    }
}
