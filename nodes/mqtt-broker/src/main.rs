//! Wires the embedded broker to dora; see the library docs.

use anyhow::Context;
use dora_node_api::{DoraNode, Event};
use mqtt_broker::config::EmbeddedBrokerConfig;
use shopfloor_mqtt::config::{BrokerTarget, MqttConfig};

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, mut events) = DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let env = shopfloor_node::settings::node_env(&node);
    let config = MqttConfig::from_env("mqtt-broker", &env)?;
    let broker = EmbeddedBrokerConfig::from_env("mqtt-broker", &env)?;
    match config.broker {
        BrokerTarget::Embedded { listen } => {
            mqtt_broker::start(listen, config.max_payload_bytes, &broker)?;
            let accounts = broker.users.as_ref().map_or(0, |users| users.len());
            tracing::info!(%listen, tls = broker.tls.is_some(), accounts, "embedded MQTT broker listening (MQTT 3.1.1 and 5)");
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
