//! What the gateway does with each dora input, on the state it shares with
//! the HTTP handlers ([`Gateway`]): metric snapshots go on the board, answers
//! to the requests waiting for them. No dora, no clock: the driver hands
//! each input and the time in.

use std::time::Instant;

use shopfloor_core::arrow::array::Array;
use shopfloor_core::schema::{AlarmEvent, Alert, Answer, MetricSample, Origin, Reading};
use shopfloor_node::metrics::{Snapshot, METRICS_TICK_INPUT};
use shopfloor_node::Rejected;

use crate::server::Gateway;

pub const QUESTIONS_OUTPUT: &str = "questions";
/// The console's alarm changes, for `mqtt-sink` to publish.
pub const ALARM_EVENTS_OUTPUT: &str = "alarm_events";
/// Input ids starting with this carry readings for the console's live values.
pub const READINGS_INPUT: &str = "readings";
/// Input ids starting with this carry alerts for the console's alarm list.
pub const ALERTS_INPUT: &str = "alerts";
/// Input ids starting with this carry answers (`answers`, `answers_tier1`, …).
pub const ANSWERS_INPUT: &str = "answers";
/// Input ids starting with this carry a node's metric snapshot
/// (`metrics_slm`, `metrics_opcua`, …).
pub const METRICS_INPUT: &str = "metrics";

/// The metrics tick: the gateway's own snapshot goes on its board (it has no
/// `metrics` output; `/metrics` serves the board); shelves that ran out
/// are taken off (their events are returned, to publish).
pub fn take_metrics_tick(gateway: &Gateway, now: Instant, now_ms: i64) -> Vec<AlarmEvent> {
    let mut own = gateway.traffic.snapshot(&gateway.node_id);
    own.extend(console_metrics(gateway));
    gateway.board().update(own, now, now_ms);
    gateway.console.tick(now_ms)
}

fn console_metrics(gateway: &Gateway) -> Vec<MetricSample> {
    let counts = gateway.console.counts();
    let mut snapshot = Snapshot::new(gateway.node_id.clone());
    snapshot
        .gauge("shopfloor_console_alarms", "Alarms in the console's list", &[], counts.alarms as f64)
        .gauge("shopfloor_console_sessions", "Console logins alive", &[], counts.sessions as f64)
        .gauge("shopfloor_console_streams", "Console pages receiving live values", &[], counts.streams as f64)
        .counter(
            "shopfloor_console_journal_failures",
            "Alarm changes the journal could not record",
            &[],
            counts.journal_failures,
        )
        .counter(
            "shopfloor_console_refused_tags",
            "Readings of tags beyond the console's bound",
            &[],
            counts.refused_tags,
        );
    snapshot.finish()
}

