//! The alarm journal: one JSON line per changed alarm (`{"alarm": {...}}`)
//! or forgotten one (`{"forget": "<key>"}`), appended and synced before the
//! change is shown, so a restart of the gateway (or the whole dataflow)
//! loses no acknowledgement. Opening replays it (the last line of a key
//! wins) and rewrites it compacted; a torn last line from a crash is
//! skipped and counted.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::alarms::Alarm;

/// Appended lines beyond the alarms kept before the file is compacted.
const COMPACT_AFTER_LINES: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot create the folder of the alarm journal {path}")]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the alarm journal {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the alarm journal {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Alarm(Box<Alarm>),
    Forget(String),
}

/// What opening found.
#[derive(Debug)]
pub struct Replayed {
    pub alarms: Vec<Alarm>,
    /// Lines that could not be read (a torn write, a hand edit): skipped.
    pub unreadable_lines: usize,
}

/// An open journal file.
#[derive(Debug)]
pub struct AlarmJournal {
    path: PathBuf,
    file: File,
    appended: usize,
    kept: usize,
}

impl AlarmJournal {
    /// Opens (or creates) the journal at `path`, replays it and compacts it.
    pub fn open(path: &Path) -> Result<(Self, Replayed), JournalError> {
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder)
                .map_err(|source| JournalError::Folder { path: folder.to_owned(), source })?;
        }
        let mut alarms: Vec<Alarm> = Vec::new();
        let mut unreadable_lines = 0;
        match File::open(path) {
            Ok(file) => {
                let mut by_key = std::collections::BTreeMap::new();
                // Bytes, not text: a line cut inside a character is skipped like any torn line.
                for line in BufReader::new(file).split(b'\n') {
                    let line = line.map_err(|source| JournalError::Read { path: path.to_owned(), source })?;
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    match serde_json::from_slice::<Line>(&line) {
                        Ok(Line::Alarm(alarm)) => {
                            by_key.insert(alarm.key.clone(), *alarm);
                        }
                        Ok(Line::Forget(key)) => {
                            by_key.remove(&key);
                        }
                        Err(error) => {
                            unreadable_lines += 1;
                            tracing::warn!(path = %path.display(), %error, "alarm journal line skipped");
                        }
                    }
                }
                alarms.extend(by_key.into_values());
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(JournalError::Read { path: path.to_owned(), source }),
        }
        let file = write_compacted(path, &alarms)?;
        let journal = Self { path: path.to_owned(), file, appended: 0, kept: alarms.len() };
        Ok((journal, Replayed { alarms, unreadable_lines }))
    }

    /// Appends a changed alarm and the keys the board forgot, synced to disk.
    pub fn record(&mut self, alarm: &Alarm, forgotten: &[String]) -> Result<(), JournalError> {
        let mut text = String::new();
        for line in std::iter::once(Line::Alarm(Box::new(alarm.clone())))
            .chain(forgotten.iter().map(|key| Line::Forget(key.clone())))
        {
            // Serializing plain strings and numbers cannot fail.
            text.push_str(&serde_json::to_string(&line).unwrap_or_default());
            text.push('\n');
        }
        let write = |file: &mut File| {
            file.write_all(text.as_bytes())?;
            file.sync_data()
        };
        write(&mut self.file).map_err(|source| JournalError::Write { path: self.path.clone(), source })?;
        self.appended += 1 + forgotten.len();
        Ok(())
    }

    /// Rewrites the file with only `alarms` once enough lines piled up.
    pub fn compact_if_due(&mut self, alarms: &[&Alarm]) -> Result<(), JournalError> {
        if self.appended < COMPACT_AFTER_LINES.max(self.kept) {
            return Ok(());
        }
        let owned: Vec<Alarm> = alarms.iter().map(|alarm| (*alarm).clone()).collect();
        self.file = write_compacted(&self.path, &owned)?;
        self.appended = 0;
        self.kept = owned.len();
        Ok(())
    }
}

/// Writes `alarms` to a new file beside `path`, renames it over `path` and
/// returns it open for appending.
fn write_compacted(path: &Path, alarms: &[Alarm]) -> Result<File, JournalError> {
    let error = |source| JournalError::Write { path: path.to_owned(), source };
    let temporary = path.with_extension("compacting");
    let mut text = String::new();
    for alarm in alarms {
        text.push_str(&serde_json::to_string(&Line::Alarm(Box::new(alarm.clone()))).unwrap_or_default());
        text.push('\n');
    }
    let mut file = File::create(&temporary).map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)?;
    file.sync_all().map_err(error)?;
    std::fs::rename(&temporary, path).map_err(error)?;
    OpenOptions::new().append(true).open(path).map_err(error)
}

#[cfg(test)]
mod tests {
    use shopfloor_core::schema::{Alert, Severity};

    use super::super::alarms::AlarmBoard;
    use super::*;

    fn raised(board: &mut AlarmBoard, journal: &mut AlarmJournal, id: &str, tag: &str) {
        let alert = Alert {
            tag: Some(tag.into()),
            ..Alert::new(id, 1_000, "station1", Severity::Warning, "high_limit", "hot", "limit-alarms")
        };
        let change = board.take_alert(&alert, 1_000).unwrap();
        let committed = board.commit(change.alarm.clone());
        journal.record(&change.alarm, &committed.forgotten_keys()).unwrap();
    }

    #[test]
    fn an_acknowledgement_survives_a_reopen_and_a_torn_last_line_is_skipped() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("console/alarms.jsonl");
        let (mut journal, replayed) = AlarmJournal::open(&path).unwrap();
        assert!(replayed.alarms.is_empty());
        let mut board = AlarmBoard::default();
        raised(&mut board, &mut journal, "a1", "spindle_temperature");
        raised(&mut board, &mut journal, "a2", "vibration");
        let ack = board.acknowledge("station1/spindle_temperature", "anna", "coolant ok", 2_000).unwrap();
        journal.record(&ack.alarm, &["station1/vibration".to_owned()]).unwrap();
        drop(journal);
        // A crash in the middle of a line, inside the two bytes of a "°".
        OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"alarm\":{\"message\":\"81 \xC2").unwrap();

        let (_journal, replayed) = AlarmJournal::open(&path).unwrap();
        assert_eq!(replayed.unreadable_lines, 1);
        assert_eq!(replayed.alarms, [ack.alarm]);
        let compacted = std::fs::read_to_string(&path).unwrap();
        assert_eq!(compacted.lines().count(), 1, "rewritten with what is kept:\n{compacted}");
    }
}
