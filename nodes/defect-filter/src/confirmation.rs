//! Every flagged frame gets an alert, even when stage 2 is away. In a
//! distributed deployment the vision model runs on another machine; when
//! that machine goes away, the frames this filter flags would get no alert
//! at all. So the filter keeps each flagged frame until the model's verdict
//! on it comes back (input `verdicts`), and raises its own alert, marked
//! unconfirmed, when none comes in time or when the model is known to be
//! gone (its liveness input silent or closed). No I/O here: time is passed
//! in, so tests run instantly.

use std::collections::VecDeque;
use std::time::Duration;

use shopfloor_core::schema::{Alert, Inspection, Severity};

/// The alert kind of the filter's own alerts.
pub const ANOMALY_KIND: &str = "anomaly";
/// How the filter's own alerts start their verdict (`unconfirmed: <why>`).
pub const UNCONFIRMED: &str = "unconfirmed";

/// A flagged frame waiting for the vision model's verdict.
struct Waiting {
    sent_ms: i64,
    alert: Alert,
}

/// Flagged frames waiting for a verdict, and whether the model is reachable.
pub struct Confirmations {
    waiting: VecDeque<Waiting>,
    timeout_ms: i64,
    stale_ms: i64,
    vlm_last_seen_ms: i64,
    /// Alerts raised here, for the metrics.
    pub unconfirmed: u64,
    /// Verdicts that matched a waiting frame.
    pub confirmed: u64,
}

impl Confirmations {
    /// Waits up to `timeout` for a verdict; the model counts as gone after
    /// `stale` without a sign of life. It starts as just seen at `now_ms`,
    /// to give it time to start.
    pub fn new(timeout: Duration, stale: Duration, now_ms: i64) -> Self {
        Self {
            waiting: VecDeque::new(),
            timeout_ms: timeout.as_millis() as i64,
            stale_ms: stale.as_millis() as i64,
            vlm_last_seen_ms: now_ms,
            unconfirmed: 0,
            confirmed: 0,
        }
    }

    /// The model showed life (metrics, a verdict, or dora reopened its input).
    pub fn vlm_alive(&mut self, now_ms: i64) {
        self.vlm_last_seen_ms = self.vlm_last_seen_ms.max(now_ms);
    }

    /// The model's liveness input closed: it is gone until it shows life.
    pub fn vlm_gone(&mut self, now_ms: i64) {
        self.vlm_last_seen_ms = self.vlm_last_seen_ms.min(now_ms - self.stale_ms - 1);
    }

    /// Whether the model is reachable now.
    pub fn vlm_reachable(&self, now_ms: i64) -> bool {
        now_ms - self.vlm_last_seen_ms <= self.stale_ms
    }

    /// Frames waiting for a verdict.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// A frame was flagged. With the model reachable, it waits for the
    /// verdict (None: send the frame to stage 2); else its unconfirmed alert
    /// is returned, to send now instead.
    pub fn flagged(&mut self, inspection: &Inspection, source: &str, now_ms: i64) -> Option<Alert> {
        if !self.vlm_reachable(now_ms) {
            self.unconfirmed += 1;
            return Some(unconfirmed_alert(inspection, source, "vision model unreachable"));
        }
        let alert = unconfirmed_alert(inspection, source, &format!("no verdict within {} ms", self.timeout_ms));
        self.waiting.push_back(Waiting { sent_ms: now_ms, alert });
        None
    }

    /// The model's verdict on `frame_id` came: that frame needs no alert from here.
    pub fn verdict(&mut self, frame_id: &str, now_ms: i64) -> bool {
        self.vlm_alive(now_ms);
        let before = self.waiting.len();
        self.waiting.retain(|w| w.alert.frame_id.as_deref() != Some(frame_id));
        let matched = self.waiting.len() < before;
        self.confirmed += u64::from(matched);
        matched
    }

    /// Alerts now due: frames past the timeout, and every waiting frame
    /// once the model is gone (what was sent to it is lost with it).
    pub fn due(&mut self, now_ms: i64) -> Vec<Alert> {
        let gone = !self.vlm_reachable(now_ms);
        let mut due = Vec::new();
        while let Some(first) = self.waiting.front() {
            if !gone && now_ms - first.sent_ms < self.timeout_ms {
                break;
            }
            let Some(mut waiting) = self.waiting.pop_front() else { break };
            if gone {
                waiting.alert.verdict = Some(format!("{UNCONFIRMED}: vision model unreachable"));
                waiting.alert.message =
                    message(waiting.alert.anomaly_score, waiting.alert.regions.len(), "vision model unreachable");
            }
            due.push(waiting.alert);
        }
        self.unconfirmed += due.len() as u64;
        due
    }

    /// At stop: an alert for every frame still waiting (never dropped; if
    /// the verdict also comes, subscribers see both under one alert id).
    pub fn drain(&mut self) -> Vec<Alert> {
        let due: Vec<Alert> = self.waiting.drain(..).map(|w| w.alert).collect();
        self.unconfirmed += due.len() as u64;
        due
    }
}

