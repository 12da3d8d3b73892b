//! The latest metric snapshot of every node, and what the gateway reads
//! from them: which models are loaded (`/v1/models`, `/readyz`) and whether
//! every source is connected (`/readyz`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use shopfloor_core::schema::MetricSample;

use crate::exposition;

/// A node whose last snapshot is older than this counts as gone for
/// readiness (it is asked every second).
pub const STALE_AFTER: Duration = Duration::from_secs(5);

/// Gauge a model node reports, 1 per loaded model, label `model`.
pub const MODEL_INFO: &str = "shopfloor_model_info";
/// Gauge a source reports per link, 1 when connected, label `link`.
pub const SOURCE_CONNECTED: &str = "shopfloor_source_connected";

#[derive(Debug)]
struct NodeReport {
    samples: Vec<MetricSample>,
    at: Instant,
}

/// Latest snapshots by node id.
#[derive(Debug, Default)]
pub struct Board {
    nodes: BTreeMap<String, NodeReport>,
    first_seen_models: BTreeMap<String, i64>,
}

/// `/readyz` body.
#[derive(Debug, Serialize, PartialEq)]
pub struct Readiness {
    /// Every model node fresh with a model loaded, every source connected.
    pub ready: bool,
    pub models: Vec<String>,
    /// `node/link` → connected.
    pub sources: BTreeMap<String, bool>,
    /// Nodes whose last snapshot is older than [`STALE_AFTER`].
    pub stale_nodes: Vec<String>,
}

impl Board {
    /// Keeps a node's snapshot (samples of one node each), dropping and
    /// returning the samples that cannot be exposed.
    pub fn update(
        &mut self,
        samples: Vec<MetricSample>,
        now: Instant,
        now_ms: i64,
    ) -> Vec<(MetricSample, exposition::SampleError)> {
        let mut refused = Vec::new();
        let mut by_node: BTreeMap<String, Vec<MetricSample>> = BTreeMap::new();
        for sample in samples {
            match exposition::check(&sample) {
                Ok(()) => by_node.entry(sample.node.clone()).or_default().push(sample),
                Err(error) => refused.push((sample, error)),
            }
        }
        for (node, samples) in by_node {
            for model in models_in(&samples) {
                self.first_seen_models.entry(model).or_insert(now_ms / 1000);
            }
            self.nodes.insert(node, NodeReport { samples, at: now });
        }
        refused
    }

    /// Every node's latest samples.
    pub fn samples(&self) -> Vec<MetricSample> {
        self.nodes.values().flat_map(|report| report.samples.iter().cloned()).collect()
    }

    /// Seconds since each node's last snapshot.
    pub fn ages(&self, now: Instant) -> Vec<(String, f64)> {
        self.nodes.iter().map(|(node, report)| (node.clone(), now.duration_since(report.at).as_secs_f64())).collect()
    }

    /// Models reported by fresh nodes, with when they were first seen (s since epoch).
    pub fn models(&self, now: Instant) -> Vec<(String, String, i64)> {
        let mut models = Vec::new();
        for (node, report) in self.fresh(now) {
            for model in models_in(&report.samples) {
                let created = self.first_seen_models.get(&model).copied().unwrap_or(0);
                models.push((model, node.clone(), created));
            }
        }
        models
    }

    /// Ready: at least one model loaded, no model or source node stale, every link connected.
    pub fn readiness(&self, now: Instant) -> Readiness {
        let mut stale_nodes = Vec::new();
        let mut models = Vec::new();
        let mut sources = BTreeMap::new();
        for (node, report) in &self.nodes {
            let fresh = now.duration_since(report.at) <= STALE_AFTER;
            let node_models = models_in(&report.samples);
            let links: Vec<&MetricSample> = report.samples.iter().filter(|s| s.name == SOURCE_CONNECTED).collect();
            if !fresh && (!node_models.is_empty() || !links.is_empty()) {
                stale_nodes.push(node.clone());
            }
            if fresh {
                models.extend(node_models);
            }
            for link in links {
                let name = link.labels.iter().find(|(k, _)| k == "link").map_or("link", |(_, v)| v.as_str());
                sources.insert(format!("{node}/{name}"), fresh && link.value >= 1.0);
            }
        }
        let ready = !models.is_empty() && stale_nodes.is_empty() && sources.values().all(|connected| *connected);
        Readiness { ready, models, sources, stale_nodes }
    }

    fn fresh(&self, now: Instant) -> impl Iterator<Item = (&String, &NodeReport)> {
        self.nodes.iter().filter(move |(_, report)| now.duration_since(report.at) <= STALE_AFTER)
    }
}

fn models_in(samples: &[MetricSample]) -> Vec<String> {
    samples
        .iter()
        .filter(|s| s.name == MODEL_INFO && s.value >= 1.0)
        .filter_map(|s| s.labels.iter().find(|(k, _)| k == "model").map(|(_, v)| v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopfloor_node::metrics::Snapshot;

    fn report(board: &mut Board, node: &str, build: impl FnOnce(&mut Snapshot), at: Instant) {
        let mut snapshot = Snapshot::new(node);
        build(&mut snapshot);
        assert!(board.update(snapshot.finish(), at, 1_000_000).is_empty());
    }

    #[test]
    fn ready_when_a_model_is_loaded_and_every_link_is_up() {
        let start = Instant::now();
        let mut board = Board::default();
        assert!(!board.readiness(start).ready, "nothing reported yet");
        report(
            &mut board,
            "slm",
            |s| {
                s.gauge(MODEL_INFO, "m", &[("model", "SmolLM2")], 1.0);
            },
            start,
        );
        report(
            &mut board,
            "opcua-source",
            |s| {
                s.gauge(SOURCE_CONNECTED, "c", &[("link", "opcua")], 0.0);
            },
            start,
        );
        let readiness = board.readiness(start);
        assert!(!readiness.ready);
        assert_eq!(readiness.sources.get("opcua-source/opcua"), Some(&false));
        report(
            &mut board,
            "opcua-source",
            |s| {
                s.gauge(SOURCE_CONNECTED, "c", &[("link", "opcua")], 1.0);
            },
            start,
        );
        assert!(board.readiness(start).ready);
        assert_eq!(board.models(start), vec![("SmolLM2".to_owned(), "slm".to_owned(), 1000)]);

        let later = start + STALE_AFTER + Duration::from_secs(1);
        let readiness = board.readiness(later);
        assert!(!readiness.ready);
        assert_eq!(readiness.stale_nodes, vec!["opcua-source".to_owned(), "slm".to_owned()]);
        assert!(board.models(later).is_empty());
    }

    #[test]
    fn a_bad_series_is_refused_and_the_rest_kept() {
        let mut board = Board::default();
        let mut snapshot = Snapshot::new("slm");
        snapshot.counter("ok", "h", &[], 1).counter("bad name", "h", &[], 1);
        let refused = board.update(snapshot.finish(), Instant::now(), 0);
        assert_eq!(refused.len(), 1);
        assert_eq!(board.samples().len(), 1);
    }
}
