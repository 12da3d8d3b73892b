//! The node on dora: the OPC UA server runs on its own thread (with its own
//! async runtime), dora's events arrive on another, and one loop over a
//! bounded channel waits on both. dora's `Stop` (or the end of its event
//! stream) stops the server; a server that ends on its own ends the node.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use dora_node_api::{DoraNode, EventStream};
use plant_sim::config::PlantSimConfig;
use plant_sim::server::{self, ServerError, ServerOptions};
use shopfloor_node::driver::{forward_dora_events, DoraSide, SendError};
use shopfloor_node::{Driver, Flow};
use tokio::sync::oneshot;

use crate::state::PlantSimNode;

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum PlantSimError {
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot start a thread")]
    Thread(#[source] std::io::Error),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("the OPC UA server thread panicked")]
    ServerPanicked,
    #[error(transparent)]
    Send(#[from] SendError),
}

/// What the loop waits on.
#[derive(Debug)]
enum Wake {
    Dora(DoraSide),
    /// The server thread is done; its result is in its join handle.
    ServerEnded,
}

impl From<DoraSide> for Wake {
    fn from(side: DoraSide) -> Self {
        Wake::Dora(side)
    }
}

struct EndedGuard(SyncSender<Wake>);

impl Drop for EndedGuard {
    fn drop(&mut self) {
        let _ = self.0.send(Wake::ServerEnded);
    }
}

/// Serves the plant until dora says stop.
pub fn run(config: PlantSimConfig, node: DoraNode, events: EventStream) -> Result<(), PlantSimError> {
    // dora's own runtime exists already (the node is initialised); ours is separate.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(PlantSimError::Runtime)?;
    // Bound here so that a port in use fails the node before it reports serving.
    let listener = runtime.block_on(server::bind(&config))?;
    let mut driver = Driver::new(node);
    let mut state = PlantSimNode::new(config.endpoint_url());

    let (tx, rx) = sync_channel::<Wake>(16);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server_tx = tx.clone();
    let server = std::thread::Builder::new()
        .name("opcua-server".into())
        .spawn(move || {
            // Says "ended" on return and on a panic alike.
            let _ended = EndedGuard(server_tx);
            let shutdown = async move {
                let _ = stop_rx.await;
            };
            runtime.block_on(server::serve(listener, config, ServerOptions::default(), shutdown))
        })
        .map_err(PlantSimError::Thread)?;
    state.set_serving(true);
    forward_dora_events(events, tx).map_err(PlantSimError::Thread)?;

    let ended_on_its_own = wait(&mut driver, &mut state, &rx)?;
    if !ended_on_its_own {
        tracing::info!("stopping the OPC UA server");
        let _ = stop_tx.send(());
    }
    // The server bounds its own shutdown (clients get a few seconds to leave).
    let result = join(server);
    state.set_serving(false);
    result
}

/// Runs until dora says stop (`false`) or the server ends (`true`).
fn wait(driver: &mut Driver, state: &mut PlantSimNode, rx: &Receiver<Wake>) -> Result<bool, SendError> {
    while let Ok(wake) = rx.recv() {
        match wake {
            Wake::ServerEnded => return Ok(true),
            Wake::Dora(DoraSide::Closed) => return Ok(false),
            Wake::Dora(DoraSide::Event(event)) => {
                if driver.step(event, state)? == Flow::Stop {
                    return Ok(false);
                }
            }
        }
    }
    Ok(false)
}

fn join(server: JoinHandle<Result<(), ServerError>>) -> Result<(), PlantSimError> {
    server.join().map_err(|_| PlantSimError::ServerPanicked)?.map_err(PlantSimError::from)
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    use shopfloor_core::schema::MetricSample;
    use shopfloor_node::testing::TestRun;

    use super::*;

    /// Outside the ports dora's own listeners take (see `test_ports`).
    fn free_port() -> u16 {
        shopfloor_node::test_ports::reserve()
    }

    /// Under dora: the server listens while the node runs, the metrics tick
    /// says it serves, and dora's Stop ends the node cleanly with the port
    /// released.
    #[test]
    fn serves_until_dora_says_stop() {
        let port = free_port();
        let pki = tempfile_dir();
        let config = PlantSimConfig { port, tick_ms: 50, pki_dir: Some(pki.clone()), ..PlantSimConfig::default() };
        let probe = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        });
        let (result, outputs) = TestRun::new("plant-sim")
            .declare_output("metrics")
            .tick(0.5, "metrics_tick")
            .stop(1.0)
            .run(|node, events| run(config, node, events))
            .unwrap();
        result.unwrap();
        assert!(probe.join().unwrap(), "the server listened on {port}");
        let snapshot = MetricSample::from_arrow(outputs.single("metrics").unwrap().data.as_ref()).unwrap();
        let serving = snapshot.iter().find(|s| s.name == "shopfloor_sim_serving").expect("the gauge");
        assert_eq!(serving.value, 1.0);
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(), "the port is free again");
        let _ = std::fs::remove_dir_all(pki);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("plant-sim-node-test-{}", std::process::id()))
    }
}
