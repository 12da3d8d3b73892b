//! Wires the `mqtt-sink` library to dora; see the library docs.

use anyhow::Context;
use shopfloor_core::config::{process_env, MqttConfig};

fn main() -> anyhow::Result<()> {
    shopfloor_core::logging::init();
    let config = MqttConfig::from_env(mqtt_sink::node::NODE_NAME, &process_env())?;
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let counts = mqtt_sink::node::run(config, node, events)?;
    if counts.acknowledged < counts.published {
        tracing::warn!(?counts, "stopped before the broker acknowledged every answer");
    } else {
        tracing::info!(?counts, "mqtt-sink stopped");
    }
    Ok(())
}
