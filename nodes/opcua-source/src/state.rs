//! The node's logic as plain state: readings gathered into batches of at
//! most `OPCUA_BATCH_MAX`, link changes turned into `status` messages (and,
//! when the link is lost, every tag's last value once more with `bad`
//! quality), and the counts the metrics snapshot reports. No OPC UA, no
//! dora, no clock: the driver hands it readings, link states and the time.

use dora_node_api::arrow_v59::array::Array;
use dora_node_api::MetadataParameters;
use shopfloor_core::schema::{LinkState, Reading, SourceStatus};
use shopfloor_node::metrics::Snapshot;
use shopfloor_node::{Emit, NodeLogic, Rejected};

use crate::batch::ReadingBatch;
use crate::client::LinkStatus;
use crate::link_watch::LinkWatch;

pub const READINGS_OUTPUT: &str = "readings";
pub const STATUS_OUTPUT: &str = "status";

/// What the node counted since it started.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    pub readings_out: u64,
    pub batches: u64,
    /// Readings lost because dora took them slower than the server sent them.
    pub dropped: u64,
    /// The link's last state.
    pub link: Option<LinkState>,
    pub link_changes: u64,
}

pub struct OpcuaSourceNode {
    source: String,
    batch: ReadingBatch,
    batch_max: usize,
    link_watch: LinkWatch,
    counts: Counts,
}

impl OpcuaSourceNode {
    /// `source` is the endpoint URL (the `source` of status messages);
    /// batches hold at most `batch_max` readings.
    pub fn new(source: impl Into<String>, batch_max: usize, tag_count: usize) -> Self {
        let batch_max = batch_max.max(1);
        Self {
            source: source.into(),
            // Room for a full batch plus one stale copy of every tag.
            batch: ReadingBatch::new(batch_max + tag_count),
            batch_max,
            link_watch: LinkWatch::default(),
            counts: Counts::default(),
        }
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Readings the next batch still takes before it is full.
    pub fn room(&self) -> usize {
        self.batch_max.saturating_sub(self.batch.len())
    }

    pub fn push(&mut self, reading: Reading) {
        self.batch.push(reading);
    }

    /// A new link status seen at `now_ms`: the `status` message when state
    /// or reason changed; stale values join the pending batch.
    pub fn link_changed(&mut self, link: &LinkStatus, now_ms: i64) -> Vec<Emit> {
        let change = self.link_watch.update(&self.source, link, now_ms);
        if !change.stale_readings.is_empty() {
            tracing::info!(tags = change.stale_readings.len(), "link lost: re-sending the last values marked bad");
        }
        self.batch.extend(change.stale_readings);
        let Some(status) = change.status else { return Vec::new() };
        tracing::info!(state = status.state.as_str(), reason = status.reason.as_deref().unwrap_or(""), "link status");
        self.counts.link = Some(status.state);
        self.counts.link_changes += 1;
        vec![Emit::new(STATUS_OUTPUT, SourceStatus::to_arrow(&[status]))]
    }

    /// Everything pending as one `readings` message (at most `batch_max`
    /// readings when the driver keeps to [`room`](Self::room)), or `None`.
    pub fn take_batch(&mut self) -> Option<Emit> {
        let taken = self.batch.take()?;
        self.link_watch.record(&taken.readings);
        self.counts.batches += 1;
        self.counts.readings_out += taken.readings.len() as u64;
        self.counts.dropped += taken.dropped;
        if taken.dropped > 0 {
            tracing::warn!(dropped = taken.dropped, "dora could not keep up; dropped the oldest readings");
        }
        tracing::debug!(readings = taken.readings.len(), "sending a batch");
        Some(Emit::new(READINGS_OUTPUT, Reading::to_arrow(&taken.readings)))
    }
}

impl NodeLogic for OpcuaSourceNode {
    /// Inputs (a `tick` timer) only wake the node early; what has gathered
    /// goes out after every wake-up anyway.
    fn on_input(
        &mut self,
        _input: &str,
        _data: &dyn Array,
        _parameters: &MetadataParameters,
        _now_ms: i64,
    ) -> Result<Vec<Emit>, Rejected> {
        Ok(Vec::new())
    }

    fn metrics(&self, snapshot: &mut Snapshot) {
        let connected = self.counts.link == Some(LinkState::Connected);
        snapshot
            .gauge(
                "shopfloor_source_connected",
                "1 while the link is up",
                &[("link", "opcua")],
                f64::from(u8::from(connected)),
            )
            .counter(
                "shopfloor_link_changes",
                "Changes of the link's state",
                &[("link", "opcua")],
                self.counts.link_changes,
            )
            .counter("shopfloor_readings_out", "Readings sent into the dataflow", &[], self.counts.readings_out)
            .counter(
                "shopfloor_reading_batches_out",
                "Reading batches sent into the dataflow",
                &[],
                self.counts.batches,
            )
            .counter(
                "shopfloor_dropped_messages",
                "Messages lost, by reason",
                &[("reason", "dataflow_slower_than_server")],
                self.counts.dropped,
            );
    }
}

#[cfg(test)]
mod tests {
    use shopfloor_core::schema::{MetricSample, Quality, ReadingValue};

    use super::*;

