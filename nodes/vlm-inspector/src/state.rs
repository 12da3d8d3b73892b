//! The node's logic as plain state: flagged frames in, each prepared for
//! the judge (its crop cut out), one alert per frame out, counted. No dora,
//! no files, no clock: the driver stores the crops, runs the judge's thread
//! and hands each outcome back.

use std::collections::BTreeMap;

use dora_node_api::arrow_v59::array::Array;
use dora_node_api::MetadataParameters;
use shopfloor_core::schema::{Accepted, Alert, Inspection};
use shopfloor_node::held::HeldUntilAccepted;
use shopfloor_node::metrics::{Histogram, Snapshot};
use shopfloor_node::{Emit, NodeLogic, Rejected};

use crate::alert::build_alert;
use crate::config::VlmInspectorConfig;
use crate::crop::{crop_rect, crop_rgb, CropError, Rect};
use crate::judge::{Judgement, NotJudged};
use crate::prompt::instruction;
use crate::worker::{Done, Job};
use shopfloor_docs::AlertResponses;

/// Flagged frames from the stage-1 filter.
pub const INSPECTIONS_INPUT: &str = "inspections";
/// One alert per flagged frame.
pub const ALERTS_OUTPUT: &str = "alerts";
/// Alerts sent again because mqtt-sink had not journaled them (wired to the
/// sink only: the console has them from `alerts`).
pub const ALERTS_AGAIN_OUTPUT: &str = "alerts_again";
/// mqtt-sink's acceptances of alerts (its `alerts_accepted`), where wired.
pub const DELIVERED_INPUT: &str = "delivered";
/// How often held alerts are looked at.
pub const DELIVERY_WAKE: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Debug)]
pub struct Counts {
    pub flagged: u64,
    /// Alerts sent, by verdict (`defect`, `no_defect`, `not_judged`).
    pub alerts: BTreeMap<&'static str, u64>,
    /// Frames not judged because the model's queue was full.
    pub busy: u64,
    /// Crops that could not be stored.
    pub crop_errors: u64,
    /// Old crops removed to stay within `VLM_CROPS_KEEP`.
    pub crops_removed: u64,
    /// Judging time, seconds.
    pub judge_seconds: Histogram,
}

impl Default for Counts {
    fn default() -> Self {
        Self {
            flagged: 0,
            alerts: BTreeMap::new(),
            busy: 0,
            crop_errors: 0,
            crops_removed: 0,
            judge_seconds: Histogram::latency(),
        }
    }
}

/// A flagged frame cut up for its crop file and the judge.
#[derive(Debug)]
pub struct Prepared {
    /// The frame, its pixels moved out.
    pub flagged: Inspection,
    pub frame_rgb: Vec<u8>,
    /// Around the flagged regions, plus the margin.
    pub rect: Rect,
    pub crop: Vec<u8>,
}

pub struct InspectorState {
    crop_margin: u32,
    send_crop: bool,
    /// Frames taken from the last input, for the driver to store and judge.
    pending: Vec<Prepared>,
    counts: Counts,
    /// What to do about each defect, from the site's documents.
    responses: Option<AlertResponses>,
    /// Alerts not yet journaled by mqtt-sink, where its acceptances come back.
    delivery: Option<HeldUntilAccepted<Alert>>,
}

impl InspectorState {
    pub fn new(config: &VlmInspectorConfig) -> Self {
        Self {
            crop_margin: config.crop_margin,
            send_crop: config.send_crop,
            pending: Vec::new(),
            counts: Counts::default(),
            responses: None,
            delivery: None,
        }
    }

    /// Holds each alert until mqtt-sink says its outbox has it, sending it
    /// again on [`ALERTS_AGAIN_OUTPUT`] meanwhile (the dataflow wires the
    /// sink's `alerts_accepted` to [`DELIVERED_INPUT`]).
    pub fn with_delivery(mut self) -> Self {
        self.delivery = Some(HeldUntilAccepted::new("alerts", "mqtt-sink"));
        self
    }

    /// Alerts carry their defect-response section from these documents.
    pub fn with_responses(mut self, responses: AlertResponses) -> Self {
        self.responses = Some(responses);
        self
    }

