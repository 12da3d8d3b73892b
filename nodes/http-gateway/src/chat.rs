//! A chat request becomes a dataflow question; the question's answer becomes
//! a completion. Pure logic: no I/O, so every refusal is unit-tested.

use serde_json::Value;
use shopfloor_core::schema::{Answer, AnswerError, Origin, Question};

use crate::openai::{
    AssistantMessage, ChatChunk, ChatCompletion, ChatRequest, Choice, ChunkChoice, Delta, Extension, ResponseFormat,
    Usage,
};
use crate::schema_grammar::SchemaError;

/// Why a request gets no answer, as an HTTP status and an OpenAI error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// OpenAI error `type`.
    pub kind: &'static str,
    /// The request field at fault.
    pub param: Option<&'static str>,
    /// Machine-readable reason (also the metrics label).
    pub code: &'static str,
    /// For people.
    pub message: String,
}

impl Refusal {
    fn bad_request(param: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self { status: 400, kind: "invalid_request_error", param: Some(param), code, message: message.into() }
    }

    /// 401: no or wrong API key.
    pub fn unauthorized() -> Self {
        Self {
            status: 401,
            kind: "authentication_error",
            param: None,
            code: "invalid_api_key",
            message: "a valid API key is required (Authorization: Bearer <key>)".into(),
        }
    }

    /// 429: as many requests as allowed are being answered.
    pub fn too_many(limit: usize) -> Self {
        Self {
            status: 429,
            kind: "rate_limit_error",
            param: None,
            code: "too_many_requests",
            message: format!("{limit} requests are being answered (GATEWAY_MAX_CONCURRENT); try again shortly"),
        }
    }

    /// 504: the answer did not come in time.
    pub fn timed_out(timeout_ms: u64) -> Self {
        Self {
            status: 504,
            kind: "timeout_error",
            param: None,
            code: "deadline_exceeded",
            message: format!("no answer within {timeout_ms} ms (GATEWAY_TIMEOUT_MS)"),
        }
    }

    /// 503: the dataflow is stopping or its model node is gone.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self { status: 503, kind: "server_error", param: None, code: "unavailable", message: message.into() }
    }
}

/// What the gateway knows when a request arrives.
#[derive(Debug, Clone)]
pub struct RequestContext<'a> {
    /// The id the question and the completion get.
    pub id: String,
    /// Operator when the request names no `user`.
    pub default_operator: &'a str,
    /// Now, in ms since epoch.
    pub now_ms: i64,
    /// The answer is wanted within this many ms.
    pub timeout_ms: u64,
    /// Names a request may put in `model`.
    pub models: &'a [String],
}

/// Longest `user` accepted as an operator name.
const MAX_OPERATOR_CHARS: usize = 64;

