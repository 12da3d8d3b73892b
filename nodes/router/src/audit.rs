//! The audit journal: one JSON line per final answer (who asked, the
//! question, the facts used, the tiers, the answer, what left the site),
//! appended to `<ROUTER_AUDIT_DIR>/audit.jsonl` and flushed to disk before
//! the next input is taken, so that neither a restart of the node nor a
//! power cut loses a line already written. Files rotate by size
//! (`audit.jsonl` -> `audit.1.jsonl` -> ...; the oldest beyond the count is
//! deleted). The record is built in the node's state ([`AuditRecord::new`]);
//! only [`AuditJournal`] does I/O.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shopfloor_core::schema::Answer;

use crate::config::AuditConfig;

/// The file being written; rotated ones are `audit.<n>.jsonl`, 1 the newest.
pub const CURRENT_FILE: &str = "audit.jsonl";

/// One tier the question went through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditHop {
    pub tier: String,
    pub model: Option<String>,
    pub confidence: Option<f32>,
    /// `accepted`, `escalated`, `kept`, `deadline`, `no_answer`, `refused`, `unreachable`.
    pub outcome: String,
    pub reason: String,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the answer left the router (ms since the Unix epoch).
    pub answered_ts_ms: i64,
    pub received_ts_ms: i64,
    pub id: String,
    /// Who asked: the operator of an MQTT question, `http` or the API key's
    /// name for the gateway.
    pub operator: String,
    /// `mqtt`, `http`, ...
    pub origin: String,
    /// The question as asked; null when the router no longer knew it (a
    /// late or unknown answer cannot reach the journal, so this is rare).
    pub question: Option<String>,
    pub class: Option<String>,
    pub answer: String,
    pub error: Option<String>,
    /// The model that wrote the answer; null when code composed it.
    pub model: Option<String>,
    pub confidence: Option<f32>,
    pub low_confidence: bool,
    pub facts_used: Vec<String>,
    pub tools_used: Vec<String>,
    pub route: Vec<AuditHop>,
    /// Something about this question was sent off the site.
    pub left_site: bool,
    /// The messages sent off the site, as sent (redacted), one per request.
    pub sent_off_site: Vec<Value>,
    pub deadline_reached: bool,
    pub latency_ms: i64,
}

impl AuditRecord {
    /// The line for `answer`, given the question's text and what was sent
    /// off the site for it.
    pub fn new(answer: &Answer, question: Option<String>, sent_off_site: Vec<Value>, now_ms: i64) -> Self {
        Self {
            answered_ts_ms: now_ms,
            received_ts_ms: now_ms - answer.latency_ms,
            id: answer.id.clone(),
            operator: answer.operator.clone(),
            origin: answer.origin.as_str().to_owned(),
            question,
            class: answer.class.clone(),
            answer: answer.text.clone(),
            error: answer.error.map(|e| e.as_str().to_owned()),
            model: answer.model.clone(),
            confidence: answer.confidence,
            low_confidence: answer.low_confidence,
            facts_used: answer.facts_used.clone(),
            tools_used: answer.tools_used.clone(),
            route: answer
                .route
                .iter()
                .map(|hop| AuditHop {
                    tier: hop.tier.clone(),
                    model: hop.model.clone(),
                    confidence: hop.confidence,
                    outcome: hop.outcome.as_str().to_owned(),
                    reason: hop.reason.clone(),
                })
                .collect(),
            left_site: answer.left_site,
            sent_off_site,
            deadline_reached: answer.deadline_reached,
            latency_ms: answer.latency_ms,
        }
    }
}

