//! What to do about an alarm, from the site's documents: each alert that
//! names a tag gets the steps of the alarm-response section for that tag
//! (its words all in the section; the alert's value picks among several,
//! e.g. "above 90 °C"), and where they are from. Searching is in memory;
//! the folder is scanned again by the driver ([`AlarmResponses::rescan`]).

use shopfloor_core::schema::{Alert, Severity};
use shopfloor_docs::{alarm_response, AnswerRules, DocsError, Library, ScanReport};

/// The library of the site's documents, for alerts.
pub struct AlarmResponses {
    library: Library,
    rules: AnswerRules,
    /// Alerts that got a response, and those whose tag no section names.
    pub attached: u64,
    pub missing: u64,
}

impl AlarmResponses {
    pub fn new(library: Library) -> Self {
        Self { library, rules: AnswerRules::default(), attached: 0, missing: 0 }
    }

    /// Adds the response to each alert about a tag; `info` alerts (a value
    /// back inside) need none.
    pub fn attach(&mut self, alerts: &mut [Alert]) {
        for alert in alerts.iter_mut().filter(|alert| alert.severity != Severity::Info) {
            let Some(tag) = alert.tag.clone() else { continue };
            match alarm_response(&self.library, &tag, &alert.message, &self.rules) {
                Ok(Some(response)) => {
                    alert.response = Some(response.text);
                    alert.response_source = Some(response.source);
                    self.attached += 1;
                }
                Ok(None) => self.missing += 1,
                Err(error) => {
                    self.missing += 1;
                    tracing::warn!(%error, "cannot search the documents for the alarm's response");
                }
            }
        }
    }

    /// Reads what changed in the folder.
    pub fn rescan(&mut self) -> Result<ScanReport, DocsError> {
        self.library.rescan()
    }
}

#[cfg(test)]
mod tests {
    use shopfloor_docs::Limits;

    use super::*;

    #[test]
    fn alerts_about_a_tag_get_its_response_and_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let text = "# Spindle overheat\n\n## Responding to a spindle temperature alarm\n\n1. Press Feed Hold.\n2. Check the coolant flow.\n\n## If the temperature passes 90 °C\n\n1. Stop the spindle.\n";
        std::fs::write(dir.path().join("overheat.md"), text).unwrap();
        let (library, _) = Library::open(dir.path(), Limits::default()).unwrap();
        let mut responses = AlarmResponses::new(library);
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
}
