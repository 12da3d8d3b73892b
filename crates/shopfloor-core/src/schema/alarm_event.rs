//! `alarm_event`: a step in an alarm's life as the operator console keeps
//! it (ISA-18.2 states): raised, acknowledged, shelved, returned, cleared.
//! `http-gateway` sends one per change; `mqtt-sink` publishes it so that
//! other consoles and subscribers see who acknowledged what.
//!
//! Columns: `id` Utf8, `ts_ms` Int64, `key` Utf8, `station` Utf8, `tag`
//! Utf8?, `alert_id` Utf8, `action` Utf8, `state` Utf8, `severity` Utf8,
//! `message` Utf8, `operator` Utf8?, `comment` Utf8?, `shelved_until_ms`
//! Int64?.

use std::sync::Arc;

use super::alert::Severity;
use super::columns::{build_struct, optional_i64, optional_str, Columns, SchemaError};
use crate::arrow::array::{Array, ArrayRef, Int64Array, StringArray};

const MESSAGE: &str = "alarm_event";

/// Where an alarm stands (ISA-18.2; shelving is kept beside the state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    /// Active, nobody has acknowledged it yet.
    Unacknowledged,
    /// Active and acknowledged.
    Acknowledged,
    /// Back to normal before anybody acknowledged it.
    ReturnedUnacknowledged,
    /// Back to normal and acknowledged: nothing left to do.
    Cleared,
}

impl AlarmState {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Unacknowledged => "unacknowledged",
            AlarmState::Acknowledged => "acknowledged",
            AlarmState::ReturnedUnacknowledged => "returned_unacknowledged",
            AlarmState::Cleared => "cleared",
        }
    }

    /// The state of a name, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Unacknowledged, Self::Acknowledged, Self::ReturnedUnacknowledged, Self::Cleared]
            .into_iter()
            .find(|state| state.as_str() == text)
    }

    /// The condition still holds.
    pub fn is_active(self) -> bool {
        matches!(self, AlarmState::Unacknowledged | AlarmState::Acknowledged)
    }

    /// Somebody still has to acknowledge it.
    pub fn needs_acknowledgement(self) -> bool {
        matches!(self, AlarmState::Unacknowledged | AlarmState::ReturnedUnacknowledged)
    }
}

/// What happened to the alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmAction {
    /// An alert raised it (again).
    Raised,
    /// A later alert of the same condition made it more severe.
    Escalated,
    /// The condition went back to normal.
    Returned,
    /// An operator acknowledged it.
    Acknowledged,
    /// An operator shelved it for a time.
    Shelved,
    /// An operator took it off the shelf.
    Unshelved,
    /// Its shelving time ran out.
    ShelveExpired,
}

impl AlarmAction {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmAction::Raised => "raised",
            AlarmAction::Escalated => "escalated",
            AlarmAction::Returned => "returned",
            AlarmAction::Acknowledged => "acknowledged",
            AlarmAction::Shelved => "shelved",
            AlarmAction::Unshelved => "unshelved",
            AlarmAction::ShelveExpired => "shelve_expired",
        }
    }

    /// The action of a name, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Raised,
            Self::Escalated,
            Self::Returned,
            Self::Acknowledged,
            Self::Shelved,
            Self::Unshelved,
            Self::ShelveExpired,
        ]
        .into_iter()
        .find(|action| action.as_str() == text)
    }
}

/// One change of one alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmEvent {
    /// The event's id, `<key>#<ts_ms>-<action>`; subscribers de-duplicate by it.
    pub id: String,
    /// When it happened (ms since the epoch).
    pub ts_ms: i64,
    /// The alarm: `<station>/<tag>` for limit alarms, `<station>/<alert id>` otherwise.
    pub key: String,
    pub station: String,
    pub tag: Option<String>,
    /// The alert that raised the alarm (or last changed it).
    pub alert_id: String,
    pub action: AlarmAction,
    /// The state after the action.
    pub state: AlarmState,
    pub severity: Severity,
    /// The alert's message, for people.
    pub message: String,
    /// Who acted (acknowledged, shelved, unshelved).
    pub operator: Option<String>,
    /// What they wrote.
    pub comment: Option<String>,
    /// Shelved until then (ms since the epoch).
    pub shelved_until_ms: Option<i64>,
}

