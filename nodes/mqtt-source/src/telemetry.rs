//! Telemetry payloads to readings (pure): which subscription a topic belongs
//! to, and how its payload becomes readings in the shared `reading` schema.

use crate::config::{render_tag, PathStep, PayloadFormat, TelemetrySubscription};
use serde_json::Value;
use shopfloor_core::schema::{Reading, ReadingValue};
use shopfloor_mqtt::rumqttc;

use crate::rejection::Rejection;

/// The first subscription whose filter matches `topic`.
pub fn route<'a>(subscriptions: &'a [TelemetrySubscription], topic: &str) -> Option<&'a TelemetrySubscription> {
    subscriptions.iter().find(|s| rumqttc::matches(topic, &s.filter))
}

/// Below this a timestamp is taken as seconds, not milliseconds (10^11 ms is
/// 1973; 10^11 s is far in the future).
const SECONDS_BELOW: f64 = 1e11;

/// Readings from one telemetry message.
pub fn decode(
    subscription: &TelemetrySubscription,
    source: &str,
    topic: &str,
    payload: &[u8],
    max_payload_bytes: usize,
    now_ms: i64,
) -> Result<Vec<Reading>, Rejection> {
    if payload.len() > max_payload_bytes {
        return Err(Rejection::Oversized { bytes: payload.len(), limit: max_payload_bytes });
    }
    let text = std::str::from_utf8(payload).map_err(|_| Rejection::NotUtf8)?;
    let reading =
        |tag: &str, unit: &Option<String>, value: ReadingValue, ts: Option<i64>| -> Result<Reading, Rejection> {
            let tag = render_tag(tag, topic)
                .ok_or(Rejection::InvalidValue { field: "tag", why: "names a topic level the topic does not have" })?;
            let mut reading = Reading::good(source, tag, value, unit.clone(), ts, now_ms);
            reading.description = subscription.description.clone();
            Ok(reading)
        };
    match &subscription.format {
        // Stateful: handled by `sparkplug::SparkplugState` before this is called.
        PayloadFormat::Sparkplug => Err(Rejection::UnexpectedTopic),
        PayloadFormat::Number { tag, unit } => {
            let value: f64 = text.trim().parse().map_err(|_| Rejection::NotANumber)?;
            if !value.is_finite() {
                return Err(Rejection::NotANumber);
            }
            Ok(vec![reading(tag, unit, ReadingValue::Number(value), None)?])
        }
        PayloadFormat::Json { fields, timestamp } => {
            let json: Value = serde_json::from_str(text).map_err(Rejection::from)?;
            let ts = match timestamp {
                None => None,
                Some(path) => Some(timestamp_ms(lookup(&json, path).ok_or(Rejection::MissingField("ts"))?)?),
            };
            let mut readings = Vec::new();
            for field in fields {
                let Some(value) = lookup(&json, &field.path) else { continue };
                let value = match value {
                    Value::Number(n) => ReadingValue::Number(n.as_f64().ok_or(Rejection::NotANumber)?),
                    Value::Bool(b) => ReadingValue::Number(f64::from(u8::from(*b))),
                    Value::String(s) => ReadingValue::Text(s.clone()),
                    _ => {
                        return Err(Rejection::WrongType {
                            field: "mapped field",
                            expected: "a number, boolean or string",
                        })
                    }
                };
                readings.push(reading(&field.tag, &field.unit, value, ts)?);
            }
            if readings.is_empty() {
                return Err(Rejection::NoMappedField);
            }
            Ok(readings)
        }
    }
}

fn lookup<'a>(json: &'a Value, path: &[PathStep]) -> Option<&'a Value> {
    path.iter().try_fold(json, |value, step| match step {
        PathStep::Key(key) => value.get(key.as_str()),
        PathStep::Index(i) => value.get(*i),
    })
}

