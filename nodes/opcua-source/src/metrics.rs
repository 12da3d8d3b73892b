//! What the node reports in its `metrics` snapshot.

use shopfloor_core::schema::{LinkState, MetricSample};
use shopfloor_node::metrics::Snapshot;

/// Counts since start and the link's last state.
#[derive(Debug, Default)]
pub struct SourceMetrics {
    readings_out: u64,
    dropped: u64,
    batches: u64,
    link: Option<LinkState>,
    link_changes: u64,
}

impl SourceMetrics {
    /// A batch went out; `dropped` readings were lost before it (dora slower than the server).
    pub fn batch_sent(&mut self, readings: usize, dropped: u64) {
        self.batches += 1;
        self.readings_out += readings as u64;
        self.dropped += dropped;
    }

    /// The link changed state.
    pub fn link(&mut self, state: LinkState) {
        self.link = Some(state);
        self.link_changes += 1;
    }

    /// The snapshot of node `node`.
    pub fn snapshot(&self, node: &str) -> Vec<MetricSample> {
        let connected = self.link == Some(LinkState::Connected);
        let mut snapshot = Snapshot::new(node);
        snapshot
            .gauge(
                "shopfloor_source_connected",
                "1 while the link is up",
                &[("link", "opcua")],
                f64::from(u8::from(connected)),
            )
            .counter("shopfloor_link_changes", "Changes of the link's state", &[("link", "opcua")], self.link_changes)
            .counter("shopfloor_readings_out", "Readings sent into the dataflow", &[], self.readings_out)
            .counter("shopfloor_reading_batches_out", "Reading batches sent into the dataflow", &[], self.batches)
            .counter(
                "shopfloor_dropped_messages",
                "Messages lost, by reason",
                &[("reason", "dataflow_slower_than_server")],
                self.dropped,
            )
            .process_memory();
        snapshot.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_only_while_the_last_state_is_connected() {
        let mut metrics = SourceMetrics::default();
        metrics.batch_sent(10, 2);
        metrics.link(LinkState::Connected);
        let value = |samples: &[MetricSample], name: &str| samples.iter().find(|s| s.name == name).map(|s| s.value);
        let samples = metrics.snapshot("opcua-source");
        assert_eq!(value(&samples, "shopfloor_source_connected"), Some(1.0));
        assert_eq!(value(&samples, "shopfloor_readings_out"), Some(10.0));
        assert_eq!(value(&samples, "shopfloor_dropped_messages"), Some(2.0));
        metrics.link(LinkState::Reconnecting);
        assert_eq!(value(&metrics.snapshot("opcua-source"), "shopfloor_source_connected"), Some(0.0));
    }
}
