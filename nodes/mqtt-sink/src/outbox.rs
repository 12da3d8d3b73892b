//! The outbox: every message waits here, on disk, until the broker has
//! acknowledged it, so a broker outage or a restart of the node loses
//! nothing.
//!
//! The journal (`outbox.jsonl` in the outbox folder) is append-only JSON
//! lines, `{"add":7,"topic":"…","payload":"…","priority":"low"}` (with
//! `"retain":true` and `"correlation_data":[…]` when set) and `{"done":7}`;
//! on start it is replayed, and it is rewritten with only the waiting
//! messages once most of its lines are obsolete. Lines are written through to
//! the OS at once (a killed node loses nothing it accepted); they are not
//! fsynced per message, so a power cut can lose the last moments.
//!
//! When `max_messages` are waiting, the oldest low-priority message is
//! dropped to make room (alerts are high priority and kept); the drop is
//! counted.
//!
//! When the journal cannot be written (a full disk), the outbox goes on in
//! memory: messages are still taken and published, the failure is logged
//! and counted, and every later change first tries to write the whole
//! waiting set again; the first that succeeds makes the journal whole. Only
//! a restart of the node while the disk is full loses what waited then.
//!
//! The bookkeeping ([`Outbox`]) writes through a [`Journal`]: the file
//! ([`FileJournal`]) in the node, a list in memory ([`MemoryJournal`]) in the
//! state's tests.

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
    pub topic: String,
    pub payload: String,
    pub priority: Priority,
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

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
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
    #[error("cannot use the outbox journal {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("outbox {path} is in use by another running sink; give each sink its own OUTBOX_DIR")]
    InUse { path: PathBuf },
    #[error("cannot encode an outbox journal line")]
    Encode(#[from] serde_json::Error),
}

/// Where the outbox's records go.
pub trait Journal {
    fn append(&mut self, record: &Record) -> Result<(), OutboxError>;

    /// Replaces every line with `records` (compaction); all or nothing.
    fn rewrite(&mut self, records: &[Record]) -> Result<(), OutboxError>;
}

/// The journal file, locked for the life of the handle so that two sinks
/// never interleave one journal.
pub struct FileJournal {
    path: PathBuf,
    file: File,
}

/// What a journal file held when it was opened.
pub struct Replayed {
    pub records: Vec<Record>,
    /// Lines that did not parse (cut short by a crash mid-write): skipped.
    pub damaged_lines: usize,
}

