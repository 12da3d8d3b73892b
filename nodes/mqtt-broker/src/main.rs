//! Wires the embedded broker to dora; see the library docs.

use anyhow::Context;
use dora_node_api::DoraNode;
use mqtt_broker::config::EmbeddedBrokerConfig;
use shopfloor_mqtt::config::MqttConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let env = shopfloor_node::settings::node_env(&node);
    let config = MqttConfig::from_env("mqtt-broker", &env)?;
    let broker = EmbeddedBrokerConfig::from_env("mqtt-broker", &env)?;
    mqtt_broker::driver::run(&config, &broker, node, events)?;
    Ok(())
}
