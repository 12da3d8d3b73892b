//! Wires the `defect-filter` library to dora; see the library docs.

use anyhow::Context;
use defect_filter::config::DefectFilterConfig;
use defect_filter::setup::{learn, settings_from};
use defect_filter::state::ConfirmSettings;

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
    let confirm = ConfirmSettings { timeout: config.confirm_timeout, stale_after: config.vlm_stale_after };
    let summary = defect_filter::driver::run(model, confirm, &node.node_config().clone(), node, events)?;
    tracing::info!(
        frames = summary.frames,
        flagged = summary.flagged,
        unconfirmed = summary.unconfirmed,
        rejected = ?summary.rejected,
        "defect-filter stopped"
    );
    Ok(())
}
