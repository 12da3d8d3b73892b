//! `metric`: one node's counters, gauges and histograms at one moment, one
//! row per series. Every node answers a `metrics_tick` input with its whole
//! snapshot on its `metrics` output; the HTTP gateway serves the latest
//! snapshot of each node at `GET /metrics` (Prometheus text format).
//!
//! Columns: `node` Utf8, `name` Utf8, `kind` Utf8 (`counter`/`gauge`/
//! `histogram`), `help` Utf8, `label_names` List<Utf8>, `label_values`
//! List<Utf8>, `value` Float64, `bucket_bounds` List<Float64>,
//! `bucket_counts` List<Int64>, `sum` Float64, `count` Int64.

use std::sync::Arc;

use super::columns::{build_struct, f64s_in, i64s_in, strings_in, Columns, SchemaError};
use crate::arrow::array::{
    Array, ArrayRef, Float64Array, Float64Builder, Int64Array, Int64Builder, ListBuilder, StringArray, StringBuilder,
};

const MESSAGE: &str = "metric";

/// What a series measures, in Prometheus' terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up (restarts at 0 when the node restarts).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations counted into buckets.
    Histogram,
}

impl MetricKind {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "counter" => Some(MetricKind::Counter),
            "gauge" => Some(MetricKind::Gauge),
            "histogram" => Some(MetricKind::Histogram),
            _ => None,
        }
    }
}

/// One series of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSample {
    /// The dataflow's id of the node that measured it.
    pub node: String,
    /// Metric name without the `_total` a counter gets in the exposition,
    /// e.g. `shopfloor_readings_out`.
    pub name: String,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// One line saying what it counts.
    pub help: String,
    /// Labels other than `node`, e.g. `[("reason", "bad_json")]`.
    pub labels: Vec<(String, String)>,
    /// The counter's or gauge's value (0 for a histogram).
    pub value: f64,
    /// A histogram's bucket upper bounds, ascending, without +Inf.
    pub bucket_bounds: Vec<f64>,
    /// A histogram's observations per bucket (not cumulative), one more than
    /// `bucket_bounds`: the last is the +Inf bucket.
    pub bucket_counts: Vec<i64>,
    /// A histogram's sum of observations.
    pub sum: f64,
    /// A histogram's number of observations.
    pub count: i64,
}

impl MetricSample {
    /// Encodes samples as one struct array.
    pub fn to_arrow(samples: &[MetricSample]) -> ArrayRef {
        let str_col = |f: &dyn Fn(&MetricSample) -> &str| -> ArrayRef {
            Arc::new(samples.iter().map(|s| Some(f(s))).collect::<StringArray>())
        };
        let string_lists = |f: &dyn Fn(&(String, String)) -> &str| -> ArrayRef {
            let mut lists = ListBuilder::new(StringBuilder::new());
            for sample in samples {
                for label in &sample.labels {
                    lists.values().append_value(f(label));
                }
                lists.append(true);
            }
            Arc::new(lists.finish())
        };
        let mut bounds = ListBuilder::new(Float64Builder::new());
        let mut counts = ListBuilder::new(Int64Builder::new());
        for sample in samples {
            bounds.values().append_slice(&sample.bucket_bounds);
            bounds.append(true);
            counts.values().append_slice(&sample.bucket_counts);
            counts.append(true);
        }
        build_struct(vec![
            ("node", str_col(&|s| &s.node), false),
            ("name", str_col(&|s| &s.name), false),
            ("kind", str_col(&|s| s.kind.as_str()), false),
            ("help", str_col(&|s| &s.help), false),
            ("label_names", string_lists(&|(name, _)| name), false),
            ("label_values", string_lists(&|(_, value)| value), false),
            ("value", Arc::new(samples.iter().map(|s| Some(s.value)).collect::<Float64Array>()), false),
            ("bucket_bounds", Arc::new(bounds.finish()), false),
            ("bucket_counts", Arc::new(counts.finish()), false),
            ("sum", Arc::new(samples.iter().map(|s| Some(s.sum)).collect::<Float64Array>()), false),
            ("count", Arc::new(samples.iter().map(|s| Some(s.count)).collect::<Int64Array>()), false),
        ])
    }

