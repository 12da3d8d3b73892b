//! The dora node around the filter: learn the good parts at start, then
//! score every frame; flagged frames go on to stage 2 as `inspection`
//! messages, bad frames are refused and counted by reason. Where the
//! dataflow wires stage 2's verdicts back (input `verdicts`), a flagged
//! frame without a verdict gets the filter's own alert, marked unconfirmed
//! ([`crate::confirmation`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::config::DefectFilterConfig;
use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters};
use shopfloor_core::schema::{frame_bytes, Alert, FrameError, FrameMeta, Inspection, MetricSample, Region};
use shopfloor_node::clock::now_ms;
use shopfloor_node::image_files::image_files;
use shopfloor_node::metrics::{Histogram, Snapshot, METRICS_OUTPUT, METRICS_TICK_INPUT};

use crate::confirmation::Confirmations;

use crate::decode::{load_rgb, to_rgb};
use crate::{FilterSettings, FrameView, GoodModel, Workspace};

/// Camera frames in.
pub const FRAMES_INPUT: &str = "frames";
/// Flagged frames out.
pub const INSPECTIONS_OUTPUT: &str = "inspections";
/// Stage 2's alerts in (optional): its verdicts on the flagged frames.
pub const VERDICTS_INPUT: &str = "verdicts";
/// Any message shows stage 2 is alive (optional; its metrics).
pub const VLM_ALIVE_INPUT: &str = "vlm_alive";
/// The filter's own alerts out: flagged frames stage 2 did not judge.
pub const ALERTS_OUTPUT: &str = "alerts";

/// How long to wait for stage 2, and when to call it gone.
#[derive(Debug, Clone, Copy)]
pub struct ConfirmSettings {
    /// Wait this long for a verdict.
    pub timeout: Duration,
    /// Stage 2 is gone after this long without a sign of life.
    pub stale_after: Duration,
}

/// Why the node could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A setting the filter refuses (named by its variable).
    #[error("defect-filter: {0}")]
    Settings(String),
    /// The good images could not be read or learned from.
    #[error("cannot learn good parts from {dir}: {message}")]
    Learn {
        /// The folder.
        dir: String,
        /// What failed.
        message: String,
    },
    /// dora refused an output.
    #[error("cannot send {output}: {message}")]
    Send {
        /// The output.
        output: &'static str,
        /// dora's reason.
        message: String,
    },
}

/// The filter's settings: its defaults with the dataflow's overrides; a bad
/// combination is named by the variable that set it.
pub fn settings_from(config: &DefectFilterConfig) -> Result<FilterSettings, NodeError> {
    let mut settings = FilterSettings::default();
    if let Some(cell) = config.cell {
        settings.cell = cell;
    }
    if let Some(margin) = config.margin {
        settings.margin = margin;
    }
    settings.threshold = config.threshold;
    settings.validate().map_err(|invalid| {
        let named: Vec<String> = invalid
            .0
            .iter()
            .map(|p| format!("FILTER_{} = {}: must be {}", p.field.to_ascii_uppercase(), p.value, p.requirement))
            .collect();
        NodeError::Settings(named.join("; "))
    })?;
    Ok(settings)
}

/// Learns the good parts in `config.good_dir`.
pub fn learn(config: &DefectFilterConfig, settings: &FilterSettings) -> Result<GoodModel, NodeError> {
    let dir = config.good_dir.display().to_string();
    let failed = |message: String| NodeError::Learn { dir: dir.clone(), message };
    let files = image_files(&config.good_dir).map_err(|e| failed(e.to_string()))?;
    let images = files.iter().map(|path| load_rgb(path)).collect::<Result<Vec<_>, _>>().map_err(failed)?;
    let views: Vec<FrameView<'_>> = images.iter().map(|(w, h, rgb)| FrameView::rgb8(*w, *h, rgb)).collect();
    GoodModel::learn(&views, settings).map_err(|e| failed(e.to_string()))
}

/// What the node counted.
#[derive(Debug)]
pub struct Counts {
    /// Frames scored.
    pub frames: u64,
    /// Frames flagged.
    pub flagged: u64,
    /// Frames refused, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Decode and score time per frame, seconds.
    pub score_seconds: Histogram,
    /// The last frame's score.
    pub last_score: f32,
    /// Flagged frames alerted here, unconfirmed by stage 2.
    pub unconfirmed: u64,
    /// Flagged frames stage 2 gave its verdict on.
    pub confirmed: u64,
    /// Flagged frames waiting for stage 2's verdict.
    pub awaiting_verdict: usize,
}

impl Default for Counts {
    fn default() -> Self {
        Self {
            frames: 0,
            flagged: 0,
            rejected: BTreeMap::new(),
            score_seconds: Histogram::new(&[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]),
            last_score: 0.0,
            unconfirmed: 0,
            confirmed: 0,
            awaiting_verdict: 0,
        }
    }
}

