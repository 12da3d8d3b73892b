//! Wires the `limit-alarms` library to dora; see the library docs.

use anyhow::Context;
use limit_alarms::config::LimitAlarmsConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = LimitAlarmsConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    let counts = limit_alarms::driver::run(&config, node, events)?;
    tracing::info!(alerts = counts.alerts_total(), "limit-alarms stopped");
    Ok(())
}
