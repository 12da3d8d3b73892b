//! The console's alarm list as plain state, after ISA-18.2: every alert
//! raises (or re-raises) an alarm; operators acknowledge and shelve; a
//! `*_cleared` alert returns it to normal. No I/O and no clock: the caller
//! passes the time and journals each changed alarm before committing it
//! ([`AlarmBoard::commit`]), so what an operator was told is recorded.
//!
//! | state | active | needs acknowledgement |
//! |---|---|---|
//! | `unacknowledged` | yes | yes |
//! | `acknowledged` | yes | no |
//! | `returned_unacknowledged` | no | yes |
//! | `cleared` | no | no |
//!
//! An alert without a tag (a defect found in a frame) is an event, not a
//! condition that returns: it stays active until acknowledged, then clears.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shopfloor_core::schema::{AlarmAction, AlarmEvent, AlarmState, Alert, Region, Severity};

/// Cleared alarms kept for the list's history; older ones are forgotten.
pub const MAX_CLEARED: usize = 200;
/// Alarms kept at most: beyond it the oldest cleared, then the oldest
/// acknowledged, are forgotten (a defect flood must not grow memory without bound).
pub const MAX_ALARMS: usize = 2_000;
/// Longest shelving an operator may ask for (24 h, in minutes).
pub const MAX_SHELVE_MINUTES: u32 = 1_440;
/// Longest comment kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;

/// Who did something to an alarm, when, and what they wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorNote {
    pub operator: String,
    pub ts_ms: i64,
    pub comment: String,
}

/// An alarm taken off the operators' attention until `until_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shelf {
    pub operator: String,
    pub until_ms: i64,
    pub comment: String,
}

/// What a camera found, for alarms raised by inspection alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Defect {
    /// The stored crop on the gateway (served by alert id, never by path).
    pub image_ref: Option<String>,
    pub regions: Vec<DefectRegion>,
    pub location: Option<String>,
    pub verdict: Option<String>,
    pub anomaly_score: Option<f32>,
}

/// One region of a defect, in frame pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefectRegion {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub score: f32,
}

impl From<&Region> for DefectRegion {
    fn from(region: &Region) -> Self {
        Self { x: region.x, y: region.y, width: region.width, height: region.height, score: region.score }
    }
}

/// One alarm as the console shows and journals it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    /// `<station>/<tag>` for a limit alarm, `<station>/<alert id>` otherwise.
    pub key: String,
    pub station: String,
    pub tag: Option<String>,
    pub kind: String,
    #[serde(with = "severity_name")]
    pub severity: Severity,
    #[serde(with = "state_name")]
    pub state: AlarmState,
    pub message: String,
    pub source: String,
    /// The alert that raised it, or last changed it.
    pub alert_id: String,
    pub raised_ms: i64,
    pub changed_ms: i64,
    pub ack: Option<OperatorNote>,
    pub shelved: Option<Shelf>,
    pub defect: Option<Defect>,
    /// What to do, from the site's documents (older journals lack it).
    #[serde(default)]
    pub response: Option<Response>,
}

/// The alarm-response section an alert carried: its steps and source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub text: String,
    pub source: Option<String>,
}

impl Response {
    fn of(alert: &Alert) -> Option<Response> {
        alert.response.as_ref().map(|text| Response { text: text.clone(), source: alert.response_source.clone() })
    }
}

impl Alarm {
    fn event(&self, action: AlarmAction, ts_ms: i64, by: Option<(&str, &str)>) -> AlarmEvent {
        AlarmEvent {
            id: format!("{}#{ts_ms}-{}", self.key, action.as_str()),
            ts_ms,
            key: self.key.clone(),
            station: self.station.clone(),
            tag: self.tag.clone(),
            alert_id: self.alert_id.clone(),
            action,
            state: self.state,
            severity: self.severity,
            message: self.message.clone(),
            operator: by.map(|(operator, _)| operator.to_owned()),
            comment: by.map(|(_, comment)| comment.to_owned()).filter(|comment| !comment.is_empty()),
            shelved_until_ms: self.shelved.as_ref().map(|shelf| shelf.until_ms),
        }
    }

    /// A limit alarm returns to normal; an alarm without a tag only clears
    /// when acknowledged.
    fn is_condition(&self) -> bool {
        self.tag.is_some()
    }
}

