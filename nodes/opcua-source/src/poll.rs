//! Polling mode: tags with `poll=<ms>` (or `OPCUA_POLL_MS`) are read with
//! Read requests at that interval instead of being subscribed to, for servers
//! or nodes that do not support subscriptions. As with a subscription, only
//! changes (of value or status) become readings.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use opcua::client::Session;
use opcua::types::{AttributeId, DataValue, ReadValueId, StatusCode, TimestampsToReturn, Variant};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::subscription::ReadingSink;
use crate::tags::MonitoredTag;

/// Nodes per Read request; servers limit the size of one request.
const READ_CHUNK: usize = 500;

/// Report-by-exception for polled values: pure.
#[derive(Debug, Default)]
pub struct ChangeFilter {
    last: HashMap<String, (Option<Variant>, StatusCode)>,
}

impl ChangeFilter {
    /// Whether `value` of `tag` differs from the last one seen (the first always does).
    pub fn changed(&mut self, tag: &str, value: &DataValue) -> bool {
        let current = (value.value.clone(), value.status.unwrap_or(StatusCode::Good));
        if self.last.get(tag) == Some(&current) {
            return false;
        }
        self.last.insert(tag.to_owned(), current);
        true
    }
}

/// The polled tags grouped by interval (one polling task each).
pub fn by_interval(
    tags: &[MonitoredTag],
    poll_ms: impl Fn(&MonitoredTag) -> Option<u64>,
) -> BTreeMap<u64, Vec<MonitoredTag>> {
    let mut groups: BTreeMap<u64, Vec<MonitoredTag>> = BTreeMap::new();
    for tag in tags {
        if let Some(ms) = poll_ms(tag) {
            groups.entry(ms).or_default().push(tag.clone());
        }
    }
    groups
}

/// Reads `tags` every `interval` for as long as the task lives; waits for a
/// connection when there is none, and sends changed values to `sink`.
pub async fn poll_forever(session: Arc<Session>, tags: Vec<MonitoredTag>, interval: Duration, sink: ReadingSink) {
    let mut changes = ChangeFilter::default();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = 0u64;
    loop {
        ticker.tick().await;
        session.wait_for_connection().await;
        for chunk in tags.chunks(READ_CHUNK) {
            let request: Vec<ReadValueId> = chunk
                .iter()
                .map(|tag| ReadValueId {
                    node_id: tag.node_id.clone(),
                    attribute_id: AttributeId::Value as u32,
                    ..Default::default()
                })
                .collect();
            match session.read(&request, TimestampsToReturn::Both, 0.0).await {
                Ok(values) => {
                    for (tag, value) in chunk.iter().zip(values) {
                        if changes.changed(&tag.spec.tag, &value) {
                            send(&sink, tag, &value);
                        }
                    }
                }
                Err(err) => {
                    failures += 1;
                    // The session reconnects by itself; say so now and then, not every tick.
                    if failures == 1 || failures.is_multiple_of(100) {
                        warn!(%err, failures, interval_ms = interval.as_millis() as u64, "polling read failed");
                    }
                }
            }
        }
    }
}

fn send(sink: &ReadingSink, tag: &MonitoredTag, value: &DataValue) {
    match sink.reading(tag, value) {
        Ok(reading) => {
            if let Err(mpsc::error::TrySendError::Full(_)) = sink.readings.try_send(reading) {
                debug!(tag = %tag.spec.tag, "reading channel full; dropping a polled value");
            }
        }
        Err(err) => warn!(%err, "skipping a polled value"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_of_value_or_status_pass() {
        let mut changes = ChangeFilter::default();
        let value = |v: f64, status: StatusCode| DataValue {
            value: Some(Variant::Double(v)),
            status: Some(status),
            ..DataValue::null()
        };
        assert!(changes.changed("t", &value(1.0, StatusCode::Good)));
        assert!(!changes.changed("t", &value(1.0, StatusCode::Good)), "an unchanged poll is no reading");
        assert!(changes.changed("t", &value(2.0, StatusCode::Good)));
        assert!(changes.changed("t", &value(2.0, StatusCode::BadCommunicationError)));
        assert!(changes.changed("u", &value(2.0, StatusCode::Good)), "tags are tracked apart");
    }
}