    pub fn responses_mut(&mut self) -> Option<&mut AlertResponses> {
        self.responses.as_mut()
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// The frames taken since the last call, in order.
    pub fn take_pending(&mut self) -> Vec<Prepared> {
        std::mem::take(&mut self.pending)
    }

    /// Cuts the crop out of a flagged frame; the pixels go to the crop and
    /// the judge, the alert needs the rest.
    pub fn prepare(&mut self, mut flagged: Inspection) -> Prepared {
        self.counts.flagged += 1;
        let frame_rgb = std::mem::take(&mut flagged.rgb);
        let rect = crop_rect(&flagged.regions, self.crop_margin, flagged.width, flagged.height);
        let crop = crop_rgb(&frame_rgb, flagged.width, rect);
        Prepared { flagged, frame_rgb, rect, crop }
    }

    /// An old crop was removed to stay within `VLM_CROPS_KEEP`.
    pub fn crop_removed(&mut self) {
        self.counts.crops_removed += 1;
    }

    /// The crop could not be stored: the alert goes out without it.
    pub fn crop_failed(&mut self, error: &CropError) {
        self.counts.crop_errors += 1;
        tracing::warn!(error = %chain(error), "alert goes out without a stored crop");
    }

    /// What the judge is given: the crop or the whole frame, with the
    /// filter's findings in words.
    pub fn job(&self, prepared: Prepared, image_ref: Option<String>) -> Job {
        let Prepared { flagged, frame_rgb, rect, crop } = prepared;
        let (rgb, width, height) =
            if self.send_crop { (crop, rect.width, rect.height) } else { (frame_rgb, flagged.width, flagged.height) };
        Job {
            instruction: instruction(&flagged.regions, flagged.width, flagged.height, self.send_crop),
            flagged,
            rgb,
            width,
            height,
            image_ref,
        }
    }

    /// A frame no judge will see: its alert, `not_judged: <why>`, sent at `now_ms`.
    pub fn not_judged(&mut self, flagged: Inspection, image_ref: Option<String>, why: NotJudged, now_ms: i64) -> Emit {
        if matches!(why, NotJudged::Busy) {
            self.counts.busy += 1;
        }
        self.alert(&Done { flagged, image_ref, judgement: Judgement::NotJudged(why) }, now_ms)
    }

    /// The alert of a frame the judge is done with, sent at `now_ms`.
    pub fn alert(&mut self, done: &Done, now_ms: i64) -> Emit {
        if let Judgement::Judged { latency_ms, .. } = &done.judgement {
            self.counts.judge_seconds.observe(*latency_ms as f64 / 1e3);
        }
        let mut alert = build_alert(&done.flagged, &done.judgement, done.image_ref.clone());
        if let Some(responses) = self.responses.as_mut() {
            responses.attach(std::slice::from_mut(&mut alert));
        }
        let verdict = match &done.judgement {
            Judgement::Judged { verdict, .. } if verdict.defect => "defect",
            Judgement::Judged { .. } => "no_defect",
            Judgement::NotJudged(_) => "not_judged",
        };
        *self.counts.alerts.entry(verdict).or_default() += 1;
        tracing::info!(id = %alert.id, frame = %alert.frame_id.as_deref().unwrap_or(""), severity = alert.severity.as_str(), kind = %alert.kind, verdict, "alert");
        if let Some(delivery) = &mut self.delivery {
            delivery.hold(&alert.id, alert.clone(), now_ms);
        }
        Emit::new(ALERTS_OUTPUT, Alert::to_arrow(std::slice::from_ref(&alert)))
    }
}

/// An error and its causes, as one log line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

impl NodeLogic for InspectorState {
    /// Flagged frames are prepared and kept for the driver, which stores
    /// their crops and queues them for the judge.
    fn on_input(
        &mut self,
        input: &str,
        data: &dyn Array,
        _parameters: &MetadataParameters,
        _now_ms: i64,
    ) -> Result<Vec<Emit>, Rejected> {
        if input == DELIVERED_INPUT {
            let Some(delivery) = &mut self.delivery else { return Err(Rejected::unknown_input(input)) };
            for accepted in Accepted::from_arrow(data).map_err(Rejected::schema)? {
                delivery.accepted(&accepted.id);
            }
            return Ok(Vec::new());
        }
        if input != INSPECTIONS_INPUT {
            return Err(Rejected::unknown_input(input));
        }
        let inspections = Inspection::from_arrow(data).map_err(Rejected::schema)?;
        for inspection in inspections {
            let prepared = self.prepare(inspection);
            self.pending.push(prepared);
        }
        Ok(Vec::new())
    }

    fn wake_interval(&self) -> Option<std::time::Duration> {
        self.delivery.as_ref().map(|_| DELIVERY_WAKE)
    }

