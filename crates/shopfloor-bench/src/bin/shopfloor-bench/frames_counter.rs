//! Benchmark helper node (`shopfloor-bench frames-counter`): receives every
//! frame the camera source sends (backpressure, as the filter does) and the
//! metrics of the camera source and the defect filter; at stop writes to
//! `COUNTER_OUT` each frame's arrival time (host clock, ms) and camera
//! frame id, and the last value of each `shopfloor_camera_*` and
//! `shopfloor_filter_*` metric. Used by `shopfloor-bench gige` and `rtsp`,
//! which read it back with [`Counted`] and find the skipped ids within their
//! measuring window (a camera started again counts from anywhere).

use std::collections::BTreeMap;

use dora_node_api::{DoraNode, Event, Parameter};
use shopfloor_core::schema::MetricSample;
use shopfloor_node::clock::now_ms;

/// What the counting node wrote, read back by the camera benchmarks.
pub struct Counted {
    /// (arrival ms, camera frame id) of every frame received.
    frames: Vec<(i64, Option<i64>)>,
    metrics: serde_json::Value,
}

impl Counted {
    pub fn read(path: &std::path::Path) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        let summary: serde_json::Value = serde_json::from_str(&text)?;
        let frames = summary["arrivals"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| Some((a[0].as_i64()?, a[1].as_i64())))
            .collect();
        Ok(Self { frames, metrics: summary["metrics"].clone() })
    }

    /// The camera frame ids of the frames that arrived in `from_ms..to_ms`.
    pub fn ids_between(&self, from_ms: i64, to_ms: i64) -> Vec<Option<i64>> {
        self.frames.iter().filter(|(ms, _)| (from_ms..to_ms).contains(ms)).map(|(_, id)| *id).collect()
    }

    /// Milliseconds from `ms` to the first frame at or after it.
    pub fn first_after(&self, ms: i64) -> Option<i64> {
        self.frames.iter().map(|(at, _)| *at).find(|at| *at >= ms).map(|at| at - ms)
    }

    /// Milliseconds from the last frame at or before `ms` to `ms`.
    pub fn last_before(&self, ms: i64) -> Option<i64> {
        self.frames.iter().map(|(at, _)| *at).filter(|at| *at <= ms).max().map(|at| ms - at)
    }

    /// A metric's last value (NaN when never seen).
    pub fn metric(&self, name: &str) -> f64 {
        self.metrics[name].as_f64().unwrap_or(f64::NAN)
    }

    /// A metric summed over its labels (`{status=...}`, `{reason=...}`).
    pub fn metric_sum(&self, prefix: &str) -> f64 {
        let values = self.metrics.as_object().into_iter().flatten();
        values.filter(|(name, _)| name.starts_with(prefix)).filter_map(|(_, v)| v.as_f64()).sum::<f64>() + 0.0
    }
}

pub fn run() -> anyhow::Result<()> {
    let out = std::env::var("COUNTER_OUT").map_err(|_| anyhow::anyhow!("COUNTER_OUT is not set"))?;
    let (_node, mut events) = DoraNode::init_from_env()?;
    let mut arrivals: Vec<(i64, Option<i64>)> = Vec::new();
    let mut counters: BTreeMap<String, f64> = BTreeMap::new();
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, metadata, data } if id.as_str() == "frames" => {
                let device_id = match metadata.parameters.get("device_frame_id") {
                    Some(Parameter::Integer(id)) => Some(*id),
                    _ => None,
                };
                arrivals.push((now_ms(), device_id));
                drop(data);
            }
            Event::Input { data, .. } => {
                for sample in MetricSample::from_arrow(data.as_array().as_ref())? {
                    let labels: Vec<String> = sample.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let key = if labels.is_empty() {
                        sample.name
                    } else {
                        format!("{}{{{}}}", sample.name, labels.join(","))
                    };
                    counters.insert(key, sample.value);
                }
            }
            Event::Stop(_) => break,
            _ => {}
        }
    }
    let summary = serde_json::json!({ "arrivals": arrivals, "metrics": counters });
    std::fs::write(out, summary.to_string())?;
    Ok(())
}
