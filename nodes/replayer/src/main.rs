//! Wires the `replayer` library to dora; see the library docs.

use anyhow::Context;
use replayer::config::ReplayerConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = ReplayerConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    let counts = replayer::driver::run(&config, &node.node_config().clone(), node, events)?;
    tracing::info!(messages = counts.messages, passes = counts.passes, "replayer stopped");
    Ok(())
}
