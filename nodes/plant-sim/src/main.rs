//! `plant-sim` binary: wires configuration, dora (or standalone mode) and the
//! OPC UA server together. See the library docs for what it serves.

use std::process::ExitCode;

use anyhow::Context;
use dora_node_api::{DoraNode, Event};
use plant_sim::cli::{parse_args, RunMode};
use plant_sim::server;
use shopfloor_core::config::{process_env, PlantSimConfig};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

fn main() -> ExitCode {
    shopfloor_core::logging::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mode = parse_args(std::env::args().skip(1))?;
    let config = PlantSimConfig::from_env(&process_env())?;
    match mode {
        RunMode::Standalone { run_for } => {
            let runtime = tokio_runtime()?;
            runtime.block_on(server::run(config, async move {
                tokio::select! {
                    () = tokio::time::sleep(run_for) => info!(run_for_s = run_for.as_secs(), "run time over"),
                    result = tokio::signal::ctrl_c() => match result {
                        Ok(()) => info!("Ctrl-C received"),
                        // Without a signal handler only the time limit can stop us, which is still bounded.
                        Err(err) => {
                            warn!(%err, "cannot listen for Ctrl-C; running until the time limit");
                            tokio::time::sleep(run_for).await;
                        }
                    },
                }
            }))?;
        }
        RunMode::Dora => {
            // dora's own runtime must be set up before ours exists, outside any tokio context.
            let (_node, mut events) = DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
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
        }
    }
    Ok(())
}

fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