/// The question a request asks, or why it cannot be asked. `compile` turns a
/// JSON Schema into a grammar (llama.cpp's converter in the binary): a schema
/// it refuses is refused here, never answered without constraint.
pub fn to_question(
    request: &ChatRequest,
    context: &RequestContext<'_>,
    compile: &dyn Fn(&str) -> Result<(), SchemaError>,
) -> Result<Question, Refusal> {
    if !context.models.contains(&request.model) {
        return Err(Refusal {
            status: 404,
            kind: "invalid_request_error",
            param: Some("model"),
            code: "model_not_found",
            message: format!("unknown model {:?}; GET /v1/models lists {}", request.model, context.models.join(", ")),
        });
    }
    if request.n.is_some_and(|n| n != 1) {
        return Err(Refusal::bad_request("n", "unsupported_parameter", "only n=1 is served"));
    }
    if request.tools.as_ref().is_some_and(|tools| !tools.is_null() && tools.as_array().is_none_or(|t| !t.is_empty())) {
        return Err(Refusal::bad_request(
            "tools",
            "unsupported_parameter",
            "client tools are not supported: the plant model calls its own read-only plant tools",
        ));
    }
    let text = request
        .messages
        .iter()
        .rev()
        .find(|message| message.role == "user")
        .and_then(|message| message.text())
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| Refusal::bad_request("messages", "missing_question", "no user message with text"))?;
    let response_schema = match &request.response_format {
        None | Some(ResponseFormat::Text) => None,
        Some(ResponseFormat::JsonObject) => Some(r#"{"type":"object"}"#.to_owned()),
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            let schema = json_schema.schema.as_ref().filter(|schema| !schema.is_null()).ok_or_else(|| {
                Refusal::bad_request(
                    "response_format",
                    "invalid_schema",
                    "response_format.json_schema.schema is missing",
                )
            })?;
            if !schema.is_object() && *schema != Value::Bool(true) {
                return Err(Refusal::bad_request(
                    "response_format",
                    "invalid_schema",
                    "the JSON schema must be an object",
                ));
            }
            let text = schema.to_string();
            compile(&text).map_err(|error| {
                Refusal::bad_request(
                    "response_format",
                    "invalid_schema",
                    format!(
                        "the JSON schema cannot be turned into a grammar, so no constrained answer is possible: {}",
                        error.0
                    ),
                )
            })?;
            Some(text)
        }
    };
    let operator = match request.user.as_deref().map(str::trim) {
        Some(user) if !user.is_empty() => {
            if user.chars().count() > MAX_OPERATOR_CHARS || user.chars().any(char::is_control) {
                return Err(Refusal::bad_request(
                    "user",
                    "invalid_user",
                    "user must be at most 64 printable characters",
                ));
            }
            user.to_owned()
        }
        _ => context.default_operator.to_owned(),
    };
    // Debug only: the words as received, e.g. to audit what another site sent.
    tracing::debug!(id = %context.id, %operator, question = %text, "chat question received");
    Ok(Question {
        id: context.id.clone(),
        text,
        operator,
        reply_to: None,
        origin: Origin::Http,
        received_ts_ms: context.now_ms,
        deadline_ms: Some(context.now_ms + context.timeout_ms as i64),
        correlation_data: None,
        response_schema,
    })
}

/// The refusal an answer stands for, if it is one: a full queue is 503 (try
/// again), an expired question 504, an unusable question or schema 400.
/// Other errors (no plant data yet, a model failure answered from the facts)
/// are sentence answers with the reason in the extension, except where JSON
/// was asked for: a sentence there would break the client's parser, so they
/// are 503 (no plant data yet), 500 (generation failed) and 404 (no
/// document covers the procedure asked for); a procedure quoted from the
/// documents is 422 there (it is never JSON).
pub fn refusal_of(answer: &Answer, wants_json: bool) -> Option<Refusal> {
    // A procedure is quoted from the site's documents as it is written:
    // never JSON, so a client that asked for JSON is told, not handed text.
    if wants_json && answer.error.is_none() && !answer.sources.is_empty() {
        let code = "procedure_not_json";
        return Some(Refusal {
            status: 422,
            kind: "invalid_request_error",
            param: Some("response_format"),
            code,
            message: answer.text.clone(),
        });
    }
    let (status, kind, param, code) = match answer.error? {
        AnswerError::Busy => (503, "server_error", None, "busy"),
        AnswerError::DeadlineExceeded => (504, "timeout_error", None, "deadline_exceeded"),
        AnswerError::InvalidQuestion => (400, "invalid_request_error", Some("messages"), "invalid_question"),
        AnswerError::InvalidSchema => (400, "invalid_request_error", Some("response_format"), "invalid_schema"),
        AnswerError::NoPlantData if wants_json => (503, "server_error", None, "no_plant_data"),
        AnswerError::GenerationFailed if wants_json => (500, "server_error", None, "generation_failed"),
        AnswerError::NoProcedure if wants_json => (404, "not_found_error", None, "no_procedure"),
        AnswerError::NoPlantData | AnswerError::GenerationFailed | AnswerError::NoProcedure => return None,
    };
    Some(Refusal { status, kind, param, code, message: answer.text.clone() })
}

