//! Wires the `slm` library to dora; see the library docs.

use anyhow::Context;
use shopfloor_core::config::{process_env, SlmConfig};
use shopfloor_core::profile::HardwareProfile;
use slm::answering::AnswerSettings;
use slm::engine::Engine;

fn main() -> anyhow::Result<()> {
    shopfloor_core::logging::init();
    let config = SlmConfig::from_env(&process_env())?;
    let profile = HardwareProfile::load(&config.profile_path)?;
    let mut engine = Engine::load(&config.model_path, &profile)?;
    tracing::info!(model = %engine.model_name, profile = %profile.name, "model loaded");
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let settings = AnswerSettings { max_tokens: config.max_tokens };
    let counts = slm::node::run(&mut engine, settings, node, events)?;
    tracing::info!(answered = counts.answered, rejected_inputs = counts.rejected_inputs, "slm stopped");
    Ok(())
}
