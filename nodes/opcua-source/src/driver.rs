//! The node on dora: the OPC UA client runs on an async runtime and hands
//! readings and link changes over through channels; this loop wakes on every
//! dora event or every publishing interval, gives the state what arrived,
//! and sends what it decides through [`Driver`].

use std::time::Duration;

use dora_node_api::{DoraNode, Event, EventStream};
use shopfloor_core::schema::Reading;
use shopfloor_node::clock::now_ms;
use shopfloor_node::driver::SendError;
use shopfloor_node::{Driver, Flow};
use tokio::sync::{mpsc, oneshot, watch};

use crate::client::{self, ClientOptions, LinkStatus, SourceError};
use crate::config::OpcuaSourceConfig;
use crate::state::{Counts, OpcuaSourceNode};
use crate::tags::{parse_tags, InvalidNodeId};

/// Readings buffered between the OPC UA callback and the dora loop, at least;
/// a large tag list gets room for a few publishes of every tag.
const MIN_READINGS_CHANNEL_CAPACITY: usize = 4096;
const PUBLISHES_BUFFERED: usize = 4;
/// How long the client gets to close its session after dora says stop.
const CLIENT_STOP_GRACE: Duration = Duration::from_secs(5);

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum OpcuaSourceError {
    /// Checked before connecting: such a node id can never work.
    #[error(transparent)]
    InvalidNodeId(#[from] InvalidNodeId),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Client(#[from] SourceError),
    /// The client only returns early on a problem no retry can fix.
    #[error("the OPC UA client stopped unexpectedly")]
    ClientStopped,
    #[error("the OPC UA client panicked")]
    ClientPanicked(#[source] tokio::task::JoinError),
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Streams readings until dora says stop; returns what the node counted.
pub fn run(config: OpcuaSourceConfig, node: DoraNode, events: EventStream) -> Result<Counts, OpcuaSourceError> {
    run_with_options(config, ClientOptions::default(), node, events)
}

pub fn run_with_options(
    config: OpcuaSourceConfig,
    options: ClientOptions,
    node: DoraNode,
    mut events: EventStream,
) -> Result<Counts, OpcuaSourceError> {
    parse_tags(&config.tags)?;
    // dora's own runtime exists already (the node is initialised); ours is separate.
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(OpcuaSourceError::Runtime)?;
    let channel_capacity = MIN_READINGS_CHANNEL_CAPACITY.max(config.tags.len() * PUBLISHES_BUFFERED);
    let (readings_tx, mut readings_rx) = mpsc::channel::<Reading>(channel_capacity);
    let (status_tx, mut status_rx) = watch::channel(LinkStatus::default());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let wake_every = Duration::from_millis(config.publish_interval_ms);
    let mut state = OpcuaSourceNode::new(config.endpoint.clone(), config.batch_max, config.tags.len());
    let batch_max = config.batch_max.max(1);
    let mut driver = Driver::new(node);
    // The first status (connecting) goes out at once, before the client can
    // have changed it: a subscriber sees every link start as connecting.
    driver.send_all(state.link_changed(&LinkStatus::default(), now_ms()))?;
    let mut source = runtime.spawn(client::run(config, options, readings_tx, status_tx, async move {
        let _ = stop_rx.await;
    }));

    loop {
        let flow = match events.recv_timeout(wake_every) {
            None => Flow::Stop,
            Some(Event::Error(message)) if is_receive_timeout(&message) => Flow::Continue,
            Some(event) => driver.step(event, &mut state)?,
        };
        if status_rx.has_changed().unwrap_or(false) {
            let link = status_rx.borrow_and_update().clone();
            let emits = state.link_changed(&link, now_ms());
            driver.send_all(emits)?;
        }
        // Bounded, so that a flood cannot keep the loop from seeing Stop.
        send_pending(&mut driver, &mut state, &mut readings_rx, channel_capacity / batch_max + 2)?;
        if flow == Flow::Stop {
            break;
        }
        if source.is_finished() {
            return Err(match runtime.block_on(&mut source) {
                Ok(Ok(())) => OpcuaSourceError::ClientStopped,
                Ok(Err(err)) => err.into(),
                Err(join_err) => OpcuaSourceError::ClientPanicked(join_err),
            });
        }
    }

    tracing::info!("stopping");
    let _ = stop_tx.send(());
    match runtime.block_on(async { tokio::time::timeout(CLIENT_STOP_GRACE, &mut source).await }) {
        Ok(Ok(result)) => result?,
        Ok(Err(join_err)) => return Err(OpcuaSourceError::ClientPanicked(join_err)),
        Err(_) => tracing::warn!(grace_s = CLIENT_STOP_GRACE.as_secs(), "the OPC UA client did not stop in time"),
    }
    driver.send_metrics(|snapshot| shopfloor_node::NodeLogic::metrics(&state, snapshot))?;
    Ok(state.counts().clone())
}

/// Everything waiting goes out now, in messages of at most `batch_max`
/// readings, in at most `rounds` messages.
fn send_pending(
    driver: &mut Driver,
    state: &mut OpcuaSourceNode,
    readings: &mut mpsc::Receiver<Reading>,
    mut rounds: usize,
) -> Result<(), SendError> {
    let mut drained = false;
    while !drained && rounds > 0 {
        rounds -= 1;
        while state.room() > 0 {
            match readings.try_recv() {
                Ok(reading) => state.push(reading),
                Err(_) => {
                    drained = true;
                    break;
                }
            }
        }
        if let Some(emit) = state.take_batch() {
            driver.send(emit)?;
        }
    }
    Ok(())
}

/// dora-node-api 1.1 reports an elapsed `recv_timeout` as an `Event::Error`
/// whose text starts like this, not as a distinct event.
fn is_receive_timeout(message: &str) -> bool {
    message.starts_with("Timeout event stream error")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use plant_sim::config::PlantSimConfig;
    use plant_sim::server::{serve, ServerOptions};
    use shopfloor_core::schema::{LinkState, MetricSample, Quality, SourceStatus};
    use shopfloor_node::testing::TestRun;

    use super::*;
    use crate::against_plant_sim::simulated_tags;
    use crate::config::OpcuaClientSecurity;

    const TICK_MS: u64 = 100;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("opcua-source-driver-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Waits until the simulator answers an OPC UA Hello. It has its port
    /// bound from the start but reads from it only once it has made its key
    /// pair (seconds on a busy machine); a client connecting before that
    /// waits in endpoint discovery (up to 10 s) past the moment this test
    /// takes the server away.
    fn wait_until_serving(port: u16, within: Duration) {
        use std::io::{Read, Write};
        let url = format!("opc.tcp://127.0.0.1:{port}/");
        let mut hello = b"HELF".to_vec();
        hello.extend_from_slice(&(8 + 20 + 4 + url.len() as u32).to_le_bytes());
        // protocol version, receive and send buffer sizes, no message or chunk limit
        for field in [0u32, 65_536, 65_536, 0, 0] {
            hello.extend_from_slice(&field.to_le_bytes());
        }
        hello.extend_from_slice(&(url.len() as i32).to_le_bytes());
        hello.extend_from_slice(url.as_bytes());
        let deadline = std::time::Instant::now() + within;
        loop {
            assert!(std::time::Instant::now() < deadline, "the simulator did not answer a Hello within {within:?}");
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let mut reply = [0u8; 4];
                if stream.write_all(&hello).is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"ACKF" {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Under dora, against the real simulator on a loopback port: the link
    /// goes connecting → connected, readings of every tag arrive on
    /// `readings`, the metrics tick answers with the counts; when the server
    /// goes away the link says so and every tag's last value comes once more
    /// marked bad; Stop ends the node cleanly with a last snapshot.
    #[test]
    fn readings_flow_the_metrics_tick_answers_and_a_lost_server_marks_the_values_bad() {
        let dir = scratch("flow");
        let sim_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = sim_runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sim_stop, sim_stopped) = oneshot::channel::<()>();
        let sim_config = PlantSimConfig { port, tick_ms: TICK_MS, ..PlantSimConfig::default() };
        let simulator =
            sim_runtime.spawn(serve(listener, sim_config, ServerOptions { pki_dir: dir.join("server") }, async {
                let _ = sim_stopped.await;
            }));
        wait_until_serving(port, Duration::from_secs(60));
        // The server leaves after the metrics tick (4 s), well before dora's Stop.
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5_000));
            let _ = sim_stop.send(());
        });

        let config = OpcuaSourceConfig {
            publish_interval_ms: TICK_MS,
            reconnect_max_ms: 300,
            security: OpcuaClientSecurity { pki_dir: Some(dir.join("client")), ..OpcuaClientSecurity::default() },
            ..OpcuaSourceConfig::with_defaults(format!("opc.tcp://127.0.0.1:{port}/"), simulated_tags())
        };
        // dora's testing mode hands out the next scripted event only when it
        // is due, and `recv_timeout` does not return before it: without these
        // ticks the loop would wake at 4 s and 10 s alone and miss the
        // connected state (the watch keeps only the latest). A dataflow's
        // timer ticks the same way.
        let ticks = (1..100).fold(TestRun::new("opcua-source"), |run, n| run.tick(f64::from(n) * 0.1, "tick"));
        let (counts, outputs) = ticks
            .declare_output("readings")
            .declare_output("status")
            .declare_output("metrics")
            .tick(4.05, "metrics_tick")
            .stop(10.0)
            .run(|node, events| run(config, node, events))
            .unwrap();
        let counts = counts.unwrap();
        stopper.join().unwrap();
        let served = sim_runtime.block_on(simulator).unwrap();
        assert!(served.is_ok(), "the simulator failed: {served:?}");

        let statuses: Vec<LinkState> = outputs
            .on("status")
            .flat_map(|sent| SourceStatus::from_arrow(sent.data.as_ref()).unwrap())
            .map(|status| status.state)
            .collect();
        // The first attempt may come before the simulator serves (it is
        // still making its key pair): a retry is fine, a connection is not optional.
        assert_eq!(statuses.first(), Some(&LinkState::Connecting), "{statuses:?}");
        let connected = statuses
            .iter()
            .position(|s| *s == LinkState::Connected)
            .unwrap_or_else(|| panic!("never connected: {statuses:?}"));
        assert!(statuses[connected..].iter().any(|s| *s != LinkState::Connected), "the loss is reported: {statuses:?}");

        let readings: Vec<Reading> =
            outputs.on("readings").flat_map(|sent| Reading::from_arrow(sent.data.as_ref()).unwrap()).collect();
        let good: std::collections::BTreeSet<&str> =
            readings.iter().filter(|r| r.quality == Quality::Good).map(|r| r.tag.as_str()).collect();
        assert_eq!(good.len(), 5, "{good:?}");
        let bad: std::collections::BTreeSet<&str> =
            readings.iter().filter(|r| r.quality == Quality::Bad).map(|r| r.tag.as_str()).collect();
        assert_eq!(bad, good, "every tag's last value comes back marked bad");
        assert_eq!(counts.readings_out, readings.len() as u64);

        let snapshots: Vec<Vec<MetricSample>> =
            outputs.on("metrics").map(|sent| MetricSample::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(snapshots.len(), 2, "one on the tick, one at stop");
        let value = |name: &str| snapshots[0].iter().find(|s| s.name == name).map(|s| s.value);
        assert_eq!(value("shopfloor_source_connected"), Some(1.0));
        assert!(value("shopfloor_readings_out").is_some_and(|n| n > 0.0));
        let _ = std::fs::remove_dir_all(dir);
    }
}
