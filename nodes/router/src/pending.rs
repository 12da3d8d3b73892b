//! The questions being answered, kept on disk so that a restarted router
//! answers them instead of leaving their askers waiting: one Arrow IPC file
//! (`ROUTER_PENDING_FILE`) holding the pending questions as the router got
//! them (reply topic, correlation data and deadline included). It is
//! replaced whole, through a synced temporary file and a rename, whenever
//! the set changes, and removed when nothing is pending; a power cut leaves
//! either the old set or the new one. The set is bounded by the questions in
//! flight (each ends by its deadline), so rewriting it is cheap.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use shopfloor_core::arrow::array::{Array, StructArray};
use shopfloor_core::arrow::error::ArrowError;
use shopfloor_core::arrow::ipc::reader::FileReader;
use shopfloor_core::arrow::ipc::writer::FileWriter;
use shopfloor_core::arrow::record_batch::RecordBatch;
use shopfloor_core::schema::{Question, SchemaError};

/// Why the pending questions could not be kept or read; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not an Arrow IPC file of questions", path.display())]
    Arrow {
        path: PathBuf,
        #[source]
        source: ArrowError,
    },
    #[error("{}: not questions", path.display())]
    Schema {
        path: PathBuf,
        #[source]
        source: SchemaError,
    },
}

/// The file of pending questions.
#[derive(Debug)]
pub struct PendingJournal {
    path: PathBuf,
    /// What the file holds now, by (origin, id): rewritten only on a change.
    written: Vec<(String, String)>,
}

impl PendingJournal {
    /// The journal at `path`; its folder is made when first written.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), written: Vec::new() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The questions a previous run left pending (none if there is no file).
    pub fn load(&mut self) -> Result<Vec<Question>, PendingError> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(PendingError::Read { path: self.path.clone(), source }),
        };
        let arrow = |source| PendingError::Arrow { path: self.path.clone(), source };
        let reader = FileReader::try_new(file, None).map_err(arrow)?;
        let mut questions = Vec::new();
        for batch in reader {
            let structs = StructArray::from(batch.map_err(arrow)?);
            let read = Question::from_arrow(&structs)
                .map_err(|source| PendingError::Schema { path: self.path.clone(), source })?;
            questions.extend(read);
        }
        self.written = keys(&questions);
        Ok(questions)
    }

    /// Makes the file hold `questions` (nothing is written when they are the
    /// ones it holds already). On an error the file keeps the previous set.
    pub fn keep(&mut self, questions: &[&Question]) -> Result<(), PendingError> {
        let mut now: Vec<(String, String)> =
            questions.iter().map(|q| (q.origin.as_str().to_owned(), q.id.clone())).collect();
        now.sort();
        if now == self.written {
            return Ok(());
        }
        if questions.is_empty() {
            match std::fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(PendingError::Write { path: self.path.clone(), source }),
            }
        } else {
            self.replace(questions)?;
        }
        self.written = now;
        Ok(())
    }

    /// Writes a temporary file beside the journal, syncs it and renames it
    /// over the journal.
    fn replace(&self, questions: &[&Question]) -> Result<(), PendingError> {
        let write = |source| PendingError::Write { path: self.path.clone(), source };
        let arrow = |source| PendingError::Arrow { path: self.path.clone(), source };
        if let Some(folder) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(write)?;
        }
        let owned: Vec<Question> = questions.iter().map(|q| (*q).clone()).collect();
        let array = Question::to_arrow(&owned);
        let structs = array
            .as_any()
            .downcast_ref::<StructArray>()
            .cloned()
            .ok_or_else(|| arrow(ArrowError::SchemaError("questions are not a struct array".into())))?;
        let batch = RecordBatch::from(structs);
        let temporary = self.path.with_extension("arrow.tmp");
        let mut file = File::create(&temporary).map_err(write)?;
        {
            let mut writer = FileWriter::try_new(&mut file, &batch.schema()).map_err(arrow)?;
            writer.write(&batch).map_err(arrow)?;
            writer.finish().map_err(arrow)?;
        }
        file.flush().map_err(write)?;
        file.sync_data().map_err(write)?;
        std::fs::rename(&temporary, &self.path).map_err(write)?;
        Ok(())
    }
}

fn keys(questions: &[Question]) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> =
        questions.iter().map(|q| (q.origin.as_str().to_owned(), q.id.clone())).collect();
    keys.sort();
    keys
}

#[cfg(test)]
mod tests {
    use shopfloor_core::schema::Origin;

    use super::*;

    fn asked(id: &str) -> Question {
        let mut question = Question::new(id, "What is the spindle temperature?", "alice", Origin::Mqtt, 1_000);
        question.reply_to = Some("plant1/answers/alice".into());
        question.correlation_data = Some(vec![1, 2, 3]);
        question.deadline_ms = Some(21_000);
        question
    }

    #[test]
    fn pending_questions_survive_to_the_next_run_whole() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("router").join("pending.arrow");
        let mut journal = PendingJournal::new(&path);
        assert!(journal.load().unwrap().is_empty(), "no file: nothing pending");
        let (first, second) = (asked("q-1"), asked("q-2"));
        journal.keep(&[&first, &second]).unwrap();

        let mut next_run = PendingJournal::new(&path);
        assert_eq!(next_run.load().unwrap(), vec![first.clone(), second.clone()]);
        next_run.keep(&[&second]).unwrap();
        assert_eq!(PendingJournal::new(&path).load().unwrap(), vec![second]);
        next_run.keep(&[]).unwrap();
        assert!(!path.exists(), "nothing pending: no file");
    }

    #[test]
    fn an_unchanged_set_is_not_written_again() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("pending.arrow");
        let mut journal = PendingJournal::new(&path);
        let question = asked("q-1");
        journal.keep(&[&question]).unwrap();
        std::fs::remove_file(&path).unwrap();
        journal.keep(&[&question]).unwrap();
        assert!(!path.exists(), "the same set again: no write");
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("pending.arrow");
        std::fs::write(&path, b"not arrow").unwrap();
        let error = PendingJournal::new(&path).load().unwrap_err();
        assert!(error.to_string().contains("pending.arrow"), "{error}");
    }
}