/// One input; returns the alarm events it caused (to publish). A series of
/// a snapshot that cannot be exposed is counted and left out; the rest of
/// the snapshot is kept.
pub fn take_input(
    gateway: &Gateway,
    input: &str,
    data: &dyn Array,
    now: Instant,
    now_ms: i64,
) -> Result<Vec<AlarmEvent>, Rejected> {
    if input == METRICS_TICK_INPUT {
        Ok(take_metrics_tick(gateway, now, now_ms))
    } else if input.starts_with(READINGS_INPUT) {
        let readings = Reading::from_arrow(data).map_err(|e| Rejected::new("bad_readings", e))?;
        gateway.console.take_readings(&readings, now_ms);
        Ok(Vec::new())
    } else if input.starts_with(ALERTS_INPUT) {
        let alerts = Alert::from_arrow(data).map_err(|e| Rejected::new("bad_alerts", e))?;
        Ok(gateway.console.take_alerts(&alerts, now_ms))
    } else if input.starts_with(METRICS_INPUT) {
        let samples = MetricSample::from_arrow(data).map_err(|e| Rejected::new("bad_metrics", e))?;
        let refused = gateway.board().update(samples, now, now_ms);
        for (sample, error) in refused {
            let detail = format!("series {} of node {}: {error}", sample.name, sample.node);
            gateway.traffic.reject(input, &Rejected::new("bad_series", detail));
        }
        Ok(Vec::new())
    } else if input.starts_with(ANSWERS_INPUT) {
        let answers = Answer::from_arrow(data).map_err(|e| Rejected::new("bad_answers", e))?;
        // Answers to MQTT questions pass by here too; they are not ours.
        for answer in answers.into_iter().filter(|a| a.origin == Origin::Http) {
            let id = answer.id.clone();
            if !gateway.pending.resolve(answer) {
                gateway.traffic.late_answer();
                tracing::info!(%id, "answer arrived after its request ended");
            }
        }
        Ok(Vec::new())
    } else {
        Err(Rejected::unknown_input(input))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;

    use shopfloor_core::env::EnvVars;
    use shopfloor_core::schema::{Alert, Question, Severity};
    use shopfloor_node::metrics::Snapshot;

    use super::*;
    use crate::board::MODEL_INFO;
    use crate::config::GatewayConfig;

    fn gateway() -> Gateway {
        let (tx, _rx) = sync_channel(1);
        let config = GatewayConfig::from_env(&EnvVars::new()).unwrap();
        Gateway::new(config, "http-gateway".into(), tx, |_| Ok(())).unwrap()
    }

    fn answer(id: &str, origin: Origin) -> Answer {
        Answer::to_question(&Question::new(id, "how hot?", "http", origin, 0), "61 °C".into())
    }

    fn rejected(gateway: &Gateway) -> Vec<(&'static str, u64)> {
        gateway.traffic.rejections().by_reason().iter().map(|(reason, count)| (*reason, *count)).collect()
    }

    #[test]
    fn an_answer_reaches_its_request_a_late_one_is_counted_an_mqtt_one_ignored() {
        let gateway = gateway();
        let mut waiting = gateway.pending.register("chatcmpl-1");
        let batch = Answer::to_arrow(&[answer("chatcmpl-1", Origin::Http), answer("q-9", Origin::Mqtt)]);
        take_input(&gateway, "answers", batch.as_ref(), Instant::now(), 0).unwrap();
        assert_eq!(waiting.try_recv().map(|a| a.text).ok().as_deref(), Some("61 °C"));
        take_input(&gateway, "answers_tier1", batch.as_ref(), Instant::now(), 0).unwrap();
        let own = gateway.traffic.snapshot("http-gateway");
        let late = own.iter().find(|s| s.name == "shopfloor_http_late_answers").map(|s| s.value);
        assert_eq!(late, Some(1.0), "the second copy came late; the MQTT answer is not counted");
    }

    #[test]
    fn snapshots_go_on_the_board_and_a_bad_series_is_counted() {
        let gateway = gateway();
        let mut slm = Snapshot::new("slm");
        slm.gauge(MODEL_INFO, "Loaded model", &[("model", "SmolLM2")], 1.0).counter("bad name", "h", &[], 1);
        let now = Instant::now();
        take_input(&gateway, "metrics_slm", MetricSample::to_arrow(&slm.finish()).as_ref(), now, 5_000).unwrap();
        assert_eq!(gateway.board().models(now), [("SmolLM2".to_owned(), "slm".to_owned(), 5)]);
        assert_eq!(rejected(&gateway), [("bad_series", 1)]);
        let tick = shopfloor_core::arrow::array::new_null_array(&shopfloor_core::arrow::datatypes::DataType::Null, 0);
        take_input(&gateway, "metrics_tick", tick.as_ref(), now, 5_000).unwrap();
        assert!(gateway.board().samples().iter().any(|s| s.node == "http-gateway"), "its own snapshot too");
    }

    #[test]
    fn inputs_that_do_not_decode_or_are_unknown_are_rejected_by_reason() {
        let gateway = gateway();
        let alerts = Alert::to_arrow(&[Alert::new("a", 1, "s", Severity::Info, "k", "m", "n")]);
        let now = Instant::now();
        for (input, reason) in [("answers", "bad_answers"), ("metrics_slm", "bad_metrics"), ("frames", "unknown_input")]
        {
            let rejection = take_input(&gateway, input, alerts.as_ref(), now, 0).unwrap_err();
            assert_eq!(rejection.reason, reason, "{input}");
        }
    }
}