/// The filter's own alert for a flagged frame: the same id the vision
/// model's alert would have (`alert-<frame id>`), severity warning, with
/// the stage-1 score and regions, verdict `unconfirmed: <why>`.
pub fn unconfirmed_alert(inspection: &Inspection, source: &str, why: &str) -> Alert {
    Alert {
        confidence: None,
        frame_id: Some(inspection.frame_id.clone()),
        line: (!inspection.line.is_empty()).then(|| inspection.line.clone()),
        anomaly_score: Some(inspection.score),
        regions: inspection.regions.clone(),
        verdict: Some(format!("{UNCONFIRMED}: {why}")),
        ..Alert::new(
            format!("alert-{}", inspection.frame_id),
            inspection.ts_ms,
            inspection.station.clone(),
            Severity::Warning,
            ANOMALY_KIND,
            message(Some(inspection.score), inspection.regions.len(), why),
            source,
        )
    }
}

fn message(score: Option<f32>, regions: usize, why: &str) -> String {
    let score = score.map_or_else(String::new, |s| format!(" (score {s:.1})"));
    format!("Stage-1 anomaly{score} in {regions} region(s), not confirmed by the vision model: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopfloor_core::schema::Region;

    fn inspection(frame: &str) -> Inspection {
        Inspection {
            frame_id: frame.into(),
            ts_ms: 1_000,
            station: "station1".into(),
            line: "line1".into(),
            width: 4,
            height: 4,
            score: 12.5,
            threshold: 5.0,
            regions: vec![Region { x: 0, y: 0, width: 2, height: 2, score: 12.5 }],
            rgb: vec![0; 48],
        }
    }

    fn confirmations() -> Confirmations {
        Confirmations::new(Duration::from_secs(10), Duration::from_secs(3), 0)
    }

    #[test]
    fn a_verdict_in_time_means_no_alert_from_the_filter() {
        let mut c = confirmations();
        assert!(c.flagged(&inspection("cam1-000001"), "defect-filter", 1_000).is_none());
        assert_eq!(c.waiting(), 1);
        c.vlm_alive(2_000);
        assert!(c.verdict("cam1-000001", 3_000));
        assert!(c.due(20_000).is_empty());
        assert_eq!((c.confirmed, c.unconfirmed), (1, 0));
    }

    #[test]
    fn no_verdict_in_time_raises_the_unconfirmed_alert() {
        let mut c = confirmations();
        c.flagged(&inspection("cam1-000002"), "defect-filter", 1_000);
        for t in [2_000, 5_000, 8_000, 10_000] {
            c.vlm_alive(t);
        }
        assert!(c.due(10_999).is_empty());
        let alerts = c.due(11_000);
        assert_eq!(alerts.len(), 1);
        let alert = &alerts[0];
        assert_eq!(
            (alert.id.as_str(), alert.severity, alert.kind.as_str()),
            ("alert-cam1-000002", Severity::Warning, ANOMALY_KIND)
        );
        assert_eq!(alert.verdict.as_deref(), Some("unconfirmed: no verdict within 10000 ms"));
        assert_eq!((alert.anomaly_score, alert.regions.len(), alert.line.as_deref()), (Some(12.5), 1, Some("line1")));
        assert!(alert.message.contains("not confirmed"), "{}", alert.message);
    }

    #[test]
    fn with_the_model_gone_frames_are_alerted_at_once_and_waiting_ones_too() {
        let mut c = confirmations();
        c.flagged(&inspection("cam1-000003"), "defect-filter", 2_000);
        // Nothing from the model since t = 0; at 3.5 s it is gone.
        let due = c.due(3_500);
        assert_eq!(due.len(), 1, "the frame sent to it is lost with it");
        assert_eq!(due[0].verdict.as_deref(), Some("unconfirmed: vision model unreachable"));
        let now = c.flagged(&inspection("cam1-000004"), "defect-filter", 4_000);
        assert_eq!(now.map(|a| a.id), Some("alert-cam1-000004".to_owned()));
        assert_eq!(c.unconfirmed, 2);
        // Back: frames wait for its verdict again.
        c.vlm_alive(5_000);
        assert!(c.flagged(&inspection("cam1-000005"), "defect-filter", 5_000).is_none());
    }

    #[test]
    fn a_closed_liveness_input_means_gone_until_life_returns() {
        let mut c = confirmations();
        c.vlm_alive(1_000);
        c.vlm_gone(1_500);
        assert!(!c.vlm_reachable(1_500));
        c.vlm_alive(1_600);
        assert!(c.vlm_reachable(1_600));
    }

    #[test]
    fn at_stop_every_waiting_frame_gets_its_alert() {
        let mut c = confirmations();
        c.flagged(&inspection("a"), "defect-filter", 100);
        c.flagged(&inspection("b"), "defect-filter", 200);
        assert_eq!(c.drain().iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["alert-a", "alert-b"]);
        assert_eq!(c.waiting(), 0);
    }
}
