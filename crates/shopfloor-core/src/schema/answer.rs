//! `answer`: the reply to one question.
//!
//! Columns: `id` Utf8, `operator` Utf8, `reply_to` Utf8?, `origin` Utf8,
//! `text` Utf8, `confidence` Float32?, `low_confidence` Boolean, `model`
//! Utf8?, `facts_used` List<Utf8>, `tools_used` List<Utf8>, `prompt_tokens`
//! Int64?, `completion_tokens` Int64?, `ttft_ms` Int64?, `latency_ms` Int64,
//! `error` Utf8?, `correlation_data` Binary?; set by the router (optional
//! on decode, for senders that do not route): `class` Utf8?, `route`
//! List<Struct> (see [`RouteHop`]), `left_site` Boolean, `deadline_reached`
//! Boolean.

use std::sync::Arc;

use super::columns::{build_struct, optional_bytes, optional_i64, optional_str, strings_in, Columns, SchemaError};
use super::question::{Origin, Question};
use super::route::{routes_from_arrow, routes_to_arrow, RouteHop};
use crate::arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float32Array, Int64Array, ListBuilder, StringArray, StringBuilder,
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
    /// The question queue was full; ask again later.
    Busy,
    /// The question was empty, too long, or not readable text.
    InvalidQuestion,
    /// The question's `response_schema` could not be compiled into a grammar;
    /// nothing was generated (an unconstrained answer is never given instead).
    InvalidSchema,
    /// A procedure was asked for and no section of the site's documents
    /// covers it; the answer says so and names the closest documents.
    NoProcedure,
}

impl AnswerError {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerError::GenerationFailed => "generation_failed",
            AnswerError::DeadlineExceeded => "deadline_exceeded",
            AnswerError::NoPlantData => "no_plant_data",
            AnswerError::Busy => "busy",
            AnswerError::InvalidQuestion => "invalid_question",
            AnswerError::InvalidSchema => "invalid_schema",
            AnswerError::NoProcedure => "no_procedure",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "generation_failed" => Some(AnswerError::GenerationFailed),
            "deadline_exceeded" => Some(AnswerError::DeadlineExceeded),
            "no_plant_data" => Some(AnswerError::NoPlantData),
            "busy" => Some(AnswerError::Busy),
            "invalid_question" => Some(AnswerError::InvalidQuestion),
            "invalid_schema" => Some(AnswerError::InvalidSchema),
            "no_procedure" => Some(AnswerError::NoProcedure),
            _ => None,
        }
    }
}

