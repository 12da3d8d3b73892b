//! What the node counts, as a `metric` snapshot (`shopfloor_vlm_*`).

use std::collections::BTreeMap;

use shopfloor_core::schema::MetricSample;
use shopfloor_node::metrics::{Histogram, Snapshot};

/// Counters of the node.
#[derive(Debug)]
pub struct Counts {
    /// Flagged frames received.
    pub flagged: u64,
    /// Alerts sent, by verdict (`defect`, `no_defect`, `not_judged`).
    pub alerts: BTreeMap<&'static str, u64>,
    /// Frames not judged because the model's queue was full.
    pub busy: u64,
    /// Inputs refused, by reason (`schema`, `unknown_input`).
    pub rejected: BTreeMap<&'static str, u64>,
    /// Crops that could not be stored.
    pub crop_errors: u64,
    /// Judging time, seconds.
    pub judge_seconds: Histogram,
}

impl Default for Counts {
    fn default() -> Self {
        Self {
            flagged: 0,
            alerts: BTreeMap::new(),
            busy: 0,
            rejected: BTreeMap::new(),
            crop_errors: 0,
            judge_seconds: Histogram::latency(),
        }
    }
}

impl Counts {
    /// The snapshot of node `node`.
    pub fn snapshot(&self, node: &str) -> Vec<MetricSample> {
        let mut snapshot = Snapshot::new(node);
        snapshot.counter("shopfloor_vlm_flagged_frames", "Flagged frames received from the filter", &[], self.flagged);
        for (verdict, count) in &self.alerts {
            snapshot.counter(
                "shopfloor_vlm_alerts",
                "Alerts sent, by the model's verdict",
                &[("verdict", verdict)],
                *count,
            );
        }
        snapshot.counter("shopfloor_vlm_busy", "Flagged frames not judged: the model's queue was full", &[], self.busy);
        for (reason, count) in &self.rejected {
            snapshot.counter("shopfloor_rejected_inputs", "Inputs refused, by reason", &[("reason", reason)], *count);
        }
        snapshot.counter("shopfloor_vlm_crop_errors", "Crops that could not be stored", &[], self.crop_errors);
        snapshot.histogram("shopfloor_vlm_judge_seconds", "Time the model took per frame", &[], &self.judge_seconds);
        snapshot.process_memory();
        snapshot.finish()
    }
}
