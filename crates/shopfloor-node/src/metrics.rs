//! What a node needs to report metrics: a lock-free histogram its threads can
//! observe into, and a builder that turns its counters into a `metric`
//! snapshot (one [`MetricSample`] per series).
//!
//! Nodes only count; the Prometheus exposition itself is written by the HTTP
//! gateway with the `prometheus-client` crate (docs/decisions.md says why).

use std::sync::atomic::{AtomicU64, Ordering};

use shopfloor_core::schema::{MetricKind, MetricSample};

/// Input id of the timer that asks a node for its snapshot
/// (`metrics_tick: dora/timer/millis/1000` in the dataflow).
pub const METRICS_TICK_INPUT: &str = "metrics_tick";
/// Output id of a node's snapshot.
pub const METRICS_OUTPUT: &str = "metrics";

/// Bucket bounds (seconds) for latencies from tens of milliseconds to half a minute.
pub const LATENCY_BUCKETS_SECONDS: [f64; 11] = [0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A histogram with fixed bounds that any thread may observe into.
#[derive(Debug)]
pub struct Histogram {
    bounds: Vec<f64>,
    /// One per bound, plus the +Inf bucket.
    counts: Vec<AtomicU64>,
    /// f64 bits; updated with compare-and-swap.
    sum_bits: AtomicU64,
}

impl Histogram {
    /// A histogram with these ascending upper bounds (+Inf is implied).
    pub fn new(bounds: &[f64]) -> Self {
        Self {
            bounds: bounds.to_vec(),
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// A histogram for latencies in seconds.
    pub fn latency() -> Self {
        Self::new(&LATENCY_BUCKETS_SECONDS)
    }

    /// Counts one observation (NaN is ignored: it would poison the sum).
    pub fn observe(&self, value: f64) {
        if value.is_nan() {
            return;
        }
        let bucket = self.bounds.iter().position(|bound| value <= *bound).unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + value).to_bits()));
    }

    fn counts(&self) -> Vec<i64> {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed).min(i64::MAX as u64) as i64).collect()
    }
}

/// Collects one node's series for one snapshot.
#[derive(Debug)]
pub struct Snapshot {
    node: String,
    samples: Vec<MetricSample>,
}

impl Snapshot {
    /// An empty snapshot of the node with this dataflow id.
    pub fn new(node: impl Into<String>) -> Self {
        Self { node: node.into(), samples: Vec::new() }
    }

    fn push(
        &mut self,
        name: &str,
        kind: MetricKind,
        help: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) -> &mut MetricSample {
        self.samples.push(MetricSample {
            node: self.node.clone(),
            name: name.to_owned(),
            kind,
            help: help.to_owned(),
            labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            value,
            bucket_bounds: Vec::new(),
            bucket_counts: Vec::new(),
            sum: 0.0,
            count: 0,
        });
        let last = self.samples.len() - 1;
        &mut self.samples[last]
    }

    /// A counter (name without `_total`).
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) -> &mut Self {
        self.push(name, MetricKind::Counter, help, labels, value as f64);
        self
    }

    /// A gauge.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.push(name, MetricKind::Gauge, help, labels, value);
        self
    }

    /// A histogram's current state.
    pub fn histogram(&mut self, name: &str, help: &str, labels: &[(&str, &str)], histogram: &Histogram) -> &mut Self {
        let counts = histogram.counts();
        let sample = self.push(name, MetricKind::Histogram, help, labels, 0.0);
        sample.count = counts.iter().sum();
        sample.bucket_bounds = histogram.bounds.clone();
        sample.bucket_counts = counts;
        sample.sum = f64::from_bits(histogram.sum_bits.load(Ordering::Relaxed));
        self
    }

    /// The process' resident memory, as `process_resident_memory_bytes`
    /// (left out where `/proc` cannot tell it).
    pub fn process_memory(&mut self) -> &mut Self {
        if let Some(bytes) = resident_memory_bytes() {
            self.gauge("process_resident_memory_bytes", "Resident memory of the node's process", &[], bytes as f64);
        }
        self
    }

    /// The samples, in the order they were added.
    pub fn finish(self) -> Vec<MetricSample> {
        self.samples
    }
}

/// `VmRSS` of this process from `/proc/self/status`.
pub fn resident_memory_bytes() -> Option<u64> {
    status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// `VmHWM` (the peak resident memory) of this process, in bytes.
pub fn peak_resident_memory_bytes() -> Option<u64> {
    status_kib("VmHWM:").map(|kib| kib * 1024)
}

fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_fall_into_the_first_bucket_that_holds_them() {
        let histogram = Histogram::new(&[0.1, 1.0]);
        for value in [0.05, 0.1, 0.5, 7.0, f64::NAN] {
            histogram.observe(value);
        }
        let mut snapshot = Snapshot::new("slm");
        snapshot.histogram("latency", "help", &[], &histogram);
        let sample = &snapshot.finish()[0];
        assert_eq!(sample.bucket_counts, vec![2, 1, 1]);
        assert_eq!(sample.count, 4);
        assert!((sample.sum - 7.65).abs() < 1e-9);
    }

    #[test]
    fn a_snapshot_names_its_node_and_labels() {
        let mut snapshot = Snapshot::new("mqtt-source");
        snapshot.counter("shopfloor_dead_letters", "rejected", &[("reason", "bad_json")], 2).process_memory();
        let samples = snapshot.finish();
        assert_eq!(samples[0].node, "mqtt-source");
        assert_eq!(samples[0].labels, vec![("reason".to_owned(), "bad_json".to_owned())]);
        assert_eq!(samples[0].value, 2.0);
        assert!(samples.iter().any(|s| s.name == "process_resident_memory_bytes" && s.value > 0.0));
    }
}
