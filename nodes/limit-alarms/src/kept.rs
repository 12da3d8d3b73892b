//! The tags beyond a limit, kept on disk (`ALARMS_STATE_FILE`, JSON) so that
//! a node restarted by dora neither alerts them again nor misses their return
//! inside the limit. Replaced whole (temporary file, `fdatasync`, rename)
//! after the alerts that changed it were sent: a kill in between makes the
//! restarted node alert the excursion again (a repeat under a new id), never
//! lose one.
//!
//! The file names the dataflow run it belongs to (dora's dataflow id, the
//! same for every restart of a node within one `dora run`/`dora start`). A
//! new run starts from normal, as a restarted alarm system re-evaluates every
//! limit, instead of taking an earlier run's alarms (a replay or a test that
//! ended beyond a limit would otherwise open the next run with a "cleared").

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::alarms::ActiveAlarm;

/// The file's content.
#[derive(Debug, Serialize, Deserialize)]
struct KeptFile {
    /// The dataflow run the alarms belong to.
    dataflow: String,
    /// Every tag beyond a limit.
    active: BTreeMap<String, ActiveAlarm>,
}

/// Why the kept alarms could not be read or written; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum KeptError {
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
    #[error("{}: not the kept alarms (JSON: dataflow, and active: tag to kind and severity)", path.display())]
    Format {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The file and what was last written to it.
#[derive(Debug)]
pub struct KeptAlarms {
    path: PathBuf,
    /// The dataflow run this node belongs to.
    dataflow: String,
    written: Option<BTreeMap<String, ActiveAlarm>>,
}

impl KeptAlarms {
    /// The file at `path` for the dataflow run `dataflow`.
    pub fn new(path: impl Into<PathBuf>, dataflow: impl Into<String>) -> Self {
        Self { path: path.into(), dataflow: dataflow.into(), written: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What an earlier process of this dataflow run kept: nothing when there
    /// is no file, or when the file is another run's (logged).
    pub fn load(&mut self) -> Result<BTreeMap<String, ActiveAlarm>, KeptError> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(source) => return Err(KeptError::Read { path: self.path.clone(), source }),
        };
        let kept: KeptFile =
            serde_json::from_slice(&text).map_err(|source| KeptError::Format { path: self.path.clone(), source })?;
        if kept.dataflow != self.dataflow {
            tracing::info!(tags = kept.active.len(), earlier = %kept.dataflow, "alarm states of an earlier dataflow run not taken: every limit is judged afresh");
            return Ok(BTreeMap::new());
        }
        self.written = Some(kept.active.clone());
        Ok(kept.active)
    }

    /// Makes the file hold `active`; nothing is written when it does already.
    pub fn keep(&mut self, active: &BTreeMap<String, ActiveAlarm>) -> Result<(), KeptError> {
        if self.written.as_ref() == Some(active) {
            return Ok(());
        }
        let write = |source| KeptError::Write { path: self.path.clone(), source };
        if let Some(folder) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(write)?;
        }
        let file = KeptFile { dataflow: self.dataflow.clone(), active: active.clone() };
        let text =
            serde_json::to_vec_pretty(&file).map_err(|source| KeptError::Format { path: self.path.clone(), source })?;
        let temporary = self.path.with_extension("json.tmp");
        let mut file = File::create(&temporary).map_err(write)?;
        file.write_all(&text).map_err(write)?;
        file.sync_data().map_err(write)?;
        std::fs::rename(&temporary, &self.path).map_err(write)?;
        self.written = Some(active.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warning_high() -> ActiveAlarm {
        ActiveAlarm { kind: "high_limit".into(), severity: "warning".into() }
    }

    #[test]
    fn kept_alarms_come_back_and_an_unchanged_set_is_not_written_again() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("limit-alarms").join("active.json");
        let mut kept = KeptAlarms::new(&path, "run-1");
        assert!(kept.load().unwrap().is_empty(), "no file: nothing beyond a limit");
        let active = BTreeMap::from([("spindle_temperature".to_owned(), warning_high())]);
        kept.keep(&active).unwrap();
        assert_eq!(KeptAlarms::new(&path, "run-1").load().unwrap(), active);
        assert!(KeptAlarms::new(&path, "run-2").load().unwrap().is_empty(), "another run starts afresh");

        std::fs::remove_file(&path).unwrap();
        kept.keep(&active).unwrap();
        assert!(!path.exists(), "the same set again: no write");
        kept.keep(&BTreeMap::new()).unwrap();
        assert!(KeptAlarms::new(&path, "run-1").load().unwrap().is_empty());
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("active.json");
        std::fs::write(&path, b"{not json").unwrap();
        let error = KeptAlarms::new(&path, "run-1").load().unwrap_err();
        assert!(error.to_string().contains("active.json"), "{error}");
    }
}
