//! Wires the `defect-filter` library to dora; see the library docs.

use anyhow::Context;
use defect_filter::config::DefectFilterConfig;
use defect_filter::node::{learn, settings_from};

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = DefectFilterConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    let settings = settings_from(&config)?;
    let model = learn(&config, &settings)?;
    let (width, height) = model.frame_size();
    tracing::info!(
        good_images = model.learned_from(),
        width,
        height,
        threshold = model.threshold(),
        learned_threshold = model.learned_threshold(),
        "good parts learned"
    );
    let node_id = node.id().to_string();
    let confirm =
        defect_filter::node::ConfirmSettings { timeout: config.confirm_timeout, stale_after: config.vlm_stale_after };
    let counts = defect_filter::node::run(&model, &node_id, confirm, node, events)?;
    tracing::info!(
        frames = counts.frames,
        flagged = counts.flagged,
        unconfirmed = counts.unconfirmed,
        rejected = ?counts.rejected,
        "defect-filter stopped"
    );
    Ok(())
}
