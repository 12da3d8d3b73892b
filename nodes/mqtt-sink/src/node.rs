//! The sink's event loop: answers and alerts from dora go into the outbox, and from
//! there to the broker, in order, a bounded number in flight; a message
//! leaves the outbox only when the broker acknowledged it.
//!
//! Each connection is a *session* ([`shopfloor_mqtt::connect_session`]).
//! When one ends, everything sent but unacknowledged is sent again on the
//! next one (subscribers de-duplicate by the message's `id`); rumqttc's own
//! retry queue dies with the old session, so nothing is lost silently and
//! nothing is sent twice by two mechanisms.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use crate::config::{AlertDeliveryConfig, OutboxConfig};
use dora_node_api::dora_core::config::DataId;
use dora_node_api::MetadataParameters;
use dora_node_api::{DoraNode, Event, EventStream};
use shopfloor_core::schema::{Alert, Answer, MetricSample, Origin};
use shopfloor_mqtt::config::MqttConfig;
use shopfloor_mqtt::{connect_session, forward_dora_events, publish, qos, Client, MqttEvent, NodeEvent};
use shopfloor_node::metrics::{Snapshot, METRICS_OUTPUT, METRICS_TICK_INPUT};
use std::collections::BTreeMap;

use crate::outbox::{Message, Outbox, OutboxError, Priority};
use crate::payload::{alert_json, alert_topics, answer_json, answer_topic};

/// Input id of the answer stream.
pub const ANSWERS_INPUT: &str = "answers";
/// Input id of the alert stream; every input whose id starts with it
/// (`alerts_vision`, `alerts_station1`) carries alerts too.
pub const ALERTS_INPUT: &str = "alerts";
/// Node name used in logs.
pub const NODE_NAME: &str = "mqtt-sink";
/// How long to wait at stop for the broker to acknowledge what is waiting;
/// the rest stays in the outbox for the next start.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// Waits between connection attempts: doubling from the first to the last.
const RECONNECT_FIRST: Duration = Duration::from_millis(100);
const RECONNECT_LAST: Duration = Duration::from_secs(5);

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The MQTT connection thread could not start.
    #[error("cannot start the MQTT connection: {0}")]
    Mqtt(#[from] std::io::Error),
    /// The outbox could not be read or written.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// What the sink did, for the final log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SinkCounts {
    /// Messages put into the outbox.
    pub accepted: u64,
    /// Publications handed to the broker (re-sends included).
    pub published: u64,
    /// Publications the broker acknowledged.
    pub acknowledged: u64,
    /// Publications the broker answered with a refusal (MQTT 5 reason code,
    /// e.g. not authorized): logged and not retried, since a re-send would be
    /// refused the same way.
    pub refused_by_broker: u64,
    /// Messages still in the outbox at stop (sent on the next start).
    pub left_waiting: u64,
    /// Messages dropped because the outbox was full.
    pub dropped: u64,
    /// Inputs that were not valid answer or alert batches.
    pub rejected_inputs: u64,
    /// Answers to questions that came through another front door (HTTP):
    /// the gateway returns those, they are not published.
    pub not_for_mqtt: u64,
}

/// The current connection and what is in flight on it.
struct Session {
    id: u64,
    client: Client,
    connected: bool,
    /// Sequence numbers published, waiting for their packet id, in order.
    awaiting_pkid: VecDeque<u64>,
    /// Packet id to sequence number, for publications waiting for an ack.
    in_flight: HashMap<u16, u64>,
    /// The last sequence number handed to this session.
    last_sent: u64,
}

/// The loop's state.
struct Sink {
    config: MqttConfig,
    outbox_config: OutboxConfig,
    alerts: AlertDeliveryConfig,
    outbox: Outbox,
    session: Option<Session>,
    next_session: u64,
    reconnect_at: Option<Instant>,
    backoff: Duration,
    /// Earliest time the next publication may go (catch-up rate).
    next_publish_at: Instant,
    counts: SinkCounts,
    /// Alerts accepted, by severity.
    alerts_by_severity: BTreeMap<&'static str, u64>,
    tx: SyncSender<NodeEvent>,
    node: DoraNode,
}

