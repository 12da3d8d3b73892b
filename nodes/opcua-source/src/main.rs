//! `opcua-source` binary: wires configuration, the OPC UA client and dora
//! together. See the library docs for inputs, outputs and settings.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Context};
use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, MetadataParameters};
use opcua_source::batch::ReadingBatch;
use opcua_source::client::{self, ClientOptions, LinkStatus};
use opcua_source::config::OpcuaSourceConfig;
use opcua_source::link_watch::LinkWatch;
use opcua_source::metrics::SourceMetrics;
use opcua_source::node_events::{next_after, Next, READINGS_OUTPUT, STATUS_OUTPUT};
use opcua_source::tags::parse_tags;
use shopfloor_core::schema::{MetricSample, Reading, SourceStatus};
use shopfloor_node::clock::now_ms;
use shopfloor_node::metrics::{METRICS_OUTPUT, METRICS_TICK_INPUT};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, error, info, warn};

/// Readings buffered between the OPC UA callback and the dora loop, at least;
/// a large tag list gets room for a few publishes of every tag.
const MIN_READINGS_CHANNEL_CAPACITY: usize = 4096;
const PUBLISHES_BUFFERED: usize = 4;
/// How long the client gets to close its session after dora says stop.
const CLIENT_STOP_GRACE: Duration = Duration::from_secs(5);

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
    let (mut node, mut events) = DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = OpcuaSourceConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    // Fail before connecting if a node id can never work.
    parse_tags(&config.tags)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;

    let channel_capacity = MIN_READINGS_CHANNEL_CAPACITY.max(config.tags.len() * PUBLISHES_BUFFERED);
    let (readings_tx, mut readings_rx) = mpsc::channel::<Reading>(channel_capacity);
    let (status_tx, mut status_rx) = watch::channel(LinkStatus::default());
    let endpoint = config.endpoint.clone();
    let batch_max = config.batch_max;
    // Room for a full batch plus one stale copy of every tag.
    let batch_capacity = batch_max + config.tags.len();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let wake_every = Duration::from_millis(config.publish_interval_ms);
    let mut source = runtime.spawn(client::run(config, ClientOptions::default(), readings_tx, status_tx, async move {
        let _ = stop_rx.await;
    }));

    let output = DataId::from(READINGS_OUTPUT.to_owned());
    let status_output = DataId::from(STATUS_OUTPUT.to_owned());
    let mut batch = ReadingBatch::new(batch_capacity);
    let mut link_watch = LinkWatch::default();
    let mut metrics = SourceMetrics::default();
    let metrics_output = DataId::from(METRICS_OUTPUT.to_owned());
    // The first status (connecting) goes out at once.
    status_rx.mark_changed();
    loop {
        let event = events.recv_timeout(wake_every);
        let metrics_due =
            matches!(&event, Some(dora_node_api::Event::Input { id, .. }) if id.as_str() == METRICS_TICK_INPUT);
        let next = next_after(event);
        if status_rx.has_changed().unwrap_or(false) {
            let link = status_rx.borrow_and_update().clone();
            let change = link_watch.update(&endpoint, &link, now_ms());
            if let Some(status) = change.status {
                info!(state = status.state.as_str(), reason = status.reason.as_deref().unwrap_or(""), "link status");
                metrics.link(status.state);
                if let Err(err) = node.send_output(
                    status_output.clone(),
                    MetadataParameters::default(),
                    SourceStatus::to_arrow(&[status]),
                ) {
                    warn!(%err, "could not send the link status");
                }
            }
            if !change.stale_readings.is_empty() {
                info!(tags = change.stale_readings.len(), "link lost: re-sending the last values marked bad");
            }
            batch.extend(change.stale_readings);
        }
        // Everything waiting goes out now, in messages of at most `batch_max`;
        // bounded, so that a flood cannot keep the loop from seeing Stop.
        let mut drained = false;
        let mut rounds = channel_capacity / batch_max + 2;
        while !drained && rounds > 0 {
            rounds -= 1;
            while batch.len() < batch_max {
                match readings_rx.try_recv() {
                    Ok(reading) => batch.push(reading),
                    Err(_) => {
                        drained = true;
                        break;
                    }
                }
            }
            let Some(taken) = batch.take() else { continue };
            link_watch.record(&taken.readings);
            metrics.batch_sent(taken.readings.len(), taken.dropped);
            if taken.dropped > 0 {
                warn!(dropped = taken.dropped, "dora could not keep up; dropped the oldest readings");
            }
            debug!(readings = taken.readings.len(), "sending a batch");
            let array = Reading::to_arrow(&taken.readings);
            if let Err(err) = node.send_output(output.clone(), MetadataParameters::default(), array) {
                warn!(%err, readings = taken.readings.len(), "could not send readings");
            }
        }
        if metrics_due {
            let samples = metrics.snapshot(node.id().as_ref());
            if let Err(err) = node.send_output(
                metrics_output.clone(),
                MetadataParameters::default(),
                MetricSample::to_arrow(&samples),
            ) {
                warn!(%err, "could not send metrics");
            }
        }
        if next == Next::Stop {
            break;
        }
        if source.is_finished() {
            // The client only returns early on a problem no retry can fix.
            return match runtime.block_on(&mut source) {
                Ok(Ok(())) => Err(anyhow!("the OPC UA client stopped unexpectedly")),
                Ok(Err(err)) => Err(err.into()),
                Err(join_err) => Err(anyhow!("the OPC UA client crashed: {join_err}")),
            };
        }
    }

    info!("stopping");
    let _ = stop_tx.send(());
    match runtime.block_on(async { tokio::time::timeout(CLIENT_STOP_GRACE, &mut source).await }) {
        Ok(Ok(result)) => result?,
        Ok(Err(join_err)) => return Err(anyhow!("the OPC UA client crashed: {join_err}")),
        Err(_) => warn!(grace_s = CLIENT_STOP_GRACE.as_secs(), "the OPC UA client did not stop in time"),
    }
    Ok(())
}
