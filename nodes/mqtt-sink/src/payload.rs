//! The JSON an operator's client receives, and the topic it goes to.
//!
//! ```json
//! {"id":"q-1","answer":"The spindle temperature is 72.4 °C.","operator":"alice",
//!  "confidence":0.81,"low_confidence":false,"model":"SmolLM2-135M-Instruct.Q4_1",
//!  "facts":["spindle temperature: 72.4 °C, 7.6 °C below high limit 80 °C, stable (quality good, changed 0.3 s ago)"],
//!  "tools":[],"prompt_tokens":112,"completion_tokens":11,"ttft_ms":42,"latency_ms":310,"error":null}
//! ```

use shopfloor_core::schema::{Answer, AnswerError};
use shopfloor_core::topics::TopicLayout;

/// Where the answer goes: the asker's `reply_to`, else the operator's answer topic.
pub fn answer_topic(layout: &TopicLayout, answer: &Answer) -> String {
    answer
        .reply_to
        .clone()
        .unwrap_or_else(|| layout.answer_topic(&answer.operator))
}

/// The published JSON.
pub fn answer_json(answer: &Answer) -> Vec<u8> {
    serde_json::json!({
        "id": answer.id,
        "answer": answer.text,
        "operator": answer.operator,
        "confidence": answer.confidence,
        "low_confidence": answer.low_confidence,
        "model": answer.model,
        "facts": answer.facts_used,
        "tools": answer.tools_used,
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "ttft_ms": answer.ttft_ms,
        "latency_ms": answer.latency_ms,
        "error": answer.error.map(AnswerError::as_str),
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopfloor_core::schema::{Origin, Question};

    fn answer(reply_to: Option<&str>) -> Answer {
        let question = Question {
            id: "q-1".into(),
            text: "t".into(),
            operator: "alice".into(),
            reply_to: reply_to.map(str::to_owned),
            origin: Origin::Mqtt,
            received_ts_ms: 0,
            deadline_ms: None,
        };
        Answer::to_question(&question, "It is 72.4 °C.".into())
    }

    #[test]
    fn answers_go_to_the_operators_topic_unless_reply_to_is_set() {
        let layout = TopicLayout::new("p/a/c").unwrap();
        assert_eq!(answer_topic(&layout, &answer(None)), "p/a/c/assistant/answer/alice");
        assert_eq!(answer_topic(&layout, &answer(Some("hmi/1"))), "hmi/1");
    }

    #[test]
    fn the_json_carries_the_questions_id_and_the_answer() {
        let json: serde_json::Value = serde_json::from_slice(&answer_json(&answer(None))).unwrap();
        assert_eq!(json["id"], "q-1");
        assert_eq!(json["answer"], "It is 72.4 °C.");
        assert!(json["error"].is_null());
    }
}
