//! Wires the `router` library to dora; see the library docs.
//! `shopfloor router calibrate` is its operator tool (docs/routing.md).

use anyhow::Context;
use router::config::RouterConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = RouterConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    let tiers: Vec<&str> = config.tiers.iter().map(|t| t.name.as_str()).collect();
    tracing::info!(?tiers, off_site = config.http.is_some(), "router started");
    let totals = router::driver::run(&config, &node.node_config().clone(), node, events)?;
    tracing::info!(answered = totals.answered, rejected_inputs = totals.rejected_inputs, "router stopped");
    Ok(())
}
