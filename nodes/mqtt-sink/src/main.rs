//! Wires the `mqtt-sink` library to dora; see the library docs.

use anyhow::Context;
use shopfloor_core::config::{process_env, AlertDeliveryConfig, MqttConfig, OutboxConfig};

fn main() -> anyhow::Result<()> {
    shopfloor_core::logging::init();
    let env = process_env();
    let config = MqttConfig::from_env(mqtt_sink::node::NODE_NAME, &env)?;
    let outbox = OutboxConfig::from_env(mqtt_sink::node::NODE_NAME, &env)?;
    let alerts = AlertDeliveryConfig::from_env(mqtt_sink::node::NODE_NAME, &env)?;
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let counts = mqtt_sink::node::run(config, outbox, alerts, node, events)?;
    if counts.left_waiting > 0 {
        tracing::warn!(?counts, "stopped with messages waiting in the outbox; they are sent on the next start");
    } else {
        tracing::info!(?counts, "mqtt-sink stopped");
    }
    Ok(())
}
