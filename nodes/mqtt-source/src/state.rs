//! The node's logic as plain state: each MQTT message becomes a question, a
//! reading batch entry (plain, JSON or Sparkplug B telemetry) or a dead
//! letter (and, for a refused question, an answer saying why); Sparkplug rebirth requests are throttled per edge node; readings
//! go out in batches when full or when the oldest has waited the batch
//! window. No MQTT connection, no dora, no clock: the driver hands it each
//! message with the time and publishes / sends what it returns.

use std::collections::HashMap;

use dora_node_api::arrow_v59::array::Array;
use dora_node_api::MetadataParameters;
use shopfloor_core::schema::{Accepted, Answer, Origin, Question, Reading};
use shopfloor_core::topics::TopicLayout;
use shopfloor_mqtt::config::MqttConfig;
use shopfloor_mqtt::QoS;
use shopfloor_node::held::HeldUntilAccepted;
use shopfloor_node::metrics::Snapshot;
use shopfloor_node::{Emit, NodeLogic, Rejected};

use crate::config::{HandoverConfig, PayloadFormat, TelemetryConfig, TelemetrySubscription};
use crate::handover::Handover;
use crate::question::{parse_question, refusal_answer, RequestProperties};
use crate::rejection::{deadletter_payload, Rejection, RejectionCounts};
use crate::sparkplug::{SparkplugState, MAX_EDGE_NODES};
use crate::telemetry;

pub const QUESTIONS_OUTPUT: &str = "questions";
pub const READINGS_OUTPUT: &str = "readings";
/// Answers to refused questions (`answer` messages with error
/// `invalid_question`), for mqtt-sink to publish to the asker.
pub const REFUSALS_OUTPUT: &str = "refusals";
/// The router's acceptances of questions (where wired; see [`crate::handover`]).
pub const ACCEPTED_INPUT: &str = "accepted";
/// mqtt-sink's acceptances of refusals (where wired; see
/// [`MqttSourceNode::with_refusal_hold`]).
pub const REFUSALS_ACCEPTED_INPUT: &str = "refusals_accepted";
/// Node name used in dead letters and logs.
pub const NODE_NAME: &str = "mqtt-source";
/// Rebirth requests to one edge node are sent at most this often.
pub const REBIRTH_INTERVAL_MS: i64 = 5_000;

/// One MQTT message as the connection delivered it.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Vec<u8>>,
}

/// Something to publish to the broker (a dead letter, a rebirth request).
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    pub topic: String,
    pub qos: QoS,
    pub payload: Vec<u8>,
}

/// What one message led to.
#[derive(Debug, Default)]
pub struct Handled {
    /// dora outputs to send now (a question, a full reading batch).
    pub emits: Vec<Emit>,
    /// MQTT messages to publish.
    pub publishes: Vec<Publish>,
}

/// What the node counted since it started.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    pub connected: bool,
    pub questions: u64,
    /// Refused questions answered with the reason.
    pub refusals: u64,
    pub readings: u64,
    pub rebirths_requested: u64,
    /// Payloads refused (and dead-lettered), by reason.
    pub rejected: RejectionCounts,
}

pub struct MqttSourceNode {
    topics: TopicLayout,
    subscriptions: Vec<TelemetrySubscription>,
    max_payload_bytes: usize,
    batch_max: usize,
    batch_window_ms: i64,
    deadletter_topic: String,
    /// `mqtt://host:port`, the readings' `source`.
    source: String,
    batch: Vec<Reading>,
    batch_started_ms: i64,
    sparkplug: SparkplugState,
    /// When a rebirth was last requested, by command topic.
    rebirths_sent: HashMap<String, i64>,
    counts: Counts,
    /// Questions sent and not yet taken by the router, where the dataflow
    /// wires its acceptances back ([`Self::with_handover`]).
    handover: Option<Handover>,
    /// Refusals sent and not yet journaled by mqtt-sink, where the dataflow
    /// wires its acceptances back ([`Self::with_refusal_hold`]).
    refusals_held: Option<HeldUntilAccepted<Answer>>,
}

