//! `source_status`: how a source node's link to the plant is doing, sent on
//! every change so that downstream nodes and operators know when values stop
//! being live.
//!
//! Columns: `source` Utf8, `state` Utf8 (`connecting`/`connected`/
//! `disconnected`/`reconnecting`), `reason` Utf8?, `ts_ms` Int64,
//! `connects` Int64, `failed_connects` Int64.

use std::sync::Arc;

use super::columns::{build_struct, optional_i64, optional_str, Columns, SchemaError};
use crate::arrow::array::{Array, ArrayRef, Int64Array, StringArray};

const MESSAGE: &str = "source_status";

/// The state of a source's link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Started, no connection yet and no failure yet.
    Connecting,
    /// Connected; values are live.
    Connected,
    /// The connection was lost just now.
    Disconnected,
    /// Attempts to (re)connect are failing; retrying.
    Reconnecting,
}

impl LinkState {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Connected => "connected",
            LinkState::Disconnected => "disconnected",
            LinkState::Reconnecting => "reconnecting",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "connecting" => Some(LinkState::Connecting),
            "connected" => Some(LinkState::Connected),
            "disconnected" => Some(LinkState::Disconnected),
            "reconnecting" => Some(LinkState::Reconnecting),
            _ => None,
        }
    }
}

/// One status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStatus {
    /// The source, as in its readings (e.g. the endpoint URL).
    pub source: String,
    pub state: LinkState,
    /// Why, when not connected (the server's or the network's words).
    pub reason: Option<String>,
    /// When the change was seen (ms since the epoch).
    pub ts_ms: i64,
    /// Successful connections since the node started.
    pub connects: i64,
    /// Failed connection attempts since the node started.
    pub failed_connects: i64,
}

impl SourceStatus {
    /// Encodes status changes as one struct array.
    pub fn to_arrow(rows: &[SourceStatus]) -> ArrayRef {
        let int_col = |f: &dyn Fn(&SourceStatus) -> i64| -> ArrayRef {
            Arc::new(rows.iter().map(|r| Some(f(r))).collect::<Int64Array>())
        };
        build_struct(vec![
            ("source", Arc::new(rows.iter().map(|r| Some(r.source.as_str())).collect::<StringArray>()), false),
            ("state", Arc::new(rows.iter().map(|r| Some(r.state.as_str())).collect::<StringArray>()), false),
            ("reason", Arc::new(rows.iter().map(|r| r.reason.as_deref()).collect::<StringArray>()), true),
            ("ts_ms", int_col(&|r| r.ts_ms), false),
            ("connects", int_col(&|r| r.connects), false),
            ("failed_connects", int_col(&|r| r.failed_connects), false),
        ])
    }

    /// Decodes status changes.
    pub fn from_arrow(array: &dyn Array) -> Result<Vec<SourceStatus>, SchemaError> {
        let cols = Columns::new(MESSAGE, array)?;
        let source = cols.utf8("source")?;
        let state = cols.utf8("state")?;
        let reason = cols.utf8("reason")?;
        let ts = cols.i64("ts_ms")?;
        let connects = cols.i64("connects")?;
        let failed = cols.i64("failed_connects")?;
        (0..cols.len())
            .map(|row| {
                let state_text = cols.required_str(state, "state", row)?;
                let required_i64 = |array, column| optional_i64(array, row).ok_or_else(|| cols.null(column, row));
                Ok(SourceStatus {
                    source: cols.required_str(source, "source", row)?,
                    state: LinkState::parse(&state_text).ok_or_else(|| cols.invalid("state", row, state_text))?,
                    reason: optional_str(reason, row),
                    ts_ms: required_i64(ts, "ts_ms")?,
                    connects: required_i64(connects, "connects")?,
                    failed_connects: required_i64(failed, "failed_connects")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_changes_survive_a_round_trip() {
        let rows = vec![
            SourceStatus {
                source: "opc.tcp://127.0.0.1:4840/".into(),
                state: LinkState::Reconnecting,
                reason: Some("BadNotConnected".into()),
                ts_ms: 5,
                connects: 1,
                failed_connects: 3,
            },
            SourceStatus {
                source: "opc.tcp://127.0.0.1:4840/".into(),
                state: LinkState::Connected,
                reason: None,
                ts_ms: 9,
                connects: 2,
                failed_connects: 3,
            },
        ];
        assert_eq!(SourceStatus::from_arrow(SourceStatus::to_arrow(&rows).as_ref()).unwrap(), rows);
    }
}
