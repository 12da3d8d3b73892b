//! The tags beyond a limit, kept on disk (`ALARMS_STATE_FILE`, JSON) so that
//! a restarted node neither alerts them again nor misses their return inside
//! the limit. Replaced whole (temporary file, `fdatasync`, rename) after the
//! alerts that changed it were sent: a kill in between makes the next run
//! alert the excursion again (a repeat under a new id), never lose one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::alarms::ActiveAlarm;

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
    #[error("{}: not the kept alarms (JSON object of tag to kind and severity)", path.display())]
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
    written: Option<BTreeMap<String, ActiveAlarm>>,
}

impl KeptAlarms {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), written: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What a previous run kept (nothing when there is no file).
    pub fn load(&mut self) -> Result<BTreeMap<String, ActiveAlarm>, KeptError> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(source) => return Err(KeptError::Read { path: self.path.clone(), source }),
        };
        let active: BTreeMap<String, ActiveAlarm> =
            serde_json::from_slice(&text).map_err(|source| KeptError::Format { path: self.path.clone(), source })?;
        self.written = Some(active.clone());
        Ok(active)
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
        let text = serde_json::to_vec_pretty(active)
            .map_err(|source| KeptError::Format { path: self.path.clone(), source })?;
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
        let mut kept = KeptAlarms::new(&path);
        assert!(kept.load().unwrap().is_empty(), "no file: nothing beyond a limit");
        let active = BTreeMap::from([("spindle_temperature".to_owned(), warning_high())]);
        kept.keep(&active).unwrap();
        assert_eq!(KeptAlarms::new(&path).load().unwrap(), active);

        std::fs::remove_file(&path).unwrap();
        kept.keep(&active).unwrap();
        assert!(!path.exists(), "the same set again: no write");
        kept.keep(&BTreeMap::new()).unwrap();
        assert!(KeptAlarms::new(&path).load().unwrap().is_empty());
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("active.json");
        std::fs::write(&path, b"{not json").unwrap();
        let error = KeptAlarms::new(&path).load().unwrap_err();
        assert!(error.to_string().contains("active.json"), "{error}");
    }
}
