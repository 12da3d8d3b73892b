//! The off-site tier: one OpenAI-compatible chat completion per escalated
//! question, with everything sent redacted first and, when configured,
//! logged exactly as sent. Blocking; the node runs each call on its own thread.

use std::io::Write;
use std::time::Duration;

use crate::config::HttpTierConfig;
use serde_json::{json, Value};
use shopfloor_core::schema::Question;

use crate::redact::Redactor;

/// Why the endpoint gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpTierError {
    /// Connection refused, timeout, TLS, ...
    #[error("request to {url} failed")]
    Transport {
        url: String,
        #[source]
        source: Box<ureq::Transport>,
    },
    /// The endpoint answered with an error status; `body` is the start of its reply.
    #[error("request to {url} failed: HTTP {code}: {body}")]
    Status { url: String, code: u16, body: String },
    #[error("cannot read the reply from {url}")]
    ReadReply {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reply from {url} is not a chat completion")]
    BadReply {
        url: String,
        #[source]
        source: ReplyError,
    },
}

/// Why a reply is not a chat completion.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("not JSON")]
    NotJson(#[source] serde_json::Error),
    #[error("no choices[0].message.content")]
    NoContent,
}

/// The endpoint's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpReply {
    pub text: String,
    /// The model the endpoint names.
    pub model: String,
    /// The answer's confidence, when the endpoint reports one (the
    /// project's own gateway does, in its `shopfloor` extension).
    pub confidence: Option<f32>,
}

/// The request body for `question` with `facts`, redacted.
pub fn request_body(config: &HttpTierConfig, redactor: &Redactor, question: &Question, facts: &[String]) -> Value {
    let operator = question.operator.as_str();
    let mut system =
        String::from("You answer an operator's question about an industrial plant in one or two sentences.");
    if !facts.is_empty() {
        system.push_str(" Facts from the plant:");
        for fact in facts {
            system.push_str("\n- ");
            system.push_str(&redactor.redact(fact, operator));
        }
    }
    // No id, operator, reply topic or correlation data: only the redacted words.
    let mut body = json!({
        "model": config.model,
        "max_tokens": config.max_tokens,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": redactor.redact(&question.text, operator)},
        ],
    });
    // A question that wants JSON keeps wanting it off the site.
    if let Some(schema) = question.response_schema.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok()) {
        body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}});
    }
    body
}

/// Sends `body` to the endpoint and reads the reply.
pub fn ask(config: &HttpTierConfig, body: &Value, now_ms: i64) -> Result<HttpReply, HttpTierError> {
    let url = format!("{}/chat/completions", config.url);
    if let Some(path) = &config.outbound_log {
        // An audit trail that cannot be written is logged, not fatal: the
        // question was allowed to leave by configuration.
        if let Err(error) = append_log(path, &url, body, now_ms) {
            tracing::warn!(path = %path.display(), %error, "cannot write the outbound log");
        }
    }
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_millis(config.timeout_ms)).build();
    let mut request = agent.post(&url).set("Content-Type", "application/json");
    if let Some(key) = &config.api_key {
        request = request.set("Authorization", &format!("Bearer {}", key.expose()));
    }
    let response = request.send_string(&body.to_string()).map_err(|error| match error {
        ureq::Error::Status(code, response) => {
            // The start of an error page is enough to say what went wrong.
            let body: String = response.into_string().unwrap_or_default().chars().take(200).collect();
            HttpTierError::Status { url: url.clone(), code, body }
        }
        ureq::Error::Transport(transport) => HttpTierError::Transport { url: url.clone(), source: Box::new(transport) },
    })?;
    let text = response.into_string().map_err(|source| HttpTierError::ReadReply { url: url.clone(), source })?;
    parse_reply(&text).map_err(|source| HttpTierError::BadReply { url, source })
}

/// Reads a chat completion.
pub fn parse_reply(text: &str) -> Result<HttpReply, ReplyError> {
    let reply: Value = serde_json::from_str(text).map_err(ReplyError::NotJson)?;
    let content = reply.pointer("/choices/0/message/content").and_then(Value::as_str).ok_or(ReplyError::NoContent)?;
    Ok(HttpReply {
        text: content.trim().to_owned(),
        model: reply.get("model").and_then(Value::as_str).unwrap_or("remote").to_owned(),
        confidence: reply.pointer("/shopfloor/confidence").and_then(Value::as_f64).map(|c| c as f32),
    })
}

fn append_log(path: &std::path::Path, url: &str, body: &Value, now_ms: i64) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    let line = json!({"ts_ms": now_ms, "url": url, "body": body});
    writeln!(file, "{line}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RedactRule;
    use shopfloor_core::schema::Origin;

    fn config() -> HttpTierConfig {
        HttpTierConfig {
            url: "http://127.0.0.1:9/v1".into(),
            model: "big".into(),
            api_key: None,
            timeout_ms: 500,
            max_tokens: 64,
            redact: vec![RedactRule { pattern: "plant1".into(), replacement: "[site]".into() }],
            outbound_log: None,
        }
    }

    #[test]
    fn the_body_holds_only_redacted_words() {
        let redactor = Redactor::new(&config().redact).unwrap();
        let mut question = Question::new("q-1", "bob here: is plant1 too hot?", "bob", Origin::Mqtt, 0);
        question.reply_to = Some("plant1/answers/bob".into());
        let body = request_body(&config(), &redactor, &question, &["plant1 spindle_temperature = 91 °C".into()]);
        let text = body.to_string();
        assert!(!text.contains("plant1") && !text.contains("bob") && !text.contains("q-1"), "{text}");
        assert!(text.contains("[site] spindle_temperature = 91 °C") && text.contains("[operator] here"), "{text}");
    }

    #[test]
    fn a_json_question_asks_for_json_off_the_site_too() {
        let redactor = Redactor::new(&[]).unwrap();
        let mut question = Question::new("q-2", "spindle speed as JSON", "http", Origin::Http, 0);
        assert!(request_body(&config(), &redactor, &question, &[]).get("response_format").is_none());
        question.response_schema = Some(r#"{"type":"object"}"#.into());
        let body = request_body(&config(), &redactor, &question, &[]);
        assert_eq!(body["response_format"]["json_schema"]["schema"], json!({"type": "object"}));
    }

    #[test]
    fn replies_are_read_with_or_without_a_confidence() {
        let ours = r#"{"model":"m","choices":[{"message":{"content":" 72 °C "}}],"shopfloor":{"confidence":0.9}}"#;
        assert_eq!(
            parse_reply(ours).unwrap(),
            HttpReply { text: "72 °C".into(), model: "m".into(), confidence: Some(0.9) }
        );
        assert_eq!(parse_reply(r#"{"choices":[{"message":{"content":"x"}}]}"#).unwrap().confidence, None);
        assert!(matches!(parse_reply(r#"{"error":"nope"}"#), Err(ReplyError::NoContent)));
        assert!(matches!(parse_reply("not json"), Err(ReplyError::NotJson(_))));
    }

    #[test]
    fn an_unreachable_endpoint_is_an_error_not_a_hang() {
        let body = json!({});
        assert!(matches!(ask(&config(), &body, 0), Err(HttpTierError::Transport { .. })));
    }
}