impl FileJournal {
    /// Opens (or creates) `outbox.jsonl` in `dir` and reads its records.
    pub fn open(dir: &Path) -> Result<(Self, Replayed), OutboxError> {
        let path = dir.join("outbox.jsonl");
        let io = |source| OutboxError::Io { path: path.clone(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut replayed = Replayed { records: Vec::new(), damaged_lines: 0 };
        if path.exists() {
            let file = File::open(&path).map_err(io)?;
            for line in BufReader::new(file).lines() {
                match serde_json::from_str::<Record>(&line.map_err(io)?) {
                    Ok(record) => replayed.records.push(record),
                    Err(_) => replayed.damaged_lines += 1,
                }
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io)?;
        lock(&file, &path)?;
        Ok((Self { path, file }, replayed))
    }

    fn io_error(&self, source: std::io::Error) -> OutboxError {
        OutboxError::Io { path: self.path.clone(), source }
    }
}

fn line(record: &Record) -> Result<Vec<u8>, OutboxError> {
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    Ok(line)
}

impl Journal for FileJournal {
    fn append(&mut self, record: &Record) -> Result<(), OutboxError> {
        let line = line(record)?;
        self.file.write_all(&line).map_err(|source| self.io_error(source))
    }

    fn rewrite(&mut self, records: &[Record]) -> Result<(), OutboxError> {
        let fresh = self.path.with_extension("jsonl.new");
        let mut text = Vec::new();
        for record in records {
            text.extend(line(record)?);
        }
        std::fs::write(&fresh, &text).map_err(|source| self.io_error(source))?;
        // Rename is atomic: a crash leaves either the old or the new journal.
        std::fs::rename(&fresh, &self.path).map_err(|source| self.io_error(source))?;
        self.file = OpenOptions::new().append(true).open(&self.path).map_err(|source| self.io_error(source))?;
        lock(&self.file, &self.path)
    }
}

/// A journal kept in memory: what a file would hold, for tests.
#[derive(Debug, Default, Clone)]
pub struct MemoryJournal {
    pub records: Vec<Record>,
}

impl Journal for MemoryJournal {
    fn append(&mut self, record: &Record) -> Result<(), OutboxError> {
        self.records.push(record.clone());
        Ok(())
    }

    fn rewrite(&mut self, records: &[Record]) -> Result<(), OutboxError> {
        self.records = records.to_vec();
        Ok(())
    }
}

/// Messages waiting for an acknowledgement, in order.
pub struct Outbox<J: Journal = FileJournal> {
    journal: J,
    waiting: BTreeMap<u64, Message>,
    next_seq: u64,
    max_messages: usize,
    journal_lines: usize,
    dropped: u64,
    /// The journal missed a change (a write failed): it must be rewritten
    /// whole before it holds what waits.
    behind: bool,
    /// Writes that failed, since the outbox was opened.
    write_failures: u64,
    /// Journal lines that did not parse when the outbox was opened.
    pub damaged_lines: usize,
}

impl Outbox<FileJournal> {
    /// Opens (or creates) the outbox in `dir`, replaying its journal.
    pub fn open(dir: &Path, max_messages: usize) -> Result<Self, OutboxError> {
        let (journal, replayed) = FileJournal::open(dir)?;
        let lines = replayed.records.len() + replayed.damaged_lines;
        let mut outbox = Outbox::replay(journal, replayed.records, max_messages)?;
        outbox.journal_lines = lines;
        outbox.damaged_lines = replayed.damaged_lines;
        outbox.compact_if_worthwhile()?;
        Ok(outbox)
    }
}

impl<J: Journal> Outbox<J> {
    /// The outbox `records` describe, writing on to `journal`.
    pub fn replay(journal: J, records: Vec<Record>, max_messages: usize) -> Result<Self, OutboxError> {
        let mut waiting = BTreeMap::new();
        let mut next_seq = 1;
        let journal_lines = records.len();
        for record in records {
            match record {
                Record::Add { add, message } => {
                    waiting.insert(add, message);
                    next_seq = next_seq.max(add + 1);
                }
                Record::Done { done } => {
                    waiting.remove(&done);
                }
            }
        }
        Ok(Self {
            journal,
            waiting,
            next_seq,
            max_messages,
            journal_lines,
            dropped: 0,
            behind: false,
            write_failures: 0,
            damaged_lines: 0,
        })
    }

    pub fn journal(&self) -> &J {
        &self.journal
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
        let record = Record::Add { add: seq, message: message.clone() };
        self.waiting.insert(seq, message);
        self.write(&record)?;
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

    pub fn get(&self, seq: u64) -> Option<&Message> {
        self.waiting.get(&seq)
    }

    /// The first waiting sequence number after `seq` (0: from the start).
    pub fn next_after(&self, seq: u64) -> Option<u64> {
        self.waiting.range(seq + 1..).next().map(|(s, _)| *s)
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Messages dropped because the outbox was full, since it was opened.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Journal writes that failed (a full disk), since the outbox was opened.
    pub fn write_failures(&self) -> u64 {
        self.write_failures
    }

    /// Whether the journal holds every waiting message (false after a failed
    /// write until a rewrite succeeds).
    pub fn is_journaled(&self) -> bool {
        !self.behind
    }

    fn remove(&mut self, seq: u64) -> Result<(), OutboxError> {
        self.waiting.remove(&seq);
        self.write(&Record::Done { done: seq })
    }

    /// Journals one change, already made in memory. An I/O failure leaves the
    /// journal behind (logged once, counted each time) instead of stopping
    /// the node: what waits stays in memory and is still published.
    fn write(&mut self, record: &Record) -> Result<(), OutboxError> {
        let written = if self.behind { self.rewrite() } else { self.journal.append(record) };
        match written {
            Ok(()) => {
                if self.behind {
                    self.behind = false;
                    tracing::info!(
                        waiting = self.waiting.len(),
                        "outbox journal written again; it holds every waiting message"
                    );
                } else {
                    self.journal_lines += 1;
                }
                Ok(())
            }
            Err(OutboxError::Io { path, source }) => {
                self.write_failures += 1;
                if !self.behind {
                    tracing::error!(
                        path = %path.display(),
                        error = %source,
                        waiting = self.waiting.len(),
                        "cannot write the outbox journal (disk full?); going on in memory, a restart now would lose what waits"
                    );
                }
                self.behind = true;
                Ok(())
            }
            Err(other) => Err(other),
        }
    }

    /// The journal replaced by the waiting messages.
    fn rewrite(&mut self) -> Result<(), OutboxError> {
        let records: Vec<Record> =
            self.waiting.iter().map(|(seq, m)| Record::Add { add: *seq, message: m.clone() }).collect();
        self.journal.rewrite(&records)?;
        self.journal_lines = records.len();
        Ok(())
    }

    /// Rewrites the journal with the waiting messages only, once it has more
    /// than 1000 lines and four times as many lines as messages.
    fn compact_if_worthwhile(&mut self) -> Result<(), OutboxError> {
        if self.behind || self.journal_lines <= 1000 || self.journal_lines <= 4 * self.waiting.len() {
            return Ok(());
        }
        match self.rewrite() {
            Err(OutboxError::Io { path, source }) => {
                // The journal as it was still holds everything: try again later.
                self.write_failures += 1;
                tracing::warn!(path = %path.display(), error = %source, "cannot compact the outbox journal");
                Ok(())
            }
            other => other,
        }
    }
}

fn lock(journal: &File, path: &Path) -> Result<(), OutboxError> {
    match journal.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(OutboxError::InUse { path: path.to_owned() }),
        Err(std::fs::TryLockError::Error(source)) => Err(OutboxError::Io { path: path.to_owned(), source }),
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
    fn an_outbox_in_memory_replays_like_the_file() {
        let mut outbox = Outbox::replay(MemoryJournal::default(), Vec::new(), 100).unwrap();
        let first = outbox.push(Message::new("t/1".into(), "{}".into(), Priority::Low)).unwrap();
        let second = outbox.push(Message::new("t/2".into(), "{}".into(), Priority::High)).unwrap();
        outbox.acknowledge(first).unwrap();
        let records = outbox.journal().records.clone();
        assert_eq!(records.len(), 3);
        let reopened = Outbox::replay(MemoryJournal::default(), records, 100).unwrap();
        assert_eq!((reopened.len(), reopened.next_after(0)), (1, Some(second)));
        let mut reopened = reopened;
        assert!(reopened.push(Message::new("t/3".into(), "{}".into(), Priority::Low)).unwrap() > second);
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

    /// A journal that fails every write while `full` is set, as a full disk does.
    #[derive(Default)]
    struct FillingDisk {
        inner: MemoryJournal,
        full: std::rc::Rc<std::cell::Cell<bool>>,
    }

    impl Journal for FillingDisk {
        fn append(&mut self, record: &Record) -> Result<(), OutboxError> {
            self.check()?;
            self.inner.append(record)
        }

        fn rewrite(&mut self, records: &[Record]) -> Result<(), OutboxError> {
            self.check()?;
            self.inner.rewrite(records)
        }
    }

    impl FillingDisk {
        fn check(&self) -> Result<(), OutboxError> {
            if self.full.get() {
                let source = std::io::Error::from_raw_os_error(28); // ENOSPC
                return Err(OutboxError::Io { path: "outbox.jsonl".into(), source });
            }
            Ok(())
        }
    }

    #[test]
    fn a_full_disk_keeps_messages_in_memory_and_the_journal_is_made_whole_when_space_returns() {
        let full = std::rc::Rc::new(std::cell::Cell::new(false));
        let disk = FillingDisk { full: full.clone(), ..FillingDisk::default() };
        let mut outbox = Outbox::replay(disk, Vec::new(), 100).unwrap();
        let first = outbox.push(Message::new("t/1".into(), "1".into(), Priority::High)).unwrap();
        full.set(true);
        let second = outbox.push(Message::new("t/2".into(), "2".into(), Priority::High)).unwrap();
        outbox.acknowledge(first).unwrap();
        assert_eq!((outbox.len(), outbox.is_journaled(), outbox.write_failures()), (1, false, 2));
        assert_eq!(outbox.get(second).map(|m| m.topic.as_str()), Some("t/2"), "still waiting, in memory");

        full.set(false);
        let third = outbox.push(Message::new("t/3".into(), "3".into(), Priority::Low)).unwrap();
        assert!(outbox.is_journaled());
        // The journal now replays to exactly what waits.
        let records = outbox.journal().inner.records.clone();
        let replayed = Outbox::replay(MemoryJournal::default(), records, 100).unwrap();
        let waiting: Vec<u64> = std::iter::successors(replayed.next_after(0), |s| replayed.next_after(*s)).collect();
        assert_eq!(waiting, [second, third]);
    }
}
