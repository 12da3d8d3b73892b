//! Wires the `mqtt-source` library to dora; see the library docs.

use anyhow::Context;
use mqtt_source::config::{HandoverConfig, TelemetryConfig};
use mqtt_source::state::{ACCEPTED_INPUT, NODE_NAME, REFUSALS_ACCEPTED_INPUT};
use shopfloor_mqtt::config::MqttConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let env = shopfloor_node::settings::node_env(&node);
    let config = MqttConfig::from_env(NODE_NAME, &env)?;
    let telemetry = TelemetryConfig::from_env(&env, config.topics.root())?;
    let handover = HandoverConfig::from_env(&env)?;
    // Questions (refusals) are held until accepted only where the router's
    // (mqtt-sink's) acceptances come back.
    let wired = |name: &str| node.node_config().inputs.keys().any(|input| input.as_str() == name);
    let (questions_held, refusals_held) = (wired(ACCEPTED_INPUT), wired(REFUSALS_ACCEPTED_INPUT));
    let counts =
        mqtt_source::driver::run(config, telemetry, questions_held.then_some(handover), refusals_held, node, events)?;
    tracing::info!(rejected = counts.rejected.total(), "mqtt-source stopped");
    Ok(())
}
