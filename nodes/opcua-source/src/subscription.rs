//! Creating the one subscription that carries every tag, and turning its data
//! changes into readings on a bounded channel.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Deadband, Monitoring};
use opcua::client::{DataChangeCallback, MonitoredItem, Session};
use opcua::types::{
    DataChangeFilter, DataChangeTrigger, DataValue, DeadbandType, Error as OpcuaError, ExtensionObject,
    MonitoredItemCreateRequest, MonitoringMode, MonitoringParameters, TimestampsToReturn,
};
use shopfloor_core::schema::Reading;
use shopfloor_node::clock::now_ms;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::tags::{client_handle, tag_for_handle, MonitoredTag};

/// Keep-alive messages are sent after this many empty publishing intervals.
const MAX_KEEP_ALIVE_COUNT: u32 = 10;
/// The server drops the subscription after this many intervals without the
/// client; long enough that a quick reconnect can take the subscription over.
const LIFETIME_COUNT: u32 = 120;
/// Monitored items per CreateMonitoredItems call: servers cap a call (async-opcua
/// at 1000), so a large tag list goes in several.
pub const ITEMS_PER_CALL: usize = 1000;

/// Where readings go, and who to tell when they cannot.
#[derive(Debug, Clone)]
pub struct ReadingSink {
    /// The `source` field of every reading (the endpoint URL).
    pub source: String,
    /// Bounded: when it is full, readings are dropped (and counted) rather than
    /// blocking the OPC UA session.
    pub readings: mpsc::Sender<Reading>,
}

/// Subscribes to every tag once; returns the subscription id.
///
/// The library re-creates the subscription and its monitored items after a
/// reconnect (`recreate_subscriptions`, on by default), so this only runs once
/// per process. Tags the server refuses (unknown node, no read access) are
/// logged; the others still deliver.
pub async fn subscribe(
    session: &Session,
    tags: Arc<Vec<MonitoredTag>>,
    sink: ReadingSink,
    publish_interval: Duration,
    monitoring_defaults: Monitoring,
) -> Result<u32, OpcuaError> {
    let callback = DataChangeCallback::new(data_change_handler(tags.clone(), sink));
    let subscription_id = session
        .create_subscription(publish_interval, LIFETIME_COUNT, MAX_KEEP_ALIVE_COUNT, 0, 0, true, callback)
        .await?;
    let requests = monitored_item_requests(&tags, publish_interval, monitoring_defaults);
    let mut created = Vec::with_capacity(requests.len());
    for chunk in requests.chunks(ITEMS_PER_CALL) {
        match session.create_monitored_items(subscription_id, TimestampsToReturn::Both, chunk.to_vec()).await {
            Ok(items) => created.extend(items),
            Err(err) => {
                // Without this, the retry would leave a half-made subscription behind.
                if let Err(delete_err) = session.delete_subscription(subscription_id).await {
                    debug!(%delete_err, subscription_id, "could not delete the half-made subscription");
                }
                return Err(err);
            }
        }
    }
    for (tag, item) in tags.iter().zip(&created) {
        let status = item.result.status_code;
        if status.is_bad() {
            warn!(
                tag = %tag.spec.tag,
                node_id = %tag.spec.node_id,
                %status,
                "the server refused to monitor this node; no readings will come for this tag"
            );
        }
    }
    info!(subscription_id, tags = tags.len(), interval_ms = publish_interval.as_millis() as u64, "subscribed");
    Ok(subscription_id)
}

/// One request per tag: its own sampling, queue and deadband, else the group's
/// (sampling defaults to the publishing interval, the queue to 10).
pub fn monitored_item_requests(
    tags: &[MonitoredTag],
    publish_interval: Duration,
    defaults: Monitoring,
) -> Vec<MonitoredItemCreateRequest> {
    tags.iter()
        .enumerate()
        .map(|(index, tag)| {
            let monitoring = tag.spec.monitoring.or(defaults);
            let sampling_ms = monitoring.sampling_ms.map_or(publish_interval.as_secs_f64() * 1000.0, |ms| ms as f64);
            MonitoredItemCreateRequest::new(
                tag.node_id.clone().into(),
                MonitoringMode::Reporting,
                MonitoringParameters {
                    client_handle: client_handle(index),
                    sampling_interval: sampling_ms,
                    queue_size: monitoring.queue_size.unwrap_or(10),
                    discard_oldest: true,
                    filter: monitoring.deadband.map_or_else(ExtensionObject::null, deadband_filter),
                },
            )
        })
        .collect()
}

/// A data-change filter: report value or status changes beyond the deadband.
fn deadband_filter(deadband: Deadband) -> ExtensionObject {
    let (kind, value) = match deadband {
        Deadband::Absolute(value) => (DeadbandType::Absolute, value),
        Deadband::Percent(value) => (DeadbandType::Percent, value),
    };
    ExtensionObject::from_message(DataChangeFilter {
        trigger: DataChangeTrigger::StatusValue,
        deadband_type: kind as u32,
        deadband_value: value,
    })
}

/// The per-value callback: runs inside the session's event loop, so it must
/// never block.
fn data_change_handler(
    tags: Arc<Vec<MonitoredTag>>,
    sink: ReadingSink,
) -> impl FnMut(DataValue, &MonitoredItem) + Send + Sync + 'static {
    let dropped = AtomicU64::new(0);
    move |data_value, item| {
        let Some(tag) = tag_for_handle(&tags, item.client_handle()) else {
            warn!(handle = item.client_handle(), "data change for a monitored item this node did not create");
            return;
        };
        let reading = match tag.reading(&sink.source, &data_value, now_ms()) {
            Ok(reading) => reading,
            Err(err) => {
                warn!(%err, "skipping a data change");
                return;
            }
        };
        match sink.readings.try_send(reading) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                let total = dropped.fetch_add(1, Ordering::Relaxed) + 1;
                // Log the first drop and then every thousandth, not every one.
                if total == 1 || total.is_multiple_of(1000) {
                    warn!(dropped_total = total, "reading channel full; dropping readings");
                }
            }
            // The node is shutting down; nobody wants readings any more.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}