    fn on_wake(&mut self, now_ms: i64) -> Vec<Emit> {
        let Some(delivery) = &mut self.delivery else { return Vec::new() };
        let again = delivery.due(now_ms).resend;
        if again.is_empty() {
            Vec::new()
        } else {
            vec![Emit::new(ALERTS_AGAIN_OUTPUT, Alert::to_arrow(&again))]
        }
    }

    fn metrics(&self, snapshot: &mut Snapshot) {
        if let Some(delivery) = &self.delivery {
            delivery.report(snapshot, "shopfloor_vlm_alerts");
        }
        let counts = &self.counts;
        snapshot.counter(
            "shopfloor_vlm_flagged_frames",
            "Flagged frames received from the filter",
            &[],
            counts.flagged,
        );
        for (verdict, count) in &counts.alerts {
            snapshot.counter(
                "shopfloor_vlm_alerts",
                "Alerts sent, by the model's verdict",
                &[("verdict", verdict)],
                *count,
            );
        }
        snapshot.counter(
            "shopfloor_vlm_busy",
            "Flagged frames not judged: the model's queue was full",
            &[],
            counts.busy,
        );
        snapshot.counter("shopfloor_vlm_crop_errors", "Crops that could not be stored", &[], counts.crop_errors);
        snapshot.counter(
            "shopfloor_vlm_crops_removed",
            "Old crops removed to keep at most VLM_CROPS_KEEP",
            &[],
            counts.crops_removed,
        );
        snapshot.histogram("shopfloor_vlm_judge_seconds", "Time the model took per frame", &[], &counts.judge_seconds);
    }
}

#[cfg(test)]
mod tests {
    use shopfloor_core::schema::{Region, Severity};

    use super::*;
    use crate::verdict::Verdict;

    fn config(send_crop: bool) -> VlmInspectorConfig {
        VlmInspectorConfig {
            profile_path: "profile.toml".into(),
            model_path: None,
            mmproj_path: None,
            max_tokens: 160,
            queue_capacity: 2,
            crops_dir: "crops".into(),
            crops_keep: 10_000,
            crop_margin: 2,
            send_crop,
            threads: None,
            docs_dir: None,
            docs_rescan: std::time::Duration::from_secs(5),
        }
    }

    /// A 20x10 frame whose pixel bytes count up, one region at (8, 4).
    fn flagged(frame_id: &str) -> Inspection {
        Inspection {
            frame_id: frame_id.into(),
            ts_ms: 1_764_000_000_000,
            station: "station3".into(),
            line: "line1".into(),
            width: 20,
            height: 10,
            score: 9.0,
            threshold: 4.0,
            regions: vec![Region { x: 8, y: 4, width: 2, height: 2, score: 9.0 }],
            rgb: (0..20 * 10 * 3).map(|i| (i % 251) as u8).collect(),
        }
    }

    fn alerts(emit: &Emit) -> Vec<Alert> {
        assert_eq!(emit.output, ALERTS_OUTPUT);
        Alert::from_arrow(emit.data.as_ref()).unwrap()
    }

    #[test]
    fn a_batch_of_flagged_frames_is_prepared_in_order_with_its_crops() {
        let mut state = InspectorState::new(&config(true));
        let batch = Inspection::to_arrow(&[flagged("f1"), flagged("f2")]);
        let emits = state.on_input(INSPECTIONS_INPUT, batch.as_ref(), &MetadataParameters::default(), 0).unwrap();
        assert!(emits.is_empty(), "alerts wait for the judge");
        let pending = state.take_pending();
        assert_eq!(pending.iter().map(|p| p.flagged.frame_id.as_str()).collect::<Vec<_>>(), ["f1", "f2"]);
        assert_eq!(pending[0].rect, Rect { x: 6, y: 2, width: 6, height: 6 });
        assert_eq!(pending[0].crop.len(), 6 * 6 * 3);
        assert!(pending[0].flagged.rgb.is_empty(), "the pixels moved out");
        assert!(state.take_pending().is_empty());
        assert_eq!(state.counts().flagged, 2);
    }

    #[test]
    fn the_judge_sees_the_crop_or_the_whole_frame() {
        let mut state = InspectorState::new(&config(true));
        let prepared = state.prepare(flagged("f1"));
        let job = state.job(prepared, Some("crops/f1.png".into()));
        assert_eq!((job.width, job.height, job.rgb.len()), (6, 6, 108));
        assert!(job.instruction.contains("flagged"), "{}", job.instruction);
        let mut whole = InspectorState::new(&config(false));
        let prepared = whole.prepare(flagged("f1"));
        let job = whole.job(prepared, None);
        assert_eq!((job.width, job.height, job.rgb.len()), (20, 10, 600));
        assert!(job.instruction.contains("whole frame"), "{}", job.instruction);
    }

