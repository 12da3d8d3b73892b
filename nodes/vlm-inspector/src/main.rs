//! Wires the `vlm-inspector` library to dora; see the library docs.

use anyhow::Context;
use slm_engine::profile::HardwareProfile;
use vlm_inspector::config::VlmInspectorConfig;
use vlm_inspector::judge::{Judge, VlmJudge};

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = VlmInspectorConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    let mut profile = HardwareProfile::load(&config.profile_path)?;
    if let Some(threads) = config.threads {
        profile = profile.with_threads(threads);
    }
    // Model files: the dataflow's env first, then the profile's [vision] table.
    let pair = match (&config.model_path, &config.mmproj_path, &profile.vision) {
        (Some(model), Some(mmproj), _) => Some((model.clone(), mmproj.clone())),
        (_, _, Some(vision)) => Some((profile.resolve(&vision.model), profile.resolve(&vision.mmproj))),
        _ => None,
    };
    let judge: Option<Box<dyn Judge>> = match pair {
        Some((model, mmproj)) => {
            let judge = VlmJudge::load(&model, &mmproj, &profile, config.max_tokens)
                .with_context(|| format!("cannot start the vision-language model {}", model.display()))?;
            tracing::info!(model = judge.model_name(), mmproj = %mmproj.display(), "vision-language model loaded");
            Some(Box::new(judge))
        }
        None => {
            tracing::warn!("no vision-language model configured (VLM_MODEL_PATH or the profile's [vision]): alerts carry the filter's findings alone");
            None
        }
    };
    let summary = vlm_inspector::driver::run(&config, judge, node, events)?;
    tracing::info!(flagged = summary.flagged, busy = summary.busy, "vlm-inspector stopped");
    Ok(())
}
