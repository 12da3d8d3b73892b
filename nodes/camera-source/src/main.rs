//! Wires the `camera-source` library to dora; see the library docs.

use anyhow::Context;
use camera_source::config::CameraSourceConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = CameraSourceConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    let counts = camera_source::driver::run(&config, node, events)?;
    tracing::info!(frames = counts.frames(), ?counts, "camera-source stopped");
    Ok(())
}
