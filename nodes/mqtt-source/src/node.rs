//! The node's event loop: MQTT messages and dora events arrive on one channel,
//! so a question is forwarded the moment it arrives (no polling interval).
//! Telemetry readings are collected into batches, sent when a batch is full
//! or its oldest reading has waited `TELEMETRY_BATCH_MS`.

use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::config::TelemetryConfig;
use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, EventStream, MetadataParameters};
use shopfloor_core::schema::{MetricSample, Question, Reading};
use shopfloor_mqtt::config::MqttConfig;
use shopfloor_mqtt::{forward_dora_events, MqttEvent, NodeEvent, QoS};
use shopfloor_node::clock::now_ms;
use shopfloor_node::metrics::{Snapshot, METRICS_OUTPUT, METRICS_TICK_INPUT};

use crate::config::PayloadFormat;
use crate::question::{parse_question, RequestProperties};
use crate::rejection::{deadletter_payload, Rejection, RejectionCounts};
use crate::sparkplug::SparkplugState;
use crate::telemetry;

/// Rebirth requests to one edge node are sent at most this often.
const REBIRTH_INTERVAL: Duration = Duration::from_secs(5);

/// Output id of the question stream.
pub const QUESTIONS_OUTPUT: &str = "questions";
/// Output id of telemetry reading batches.
pub const READINGS_OUTPUT: &str = "readings";
/// Node name used in dead letters and logs.
pub const NODE_NAME: &str = "mqtt-source";

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The MQTT connection thread could not start.
    #[error("cannot start the MQTT connection: {0}")]
    Mqtt(#[from] std::io::Error),
    /// dora refused an output.
    #[error("cannot send to the dataflow: {0}")]
    Dora(#[from] dora_node_api::NodeError),
}

/// Runs until dora says stop. Returns the rejection counts for the final log.
pub fn run(
    config: MqttConfig,
    telemetry_config: TelemetryConfig,
    mut node: DoraNode,
    events: EventStream,
) -> Result<RejectionCounts, SourceError> {
    let (tx, rx) = sync_channel::<NodeEvent>(1024);
    let mut filters = vec![config.topics.query_filter()];
    filters.extend(telemetry_config.subscriptions.iter().map(|s| s.filter.clone()));
    let (client, _connection) = shopfloor_mqtt::connect(&config, filters, tx.clone())?;
    forward_dora_events(events, tx)?;
    let deadletter_topic = config.topics.deadletter_topic(NODE_NAME);
    let questions = DataId::from(QUESTIONS_OUTPUT.to_owned());
    let readings_output = DataId::from(READINGS_OUTPUT.to_owned());
    let source = format!("mqtt://{}:{}", config.broker.client_address().0, config.broker.client_address().1);
    let batch_window = Duration::from_millis(telemetry_config.batch_ms);
    let mut batch: Vec<Reading> = Vec::new();
    let mut batch_started = Instant::now();
    let mut rejected = RejectionCounts::default();
    let mut sparkplug = SparkplugState::default();
    let mut rebirths_sent: std::collections::HashMap<String, Instant> = std::collections::HashMap::new();
    let mut traffic = Traffic::default();
    let metrics_output = DataId::from(METRICS_OUTPUT.to_owned());

    let reject = |rejected: &mut RejectionCounts, topic: &str, payload: &[u8], rejection: Rejection, now: i64| {
        let count = rejected.count(&rejection);
        tracing::warn!(%topic, reason = rejection.reason(), detail = %rejection.detail(), count, "payload rejected");
        let letter = deadletter_payload(NODE_NAME, topic, payload, &rejection, count, now);
        if let Err(error) = client.try_publish(&deadletter_topic, QoS::AtLeastOnce, false, letter) {
            tracing::warn!(%error, "cannot queue dead letter");
        }
    };

    loop {
        let incoming = if batch.is_empty() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(batch_window.saturating_sub(batch_started.elapsed()))
        };
        match incoming {
            Ok(NodeEvent::Mqtt(MqttEvent::Message { topic, payload, response_topic, correlation_data })) => {
                let now = now_ms();
                let route = telemetry::route(&telemetry_config.subscriptions, &topic);
                if let Some(subscription) = route.filter(|s| s.format == PayloadFormat::Sparkplug) {
                    let _ = subscription;
                    if payload.len() > config.max_payload_bytes {
                        let oversized = Rejection::Oversized { bytes: payload.len(), limit: config.max_payload_bytes };
                        reject(&mut rejected, &topic, &payload, oversized, now);
                        continue;
                    }
                    let outcome = sparkplug.handle(&source, &topic, &payload, now);
                    if batch.is_empty() && !outcome.readings.is_empty() {
                        batch_started = Instant::now();
                    }
                    batch.extend(outcome.readings);
                    if let Some(rejection) = outcome.rejection {
                        reject(&mut rejected, &topic, &payload, rejection, now);
                    }
                    if let Some((command_topic, command)) = outcome.rebirth {
                        let due = rebirths_sent.get(&command_topic).is_none_or(|at| at.elapsed() >= REBIRTH_INTERVAL);
                        if due {
                            tracing::info!(topic = %command_topic, "asking the edge node for a rebirth");
                            if let Err(error) = client.try_publish(&command_topic, QoS::AtMostOnce, false, command) {
                                tracing::warn!(%error, "cannot queue the rebirth request");
                            }
                            // Bounded like the Sparkplug state: old entries have expired anyway.
                            if rebirths_sent.len() >= crate::sparkplug::MAX_EDGE_NODES {
                                rebirths_sent.retain(|_, at| at.elapsed() < REBIRTH_INTERVAL);
                            }
                            rebirths_sent.insert(command_topic, Instant::now());
                        }
                    }
                } else if let Some(subscription) = route {
                    match telemetry::decode(subscription, &source, &topic, &payload, config.max_payload_bytes, now) {
                        Ok(readings) => {
                            if batch.is_empty() {
                                batch_started = Instant::now();
                            }
                            batch.extend(readings);
                        }
                        Err(rejection) => reject(&mut rejected, &topic, &payload, rejection, now),
                    }
                } else {
                    let properties = RequestProperties { response_topic, correlation_data };
                    match parse_question(&config.topics, &topic, &payload, properties, config.max_payload_bytes, now) {
                        Ok(question) => {
                            tracing::debug!(id = %question.id, operator = %question.operator, "question received");
                            node.send_output(
                                questions.clone(),
                                MetadataParameters::default(),
                                Question::to_arrow(&[question]),
                            )?;
                            traffic.questions += 1;
                        }
                        Err(rejection) => reject(&mut rejected, &topic, &payload, rejection, now),
                    }
                }
            }
            Ok(event) if event.is_stop() => break,
            Ok(NodeEvent::Mqtt(MqttEvent::Connected)) => traffic.connected = true,
            Ok(NodeEvent::Mqtt(MqttEvent::Disconnected)) => traffic.connected = false,
            Ok(NodeEvent::Dora(dora_node_api::Event::Input { id, .. })) if id.as_str() == METRICS_TICK_INPUT => {
                let samples = traffic.snapshot(node.id().as_ref(), &rejected);
                node.send_output(
                    metrics_output.clone(),
                    MetadataParameters::default(),
                    MetricSample::to_arrow(&samples),
                )?;
            }
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let due = batch.len() >= telemetry_config.batch_max || batch_started.elapsed() >= batch_window;
        if !batch.is_empty() && due {
            node.send_output(readings_output.clone(), MetadataParameters::default(), Reading::to_arrow(&batch))?;
            traffic.readings += batch.len() as u64;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        node.send_output(readings_output, MetadataParameters::default(), Reading::to_arrow(&batch))?;
    }
    // Dropping the client ends the connection thread after queued publishes.
    let _ = client.try_disconnect();
    Ok(rejected)
}

/// What the node reports in its metrics snapshot.
#[derive(Debug, Default)]
struct Traffic {
    connected: bool,
    questions: u64,
    readings: u64,
}

impl Traffic {
    fn snapshot(&self, node: &str, rejected: &RejectionCounts) -> Vec<MetricSample> {
        let mut snapshot = Snapshot::new(node);
        snapshot
            .gauge(
                "shopfloor_source_connected",
                "1 while the link is up",
                &[("link", "mqtt")],
                f64::from(u8::from(self.connected)),
            )
            .counter("shopfloor_questions_in", "Questions forwarded into the dataflow", &[], self.questions)
            .counter("shopfloor_readings_out", "Readings sent into the dataflow", &[], self.readings);
        for (reason, count) in rejected.by_reason() {
            snapshot.counter(
                "shopfloor_dead_letters",
                "Messages refused and dead-lettered, by reason",
                &[("reason", reason)],
                count,
            );
        }
        snapshot.process_memory();
        snapshot.finish()
    }
}