/// A change to one alarm: the alarm as it will be, and the event saying so.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub alarm: Alarm,
    pub event: AlarmEvent,
}

/// Why an operator's action was refused (HTTP 404 or 409 with the text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlarmError {
    #[error("no alarm {0:?}")]
    Unknown(String),
    #[error("alarm {0:?} is already acknowledged")]
    NothingToAcknowledge(String),
    #[error("alarm {0:?} is cleared: nothing to shelve")]
    Cleared(String),
    #[error("alarm {0:?} is not shelved")]
    NotShelved(String),
    #[error("shelve for 1 to {MAX_SHELVE_MINUTES} minutes, not {0}")]
    ShelveMinutes(u32),
}

/// Every alarm the console knows, by key.
#[derive(Debug, Default)]
pub struct AlarmBoard {
    alarms: BTreeMap<String, Alarm>,
}

/// The key an alert's alarm goes by.
pub fn alarm_key(alert: &Alert) -> String {
    match &alert.tag {
        Some(tag) => format!("{}/{tag}", alert.station),
        None => format!("{}/{}", alert.station, alert.id),
    }
}

/// A comment as kept: trimmed, control characters out, at most
/// [`MAX_COMMENT_CHARS`].
pub fn clean_comment(comment: &str) -> String {
    comment.trim().chars().filter(|c| !c.is_control() || *c == '\n').take(MAX_COMMENT_CHARS).collect()
}

impl AlarmBoard {
    /// A board holding `alarms` (from the journal).
    pub fn from_alarms(alarms: impl IntoIterator<Item = Alarm>) -> Self {
        Self { alarms: alarms.into_iter().map(|alarm| (alarm.key.clone(), alarm)).collect() }
    }

    pub fn get(&self, key: &str) -> Option<&Alarm> {
        self.alarms.get(key)
    }

    /// Every alarm, newest raised first.
    pub fn newest_first(&self) -> Vec<&Alarm> {
        let mut alarms: Vec<&Alarm> = self.alarms.values().collect();
        alarms.sort_by(|a, b| b.raised_ms.cmp(&a.raised_ms).then_with(|| a.key.cmp(&b.key)));
        alarms
    }

    pub fn len(&self) -> usize {
        self.alarms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alarms.is_empty()
    }

    /// What an alert does at `now_ms` (the gateway's clock; `raised_ms`
    /// keeps the alert's plant time): raise, escalate or return an alarm.
    /// None when it changes nothing: a redelivered alert, a return of an
    /// unknown alarm, an `info` alert that is no return (information needs
    /// no operator response, so it is no alarm).
    pub fn take_alert(&self, alert: &Alert, now_ms: i64) -> Option<Change> {
        let key = alarm_key(alert);
        let existing = self.alarms.get(&key);
        if existing.is_some_and(|alarm| alarm.alert_id == alert.id) {
            return None;
        }
        if alert.severity == Severity::Info && !alert.kind.ends_with("_cleared") {
            return None;
        }
        if alert.kind.ends_with("_cleared") {
            let alarm = existing.filter(|alarm| alarm.state.is_active())?;
            let state = match alarm.state {
                AlarmState::Unacknowledged => AlarmState::ReturnedUnacknowledged,
                _ => AlarmState::Cleared,
            };
            let returned = Alarm {
                state,
                message: alert.message.clone(),
                alert_id: alert.id.clone(),
                changed_ms: now_ms,
                ..alarm.clone()
            };
            let event = returned.event(AlarmAction::Returned, now_ms, None);
            return Some(Change { alarm: returned, event });
        }
        let defect = alert.frame_id.as_ref().map(|_| Defect {
            image_ref: alert.image_ref.clone(),
            regions: alert.regions.iter().map(DefectRegion::from).collect(),
            location: alert.location.clone(),
            verdict: alert.verdict.clone(),
            anomaly_score: alert.anomaly_score,
        });
        let (alarm, action) = match existing.filter(|alarm| alarm.state.is_active()) {
            Some(active) => {
                // Worse than before: operators must look again (ISA-18.2 re-alarm).
                let worse = alert.severity > active.severity;
                let alarm = Alarm {
                    severity: active.severity.max(alert.severity),
                    state: if worse { AlarmState::Unacknowledged } else { active.state },
                    ack: if worse { None } else { active.ack.clone() },
                    message: alert.message.clone(),
                    alert_id: alert.id.clone(),
                    changed_ms: now_ms,
                    defect: defect.or_else(|| active.defect.clone()),
                    response: Response::of(alert).or_else(|| active.response.clone()),
                    ..active.clone()
                };
                (alarm, if worse { AlarmAction::Escalated } else { AlarmAction::Raised })
            }
            None => {
                let alarm = Alarm {
                    key,
                    station: alert.station.clone(),
                    tag: alert.tag.clone(),
                    kind: alert.kind.clone(),
                    severity: alert.severity,
                    state: AlarmState::Unacknowledged,
                    message: alert.message.clone(),
                    source: alert.source.clone(),
                    alert_id: alert.id.clone(),
                    raised_ms: alert.ts_ms,
                    changed_ms: now_ms,
                    ack: None,
                    // A shelf outlives a return: the operator asked for quiet until then.
                    shelved: existing.and_then(|alarm| alarm.shelved.clone()),
                    defect,
                    response: Response::of(alert),
                };
                (alarm, AlarmAction::Raised)
            }
        };
        let event = alarm.event(action, now_ms, None);
        Some(Change { alarm, event })
    }

