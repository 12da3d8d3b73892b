//! Benchmark helper node (`shopfloor-bench readings-counter`): counts the readings it
//! receives and, at stop, writes to `COUNTER_OUT` how many, when the first and
//! last arrived, and the latency from each reading's source timestamp (set by
//! the publisher) to its arrival here as Arrow, with the arrival time and size
//! of every batch. With `COUNTER_SEQUENCE=true` each tag's numeric value is a
//! sequence number, and skipped numbers are counted as lost. Used by
//! `shopfloor-bench mqtt-ingest` and `shopfloor-bench opcua-ingest`.

use std::collections::HashMap;

use dora_node_api::{DoraNode, Event};
use shopfloor_core::schema::{Reading, ReadingValue};
use shopfloor_node::clock::now_ms;

pub fn run() -> anyhow::Result<()> {
    let out = std::env::var("COUNTER_OUT").map_err(|_| anyhow::anyhow!("COUNTER_OUT is not set"))?;
    let check_sequence = std::env::var("COUNTER_SEQUENCE").is_ok_and(|v| v == "true");
    let (_node, mut events) = DoraNode::init_from_env()?;
    let mut last_by_tag: HashMap<String, f64> = HashMap::new();
    let (mut lost, mut arrivals) = (0u64, Vec::new());
    let (mut count, mut batches, mut first_ms, mut last_ms) = (0u64, 0u64, None, 0i64);
    let mut latencies = Vec::new();
    while let Some(event) = events.recv() {
        match event {
            Event::Input { data, .. } => {
                let now = now_ms();
                let readings = Reading::from_arrow(data.as_array().as_ref())?;
                batches += 1;
                count += readings.len() as u64;
                first_ms.get_or_insert(now);
                last_ms = now;
                latencies.extend(readings.iter().filter_map(|r| r.source_ts_ms.map(|ts| now - ts)));
                arrivals.push((now, readings.len()));
                if check_sequence {
                    for reading in &readings {
                        let ReadingValue::Number(value) = reading.value else { continue };
                        if let Some(last) = last_by_tag.insert(reading.tag.clone(), value) {
                            lost += (value - last - 1.0).max(0.0) as u64;
                        }
                    }
                }
            }
            Event::Stop(_) => break,
            _ => {}
        }
    }
    let latencies: Vec<f64> = latencies.iter().map(|&ms| ms as f64).collect();
    let percentile = |p: f64| shopfloor_node::stats::percentile(&latencies, p);
    let summary = serde_json::json!({
        "count": count, "batches": batches, "first_ms": first_ms, "last_ms": last_ms,
        "latency_p50_ms": percentile(0.5), "latency_p95_ms": percentile(0.95),
        "lost": lost, "arrivals": arrivals,
    });
    std::fs::write(out, summary.to_string())?;
    Ok(())
}