/// Runs until dora says stop, then drains the outbox for a bounded time.
pub fn run(
    config: MqttConfig,
    outbox_config: OutboxConfig,
    alerts: AlertDeliveryConfig,
    node: DoraNode,
    events: EventStream,
) -> Result<SinkCounts, SinkError> {
    let (tx, rx) = sync_channel::<NodeEvent>(1024);
    forward_dora_events(events, tx.clone())?;
    let outbox = Outbox::open(&outbox_config.dir, outbox_config.max_messages)?;
    if !outbox.is_empty() || outbox.damaged_lines > 0 {
        tracing::info!(waiting = outbox.len(), damaged_lines = outbox.damaged_lines, "outbox reopened");
    }
    let mut sink = Sink {
        config,
        outbox_config,
        alerts,
        outbox,
        session: None,
        next_session: 1,
        reconnect_at: Some(Instant::now()),
        backoff: RECONNECT_FIRST,
        next_publish_at: Instant::now(),
        counts: SinkCounts::default(),
        alerts_by_severity: BTreeMap::new(),
        tx,
        node,
    };

    loop {
        sink.connect_if_due()?;
        sink.publish_ready()?;
        match rx.recv_timeout(sink.next_wake()) {
            Ok(event) if event.is_stop() => break,
            Ok(event) => sink.handle(event)?,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    sink.drain(&rx)?;
    Ok(sink.finish())
}

impl Sink {
    fn handle(&mut self, event: NodeEvent) -> Result<(), SinkError> {
        match event {
            NodeEvent::Dora(Event::Input { id, data, .. }) if id.as_str() == ANSWERS_INPUT => {
                match Answer::from_arrow(data.as_array().as_ref()) {
                    Ok(answers) => {
                        for answer in answers {
                            if answer.origin != Origin::Mqtt {
                                self.counts.not_for_mqtt += 1;
                                continue;
                            }
                            let payload = String::from_utf8_lossy(&answer_json(&answer)).into_owned();
                            let message = Message {
                                correlation_data: answer.correlation_data.clone(),
                                ..Message::new(answer_topic(&self.config.topics, &answer), payload, Priority::Low)
                            };
                            self.accept(message)?;
                        }
                    }
                    Err(error) => self.reject_input(&error),
                }
            }
            // `alerts`, `alerts_vision`, ...: one input per alert source.
            NodeEvent::Dora(Event::Input { id, data, .. }) if id.as_str().starts_with(ALERTS_INPUT) => {
                match Alert::from_arrow(data.as_array().as_ref()) {
                    Ok(alerts) => {
                        for alert in alerts {
                            *self.alerts_by_severity.entry(alert.severity.as_str()).or_default() += 1;
                            let (topic, last_topic) = alert_topics(&self.config.topics, &alert);
                            let payload = String::from_utf8_lossy(&alert_json(&alert)).into_owned();
                            self.accept(Message::new(topic, payload.clone(), Priority::High))?;
                            if self.alerts.retain_last {
                                // A second publication, not counted as accepted input.
                                self.outbox.push(Message {
                                    retain: true,
                                    ..Message::new(last_topic, payload, Priority::High)
                                })?;
                            }
                        }
                    }
                    Err(error) => self.reject_input(&error),
                }
            }
            NodeEvent::Dora(Event::Input { id, .. }) if id.as_str() == METRICS_TICK_INPUT => self.send_metrics(),
            NodeEvent::Dora(Event::Input { id, .. }) => {
                self.counts.rejected_inputs += 1;
                tracing::warn!(input = %id, rejected = self.counts.rejected_inputs, "unknown input (expected `answers` or `alerts…`)");
            }
            NodeEvent::Mqtt(event) => self.handle_mqtt(event)?,
            NodeEvent::Dora(_) | NodeEvent::DoraClosed => {}
        }
        Ok(())
    }

    fn send_metrics(&mut self) {
        let mut snapshot = Snapshot::new(self.node.id().to_string());
        let counts = self.counts;
        let connected = self.session.as_ref().is_some_and(|s| s.connected);
        let in_flight = self.session.as_ref().map_or(0, |s| s.in_flight.len() + s.awaiting_pkid.len());
        snapshot
            .gauge(
                "shopfloor_sink_connected",
                "1 while the link to the broker is up",
                &[("link", "mqtt")],
                f64::from(u8::from(connected)),
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
                "shopfloor_rejected_inputs",
                "Inputs refused, by reason",
                &[("reason", "schema")],
                counts.rejected_inputs,
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
                self.outbox.len() as f64,
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
        snapshot.process_memory();
        let samples: Vec<MetricSample> = snapshot.finish();
        let output = DataId::from(METRICS_OUTPUT.to_owned());
        if let Err(error) =
            self.node.send_output(output, MetadataParameters::default(), MetricSample::to_arrow(&samples))
        {
            tracing::warn!(%error, "cannot send metrics");
        }
    }

    fn accept(&mut self, message: Message) -> Result<(), SinkError> {
        self.outbox.push(message)?;
        self.counts.accepted += 1;
        Ok(())
    }

    fn reject_input(&mut self, error: &dyn std::fmt::Display) {
        self.counts.rejected_inputs += 1;
        tracing::warn!(%error, rejected = self.counts.rejected_inputs, "input is not a valid batch");
    }

    fn handle_mqtt(&mut self, event: MqttEvent) -> Result<(), SinkError> {
        let current = self.session.as_ref().map(|s| s.id);
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
                let unacknowledged = self.session.as_ref().map_or(0, |s| s.in_flight.len() + s.awaiting_pkid.len());
                tracing::warn!(session, %reason, unacknowledged, waiting = self.outbox.len(), "MQTT connection lost; the outbox keeps everything unacknowledged");
                // Dropping the client ends the old session for good.
                self.session = None;
                self.reconnect_at = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(RECONNECT_LAST);
            }
            _ => {} // events of an older session, or not ours
        }
        Ok(())
    }

    fn connect_if_due(&mut self) -> Result<(), SinkError> {
        if self.session.is_none() && self.reconnect_at.is_some_and(|at| Instant::now() >= at) {
            let id = self.next_session;
            self.next_session += 1;
            let client = connect_session(&self.config, id, self.tx.clone())?;
            self.session = Some(Session {
                id,
                client,
                connected: false,
                awaiting_pkid: VecDeque::new(),
                in_flight: HashMap::new(),
                last_sent: 0,
            });
            self.reconnect_at = None;
        }
        Ok(())
    }

    /// Hands waiting messages to the session, in order, up to the in-flight
    /// bound and the catch-up rate.
    fn publish_ready(&mut self) -> Result<(), SinkError> {
        // QoS 0 has no acknowledgement to take a message out of the outbox.
        let qos_level = qos(self.config.qos.max(1));
        let interval = Duration::from_secs_f64(1.0 / f64::from(self.outbox_config.catchup_per_sec));
        let Some(session) = self.session.as_mut().filter(|s| s.connected) else { return Ok(()) };
        while session.awaiting_pkid.len() + session.in_flight.len() < self.outbox_config.inflight
            && Instant::now() >= self.next_publish_at
        {
            let Some(seq) = self.outbox.next_after(session.last_sent) else { break };
            let Some(message) = self.outbox.get(seq) else { break };
            // try_publish: the session's request queue (256) is far above the in-flight bound.
            let payload = message.payload.clone().into_bytes();
            let sent = publish(
                &session.client,
                &message.topic,
                qos_level,
                message.retain,
                payload,
                message.correlation_data.as_deref(),
            );
            if let Err(error) = sent {
                tracing::warn!(%error, "cannot hand a message to the MQTT client; retrying on the next session");
                break;
            }
            session.awaiting_pkid.push_back(seq);
            session.last_sent = seq;
            self.counts.published += 1;
            self.next_publish_at = self.next_publish_at.max(Instant::now() - interval) + interval;
        }
        Ok(())
    }

    fn next_wake(&self) -> Duration {
        let mut wake = Duration::from_secs(1);
        if let Some(at) = self.reconnect_at {
            wake = wake.min(at.saturating_duration_since(Instant::now()));
        }
        let unsent =
            self.session.as_ref().is_some_and(|s| s.connected && self.outbox.next_after(s.last_sent).is_some());
        if unsent {
            wake =
                wake.min(self.next_publish_at.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)));
        }
        wake
    }

    /// At stop: keep publishing until the outbox is empty or the time is up.
    fn drain(&mut self, rx: &Receiver<NodeEvent>) -> Result<(), SinkError> {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while !self.outbox.is_empty() && Instant::now() < deadline {
            self.connect_if_due()?;
            self.publish_ready()?;
            let wait = self.next_wake().min(deadline.saturating_duration_since(Instant::now()));
            match rx.recv_timeout(wait) {
                Ok(NodeEvent::Mqtt(event)) => self.handle_mqtt(event)?,
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if let Some(session) = self.session.take() {
            let _ = session.client.try_disconnect();
        }
        Ok(())
    }

    fn finish(self) -> SinkCounts {
        SinkCounts { left_waiting: self.outbox.len() as u64, dropped: self.outbox.dropped(), ..self.counts }
    }
}