fn extension(answer: &Answer) -> Extension {
    Extension {
        confidence: answer.confidence,
        low_confidence: answer.low_confidence,
        tier_path: if answer.route.is_empty() {
            vec![answer.model.clone().unwrap_or_else(|| "facts".to_owned())]
        } else {
            answer.route.iter().map(|hop| hop.tier.clone()).collect()
        },
        facts_used: answer.facts_used.clone(),
        tools_used: answer.tools_used.clone(),
        error: answer.error.map(|e| e.as_str().to_owned()),
        ttft_ms: answer.ttft_ms,
        latency_ms: answer.latency_ms,
        class: answer.class.clone(),
        route: answer.route.iter().map(|hop| hop.to_json()).collect(),
        left_site: answer.left_site,
        deadline_reached: answer.deadline_reached,
        sources: answer.sources.clone(),
    }
}

fn usage(answer: &Answer) -> Usage {
    let prompt_tokens = answer.prompt_tokens.unwrap_or(0);
    let completion_tokens = answer.completion_tokens.unwrap_or(0);
    Usage { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens }
}

/// The completion for an answer that is not a refusal.
pub fn completion(answer: &Answer, requested_model: &str, created: i64) -> ChatCompletion {
    ChatCompletion {
        id: answer.id.clone(),
        object: "chat.completion",
        created,
        model: requested_model.to_owned(),
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage { role: "assistant", content: answer.text.clone() },
            finish_reason: "stop",
        }],
        usage: usage(answer),
        shopfloor: extension(answer),
    }
}

