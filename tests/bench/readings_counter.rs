//! Benchmark helper node (`bench-readings-counter`): counts the readings it
//! receives and, at stop, writes to `COUNTER_OUT` how many, when the first and
//! last arrived, and the latency from each reading's source timestamp (set by
//! the publisher) to its arrival here as Arrow. Used by `bench-mqtt-ingest`.

use dora_node_api::{DoraNode, Event};
use shopfloor_core::clock::now_ms;
use shopfloor_core::schema::Reading;

fn main() -> anyhow::Result<()> {
    let out = std::env::var("COUNTER_OUT").map_err(|_| anyhow::anyhow!("COUNTER_OUT is not set"))?;
    let (_node, mut events) = DoraNode::init_from_env()?;
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
            }
            Event::Stop(_) => break,
            _ => {}
        }
    }
    latencies.sort_unstable();
    let percentile = |p: f64| latencies.get(((latencies.len() as f64 - 1.0) * p).round() as usize).copied();
    let summary = serde_json::json!({
        "count": count, "batches": batches, "first_ms": first_ms, "last_ms": last_ms,
        "latency_p50_ms": percentile(0.5), "latency_p95_ms": percentile(0.95),
    });
    std::fs::write(out, summary.to_string())?;
    Ok(())
}
