//! Wires the `recorder` library to dora; see the library docs.

use anyhow::Context;
use recorder::config::RecorderConfig;
use recording::DrecWriter;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (mut node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = RecorderConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    let topics = recorder::topics::resolve(&config.topics, &node.node_config().inputs);
    if let Some(folder) = config.file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
    }
    // The dataflow goes into the header, as `dora record` does, so that
    // `dora replay` can rebuild the graph from the file alone.
    let descriptor_yaml = if config.descriptor_yaml.is_empty() {
        node.dataflow_descriptor().ok().and_then(|d| serde_norway::to_string(d).ok()).unwrap_or_default()
    } else {
        config.descriptor_yaml.clone()
    };
    let writer = DrecWriter::create(&config.file, &descriptor_yaml)?;
    tracing::info!(file = %config.file.display(), topics = ?topics, "recording");
    let reports = node.node_config().outputs.iter().any(|output| output.as_str() == recorder::node::RECORDED_OUTPUT);
    let counts = recorder::node::run(&topics, writer, events, reports.then_some(&mut node))?;
    // dora's node handle must live until the stream has ended.
    drop(node);
    if !counts.unmapped.is_empty() {
        tracing::warn!(unmapped = ?counts.unmapped, "some inputs were not recorded");
    }
    Ok(())
}
