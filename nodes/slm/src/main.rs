//! Wires the `slm` library to dora; see the library docs. Operator tools
//! for models (check, quantize, evaluate, tune) are `shopfloor model …`.

use anyhow::Context;
use slm::answering::AnswerSettings;
use slm::config::SlmConfig;
use slm::engine::profile::HardwareProfile;
use slm::engine::Engine;
use slm::node::NodeSettings;
use slm::plant_state::StateSettings;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = SlmConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    let profile = HardwareProfile::load(&config.profile_path)?;
    // A damaged file is named as such before the gate hashes it.
    slm::engine::model_file::check(&config.model_path)?;
    let gate = slm::gate::check(&config.model_path, &profile, &config.profile_path, config.allow_unevaluated)?;
    tracing::info!(?gate, "evaluation gate");
    let mut engine = Engine::load(&config.model_path, &profile)?;
    tracing::info!(model = %engine.model_name, profile = %profile.name, "model loaded");
    let settings = NodeSettings {
        answer: AnswerSettings {
            max_tokens: config.max_tokens,
            max_question_chars: config.max_question_chars,
            confidence_threshold: config.confidence_threshold,
            tools: config.tools,
            fact_sheet_max_tags: config.fact_sheet_max_tags,
            json_max_tokens: config.json_max_tokens,
        },
        queue_capacity: config.queue_capacity,
        state: StateSettings {
            history_ms: (config.history_secs * 1000) as i64,
            stale_after_ms: (config.stale_after_secs * 1000) as i64,
        },
    };
    let power = slm::power::PowerSwitch::new(&profile, &config.profile_path, config.allow_unevaluated);
    let counts = slm::node::run(&mut engine, settings, power, node, events)?;
    tracing::info!(
        answered = counts.answered,
        busy = counts.busy,
        rejected_inputs = counts.rejected_inputs,
        "slm stopped"
    );
    Ok(())
}
