//! One alert per flagged frame, whatever stage 2 made of it: the filter's
//! score and regions always, the model's verdict when there is one.

use shopfloor_core::schema::{Alert, Inspection, Severity};

use crate::judge::Judgement;
use crate::prompt::grid_location;

/// The node id alerts name as their source.
pub const SOURCE: &str = "vlm-inspector";

/// Where on the part the filter's strongest region is (3x3 grid).
fn grid(flagged: &Inspection) -> &'static str {
    flagged.regions.first().map_or("center", |r| grid_location(r, flagged.width, flagged.height))
}

/// The alert for a flagged frame (its pixels are not needed and may have
/// been moved out). Ids derive from the frame id, so a replayed recording
/// gives the same ids and subscribers can de-duplicate.
pub fn build_alert(flagged: &Inspection, judgement: &Judgement, image_ref: Option<String>) -> Alert {
    let base = Alert {
        frame_id: Some(flagged.frame_id.clone()),
        line: Some(flagged.line.clone()),
        anomaly_score: Some(flagged.score),
        regions: flagged.regions.clone(),
        image_ref,
        ..Alert::new(
            format!("alert-{}", flagged.frame_id),
            flagged.ts_ms,
            flagged.station.clone(),
            Severity::Warning,
            "anomaly",
            String::new(),
            SOURCE,
        )
    };
    let score = format!("score {:.2} over threshold {:.2}", flagged.score, flagged.threshold);
    match judgement {
        Judgement::Judged { verdict, confidence, model, .. } if verdict.defect => {
            let kind = if verdict.kind == "none" { "other".to_owned() } else { verdict.kind.clone() };
            let location = if verdict.location == "none" { grid(flagged).to_owned() } else { verdict.location.clone() };
            let description = if verdict.description.trim().is_empty() {
                format!("{} at the {location} of the part", kind.replace('_', " "))
            } else {
                verdict.description.trim().to_owned()
            };
            Alert {
                severity: verdict.severity,
                kind,
                message: format!("{description} ({score})"),
                confidence: Some(*confidence),
                model: Some(model.clone()),
                location: Some(location),
                verdict: Some("defect".into()),
                ..base
            }
        }
        Judgement::Judged { verdict, confidence, model, .. } => {
            let mut message = format!("The filter flagged the {} ({score}); the model saw no defect.", grid(flagged));
            if !verdict.description.trim().is_empty() {
                message = format!("{message} {}", verdict.description.trim());
            }
            Alert {
                severity: Severity::Info,
                kind: "no_defect".into(),
                message,
                confidence: Some(*confidence),
                model: Some(model.clone()),
                location: Some(grid(flagged).to_owned()),
                verdict: Some("no_defect".into()),
                ..base
            }
        }
        Judgement::NotJudged(why) => Alert {
            message: format!("Anomaly at the {} of the part ({score}); not judged by the model: {why}.", grid(flagged)),
            location: Some(grid(flagged).to_owned()),
            verdict: Some(format!("not_judged: {why}")),
            ..base
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::NotJudged;
    use crate::verdict::Verdict;
    use shopfloor_core::schema::Region;

    fn flagged() -> Inspection {
        Inspection {
            frame_id: "cam1-000042".into(),
            ts_ms: 1_764_000_000_000,
            station: "station3".into(),
            line: "line1".into(),
            width: 640,
            height: 480,
            score: 9.0,
            threshold: 4.0,
            regions: vec![Region { x: 10, y: 10, width: 40, height: 8, score: 9.0 }],
            rgb: Vec::new(),
        }
    }

    fn judged(defect: bool) -> Judgement {
        Judgement::Judged {
            verdict: Verdict {
                defect,
                kind: if defect { "scratch".into() } else { "none".into() },
                location: "top-left".into(),
                severity: Severity::Critical,
                description: "Long scratch.".into(),
            },
            confidence: 0.8,
            model: "tiny-vlm".into(),
            latency_ms: 120,
        }
    }

    #[test]
    fn a_defect_verdict_sets_severity_kind_and_confidence() {
        let alert = build_alert(&flagged(), &judged(true), Some("crops/cam1-000042.png".into()));
        assert_eq!((alert.severity, alert.kind.as_str()), (Severity::Critical, "scratch"));
        assert_eq!((alert.confidence, alert.verdict.as_deref()), (Some(0.8), Some("defect")));
        assert_eq!(alert.id, "alert-cam1-000042");
        assert_eq!(alert.anomaly_score, Some(9.0));
        assert_eq!(alert.regions.len(), 1);
        assert!(alert.message.starts_with("Long scratch."), "{}", alert.message);
    }

    #[test]
    fn no_flagged_frame_goes_without_an_alert() {
        let cleared = build_alert(&flagged(), &judged(false), None);
        assert_eq!((cleared.severity, cleared.kind.as_str()), (Severity::Info, "no_defect"));
        let busy = build_alert(&flagged(), &Judgement::NotJudged(NotJudged::Busy), None);
        assert_eq!((busy.severity, busy.kind.as_str()), (Severity::Warning, "anomaly"));
        assert_eq!(busy.verdict.as_deref(), Some("not_judged: busy"));
        assert_eq!(busy.location.as_deref(), Some("top-left"));
        assert_eq!(busy.confidence, None);
    }
}
