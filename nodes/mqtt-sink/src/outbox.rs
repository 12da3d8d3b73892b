//! The outbox: every message waits here, on disk, until the broker has
//! acknowledged it, so a broker outage or a restart of the node loses
//! nothing.
//!
//! The journal (`outbox.jsonl` in the outbox folder) is append-only JSON
//! lines, `{"add":7,"topic":"…","payload":"…","priority":"low"}` (with
//! `"retain":true` and `"correlation_data":[…]` when set) and `{"done":7}`; on start it is replayed, and it is rewritten with only the
//! waiting messages once most of its lines are obsolete. Lines are written
//! through to the OS at once (a killed node loses nothing it accepted); they
//! are not fsynced per message, so a power cut can lose the last moments.
//!
//! When `max_messages` are waiting, the oldest low-priority message is
//! dropped to make room (alerts are high priority and kept); the drop is
//! counted.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Which messages go first when the outbox is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Dropped first (answers: stale after a long outage anyway).
    Low,
    /// Kept (alerts).
    High,
}

/// One waiting message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Topic.
    pub topic: String,
    /// Payload (JSON text).
    pub payload: String,
    /// Priority.
    pub priority: Priority,
    /// Publish retained.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retain: bool,
    /// MQTT 5 correlation data of the request this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_data: Option<Vec<u8>>,
}