impl MqttSourceNode {
    pub fn new(config: &MqttConfig, telemetry: &TelemetryConfig) -> Self {
        let (host, port) = config.broker.client_address();
        Self {
            topics: config.topics.clone(),
            subscriptions: telemetry.subscriptions.clone(),
            max_payload_bytes: config.max_payload_bytes,
            batch_max: telemetry.batch_max.max(1),
            batch_window_ms: i64::try_from(telemetry.batch_ms).unwrap_or(i64::MAX),
            deadletter_topic: config.topics.deadletter_topic(NODE_NAME),
            source: format!("mqtt://{host}:{port}"),
            batch: Vec::new(),
            batch_started_ms: 0,
            sparkplug: SparkplugState::default(),
            rebirths_sent: HashMap::new(),
            counts: Counts::default(),
            handover: None,
            refusals_held: None,
        }
    }

    /// Holds each question until the router accepts it, sending it again
    /// meanwhile (the dataflow wires the router's `accepted` output here).
    pub fn with_handover(mut self, config: HandoverConfig) -> Self {
        self.handover = Some(Handover::new(config));
        self
    }

    /// Holds each refusal until mqtt-sink has journaled it, sending it again
    /// meanwhile (the dataflow wires the sink's `refusals_accepted` output
    /// here): a refusal sent while the sink is dead would otherwise be lost,
    /// and its asker never told.
    pub fn with_refusal_hold(mut self) -> Self {
        self.refusals_held = Some(HeldUntilAccepted::new("refusals", "mqtt-sink"));
        self
    }

    /// When held questions or refusals are next due to be sent again or given
    /// up (ms since the epoch); `None` while none waits.
    pub fn held_deadline_ms(&self) -> Option<i64> {
        let questions = self.handover.as_ref().and_then(Handover::next_due_ms);
        let refusals = self.refusals_held.as_ref().and_then(HeldUntilAccepted::next_due_ms);
        questions.into_iter().chain(refusals).min()
    }

    /// Held messages due at `now_ms`. Questions are sent again on
    /// `questions`, or, given up on, answered `busy` on `refusals` (mqtt-sink
    /// tells the asker); refusals are sent again on `refusals` (given up
    /// ones are logged and counted by the hold).
    pub fn held_due(&mut self, now_ms: i64) -> Vec<Emit> {
        let mut emits = Vec::new();
        let mut refusals = Vec::new();
        if let Some(held) = &mut self.refusals_held {
            refusals = held.due(now_ms).resend;
        }
        if let Some(handover) = &mut self.handover {
            let due = handover.due(now_ms);
            if !due.resend.is_empty() {
                emits.push(Emit::new(QUESTIONS_OUTPUT, Question::to_arrow(&due.resend)));
            }
            for busy in due.given_up {
                refusals.push(self.refusal(busy, now_ms));
            }
        }
        if !refusals.is_empty() {
            emits.push(Emit::new(REFUSALS_OUTPUT, Answer::to_arrow(&refusals)));
        }
        emits
    }