    /// An operator acknowledges an alarm that needs it.
    pub fn acknowledge(&self, key: &str, operator: &str, comment: &str, now_ms: i64) -> Result<Change, AlarmError> {
        let alarm = self.alarms.get(key).ok_or_else(|| AlarmError::Unknown(key.to_owned()))?;
        let state = match alarm.state {
            AlarmState::Unacknowledged if alarm.is_condition() => AlarmState::Acknowledged,
            AlarmState::Unacknowledged | AlarmState::ReturnedUnacknowledged => AlarmState::Cleared,
            AlarmState::Acknowledged | AlarmState::Cleared => {
                return Err(AlarmError::NothingToAcknowledge(key.to_owned()))
            }
        };
        let comment = clean_comment(comment);
        let acknowledged = Alarm {
            state,
            ack: Some(OperatorNote { operator: operator.to_owned(), ts_ms: now_ms, comment: comment.clone() }),
            changed_ms: now_ms,
            ..alarm.clone()
        };
        let event = acknowledged.event(AlarmAction::Acknowledged, now_ms, Some((operator, &comment)));
        Ok(Change { alarm: acknowledged, event })
    }

    /// An operator shelves an alarm for `minutes` (1..=[`MAX_SHELVE_MINUTES`]).
    pub fn shelve(
        &self,
        key: &str,
        operator: &str,
        minutes: u32,
        comment: &str,
        now_ms: i64,
    ) -> Result<Change, AlarmError> {
        if !(1..=MAX_SHELVE_MINUTES).contains(&minutes) {
            return Err(AlarmError::ShelveMinutes(minutes));
        }
        let alarm = self.alarms.get(key).ok_or_else(|| AlarmError::Unknown(key.to_owned()))?;
        if alarm.state == AlarmState::Cleared {
            return Err(AlarmError::Cleared(key.to_owned()));
        }
        let comment = clean_comment(comment);
        let until_ms = now_ms + i64::from(minutes) * 60_000;
        let shelved = Alarm {
            shelved: Some(Shelf { operator: operator.to_owned(), until_ms, comment: comment.clone() }),
            changed_ms: now_ms,
            ..alarm.clone()
        };
        let event = shelved.event(AlarmAction::Shelved, now_ms, Some((operator, &comment)));
        Ok(Change { alarm: shelved, event })
    }

    /// An operator takes an alarm off the shelf.
    pub fn unshelve(&self, key: &str, operator: &str, now_ms: i64) -> Result<Change, AlarmError> {
        let alarm = self.alarms.get(key).ok_or_else(|| AlarmError::Unknown(key.to_owned()))?;
        if alarm.shelved.is_none() {
            return Err(AlarmError::NotShelved(key.to_owned()));
        }
        let unshelved = Alarm { shelved: None, changed_ms: now_ms, ..alarm.clone() };
        let event = unshelved.event(AlarmAction::Unshelved, now_ms, Some((operator, "")));
        Ok(Change { alarm: unshelved, event })
    }

