//! The node on dora: the shared driver runs [`PlantDocsNode`]; between
//! events (and at least every `DOCS_RESCAN_MS`) the folder is scanned for
//! changed documents.

use dora_node_api::{DoraNode, EventStream};
use std::sync::Arc;

use shopfloor_docs::embed::{EmbedError, Encoder};
use shopfloor_docs::vectors::Found;
use shopfloor_docs::{DocsError, Library};
use shopfloor_node::clock::now_ms;
use shopfloor_node::driver::SendError;
use shopfloor_node::logging::with_causes;
use shopfloor_node::Driver;

use crate::config::PlantDocsConfig;
use crate::state::{Counts, PlantDocsNode};

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum PlantDocsError {
    #[error("cannot read the documents (DOCS_DIR)")]
    Documents(#[source] DocsError),
    #[error("cannot load the embedding model (DOCS_EMBEDDING_MODEL)")]
    EmbeddingModel(#[source] EmbedError),
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Reads the folder, then answers until dora says stop; returns what it counted.
pub fn run(config: &PlantDocsConfig, node: DoraNode, mut events: EventStream) -> Result<Counts, PlantDocsError> {
    let started = now_ms();
    let mut library = Library::new(&config.folder, config.limits.clone()).map_err(PlantDocsError::Documents)?;
    if let Some(model) = &config.embedding_model {
        let encoder = Encoder::load(model).map_err(PlantDocsError::EmbeddingModel)?;
        let found =
            library.set_encoder(Arc::new(encoder), config.vector_file.as_deref()).map_err(PlantDocsError::Documents)?;
        if let (Some(Found::Ignored(why)), Some(file)) = (found, &config.vector_file) {
            tracing::warn!(file = %file.display(), why, "vector file not used; the sections are encoded again");
        }
    }
    let report = library.rescan().map_err(PlantDocsError::Documents)?;
    let stats = library.stats();
    tracing::info!(
        folder = %config.folder.display(),
        by_meaning = library.has_encoder(),
        documents = stats.documents,
        sections = stats.sections,
        pages = stats.pages,
        encoded = report.encoded,
        vectors_reused = report.reused,
        ms = now_ms() - started,
        "documents indexed"
    );
    let mut state = PlantDocsNode::new(library, config.rules, config.rescan);
    state.scanned(&report);
    let mut driver = Driver::new(node);
    let rescan_ms = i64::try_from(config.rescan.as_millis()).unwrap_or(i64::MAX);
    let mut scanned_at = now_ms();
    driver.run_then(&mut events, &mut state, |state| {
        let now = now_ms();
        if now - scanned_at < rescan_ms {
            return;
        }
        scanned_at = now;
        match state.library_mut().rescan() {
            Ok(report) => state.scanned(&report),
            Err(error) => {
                state.scan_failed();
                tracing::warn!(error = %with_causes(&error), "cannot scan the documents folder; keeping what was read");
            }
        }
    })?;
    Ok(state.counts().clone())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use shopfloor_core::schema::{Answer, AnswerError, Origin, Question};
    use shopfloor_docs::{AnswerRules, Limits};
    use shopfloor_node::testing::TestRun;

    use super::*;

    const JAM: &str =
        "Chip conveyor jam\n\nClearing the jam\n\n1. Press Cycle Stop.\n2. Remove the chips with the hook.\n";

    fn question(id: &str, text: &str) -> Question {
        Question::new(id, text, "alice", Origin::Mqtt, 0)
    }

    /// Under dora: a procedure question is answered from the folder's
    /// document with its source; a document written while the node runs is
    /// found by the next scan, without a restart.
    #[test]
    fn questions_are_answered_from_the_folder_and_a_new_document_is_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("jam.txt"), JAM).unwrap();
        let config = PlantDocsConfig {
            folder: dir.path().to_owned(),
            rescan: Duration::from_millis(100),
            limits: Limits::default(),
            rules: AnswerRules::default(),
            // By words: loading the embedding model takes seconds on a loaded
            // machine, and the new document below must arrive after the node
            // has started. The dataflow test (tests/tests/dataflows/plant_docs.rs)
            // runs the node with the model.
            embedding_model: None,
            vector_file: None,
        };
        let later = dir.path().join("probe.md");
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            std::fs::write(later, "# Touch probe\n\n## Calibrating the touch probe\n\n1. Clean the probe tip.\n")
                .unwrap();
        });
        let questions = |id: &str, text: &str| Question::to_arrow(&[question(id, text)]);
        let (counts, outputs) = TestRun::new("plant-docs")
            .input(0.05, "questions", questions("q1", "How do I clear a jam on the chip conveyor?"))
            .input(0.1, "questions", questions("q2", "How do I calibrate the touch probe?"))
            // Ticks keep dora's testing daemon serving the node's sends and
            // wakes; the new document is written at 0.3 s.
            .ticks(0.1, 2.9, "metrics_tick")
            .input(3.0, "questions", questions("q3", "How do I calibrate the touch probe?"))
            .stop(3.2)
            .run(|node, events| run(&config, node, events))
            .unwrap();
        writer.join().unwrap();
        let counts = counts.unwrap();
        let answers: Vec<Answer> =
            outputs.on("answers").flat_map(|sent| Answer::from_arrow(sent.data.as_ref()).unwrap()).collect();
        let by_id = |id: &str| answers.iter().find(|a| a.id == id).unwrap();
        assert_eq!(by_id("q1").sources, ["jam.txt § Clearing the jam"]);
        assert_eq!(by_id("q2").error, Some(AnswerError::NoProcedure));
        assert_eq!(by_id("q3").sources, ["probe.md § Calibrating the touch probe"], "{}", by_id("q3").text);
        assert_eq!((counts.found, counts.not_found), (2, 1));
    }

    /// A folder that is not there stops the node at start, naming it.
    #[test]
    fn a_missing_folder_stops_the_node() {
        let config = PlantDocsConfig {
            folder: "/no/such/docs".into(),
            rescan: Duration::from_secs(1),
            limits: Limits::default(),
            rules: AnswerRules::default(),
            embedding_model: None,
            vector_file: None,
        };
        let (result, _) = TestRun::new("plant-docs").stop(0.1).run(|node, events| run(&config, node, events)).unwrap();
        let error = result.unwrap_err();
        assert!(shopfloor_node::logging::with_causes(&error).contains("/no/such/docs"), "{error}");
    }
}