/// The answer to one question.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub id: String,
    pub operator: String,
    /// The question's `reply_to`.
    pub reply_to: Option<String>,
    /// The question's front door.
    pub origin: Origin,
    /// The answer in plain language.
    pub text: String,
    /// How sure the model was (0..1), when a model wrote the answer: the
    /// geometric mean of its content tokens' probabilities (docs/messages.md).
    pub confidence: Option<f32>,
    /// The model answered with a confidence below the configured threshold;
    /// routing escalates such answers to a bigger model.
    pub low_confidence: bool,
    pub model: Option<String>,
    /// The facts (one line each) the answer was grounded in.
    pub facts_used: Vec<String>,
    /// Read-only tools the model called, e.g. `get_tag(spindle_speed)`.
    pub tools_used: Vec<String>,
    /// Prompt tokens the model read (cached or evaluated).
    pub prompt_tokens: Option<i64>,
    /// Tokens the model generated.
    pub completion_tokens: Option<i64>,
    /// Time to first generated token (ms).
    pub ttft_ms: Option<i64>,
    /// From receiving the question to the finished answer (ms).
    pub latency_ms: i64,
    /// Set when no proper answer could be given.
    pub error: Option<AnswerError>,
    /// The question's MQTT 5 correlation data.
    pub correlation_data: Option<Vec<u8>>,
    /// The router's class of the question (`current_value`, `trend`,
    /// `alarm`, `procedure`, `out_of_scope`); None when not routed.
    pub class: Option<String>,
    /// The tiers tried, in order; empty when not routed.
    pub route: Vec<RouteHop>,
    /// The question (redacted) was sent to an endpoint off the site.
    pub left_site: bool,
    /// The deadline stopped escalation: this is the best answer so far.
    pub deadline_reached: bool,
    /// The documents the answer quotes (`file § heading (page N)`); empty
    /// when it quotes none.
    pub sources: Vec<String>,
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
            low_confidence: false,
            model: None,
            facts_used: Vec::new(),
            tools_used: Vec::new(),
            prompt_tokens: None,
            completion_tokens: None,
            ttft_ms: None,
            latency_ms: 0,
            error: None,
            correlation_data: question.correlation_data.clone(),
            class: None,
            route: Vec::new(),
            left_site: false,
            deadline_reached: false,
            sources: Vec::new(),
        }
    }

    /// The JSON an asker receives: the MQTT answer payload, also the
    /// operator console's (docs/messages.md, "Answer (JSON)").
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "answer": self.text,
            "operator": self.operator,
            "confidence": self.confidence,
            "low_confidence": self.low_confidence,
            "model": self.model,
            "facts": self.facts_used,
            "tools": self.tools_used,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "ttft_ms": self.ttft_ms,
            "latency_ms": self.latency_ms,
            "error": self.error.map(AnswerError::as_str),
            "class": self.class,
            "route": self.route.iter().map(|hop| hop.to_json()).collect::<Vec<_>>(),
            "left_site": self.left_site,
            "deadline_reached": self.deadline_reached,
            "sources": self.sources,
        })
    }

    /// Encodes answers as one struct array.
    pub fn to_arrow(answers: &[Answer]) -> ArrayRef {
        let str_col = |f: &dyn Fn(&Answer) -> Option<&str>| -> ArrayRef {
            Arc::new(answers.iter().map(f).collect::<StringArray>())
        };
        let string_lists = |f: &dyn Fn(&Answer) -> &[String]| -> ArrayRef {
            let mut lists = ListBuilder::new(StringBuilder::new());
            for answer in answers {
                for item in f(answer) {
                    lists.values().append_value(item);
                }
                lists.append(true);
            }
            Arc::new(lists.finish())
        };
        build_struct(vec![
            ("id", str_col(&|a| Some(&a.id)), false),
            ("operator", str_col(&|a| Some(&a.operator)), false),
            ("reply_to", str_col(&|a| a.reply_to.as_deref()), true),
            ("origin", str_col(&|a| Some(a.origin.as_str())), false),
            ("text", str_col(&|a| Some(&a.text)), false),
            ("confidence", Arc::new(answers.iter().map(|a| a.confidence).collect::<Float32Array>()), true),
            (
                "low_confidence",
                Arc::new(answers.iter().map(|a| Some(a.low_confidence)).collect::<BooleanArray>()),
                false,
            ),
            ("model", str_col(&|a| a.model.as_deref()), true),
            ("facts_used", string_lists(&|a| &a.facts_used), false),
            ("tools_used", string_lists(&|a| &a.tools_used), false),
            ("prompt_tokens", Arc::new(answers.iter().map(|a| a.prompt_tokens).collect::<Int64Array>()), true),
            ("completion_tokens", Arc::new(answers.iter().map(|a| a.completion_tokens).collect::<Int64Array>()), true),
            ("ttft_ms", Arc::new(answers.iter().map(|a| a.ttft_ms).collect::<Int64Array>()), true),
            ("latency_ms", Arc::new(answers.iter().map(|a| Some(a.latency_ms)).collect::<Int64Array>()), false),
            ("error", str_col(&|a| a.error.map(AnswerError::as_str)), true),
            (
                "correlation_data",
                Arc::new(answers.iter().map(|a| a.correlation_data.as_deref()).collect::<BinaryArray>()),
                true,
            ),
            ("class", str_col(&|a| a.class.as_deref()), true),
            ("route", routes_to_arrow(answers.iter().map(|a| a.route.as_slice())), false),
            ("left_site", Arc::new(answers.iter().map(|a| Some(a.left_site)).collect::<BooleanArray>()), false),
            (
                "deadline_reached",
                Arc::new(answers.iter().map(|a| Some(a.deadline_reached)).collect::<BooleanArray>()),
                false,
            ),
            ("sources", string_lists(&|a| &a.sources), false),
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
        let low_confidence = cols.boolean("low_confidence")?;
        let facts = cols.utf8_list("facts_used")?;
        let tools = cols.utf8_list("tools_used")?;
        let prompt_tokens = cols.i64("prompt_tokens")?;
        let completion_tokens = cols.i64("completion_tokens")?;
        let ttft = cols.i64("ttft_ms")?;
        let latency = cols.i64("latency_ms")?;
        let error = cols.utf8("error")?;
        let correlation = cols.binary("correlation_data")?;
        // Routing columns are optional: the slm node and older senders leave them out.
        let class = cols.optional_utf8("class")?;
        let routes = match cols.optional_list("route")? {
            Some(list) => routes_from_arrow(list)?,
            None => vec![Vec::new(); cols.len()],
        };
        let left_site = cols.optional_boolean("left_site")?;
        let deadline_reached = cols.optional_boolean("deadline_reached")?;
        let sources = cols.optional_utf8_list("sources")?;
        let flag = |column: Option<&BooleanArray>, row: usize| column.is_some_and(|c| !c.is_null(row) && c.value(row));
        (0..cols.len())
            .map(|row| {
                let origin_text = cols.required_str(origin, "origin", row)?;
                let origin = Origin::parse(&origin_text).ok_or_else(|| cols.invalid("origin", row, origin_text))?;
                let error = match optional_str(error, row) {
                    None => None,
                    Some(kind) => Some(AnswerError::parse(&kind).ok_or_else(|| cols.invalid("error", row, kind))?),
                };
                if low_confidence.is_null(row) {
                    return Err(cols.null("low_confidence", row));
                }
                Ok(Answer {
                    id: cols.required_str(id, "id", row)?,
                    operator: cols.required_str(operator, "operator", row)?,
                    reply_to: optional_str(reply_to, row),
                    origin,
                    text: cols.required_str(text, "text", row)?,
                    confidence: (!confidence.is_null(row)).then(|| confidence.value(row)),
                    low_confidence: low_confidence.value(row),
                    model: optional_str(model, row),
                    facts_used: strings_in(facts, row),
                    tools_used: strings_in(tools, row),
                    prompt_tokens: optional_i64(prompt_tokens, row),
                    completion_tokens: optional_i64(completion_tokens, row),
                    ttft_ms: optional_i64(ttft, row),
                    latency_ms: optional_i64(latency, row).ok_or_else(|| cols.null("latency_ms", row))?,
                    error,
                    correlation_data: optional_bytes(correlation, row),
                    class: class.and_then(|column| optional_str(column, row)),
                    route: routes[row].clone(),
                    left_site: flag(left_site, row),
                    deadline_reached: flag(deadline_reached, row),
                    sources: sources.map(|list| strings_in(list, row)).unwrap_or_default(),
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
            correlation_data: Some(b"req-7".to_vec()),
            response_schema: None,
        }
    }

    #[test]
    fn answers_survive_a_round_trip() {
        let answers = vec![
            Answer {
                confidence: Some(0.82),
                model: Some("SmolLM2-135M-Instruct Q4_1".into()),
                low_confidence: true,
                facts_used: vec!["spindle_temperature = 72.4 °C".into(), "spindle_speed = 1200 rpm".into()],
                tools_used: vec!["get_tag(spindle_temperature)".into()],
                prompt_tokens: Some(120),
                completion_tokens: Some(12),
                ttft_ms: Some(40),
                latency_ms: 310,
                class: Some("current_value".into()),
                route: vec![
                    RouteHop {
                        tier: "nano".into(),
                        model: Some("SmolLM2".into()),
                        confidence: Some(0.31),
                        latency_ms: 210,
                        outcome: super::super::route::HopOutcome::Escalated,
                        reason: "confidence 0.31 below threshold 0.44".into(),
                    },
                    RouteHop {
                        tier: "remote".into(),
                        model: None,
                        confidence: None,
                        latency_ms: 90,
                        outcome: super::super::route::HopOutcome::Accepted,
                        reason: "last tier".into(),
                    },
                ],
                left_site: true,
                deadline_reached: true,
                sources: vec!["overheat.md § Responding (page 2)".into()],
                ..Answer::to_question(&question(), "The spindle is at 72.4 °C.".into())
            },
            Answer { error: Some(AnswerError::Busy), ..Answer::to_question(&question(), "No plant data yet.".into()) },
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
