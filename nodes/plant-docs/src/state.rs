//! The node's logic as plain state: questions in, quoted answers out, the
//! live values kept for the steps that refer to them, counted. No dora, no
//! clock; the folder's rescans are the driver's.

use std::collections::BTreeMap;
use std::time::Duration;

use dora_node_api::arrow_v59::array::Array;
use dora_node_api::MetadataParameters;
use shopfloor_core::schema::{Answer, AnswerError, Quality, Question, Reading, ReadingValue};
use shopfloor_docs::{answer, AnswerRules, Library, LiveValue, ScanReport};
use shopfloor_node::metrics::Snapshot;
use shopfloor_node::{Emit, NodeLogic, Rejected};

pub const QUESTIONS_INPUT: &str = "questions";
/// Input ids starting with this carry `reading` batches.
pub const READINGS_INPUT: &str = "readings";
pub const ANSWERS_OUTPUT: &str = "answers";
/// The `model` of its answers: who wrote them (code, quoting documents).
pub const ANSWERED_BY: &str = "site documents";

/// Most tags whose live value is kept: tag names come from outside.
const MAX_LIVE_TAGS: usize = 20_000;

/// What the node counted.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    /// Questions answered from a section.
    pub found: u64,
    /// Questions no section covers.
    pub not_found: u64,
    /// Questions the library could not search (an index error).
    pub failed: u64,
    /// Documents read (again) by scans since start.
    pub documents_read: u64,
    /// Documents that could not be read, by scans since start.
    pub unreadable: u64,
    /// Scans that could not list the folder.
    pub scan_failures: u64,
}

/// The library, the live values and the counts.
pub struct PlantDocsNode {
    library: Library,
    rules: AnswerRules,
    /// How often the node wakes without input (the driver scans the folder then).
    wake: Duration,
    live: BTreeMap<String, LiveValue>,
    counts: Counts,
}

impl PlantDocsNode {
    pub fn new(library: Library, rules: AnswerRules, wake: Duration) -> Self {
        Self { library, rules, wake, live: BTreeMap::new(), counts: Counts::default() }
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub fn library_mut(&mut self) -> &mut Library {
        &mut self.library
    }

    /// Counts what a scan of the folder did and logs what changed.
    pub fn scanned(&mut self, report: &ScanReport) {
        self.counts.documents_read += report.read.len() as u64;
        self.counts.unreadable += report.unreadable.len() as u64;
        if report.changed() {
            tracing::info!(read = ?report.read, removed = ?report.removed, "documents changed");
        }
        for (document, why) in &report.unreadable {
            tracing::warn!(%document, %why, "document cannot be read");
        }
        for (document, why) in &report.skipped {
            tracing::warn!(%document, %why, "document left out");
        }
    }

    pub fn scan_failed(&mut self) {
        self.counts.scan_failures += 1;
    }

    /// The answer to one question, at `now_ms`.
    pub fn answer(&mut self, question: &Question, now_ms: i64) -> Answer {
        let live: Vec<LiveValue> = self.live.values().cloned().collect();
        let mut reply = match answer(&self.library, &question.text, &live, &self.rules) {
            Ok(found) => {
                let mut reply = Answer::to_question(question, found.text);
                reply.facts_used = found.facts;
                reply.sources = found.sources;
                if found.found {
                    self.counts.found += 1;
                } else {
                    self.counts.not_found += 1;
                    reply.error = Some(AnswerError::NoProcedure);
                }
                reply
            }
            Err(error) => {
                tracing::error!(%error, "cannot search the documents");
                self.counts.failed += 1;
                let mut reply = Answer::to_question(question, "The site's documents cannot be searched now.".into());
                reply.error = Some(AnswerError::GenerationFailed);
                reply
            }
        };
        reply.model = Some(ANSWERED_BY.to_owned());
        reply.latency_ms = (now_ms - question.received_ts_ms).max(0);
        reply
    }

    fn take_readings(&mut self, readings: &[Reading]) {
        for reading in readings {
            if reading.quality != Quality::Good {
                // A bad value is no value to act on: the step goes without one.
                self.live.remove(&reading.tag);
                continue;
            }
            if !self.live.contains_key(&reading.tag) && self.live.len() >= MAX_LIVE_TAGS {
                continue;
            }
            let shown = match (&reading.value, reading.unit.as_deref()) {
                (ReadingValue::Number(value), Some(unit)) if !unit.is_empty() => format!("{value} {unit}"),
                (value, _) => value.to_string(),
            };
            self.live.insert(reading.tag.clone(), LiveValue { tag: reading.tag.clone(), shown });
        }
    }
}

impl NodeLogic for PlantDocsNode {
    fn on_input(
        &mut self,
        input: &str,
        data: &dyn Array,
        _parameters: &MetadataParameters,
        now_ms: i64,
    ) -> Result<Vec<Emit>, Rejected> {
        if input.starts_with(READINGS_INPUT) {
            let readings = Reading::from_arrow(data).map_err(Rejected::schema)?;
            self.take_readings(&readings);
            return Ok(Vec::new());
        }
        if input != QUESTIONS_INPUT {
            return Err(Rejected::unknown_input(input));
        }
        let questions = Question::from_arrow(data).map_err(Rejected::schema)?;
        let answers: Vec<Answer> = questions.iter().map(|question| self.answer(question, now_ms)).collect();
        Ok(if answers.is_empty() { Vec::new() } else { vec![Emit::new(ANSWERS_OUTPUT, Answer::to_arrow(&answers))] })
    }

