//! Wires the `mqtt-source` library to dora; see the library docs.

use anyhow::Context;
use mqtt_source::config::TelemetryConfig;
use shopfloor_mqtt::config::MqttConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let env = shopfloor_node::settings::node_env(&node);
    let config = MqttConfig::from_env(mqtt_source::node::NODE_NAME, &env)?;
    let telemetry = TelemetryConfig::from_env(&env, config.topics.root())?;
    let rejected = mqtt_source::node::run(config, telemetry, node, events)?;
    tracing::info!(rejected = rejected.total(), "mqtt-source stopped");
    Ok(())
}
