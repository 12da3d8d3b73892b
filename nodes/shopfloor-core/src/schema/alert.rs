//! `alert`: something at a station an operator must see (a defect found by
//! inspection, for instance).
//!
//! Columns: `id` Utf8, `ts_ms` Int64, `station` Utf8, `severity` Utf8
//! (`info`/`warning`/`critical`), `kind` Utf8 (e.g. `scratch`), `message`
//! Utf8, `confidence` Float32?, `source` Utf8 (the node that raised it),
//! `frame_id` Utf8?, `model` Utf8?.

use std::sync::Arc;

use super::columns::{build_struct, optional_i64, optional_str, Columns, SchemaError};
use crate::arrow::array::{Array, ArrayRef, Float32Array, Int64Array, StringArray};

const MESSAGE: &str = "alert";

/// How urgent an alert is; subscribers filter on it by topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth recording (e.g. a borderline part).
    Info,
    /// Needs attention soon.
    Warning,
    /// Needs attention now (stop the line, pull the part).
    Critical,
}

impl Severity {
    /// The name used on the wire and in topics.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Unique per alert; subscribers de-duplicate redeliveries by it.
    pub id: String,
    /// When the condition was seen (ms since epoch).
    pub ts_ms: i64,
    /// Station (one topic level, e.g. `station3`).
    pub station: String,
    /// How urgent.
    pub severity: Severity,
    /// What was found, as a short machine-readable word (`scratch`, `missing_screw`).
    pub kind: String,
    /// What was found, for people.
    pub message: String,
    /// How sure the detector was (0..1), when it says.
    pub confidence: Option<f32>,
    /// The node that raised it.
    pub source: String,
    /// The camera frame it was found in, when there is one.
    pub frame_id: Option<String>,
    /// The model that judged it, when one did.
    pub model: Option<String>,
}

impl Alert {
    /// Encodes alerts as one struct array.
    pub fn to_arrow(alerts: &[Alert]) -> ArrayRef {
        let str_col = |f: &dyn Fn(&Alert) -> Option<&str>| -> ArrayRef {
            Arc::new(alerts.iter().map(f).collect::<StringArray>())
        };
        build_struct(vec![
            ("id", str_col(&|a| Some(&a.id)), false),
            ("ts_ms", Arc::new(alerts.iter().map(|a| Some(a.ts_ms)).collect::<Int64Array>()), false),
            ("station", str_col(&|a| Some(&a.station)), false),
            ("severity", str_col(&|a| Some(a.severity.as_str())), false),
            ("kind", str_col(&|a| Some(&a.kind)), false),
            ("message", str_col(&|a| Some(&a.message)), false),
            ("confidence", Arc::new(alerts.iter().map(|a| a.confidence).collect::<Float32Array>()), true),
            ("source", str_col(&|a| Some(&a.source)), false),
            ("frame_id", str_col(&|a| a.frame_id.as_deref()), true),
            ("model", str_col(&|a| a.model.as_deref()), true),
        ])
    }

    /// Decodes alerts.
    pub fn from_arrow(array: &dyn Array) -> Result<Vec<Alert>, SchemaError> {
        let cols = Columns::new(MESSAGE, array)?;
        let id = cols.utf8("id")?;
        let ts = cols.i64("ts_ms")?;
        let station = cols.utf8("station")?;
        let severity = cols.utf8("severity")?;
        let kind = cols.utf8("kind")?;
        let message = cols.utf8("message")?;
        let confidence = cols.f32("confidence")?;
        let source = cols.utf8("source")?;
        let frame_id = cols.utf8("frame_id")?;
        let model = cols.utf8("model")?;
        (0..cols.len())
            .map(|row| {
                let severity_text = cols.required_str(severity, "severity", row)?;
                let severity =
                    Severity::parse(&severity_text).ok_or_else(|| cols.invalid("severity", row, severity_text))?;
                Ok(Alert {
                    id: cols.required_str(id, "id", row)?,
                    ts_ms: optional_i64(ts, row).ok_or_else(|| cols.null("ts_ms", row))?,
                    station: cols.required_str(station, "station", row)?,
                    severity,
                    kind: cols.required_str(kind, "kind", row)?,
                    message: cols.required_str(message, "message", row)?,
                    confidence: (!confidence.is_null(row)).then(|| confidence.value(row)),
                    source: cols.required_str(source, "source", row)?,
                    frame_id: optional_str(frame_id, row),
                    model: optional_str(model, row),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(id: &str, severity: Severity) -> Alert {
        Alert {
            id: id.into(),
            ts_ms: 1_764_000_000_000,
            station: "station3".into(),
            severity,
            kind: "scratch".into(),
            message: "Scratch on the housing, 12 mm, left side.".into(),
            confidence: Some(0.91),
            source: "vision-inspector".into(),
            frame_id: Some("cam1-000042".into()),
            model: None,
        }
    }

    #[test]
    fn alerts_survive_a_round_trip() {
        let alerts = vec![alert("a-1", Severity::Critical), Alert { confidence: None, ..alert("a-2", Severity::Info) }];
        let decoded = Alert::from_arrow(Alert::to_arrow(&alerts).as_ref()).unwrap();
        assert_eq!(decoded, alerts);
    }

    #[test]
    fn an_unknown_severity_is_named_in_the_error() {
        let bad = build_struct(vec![
            ("id", Arc::new(StringArray::from(vec!["a"])), false),
            ("ts_ms", Arc::new(Int64Array::from(vec![1])), false),
            ("station", Arc::new(StringArray::from(vec!["s"])), false),
            ("severity", Arc::new(StringArray::from(vec!["panic"])), false),
            ("kind", Arc::new(StringArray::from(vec!["k"])), false),
            ("message", Arc::new(StringArray::from(vec!["m"])), false),
            ("confidence", Arc::new(Float32Array::from(vec![None])), true),
            ("source", Arc::new(StringArray::from(vec!["n"])), false),
            ("frame_id", Arc::new(StringArray::from(vec![None::<&str>])), true),
            ("model", Arc::new(StringArray::from(vec![None::<&str>])), true),
        ]);
        let err = Alert::from_arrow(bad.as_ref()).unwrap_err();
        assert!(err.to_string().contains("severity") && err.to_string().contains("panic"), "{err}");
    }
}
