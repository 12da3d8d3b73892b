//! Benchmark helper node (`shopfloor-bench frames-counter`): receives every
//! frame the camera source sends (backpressure, as the filter does) and the
//! metrics of the camera source and the defect filter; at stop writes to
//! `COUNTER_OUT` each frame's arrival time (host clock, ms) and camera
//! frame id, and the last value of each `shopfloor_camera_*` and
//! `shopfloor_filter_*` metric. Used by `shopfloor-bench gige`, which finds
//! the skipped ids within its measuring window (a camera started again
//! counts from anywhere).

use std::collections::BTreeMap;

use dora_node_api::{DoraNode, Event, Parameter};
use shopfloor_core::schema::MetricSample;
use shopfloor_node::clock::now_ms;

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
