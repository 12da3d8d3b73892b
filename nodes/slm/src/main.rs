//! Wires the `slm` library to dora; see the library docs. Operator tools
//! for models (check, quantize, evaluate, tune) are `shopfloor model …`.

use anyhow::Context;
use slm::config::SlmConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = SlmConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    let counts = slm::driver::run(&config, node, events)?;
    tracing::info!(
        answered = counts.answered,
        busy = counts.busy,
        rejected_inputs = counts.rejected_inputs,
        "slm stopped"
    );
    Ok(())
}