    /// Shelves whose time has run out at `now_ms`.
    pub fn expired_shelves(&self, now_ms: i64) -> Vec<Change> {
        self.alarms
            .values()
            .filter(|alarm| alarm.shelved.as_ref().is_some_and(|shelf| shelf.until_ms <= now_ms))
            .map(|alarm| {
                let unshelved = Alarm { shelved: None, changed_ms: now_ms, ..alarm.clone() };
                let event = unshelved.event(AlarmAction::ShelveExpired, now_ms, None);
                Change { alarm: unshelved, event }
            })
            .collect()
    }

    /// Makes a change the board's state; forgets the oldest alarms beyond
    /// [`MAX_CLEARED`] and [`MAX_ALARMS`] (the journal forgets them too).
    pub fn commit(&mut self, alarm: Alarm) -> Committed {
        let previous = self.alarms.insert(alarm.key.clone(), alarm);
        let mut forgotten = Vec::new();
        let by_age = |alarms: &BTreeMap<String, Alarm>, wanted: &dyn Fn(&Alarm) -> bool| {
            alarms.values().filter(|a| wanted(a)).min_by_key(|a| a.changed_ms).map(|a| a.key.clone())
        };
        loop {
            let cleared = self.alarms.values().filter(|a| a.state == AlarmState::Cleared).count();
            let victim = if cleared > MAX_CLEARED {
                by_age(&self.alarms, &|a| a.state == AlarmState::Cleared)
            } else if self.alarms.len() > MAX_ALARMS {
                by_age(&self.alarms, &|a| a.state == AlarmState::Cleared)
                    .or_else(|| by_age(&self.alarms, &|a| !a.state.needs_acknowledgement()))
                    .or_else(|| by_age(&self.alarms, &|_| true))
            } else {
                None
            };
            let Some(key) = victim else { break };
            forgotten.extend(self.alarms.remove(&key));
        }
        Committed { previous, forgotten }
    }

    /// Takes back a commit of the alarm under `key` (its journal line failed).
    pub fn undo(&mut self, key: &str, committed: Committed) {
        match committed.previous {
            Some(previous) => self.alarms.insert(key.to_owned(), previous),
            None => self.alarms.remove(key),
        };
        for alarm in committed.forgotten {
            self.alarms.insert(alarm.key.clone(), alarm);
        }
    }
}

/// What a commit replaced and forgot, to journal or to undo it.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    pub previous: Option<Alarm>,
    pub forgotten: Vec<Alarm>,
}

impl Committed {
    /// The keys forgotten.
    pub fn forgotten_keys(&self) -> Vec<String> {
        self.forgotten.iter().map(|alarm| alarm.key.clone()).collect()
    }
}

/// Severity by its wire name in the journal and the API.
mod severity_name {
    use serde::{Deserialize, Deserializer, Serializer};
    use shopfloor_core::schema::Severity;