    /// Decodes samples; a histogram whose bucket lists do not fit together,
    /// or labels without values, are refused.
    pub fn from_arrow(array: &dyn Array) -> Result<Vec<MetricSample>, SchemaError> {
        let cols = Columns::new(MESSAGE, array)?;
        let node = cols.utf8("node")?;
        let name = cols.utf8("name")?;
        let kind = cols.utf8("kind")?;
        let help = cols.utf8("help")?;
        let label_names = cols.utf8_list("label_names")?;
        let label_values = cols.utf8_list("label_values")?;
        let value = cols.f64("value")?;
        let bounds = cols.f64_list("bucket_bounds")?;
        let counts = cols.i64_list("bucket_counts")?;
        let sum = cols.f64("sum")?;
        let count = cols.i64("count")?;
        (0..cols.len())
            .map(|row| {
                let kind_text = cols.required_str(kind, "kind", row)?;
                let kind = MetricKind::parse(&kind_text).ok_or_else(|| cols.invalid("kind", row, kind_text))?;
                let names = strings_in(label_names, row);
                let values = strings_in(label_values, row);
                if names.len() != values.len() {
                    return Err(cols.invalid(
                        "label_values",
                        row,
                        format!("{} values for {} names", values.len(), names.len()),
                    ));
                }
                let bucket_bounds = f64s_in(bounds, row);
                let bucket_counts = i64s_in(counts, row);
                if kind == MetricKind::Histogram && bucket_counts.len() != bucket_bounds.len() + 1 {
                    return Err(cols.invalid(
                        "bucket_counts",
                        row,
                        format!("{} counts for {} bounds (must be one more)", bucket_counts.len(), bucket_bounds.len()),
                    ));
                }
                let number = |array: &Float64Array, column| {
                    (!array.is_null(row)).then(|| array.value(row)).ok_or_else(|| cols.null(column, row))
                };
                Ok(MetricSample {
                    node: cols.required_str(node, "node", row)?,
                    name: cols.required_str(name, "name", row)?,
                    kind,
                    help: cols.required_str(help, "help", row)?,
                    labels: names.into_iter().zip(values).collect(),
                    value: number(value, "value")?,
                    bucket_bounds,
                    bucket_counts,
                    sum: number(sum, "sum")?,
                    count: (!count.is_null(row)).then(|| count.value(row)).ok_or_else(|| cols.null("count", row))?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> MetricSample {
        MetricSample {
            node: "mqtt-source".into(),
            name: "shopfloor_dead_letters".into(),
            kind: MetricKind::Counter,
            help: "Messages rejected, by reason".into(),
            labels: vec![("reason".into(), "bad_json".into())],
            value: 3.0,
            bucket_bounds: vec![],
            bucket_counts: vec![],
            sum: 0.0,
            count: 0,
        }
    }

    #[test]
    fn samples_survive_a_round_trip() {
        let histogram = MetricSample {
            node: "slm".into(),
            name: "shopfloor_answer_latency_seconds".into(),
            kind: MetricKind::Histogram,
            help: "Question to answer".into(),
            labels: vec![],
            value: 0.0,
            bucket_bounds: vec![0.1, 0.5],
            bucket_counts: vec![1, 2, 0],
            sum: 0.9,
            count: 3,
        };
        let samples = vec![counter(), histogram];
        let decoded = MetricSample::from_arrow(MetricSample::to_arrow(&samples).as_ref()).unwrap();
        assert_eq!(decoded, samples);
    }

    #[test]
    fn a_histogram_without_its_inf_bucket_is_refused() {
        let mut broken = counter();
        broken.kind = MetricKind::Histogram;
        broken.bucket_bounds = vec![1.0];
        broken.bucket_counts = vec![1];
        let err = MetricSample::from_arrow(MetricSample::to_arrow(&[broken]).as_ref()).unwrap_err();
        assert!(err.to_string().contains("bucket_counts"), "{err}");
    }
}
