//! Wires the `mqtt-sink` library to dora; see the library docs.

use anyhow::Context;
use mqtt_sink::config::{AlertDeliveryConfig, OutboxConfig};
use mqtt_sink::driver::{Reports, ACCEPTED_OUTPUT, ALERTS_ACCEPTED_OUTPUT, NODE_NAME, REFUSALS_ACCEPTED_OUTPUT};
use shopfloor_mqtt::config::MqttConfig;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    // A file-size limit (a quota, `ulimit -f`) makes a write to the outbox
    // journal fail, which the outbox survives by going on in memory, instead
    // of killing the node with SIGXFSZ.
    // SAFETY: `SigIgn` installs no handler code; nothing runs on the signal.
    unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGXFSZ, nix::sys::signal::SigHandler::SigIgn) }
        .context("cannot ignore SIGXFSZ")?;
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let env = shopfloor_node::settings::node_env(&node);
    let config = MqttConfig::from_env(NODE_NAME, &env)?;
    let outbox = OutboxConfig::from_env(NODE_NAME, &env)?;
    let alerts = AlertDeliveryConfig::from_env(NODE_NAME, &env)?;
    // Senders hold what they sent until told it is journaled, where the dataflow wires that back.
    let wired = |name: &str| node.node_config().outputs.iter().any(|output| output.as_str() == name);
    let reports = Reports {
        answers: wired(ACCEPTED_OUTPUT),
        alerts: wired(ALERTS_ACCEPTED_OUTPUT),
        refusals: wired(REFUSALS_ACCEPTED_OUTPUT),
    };
    let counts = mqtt_sink::driver::run(&config, &outbox, alerts, reports, node, events)?;
    if counts.left_waiting > 0 {
        tracing::warn!(?counts, "stopped with messages waiting in the outbox; they are sent on the next start");
    } else {
        tracing::info!(?counts, "mqtt-sink stopped");
    }
    Ok(())
}