impl Message {
    /// A message with no retain flag and no correlation data.
    pub fn new(topic: String, payload: String, priority: Priority) -> Self {
        Self { topic, payload, priority, retain: false, correlation_data: None }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Record {
    Add {
        add: u64,
        #[serde(flatten)]
        message: Message,
    },
    Done {
        done: u64,
    },
}

/// Why the outbox could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The folder or journal could not be created, read or written.
    #[error("outbox {path}: {source}")]
    Io {
        /// Journal path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Another running sink holds this outbox.
    #[error("outbox {path} is in use by another running sink; give each sink its own OUTBOX_DIR")]
    InUse {
        /// Journal path.
        path: String,
    },
}

/// Messages waiting for an acknowledgement, in order.
pub struct Outbox {
    path: PathBuf,
    journal: File,
    waiting: BTreeMap<u64, Message>,
    next_seq: u64,
    max_messages: usize,
    journal_lines: usize,
    dropped: u64,
    /// Journal lines that did not parse when the outbox was opened.
    pub damaged_lines: usize,
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir`, replaying its journal.
    pub fn open(dir: &Path, max_messages: usize) -> Result<Self, OutboxError> {
        let path = dir.join("outbox.jsonl");
        let io = |source| OutboxError::Io { path: path.display().to_string(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut waiting = BTreeMap::new();
        let (mut next_seq, mut journal_lines, mut damaged_lines) = (1, 0, 0);
        if path.exists() {
            let file = File::open(&path).map_err(io)?;
            for line in BufReader::new(file).lines() {
                let line = line.map_err(io)?;
                journal_lines += 1;
                match serde_json::from_str::<Record>(&line) {
                    Ok(Record::Add { add, message }) => {
                        waiting.insert(add, message);
                        next_seq = next_seq.max(add + 1);
                    }
                    Ok(Record::Done { done }) => {
                        waiting.remove(&done);
                    }
                    // A line cut short by a crash mid-write: skip it, count it.
                    Err(_) => damaged_lines += 1,
                }
            }
        }
        let journal = OpenOptions::new().create(true).append(true).open(&path).map_err(io)?;
        lock(&journal, &path)?;
        let mut outbox =
            Self { path, journal, waiting, next_seq, max_messages, journal_lines, dropped: 0, damaged_lines };
        outbox.compact_if_worthwhile()?;
        Ok(outbox)
    }

    /// Adds a message; returns its sequence number, or 0 when the outbox is
    /// full of alerts and this low-priority message is the one dropped. When
    /// full, makes room first (see the module docs).
    pub fn push(&mut self, message: Message) -> Result<u64, OutboxError> {
        let priority = message.priority;
        while self.waiting.len() >= self.max_messages {
            let victim = self
                .waiting
                .iter()
                .find(|(_, m)| m.priority == Priority::Low)
                .or_else(|| self.waiting.iter().next())
                .map(|(seq, _)| *seq);
            let Some(victim) = victim else { break };
            if priority == Priority::Low && self.waiting[&victim].priority == Priority::High {
                // Only alerts are waiting: the new low-priority message is the one to drop.
                self.dropped += 1;
                tracing::warn!(dropped = self.dropped, "outbox full of alerts; dropping a low-priority message");
                return Ok(0);
            }
            self.remove(victim)?;
            self.dropped += 1;
            tracing::warn!(
                seq = victim,
                dropped = self.dropped,
                "outbox full; dropped the oldest low-priority message"
            );
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.write(&Record::Add { add: seq, message: message.clone() })?;
        self.waiting.insert(seq, message);
        Ok(seq)
    }

    /// The broker acknowledged `seq`: forget it.
    pub fn acknowledge(&mut self, seq: u64) -> Result<(), OutboxError> {
        if self.waiting.contains_key(&seq) {
            self.remove(seq)?;
            self.compact_if_worthwhile()?;
        }
        Ok(())
    }

    /// The waiting message `seq`.
    pub fn get(&self, seq: u64) -> Option<&Message> {
        self.waiting.get(&seq)
    }

    /// The first waiting sequence number after `seq` (0: from the start).
    pub fn next_after(&self, seq: u64) -> Option<u64> {
        self.waiting.range(seq + 1..).next().map(|(s, _)| *s)
    }

    /// How many messages wait.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Messages dropped because the outbox was full, since it was opened.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn remove(&mut self, seq: u64) -> Result<(), OutboxError> {
        self.waiting.remove(&seq);
        self.write(&Record::Done { done: seq })
    }

    fn write(&mut self, record: &Record) -> Result<(), OutboxError> {
        let mut line = serde_json::to_vec(record).unwrap_or_default();
        line.push(b'\n');
        self.journal_lines += 1;
        self.journal.write_all(&line).map_err(|source| self.io_error(source))
    }

    /// Rewrites the journal with the waiting messages only, once it has more
    /// than 1000 lines and four times as many lines as messages.
    fn compact_if_worthwhile(&mut self) -> Result<(), OutboxError> {
        if self.journal_lines <= 1000 || self.journal_lines <= 4 * self.waiting.len() {
            return Ok(());
        }
        let fresh = self.path.with_extension("jsonl.new");
        let mut text = Vec::new();
        for (seq, m) in &self.waiting {
            let record = Record::Add { add: *seq, message: m.clone() };
            text.extend(serde_json::to_vec(&record).unwrap_or_default());
            text.push(b'\n');
        }
        std::fs::write(&fresh, &text).map_err(|source| self.io_error(source))?;
        // Rename is atomic: a crash leaves either the old or the new journal.
        std::fs::rename(&fresh, &self.path).map_err(|source| self.io_error(source))?;
        self.journal = OpenOptions::new().append(true).open(&self.path).map_err(|source| self.io_error(source))?;
        lock(&self.journal, &self.path)?;
        self.journal_lines = self.waiting.len();
        Ok(())
    }

    fn io_error(&self, source: std::io::Error) -> OutboxError {
        OutboxError::Io { path: self.path.display().to_string(), source }
    }
}

/// An exclusive advisory lock for the life of the file handle, so that two
/// sinks never interleave one journal.
fn lock(journal: &File, path: &Path) -> Result<(), OutboxError> {
    match journal.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(OutboxError::InUse { path: path.display().to_string() }),
        Err(std::fs::TryLockError::Error(source)) => Err(OutboxError::Io { path: path.display().to_string(), source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("shopfloor-outbox-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn push(outbox: &mut Outbox, n: u32, priority: Priority) -> u64 {
        outbox.push(Message::new(format!("t/{n}"), format!("{{\"n\":{n}}}"), priority)).unwrap()
    }

    #[test]
    fn waiting_messages_survive_a_restart_in_order() {
        let d = dir("restart");
        let mut outbox = Outbox::open(&d, 100).unwrap();
        let seqs: Vec<u64> = (0..5).map(|n| push(&mut outbox, n, Priority::Low)).collect();
        outbox.acknowledge(seqs[1]).unwrap();
        drop(outbox);
        let reopened = Outbox::open(&d, 100).unwrap();
        assert_eq!(reopened.len(), 4);
        let order: Vec<u64> = std::iter::successors(reopened.next_after(0), |s| reopened.next_after(*s)).collect();
        assert_eq!(order, [seqs[0], seqs[2], seqs[3], seqs[4]]);
        assert_eq!(reopened.get(seqs[2]).unwrap().topic, "t/2");
        std::fs::remove_dir_all(d).ok();
    }

    #[test]
    fn retain_flag_and_correlation_data_survive_a_restart() {
        let d = dir("properties");
        let mut outbox = Outbox::open(&d, 100).unwrap();
        let message = Message {
            retain: true,
            correlation_data: Some(vec![0, 255, 7]),
            ..Message::new("t".into(), "{}".into(), Priority::High)
        };
        let seq = outbox.push(message.clone()).unwrap();
        drop(outbox);
        assert_eq!(Outbox::open(&d, 100).unwrap().get(seq), Some(&message));
        std::fs::remove_dir_all(d).ok();
    }

    #[test]
    fn a_second_sink_cannot_open_the_same_outbox() {
        let d = dir("locked");
        let _first = Outbox::open(&d, 10).unwrap();
        assert!(matches!(Outbox::open(&d, 10), Err(OutboxError::InUse { .. })));
        std::fs::remove_dir_all(d).ok();
    }

    #[test]
    fn a_line_cut_short_by_a_crash_is_skipped_and_counted() {
        let d = dir("torn");
        let mut outbox = Outbox::open(&d, 100).unwrap();
        push(&mut outbox, 1, Priority::Low);
        drop(outbox);
        let mut journal = OpenOptions::new().append(true).open(d.join("outbox.jsonl")).unwrap();
        journal.write_all(b"{\"add\":2,\"topic\":\"t/").unwrap();
        let reopened = Outbox::open(&d, 100).unwrap();
        assert_eq!((reopened.len(), reopened.damaged_lines), (1, 1));
        std::fs::remove_dir_all(d).ok();
    }

    #[test]
    fn when_full_the_oldest_low_priority_message_goes_and_alerts_stay() {
        let d = dir("full");
        let mut outbox = Outbox::open(&d, 3).unwrap();
        let alert = push(&mut outbox, 0, Priority::High);
        let old_answer = push(&mut outbox, 1, Priority::Low);
        push(&mut outbox, 2, Priority::Low);
        push(&mut outbox, 3, Priority::High);
        assert_eq!(outbox.len(), 3);
        assert!(outbox.get(alert).is_some());
        assert!(outbox.get(old_answer).is_none());
        assert_eq!(outbox.dropped(), 1);
        std::fs::remove_dir_all(d).ok();
    }

    #[test]
    fn a_full_outbox_of_alerts_drops_the_new_low_priority_message() {
        let d = dir("alerts");
        let mut outbox = Outbox::open(&d, 2).unwrap();
        push(&mut outbox, 0, Priority::High);
        push(&mut outbox, 1, Priority::High);
        assert_eq!(push(&mut outbox, 2, Priority::Low), 0);
        assert_eq!((outbox.len(), outbox.dropped()), (2, 1));
        std::fs::remove_dir_all(d).ok();
    }

    #[test]
    fn the_journal_is_compacted_once_mostly_obsolete() {
        let d = dir("compact");
        let mut outbox = Outbox::open(&d, 10_000).unwrap();
        for n in 0..2000 {
            let seq = push(&mut outbox, n, Priority::Low);
            if n % 100 != 0 {
                outbox.acknowledge(seq).unwrap();
            }
        }
        let lines = std::fs::read_to_string(d.join("outbox.jsonl")).unwrap().lines().count();
        assert!(lines < 1200, "{lines} journal lines for {} waiting", outbox.len());
        drop(outbox);
        assert_eq!(Outbox::open(&d, 10_000).unwrap().len(), 20);
        std::fs::remove_dir_all(d).ok();
    }
}