impl AlarmEvent {
    /// Encodes events as one struct array.
    pub fn to_arrow(rows: &[AlarmEvent]) -> ArrayRef {
        let str_col = |f: &dyn Fn(&AlarmEvent) -> Option<&str>| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<StringArray>())
        };
        build_struct(vec![
            ("id", str_col(&|r| Some(&r.id)), false),
            ("ts_ms", Arc::new(rows.iter().map(|r| Some(r.ts_ms)).collect::<Int64Array>()), false),
            ("key", str_col(&|r| Some(&r.key)), false),
            ("station", str_col(&|r| Some(&r.station)), false),
            ("tag", str_col(&|r| r.tag.as_deref()), true),
            ("alert_id", str_col(&|r| Some(&r.alert_id)), false),
            ("action", str_col(&|r| Some(r.action.as_str())), false),
            ("state", str_col(&|r| Some(r.state.as_str())), false),
            ("severity", str_col(&|r| Some(r.severity.as_str())), false),
            ("message", str_col(&|r| Some(&r.message)), false),
            ("operator", str_col(&|r| r.operator.as_deref()), true),
            ("comment", str_col(&|r| r.comment.as_deref()), true),
            ("shelved_until_ms", Arc::new(rows.iter().map(|r| r.shelved_until_ms).collect::<Int64Array>()), true),
        ])
    }

    /// Decodes events.
    pub fn from_arrow(array: &dyn Array) -> Result<Vec<AlarmEvent>, SchemaError> {
        let cols = Columns::new(MESSAGE, array)?;
        let id = cols.utf8("id")?;
        let ts = cols.i64("ts_ms")?;
        let key = cols.utf8("key")?;
        let station = cols.utf8("station")?;
        let tag = cols.utf8("tag")?;
        let alert_id = cols.utf8("alert_id")?;
        let action = cols.utf8("action")?;
        let state = cols.utf8("state")?;
        let severity = cols.utf8("severity")?;
        let message = cols.utf8("message")?;
        let operator = cols.utf8("operator")?;
        let comment = cols.utf8("comment")?;
        let shelved_until = cols.i64("shelved_until_ms")?;
        (0..cols.len())
            .map(|row| {
                let action_text = cols.required_str(action, "action", row)?;
                let state_text = cols.required_str(state, "state", row)?;
                let severity_text = cols.required_str(severity, "severity", row)?;
                Ok(AlarmEvent {
                    id: cols.required_str(id, "id", row)?,
                    ts_ms: optional_i64(ts, row).ok_or_else(|| cols.null("ts_ms", row))?,
                    key: cols.required_str(key, "key", row)?,
                    station: cols.required_str(station, "station", row)?,
                    tag: optional_str(tag, row),
                    alert_id: cols.required_str(alert_id, "alert_id", row)?,
                    action: AlarmAction::parse(&action_text).ok_or_else(|| cols.invalid("action", row, action_text))?,
                    state: AlarmState::parse(&state_text).ok_or_else(|| cols.invalid("state", row, state_text))?,
                    severity: Severity::parse(&severity_text)
                        .ok_or_else(|| cols.invalid("severity", row, severity_text))?,
                    message: cols.required_str(message, "message", row)?,
                    operator: optional_str(operator, row),
                    comment: optional_str(comment, row),
                    shelved_until_ms: optional_i64(shelved_until, row),
                })
            })
            .collect()
    }

    /// The JSON published over MQTT (docs/messages.md, "Alarm event").
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "ts_ms": self.ts_ms,
            "key": self.key,
            "station": self.station,
            "tag": self.tag,
            "alert_id": self.alert_id,
            "action": self.action.as_str(),
            "state": self.state.as_str(),
            "severity": self.severity.as_str(),
            "message": self.message,
            "operator": self.operator,
            "comment": self.comment,
            "shelved_until_ms": self.shelved_until_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acknowledged() -> AlarmEvent {
        AlarmEvent {
            id: "station1/spindle_temperature#2".into(),
            ts_ms: 1_764_086_410_000,
            key: "station1/spindle_temperature".into(),
            station: "station1".into(),
            tag: Some("spindle_temperature".into()),
            alert_id: "limit-spindle_temperature-1764086402000".into(),
            action: AlarmAction::Acknowledged,
            state: AlarmState::Acknowledged,
            severity: Severity::Warning,
            message: "spindle_temperature 80.2 °C above high limit 80 °C".into(),
            operator: Some("anna".into()),
            comment: Some("coolant checked".into()),
            shelved_until_ms: None,
        }
    }

    #[test]
    fn events_survive_a_round_trip() {
        let shelved = AlarmEvent {
            action: AlarmAction::Shelved,
            tag: None,
            comment: None,
            shelved_until_ms: Some(1_764_088_000_000),
            ..acknowledged()
        };
        let rows = vec![acknowledged(), shelved];
        assert_eq!(AlarmEvent::from_arrow(AlarmEvent::to_arrow(&rows).as_ref()).unwrap(), rows);
    }

    #[test]
    fn an_unknown_state_is_named_in_the_error() {
        const NAMES: [&str; 13] = [
            "id",
            "ts_ms",
            "key",
            "station",
            "tag",
            "alert_id",
            "action",
            "state",
            "severity",
            "message",
            "operator",
            "comment",
            "shelved_until_ms",
        ];
        let good = AlarmEvent::to_arrow(&[acknowledged()]);
        let array = good.as_any().downcast_ref::<crate::arrow::array::StructArray>().unwrap();
        // The same event with a word in `state` that is no state.
        let columns = NAMES
            .iter()
            .map(|&name| {
                let column: ArrayRef = if name == "state" {
                    Arc::new(StringArray::from(vec!["on_fire"]))
                } else {
                    array.column_by_name(name).unwrap().clone()
                };
                (name, column, true)
            })
            .collect();
        let error = AlarmEvent::from_arrow(build_struct(columns).as_ref()).unwrap_err().to_string();
        assert!(error.contains("state") && error.contains("on_fire"), "{error}");
    }

    #[test]
    fn states_and_actions_parse_their_own_names() {
        for state in [
            AlarmState::Unacknowledged,
            AlarmState::Acknowledged,
            AlarmState::ReturnedUnacknowledged,
            AlarmState::Cleared,
        ] {
            assert_eq!(AlarmState::parse(state.as_str()), Some(state));
        }
        assert_eq!(AlarmAction::parse("shelve_expired"), Some(AlarmAction::ShelveExpired));
        assert_eq!(acknowledged().to_json()["operator"], "anna");
    }
}