    /// A new refusal: counted, and held for the sink where that is wired.
    fn refusal(&mut self, answer: Answer, now_ms: i64) -> Answer {
        self.counts.refusals += 1;
        if let Some(held) = &mut self.refusals_held {
            held.hold(&answer.id, answer.clone(), now_ms);
        }
        answer
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub fn set_connected(&mut self, connected: bool) {
        self.counts.connected = connected;
    }

    /// When the pending batch is due by age (ms since the epoch); `None`
    /// while nothing waits.
    pub fn batch_deadline_ms(&self) -> Option<i64> {
        (!self.batch.is_empty()).then(|| self.batch_started_ms.saturating_add(self.batch_window_ms))
    }

    /// One MQTT message received at `now_ms`.
    pub fn on_message(&mut self, message: Message, now_ms: i64) -> Handled {
        let mut handled = Handled::default();
        let Message { topic, payload, response_topic, correlation_data } = message;
        let route = telemetry::route(&self.subscriptions, &topic);
        match route {
            Some(subscription) if subscription.format == PayloadFormat::Sparkplug => {
                self.on_sparkplug(&topic, &payload, now_ms, &mut handled);
            }
            Some(subscription) => {
                match telemetry::decode(subscription, &self.source, &topic, &payload, self.max_payload_bytes, now_ms) {
                    Ok(readings) => self.add_readings(readings, now_ms),
                    Err(rejection) => self.reject(&topic, &payload, rejection, now_ms, &mut handled),
                }
            }
            None => {
                let properties = RequestProperties { response_topic, correlation_data };
                let parsed =
                    parse_question(&self.topics, &topic, &payload, properties.clone(), self.max_payload_bytes, now_ms);
                match parsed {
                    Ok(question) => {
                        tracing::debug!(id = %question.id, operator = %question.operator, "question received");
                        self.counts.questions += 1;
                        if let Some(handover) = &mut self.handover {
                            handover.hold(&question, now_ms);
                        }
                        handled.emits.push(Emit::new(QUESTIONS_OUTPUT, Question::to_arrow(&[question])));
                    }
                    Err(rejection) => {
                        let max_bytes = self.max_payload_bytes;
                        let refusal =
                            refusal_answer(&self.topics, &topic, &payload, &properties, &rejection, max_bytes, now_ms);
                        if let Some(answer) = refusal {
                            let answer = self.refusal(answer, now_ms);
                            handled.emits.push(Emit::new(REFUSALS_OUTPUT, Answer::to_arrow(&[answer])));
                        }
                        self.reject(&topic, &payload, rejection, now_ms, &mut handled);
                    }
                }
            }
        }
        handled.emits.extend(self.batch_due(now_ms));
        handled
    }

    fn on_sparkplug(&mut self, topic: &str, payload: &[u8], now_ms: i64, handled: &mut Handled) {
        if payload.len() > self.max_payload_bytes {
            let oversized = Rejection::Oversized { bytes: payload.len(), limit: self.max_payload_bytes };
            self.reject(topic, payload, oversized, now_ms, handled);
            return;
        }
        let outcome = self.sparkplug.handle(&self.source, topic, payload, now_ms);
        self.add_readings(outcome.readings, now_ms);
        if let Some(rejection) = outcome.rejection {
            self.reject(topic, payload, rejection, now_ms, handled);
        }
        if let Some((command_topic, command)) = outcome.rebirth {
            if let Some(publish) = self.rebirth(command_topic, command, now_ms) {
                handled.publishes.push(publish);
            }
        }
    }

    /// The rebirth request, unless one went to the same edge node less than
    /// [`REBIRTH_INTERVAL_MS`] ago (every message of a node not yet reborn
    /// would ask again).
    fn rebirth(&mut self, command_topic: String, command: Vec<u8>, now_ms: i64) -> Option<Publish> {
        let due = self.rebirths_sent.get(&command_topic).is_none_or(|at| now_ms - at >= REBIRTH_INTERVAL_MS);
        if !due {
            return None;
        }
        tracing::info!(topic = %command_topic, "asking the edge node for a rebirth");
        // Bounded like the Sparkplug state: old entries have expired anyway.
        if self.rebirths_sent.len() >= MAX_EDGE_NODES {
            self.rebirths_sent.retain(|_, at| now_ms - *at < REBIRTH_INTERVAL_MS);
        }
        self.rebirths_sent.insert(command_topic.clone(), now_ms);
        self.counts.rebirths_requested += 1;
        Some(Publish { topic: command_topic, qos: QoS::AtMostOnce, payload: command })
    }

    fn add_readings(&mut self, readings: Vec<Reading>, now_ms: i64) {
        if readings.is_empty() {
            return;
        }
        if self.batch.is_empty() {
            self.batch_started_ms = now_ms;
        }
        self.batch.extend(readings);
    }

    fn reject(&mut self, topic: &str, payload: &[u8], rejection: Rejection, now_ms: i64, handled: &mut Handled) {
        let count = self.counts.rejected.count(&rejection);
        tracing::warn!(%topic, reason = rejection.reason(), detail = %rejection.detail(), count, "payload rejected");
        handled.publishes.push(Publish {
            topic: self.deadletter_topic.clone(),
            qos: QoS::AtLeastOnce,
            payload: deadletter_payload(NODE_NAME, topic, payload, &rejection, count, now_ms),
        });
    }

    /// The pending batch, when it is full or its oldest reading has waited
    /// the batch window.
    pub fn batch_due(&mut self, now_ms: i64) -> Option<Emit> {
        let due = self.batch.len() >= self.batch_max || self.batch_deadline_ms().is_some_and(|at| now_ms >= at);
        if due {
            self.take_batch()
        } else {
            None
        }
    }

    fn take_batch(&mut self) -> Option<Emit> {
        if self.batch.is_empty() {
            return None;
        }
        let batch = std::mem::take(&mut self.batch);
        self.counts.readings += batch.len() as u64;
        Some(Emit::new(READINGS_OUTPUT, Reading::to_arrow(&batch)))
    }
}

impl NodeLogic for MqttSourceNode {
    /// Besides `metrics_tick` (answered by the driver), only the router's
    /// acceptances of questions and mqtt-sink's of refusals, where wired.
    fn on_input(
        &mut self,
        input: &str,
        data: &dyn Array,
        _parameters: &MetadataParameters,
        _now_ms: i64,
    ) -> Result<Vec<Emit>, Rejected> {
        match (&mut self.handover, &mut self.refusals_held, input) {
            (Some(handover), _, ACCEPTED_INPUT) => {
                for accepted in Accepted::from_arrow(data).map_err(Rejected::schema)? {
                    // HTTP questions are the gateway's to follow.
                    if accepted.origin == Origin::Mqtt && handover.accepted(&accepted.id) {
                        tracing::debug!(id = %accepted.id, "the router took the question");
                    }
                }
                Ok(Vec::new())
            }
            (_, Some(held), REFUSALS_ACCEPTED_INPUT) => {
                for accepted in Accepted::from_arrow(data).map_err(Rejected::schema)? {
                    if held.accepted(&accepted.id) {
                        tracing::debug!(id = %accepted.id, "mqtt-sink journaled the refusal");
                    }
                }
                Ok(Vec::new())
            }
            _ => Err(Rejected::unknown_input(input)),
        }
    }

