//! Wires the `limit-alarms` library to dora; see the library docs.

use anyhow::Context;
use limit_alarms::config::LimitAlarmsConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = LimitAlarmsConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    let node_id = node.id().to_string();
    let counts = limit_alarms::node::run(&config, &node_id, node, events)?;
    tracing::info!(alerts = counts.alerts_total(), rejected_inputs = ?counts.rejected_inputs, "limit-alarms stopped");
    Ok(())
}