    fn wake_interval(&self) -> Option<Duration> {
        Some(self.wake)
    }

    fn metrics(&self, snapshot: &mut Snapshot) {
        let stats = self.library.stats();
        let counts = &self.counts;
        snapshot
            .gauge("shopfloor_docs_documents", "Documents in the index", &[], stats.documents as f64)
            .gauge("shopfloor_docs_sections", "Sections in the index", &[], stats.sections as f64)
            .gauge(
                "shopfloor_docs_pages",
                "Pages in the index (PDF pages; one per other document)",
                &[],
                stats.pages as f64,
            )
            .counter(
                "shopfloor_docs_questions",
                "Questions answered, by outcome",
                &[("outcome", "found")],
                counts.found,
            )
            .counter(
                "shopfloor_docs_questions",
                "Questions answered, by outcome",
                &[("outcome", "no_procedure")],
                counts.not_found,
            )
            .counter(
                "shopfloor_docs_questions",
                "Questions answered, by outcome",
                &[("outcome", "failed")],
                counts.failed,
            )
            .counter(
                "shopfloor_docs_documents_read",
                "Documents read by scans of the folder",
                &[],
                counts.documents_read,
            )
            .counter("shopfloor_docs_unreadable", "Documents that could not be read", &[], counts.unreadable)
            .counter("shopfloor_docs_scan_failures", "Scans that could not list the folder", &[], counts.scan_failures);
    }
}

#[cfg(test)]
mod tests {
    use shopfloor_core::schema::Origin;
    use shopfloor_docs::Limits;

    use super::*;

    const JAM: &str = "Chip conveyor jam\n\nClearing the jam\n\n1. Press Cycle Stop.\n2. Check the spindle speed reads 0 rpm.\n3. Remove the chips with the hook.\n";

    fn node() -> (tempfile::TempDir, PlantDocsNode) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("jam.txt"), JAM).unwrap();
        let (library, _) = Library::open(dir.path(), Limits::default()).unwrap();
        (dir, PlantDocsNode::new(library, AnswerRules::default(), Duration::from_secs(2)))
    }

    fn ask(node: &mut PlantDocsNode, text: &str) -> Answer {
        let question = Question::new("q1", text, "alice", Origin::Mqtt, 1_000);
        let emits = node
            .on_input(QUESTIONS_INPUT, Question::to_arrow(&[question]).as_ref(), &Default::default(), 1_040)
            .unwrap();
        Answer::from_arrow(emits[0].data.as_ref()).unwrap().remove(0)
    }

    #[test]
    fn a_covered_question_gets_the_steps_the_source_and_the_live_value() {
        let (_dir, mut node) = node();
        let speed =
            Reading::good("opc", "spindle_speed".into(), ReadingValue::Number(0.0), Some("rpm".into()), None, 1);
        node.on_input("readings", Reading::to_arrow(&[speed]).as_ref(), &Default::default(), 1).unwrap();
        let answer = ask(&mut node, "How do I clear a jam on the chip conveyor?");
        assert_eq!(answer.error, None);
        assert_eq!(answer.sources, ["jam.txt § Clearing the jam"]);
        assert!(
            answer.text.contains("2. Check the spindle speed reads 0 rpm. (now: spindle speed 0 rpm)"),
            "{}",
            answer.text
        );
        assert_eq!(answer.facts_used, ["spindle_speed = 0 rpm"]);
        assert_eq!((answer.model.as_deref(), answer.confidence, answer.latency_ms), (Some(ANSWERED_BY), None, 40));
        assert_eq!(node.counts().found, 1);
    }

    #[test]
    fn an_uncovered_question_is_told_so_and_a_bad_value_is_not_shown() {
        let (_dir, mut node) = node();
        let mut speed =
            Reading::good("opc", "spindle_speed".into(), ReadingValue::Number(5.0), Some("rpm".into()), None, 1);
        speed.quality = Quality::Bad;
        node.on_input("readings", Reading::to_arrow(&[speed]).as_ref(), &Default::default(), 1).unwrap();
        let answer = ask(&mut node, "How do I calibrate the touch probe?");
        assert_eq!(answer.error, Some(AnswerError::NoProcedure));
        assert!(answer.text.starts_with("No procedure for this was found"), "{}", answer.text);
        assert!(answer.sources.is_empty());
        let answer = ask(&mut node, "How do I clear a jam on the chip conveyor?");
        assert!(!answer.text.contains("(now:"), "{}", answer.text);
    }

    #[test]
    fn other_inputs_are_refused() {
        let (_dir, mut node) = node();
        let error = node.on_input("frames", Reading::to_arrow(&[]).as_ref(), &Default::default(), 1).unwrap_err();
        assert_eq!(error.reason, "unknown_input");
        let error =
            node.on_input(QUESTIONS_INPUT, Reading::to_arrow(&[]).as_ref(), &Default::default(), 1).unwrap_err();
        assert_eq!(error.reason, "schema");
    }
}