fn timestamp_ms(value: &Value) -> Result<i64, Rejection> {
    let invalid = Rejection::InvalidValue { field: "ts", why: "must be a number of ms (or s) since the Unix epoch" };
    let n = value.as_f64().filter(|n| n.is_finite() && *n > 0.0).ok_or(invalid.clone())?;
    let ms = if n < SECONDS_BELOW { n * 1000.0 } else { n };
    if ms > 1e15 {
        return Err(invalid);
    }
    Ok(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TelemetryConfig;
    use shopfloor_core::env::EnvVars;

    fn subscriptions() -> Vec<TelemetrySubscription> {
        let text = "p/a/c/telemetry/+/temp number {5}_temperature °C # Coolant loop temperature\n\
                    p/line2/+/state json temp=oven_{3}_temp@°C run=oven_{3}_running mode=oven_{3}_mode ts=meta.ts";
        TelemetryConfig::from_env(&EnvVars::from([("TELEMETRY_SUBSCRIPTIONS", text)]), "p/a/c").unwrap().subscriptions
    }

    fn decode_on(topic: &str, payload: &str) -> Result<Vec<Reading>, Rejection> {
        let subs = subscriptions();
        let sub = route(&subs, topic).expect("a subscription matches");
        decode(sub, "mqtt", topic, payload.as_bytes(), 16_384, 1_000)
    }

    #[test]
    fn a_plain_number_becomes_one_reading_tagged_from_the_topic() {
        let readings = decode_on("p/a/c/telemetry/coolant/temp", " 21.5\n").unwrap();
        assert_eq!(readings.len(), 1);
        assert_eq!(readings[0].tag, "coolant_temperature");
        assert_eq!(readings[0].value, ReadingValue::Number(21.5));
        assert_eq!(readings[0].unit.as_deref(), Some("°C"));
        assert_eq!(readings[0].description.as_deref(), Some("Coolant loop temperature"), "the line's comment");
        assert_eq!((readings[0].source_ts_ms, readings[0].received_ts_ms), (None, 1_000));
    }

    #[test]
    fn json_fields_map_to_tags_with_the_payloads_timestamp() {
        let readings = decode_on(
            "p/line2/oven7/state",
            r#"{"temp": 181.5, "run": true, "mode": "AUTO", "meta": {"ts": 1764086400}}"#,
        )
        .unwrap();
        let tags: Vec<&str> = readings.iter().map(|r| r.tag.as_str()).collect();
        assert_eq!(tags, ["oven_oven7_temp", "oven_oven7_running", "oven_oven7_mode"]);
        assert_eq!(readings[1].value, ReadingValue::Number(1.0));
        assert_eq!(readings[2].value, ReadingValue::Text("AUTO".into()));
        assert!(readings.iter().all(|r| r.source_ts_ms == Some(1_764_086_400_000)));
    }

    #[test]
    fn missing_fields_are_skipped_but_none_at_all_is_rejected() {
        assert_eq!(decode_on("p/line2/o/state", r#"{"temp": 1, "meta": {"ts": 1}}"#).unwrap().len(), 1);
        assert_eq!(decode_on("p/line2/o/state", r#"{"other": 1, "meta": {"ts": 1}}"#), Err(Rejection::NoMappedField));
    }

    #[test]
    fn malformed_payloads_are_rejected_with_a_reason() {
        assert_eq!(decode_on("p/a/c/telemetry/x/temp", "hot"), Err(Rejection::NotANumber));
        assert_eq!(decode_on("p/a/c/telemetry/x/temp", "NaN"), Err(Rejection::NotANumber));
        assert!(matches!(decode_on("p/line2/o/state", "{"), Err(Rejection::InvalidJson(_))));
        assert_eq!(decode_on("p/line2/o/state", r#"{"temp": 1}"#), Err(Rejection::MissingField("ts")));
        assert!(matches!(
            decode_on("p/line2/o/state", r#"{"temp": 1, "meta": {"ts": "yesterday"}}"#),
            Err(Rejection::InvalidValue { .. })
        ));
        assert!(matches!(
            decode_on("p/line2/o/state", r#"{"temp": [1], "meta": {"ts": 1}}"#),
            Err(Rejection::WrongType { .. })
        ));
        let subs = subscriptions();
        assert_eq!(decode(&subs[0], "m", "p/a/c/telemetry/x/temp", &[0xff, 0xfe], 100, 0), Err(Rejection::NotUtf8));
        assert!(matches!(
            decode(&subs[0], "m", "p/a/c/telemetry/x/temp", &[b'1'; 200], 100, 0),
            Err(Rejection::Oversized { .. })
        ));
    }

    #[test]
    fn deeply_nested_json_is_rejected_not_overflowed() {
        let deep = "[".repeat(5_000);
        assert!(matches!(decode_on("p/line2/o/state", &deep), Err(Rejection::InvalidJson(_))));
    }

    #[test]
    fn topics_outside_every_filter_have_no_route() {
        assert!(route(&subscriptions(), "p/a/c/assistant/query/alice").is_none());
    }
}