    pub fn serialize<S: Serializer>(severity: &Severity, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(severity.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Severity, D::Error> {
        let text = String::deserialize(deserializer)?;
        Severity::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown severity {text:?}")))
    }
}

/// Alarm state by its wire name in the journal and the API.
mod state_name {
    use serde::{Deserialize, Deserializer, Serializer};
    use shopfloor_core::schema::AlarmState;

    pub fn serialize<S: Serializer>(state: &AlarmState, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(state.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<AlarmState, D::Error> {
        let text = String::deserialize(deserializer)?;
        AlarmState::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown alarm state {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_764_086_400_000;

    fn limit(id: &str, ts_ms: i64, severity: Severity, kind: &str) -> Alert {
        Alert {
            tag: Some("spindle_temperature".into()),
            ..Alert::new(id, ts_ms, "station1", severity, kind, format!("{kind} at {ts_ms}"), "limit-alarms")
        }
    }

    fn defect(id: &str) -> Alert {
        Alert {
            frame_id: Some("cam1-000042".into()),
            image_ref: Some("/crops/cam1-000042.png".into()),
            regions: vec![Region { x: 10, y: 20, width: 30, height: 8, score: 9.5 }],
            ..Alert::new(id, T0, "station3", Severity::Warning, "scratch", "Scratch", "vlm-inspector")
        }
    }

    /// Applies what the alert does; returns the action, if any.
    fn take(board: &mut AlarmBoard, alert: &Alert) -> Option<AlarmAction> {
        let change = board.take_alert(alert, alert.ts_ms)?;
        board.commit(change.alarm);
        Some(change.event.action)
    }

    fn state(board: &AlarmBoard) -> AlarmState {
        board.get("station1/spindle_temperature").unwrap().state
    }

    #[test]
    fn a_limit_alarm_goes_through_the_isa_18_2_states() {
        let mut board = AlarmBoard::default();
        let key = "station1/spindle_temperature";
        assert_eq!(take(&mut board, &limit("a1", T0, Severity::Warning, "high_limit")), Some(AlarmAction::Raised));
        assert_eq!(state(&board), AlarmState::Unacknowledged);

        let acked = board.acknowledge(key, "anna", "  checking coolant ", T0 + 5).unwrap();
        assert_eq!(acked.event.operator.as_deref(), Some("anna"));
        assert_eq!(acked.event.comment.as_deref(), Some("checking coolant"));
        board.commit(acked.alarm);
        assert_eq!(state(&board), AlarmState::Acknowledged);
        assert_eq!(board.acknowledge(key, "anna", "", T0 + 6), Err(AlarmError::NothingToAcknowledge(key.into())));

        assert_eq!(
            take(&mut board, &limit("a2", T0 + 9, Severity::Info, "limit_cleared")),
            Some(AlarmAction::Returned)
        );
        assert_eq!(state(&board), AlarmState::Cleared, "acknowledged and back to normal");
        assert_eq!(board.get(key).unwrap().ack.as_ref().map(|a| a.operator.as_str()), Some("anna"));
    }

    #[test]
    fn a_return_before_anybody_acknowledged_waits_for_an_acknowledgement() {
        let mut board = AlarmBoard::default();
        take(&mut board, &limit("a1", T0, Severity::Warning, "high_limit"));
        take(&mut board, &limit("a2", T0 + 9, Severity::Info, "limit_cleared"));
        assert_eq!(state(&board), AlarmState::ReturnedUnacknowledged);
        let change = board.acknowledge("station1/spindle_temperature", "ben", "", T0 + 20).unwrap();
        assert_eq!((change.alarm.state, change.event.comment), (AlarmState::Cleared, None));
        board.commit(change.alarm);
        // A new excursion is a new alarm that needs its own acknowledgement.
        assert_eq!(take(&mut board, &limit("a3", T0 + 30, Severity::Warning, "high_limit")), Some(AlarmAction::Raised));
        assert_eq!(state(&board), AlarmState::Unacknowledged);
        assert_eq!(board.get("station1/spindle_temperature").unwrap().ack, None);
    }

    #[test]
    fn a_worse_alert_re_alarms_an_acknowledged_alarm_a_repeat_changes_nothing() {
        let mut board = AlarmBoard::default();
        let first = limit("a1", T0, Severity::Warning, "high_limit");
        take(&mut board, &first);
        assert_eq!(board.take_alert(&first, T0 + 1), None, "a redelivered alert");
        let change = board.acknowledge("station1/spindle_temperature", "anna", "", T0 + 1).unwrap();
        board.commit(change.alarm);
        assert_eq!(
            take(&mut board, &limit("a2", T0 + 2, Severity::Critical, "high_limit")),
            Some(AlarmAction::Escalated)
        );
        let alarm = board.get("station1/spindle_temperature").unwrap();
        assert_eq!(
            (alarm.state, alarm.severity, alarm.raised_ms),
            (AlarmState::Unacknowledged, Severity::Critical, T0)
        );
        assert_eq!(
            board.take_alert(&limit("a9", T0, Severity::Info, "limit_cleared"), T0).map(|c| c.alarm.state),
            Some(AlarmState::ReturnedUnacknowledged)
        );
        assert_eq!(
            AlarmBoard::default().take_alert(&limit("a9", T0, Severity::Info, "limit_cleared"), T0),
            None,
            "the return of an alarm nobody saw raised changes nothing"
        );
    }

    #[test]
    fn a_defect_is_active_until_acknowledged_and_keeps_its_crop_and_regions() {
        let mut board = AlarmBoard::default();
        take(&mut board, &defect("alert-cam1-000042"));
        let key = "station3/alert-cam1-000042";
        let alarm = board.get(key).unwrap();
        assert_eq!(alarm.state, AlarmState::Unacknowledged);
        let found = alarm.defect.as_ref().unwrap();
        assert_eq!((found.image_ref.as_deref(), found.regions.len()), (Some("/crops/cam1-000042.png"), 1));
        let change = board.acknowledge(key, "anna", "", T0 + 1).unwrap();
        assert_eq!(change.alarm.state, AlarmState::Cleared, "an event has no condition to return from");
    }

    #[test]
    fn information_is_no_alarm_and_the_gateway_clock_orders_changes() {
        let board = AlarmBoard::default();
        let judged_fine = Alert {
            frame_id: Some("f1".into()),
            ..Alert::new("f1", T0, "station3", Severity::Info, "no_defect", "ok", "vlm-inspector")
        };
        assert_eq!(board.take_alert(&judged_fine, T0), None);
        // A plant clock behind the gateway's: the change still counts as now.
        let change = board.take_alert(&limit("a1", T0 - 60_000, Severity::Warning, "high_limit"), T0).unwrap();
        assert_eq!((change.alarm.raised_ms, change.alarm.changed_ms, change.event.ts_ms), (T0 - 60_000, T0, T0));
    }

    #[test]
    fn shelving_lasts_its_minutes_then_expires() {
        let mut board = AlarmBoard::default();
        let key = "station1/spindle_temperature";
        take(&mut board, &limit("a1", T0, Severity::Warning, "high_limit"));
        assert_eq!(board.shelve(key, "anna", 0, "", T0), Err(AlarmError::ShelveMinutes(0)));
        assert_eq!(board.shelve(key, "anna", 1441, "", T0), Err(AlarmError::ShelveMinutes(1441)));
        assert_eq!(board.unshelve(key, "anna", T0), Err(AlarmError::NotShelved(key.into())));
        let change = board.shelve(key, "anna", 30, "sensor being replaced", T0).unwrap();
        assert_eq!(change.event.shelved_until_ms, Some(T0 + 30 * 60_000));
        board.commit(change.alarm);
        assert!(board.expired_shelves(T0 + 30 * 60_000 - 1).is_empty());
        let expired = board.expired_shelves(T0 + 30 * 60_000);
        assert_eq!(expired.iter().map(|c| c.event.action).collect::<Vec<_>>(), [AlarmAction::ShelveExpired]);
        assert_eq!(expired[0].alarm.shelved, None);
        assert_eq!(board.acknowledge("nope", "anna", "", T0), Err(AlarmError::Unknown("nope".into())));
    }

    #[test]
    fn cleared_alarms_beyond_the_history_bound_are_forgotten_oldest_first() {
        let mut board = AlarmBoard::default();
        let mut forgotten = Vec::new();
        for n in 0..(MAX_CLEARED as i64 + 3) {
            let id = format!("d{n}");
            let change = board.take_alert(&Alert { ts_ms: T0 + n, ..defect(&id) }, T0 + n).unwrap();
            board.commit(change.alarm);
            let acked = board.acknowledge(&format!("station3/{id}"), "anna", "", T0 + n).unwrap();
            forgotten.extend(board.commit(acked.alarm).forgotten_keys());
        }
        assert_eq!(board.len(), MAX_CLEARED);
        assert_eq!(forgotten, ["station3/d0", "station3/d1", "station3/d2"]);
    }

    #[test]
    fn an_undone_commit_leaves_the_board_as_it_was() {
        let mut board = AlarmBoard::default();
        take(&mut board, &limit("a1", T0, Severity::Warning, "high_limit"));
        let before = board.get("station1/spindle_temperature").cloned();
        let change = board.acknowledge("station1/spindle_temperature", "anna", "", T0 + 1).unwrap();
        let committed = board.commit(change.alarm);
        board.undo("station1/spindle_temperature", committed);
        assert_eq!(board.get("station1/spindle_temperature").cloned(), before);
    }

    #[test]
    fn an_alarm_survives_its_json() {
        let mut board = AlarmBoard::default();
        take(&mut board, &defect("alert-cam1-000042"));
        let alarm = board.get("station3/alert-cam1-000042").unwrap().clone();
        let json = serde_json::to_string(&alarm).unwrap();
        assert!(json.contains(r#""state":"unacknowledged""#) && json.contains(r#""severity":"warning""#), "{json}");
        assert_eq!(serde_json::from_str::<Alarm>(&json).unwrap(), alarm);
    }
}