/// The chunks of a streamed answer: the role, the text, then the end with
/// usage and the extension. The text is one delta because answers are
/// checked against the facts before they leave the model node
/// (docs/decisions.md).
pub fn chunks(answer: &Answer, requested_model: &str, created: i64) -> Vec<ChatChunk> {
    let chunk = |delta: Delta, finish_reason, end: bool| ChatChunk {
        id: answer.id.clone(),
        object: "chat.completion.chunk",
        created,
        model: requested_model.to_owned(),
        choices: vec![ChunkChoice { index: 0, delta, finish_reason }],
        usage: end.then(|| usage(answer)),
        shopfloor: end.then(|| extension(answer)),
    };
    vec![
        chunk(Delta { role: Some("assistant"), content: Some(String::new()) }, None, false),
        chunk(Delta { role: None, content: Some(answer.text.clone()) }, None, false),
        chunk(Delta::default(), Some("stop"), true),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: Value) -> ChatRequest {
        serde_json::from_value(json).unwrap()
    }

    fn context(models: &[String]) -> RequestContext<'_> {
        RequestContext { id: "chatcmpl-1".into(), default_operator: "http", now_ms: 1000, timeout_ms: 500, models }
    }

    fn compiles(_: &str) -> Result<(), SchemaError> {
        Ok(())
    }

    fn ask(json: Value) -> Result<Question, Refusal> {
        let models = vec!["shopfloor-assistant".to_owned()];
        to_question(&request(json), &context(&models), &compiles)
    }

    #[test]
    fn the_last_user_message_is_the_question() {
        let question = ask(serde_json::json!({
            "model": "shopfloor-assistant",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "old question"},
                {"role": "assistant", "content": "old answer"},
                {"role": "user", "content": [{"type": "text", "text": "How hot is"}, {"type": "text", "text": "the spindle?"}]}
            ],
            "user": "alice",
            "temperature": 0.2
        }))
        .unwrap();
        assert_eq!(question.text, "How hot is the spindle?");
        assert_eq!((question.operator.as_str(), question.origin), ("alice", Origin::Http));
        assert_eq!((question.received_ts_ms, question.deadline_ms), (1000, Some(1500)));
        assert_eq!(question.response_schema, None);
    }

    #[test]
    fn an_unknown_model_is_404_and_other_misuse_400_naming_the_field() {
        let refusal =
            ask(serde_json::json!({"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]})).unwrap_err();
        assert_eq!((refusal.status, refusal.code), (404, "model_not_found"));
        let cases = [
            (serde_json::json!({"model": "shopfloor-assistant", "messages": []}), "messages"),
            (
                serde_json::json!({"model": "shopfloor-assistant", "messages": [{"role": "system", "content": "x"}]}),
                "messages",
            ),
            (
                serde_json::json!({"model": "shopfloor-assistant", "n": 2, "messages": [{"role": "user", "content": "x"}]}),
                "n",
            ),
            (
                serde_json::json!({"model": "shopfloor-assistant", "tools": [{"type": "function"}], "messages": [{"role": "user", "content": "x"}]}),
                "tools",
            ),
            (
                serde_json::json!({"model": "shopfloor-assistant", "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}, "messages": [{"role": "user", "content": "x"}]}),
                "response_format",
            ),
            (
                serde_json::json!({"model": "shopfloor-assistant", "user": "a\nb", "messages": [{"role": "user", "content": "x"}]}),
                "user",
            ),
        ];
        for (json, param) in cases {
            let refusal = ask(json).unwrap_err();
            assert_eq!((refusal.status, refusal.param), (400, Some(param)), "{refusal:?}");
        }
    }

    #[test]
    fn a_schema_that_does_not_compile_is_refused_never_answered_freely() {
        let models = vec!["shopfloor-assistant".to_owned()];
        let json = serde_json::json!({
            "model": "shopfloor-assistant",
            "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object", "properties": {"v": {"type": "number"}}}}}
        });
        // llama.cpp's own refusal, of a schema that is not even JSON.
        let refuse = |_: &str| crate::schema_grammar::compile(r#"{"type":"#);
        let refusal = to_question(&request(json.clone()), &context(&models), &refuse).unwrap_err();
        assert_eq!((refusal.status, refusal.code), (400, "invalid_schema"));
        assert!(refusal.message.contains("JsonSchemaToGrammar"), "{}", refusal.message);
        let question = to_question(&request(json), &context(&models), &compiles).unwrap();
        let schema: Value = serde_json::from_str(question.response_schema.as_deref().unwrap()).unwrap();
        assert_eq!(schema, serde_json::json!({"type": "object", "properties": {"v": {"type": "number"}}}));
    }

    #[test]
    fn busy_and_expired_answers_are_refusals_other_errors_are_answers() {
        let question =
            ask(serde_json::json!({"model": "shopfloor-assistant", "messages": [{"role": "user", "content": "x"}]}))
                .unwrap();
        let mut answer = Answer::to_question(&question, "busy".into());
        answer.error = Some(AnswerError::Busy);
        assert_eq!(refusal_of(&answer, false).map(|r| r.status), Some(503));
        answer.error = Some(AnswerError::DeadlineExceeded);
        assert_eq!(refusal_of(&answer, false).map(|r| r.status), Some(504));
        answer.error = Some(AnswerError::GenerationFailed);
        assert_eq!(refusal_of(&answer, true).map(|r| r.status), Some(500), "a sentence is no JSON answer");
        answer.error = Some(AnswerError::NoPlantData);
        assert_eq!(refusal_of(&answer, true).map(|r| r.status), Some(503));
        assert_eq!(refusal_of(&answer, false), None);
        let mut quoted = Answer::to_question(&question, "Clearing the jam (from ...):\n1. Press Cycle Stop.".into());
        quoted.sources = vec!["jam.txt § Clearing the jam".into()];
        assert_eq!(refusal_of(&quoted, false), None, "a quoted procedure is a sentence answer");
        assert_eq!(refusal_of(&quoted, true).map(|r| (r.status, r.code)), Some((422, "procedure_not_json")));
        let completion = completion(&answer, "shopfloor-assistant", 7);
        assert_eq!(completion.shopfloor.error.as_deref(), Some("no_plant_data"));
        assert_eq!(completion.shopfloor.tier_path, vec!["facts".to_owned()]);
    }

    #[test]
    fn a_stream_is_role_text_then_end_with_the_extension() {
        let question =
            ask(serde_json::json!({"model": "shopfloor-assistant", "messages": [{"role": "user", "content": "x"}]}))
                .unwrap();
        let mut answer = Answer::to_question(&question, "Spindle at 61 °C.".into());
        answer.model = Some("SmolLM2".into());
        answer.confidence = Some(0.8);
        let chunks = chunks(&answer, "shopfloor-assistant", 7);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].choices[0].delta.content.as_deref(), Some("Spindle at 61 °C."));
        assert_eq!(chunks[2].choices[0].finish_reason, Some("stop"));
        assert_eq!(chunks[2].shopfloor.as_ref().map(|e| e.tier_path.clone()), Some(vec!["SmolLM2".to_owned()]));
        assert!(chunks[0].shopfloor.is_none());
    }
}
