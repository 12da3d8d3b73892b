//! The operator console: a page served under `/console` with the plant's
//! live values, a question box, the alarm list with its ISA-18.2 lifecycle
//! and the replay reports (docs/console.md).
//!
//! - [`plant`]: latest value and history of every tag
//! - [`alarms`]: the alarm states (plain state, time passed in)
//! - [`journal`]: alarm changes on disk, replayed at start
//! - [`sessions`]: logins, cookie and CSRF tokens
//! - [`reports`]: replay reports, rendered to HTML
//! - [`routes`]: the HTTP side
//!
//! The dora loop feeds readings and alerts in ([`Console::take_readings`],
//! [`Console::take_alerts`]); every change goes to the pages as a
//! server-sent event through one bounded broadcast channel.

pub mod alarms;
pub mod journal;
pub mod plant;
pub mod reports;
pub mod routes;
pub mod sessions;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::json;
use shopfloor_core::schema::{AlarmEvent, Alert, Reading};
use tokio::sync::broadcast;

use alarms::{Alarm, AlarmBoard, AlarmError, Change};
use journal::{AlarmJournal, JournalError};
use plant::LiveTags;
use sessions::Sessions;

/// Updates buffered per page; a page further behind gets a fresh snapshot.
const UPDATE_BUFFER: usize = 256;
/// Live streams (open console pages) at most; more get 503.
pub const MAX_STREAMS: usize = 256;
/// The update that ends every live stream: the gateway is stopping.
pub const CLOSING_EVENT: &str = "closing";

/// The console's settings (from [`crate::config::GatewayConfig`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleSettings {
    /// Alarm journal file; None keeps alarms in memory only.
    pub journal: Option<PathBuf>,
    /// Folder of replay reports; None lists none.
    pub reports: Option<PathBuf>,
    /// A value older than this is shown stale.
    pub stale_after_ms: i64,
    /// How long a login lasts.
    pub session_ms: i64,
    /// Mark the session cookie `Secure` (the gateway listens beyond loopback).
    pub secure_cookie: bool,
}

/// One server-sent event for every page: its name and JSON data.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub event: &'static str,
    pub data: String,
}

struct Live {
    tags: LiveTags,
    alarms: AlarmBoard,
    journal: Option<AlarmJournal>,
}

/// Counts for `/metrics`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleCounts {
    pub journal_failures: u64,
    pub refused_tags: u64,
    pub alarms: u64,
    pub sessions: u64,
    pub streams: u64,
}

/// Why an operator's change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Alarm(#[from] AlarmError),
    /// Not recorded, so not made: the operator is told to try again.
    #[error("the change could not be recorded on disk: {0}")]
    Journal(#[source] JournalError),
}

/// The console's shared state.
pub struct Console {
    pub settings: ConsoleSettings,
    live: Mutex<Live>,
    sessions: Mutex<Sessions>,
    updates: broadcast::Sender<Arc<Update>>,
    streams: Arc<tokio::sync::Semaphore>,
    journal_failures: std::sync::atomic::AtomicU64,
}

impl Console {
    /// Opens the journal (replaying it) when one is configured.
    pub fn open(settings: ConsoleSettings) -> Result<Self, JournalError> {
        let (journal, board) = match &settings.journal {
            Some(path) => {
                let (journal, replayed) = AlarmJournal::open(path)?;
                tracing::info!(
                    path = %path.display(),
                    alarms = replayed.alarms.len(),
                    unreadable_lines = replayed.unreadable_lines,
                    "alarm journal replayed"
                );
                (Some(journal), AlarmBoard::from_alarms(replayed.alarms))
            }
            None => (None, AlarmBoard::default()),
        };
        let (updates, _) = broadcast::channel(UPDATE_BUFFER);
        Ok(Self {
            sessions: Mutex::new(Sessions::new(settings.session_ms)),
            settings,
            live: Mutex::new(Live { tags: LiveTags::default(), alarms: board, journal }),
            updates,
            streams: Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
            journal_failures: Default::default(),
        })
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn sessions(&self) -> MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver of every later update (subscribe before taking the snapshot).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.updates.subscribe()
    }

