//! Wires the embedded broker to dora; see the library docs.

use anyhow::Context;
use dora_node_api::{DoraNode, Event};
use shopfloor_core::config::{process_env, BrokerTarget, MqttConfig};

fn main() -> anyhow::Result<()> {
    shopfloor_core::logging::init();
    let config = MqttConfig::from_env("mqtt-broker", &process_env())?;
    let (_node, mut events) = DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    match config.broker {
        BrokerTarget::Embedded { listen } => {
            mqtt_broker::start(listen, config.max_payload_bytes)?;
            tracing::info!(%listen, "embedded MQTT broker listening");
        }
        BrokerTarget::External { host, port } => {
            tracing::info!(%host, port, "plant broker configured; embedded broker not started");
        }
    }
    while let Some(event) = events.recv() {
        if let Event::Stop(_) = event {
            break;
        }
    }
    Ok(())
}
