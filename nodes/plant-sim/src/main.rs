//! Wires the `plant-sim` library to dora; see the library docs.

use anyhow::Context;
use plant_sim::config::PlantSimConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    // dora's own runtime must be set up before ours exists, outside any tokio context.
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = PlantSimConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    plant_sim_node::driver::run(config, node, events)?;
    tracing::info!("plant-sim stopped");
    Ok(())
}