    /// A share of [`MAX_STREAMS`], held while a page's stream is open.
    pub fn stream_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.streams.clone().try_acquire_owned().ok()
    }

    /// Ends every live stream (the gateway is stopping: the server waits
    /// for open connections to end).
    pub fn close(&self) {
        let _ = self.updates.send(Arc::new(Update { event: CLOSING_EVENT, data: String::new() }));
    }

    fn publish(&self, event: &'static str, data: serde_json::Value) {
        // No page listening is no error.
        let _ = self.updates.send(Arc::new(Update { event, data: data.to_string() }));
    }

    /// Everything a page starts from.
    pub fn snapshot(&self, now_ms: i64) -> Update {
        let live = self.live();
        let data = json!({
            "now_ms": now_ms,
            "stale_after_ms": self.settings.stale_after_ms,
            "tags": live.tags.snapshot(),
            "sources": live.tags.sources(),
            "alarms": live.alarms.newest_first().into_iter().map(alarm_view).collect::<Vec<_>>(),
        });
        Update { event: "snapshot", data: data.to_string() }
    }

    /// A batch of readings from a source.
    pub fn take_readings(&self, readings: &[Reading], now_ms: i64) {
        let changed = self.live().tags.take(readings);
        if !changed.is_empty() {
            self.publish("tags", json!({ "now_ms": now_ms, "tags": changed }));
        }
    }

    /// A batch of alerts: the alarm events they caused (to publish over MQTT).
    pub fn take_alerts(&self, alerts: &[Alert], now_ms: i64) -> Vec<AlarmEvent> {
        let mut live = self.live();
        let changes: Vec<Change> = alerts
            .iter()
            .filter_map(|alert| {
                let change = live.alarms.take_alert(alert, now_ms)?;
                // An alert is never refused: a journal failure is logged and counted.
                if let Err(error) = self.record(&mut live, &change.alarm, false) {
                    tracing::error!(error = %error_chain(&error), "alarm change not journaled");
                }
                Some(change)
            })
            .collect();
        drop(live);
        self.announce(&changes, now_ms);
        changes.into_iter().map(|change| change.event).collect()
    }

    /// Shelves whose time ran out (the metrics tick calls this every second);
    /// the pages also learn when each source was last heard from.
    pub fn tick(&self, now_ms: i64) -> Vec<AlarmEvent> {
        let mut live = self.live();
        if !live.tags.is_empty() {
            self.publish("sources", json!({ "now_ms": now_ms, "sources": live.tags.sources() }));
        }
        let changes = live.alarms.expired_shelves(now_ms);
        for change in &changes {
            if let Err(error) = self.record(&mut live, &change.alarm, false) {
                tracing::error!(error = %error_chain(&error), "alarm change not journaled");
            }
        }
        drop(live);
        self.announce(&changes, now_ms);
        changes.into_iter().map(|change| change.event).collect()
    }

    /// An operator's change, planned by `plan` on the current board: made
    /// only once it is journaled.
    pub fn operator_change(
        &self,
        now_ms: i64,
        plan: impl FnOnce(&AlarmBoard) -> Result<Change, AlarmError>,
    ) -> Result<(Alarm, AlarmEvent), ChangeError> {
        let mut live = self.live();
        let change = plan(&live.alarms)?;
        self.record(&mut live, &change.alarm, true).map_err(ChangeError::Journal)?;
        drop(live);
        self.announce(std::slice::from_ref(&change), now_ms);
        Ok((change.alarm, change.event))
    }

    /// Commits the alarm and journals it with the keys the board forgot.
    /// When the journal fails, an operator's change is undone (`undo`); an
    /// alert's stays, so that the alarm is at least shown.
    fn record(&self, live: &mut Live, alarm: &Alarm, undo: bool) -> Result<(), JournalError> {
        let committed = live.alarms.commit(alarm.clone());
        let Live { alarms, journal, .. } = live;
        let Some(journal) = journal.as_mut() else { return Ok(()) };
        if let Err(error) = journal.record(alarm, &committed.forgotten_keys()) {
            self.journal_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if undo {
                alarms.undo(&alarm.key, committed);
            }
            return Err(error);
        }
        if let Err(error) = journal.compact_if_due(&alarms.newest_first()) {
            tracing::warn!(error = %error_chain(&error), "alarm journal not compacted");
        }
        Ok(())
    }

    fn announce(&self, changes: &[Change], now_ms: i64) {
        if !changes.is_empty() {
            let alarms: Vec<serde_json::Value> = changes.iter().map(|change| alarm_view(&change.alarm)).collect();
            self.publish("alarms", json!({ "now_ms": now_ms, "alarms": alarms }));
        }
    }

    /// The alert id's stored crop, if a known alarm has one.
    pub fn crop_of(&self, alert_id: &str) -> Option<String> {
        let live = self.live();
        live.alarms
            .newest_first()
            .into_iter()
            .find(|alarm| alarm.alert_id == alert_id || alarm.key.ends_with(&format!("/{alert_id}")))
            .and_then(|alarm| alarm.defect.as_ref()?.image_ref.clone())
    }

    pub fn counts(&self) -> ConsoleCounts {
        let live = self.live();
        ConsoleCounts {
            journal_failures: self.journal_failures.load(std::sync::atomic::Ordering::Relaxed),
            refused_tags: live.tags.refused,
            alarms: live.alarms.len() as u64,
            sessions: self.sessions().len() as u64,
            streams: (MAX_STREAMS - self.streams.available_permits()) as u64,
        }
    }
}

/// An alarm as the page gets it: the crop as a URL of the console, never
/// as a path on the gateway.
pub fn alarm_view(alarm: &Alarm) -> serde_json::Value {
    let mut view = serde_json::to_value(alarm).unwrap_or_default();
    if let Some(defect) = view.get_mut("defect").and_then(serde_json::Value::as_object_mut) {
        let has_crop = defect.remove("image_ref").is_some_and(|image| !image.is_null());
        let url = has_crop.then(|| format!("/console/api/alarms/crop/{}", path_segment(&alarm.alert_id)));
        defect.insert("crop_url".into(), json!(url));
    }
    view
}

/// `text` as one URL path segment (percent-encoded beyond the unreserved characters).
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// An error with its sources, for a log line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
