//! Raw MQTT at the source: capture the messages of chosen topics from a
//! broker into a recording, and publish a recording's messages back to a
//! broker with their original timing. A recording can so be made at a plant
//! with only a broker address, no dataflow.
//!
//! Captured messages are recorded as node [`CAPTURE_NODE`], output
//! [`CAPTURE_OUTPUT`]: the payload as a one-value Binary array, the topic
//! (and MQTT 5 response topic / correlation data when present) as metadata
//! parameters `mqtt_topic`, `mqtt_response_topic`, `mqtt_correlation_hex`.

use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dora_node_api::arrow_v59::array::{Array, BinaryArray};
use dora_node_api::uhlc::HLC;
use dora_node_api::{MetadataParameters, Parameter};
use shopfloor_mqtt::config::MqttConfig;
use shopfloor_mqtt::{connect, publish, qos, MqttEvent};

use crate::drec::{unix_nanos_now, DrecError, DrecWriter};
use crate::message::RecordedMessage;

/// Node id of captured MQTT messages.
pub const CAPTURE_NODE: &str = "mqtt-capture";
/// Output id of captured MQTT messages.
pub const CAPTURE_OUTPUT: &str = "messages";
const TOPIC: &str = "mqtt_topic";
const RESPONSE_TOPIC: &str = "mqtt_response_topic";
const CORRELATION: &str = "mqtt_correlation_hex";

/// Why a capture or publication failed.
#[derive(Debug, thiserror::Error)]
pub enum MqttRecordingError {
    /// The client could not start.
    #[error("cannot start the MQTT client")]
    Client(#[source] std::io::Error),
    /// Writing the recording failed.
    #[error(transparent)]
    Recording(#[from] DrecError),
    /// The broker did not take every message in time.
    #[error("the broker acknowledged {acknowledged} of {sent} messages within {waited_s} s")]
    Unacknowledged {
        sent: u64,
        /// Acknowledged by the broker.
        acknowledged: u64,
        waited_s: u64,
    },
}

/// A captured message as a recorded one.
pub fn to_recorded(
    offset_ns: u64,
    hlc: &HLC,
    topic: &str,
    payload: &[u8],
    response_topic: Option<&str>,
    correlation: Option<&[u8]>,
) -> RecordedMessage {
    let mut parameters = MetadataParameters::default();
    parameters.insert(TOPIC.into(), Parameter::String(topic.into()));
    if let Some(response_topic) = response_topic {
        parameters.insert(RESPONSE_TOPIC.into(), Parameter::String(response_topic.into()));
    }
    if let Some(data) = correlation {
        parameters.insert(CORRELATION.into(), Parameter::String(data.iter().map(|b| format!("{b:02x}")).collect()));
    }
    RecordedMessage {
        node_id: CAPTURE_NODE.into(),
        output_id: CAPTURE_OUTPUT.into(),
        offset_ns,
        timestamp: hlc.new_timestamp(),
        parameters,
        data: Some(Arc::new(BinaryArray::from_vec(vec![payload]))),
    }
}

/// A captured MQTT message read back: topic, payload, correlation data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedMqtt {
    /// Topic it was published on.
    pub topic: String,
    pub payload: Vec<u8>,
    /// MQTT 5 correlation data, if it had some.
    pub correlation: Option<Vec<u8>>,
}

/// The MQTT message a recorded one holds; `None` for messages of other
/// nodes or without a topic.
pub fn from_recorded(message: &RecordedMessage) -> Option<CapturedMqtt> {
    if message.node_id != CAPTURE_NODE || message.output_id != CAPTURE_OUTPUT {
        return None;
    }
    let Some(Parameter::String(topic)) = message.parameters.get(TOPIC) else { return None };
    let payloads = message.data.as_ref()?.as_any().downcast_ref::<BinaryArray>()?;
    if payloads.len() != 1 || payloads.is_null(0) {
        return None;
    }
    let correlation = match message.parameters.get(CORRELATION) {
        Some(Parameter::String(hex)) => {
            Some((0..hex.len() / 2).filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()).collect())
        }
        _ => None,
    };
    Some(CapturedMqtt { topic: topic.clone(), payload: payloads.value(0).to_vec(), correlation })
}

