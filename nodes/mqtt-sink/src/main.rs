//! Wires the `mqtt-sink` library to dora; see the library docs.

use anyhow::Context;
use mqtt_sink::config::{AlertDeliveryConfig, OutboxConfig};
use mqtt_sink::driver::NODE_NAME;
use shopfloor_mqtt::config::MqttConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let env = shopfloor_node::settings::node_env(&node);
    let config = MqttConfig::from_env(NODE_NAME, &env)?;
    let outbox = OutboxConfig::from_env(NODE_NAME, &env)?;
    let alerts = AlertDeliveryConfig::from_env(NODE_NAME, &env)?;
    let counts = mqtt_sink::driver::run(&config, &outbox, alerts, node, events)?;
    if counts.left_waiting > 0 {
        tracing::warn!(?counts, "stopped with messages waiting in the outbox; they are sent on the next start");
    } else {
        tracing::info!(?counts, "mqtt-sink stopped");
    }
    Ok(())
}
