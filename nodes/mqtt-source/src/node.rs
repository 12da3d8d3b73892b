//! The node's event loop: MQTT messages and dora events arrive on one channel,
//! so a question is forwarded the moment it arrives (no polling interval).

use std::sync::mpsc::sync_channel;

use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, EventStream, MetadataParameters};
use shopfloor_core::clock::now_ms;
use shopfloor_core::config::MqttConfig;
use shopfloor_core::schema::Question;
use shopfloor_mqtt::{forward_dora_events, rumqttc, MqttEvent, NodeEvent};

use crate::question::parse_question;
use crate::rejection::{deadletter_payload, RejectionCounts};

/// Output id of the question stream.
pub const QUESTIONS_OUTPUT: &str = "questions";
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
pub fn run(config: MqttConfig, mut node: DoraNode, events: EventStream) -> Result<RejectionCounts, SourceError> {
    let (tx, rx) = sync_channel::<NodeEvent>(1024);
    let (client, _connection) = shopfloor_mqtt::connect(&config, vec![config.topics.query_filter()], tx.clone())?;
    forward_dora_events(events, tx)?;
    let deadletter_topic = config.topics.deadletter_topic(NODE_NAME);
    let output = DataId::from(QUESTIONS_OUTPUT.to_owned());
    let mut rejected = RejectionCounts::default();

    for incoming in rx.iter() {
        match incoming {
            NodeEvent::Mqtt(MqttEvent::Message { topic, payload }) => {
                let now = now_ms();
                match parse_question(&config.topics, &topic, &payload, config.max_payload_bytes, now) {
                    Ok(question) => {
                        tracing::debug!(id = %question.id, operator = %question.operator, "question received");
                        node.send_output(output.clone(), MetadataParameters::default(), Question::to_arrow(&[question]))?;
                    }
                    Err(rejection) => {
                        let count = rejected.count(&rejection);
                        tracing::warn!(%topic, reason = rejection.reason(), detail = %rejection.detail(), count, "payload rejected");
                        let letter = deadletter_payload(NODE_NAME, &topic, &payload, &rejection, count, now);
                        if let Err(error) = client.try_publish(&deadletter_topic, rumqttc::QoS::AtLeastOnce, false, letter) {
                            tracing::warn!(%error, "cannot queue dead letter");
                        }
                    }
                }
            }
            event if event.is_stop() => break,
            NodeEvent::Mqtt(_) | NodeEvent::Dora(_) | NodeEvent::DoraClosed => {}
        }
    }
    // Dropping the client ends the connection thread after queued publishes.
    let _ = client.try_disconnect();
    Ok(rejected)
}