/// Records every message on `topics` (MQTT filters, `+`/`#` allowed) for
/// `duration` or until `max_messages`, into `writer`. Returns the count.
pub fn capture(
    config: &MqttConfig,
    topics: &[String],
    duration: Duration,
    max_messages: Option<u64>,
    writer: &mut DrecWriter,
) -> Result<u64, MqttRecordingError> {
    let (tx, rx) = sync_channel::<MqttEvent>(4096);
    let (client, _thread) = connect(config, topics.to_vec(), tx).map_err(MqttRecordingError::Client)?;
    let hlc = HLC::default();
    let deadline = Instant::now() + duration;
    let mut captured = 0u64;
    while max_messages.is_none_or(|max| captured < max) {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else { break };
        match rx.recv_timeout(left) {
            Ok(MqttEvent::Message { topic, payload, response_topic, correlation_data, .. }) => {
                let offset = unix_nanos_now().saturating_sub(writer.start_nanos());
                let message =
                    to_recorded(offset, &hlc, &topic, &payload, response_topic.as_deref(), correlation_data.as_deref());
                writer.write(&message)?;
                captured += 1;
            }
            Ok(MqttEvent::Connected) => tracing::info!(?topics, "capturing"),
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = client.disconnect();
    Ok(captured)
}

/// Publishes the captured MQTT messages of `messages` to the broker of
/// `config` at QoS `config.qos`, at their recorded offsets divided by
/// `speed` (0: as fast as the broker acknowledges), and waits until the
/// broker has acknowledged each (QoS 1/2). Returns the count published.
pub fn publish_recorded(
    config: &MqttConfig,
    messages: &[RecordedMessage],
    speed: f64,
    ack_timeout: Duration,
) -> Result<u64, MqttRecordingError> {
    let (tx, rx) = sync_channel::<MqttEvent>(65_536);
    let (client, _thread) = connect(config, Vec::new(), tx).map_err(MqttRecordingError::Client)?;
    let level = qos(config.qos);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut acknowledged = 0u64;
    let drain = |block_for: Duration, acknowledged: &mut u64| {
        if let Ok(MqttEvent::Delivered) = rx.recv_timeout(block_for) {
            *acknowledged += 1;
        }
    };
    for message in messages {
        let Some(captured) = from_recorded(message) else { continue };
        if speed > 0.0 {
            let due = start + Duration::from_secs_f64(message.offset_ns as f64 / 1e9 / speed);
            while let Some(left) = due.checked_duration_since(Instant::now()) {
                drain(left.min(Duration::from_millis(50)), &mut acknowledged);
            }
        }
        // rumqttc's request queue is bounded: when it is full, let the
        // connection thread work and try again.
        while publish(&client, &captured.topic, level, false, captured.payload.clone(), captured.correlation.as_deref())
            .is_err()
        {
            drain(Duration::from_millis(5), &mut acknowledged);
        }
        sent += 1;
    }
    let waited = Instant::now();
    if config.qos > 0 {
        while acknowledged < sent && waited.elapsed() < ack_timeout {
            drain(Duration::from_millis(50), &mut acknowledged);
        }
    }
    let _ = client.disconnect();
    if config.qos > 0 && acknowledged < sent {
        return Err(MqttRecordingError::Unacknowledged { sent, acknowledged, waited_s: ack_timeout.as_secs() });
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_messages_read_back_with_topic_and_correlation() {
        let hlc = HLC::default();
        let recorded = to_recorded(5, &hlc, "plant1/a/q/op", b"{\"id\":1}", Some("r/t"), Some(&[0x0a, 0xff]));
        let back = from_recorded(&recorded).unwrap();
        assert_eq!(back.topic, "plant1/a/q/op");
        assert_eq!(back.payload, b"{\"id\":1}");
        assert_eq!(back.correlation, Some(vec![0x0a, 0xff]));
        let mut other = recorded.clone();
        other.node_id = "opcua-source".into();
        assert!(from_recorded(&other).is_none());
    }
}
