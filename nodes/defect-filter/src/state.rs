//! The node's logic as plain state: a frame in, scored against the learned
//! good parts; a flagged one out to stage 2 (or alerted here when stage 2
//! is away), a bad one refused by reason. No dora, no clock: [`FilterNode`]
//! implements [`NodeLogic`].

use std::time::{Duration, Instant};

use dora_node_api::arrow_v59::array::Array;
use dora_node_api::MetadataParameters;
use shopfloor_core::schema::{frame_bytes, Alert, FrameError, FrameMeta, Inspection, Region};
use shopfloor_node::metrics::{Histogram, Snapshot};
use shopfloor_node::{Emit, NodeLogic, Rejected};

use crate::confirmation::Confirmations;
use crate::decode::to_rgb;
use crate::{FilterError, FrameView, GoodModel, Unusable, Workspace};

pub const FRAMES_INPUT: &str = "frames";
/// Stage 2's alerts (optional): its verdicts on the flagged frames.
pub const VERDICTS_INPUT: &str = "verdicts";
/// Any message shows stage 2 is alive (optional; its metrics).
pub const VLM_ALIVE_INPUT: &str = "vlm_alive";
/// Flagged frames, to stage 2.
pub const INSPECTIONS_OUTPUT: &str = "inspections";
/// The filter's own alerts: flagged frames stage 2 did not judge.
pub const ALERTS_OUTPUT: &str = "alerts";

/// How often overdue verdicts are looked for when no event comes.
const CONFIRM_CHECK: Duration = Duration::from_millis(100);

/// How long to wait for stage 2, and when to call it gone.
#[derive(Debug, Clone, Copy)]
pub struct ConfirmSettings {
    pub timeout: Duration,
    /// Stage 2 is gone after this long without a sign of life.
    pub stale_after: Duration,
}

/// Which of the optional inputs the dataflow wires.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wiring {
    /// `verdicts`: flagged frames wait for stage 2's verdict.
    pub verdicts: bool,
    /// `vlm_alive`: stage 2's liveness is watched (else it counts as alive
    /// and only the timeout applies).
    pub vlm_alive: bool,
}

#[derive(Debug)]
pub struct Counts {
    pub frames: u64,
    pub flagged: u64,
    /// Decode and score time per frame, seconds.
    pub score_seconds: Histogram,
    pub last_score: f32,
    /// Flagged frames alerted here, unconfirmed by stage 2.
    pub unconfirmed: u64,
    /// Flagged frames stage 2 gave its verdict on.
    pub confirmed: u64,
    pub awaiting_verdict: usize,
    /// Frames that could not be judged, by [`Unusable::reason`].
    pub unusable: std::collections::BTreeMap<&'static str, u64>,
}

impl Default for Counts {
    fn default() -> Self {
        Self {
            frames: 0,
            flagged: 0,
            score_seconds: Histogram::new(&[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]),
            last_score: 0.0,
            unconfirmed: 0,
            confirmed: 0,
            awaiting_verdict: 0,
            unusable: std::collections::BTreeMap::new(),
        }
    }
}

/// Why a frame was not scored: a bad frame, or a frame the model cannot take.
fn reason_of(error: &FilterError) -> &'static str {
    match error {
        FilterError::SizeMismatch { .. } => "wrong_size",
        FilterError::BufferSize { .. } => "wrong_length",
        _ => "filter_error",
    }
}

/// Why a frame was refused.
#[derive(Debug, thiserror::Error)]
pub enum FrameRefused {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Filter(#[from] FilterError),
}

impl FrameRefused {
    /// The label rejections are counted by.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameRefused::Frame(error) => error.reason(),
            FrameRefused::Filter(error) => reason_of(error),
        }
    }
}

/// What scoring one frame message found.
#[derive(Debug)]
pub struct Inspected {
    pub score: f32,
    /// Why the frame could not be judged (neither passed nor flagged).
    pub unusable: Option<Unusable>,
    /// The inspection of a flagged frame.
    pub flagged: Option<Inspection>,
}

