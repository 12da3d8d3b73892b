//! Wires the `recorder` library to dora; see the library docs.

use anyhow::Context;
use recorder::config::RecorderConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = RecorderConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    let counts = recorder::driver::run(&config, &node.node_config().clone(), node, events)?;
    if !counts.unmapped.is_empty() {
        tracing::warn!(unmapped = ?counts.unmapped, "some inputs were not recorded");
    }
    Ok(())
}
