//! `GET /metrics`: every node's latest snapshot, each series labelled with
//! its node, written in the OpenMetrics text format by `prometheus-client`.

use std::collections::BTreeMap;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use shopfloor_core::schema::{MetricKind, MetricSample};

/// The content type of the exposition (Prometheus scrapes it natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why a sample cannot be exposed (the sample itself is kept beside the
/// error, so the error names no part of it but the position of a label).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SampleError {
    /// Not `[a-zA-Z_:][a-zA-Z0-9_:]*`, or a counter ending in `_total`.
    #[error("the metric name is not valid (or a counter ends in _total, which the exposition adds)")]
    Name,
    /// Not `[a-zA-Z_][a-zA-Z0-9_]*`, or `node`, which the gateway sets.
    #[error("label {position} has a name that is not valid (or is `node`, which the gateway sets)")]
    Label { position: usize },
    /// Bounds not ascending or not finite.
    #[error("the histogram's bucket bounds are not finite and ascending")]
    Buckets,
}

/// Checks a sample before it is kept, so one bad series never breaks the page.
pub fn check(sample: &MetricSample) -> Result<(), SampleError> {
    let name_ok = |name: &str, colon: bool| {
        let mut chars = name.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
    };
    if !name_ok(&sample.name, true) || (sample.kind == MetricKind::Counter && sample.name.ends_with("_total")) {
        return Err(SampleError::Name);
    }
    if let Some(position) = sample.labels.iter().position(|(label, _)| !name_ok(label, false) || label == "node") {
        return Err(SampleError::Label { position });
    }
    let bounds = &sample.bucket_bounds;
    if sample.kind == MetricKind::Histogram
        && (bounds.iter().any(|b| !b.is_finite()) || bounds.windows(2).any(|pair| pair[0] >= pair[1]))
    {
        return Err(SampleError::Buckets);
    }
    Ok(())
}

/// The page for these samples (already checked). Series that share a name
/// share one family; a series whose kind differs from its family's first, or
/// that repeats one already there, is left out rather than making the page
/// invalid.
pub fn render(samples: &[MetricSample]) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Families::group(samples)));
    let mut page = String::new();
    // Writing to a String cannot fail, and every name was checked.
    if let Err(error) = prometheus_client::encoding::text::encode(&mut page, &registry) {
        tracing::error!(%error, "metrics exposition failed");
    }
    page
}

#[derive(Debug)]
struct Families(BTreeMap<String, Vec<MetricSample>>);

impl Families {
    fn group(samples: &[MetricSample]) -> Self {
        let mut families: BTreeMap<String, Vec<MetricSample>> = BTreeMap::new();
        for sample in samples {
            let family = families.entry(sample.name.clone()).or_default();
            let same_kind = family.first().is_none_or(|first| first.kind == sample.kind);
            // A series twice (same node and labels) would make the page invalid.
            let duplicate = family.iter().any(|s| s.node == sample.node && s.labels == sample.labels);
            if same_kind && !duplicate {
                family.push(sample.clone());
            }
        }
        Self(families)
    }
}

struct Series<'a>(&'a MetricSample);

impl EncodeMetric for Series<'_> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let sample = self.0;
        match sample.kind {
            MetricKind::Counter => encoder.encode_counter::<NoLabelSet, _, f64>(&sample.value.max(0.0), None),
            MetricKind::Gauge => encoder.encode_gauge(&sample.value),
            MetricKind::Histogram => {
                let mut buckets: Vec<(f64, u64)> = sample
                    .bucket_bounds
                    .iter()
                    .copied()
                    .chain(std::iter::once(f64::MAX))
                    .zip(sample.bucket_counts.iter().map(|c| (*c).max(0) as u64))
                    .collect();
                buckets.truncate(sample.bucket_bounds.len() + 1);
                encoder.encode_histogram::<NoLabelSet>(sample.sum, sample.count.max(0) as u64, &buckets, None)
            }
        }
    }

    fn metric_type(&self) -> MetricType {
        match self.0.kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
            MetricKind::Histogram => MetricType::Histogram,
        }
    }
}

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, series) in &self.0 {
            let Some(first) = series.first() else { continue };
            let kind = Series(first).metric_type();
            let mut family = encoder.encode_descriptor(name, &first.help, None, kind)?;
            for sample in series {
                let labels: Vec<(String, String)> = std::iter::once(("node".to_owned(), sample.node.clone()))
                    .chain(sample.labels.iter().cloned())
                    .collect();
                Series(sample).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopfloor_node::metrics::{Histogram, Snapshot};

    #[test]
    fn series_of_several_nodes_share_one_family_with_a_node_label() {
        let latency = Histogram::new(&[0.5, 1.0]);
        latency.observe(0.2);
        latency.observe(3.0);
        let mut slm = Snapshot::new("slm");
        slm.counter("shopfloor_questions", "Questions", &[("outcome", "answered")], 4).histogram(
            "shopfloor_answer_latency_seconds",
            "Latency",
            &[],
            &latency,
        );
        let mut source = Snapshot::new("mqtt-source");
        source.counter("shopfloor_questions", "Questions", &[("outcome", "received")], 5);
        let samples: Vec<_> = slm.finish().into_iter().chain(source.finish()).collect();
        samples.iter().for_each(|s| check(s).unwrap());
        let page = render(&samples);
        assert_eq!(page.matches("# TYPE shopfloor_questions counter").count(), 1, "{page}");
        assert!(page.contains(r#"shopfloor_questions_total{node="slm",outcome="answered"} 4"#), "{page}");
        assert!(page.contains(r#"shopfloor_questions_total{node="mqtt-source",outcome="received"} 5"#), "{page}");
        assert!(
            page.contains(r#"shopfloor_answer_latency_seconds_bucket{le="+Inf",node="slm"} 2"#)
                || page.contains(r#"shopfloor_answer_latency_seconds_bucket{node="slm",le="+Inf"} 2"#),
            "{page}"
        );
        assert!(page.ends_with("# EOF\n"), "{page}");
    }

    #[test]
    fn a_repeated_series_is_written_once() {
        let mut snapshot = Snapshot::new("slm");
        snapshot.gauge("g", "h", &[("a", "1")], 1.0).gauge("g", "h", &[("a", "1")], 2.0).counter(
            "g",
            "h",
            &[("a", "2")],
            1,
        );
        let page = render(&snapshot.finish());
        assert_eq!(page.matches("g{").count(), 1, "{page}");
    }

    #[test]
    fn bad_names_and_labels_are_refused() {
        let mut snapshot = Snapshot::new("x");
        snapshot
            .counter("1bad", "h", &[], 1)
            .counter("requests_total", "h", &[], 1)
            .gauge("ok", "h", &[("node", "y")], 1.0)
            .gauge("ok", "h", &[("bad-label", "y")], 1.0);
        let errors: Vec<SampleError> = snapshot.finish().iter().filter_map(|s| check(s).err()).collect();
        assert_eq!(
            errors,
            [
                SampleError::Name,
                SampleError::Name,
                SampleError::Label { position: 0 },
                SampleError::Label { position: 0 }
            ]
        );
    }
}
