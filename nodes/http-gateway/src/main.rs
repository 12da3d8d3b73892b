//! Wires the `http-gateway` library to dora; see the library docs.

use anyhow::Context;
use http_gateway::config::GatewayConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = GatewayConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    http_gateway::driver::run(config, node, events)?;
    tracing::info!("http-gateway stopped");
    Ok(())
}
