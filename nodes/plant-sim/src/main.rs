//! `plant-sim` binary: wires configuration, dora and the OPC UA server
//! together. See the library docs for what it serves; `shopfloor sim` runs
//! the same server without dora.

use std::process::ExitCode;

use anyhow::Context;
use dora_node_api::{DoraNode, Event};
use plant_sim::config::PlantSimConfig;
use plant_sim::server;
use tokio::sync::oneshot;
use tracing::{error, info, warn};

fn main() -> ExitCode {
    shopfloor_node::logging::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    // dora's own runtime must be set up before ours exists, outside any tokio context.
    let (node, mut events) = DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = PlantSimConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("dora-events".to_owned())
        .spawn(move || {
            while let Some(event) = events.recv() {
                match event {
                    Event::Stop(cause) => {
                        info!(?cause, "dora asked the node to stop");
                        break;
                    }
                    Event::Error(message) => warn!(%message, "dora reported an error"),
                    _ => {}
                }
            }
            // Also reached when the event stream ends without a Stop.
            let _ = stop_tx.send(());
        })
        .context("cannot start the dora event thread")?;
    let runtime = tokio_runtime()?;
    runtime.block_on(server::run(config, async move {
        let _ = stop_rx.await;
    }))?;
    Ok(())
}

fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}
