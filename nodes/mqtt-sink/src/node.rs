//! The sink's event loop: answers from dora become MQTT publications.

use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::time::{Duration, Instant};

use dora_node_api::{DoraNode, Event, EventStream};
use shopfloor_core::config::MqttConfig;
use shopfloor_core::schema::Answer;
use shopfloor_mqtt::{forward_dora_events, qos, MqttEvent, NodeEvent};

use crate::payload::{answer_json, answer_topic};

/// Input id of the answer stream.
pub const ANSWERS_INPUT: &str = "answers";
/// Node name used in logs.
pub const NODE_NAME: &str = "mqtt-sink";
/// How long to wait at stop for the broker to acknowledge what was sent.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The MQTT connection thread could not start.
    #[error("cannot start the MQTT connection: {0}")]
    Mqtt(#[from] std::io::Error),
}

/// What the sink did, for the final log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SinkCounts {
    /// Answers handed to the MQTT client.
    pub published: u64,
    /// Publications the broker acknowledged (QoS 1/2).
    pub acknowledged: u64,
    /// Inputs that were not valid answer batches.
    pub rejected_inputs: u64,
}

/// Runs until dora says stop, then drains acknowledgements for a bounded time.
pub fn run(config: MqttConfig, node: DoraNode, events: EventStream) -> Result<SinkCounts, SinkError> {
    let (tx, rx) = sync_channel::<NodeEvent>(1024);
    let (client, _connection) = shopfloor_mqtt::connect(&config, Vec::new(), tx.clone())?;
    forward_dora_events(events, tx)?;
    // Keep the node alive (and its outputs open) until the loop ends.
    let _node = node;
    let qos_level = qos(config.qos);
    let mut counts = SinkCounts::default();

    for incoming in rx.iter() {
        match incoming {
            NodeEvent::Dora(Event::Input { id, data, .. }) if id.as_str() == ANSWERS_INPUT => {
                let answers = match Answer::from_arrow(data.as_array().as_ref()) {
                    Ok(answers) => answers,
                    Err(error) => {
                        counts.rejected_inputs += 1;
                        tracing::warn!(%error, rejected = counts.rejected_inputs, "input is not an answer batch");
                        continue;
                    }
                };
                for answer in answers {
                    let topic = answer_topic(&config.topics, &answer);
                    // `publish` blocks only while the client's request queue is
                    // full, which keeps answers in order and none dropped.
                    match client.publish(&topic, qos_level, false, answer_json(&answer)) {
                        Ok(()) => {
                            counts.published += 1;
                            tracing::debug!(id = %answer.id, %topic, "answer published");
                        }
                        Err(error) => tracing::error!(id = %answer.id, %error, "cannot publish answer"),
                    }
                }
            }
            NodeEvent::Mqtt(MqttEvent::Delivered) => counts.acknowledged += 1,
            event if event.is_stop() => break,
            NodeEvent::Mqtt(_) | NodeEvent::Dora(_) | NodeEvent::DoraClosed => {}
        }
    }

    if qos_level != shopfloor_mqtt::rumqttc::QoS::AtMostOnce {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while counts.acknowledged < counts.published {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(NodeEvent::Mqtt(MqttEvent::Delivered)) => counts.acknowledged += 1,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
    }
    let _ = client.try_disconnect();
    Ok(counts)
}