    const SOURCE: &str = "opc.tcp://127.0.0.1:4840/";

    fn reading(tag: &str, value: f64) -> Reading {
        Reading::good(SOURCE, tag.into(), ReadingValue::Number(value), None, Some(1_000), 1_001)
    }

    fn link(state: LinkState, reason: Option<&str>) -> LinkStatus {
        LinkStatus {
            state,
            reason: reason.map(str::to_owned),
            connected: state == LinkState::Connected,
            ..LinkStatus::default()
        }
    }

    fn readings(emit: &Emit) -> Vec<Reading> {
        assert_eq!(emit.output, READINGS_OUTPUT);
        Reading::from_arrow(emit.data.as_ref()).unwrap()
    }

    fn statuses(emits: &[Emit]) -> Vec<SourceStatus> {
        emits
            .iter()
            .filter(|e| e.output == STATUS_OUTPUT)
            .flat_map(|e| SourceStatus::from_arrow(e.data.as_ref()).unwrap())
            .collect()
    }

    fn sample(node: &OpcuaSourceNode, name: &str) -> Option<f64> {
        let mut snapshot = Snapshot::new("opcua-source");
        node.metrics(&mut snapshot);
        let samples: Vec<MetricSample> = snapshot.finish();
        samples.iter().find(|s| s.name == name).map(|s| s.value)
    }

    #[test]
    fn nothing_gathered_sends_nothing() {
        let mut node = OpcuaSourceNode::new(SOURCE, 10, 3);
        assert!(node.take_batch().is_none());
        assert_eq!(node.counts(), &Counts::default());
    }

    #[test]
    fn readings_go_out_in_arrival_order_and_are_counted() {
        let mut node = OpcuaSourceNode::new(SOURCE, 10, 3);
        node.push(reading("a", 1.0));
        node.push(reading("b", 2.0));
        assert_eq!(node.room(), 8);
        let sent = readings(&node.take_batch().unwrap());
        assert_eq!(sent, [reading("a", 1.0), reading("b", 2.0)]);
        assert_eq!((node.counts().readings_out, node.counts().batches), (2, 1));
        assert!(node.take_batch().is_none(), "each reading goes out once");
    }

    #[test]
    fn past_its_capacity_the_batch_drops_the_oldest_and_counts_them() {
        // Capacity: batch_max (2) plus one per tag (1).
        let mut node = OpcuaSourceNode::new(SOURCE, 2, 1);
        for value in 0..5 {
            node.push(reading("a", f64::from(value)));
        }
        assert_eq!(node.room(), 0);
        let sent = readings(&node.take_batch().unwrap());
        assert_eq!(sent, [reading("a", 2.0), reading("a", 3.0), reading("a", 4.0)]);
        assert_eq!(node.counts().dropped, 2);
        assert_eq!(sample(&node, "shopfloor_dropped_messages"), Some(2.0));
    }

    #[test]
    fn a_link_change_is_a_status_message_and_a_loss_marks_the_last_values_bad() {
        let mut node = OpcuaSourceNode::new(SOURCE, 10, 2);
        let first = node.link_changed(&link(LinkState::Connecting, None), 0);
        assert_eq!(statuses(&first)[0].state, LinkState::Connecting);
        let up = node.link_changed(&link(LinkState::Connected, None), 100);
        assert_eq!(statuses(&up)[0].source, SOURCE);
        assert_eq!(sample(&node, "shopfloor_source_connected"), Some(1.0));

        node.push(reading("t1", 1.0));
        node.push(reading("t2", 2.0));
        node.push(reading("t1", 1.5));
        node.take_batch().unwrap();
        let lost = node.link_changed(&link(LinkState::Disconnected, Some("BadConnectionClosed")), 5_000);
        assert_eq!(statuses(&lost)[0].reason.as_deref(), Some("BadConnectionClosed"));
        assert!(lost.iter().all(|e| e.output == STATUS_OUTPUT), "the stale values wait for the next batch");
        let stale = readings(&node.take_batch().unwrap());
        let marked: Vec<(&str, &ReadingValue, Quality, i64)> =
            stale.iter().map(|r| (r.tag.as_str(), &r.value, r.quality, r.received_ts_ms)).collect();
        assert_eq!(
            marked,
            [
                ("t1", &ReadingValue::Number(1.5), Quality::Bad, 5_000),
                ("t2", &ReadingValue::Number(2.0), Quality::Bad, 5_000)
            ]
        );
        assert_eq!(sample(&node, "shopfloor_source_connected"), Some(0.0));
        assert_eq!(sample(&node, "shopfloor_link_changes"), Some(3.0));

        // The same state and reason again is no news.
        let again = node.link_changed(&link(LinkState::Disconnected, Some("BadConnectionClosed")), 6_000);
        assert!(again.is_empty());
        assert!(node.take_batch().is_none(), "stale values go out once");
    }

    #[test]
    fn inputs_only_wake_the_node() {
        let mut node = OpcuaSourceNode::new(SOURCE, 10, 1);
        let data = Reading::to_arrow(&[reading("a", 1.0)]);
        assert!(node.on_input("tick", data.as_ref(), &MetadataParameters::default(), 0).unwrap().is_empty());
        assert!(node.take_batch().is_none());
    }
}
