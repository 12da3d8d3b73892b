//! The parts of the OpenAI chat-completions wire format the gateway speaks.
//! Unknown request fields are accepted and ignored (clients send many), so
//! any OpenAI client works; fields that change the meaning of a request and
//! that the gateway cannot honour (`n` > 1, tools) are refused in `chat.rs`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/chat/completions` body.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    /// A model from `GET /v1/models`.
    pub model: String,
    /// The conversation; the last `user` message is the question.
    pub messages: Vec<ChatMessage>,
    /// Server-sent events instead of one JSON body.
    #[serde(default)]
    pub stream: bool,
    /// `text`, `json_object` or `json_schema`.
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
    /// Recorded as the question's operator.
    #[serde(default)]
    pub user: Option<String>,
    /// Number of choices; only 1 is served.
    #[serde(default)]
    pub n: Option<u32>,
    /// Tool definitions; the dataflow's model uses its own read-only tools.
    #[serde(default)]
    pub tools: Option<Value>,
}

/// One message of the conversation.
#[derive(Debug, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, …
    pub role: String,
    /// A string, or a list of parts of which the `text` parts are read.
    #[serde(default)]
    pub content: Option<Value>,
}

impl ChatMessage {
    /// The message's text: the string, or its text parts joined by spaces.
    pub fn text(&self) -> Option<String> {
        match self.content.as_ref()? {
            Value::String(text) => Some(text.clone()),
            Value::Array(parts) => {
                let texts: Vec<&str> = parts
                    .iter()
                    .filter(|part| part.get("type").and_then(Value::as_str) == Some("text"))
                    .filter_map(|part| part.get("text").and_then(Value::as_str))
                    .collect();
                (!texts.is_empty()).then(|| texts.join(" "))
            }
            _ => None,
        }
    }
}

/// `response_format`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Plain text (the default).
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON that follows `json_schema.schema`.
    JsonSchema { json_schema: JsonSchemaSpec },
}

/// `response_format.json_schema`.
#[derive(Debug, Deserialize)]
pub struct JsonSchemaSpec {
    /// The schema's name (accepted; not used).
    #[serde(default)]
    pub name: Option<String>,
    /// The JSON Schema itself.
    #[serde(default)]
    pub schema: Option<Value>,
}

/// A non-streamed completion.
#[derive(Debug, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    /// Always `chat.completion`.
    pub object: &'static str,
    /// Seconds since epoch.
    pub created: i64,
    /// The model that answered (or the dataflow's name when the facts did).
    pub model: String,
    /// Exactly one.
    pub choices: Vec<Choice>,
    /// Token counts, when a model ran.
    pub usage: Usage,
    /// What Shopfloor adds (docs/http.md).
    pub shopfloor: Extension,
}

/// One choice of a completion.
#[derive(Debug, Serialize)]
pub struct Choice {
    /// Always 0.
    pub index: u32,
    pub message: AssistantMessage,
    /// `stop`.
    pub finish_reason: &'static str,
}

/// The assistant's message.
#[derive(Debug, Serialize)]
pub struct AssistantMessage {
    /// Always `assistant`.
    pub role: &'static str,
    /// The answer text (JSON text for a `response_format` request).
    pub content: String,
}

/// Token usage.
#[derive(Debug, Serialize, Default)]
pub struct Usage {
    /// Tokens the model read.
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
}

/// The project's extension field, `shopfloor` in every response and in the
/// last streamed chunk.
#[derive(Debug, Serialize, Clone)]
pub struct Extension {
    /// Geometric mean of the content tokens' probabilities; null when the
    /// answer was made from the facts alone.
    pub confidence: Option<f32>,
    /// Below the node's confidence threshold.
    pub low_confidence: bool,
    /// The tiers/models the question passed through, in order.
    pub tier_path: Vec<String>,
    /// The fact lines the answer was grounded in.
    pub facts_used: Vec<String>,
    /// Read-only tools the model called.
    pub tools_used: Vec<String>,
    /// Why there is no model answer (`no_plant_data`, `generation_failed`, …).
    pub error: Option<String>,
    /// Milliseconds from receipt to the first token, when a model ran.
    pub ttft_ms: Option<i64>,
    /// Milliseconds from receipt to the answer.
    pub latency_ms: i64,
    /// The router's class of the question, when routed.
    pub class: Option<String>,
    /// Each tier tried: tier, model, confidence, latency_ms, outcome, reason.
    pub route: Vec<serde_json::Value>,
    /// The question (redacted) went to an endpoint off the site.
    pub left_site: bool,
    /// The deadline stopped escalation; this is the best answer so far.
    pub deadline_reached: bool,
    /// The documents the answer quotes (`file § heading (page N)`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

/// One streamed chunk.
#[derive(Debug, Serialize)]
pub struct ChatChunk {
    /// The question's id (the same in every chunk).
    pub id: String,
    /// Always `chat.completion.chunk`.
    pub object: &'static str,
    /// Seconds since epoch.
    pub created: i64,
    /// As in [`ChatCompletion`].
    pub model: String,
    /// Exactly one.
    pub choices: Vec<ChunkChoice>,
    /// In the last chunk only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// In the last chunk only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shopfloor: Option<Extension>,
}

/// One choice of a chunk.
#[derive(Debug, Serialize)]
pub struct ChunkChoice {
    /// Always 0.
    pub index: u32,
    /// What this chunk adds.
    pub delta: Delta,
    /// `stop` in the last chunk.
    pub finish_reason: Option<&'static str>,
}

/// What a chunk adds to the message.
#[derive(Debug, Serialize, Default)]
pub struct Delta {
    /// `assistant`, in the first chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// `GET /v1/models` entry.
#[derive(Debug, Serialize, PartialEq)]
pub struct ModelEntry {
    /// The name to put in `model`.
    pub id: String,
    /// Always `model`.
    pub object: &'static str,
    /// Seconds since epoch the gateway first saw it.
    pub created: i64,
    /// `shopfloor` for the dataflow, else the node that serves it.
    pub owned_by: String,
}

/// The error body every refusal carries.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize)]
pub struct ErrorDetail {
    /// For people.
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, …
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The request field at fault, when one is.
    pub param: Option<&'static str>,
    /// Machine-readable reason, e.g. `invalid_schema`.
    pub code: &'static str,
}
