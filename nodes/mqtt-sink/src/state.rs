//! The sink's logic as plain state: answers and alerts become outbox
//! messages; the outbox hands them, in order, to the current MQTT session, a
//! bounded number in flight and at the catch-up rate; a message leaves the
//! outbox only when the broker acknowledged it. No sockets, no clock: the
//! driver passes the time in and carries out what the state decides.
//!
//! Each connection is a *session* ([`shopfloor_mqtt::connect_session`]).
//! When one ends, everything sent but unacknowledged is sent again on the
//! next one (subscribers de-duplicate by the message's `id`); rumqttc's own
//! retry queue dies with the old session, so nothing is lost silently and
//! nothing is sent twice by two mechanisms.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use dora_node_api::arrow_v59::array::Array;
use shopfloor_core::schema::{Accepted, AlarmEvent, Alert, Answer, Origin};
use shopfloor_core::topics::{topic_level, TopicLayout};
use shopfloor_mqtt::config::MqttConfig;
use shopfloor_mqtt::MqttEvent;
use shopfloor_node::metrics::Snapshot;
use shopfloor_node::Rejected;

use crate::config::{AlertDeliveryConfig, OutboxConfig};
use crate::outbox::{Journal, Message, Outbox, OutboxError, Priority};
use crate::payload::{alert_json, alert_topics, answer_json, answer_topic};

/// Input id of the answer stream; every input whose id starts with it
/// (`answers_refused`, from mqtt-source) carries answers too.
pub const ANSWERS_INPUT: &str = "answers";
/// Input id of mqtt-source's refusals (answers to questions it refused).
pub const REFUSALS_INPUT: &str = "answers_refused";
/// Input id of the alert stream; every input whose id starts with it
/// (`alerts_vision`, `alerts_station1`) carries alerts too.
pub const ALERTS_INPUT: &str = "alerts";
/// Input id prefix of the operator console's alarm events (`http-gateway`).
pub const ALARM_EVENTS_INPUT: &str = "alarm_events";
/// Waits between connection attempts: doubling from the first to the last.
pub const RECONNECT_FIRST: Duration = Duration::from_millis(100);
pub const RECONNECT_LAST: Duration = Duration::from_secs(5);
/// Longest sleep of the loop when nothing is due (the driver wakes earlier
/// for any event).
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// What the sink did, for the final log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SinkCounts {
    /// Messages put into the outbox (the retained copies of alerts not counted).
    pub accepted: u64,
    /// Publications handed to the broker (re-sends and retained copies included).
    pub published: u64,
    pub acknowledged: u64,
    /// Publications the broker answered with a refusal (MQTT 5 reason code,
    /// e.g. not authorized): logged and not retried, since a re-send would be
    /// refused the same way.
    pub refused_by_broker: u64,
    /// Messages still in the outbox at stop (sent on the next start).
    pub left_waiting: u64,
    /// Messages dropped because the outbox was full.
    pub dropped: u64,
    /// Inputs that were not valid answer or alert batches (counted by the driver).
    pub rejected_inputs: u64,
    /// Answers to questions that came through another front door (HTTP):
    /// the gateway returns those, they are not published.
    pub not_for_mqtt: u64,
}

/// Why an input was not taken.
#[derive(Debug)]
pub enum InputError {
    /// Not an input of this node, or not the batch it promises: counted, the
    /// node goes on.
    Rejected(Rejected),
    /// The outbox cannot be written: the node stops (what it holds stays on disk).
    Outbox(OutboxError),
}

impl From<OutboxError> for InputError {
    fn from(error: OutboxError) -> Self {
        Self::Outbox(error)
    }
}

/// One message to hand to the session's client now.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication<'a> {
    pub seq: u64,
    pub topic: &'a str,
    pub payload: &'a str,
    /// MQTT QoS level, at least 1: QoS 0 has no acknowledgement to take a
    /// message out of the outbox.
    pub qos: u8,
    pub retain: bool,
    pub correlation_data: Option<&'a [u8]>,
}