    #[test]
    fn every_outcome_is_one_alert_counted_by_verdict() {
        let mut state = InspectorState::new(&config(true));
        let busy = state.not_judged(flagged("f1"), None, NotJudged::Busy, 0);
        assert_eq!(alerts(&busy)[0].verdict.as_deref(), Some("not_judged: busy"));
        let none = state.not_judged(flagged("f2"), Some("crops/f2.png".into()), NotJudged::NoModel, 0);
        let none = &alerts(&none)[0];
        assert_eq!(none.verdict.as_deref(), Some("not_judged: no model configured"));
        assert_eq!(none.image_ref.as_deref(), Some("crops/f2.png"));
        let verdict = Verdict {
            defect: true,
            kind: "dent".into(),
            location: "center".into(),
            severity: Severity::Critical,
            description: String::new(),
        };
        let judged = Judgement::Judged { verdict, confidence: 0.7, model: "tiny".into(), latency_ms: 250 };
        let emit = state.alert(&Done { flagged: flagged("f3"), image_ref: None, judgement: judged }, 0);
        let alert = &alerts(&emit)[0];
        assert_eq!((alert.id.as_str(), alert.kind.as_str(), alert.severity), ("alert-f3", "dent", Severity::Critical));
        assert_eq!(state.counts().busy, 1);
        let by_verdict: Vec<(&str, u64)> = state.counts().alerts.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(by_verdict, [("defect", 1), ("not_judged", 2)]);
    }

    #[test]
    fn a_batch_that_is_not_inspections_is_rejected() {
        let mut state = InspectorState::new(&config(true));
        let alerts = Alert::to_arrow(&[Alert::new("a", 1, "s", Severity::Info, "k", "m", "n")]);
        let rejected = state.on_input(INSPECTIONS_INPUT, alerts.as_ref(), &MetadataParameters::default(), 0);
        assert_eq!(rejected.unwrap_err().reason, "schema");
        let unknown = state.on_input("frames", alerts.as_ref(), &MetadataParameters::default(), 0);
        assert_eq!(unknown.unwrap_err().reason, "unknown_input");
        let mut snapshot = Snapshot::new("vlm-inspector");
        state.metrics(&mut snapshot);
        let names: Vec<String> = snapshot.finish().into_iter().map(|s| s.name).collect();
        assert!(names.iter().any(|n| n == "shopfloor_vlm_judge_seconds"), "{names:?}");
    }

    #[test]
    fn with_the_sinks_acceptances_wired_an_alert_is_sent_again_until_journaled() {
        let mut state = InspectorState::new(&config(true)).with_delivery();
        assert!(state.wake_interval().is_some());
        let sent = state.not_judged(flagged("f1"), None, NotJudged::NoModel, 1_000);
        let alert = alerts(&sent).remove(0);
        assert!(state.on_wake(2_999).is_empty(), "not due yet");
        let again = state.on_wake(3_000);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].output, ALERTS_AGAIN_OUTPUT, "to the sink only, not to the console again");
        assert_eq!(
            Alert::from_arrow(again[0].data.as_ref()).unwrap(),
            std::slice::from_ref(&alert),
            "the same alert, same id"
        );
        let journaled =
            Accepted::to_arrow(&[Accepted { id: alert.id.clone(), origin: shopfloor_core::schema::Origin::Mqtt }]);
        let taken = state.on_input(DELIVERED_INPUT, journaled.as_ref(), &MetadataParameters::default(), 3_100);
        assert!(taken.unwrap().is_empty());
        assert!(state.on_wake(60_000).is_empty(), "journaled: never sent again");
        let mut snapshot = Snapshot::new("vlm-inspector");
        state.metrics(&mut snapshot);
        let resent = snapshot.finish().into_iter().find(|s| s.name == "shopfloor_vlm_alerts_resent");
        assert_eq!(resent.map(|s| s.value), Some(1.0));
        // Without the wiring, the input is unknown and nothing is held.
        let mut plain = InspectorState::new(&config(true));
        assert!(plain.wake_interval().is_none());
        plain.not_judged(flagged("f2"), None, NotJudged::NoModel, 0);
        assert!(plain.on_wake(60_000).is_empty());
        let refused = plain.on_input(DELIVERED_INPUT, journaled.as_ref(), &MetadataParameters::default(), 0);
        assert_eq!(refused.unwrap_err().reason, "unknown_input");
    }
}
