//! Wires the `camera-source` library to dora; see the library docs.

use anyhow::Context;
use shopfloor_core::config::{process_env, CameraSourceConfig};

fn main() -> anyhow::Result<()> {
    shopfloor_core::logging::init();
    let config = CameraSourceConfig::from_env(&process_env())?;
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let node_id = node.id().to_string();
    let counts = camera_source::node::run(&config, &node_id, node, events)?;
    tracing::info!(frames = counts.frames, skipped = ?counts.skipped, "camera-source stopped");
    Ok(())
}