/// The current connection and what is in flight on it.
#[derive(Debug)]
struct Session {
    id: u64,
    connected: bool,
    /// Sequence numbers published, waiting for their packet id, in order.
    awaiting_pkid: VecDeque<u64>,
    /// Packet id to sequence number, for publications waiting for an ack.
    in_flight: HashMap<u16, u64>,
    /// The last sequence number handed to this session.
    last_sent: u64,
}

impl Session {
    fn unacknowledged(&self) -> usize {
        self.awaiting_pkid.len() + self.in_flight.len()
    }
}

/// The sink's state over an outbox writing to `J`.
pub struct SinkState<J: Journal> {
    topics: TopicLayout,
    qos: u8,
    retain_last: bool,
    max_in_flight: usize,
    /// Between two publications while catching up.
    interval: Duration,
    outbox: Outbox<J>,
    session: Option<Session>,
    next_session: u64,
    reconnect_at: Option<Instant>,
    backoff: Duration,
    /// Earliest time the next publication may go (catch-up rate).
    next_publish_at: Instant,
    counts: SinkCounts,
    alerts_by_severity: BTreeMap<&'static str, u64>,
    /// Answers from the router taken into the outbox since the driver last
    /// took these (it tells the router, which stops sending them again).
    journaled: Vec<Accepted>,
    /// Alerts taken into the outbox since the driver last took these (it
    /// tells their producers, which stop sending them again).
    journaled_alerts: Vec<Accepted>,
    /// mqtt-source's refusals taken into the outbox since the driver last
    /// took these (it holds each until then).
    journaled_refusals: Vec<Accepted>,
}

impl<J: Journal> SinkState<J> {
    /// A sink that connects at `now` first.
    pub fn new(
        mqtt: &MqttConfig,
        outbox_config: &OutboxConfig,
        alerts: AlertDeliveryConfig,
        outbox: Outbox<J>,
        now: Instant,
    ) -> Self {
        Self {
            topics: mqtt.topics.clone(),
            qos: mqtt.qos.max(1),
            retain_last: alerts.retain_last,
            max_in_flight: outbox_config.inflight,
            interval: Duration::from_secs_f64(1.0 / f64::from(outbox_config.catchup_per_sec)),
            outbox,
            session: None,
            next_session: 1,
            reconnect_at: Some(now),
            backoff: RECONNECT_FIRST,
            next_publish_at: now,
            counts: SinkCounts::default(),
            alerts_by_severity: BTreeMap::new(),
            journaled: Vec::new(),
            journaled_alerts: Vec::new(),
            journaled_refusals: Vec::new(),
        }
    }

    pub fn outbox(&self) -> &Outbox<J> {
        &self.outbox
    }

    /// One dora input: returns how many messages it put into the outbox.
    pub fn take_input(&mut self, input: &str, data: &dyn Array) -> Result<usize, InputError> {
        if input.starts_with(ANSWERS_INPUT) {
            let answers = Answer::from_arrow(data).map_err(|e| InputError::Rejected(Rejected::schema(e)))?;
            let mut accepted = 0;
            for answer in answers {
                if answer.origin != Origin::Mqtt {
                    self.counts.not_for_mqtt += 1;
                    continue;
                }
                let payload = String::from_utf8_lossy(&answer_json(&answer)).into_owned();
                let message = Message {
                    correlation_data: answer.correlation_data.clone(),
                    ..Message::new(answer_topic(&self.topics, &answer), payload, Priority::Low)
                };
                self.accept(message)?;
                accepted += 1;
                // Reported to their sender: the router's answers and
                // mqtt-source's refusals on streams of their own, since a
                // refusal may share its id with an answer being given.
                if input == ANSWERS_INPUT {
                    self.journaled.push(Accepted { id: answer.id, origin: Origin::Mqtt });
                } else if input == REFUSALS_INPUT {
                    self.journaled_refusals.push(Accepted { id: answer.id, origin: Origin::Mqtt });
                }
            }
            Ok(accepted)
        } else if input.starts_with(ALERTS_INPUT) {
            let alerts = Alert::from_arrow(data).map_err(|e| InputError::Rejected(Rejected::schema(e)))?;
            for alert in &alerts {
                *self.alerts_by_severity.entry(alert.severity.as_str()).or_default() += 1;
                let (topic, last_topic) = alert_topics(&self.topics, alert);
                let payload = String::from_utf8_lossy(&alert_json(alert)).into_owned();
                self.accept(Message::new(topic, payload.clone(), Priority::High))?;
                // Alerts leave by MQTT: origin `mqtt` (docs/messages.md, `accepted`).
                self.journaled_alerts.push(Accepted { id: alert.id.clone(), origin: Origin::Mqtt });
                if self.retain_last {
                    // A second publication, not counted as accepted input.
                    self.outbox.push(Message { retain: true, ..Message::new(last_topic, payload, Priority::High) })?;
                }
            }
            Ok(alerts.len())
        } else if input.starts_with(ALARM_EVENTS_INPUT) {
            let events = AlarmEvent::from_arrow(data).map_err(|e| InputError::Rejected(Rejected::schema(e)))?;
            for event in &events {
                let topic = self.topics.alarm_event_topic(&topic_level(&event.station));
                // As important as the alerts: an acknowledgement must reach the other consoles.
                self.accept(Message::new(topic, event.to_json().to_string(), Priority::High))?;
                // Reported with the alerts: the gateway holds each event until named.
                self.journaled_alerts.push(Accepted { id: event.id.clone(), origin: Origin::Mqtt });
            }
            Ok(events.len())
        } else {
            Err(InputError::Rejected(Rejected::unknown_input(input)))
        }
    }

