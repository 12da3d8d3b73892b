//! Benchmark node (`shopfloor-bench latency-probe`) of `dataflows/bench-distributed.yml`:
//! takes the wall-clock time of each `readings` and `frames` message as it
//! arrives, less the send time the source stamped on it, then checks the
//! message (a full batch of readings; a frame whose bytes fit its metadata).
//! When both inputs have closed (the source exited) it writes, per kind, the
//! messages received, those that failed the check and every latency, to
//! `$BENCH_OUT_DIR/<node id>.json`.

use dora_node_api::{DoraNode, Event, Metadata};
use shopfloor_core::schema::{frame_bytes, FrameMeta, Reading};

use shopfloor_bench::latency_common::{now_ns, out_path, sent_ns, write_json, READINGS_PER_BATCH};

const READINGS_INPUT: &str = "readings";
const FRAMES_INPUT: &str = "frames";

/// What arrived on one input.
#[derive(Default)]
struct Received {
    messages: u64,
    /// Messages without a send time or whose data failed the check.
    malformed: u64,
    latencies_ns: Vec<i64>,
    /// Readings in all batches (readings only).
    rows: u64,
    closed: bool,
}

impl Received {
    fn arrived(&mut self, received_ns: i64, metadata: &Metadata) {
        self.messages += 1;
        match sent_ns(&metadata.parameters) {
            Some(sent) => self.latencies_ns.push(received_ns - sent),
            None => self.malformed += 1,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "messages": self.messages, "malformed": self.malformed, "rows": self.rows,
            "latencies_ns": self.latencies_ns,
        })
    }
}

pub fn run() -> anyhow::Result<()> {
    let (node, mut events) = DoraNode::init_from_env()?;
    let out = out_path(node.id().as_ref())?;
    let (mut readings, mut frames) = (Received::default(), Received::default());
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, metadata, data } => {
                // First the clock, then the work a real consumer does.
                let now = now_ns();
                match id.as_str() {
                    READINGS_INPUT => {
                        readings.arrived(now, &metadata);
                        match Reading::from_arrow(data.as_array().as_ref()) {
                            Ok(batch) if batch.len() == READINGS_PER_BATCH => readings.rows += batch.len() as u64,
                            _ => readings.malformed += 1,
                        }
                    }
                    FRAMES_INPUT => {
                        frames.arrived(now, &metadata);
                        let fits = FrameMeta::from_parameters(&metadata.parameters)
                            .and_then(|meta| frame_bytes(data.as_array().as_ref()).and_then(|b| meta.check_len(b)));
                        if fits.is_err() {
                            frames.malformed += 1;
                        }
                    }
                    other => anyhow::bail!("unexpected input {other}"),
                }
            }
            Event::InputClosed { id } => {
                match id.as_str() {
                    READINGS_INPUT => readings.closed = true,
                    FRAMES_INPUT => frames.closed = true,
                    _ => {}
                }
                if readings.closed && frames.closed {
                    break;
                }
            }
            Event::Stop(_) => break,
            _ => {}
        }
    }
    let summary = serde_json::json!({
        "readings": readings.to_json(),
        "frames": frames.to_json(),
        "inputs_closed": readings.closed && frames.closed,
    });
    write_json(&out, &summary)?;
    Ok(())
}
