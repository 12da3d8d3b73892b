//! One channel for everything an MQTT node reacts to: MQTT traffic and dora
//! events. The node blocks on it, so a message is handled the moment it
//! arrives, with no polling interval.

use std::sync::mpsc::SyncSender;

use dora_node_api::{Event, EventStream};

use crate::MqttEvent;

/// What an MQTT node's loop receives.
#[derive(Debug)]
pub enum NodeEvent {
    /// From the MQTT connection thread.
    Mqtt(MqttEvent),
    /// From dora.
    Dora(Event),
    /// dora's event stream ended.
    DoraClosed,
}

impl From<MqttEvent> for NodeEvent {
    fn from(event: MqttEvent) -> Self {
        NodeEvent::Mqtt(event)
    }
}

impl NodeEvent {
    /// Whether the node must stop.
    pub fn is_stop(&self) -> bool {
        matches!(self, NodeEvent::Dora(Event::Stop(_)) | NodeEvent::DoraClosed)
    }
}

/// Moves dora's blocking event stream onto a thread that feeds `tx`.
pub fn forward_dora_events(mut events: EventStream, tx: SyncSender<NodeEvent>) -> std::io::Result<()> {
    std::thread::Builder::new().name("dora-events".into()).spawn(move || {
        while let Some(event) = events.recv() {
            if tx.send(NodeEvent::Dora(event)).is_err() {
                return;
            }
        }
        let _ = tx.send(NodeEvent::DoraClosed);
    })?;
    Ok(())
}