    /// The router's answers taken into the outbox since the last call.
    pub fn take_journaled(&mut self) -> Vec<Accepted> {
        std::mem::take(&mut self.journaled)
    }

    /// The alerts and alarm events taken into the outbox since the last call.
    pub fn take_journaled_alerts(&mut self) -> Vec<Accepted> {
        std::mem::take(&mut self.journaled_alerts)
    }

    /// mqtt-source's refusals taken into the outbox since the last call.
    pub fn take_journaled_refusals(&mut self) -> Vec<Accepted> {
        std::mem::take(&mut self.journaled_refusals)
    }

    fn accept(&mut self, message: Message) -> Result<(), OutboxError> {
        self.outbox.push(message)?;
        self.counts.accepted += 1;
        Ok(())
    }

    /// The number of a new session to connect, when no session is up and
    /// the backoff has passed; the state counts it as the current one.
    pub fn connect_due(&mut self, now: Instant) -> Option<u64> {
        if self.session.is_some() || self.reconnect_at.is_none_or(|at| now < at) {
            return None;
        }
        let id = self.next_session;
        self.next_session += 1;
        self.session = Some(Session {
            id,
            connected: false,
            awaiting_pkid: VecDeque::new(),
            in_flight: HashMap::new(),
            last_sent: 0,
        });
        self.reconnect_at = None;
        Some(id)
    }

    /// The current session's number; a client of any other session is to be dropped.
    pub fn session(&self) -> Option<u64> {
        self.session.as_ref().map(|s| s.id)
    }

