//! The JSON subscribers receive, and the topics it goes to.
//!
//! Answer:
//! ```json
//! {"id":"q-1","answer":"The spindle temperature is 72.4 °C.","operator":"alice",
//!  "confidence":0.81,"low_confidence":false,"model":"SmolLM2-135M-Instruct.Q4_1",
//!  "facts":["spindle temperature: 72.4 °C, 7.6 °C below high limit 80 °C, stable (quality good, changed 0.3 s ago)"],
//!  "tools":[],"prompt_tokens":112,"completion_tokens":11,"ttft_ms":42,"latency_ms":310,"error":null}
//! ```

use shopfloor_core::schema::{Alert, Answer};
use shopfloor_core::topics::{topic_level, TopicLayout};

/// Where the answer goes: the asker's `reply_to`, else the operator's answer topic.
pub fn answer_topic(layout: &TopicLayout, answer: &Answer) -> String {
    answer.reply_to.clone().unwrap_or_else(|| layout.answer_topic(&answer.operator))
}

/// The published JSON.
pub fn answer_json(answer: &Answer) -> Vec<u8> {
    answer.to_json().to_string().into_bytes()
}

/// An alert's topic, `<root>/alerts/<station>/<severity>`, and its station's
/// retained "last alert" topic. A station name that is not a plain topic level
/// is made one (`/`, `+`, `#` become `_`) rather than losing the alert.
pub fn alert_topics(layout: &TopicLayout, alert: &Alert) -> (String, String) {
    let station = topic_level(&alert.station);
    (layout.alert_topic(&station, alert.severity.as_str()), layout.last_alert_topic(&station))
}

/// The published alert JSON (the inspection fields are null or empty for
/// alerts that do not come from a camera; see docs/mqtt.md):
///
/// ```json
/// {"id":"a-17","ts_ms":1764000000000,"station":"station3","severity":"critical","kind":"scratch",
///  "message":"Scratch on the housing, left side.","confidence":0.91,"source":"vlm-inspector",
///  "frame_id":"cam1-000042","model":"SmolVLM-500M","line":"line1","anomaly_score":9.5,
///  "regions":[{"x":10,"y":20,"width":30,"height":8,"score":9.5}],"location":"top-left",
///  "verdict":"defect","image_ref":"crops/cam1-000042.png","tag":null,
///  "response":"1. Stop the line.\n2. Pull the part.","response_source":"defect-response.md § Scratches"}
/// ```
///
/// `response` is what to do, from the site's documents (null when they
/// have no matching section), `response_source` where it is from.
pub fn alert_json(alert: &Alert) -> Vec<u8> {
    serde_json::json!({
        "id": alert.id,
        "ts_ms": alert.ts_ms,
        "station": alert.station,
        "severity": alert.severity.as_str(),
        "kind": alert.kind,
        "message": alert.message,
        "confidence": alert.confidence,
        "source": alert.source,
        "frame_id": alert.frame_id,
        "model": alert.model,
        "line": alert.line,
        "anomaly_score": alert.anomaly_score,
        "regions": alert.regions.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
        "location": alert.location,
        "verdict": alert.verdict,
        "image_ref": alert.image_ref,
        "tag": alert.tag,
        "response": alert.response,
        "response_source": alert.response_source,
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopfloor_core::schema::{Origin, Question, Severity};

    #[test]
    fn alerts_are_filed_by_station_and_severity_even_with_a_bad_station_name() {
        let layout = TopicLayout::new("p/a/c").unwrap();
        let alert = Alert {
            confidence: Some(0.5),
            ..Alert::new("a-1", 5, "st/3+", Severity::Critical, "scratch", "Scratch.", "vision")
        };
        assert_eq!(
            alert_topics(&layout, &alert),
            ("p/a/c/alerts/st_3_/critical".into(), "p/a/c/alerts/st_3_/last".into())
        );
        let json: serde_json::Value = serde_json::from_slice(&alert_json(&alert)).unwrap();
        assert_eq!((json["id"].as_str(), json["severity"].as_str()), (Some("a-1"), Some("critical")));
        assert_eq!(json["station"], "st/3+");
    }

    fn answer(reply_to: Option<&str>) -> Answer {
        let question = Question {
            id: "q-1".into(),
            text: "t".into(),
            operator: "alice".into(),
            reply_to: reply_to.map(str::to_owned),
            origin: Origin::Mqtt,
            received_ts_ms: 0,
            deadline_ms: None,
            correlation_data: None,
            response_schema: None,
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