impl Counts {
    fn snapshot(&self, node: &str, model: &GoodModel) -> Vec<MetricSample> {
        let mut snapshot = Snapshot::new(node);
        snapshot.counter("shopfloor_filter_frames", "Frames scored", &[], self.frames);
        snapshot.counter("shopfloor_filter_flagged", "Frames flagged for stage 2", &[], self.flagged);
        for (reason, count) in &self.rejected {
            snapshot.counter(
                "shopfloor_filter_rejected_frames",
                "Frames refused, by reason",
                &[("reason", reason)],
                *count,
            );
        }
        snapshot.counter(
            "shopfloor_filter_unconfirmed_alerts",
            "Flagged frames alerted by the filter itself, without stage 2's verdict",
            &[],
            self.unconfirmed,
        );
        snapshot.counter(
            "shopfloor_filter_confirmed",
            "Flagged frames stage 2 gave its verdict on",
            &[],
            self.confirmed,
        );
        snapshot.gauge(
            "shopfloor_filter_awaiting_verdict",
            "Flagged frames waiting for stage 2's verdict",
            &[],
            self.awaiting_verdict as f64,
        );
        snapshot.gauge(
            "shopfloor_filter_last_score",
            "Anomaly score of the last frame",
            &[],
            f64::from(self.last_score),
        );
        snapshot.gauge(
            "shopfloor_filter_threshold",
            "Score above which frames are flagged",
            &[],
            f64::from(model.threshold()),
        );
        snapshot.histogram(
            "shopfloor_filter_score_seconds",
            "Decode and score time per frame",
            &[],
            &self.score_seconds,
        );
        snapshot.process_memory();
        snapshot.finish()
    }
}

/// Why a frame was not scored: a bad frame, or a frame the model cannot take.
fn reason_of(error: &crate::FilterError) -> &'static str {
    match error {
        crate::FilterError::SizeMismatch { .. } => "wrong_size",
        crate::FilterError::BufferSize { .. } => "wrong_length",
        _ => "filter_error",
    }
}

/// Scores one frame message; `Some` when it is flagged.
pub fn inspect(
    model: &GoodModel,
    workspace: &mut Workspace,
    parameters: &MetadataParameters,
    data: &dyn dora_node_api::arrow_v59::array::Array,
) -> Result<(f32, Option<Inspection>), (&'static str, String)> {
    let frame_error = |e: FrameError| (e.reason(), e.to_string());
    let meta = FrameMeta::from_parameters(parameters).map_err(frame_error)?;
    let bytes = frame_bytes(data).map_err(frame_error)?;
    let (width, height) = model.frame_size();
    if (meta.width, meta.height) != (width, height) {
        return Err(frame_error(FrameError::UnexpectedSize {
            width: meta.width,
            height: meta.height,
            expected_width: width,
            expected_height: height,
        }));
    }
    let rgb = to_rgb(&meta, bytes).map_err(frame_error)?;
    let score = model
        .score_with(&FrameView::rgb8(meta.width, meta.height, &rgb), workspace)
        .map_err(|e| (reason_of(&e), e.to_string()))?;
    if !score.flagged {
        return Ok((score.score, None));
    }
    let regions = score
        .boxes
        .iter()
        .map(|b| Region { x: b.x, y: b.y, width: b.width, height: b.height, score: b.score })
        .collect();
    Ok((
        score.score,
        Some(Inspection {
            frame_id: meta.frame_id,
            ts_ms: meta.ts_ms,
            station: meta.station,
            line: meta.line,
            width: meta.width,
            height: meta.height,
            score: score.score,
            threshold: score.threshold,
            regions,
            rgb: rgb.into_owned(),
        }),
    ))
}