    fn metrics(&self, snapshot: &mut Snapshot) {
        snapshot
            .gauge(
                "shopfloor_source_connected",
                "1 while the link is up",
                &[("link", "mqtt")],
                f64::from(u8::from(self.counts.connected)),
            )
            .counter("shopfloor_questions_in", "Questions forwarded into the dataflow", &[], self.counts.questions)
            .counter(
                "shopfloor_questions_refused",
                "Questions refused and answered with the reason",
                &[],
                self.counts.refusals,
            )
            .counter("shopfloor_readings_out", "Readings sent into the dataflow", &[], self.counts.readings);
        if let Some(handover) = &self.handover {
            let counts = handover.counts();
            snapshot
                .gauge(
                    "shopfloor_questions_unaccepted",
                    "Questions sent and not yet taken by the router",
                    &[],
                    handover.waiting() as f64,
                )
                .counter(
                    "shopfloor_questions_resent",
                    "Questions sent again because the router had not taken them",
                    &[],
                    counts.resent,
                )
                .counter(
                    "shopfloor_questions_not_taken",
                    "Questions answered busy because the router never took them",
                    &[],
                    counts.given_up,
                );
        }
        if let Some(held) = &self.refusals_held {
            held.report(snapshot, "shopfloor_source_refusals");
        }
        for (reason, count) in self.counts.rejected.by_reason() {
            snapshot.counter(
                "shopfloor_dead_letters",
                "Messages refused and dead-lettered, by reason",
                &[("reason", reason)],
                count,
            );
        }
    }

