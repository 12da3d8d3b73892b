//! What to do about an alert, from the site's documents: each alert that is
//! more than information gets the steps of the alarm-response section for
//! its subject, and where they are from. The subject is the alert's tag (a
//! limit alert: `spindle_temperature`) or its kind (a defect: `scratch`; an
//! `anomaly` or `other` defect: `defect`); the section must have all its
//! words, and the alert's message (its value) picks among several ("above
//! 90 °C" for an alert at 93 °C). Searching is in memory; the nodes that
//! raise alerts call [`AlertResponses::rescan_if_due`] between events.

use std::time::Duration;

use shopfloor_core::schema::{Alert, Severity};

use crate::answer::{alarm_response, AnswerRules};
use crate::library::{DocsError, Library, ScanReport};

/// The library of the site's documents, for alerts.
pub struct AlertResponses {
    library: Library,
    rules: AnswerRules,
    rescan_ms: i64,
    scanned_at_ms: i64,
    /// Alerts that got a response, and those no section is about.
    pub attached: u64,
    pub missing: u64,
}

impl AlertResponses {
    /// `library` read at `now_ms`, scanned again every `rescan`.
    pub fn new(library: Library, rescan: Duration, now_ms: i64) -> Self {
        Self {
            library,
            rules: AnswerRules::default(),
            rescan_ms: i64::try_from(rescan.as_millis()).unwrap_or(i64::MAX),
            scanned_at_ms: now_ms,
            attached: 0,
            missing: 0,
        }
    }

    /// Adds the response to each alert that needs one.
    pub fn attach(&mut self, alerts: &mut [Alert]) {
        for alert in alerts.iter_mut().filter(|alert| alert.severity != Severity::Info) {
            // An unnamed defect's message says nothing a section is about
            // (where on the part, the filter's score): the general response.
            let (subject, detail) = match (&alert.tag, alert.kind.as_str()) {
                (Some(tag), _) => (tag.clone(), alert.message.as_str()),
                (None, "anomaly" | "other") => ("defect".to_owned(), ""),
                (None, kind) => (kind.replace('_', " "), alert.message.as_str()),
            };
            match alarm_response(&self.library, &subject, detail, &self.rules) {
                Ok(Some(response)) => {
                    alert.response = Some(response.text);
                    alert.response_source = Some(response.source);
                    self.attached += 1;
                }
                Ok(None) => self.missing += 1,
                Err(error) => {
                    self.missing += 1;
                    tracing::warn!(%error, "cannot search the documents for the alert's response");
                }
            }
        }
    }

    /// Reads what changed in the folder, when the interval has passed.
    pub fn rescan_if_due(&mut self, now_ms: i64) -> Option<Result<ScanReport, DocsError>> {
        if now_ms - self.scanned_at_ms < self.rescan_ms {
            return None;
        }
        self.scanned_at_ms = now_ms;
        Some(self.library.rescan())
    }
}

#[cfg(test)]
mod tests {
    use crate::library::Limits;

    use super::*;

    fn responses(files: &[(&str, &str)]) -> (tempfile::TempDir, AlertResponses) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let (library, _) = Library::open(dir.path(), Limits::default()).unwrap();
        (dir, AlertResponses::new(library, Duration::from_secs(5), 0))
    }

    #[test]
    fn limit_alerts_get_the_response_of_their_tag_and_value() {
        let text = "# Spindle overheat\n\n## Responding to a spindle temperature alarm\n\n1. Press Feed Hold.\n2. Check the coolant flow.\n\n## If the temperature passes 90 °C\n\n1. Stop the spindle.\n";
        let (_dir, mut responses) = responses(&[("overheat.md", text)]);
        let alert = |severity, message: &str| Alert {
            tag: Some("spindle_temperature".into()),
            ..Alert::new("a", 1, "station1", severity, "high_limit", message, "limit-alarms")
        };
        let mut alerts = vec![
            alert(Severity::Warning, "spindle_temperature 84.0 °C above its high limit 80 °C"),
            alert(Severity::Critical, "spindle_temperature 93.0 °C above its high limit 80 °C"),
            alert(Severity::Info, "spindle_temperature back at 79.0 °C"),
            Alert { tag: Some("hydraulic_pressure".into()), ..alert(Severity::Warning, "hydraulic_pressure 200 bar") },
        ];
        responses.attach(&mut alerts);
        let sources: Vec<Option<&str>> = alerts.iter().map(|a| a.response_source.as_deref()).collect();
        assert_eq!(
            sources,
            [
                Some("overheat.md § Responding to a spindle temperature alarm"),
                Some("overheat.md § If the temperature passes 90 °C"),
                None,
                None
            ]
        );
        assert_eq!(alerts[0].response.as_deref(), Some("1. Press Feed Hold.\n2. Check the coolant flow."));
        assert_eq!((responses.attached, responses.missing), (2, 1));
    }

    #[test]
    fn defect_alerts_get_the_section_of_their_kind_or_the_general_one() {
        let text = "# Defect response\n\n## Responding to a defect alert\n\n1. Pull the part.\n\n## Scratches\n\n1. Check the scratch depth.\n\n## Missing parts\n\n1. Count the parts on the part and check the part feeder.\n";
        let (_dir, mut responses) = responses(&[("defects.md", text)]);
        let defect = |kind: &str| {
            let message = "Anomaly at the center of the part; not judged by the model.";
            Alert::new("d", 1, "station3", Severity::Warning, kind, message, "vlm-inspector")
        };
        let mut alerts = vec![defect("scratch"), defect("anomaly")];
        responses.attach(&mut alerts);
        assert_eq!(alerts[0].response_source.as_deref(), Some("defects.md § Scratches"));
        assert_eq!(alerts[1].response_source.as_deref(), Some("defects.md § Responding to a defect alert"));
    }

    #[test]
    fn rescans_come_at_their_interval() {
        let (_dir, mut responses) = responses(&[("a.md", "# A\n\n## B\n\n1. C.\n")]);
        assert!(responses.rescan_if_due(4_999).is_none());
        assert!(responses.rescan_if_due(5_000).is_some_and(|report| report.is_ok()));
        assert!(responses.rescan_if_due(6_000).is_none());
    }
}
