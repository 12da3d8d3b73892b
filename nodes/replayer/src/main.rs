//! Wires the `replayer` library to dora; see the library docs.

use anyhow::Context;
use shopfloor_core::config::{process_env, ReplayerConfig};

fn main() -> anyhow::Result<()> {
    shopfloor_core::logging::init();
    let config = ReplayerConfig::from_env(&process_env())?;
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let counts = replayer::node::run(&config, node, events)?;
    tracing::info!(messages = counts.messages, passes = counts.passes, "replayer stopped");
    Ok(())
}
