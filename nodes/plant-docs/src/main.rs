//! Wires the `plant-docs` library to dora; see the library docs.

use anyhow::Context;
use plant_docs::config::PlantDocsConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = PlantDocsConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    let counts = plant_docs::driver::run(&config, node, events)?;
    tracing::info!(answered = counts.found + counts.not_found, "plant-docs stopped");
    Ok(())
}