/// Scores frames until dora stops the node. `confirm`: wait for stage 2's
/// verdicts (when the dataflow wires input `verdicts`).
pub fn run(
    model: &GoodModel,
    node_id: &str,
    confirm: ConfirmSettings,
    mut node: DoraNode,
    mut events: EventStream,
) -> Result<Counts, NodeError> {
    let mut counts = Counts::default();
    let mut workspace = Workspace::default();
    let wired = |name: &str| node.node_config().inputs.keys().any(|input| input.as_str() == name);
    let waits_for_verdicts = wired(VERDICTS_INPUT);
    // Without a liveness input, stage 2 counts as alive and only the timeout applies.
    let watches_vlm = wired(VLM_ALIVE_INPUT);
    let mut confirmations =
        waits_for_verdicts.then(|| Confirmations::new(confirm.timeout, confirm.stale_after, now_ms()));
    if waits_for_verdicts {
        tracing::info!(
            timeout_ms = confirm.timeout.as_millis() as u64,
            "flagged frames without a verdict get the filter's own alert"
        );
    }
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, metadata, data } => match id.as_str() {
                FRAMES_INPUT => {
                    let started = Instant::now();
                    match inspect(model, &mut workspace, &metadata.parameters, data.as_array().as_ref()) {
                        Ok((score, flagged)) => {
                            counts.frames += 1;
                            counts.last_score = score;
                            counts.score_seconds.observe(started.elapsed().as_secs_f64());
                            if let Some(inspection) = flagged {
                                counts.flagged += 1;
                                tracing::info!(frame = %inspection.frame_id, score, regions = inspection.regions.len(), "frame flagged");
                                match confirmations.as_mut().and_then(|c| c.flagged(&inspection, node_id, now_ms())) {
                                    Some(alert) => {
                                        tracing::warn!(frame = %inspection.frame_id, "stage 2 unreachable: alerting unconfirmed");
                                        send(&mut node, ALERTS_OUTPUT, Alert::to_arrow(&[alert]))?;
                                    }
                                    None => send(&mut node, INSPECTIONS_OUTPUT, Inspection::to_arrow(&[inspection]))?,
                                }
                            }
                        }
                        Err((reason, message)) => {
                            let count = counts.rejected.entry(reason).or_default();
                            *count += 1;
                            tracing::warn!(reason, %message, rejected = *count, "frame refused");
                        }
                    }
                }
                VERDICTS_INPUT => match (confirmations.as_mut(), Alert::from_arrow(data.as_array().as_ref())) {
                    (Some(confirmations), Ok(alerts)) => {
                        for frame in alerts.iter().filter_map(|a| a.frame_id.as_deref()) {
                            confirmations.verdict(frame, now_ms());
                        }
                    }
                    (_, Err(error)) => {
                        *counts.rejected.entry("bad_verdict").or_default() += 1;
                        tracing::warn!(%error, "verdict refused");
                    }
                    (None, Ok(_)) => {}
                },
                VLM_ALIVE_INPUT => {
                    if let Some(confirmations) = confirmations.as_mut() {
                        confirmations.vlm_alive(now_ms());
                    }
                }
                METRICS_TICK_INPUT => {
                    sync_counts(&mut counts, confirmations.as_ref());
                    send(&mut node, METRICS_OUTPUT, MetricSample::to_arrow(&counts.snapshot(node_id, model)))?
                }
                other => {
                    *counts.rejected.entry("unknown_input").or_default() += 1;
                    tracing::warn!(input = other, "unknown input (expected `frames` or `metrics_tick`)");
                }
            },
            Event::InputClosed { id } if id.as_str() == VLM_ALIVE_INPUT => {
                tracing::warn!(
                    "stage 2's liveness input closed: flagged frames are alerted unconfirmed until it is back"
                );
                if let Some(confirmations) = confirmations.as_mut() {
                    confirmations.vlm_gone(now_ms());
                }
            }
            Event::InputRecovered { id } if id.as_str() == VLM_ALIVE_INPUT => {
                tracing::info!("stage 2 is back");
                if let Some(confirmations) = confirmations.as_mut() {
                    confirmations.vlm_alive(now_ms());
                }
            }
            Event::Stop(_) => break,
            _ => {}
        }
        // Every event (frames, metrics ticks) also checks for verdicts overdue.
        if let Some(confirmations) = confirmations.as_mut() {
            if !watches_vlm {
                confirmations.vlm_alive(now_ms());
            }
            send_alerts(&mut node, confirmations.due(now_ms()))?;
        }
    }
    if let Some(confirmations) = confirmations.as_mut() {
        send_alerts(&mut node, confirmations.drain())?;
    }
    sync_counts(&mut counts, confirmations.as_ref());
    send(&mut node, METRICS_OUTPUT, MetricSample::to_arrow(&counts.snapshot(node_id, model)))?;
    Ok(counts)
}

fn sync_counts(counts: &mut Counts, confirmations: Option<&Confirmations>) {
    if let Some(c) = confirmations {
        (counts.unconfirmed, counts.confirmed, counts.awaiting_verdict) = (c.unconfirmed, c.confirmed, c.waiting());
    }
}

fn send_alerts(node: &mut DoraNode, alerts: Vec<Alert>) -> Result<(), NodeError> {
    if alerts.is_empty() {
        return Ok(());
    }
    for alert in &alerts {
        tracing::warn!(alert = %alert.id, verdict = ?alert.verdict, "stage-1 alert, unconfirmed");
    }
    send(node, ALERTS_OUTPUT, Alert::to_arrow(&alerts))
}

fn send(
    node: &mut DoraNode,
    output: &'static str,
    data: dora_node_api::arrow_v59::array::ArrayRef,
) -> Result<(), NodeError> {
    node.send_output(DataId::from(output.to_owned()), MetadataParameters::default(), data)
        .map_err(|e| NodeError::Send { output, message: e.to_string() })
}