/// Why the journal could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot create the audit folder {path} (ROUTER_AUDIT_DIR)")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the audit journal {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the audit journal {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot rotate the audit journal in {dir}")]
    Rotate {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode an audit record")]
    Encode(#[source] serde_json::Error),
}

/// The open journal.
pub struct AuditJournal {
    dir: PathBuf,
    max_file_bytes: u64,
    files: usize,
    current: File,
    current_bytes: u64,
}

impl AuditJournal {
    /// Opens (or creates) `audit.jsonl` in the configured folder, to append.
    pub fn open(config: &AuditConfig) -> Result<Self, AuditError> {
        std::fs::create_dir_all(&config.dir)
            .map_err(|source| AuditError::CreateDir { path: config.dir.clone(), source })?;
        let (current, current_bytes) = open_current(&config.dir)?;
        Ok(Self {
            dir: config.dir.clone(),
            max_file_bytes: config.max_file_bytes,
            files: config.files,
            current,
            current_bytes,
        })
    }

    /// Appends `records`, one line each, and makes them durable.
    pub fn append(&mut self, records: &[AuditRecord]) -> Result<(), AuditError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut lines = Vec::new();
        for record in records {
            serde_json::to_writer(&mut lines, record).map_err(AuditError::Encode)?;
            lines.push(b'\n');
        }
        if self.current_bytes > 0 && self.current_bytes + lines.len() as u64 > self.max_file_bytes {
            self.rotate()?;
        }
        let path = self.dir.join(CURRENT_FILE);
        let write_error = |source| AuditError::Write { path: path.clone(), source };
        self.current.write_all(&lines).map_err(write_error)?;
        self.current.sync_data().map_err(write_error)?;
        self.current_bytes += lines.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), AuditError> {
        let rotate_error = |source| AuditError::Rotate { dir: self.dir.clone(), source };
        let numbered = |n: usize| self.dir.join(format!("audit.{n}.jsonl"));
        // The oldest kept is audit.<files - 1>.jsonl: with the current file, `files` in all.
        let oldest = self.files.saturating_sub(1);
        if oldest == 0 {
            std::fs::remove_file(self.dir.join(CURRENT_FILE)).map_err(rotate_error)?;
        } else {
            match std::fs::remove_file(numbered(oldest)) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(rotate_error(error)),
                _ => {}
            }
            for n in (1..oldest).rev() {
                if numbered(n).exists() {
                    std::fs::rename(numbered(n), numbered(n + 1)).map_err(rotate_error)?;
                }
            }
            std::fs::rename(self.dir.join(CURRENT_FILE), numbered(1)).map_err(rotate_error)?;
        }
        let (current, current_bytes) = open_current(&self.dir)?;
        self.current = current;
        self.current_bytes = current_bytes;
        Ok(())
    }
}

/// Opens `audit.jsonl` to append. A line cut off by a crash (no newline at
/// the end) is ended first, so the next record starts on its own line.
fn open_current(dir: &Path) -> Result<(File, u64), AuditError> {
    let path = dir.join(CURRENT_FILE);
    let open_error = |source| AuditError::Open { path: path.clone(), source };
    let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(open_error)?;
    let mut length = file.metadata().map_err(open_error)?.len();
    if length > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(length - 1)).map_err(open_error)?;
        file.read_exact(&mut last).map_err(open_error)?;
        if last[0] != b'\n' {
            file.write_all(b"\n").map_err(|source| AuditError::Write { path: path.clone(), source })?;
            length += 1;
        }
    }
    Ok((file, length))
}

#[cfg(test)]
mod tests {
    use shopfloor_core::schema::{Origin, Question};

    use super::*;

    fn record(id: &str) -> AuditRecord {
        let question = Question::new(id, "What is the spindle temperature?", "alice", Origin::Mqtt, 1_000);
        let mut answer = Answer::to_question(&question, "72.4 °C".into());
        answer.latency_ms = 300;
        AuditRecord::new(&answer, Some(question.text.clone()), Vec::new(), 1_300)
    }

    fn lines(path: &Path) -> Vec<AuditRecord> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    fn config(dir: &Path, max_file_bytes: u64, files: usize) -> AuditConfig {
        AuditConfig { dir: dir.to_owned(), max_file_bytes, files }
    }

    #[test]
    fn records_survive_a_reopen_and_a_cut_off_line_is_ended() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = AuditJournal::open(&config(dir.path(), 1 << 20, 4)).unwrap();
        journal.append(&[record("q-1")]).unwrap();
        drop(journal);
        // A crash in the middle of a line.
        let path = dir.path().join(CURRENT_FILE);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"answered_ts_ms":1,"id":"cut"#).unwrap();
        drop(file);
        let mut journal = AuditJournal::open(&config(dir.path(), 1 << 20, 4)).unwrap();
        journal.append(&[record("q-2")]).unwrap();
        let ids: Vec<String> = lines(&path).into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["q-1", "q-2"]);
        let first = &lines(&path)[0];
        assert_eq!(first.question.as_deref(), Some("What is the spindle temperature?"));
        assert_eq!((first.operator.as_str(), first.received_ts_ms), ("alice", 1_000));
    }

    #[test]
    fn files_rotate_by_size_and_the_oldest_go() {
        let dir = tempfile::tempdir().unwrap();
        let one = serde_json::to_vec(&record("q-0")).unwrap().len() as u64 + 1;
        // Two records per file, three files in all.
        let mut journal = AuditJournal::open(&config(dir.path(), 2 * one, 3)).unwrap();
        for n in 0..9 {
            journal.append(&[record(&format!("q-{n}"))]).unwrap();
        }
        let ids = |name: &str| lines(&dir.path().join(name)).into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(CURRENT_FILE), ["q-8"]);
        assert_eq!(ids("audit.1.jsonl"), ["q-6", "q-7"]);
        assert_eq!(ids("audit.2.jsonl"), ["q-4", "q-5"]);
        assert!(!dir.path().join("audit.3.jsonl").exists(), "more files kept than configured");
    }
}
