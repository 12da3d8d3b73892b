//! The node's event loop: flagged frames in, one alert per frame out.
//!
//! dora's events and the judge's results meet in one channel, so only this
//! thread touches the dora node; the judge runs on its own thread
//! ([`crate::worker`]).

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

use crate::config::VlmInspectorConfig;
use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters};
use shopfloor_core::schema::{Alert, Inspection, MetricSample};
use shopfloor_node::metrics::{METRICS_OUTPUT, METRICS_TICK_INPUT};

use crate::alert::build_alert;
use crate::crop::{crop_rect, crop_rgb, store_crop};
use crate::judge::{Judge, Judgement};
use crate::metrics::Counts;
use crate::prompt::instruction;
use crate::worker::{Done, Job, Worker};

/// Flagged frames from the stage-1 filter.
pub const INSPECTIONS_INPUT: &str = "inspections";
/// One alert per flagged frame.
pub const ALERTS_OUTPUT: &str = "alerts";

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// dora refused an output.
    #[error("cannot send {output}: {message}")]
    Send {
        /// The output.
        output: &'static str,
        /// dora's reason.
        message: String,
    },
}

enum NodeEvent {
    Dora(Event),
    Judged(Done),
    StreamEnded,
}

/// Runs until dora stops the node; `judge` is `None` when no model is
/// configured (every alert then says `not_judged: no model configured`).
pub fn run(
    config: &VlmInspectorConfig,
    judge: Option<Box<dyn Judge>>,
    node_id: &str,
    mut node: DoraNode,
    mut events: EventStream,
) -> Result<Counts, NodeError> {
    let (tx, rx) = mpsc::channel();
    let forward = tx.clone();
    std::thread::spawn(move || {
        while let Some(event) = events.recv() {
            if forward.send(NodeEvent::Dora(event)).is_err() {
                return;
            }
        }
        let _ = forward.send(NodeEvent::StreamEnded);
    });
    let judged = tx.clone();
    let worker = judge.map(|judge| {
        Worker::start(judge, config.queue_capacity, move |done| {
            let _ = judged.send(NodeEvent::Judged(done));
        })
    });
    drop(tx);
    let mut inspector = Inspector { config, node_id, counts: Counts::default(), node: &mut node };

    for event in rx.iter() {
        match event {
            NodeEvent::Dora(Event::Input { id, data, .. }) => match id.as_str() {
                INSPECTIONS_INPUT => match Inspection::from_arrow(data.as_array().as_ref()) {
                    Ok(inspections) => {
                        for inspection in inspections {
                            inspector.inspect(inspection, worker.as_ref())?;
                        }
                    }
                    Err(error) => inspector.reject("schema", &error.to_string()),
                },
                METRICS_TICK_INPUT => inspector.send_metrics()?,
                other => inspector.reject("unknown_input", other),
            },
            NodeEvent::Dora(Event::Stop(_)) | NodeEvent::StreamEnded => break,
            NodeEvent::Dora(_) => {}
            NodeEvent::Judged(done) => inspector.alert(&done)?,
        }
    }
    // Every frame already queued is judged and alerted before the node ends.
    if let Some(worker) = worker {
        worker.finish();
    }
    for event in rx.try_iter() {
        if let NodeEvent::Judged(done) = event {
            inspector.alert(&done)?;
        }
    }
    inspector.send_metrics()?;
    Ok(inspector.counts)
}

struct Inspector<'a> {
    config: &'a VlmInspectorConfig,
    node_id: &'a str,
    counts: Counts,
    node: &'a mut DoraNode,
}

impl Inspector<'_> {
    fn inspect(&mut self, mut flagged: Inspection, worker: Option<&Worker>) -> Result<(), NodeError> {
        self.counts.flagged += 1;
        // The pixels go to the crop and the judge; the alert needs the rest.
        let frame_rgb = std::mem::take(&mut flagged.rgb);
        let rect = crop_rect(&flagged.regions, self.config.crop_margin, flagged.width, flagged.height);
        let crop = crop_rgb(&frame_rgb, flagged.width, rect);
        let image_ref = match store_crop(&self.config.crops_dir, &flagged.frame_id, crop.clone(), rect) {
            Ok(path) => Some(display_path(path)),
            Err(error) => {
                self.counts.crop_errors += 1;
                tracing::warn!(%error, "alert goes out without a stored crop");
                None
            }
        };
        let Some(worker) = worker else {
            let done = Done { flagged, image_ref, judgement: Judgement::NotJudged("no model configured".into()) };
            return self.alert(&done);
        };
        let (rgb, width, height) = if self.config.send_crop {
            (crop, rect.width, rect.height)
        } else {
            (frame_rgb, flagged.width, flagged.height)
        };
        let job = Job {
            instruction: instruction(&flagged.regions, flagged.width, flagged.height, self.config.send_crop),
            flagged,
            rgb,
            width,
            height,
            image_ref,
        };
        if let Err(job) = worker.submit(job) {
            self.counts.busy += 1;
            let done =
                Done { flagged: job.flagged, image_ref: job.image_ref, judgement: Judgement::NotJudged("busy".into()) };
            self.alert(&done)?;
        }
        Ok(())
    }

    fn alert(&mut self, done: &Done) -> Result<(), NodeError> {
        if let Judgement::Judged { latency_ms, .. } = &done.judgement {
            self.counts.judge_seconds.observe(*latency_ms as f64 / 1e3);
        }
        let alert = build_alert(&done.flagged, &done.judgement, done.image_ref.clone());
        let verdict = match &done.judgement {
            Judgement::Judged { verdict, .. } if verdict.defect => "defect",
            Judgement::Judged { .. } => "no_defect",
            Judgement::NotJudged(_) => "not_judged",
        };
        *self.counts.alerts.entry(verdict).or_default() += 1;
        tracing::info!(frame = %alert.frame_id.as_deref().unwrap_or(""), severity = alert.severity.as_str(), kind = %alert.kind, verdict, "alert");
        self.send(ALERTS_OUTPUT, Alert::to_arrow(std::slice::from_ref(&alert)))
    }

    fn reject(&mut self, reason: &'static str, detail: &str) {
        let count = self.counts.rejected.entry(reason).or_default();
        *count += 1;
        tracing::warn!(reason, detail, rejected = *count, "input refused");
    }

    fn send_metrics(&mut self) -> Result<(), NodeError> {
        let samples = self.counts.snapshot(self.node_id);
        self.send(METRICS_OUTPUT, MetricSample::to_arrow(&samples))
    }

    fn send(&mut self, output: &'static str, data: dora_node_api::arrow_v59::array::ArrayRef) -> Result<(), NodeError> {
        let started = Instant::now();
        self.node
            .send_output(DataId::from(output.to_owned()), MetadataParameters::default(), data)
            .map_err(|e| NodeError::Send { output, message: e.to_string() })?;
        tracing::trace!(output, elapsed_us = started.elapsed().as_micros() as u64, "sent");
        Ok(())
    }
}

/// A path as alerts show it.
fn display_path(path: PathBuf) -> String {
    path.display().to_string()
}