    /// What is still batched goes out before the node ends.
    fn on_stop(&mut self, _now_ms: i64) -> Vec<Emit> {
        self.take_batch().into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use shopfloor_core::env::EnvVars;
    use shopfloor_core::schema::{MetricSample, Quality, ReadingValue};

    use super::*;
    use crate::sparkplug::{Metric, MetricValue, Payload, REBIRTH_METRIC};
    use prost::Message as _;

    const ROOT: &str = "plant1/assembly/cell1";

    fn node(subscriptions: &str, batch_ms: &str, batch_max: &str) -> MqttSourceNode {
        let vars = EnvVars::from_iter([
            ("MQTT_TOPIC_ROOT".to_owned(), ROOT.to_owned()),
            ("TELEMETRY_SUBSCRIPTIONS".to_owned(), subscriptions.to_owned()),
            ("TELEMETRY_BATCH_MS".to_owned(), batch_ms.to_owned()),
            ("TELEMETRY_BATCH_MAX".to_owned(), batch_max.to_owned()),
        ]);
        let config = MqttConfig::from_env(NODE_NAME, &vars).unwrap();
        let telemetry = TelemetryConfig::from_env(&vars, config.topics.root()).unwrap();
        MqttSourceNode::new(&config, &telemetry)
    }

    fn message(topic: &str, payload: &[u8]) -> Message {
        Message { topic: topic.into(), payload: payload.to_vec(), ..Message::default() }
    }

    fn readings(emits: &[Emit]) -> Vec<Reading> {
        emits
            .iter()
            .filter(|e| e.output == READINGS_OUTPUT)
            .flat_map(|e| Reading::from_arrow(e.data.as_ref()).unwrap())
            .collect()
    }

    fn sparkplug(seq: u64, metrics: Vec<Metric>) -> Vec<u8> {
        Payload { timestamp: Some(1_000), metrics, seq: Some(seq) }.encode_to_vec()
    }

    fn temperature(alias: u64, value: f64, with_name: bool) -> Metric {
        Metric {
            name: with_name.then(|| "temp".to_owned()),
            alias: Some(alias),
            datatype: Some(10), // Double
            value: Some(MetricValue::DoubleValue(value)),
            ..Metric::default()
        }
    }

    #[test]
    fn a_question_goes_out_at_once_with_its_request_properties() {
        let mut node = node("", "50", "1000");
        let mut question = message(&format!("{ROOT}/assistant/query/alice"), br#"{"id":"q1","question":"temp?"}"#);
        question.response_topic = Some("replies/alice".into());
        question.correlation_data = Some(b"c1".to_vec());
        let handled = node.on_message(question, 1_000);
        assert!(handled.publishes.is_empty());
        assert_eq!(handled.emits.len(), 1);
        assert_eq!(handled.emits[0].output, QUESTIONS_OUTPUT);
        let sent = Question::from_arrow(handled.emits[0].data.as_ref()).unwrap();
        assert_eq!((sent[0].id.as_str(), sent[0].operator.as_str()), ("q1", "alice"));
        assert_eq!(sent[0].reply_to.as_deref(), Some("replies/alice"));
        assert_eq!(node.counts().questions, 1);
    }

    #[test]
    fn a_bad_payload_is_dead_lettered_and_counted() {
        let mut node = node("", "50", "1000");
        let handled = node.on_message(message(&format!("{ROOT}/assistant/query/alice"), b"{not json"), 7);
        assert_eq!(handled.emits.len(), 1, "the asker is answered too");
        assert_eq!(handled.emits[0].output, REFUSALS_OUTPUT);
        let refusal = &Answer::from_arrow(handled.emits[0].data.as_ref()).unwrap()[0];
        assert_eq!((refusal.operator.as_str(), refusal.error.map(|e| e.as_str())), ("alice", Some("invalid_question")));
        assert_eq!(node.counts().refusals, 1);
        assert_eq!(handled.publishes.len(), 1);
        let letter = &handled.publishes[0];
        assert_eq!((letter.topic.as_str(), letter.qos), ("plant1/shopfloor/deadletter/mqtt-source", QoS::AtLeastOnce));
        let json: serde_json::Value = serde_json::from_slice(&letter.payload).unwrap();
        assert_eq!((json["reason"].as_str(), json["ts_ms"].as_i64()), (Some("invalid_json"), Some(7)));
        assert_eq!(node.counts().rejected.get("invalid_json"), 1);
        let mut snapshot = Snapshot::new(NODE_NAME);
        node.metrics(&mut snapshot);
        let samples: Vec<MetricSample> = snapshot.finish();
        assert!(samples.iter().any(|s| s.name == "shopfloor_dead_letters" && s.value == 1.0));
    }

    fn refused_ids(emits: &[Emit]) -> Vec<String> {
        emits
            .iter()
            .filter(|e| e.output == REFUSALS_OUTPUT)
            .flat_map(|e| Answer::from_arrow(e.data.as_ref()).unwrap())
            .map(|answer| answer.id)
            .collect()
    }

    fn accept(node: &mut MqttSourceNode, input: &str, id: &str) {
        let accepted = Accepted::to_arrow(&[Accepted { id: id.into(), origin: Origin::Mqtt }]);
        let emits = node.on_input(input, accepted.as_ref(), &MetadataParameters::default(), 0).unwrap();
        assert!(emits.is_empty());
    }

    /// A refusal sent while mqtt-sink is dead is lost to dora: with the hold
    /// wired, it is sent again until the sink names it, and never after.
    /// The router's acceptance of a question with the same id does not count.
    #[test]
    fn a_refusal_is_sent_again_until_mqtt_sink_has_journaled_it() {
        let mut node = node("", "50", "1000")
            .with_refusal_hold()
            .with_handover(HandoverConfig { resend_ms: 2_000, give_up_ms: 60_000 });
        let query = format!("{ROOT}/assistant/query/alice");
        let handled = node.on_message(message(&query, br#"{"id":"q-1","question":123}"#), 1_000);
        assert_eq!(refused_ids(&handled.emits), ["q-1"]);
        assert_eq!(node.held_deadline_ms(), Some(3_000));
        assert!(node.held_due(2_999).is_empty());
        assert_eq!(refused_ids(&node.held_due(3_000)), ["q-1"], "not journaled: sent again");
        accept(&mut node, ACCEPTED_INPUT, "q-1");
        assert_eq!(refused_ids(&node.held_due(5_000)), ["q-1"], "the router's acceptance is of a question");
        accept(&mut node, REFUSALS_ACCEPTED_INPUT, "q-1");
        assert!(node.held_due(60_000).is_empty(), "journaled: never again");
        assert_eq!(node.held_deadline_ms(), None);
        assert_eq!(node.counts().refusals, 1, "a refusal sent again is counted once");
        let mut snapshot = Snapshot::new(NODE_NAME);
        node.metrics(&mut snapshot);
        let samples: Vec<MetricSample> = snapshot.finish();
        let value = |name: &str| samples.iter().find(|s| s.name == name).map(|s| s.value);
        assert_eq!(value("shopfloor_source_refusals_resent"), Some(2.0));
        assert_eq!(value("shopfloor_source_refusals_undelivered"), Some(0.0));
    }

    /// The `busy` answer to a question the router never took is a refusal
    /// like any other: held until journaled.
    #[test]
    fn the_busy_answer_to_a_question_never_taken_is_held_for_mqtt_sink_too() {
        let mut node = node("", "50", "1000")
            .with_refusal_hold()
            .with_handover(HandoverConfig { resend_ms: 2_000, give_up_ms: 5_000 });
        let query = format!("{ROOT}/assistant/query/alice");
        node.on_message(message(&query, br#"{"id":"q-2","question":"temp?"}"#), 1_000);
        let mut busy_at = None;
        for now in (1_000..=20_000).step_by(500) {
            if !refused_ids(&node.held_due(now)).is_empty() {
                busy_at.get_or_insert(now);
            }
        }
        assert_eq!(busy_at, Some(6_000), "given up at 5 s, then sent again every 2 s");
        accept(&mut node, REFUSALS_ACCEPTED_INPUT, "q-2");
        assert!(node.held_due(30_000).is_empty());
        assert_eq!(node.counts().refusals, 1);
    }

    /// Without the hold (the sink's acceptances not wired), a refusal is sent
    /// once, and an acceptance input is refused as unknown.
    #[test]
    fn without_the_hold_a_refusal_is_sent_once() {
        let mut node = node("", "50", "1000");
        let query = format!("{ROOT}/assistant/query/alice");
        node.on_message(message(&query, b"{not json"), 1_000);
        assert_eq!(node.held_deadline_ms(), None);
        assert!(node.held_due(100_000).is_empty());
        let accepted = Accepted::to_arrow(&[Accepted { id: "q-1".into(), origin: Origin::Mqtt }]);
        let refused = node.on_input(REFUSALS_ACCEPTED_INPUT, accepted.as_ref(), &MetadataParameters::default(), 0);
        assert!(refused.is_err());
    }

    #[test]
    fn telemetry_waits_for_the_batch_window_or_a_full_batch() {
        let mut node = node("~/telemetry/+ number {5} °C", "50", "3");
        let topic = format!("{ROOT}/telemetry/spindle_temperature");
        assert!(node.on_message(message(&topic, b"71.5"), 1_000).emits.is_empty());
        assert_eq!(node.batch_deadline_ms(), Some(1_050));
        assert!(node.batch_due(1_049).is_none());
        let sent = readings(&[node.batch_due(1_050).unwrap()]);
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].tag.as_str(), &sent[0].value), ("spindle_temperature", &ReadingValue::Number(71.5)));
        assert_eq!(node.batch_deadline_ms(), None);

        // Three readings fill the batch before the window ends.
        node.on_message(message(&topic, b"1"), 2_000);
        node.on_message(message(&topic, b"2"), 2_001);
        let full = node.on_message(message(&topic, b"3"), 2_002);
        assert_eq!(readings(&full.emits).len(), 3);
        assert_eq!(node.counts().readings, 4);

        // What is left goes out at stop.
        node.on_message(message(&topic, b"4"), 3_000);
        assert_eq!(readings(&node.on_stop(3_001)).len(), 1);
        assert!(node.on_stop(3_002).is_empty());
    }

    #[test]
    fn rebirth_requests_to_one_edge_node_are_throttled() {
        let mut node = node("spBv1.0/plant/# sparkplug", "50", "1000");
        // Data before any birth: refused, and a rebirth is asked for, once per interval.
        let data = sparkplug(1, vec![temperature(1, 70.0, false)]);
        let first = node.on_message(message("spBv1.0/plant/NDATA/edge1", &data), 10_000);
        let rebirths: Vec<&Publish> =
            first.publishes.iter().filter(|p| p.topic == "spBv1.0/plant/NCMD/edge1").collect();
        assert_eq!(rebirths.len(), 1);
        assert_eq!(rebirths[0].qos, QoS::AtMostOnce);
        let command = Payload::decode(rebirths[0].payload.as_slice()).unwrap();
        assert_eq!(command.metrics[0].name.as_deref(), Some(REBIRTH_METRIC));
        assert!(
            first.publishes.iter().any(|p| p.topic.ends_with("deadletter/mqtt-source")),
            "not_born is dead-lettered"
        );

        let soon = node.on_message(message("spBv1.0/plant/NDATA/edge1", &data), 14_999);
        assert!(soon.publishes.iter().all(|p| p.topic != "spBv1.0/plant/NCMD/edge1"), "throttled");
        let other = node.on_message(message("spBv1.0/plant/NDATA/edge2", &data), 14_999);
        assert!(other.publishes.iter().any(|p| p.topic == "spBv1.0/plant/NCMD/edge2"), "per edge node");
        let later = node.on_message(message("spBv1.0/plant/NDATA/edge1", &data), 15_000);
        assert!(later.publishes.iter().any(|p| p.topic == "spBv1.0/plant/NCMD/edge1"), "due again");
        assert_eq!(node.counts().rebirths_requested, 3);
        assert_eq!(node.counts().rejected.get("not_born"), 4);
    }

    #[test]
    fn sparkplug_births_and_data_become_readings_and_a_death_marks_them_bad() {
        let mut node = node("spBv1.0/plant/# sparkplug", "50", "1000");
        let birth = sparkplug(0, vec![temperature(1, 70.0, true)]);
        node.on_message(message("spBv1.0/plant/NBIRTH/edge1", &birth), 1_000);
        let data = sparkplug(1, vec![temperature(1, 72.0, false)]);
        node.on_message(message("spBv1.0/plant/NDATA/edge1", &data), 1_010);
        let death = Payload { timestamp: Some(1_020), metrics: Vec::new(), seq: None }.encode_to_vec();
        node.on_message(message("spBv1.0/plant/NDEATH/edge1", &death), 1_020);
        let sent = readings(&node.on_stop(1_030));
        let seen: Vec<(&ReadingValue, Quality)> = sent.iter().map(|r| (&r.value, r.quality)).collect();
        assert_eq!(
            seen,
            [
                (&ReadingValue::Number(70.0), Quality::Good),
                (&ReadingValue::Number(72.0), Quality::Good),
                (&ReadingValue::Number(72.0), Quality::Bad)
            ]
        );
        assert_eq!(node.counts().rejected.total(), 0);
    }

    #[test]
    fn an_oversized_sparkplug_payload_is_refused_before_decoding() {
        let mut node = node("spBv1.0/plant/# sparkplug", "50", "1000");
        let handled = node.on_message(message("spBv1.0/plant/NDATA/edge1", &vec![0u8; 20_000]), 1);
        assert_eq!(node.counts().rejected.get("oversized"), 1);
        assert_eq!(handled.publishes.len(), 1, "a dead letter, no rebirth");
    }
}