/// Scores one frame message: its score, whether it could be judged, and
/// the inspection when it is flagged.
pub fn inspect(
    model: &GoodModel,
    workspace: &mut Workspace,
    parameters: &MetadataParameters,
    data: &dyn Array,
) -> Result<Inspected, FrameRefused> {
    let meta = FrameMeta::from_parameters(parameters)?;
    let bytes = frame_bytes(data)?;
    let (width, height) = model.frame_size();
    if (meta.width, meta.height) != (width, height) {
        return Err(FrameError::UnexpectedSize {
            width: meta.width,
            height: meta.height,
            expected_width: width,
            expected_height: height,
        }
        .into());
    }
    let rgb = to_rgb(&meta, bytes)?;
    let score = model.score_with(&FrameView::rgb8(meta.width, meta.height, &rgb), workspace)?;
    if !score.flagged {
        return Ok(Inspected { score: score.score, unusable: score.unusable, flagged: None });
    }
    let regions = score
        .boxes
        .iter()
        .map(|b| Region { x: b.x, y: b.y, width: b.width, height: b.height, score: b.score })
        .collect();
    Ok(Inspected {
        score: score.score,
        unusable: None,
        flagged: Some(Inspection {
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
    })
}

/// The learned model, the flagged frames waiting for stage 2, the counts.
pub struct FilterNode {
    model: GoodModel,
    workspace: Workspace,
    source: String,
    confirmations: Option<Confirmations>,
    watches_vlm: bool,
    counts: Counts,
}

impl FilterNode {
    /// `source` names the filter's own alerts' origin (the node's id).
    pub fn new(model: GoodModel, source: &str, confirm: ConfirmSettings, wiring: Wiring, now_ms: i64) -> Self {
        let confirmations = wiring.verdicts.then(|| Confirmations::new(confirm.timeout, confirm.stale_after, now_ms));
        Self {
            model,
            workspace: Workspace::default(),
            source: source.to_owned(),
            confirmations,
            watches_vlm: wiring.vlm_alive,
            counts: Counts::default(),
        }
    }

    pub fn model(&self) -> &GoodModel {
        &self.model
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    fn take_frame(
        &mut self,
        parameters: &MetadataParameters,
        data: &dyn Array,
        now_ms: i64,
    ) -> Result<Vec<Emit>, Rejected> {
        // The score time is the node's own work, measured, not decided: no
        // clock the tests would need to control.
        let started = Instant::now();
        let Inspected { score, unusable, flagged } = inspect(&self.model, &mut self.workspace, parameters, data)
            .map_err(|refused| Rejected::new(refused.reason(), refused))?;
        self.counts.frames += 1;
        self.counts.last_score = score;
        self.counts.score_seconds.observe(started.elapsed().as_secs_f64());
        if let Some(unusable) = unusable {
            let count = self.counts.unusable.entry(unusable.reason()).or_default();
            *count += 1;
            // The first of a run is worth a line; a camera out of focus would
            // otherwise write one per frame.
            if *count == 1 || count.is_power_of_two() {
                tracing::warn!(?unusable, count = *count, "frame cannot be judged; not inspected");
            }
        }
        let Some(inspection) = flagged else { return Ok(Vec::new()) };
        self.counts.flagged += 1;
        tracing::info!(frame = %inspection.frame_id, score, regions = inspection.regions.len(), "frame flagged");
        let alert = self.confirmations.as_mut().and_then(|c| c.flagged(&inspection, &self.source, now_ms));
        self.sync_counts();
        Ok(vec![match alert {
            Some(alert) => {
                tracing::warn!(frame = %inspection.frame_id, "stage 2 unreachable: alerting unconfirmed");
                Emit::new(ALERTS_OUTPUT, Alert::to_arrow(&[alert]))
            }
            None => Emit::new(INSPECTIONS_OUTPUT, Inspection::to_arrow(&[inspection])),
        }])
    }

    fn sync_counts(&mut self) {
        if let Some(c) = &self.confirmations {
            (self.counts.unconfirmed, self.counts.confirmed, self.counts.awaiting_verdict) =
                (c.unconfirmed, c.confirmed, c.waiting());
        }
    }

    fn alerts(&mut self, alerts: Vec<Alert>) -> Vec<Emit> {
        self.sync_counts();
        if alerts.is_empty() {
            return Vec::new();
        }
        for alert in &alerts {
            tracing::warn!(alert = %alert.id, verdict = ?alert.verdict, "stage-1 alert, unconfirmed");
        }
        vec![Emit::new(ALERTS_OUTPUT, Alert::to_arrow(&alerts))]
    }
}

impl NodeLogic for FilterNode {
    fn on_input(
        &mut self,
        input: &str,
        data: &dyn Array,
        parameters: &MetadataParameters,
        now_ms: i64,
    ) -> Result<Vec<Emit>, Rejected> {
        match input {
            FRAMES_INPUT => self.take_frame(parameters, data, now_ms),
            VERDICTS_INPUT => {
                let alerts = Alert::from_arrow(data).map_err(|error| Rejected::new("bad_verdict", error))?;
                if let Some(confirmations) = self.confirmations.as_mut() {
                    for frame in alerts.iter().filter_map(|a| a.frame_id.as_deref()) {
                        confirmations.verdict(frame, now_ms);
                    }
                }
                self.sync_counts();
                Ok(Vec::new())
            }
            VLM_ALIVE_INPUT => {
                if let Some(confirmations) = self.confirmations.as_mut() {
                    confirmations.vlm_alive(now_ms);
                }
                Ok(Vec::new())
            }
            other => Err(Rejected::unknown_input(other)),
        }
    }

    fn on_input_closed(&mut self, input: &str, now_ms: i64) -> Vec<Emit> {
        if input == VLM_ALIVE_INPUT {
            tracing::warn!("stage 2's liveness input closed: flagged frames are alerted unconfirmed until it is back");
            if let Some(confirmations) = self.confirmations.as_mut() {
                confirmations.vlm_gone(now_ms);
            }
        }
        Vec::new()
    }

    fn on_input_recovered(&mut self, input: &str, now_ms: i64) -> Vec<Emit> {
        if input == VLM_ALIVE_INPUT {
            tracing::info!("stage 2 is back");
            if let Some(confirmations) = self.confirmations.as_mut() {
                confirmations.vlm_alive(now_ms);
            }
        }
        Vec::new()
    }

    /// With verdicts wired, overdue ones are looked for after every event
    /// and at least this often.
    fn wake_interval(&self) -> Option<Duration> {
        self.confirmations.is_some().then_some(CONFIRM_CHECK)
    }

    fn on_wake(&mut self, now_ms: i64) -> Vec<Emit> {
        let Some(confirmations) = self.confirmations.as_mut() else { return Vec::new() };
        if !self.watches_vlm {
            confirmations.vlm_alive(now_ms);
        }
        let due = confirmations.due(now_ms);
        self.alerts(due)
    }

    /// Every frame still waiting for a verdict gets its alert.
    fn on_stop(&mut self, _now_ms: i64) -> Vec<Emit> {
        let waiting = self.confirmations.as_mut().map(Confirmations::drain).unwrap_or_default();
        self.alerts(waiting)
    }

    fn metrics(&self, snapshot: &mut Snapshot) {
        let counts = &self.counts;
        snapshot.counter("shopfloor_filter_frames", "Frames scored", &[], counts.frames);
        snapshot.counter("shopfloor_filter_flagged", "Frames flagged for stage 2", &[], counts.flagged);
        for (reason, count) in &counts.unusable {
            snapshot.counter(
                "shopfloor_filter_unusable_frames",
                "Frames too blurred, dark or bright to judge, by reason",
                &[("reason", reason)],
                *count,
            );
        }
        snapshot.counter(
            "shopfloor_filter_unconfirmed_alerts",
            "Flagged frames alerted by the filter itself, without stage 2's verdict",
            &[],
            counts.unconfirmed,
        );
        snapshot.counter(
            "shopfloor_filter_confirmed",
            "Flagged frames stage 2 gave its verdict on",
            &[],
            counts.confirmed,
        );
        snapshot.gauge(
            "shopfloor_filter_awaiting_verdict",
            "Flagged frames waiting for stage 2's verdict",
            &[],
            counts.awaiting_verdict as f64,
        );
        snapshot.gauge(
            "shopfloor_filter_last_score",
            "Anomaly score of the last frame",
            &[],
            f64::from(counts.last_score),
        );
        snapshot.gauge(
            "shopfloor_filter_threshold",
            "Score above which frames are flagged",
            &[],
            f64::from(self.model.threshold()),
        );
        snapshot.histogram(
            "shopfloor_filter_score_seconds",
            "Decode and score time per frame",
            &[],
            &counts.score_seconds,
        );
    }
}

#[cfg(test)]
mod tests {
    use part_images::{render, sample_set, DefectKind, PartSpec};
    use shopfloor_core::schema::{frame_to_arrow, FrameEncoding, Severity};

    use super::*;
    use crate::FilterSettings;

    const W: u32 = 320;
    const H: u32 = 240;

    fn model() -> GoodModel {
        let images: Vec<Vec<u8>> =
            sample_set(1, 16, 0, W, H).iter().map(|spec| render(spec).unwrap().image.into_raw()).collect();
        let frames: Vec<FrameView> = images.iter().map(|p| FrameView::rgb8(W, H, p)).collect();
        GoodModel::learn(&frames, &FilterSettings::default()).unwrap()
    }

    fn meta(frame_id: &str, width: u32, height: u32) -> MetadataParameters {
        FrameMeta {
            frame_id: frame_id.into(),
            ts_ms: 1_764_000_000_000,
            station: "station3".into(),
            line: "line1".into(),
            width,
            height,
            encoding: FrameEncoding::Rgb8,
        }
        .to_parameters()
    }

    fn pixels(spec: &PartSpec) -> Vec<u8> {
        render(spec).unwrap().image.into_raw()
    }

    fn confirm() -> ConfirmSettings {
        ConfirmSettings { timeout: Duration::from_millis(500), stale_after: Duration::from_millis(3000) }
    }

    #[test]
    fn a_defect_goes_to_stage_two_a_good_part_passes_and_a_bad_frame_is_refused_by_reason() {
        let mut node = FilterNode::new(model(), "defect-filter", confirm(), Wiring::default(), 0);
        let dent = frame_to_arrow(pixels(&PartSpec::defective(403, W, H, DefectKind::Dent)));
        let emits = node.on_input(FRAMES_INPUT, dent.as_ref(), &meta("f-dent", W, H), 0).unwrap();
        assert_eq!(emits.len(), 1);
        assert_eq!(emits[0].output, INSPECTIONS_OUTPUT);
        let inspection = &Inspection::from_arrow(emits[0].data.as_ref()).unwrap()[0];
        assert_eq!((inspection.frame_id.as_str(), inspection.rgb.len()), ("f-dent", (W * H * 3) as usize));
        assert!(!inspection.regions.is_empty());

        let good = frame_to_arrow(pixels(&PartSpec::good(400, W, H)));
        assert!(node.on_input(FRAMES_INPUT, good.as_ref(), &meta("f-good", W, H), 0).unwrap().is_empty());

        let short = frame_to_arrow(vec![0; 10]);
        let refused = node.on_input(FRAMES_INPUT, short.as_ref(), &meta("f-short", W, H), 0).unwrap_err();
        assert_eq!(refused.reason, "wrong_length");
        let small = frame_to_arrow(vec![0; (W * H * 3 / 4) as usize]);
        let refused = node.on_input(FRAMES_INPUT, small.as_ref(), &meta("f-small", W / 2, H / 2), 0).unwrap_err();
        assert_eq!(refused.reason, "wrong_size");
        let refused = node.on_input("frame", good.as_ref(), &meta("f", W, H), 0).unwrap_err();
        assert_eq!(refused.reason, "unknown_input");
        assert_eq!((node.counts().frames, node.counts().flagged), (2, 1));
        assert!(node.wake_interval().is_none(), "nothing to wait for without verdicts wired");
    }

    #[test]
    fn a_flagged_frame_without_a_verdict_in_time_is_alerted_unconfirmed() {
        let wiring = Wiring { verdicts: true, vlm_alive: false };
        let mut node = FilterNode::new(model(), "defect-filter", confirm(), wiring, 0);
        assert!(node.wake_interval().is_some());
        for (frame, seed) in [("f-1", 10), ("f-2", 11)] {
            let data = frame_to_arrow(pixels(&PartSpec::defective(seed, W, H, DefectKind::Scratch)));
            let emits = node.on_input(FRAMES_INPUT, data.as_ref(), &meta(frame, W, H), 100).unwrap();
            assert_eq!(emits[0].output, INSPECTIONS_OUTPUT, "stage 2 is alive at first");
        }
        // Stage 2 judged f-1 in time; f-2 never comes back.
        let mut verdict = Alert::new("alert-f-1", 1, "station3", Severity::Warning, "scratch", "m", "vlm-inspector");
        verdict.frame_id = Some("f-1".into());
        node.on_input(VERDICTS_INPUT, Alert::to_arrow(&[verdict]).as_ref(), &MetadataParameters::default(), 300)
            .unwrap();
        assert!(node.on_wake(400).is_empty());
        let emits = node.on_wake(700);
        assert_eq!(emits.len(), 1);
        let alerts = Alert::from_arrow(emits[0].data.as_ref()).unwrap();
        assert_eq!(alerts[0].frame_id.as_deref(), Some("f-2"));
        assert!(alerts[0].verdict.as_deref().is_some_and(|v| v.starts_with("unconfirmed")), "{alerts:?}");
        assert_eq!((node.counts().confirmed, node.counts().unconfirmed), (1, 1));
        let rejected =
            node.on_input(VERDICTS_INPUT, frame_to_arrow(vec![1]).as_ref(), &MetadataParameters::default(), 800);
        assert_eq!(rejected.unwrap_err().reason, "bad_verdict");
    }

    #[test]
    fn with_stage_two_gone_a_flagged_frame_is_alerted_at_once_and_waiting_ones_at_stop() {
        let wiring = Wiring { verdicts: true, vlm_alive: true };
        let mut node = FilterNode::new(model(), "defect-filter", confirm(), wiring, 0);
        let data = frame_to_arrow(pixels(&PartSpec::defective(12, W, H, DefectKind::Contamination)));
        let sent = node.on_input(FRAMES_INPUT, data.as_ref(), &meta("f-wait", W, H), 10).unwrap();
        assert_eq!(sent[0].output, INSPECTIONS_OUTPUT);
        node.on_input_closed(VLM_ALIVE_INPUT, 20);
        let data = frame_to_arrow(pixels(&PartSpec::defective(13, W, H, DefectKind::Contamination)));
        let emits = node.on_input(FRAMES_INPUT, data.as_ref(), &meta("f-gone", W, H), 30).unwrap();
        assert_eq!(emits[0].output, ALERTS_OUTPUT);
        let last = node.on_stop(40);
        let alerts: Vec<Alert> = last.iter().flat_map(|e| Alert::from_arrow(e.data.as_ref()).unwrap()).collect();
        assert_eq!(alerts.iter().filter_map(|a| a.frame_id.as_deref()).collect::<Vec<_>>(), ["f-wait"]);
    }

    #[test]
    fn the_snapshot_names_the_filters_series() {
        let node = FilterNode::new(model(), "defect-filter", confirm(), Wiring::default(), 0);
        let mut snapshot = Snapshot::new("defect-filter");
        node.metrics(&mut snapshot);
        let names: Vec<String> = snapshot.finish().into_iter().map(|s| s.name).collect();
        for name in ["shopfloor_filter_frames", "shopfloor_filter_threshold", "shopfloor_filter_score_seconds"] {
            assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
        }
    }
}
