//! Wires the `opcua-source` library to dora; see the library docs.

use anyhow::Context;
use opcua_source::config::OpcuaSourceConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    // dora's own runtime must be set up before ours exists, outside any tokio context.
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = OpcuaSourceConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    let counts = opcua_source::driver::run(config, node, events)?;
    tracing::info!(readings = counts.readings_out, batches = counts.batches, "opcua-source stopped");
    Ok(())
}
