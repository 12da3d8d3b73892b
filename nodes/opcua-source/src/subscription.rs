//! Creating the one subscription that carries every tag, and turning its data
//! changes into readings on a bounded channel. The same subscription watches
//! the server for model changes (an event item on the Server object), so that
//! units, ranges and descriptions are re-read when the address space changes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Deadband, Monitoring};
use crate::properties::RefreshedProperties;
use opcua::client::{MonitoredItem, Session, SubscriptionCallbacks};
use opcua::types::{
    AttributeId, ContentFilter, ContentFilterElement, DataChangeFilter, DataChangeTrigger, DataValue, DeadbandType,
    Error as OpcuaError, EventFilter, ExtensionObject, FilterOperator, LiteralOperand, MonitoredItemCreateRequest,
    MonitoringMode, MonitoringParameters, NodeId, NumericRange, ObjectId, ObjectTypeId, QualifiedName,
    SimpleAttributeOperand, TimestampsToReturn, Variant,
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
/// The client handle of the model-change event item: tags' handles count up
/// from 1, and async-opcua replaces a handle of 0 with one of its own.
pub const MODEL_CHANGE_HANDLE: u32 = u32::MAX;
/// The event types that announce a changed address space: nodes or
/// references added or removed (model change), or a property such as
/// `EngineeringUnits` or `EURange` changed (semantic change). Listed rather
/// than `OfType` the base type: some servers compare event types exactly.
const MODEL_CHANGE_EVENT_TYPES: [ObjectTypeId; 3] = [
    ObjectTypeId::BaseModelChangeEventType,
    ObjectTypeId::GeneralModelChangeEventType,
    ObjectTypeId::SemanticChangeEventType,
];

/// Where readings go, and who to tell when they cannot.
#[derive(Debug, Clone)]
pub struct ReadingSink {
    /// The `source` field of every reading (the endpoint URL).
    pub source: String,
    /// Bounded: when it is full, readings are dropped (and counted) rather than
    /// blocking the OPC UA session.
    pub readings: mpsc::Sender<Reading>,
    /// Units, ranges and descriptions re-read after a model change.
    pub refreshed: RefreshedProperties,
}

impl ReadingSink {
    /// The reading for a value of `tag`, with the properties last read from the server.
    pub fn reading(
        &self,
        tag: &MonitoredTag,
        data_value: &DataValue,
    ) -> Result<Reading, crate::convert::Unconvertible> {
        let mut reading = tag.reading(&self.source, data_value, now_ms())?;
        self.refreshed.apply(&mut reading);
        Ok(reading)
    }
}

/// Subscribes to every tag once, and to the server's model-change events
/// (each one sends `()` on `model_changes`); returns the subscription id.
///
/// The library re-creates the subscription and its monitored items after a
/// reconnect (`recreate_subscriptions`, on by default), so this only runs once
/// per process. Tags the server refuses (unknown node, no read access) are
/// logged; the others still deliver. A server without model-change events
/// only has its properties read at connect.
pub async fn subscribe(
    session: &Session,
    tags: Arc<Vec<MonitoredTag>>,
    sink: ReadingSink,
    publish_interval: Duration,
    monitoring_defaults: Monitoring,
    model_changes: mpsc::Sender<()>,
) -> Result<u32, OpcuaError> {
    let callback = SubscriptionCallbacks::new(
        |_status| {},
        data_change_handler(tags.clone(), sink),
        model_change_handler(model_changes),
    );
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
    let watch = session
        .create_monitored_items(subscription_id, TimestampsToReturn::Neither, vec![model_change_request()])
        .await;
    match watch.as_deref().map(|items| items.first().map(|item| item.result.status_code)) {
        Ok(Some(status)) if status.is_good() => info!("watching the server for model changes"),
        Ok(status) => info!(
            status = ?status,
            "the server does not report model changes; units, ranges and descriptions are read at connect"
        ),
        Err(err) => info!(
            %err,
            "the server does not report model changes; units, ranges and descriptions are read at connect"
        ),
    }
    Ok(subscription_id)
}

/// An event item on the Server object that passes only model-change events.
pub fn model_change_request() -> MonitoredItemCreateRequest {
    let event_type = || SimpleAttributeOperand {
        type_definition_id: ObjectTypeId::BaseEventType.into(),
        browse_path: Some(vec![QualifiedName::new(0, "EventType")]),
        attribute_id: AttributeId::Value as u32,
        index_range: NumericRange::None,
    };
    let literal = |value: Variant| ExtensionObject::from_message(LiteralOperand { value });
    let operands = std::iter::once(ExtensionObject::from_message(event_type()))
        .chain(MODEL_CHANGE_EVENT_TYPES.map(|id| literal(Variant::from(NodeId::from(id)))))
        .collect();
    let filter = EventFilter {
        select_clauses: Some(vec![event_type()]),
        where_clause: ContentFilter {
            elements: Some(vec![ContentFilterElement {
                filter_operator: FilterOperator::InList,
                filter_operands: Some(operands),
            }]),
        },
    };
    let mut request = MonitoredItemCreateRequest::new(
        NodeId::from(ObjectId::Server).into(),
        MonitoringMode::Reporting,
        MonitoringParameters {
            client_handle: MODEL_CHANGE_HANDLE,
            sampling_interval: 0.0,
            queue_size: 10,
            discard_oldest: true,
            filter: ExtensionObject::from_message(filter),
        },
    );
    request.item_to_monitor.attribute_id = AttributeId::EventNotifier as u32;
    request
}

/// The event callback: a model change wakes the re-reading task. The channel
/// holds one wake-up, so a burst of events costs one re-read.
fn model_change_handler(
    model_changes: mpsc::Sender<()>,
) -> impl FnMut(Option<Vec<Variant>>, &MonitoredItem) + Send + Sync + 'static {
    move |fields, item| {
        if item.client_handle() != MODEL_CHANGE_HANDLE {
            return;
        }
        let event_type = fields.as_ref().and_then(|fields| fields.first());
        let announced = match event_type {
            Some(Variant::NodeId(id)) => MODEL_CHANGE_EVENT_TYPES.iter().any(|known| **id == *known),
            // A server that does not fill in the selected field still sent
            // the event through the model-change filter.
            _ => true,
        };
        if announced {
            debug!(?event_type, "the server announced a model change");
            let _ = model_changes.try_send(());
        }
    }
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
        let reading = match sink.reading(tag, &data_value) {
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