    pub fn connected(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.connected)
    }

    /// What a session's connection thread reported.
    pub fn on_mqtt(&mut self, event: MqttEvent, now: Instant) -> Result<(), OutboxError> {
        let current = self.session();
        match event {
            MqttEvent::SessionConnected { session } if Some(session) == current => {
                if let Some(s) = self.session.as_mut() {
                    s.connected = true;
                }
                self.backoff = RECONNECT_FIRST;
                tracing::info!(session, waiting = self.outbox.len(), "connected to MQTT broker");
            }
            MqttEvent::Sent { session, pkid } if Some(session) == current => {
                if let Some(s) = self.session.as_mut() {
                    if let Some(seq) = s.awaiting_pkid.pop_front() {
                        s.in_flight.insert(pkid, seq);
                    }
                }
            }
            MqttEvent::Acked { session, pkid, refused } if Some(session) == current => {
                let seq = self.session.as_mut().and_then(|s| s.in_flight.remove(&pkid));
                if let Some(seq) = seq {
                    if let Some(reason) = refused {
                        self.counts.refused_by_broker += 1;
                        let topic = self.outbox.get(seq).map(|m| m.topic.clone()).unwrap_or_default();
                        tracing::error!(%topic, %reason, refused = self.counts.refused_by_broker, "the broker refused a publication (check its ACL); not retried");
                    } else {
                        self.counts.acknowledged += 1;
                    }
                    self.outbox.acknowledge(seq)?;
                }
            }
            MqttEvent::SessionEnded { session, reason } if Some(session) == current => {
                let unacknowledged = self.session.as_ref().map_or(0, Session::unacknowledged);
                tracing::warn!(session, %reason, unacknowledged, waiting = self.outbox.len(), "MQTT connection lost; the outbox keeps everything unacknowledged");
                self.session = None;
                self.reconnect_at = Some(now + self.backoff);
                self.backoff = (self.backoff * 2).min(RECONNECT_LAST);
            }
            _ => {} // events of an older session, or not ours
        }
        Ok(())
    }

    /// The next waiting message to publish now, if the session is up, the
    /// in-flight bound leaves room and the catch-up rate allows.
    pub fn next_publication(&self, now: Instant) -> Option<Publication<'_>> {
        let session = self.session.as_ref().filter(|s| s.connected)?;
        if session.unacknowledged() >= self.max_in_flight || now < self.next_publish_at {
            return None;
        }
        let seq = self.outbox.next_after(session.last_sent)?;
        let message = self.outbox.get(seq)?;
        Some(Publication {
            seq,
            topic: &message.topic,
            payload: &message.payload,
            qos: self.qos,
            retain: message.retain,
            correlation_data: message.correlation_data.as_deref(),
        })
    }

    /// The client took publication `seq` (its packet id follows as [`MqttEvent::Sent`]).
    pub fn published(&mut self, seq: u64, now: Instant) {
        let Some(session) = self.session.as_mut() else { return };
        session.awaiting_pkid.push_back(seq);
        session.last_sent = seq;
        self.counts.published += 1;
        let earliest = now.checked_sub(self.interval).unwrap_or(now);
        self.next_publish_at = self.next_publish_at.max(earliest) + self.interval;
    }

    /// How long the loop may wait for an event before something is due.
    pub fn next_wake(&self, now: Instant) -> Duration {
        let mut wake = IDLE_WAKE;
        if let Some(at) = self.reconnect_at {
            wake = wake.min(at.saturating_duration_since(now));
        }
        let unsent =
            self.session.as_ref().is_some_and(|s| s.connected && self.outbox.next_after(s.last_sent).is_some());
        if unsent {
            wake = wake.min(self.next_publish_at.saturating_duration_since(now).max(Duration::from_millis(1)));
        }
        wake
    }

    /// Everything in the outbox was acknowledged.
    pub fn is_drained(&self) -> bool {
        self.outbox.is_empty()
    }

    /// The counts so far; `left_waiting` is what the outbox holds now.
    pub fn counts(&self) -> SinkCounts {
        SinkCounts { left_waiting: self.outbox.len() as u64, dropped: self.outbox.dropped(), ..self.counts }
    }

    /// The sink's series (rejected inputs and memory are the driver's).
    pub fn metrics(&self, snapshot: &mut Snapshot) {
        let counts = self.counts();
        let in_flight = self.session.as_ref().map_or(0, Session::unacknowledged);
        snapshot
            .gauge(
                "shopfloor_sink_connected",
                "1 while the link to the broker is up",
                &[("link", "mqtt")],
                f64::from(u8::from(self.connected())),
            )
            .counter("shopfloor_messages_accepted", "Answers and alerts put into the outbox", &[], counts.accepted)
            .counter(
                "shopfloor_messages_published",
                "Publications handed to the broker (re-sends included)",
                &[],
                counts.published,
            )
            .counter(
                "shopfloor_messages_acknowledged",
                "Publications the broker acknowledged",
                &[],
                counts.acknowledged,
            )
            .counter(
                "shopfloor_dropped_messages",
                "Messages lost, by reason",
                &[("reason", "outbox_full")],
                counts.dropped,
            )
            .counter(
                "shopfloor_dropped_messages",
                "Messages lost, by reason",
                &[("reason", "refused_by_broker")],
                counts.refused_by_broker,
            )
            .counter(
                "shopfloor_outbox_write_failures",
                "Outbox journal writes that failed (a full disk); the outbox goes on in memory",
                &[],
                self.outbox.write_failures(),
            )
            .gauge(
                "shopfloor_outbox_journaled",
                "1 while the journal on disk holds every waiting message",
                &[],
                f64::from(u8::from(self.outbox.is_journaled())),
            )
            .counter(
                "shopfloor_answers_not_for_mqtt",
                "Answers to HTTP questions, left to the gateway",
                &[],
                counts.not_for_mqtt,
            )
            .gauge(
                "shopfloor_outbox_depth",
                "Messages in the outbox, waiting or unacknowledged",
                &[],
                counts.left_waiting as f64,
            )
            .gauge(
                "shopfloor_outbox_in_flight",
                "Publications waiting for the broker's acknowledgement",
                &[],
                in_flight as f64,
            );
        for (severity, count) in &self.alerts_by_severity {
            snapshot.counter(
                "shopfloor_alerts",
                "Alerts accepted for publication, by severity",
                &[("severity", severity)],
                *count,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use shopfloor_core::env::EnvVars;
    use shopfloor_core::schema::{Question, Reading, ReadingValue, Severity};

    use super::*;
    use crate::outbox::{MemoryJournal, Record};

    fn mqtt(qos: &str) -> MqttConfig {
        let vars = EnvVars::from([("MQTT_TOPIC_ROOT", "p/a/c"), ("MQTT_QOS", qos)]);
        MqttConfig::from_env("mqtt-sink", &vars).unwrap()
    }

    fn outbox_config(inflight: usize, catchup_per_sec: u32) -> OutboxConfig {
        OutboxConfig { dir: PathBuf::from("unused"), max_messages: 100, catchup_per_sec, inflight }
    }

    fn sink_with(records: Vec<Record>, retain_last: bool, inflight: usize, now: Instant) -> SinkState<MemoryJournal> {
        let outbox = Outbox::replay(MemoryJournal::default(), records, 100).unwrap();
        let alerts = AlertDeliveryConfig { retain_last };
        SinkState::new(&mqtt("1"), &outbox_config(inflight, 1000), alerts, outbox, now)
    }

    fn sink(retain_last: bool, now: Instant) -> SinkState<MemoryJournal> {
        sink_with(Vec::new(), retain_last, 16, now)
    }

    fn alert(id: &str, severity: Severity) -> Alert {
        Alert::new(id, 1, "station1", severity, "high_limit", "hot", "limit-alarms")
    }

    fn answer(origin: Origin, reply_to: Option<&str>, correlation: Option<Vec<u8>>) -> Answer {
        let question = Question {
            reply_to: reply_to.map(str::to_owned),
            correlation_data: correlation,
            ..Question::new("q-1", "how hot?", "alice", origin, 0)
        };
        Answer::to_question(&question, "72 °C".into())
    }

    /// Connects session 1 and returns what it publishes now, acknowledging nothing.
    fn connect(state: &mut SinkState<MemoryJournal>, now: Instant) -> u64 {
        let session = state.connect_due(now).expect("a first connection is due at once");
        state.on_mqtt(MqttEvent::SessionConnected { session }, now).unwrap();
        session
    }

    /// Publishes everything the state offers now; returns (seq, topic, retain).
    fn publish_all(state: &mut SinkState<MemoryJournal>, now: Instant) -> Vec<(u64, String, bool)> {
        let mut sent = Vec::new();
        while let Some(p) = state.next_publication(now) {
            sent.push((p.seq, p.topic.to_owned(), p.retain));
            let seq = p.seq;
            state.published(seq, now);
        }
        sent
    }

    #[test]
    fn alarm_events_go_to_their_station_as_json() {
        use shopfloor_core::schema::{AlarmAction, AlarmState};
        let now = Instant::now();
        let mut state = sink(false, now);
        let event = AlarmEvent {
            id: "station/1#2".into(),
            ts_ms: 5,
            key: "station/1/spindle".into(),
            station: "station/1".into(),
            tag: Some("spindle".into()),
            alert_id: "limit-spindle-1".into(),
            action: AlarmAction::Acknowledged,
            state: AlarmState::Acknowledged,
            severity: Severity::Warning,
            message: "spindle 81 °C above high limit 80 °C".into(),
            operator: Some("anna".into()),
            comment: Some("coolant checked".into()),
            shelved_until_ms: None,
        };
        assert_eq!(state.take_input("alarm_events", AlarmEvent::to_arrow(&[event]).as_ref()).unwrap(), 1);
        connect(&mut state, now);
        let p = state.next_publication(now).expect("the event is due");
        assert_eq!(p.topic, "p/a/c/alarms/station_1/events", "a station that is no plain level is made one");
        let json: serde_json::Value = serde_json::from_str(p.payload).unwrap();
        assert_eq!((json["action"].as_str(), json["operator"].as_str()), (Some("acknowledged"), Some("anna")));
        let journaled: Vec<String> = state.take_journaled_alerts().into_iter().map(|a| a.id).collect();
        assert_eq!(journaled, ["station/1#2"], "reported with the alerts, for the gateway's hold");
    }

    #[test]
    fn alerts_go_to_their_station_and_severity_and_retained_to_last() {
        let now = Instant::now();
        let mut state = sink(true, now);
        let batch = Alert::to_arrow(&[alert("a-1", Severity::Warning), alert("a-2", Severity::Critical)]);
        assert_eq!(state.take_input("alerts_vision", batch.as_ref()).unwrap(), 2);
        connect(&mut state, now);
        let sent: Vec<(String, bool)> = (0..4)
            .map(|i| {
                let later = now + Duration::from_millis(i);
                let p = state.next_publication(later).expect("one due per ms at 1000/s");
                let out = (p.topic.to_owned(), p.retain);
                let seq = p.seq;
                state.published(seq, later);
                out
            })
            .collect();
        assert_eq!(
            sent,
            [
                ("p/a/c/alerts/station1/warning".to_owned(), false),
                ("p/a/c/alerts/station1/last".to_owned(), true),
                ("p/a/c/alerts/station1/critical".to_owned(), false),
                ("p/a/c/alerts/station1/last".to_owned(), true),
            ]
        );
        assert_eq!(state.counts().accepted, 2, "the retained copies are not inputs");
    }

    #[test]
    fn without_retain_last_an_alert_is_one_publication() {
        let now = Instant::now();
        let mut state = sink(false, now);
        state.take_input("alerts", Alert::to_arrow(&[alert("a-1", Severity::Info)]).as_ref()).unwrap();
        assert_eq!(state.outbox().len(), 1);
    }

    #[test]
    fn mqtt_answers_go_to_reply_to_with_their_correlation_data_http_answers_are_left_alone() {
        let now = Instant::now();
        let mut state = sink(false, now);
        let batch = Answer::to_arrow(&[
            answer(Origin::Mqtt, Some("hmi/7/reply"), Some(vec![1, 2, 3])),
            answer(Origin::Mqtt, None, None),
            answer(Origin::Http, None, None),
        ]);
        assert_eq!(state.take_input("answers", batch.as_ref()).unwrap(), 2);
        assert_eq!(state.counts().not_for_mqtt, 1);
        connect(&mut state, now);
        let first = state.next_publication(now).unwrap();
        assert_eq!((first.topic, first.correlation_data, first.qos), ("hmi/7/reply", Some(&[1u8, 2, 3][..]), 1));
        let json: serde_json::Value = serde_json::from_str(first.payload).unwrap();
        assert_eq!((json["id"].as_str(), json["answer"].as_str()), (Some("q-1"), Some("72 °C")));
        let seq = first.seq;
        state.published(seq, now);
        let later = now + Duration::from_millis(5);
        assert_eq!(state.next_publication(later).map(|p| p.topic), Some("p/a/c/assistant/answer/alice"));
    }

    #[test]
    fn bad_batches_and_unknown_inputs_are_rejected_by_reason() {
        let now = Instant::now();
        let mut state = sink(false, now);
        let readings = Reading::to_arrow(&[Reading::good("opc", "t".into(), ReadingValue::Number(1.0), None, None, 0)]);
        for input in ["alerts", "answers", "answers_refused"] {
            match state.take_input(input, readings.as_ref()) {
                Err(InputError::Rejected(rejected)) => assert_eq!(rejected.reason, "schema"),
                other => panic!("{input}: {other:?}"),
            }
        }
        match state.take_input("frames", readings.as_ref()) {
            Err(InputError::Rejected(rejected)) => assert_eq!(rejected.reason, "unknown_input"),
            other => panic!("{other:?}"),
        }
        assert!(state.outbox().is_empty());
    }

    #[test]
    fn qos_zero_is_raised_to_one_so_that_an_ack_can_empty_the_outbox() {
        let now = Instant::now();
        let outbox = Outbox::replay(MemoryJournal::default(), Vec::new(), 10).unwrap();
        let alerts = AlertDeliveryConfig { retain_last: false };
        let mut state = SinkState::new(&mqtt("0"), &outbox_config(16, 1000), alerts, outbox, now);
        state.take_input("alerts", Alert::to_arrow(&[alert("a-1", Severity::Info)]).as_ref()).unwrap();
        connect(&mut state, now);
        assert_eq!(state.next_publication(now).map(|p| p.qos), Some(1));
    }

    #[test]
    fn a_message_leaves_the_outbox_only_when_acknowledged() {
        let now = Instant::now();
        let mut state = sink(false, now);
        state.take_input("alerts", Alert::to_arrow(&[alert("a-1", Severity::Info)]).as_ref()).unwrap();
        let session = connect(&mut state, now);
        assert_eq!(publish_all(&mut state, now).len(), 1);
        state.on_mqtt(MqttEvent::Sent { session, pkid: 7 }, now).unwrap();
        assert_eq!(state.outbox().len(), 1, "sent is not acknowledged");
        // An ack of an older session's packet id is not ours.
        state.on_mqtt(MqttEvent::Acked { session: 0, pkid: 7, refused: None }, now).unwrap();
        assert_eq!(state.outbox().len(), 1);
        state.on_mqtt(MqttEvent::Acked { session, pkid: 7, refused: None }, now).unwrap();
        assert!(state.is_drained());
        assert_eq!((state.counts().published, state.counts().acknowledged), (1, 1));
    }

    #[test]
    fn a_refused_publication_is_counted_and_not_retried() {
        let now = Instant::now();
        let mut state = sink(false, now);
        state.take_input("alerts", Alert::to_arrow(&[alert("a-1", Severity::Info)]).as_ref()).unwrap();
        let session = connect(&mut state, now);
        publish_all(&mut state, now);
        state.on_mqtt(MqttEvent::Sent { session, pkid: 1 }, now).unwrap();
        state.on_mqtt(MqttEvent::Acked { session, pkid: 1, refused: Some("NotAuthorized".into()) }, now).unwrap();
        assert!(state.is_drained());
        assert_eq!((state.counts().refused_by_broker, state.counts().acknowledged), (1, 0));
    }

    #[test]
    fn a_lost_session_resends_everything_unacknowledged_in_order_after_a_backoff() {
        let now = Instant::now();
        let mut state = sink(false, now);
        let batch = Alert::to_arrow(&[alert("a-1", Severity::Info), alert("a-2", Severity::Info)]);
        state.take_input("alerts", batch.as_ref()).unwrap();
        let first = connect(&mut state, now);
        let sent = publish_all(&mut state, now + Duration::from_millis(10));
        let later = now + Duration::from_millis(20);
        let more = publish_all(&mut state, later);
        let seqs: Vec<u64> = sent.iter().chain(&more).map(|(seq, _, _)| *seq).collect();
        assert_eq!(seqs.len(), 2);
        state.on_mqtt(MqttEvent::Sent { session: first, pkid: 1 }, later).unwrap();
        state.on_mqtt(MqttEvent::Acked { session: first, pkid: 1, refused: None }, later).unwrap();
        state.on_mqtt(MqttEvent::SessionEnded { session: first, reason: "broker gone".into() }, later).unwrap();
        assert_eq!(state.session(), None);
        assert_eq!(state.connect_due(later), None, "the backoff comes first");
        assert_eq!(state.next_wake(later), RECONNECT_FIRST);
        let retry = later + RECONNECT_FIRST;
        let second = state.connect_due(retry).unwrap();
        assert!(second > first);
        state.on_mqtt(MqttEvent::SessionConnected { session: second }, retry).unwrap();
        let resent = publish_all(&mut state, retry);
        assert_eq!(resent.iter().map(|(seq, _, _)| *seq).collect::<Vec<_>>(), [seqs[1]], "only the unacknowledged one");
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap_and_a_connection_resets_it() {
        let start = Instant::now();
        let mut state = sink(false, start);
        let mut now = start;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let ended_at = now;
            let session = loop {
                match state.connect_due(now) {
                    Some(session) => break session,
                    None => now += state.next_wake(now),
                }
            };
            waits.push((now - ended_at).as_millis());
            state.on_mqtt(MqttEvent::SessionEnded { session, reason: "refused".into() }, now).unwrap();
        }
        assert_eq!(waits, [0, 100, 200, 400, 800, 1600, 3200, 5000]);
        now += RECONNECT_LAST;
        let session = state.connect_due(now).unwrap();
        state.on_mqtt(MqttEvent::SessionConnected { session }, now).unwrap();
        state.on_mqtt(MqttEvent::SessionEnded { session, reason: "gone".into() }, now).unwrap();
        assert_eq!(state.next_wake(now), RECONNECT_FIRST);
    }

    #[test]
    fn in_flight_is_bounded_and_catch_up_is_paced() {
        let now = Instant::now();
        let records = (1..=10)
            .map(|n| Record::Add { add: n, message: Message::new(format!("t/{n}"), "{}".into(), Priority::Low) })
            .collect();
        let mut state = sink_with(records, false, 3, now);
        let session = connect(&mut state, now);
        // 1000/s: at most one per ms after the first burst.
        let mut offered = 0;
        for ms in 0..10 {
            offered += publish_all(&mut state, now + Duration::from_millis(ms)).len();
        }
        assert_eq!(offered, 3, "the in-flight bound");
        state.on_mqtt(MqttEvent::Sent { session, pkid: 1 }, now).unwrap();
        state.on_mqtt(MqttEvent::Acked { session, pkid: 1, refused: None }, now).unwrap();
        assert_eq!(publish_all(&mut state, now + Duration::from_millis(20)).len(), 1);
        assert_eq!(publish_all(&mut state, now + Duration::from_millis(20)).len(), 0, "in flight again: 3");
    }

    #[test]
    fn what_was_waiting_at_the_last_stop_goes_first_on_the_next_start() {
        let now = Instant::now();
        let mut before = sink(false, now);
        before.take_input("alerts", Alert::to_arrow(&[alert("a-1", Severity::Critical)]).as_ref()).unwrap();
        let left = before.counts().left_waiting;
        let journal = before.outbox().journal().records.clone();
        let mut after = sink_with(journal, false, 16, now);
        assert_eq!((left, after.outbox().len()), (1, 1));
        after.take_input("alerts", Alert::to_arrow(&[alert("a-2", Severity::Info)]).as_ref()).unwrap();
        connect(&mut after, now);
        let first = after.next_publication(now).unwrap();
        assert!(first.payload.contains("\"a-1\""), "{}", first.payload);
    }

    #[test]
    fn the_snapshot_carries_link_outbox_and_alert_series() {
        let now = Instant::now();
        let mut state = sink(false, now);
        state.take_input("alerts", Alert::to_arrow(&[alert("a-1", Severity::Critical)]).as_ref()).unwrap();
        let mut snapshot = Snapshot::new("mqtt-sink");
        state.metrics(&mut snapshot);
        let samples = snapshot.finish();
        let value = |name: &str| samples.iter().find(|s| s.name == name).map(|s| s.value);
        assert_eq!(value("shopfloor_sink_connected"), Some(0.0));
        assert_eq!(value("shopfloor_outbox_depth"), Some(1.0));
        assert_eq!(value("shopfloor_alerts"), Some(1.0));
        assert!(samples.iter().all(|s| s.name != "shopfloor_rejected_inputs"), "the driver reports rejections");
    }
}
