//! `alert`: something at a station an operator must see (a defect found by
//! inspection, for instance).
//!
//! Columns: `id` Utf8, `ts_ms` Int64, `station` Utf8, `severity` Utf8
//! (`info`/`warning`/`critical`), `kind` Utf8 (e.g. `scratch`), `message`
//! Utf8, `confidence` Float32?, `source` Utf8 (the node that raised it),
//! `frame_id` Utf8?, `model` Utf8?; from visual inspection (optional on
//! decode, for senders that do not inspect): `line` Utf8?, `anomaly_score`
//! Float32? (stage 1), `regions` List<Struct> (see [`Region`]), `location`
//! Utf8? and `verdict` Utf8? (stage 2, the vision-language model), `image_ref`
//! Utf8? (where the stored crop of the defect is; no image bytes travel);
//! `tag` Utf8? (limit alerts); `response` Utf8? and `response_source` Utf8?
//! (what to do, from the site's documents, and where it is from).

use std::sync::Arc;

use super::columns::{build_struct, optional_i64, optional_str, Columns, SchemaError};
use super::region::{regions_from_arrow, regions_to_arrow, Region};
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
    /// Production line of the station, when known.
    pub line: Option<String>,
    /// The stage-1 filter's anomaly score of the frame.
    pub anomaly_score: Option<f32>,
    /// Where in the frame, most anomalous first.
    pub regions: Vec<Region>,
    /// Where on the part, in the model's words (`top-left`, `center`).
    pub location: Option<String>,
    /// What the vision-language model concluded: `defect`, `no_defect`, or
    /// `not_judged: <why>` when it was not asked or gave no usable answer.
    pub verdict: Option<String>,
    /// Where the stored crop of the defect is (a file path on the gateway).
    pub image_ref: Option<String>,
    /// The plant tag whose condition this is (limit alerts); consoles keep
    /// one alarm per station and tag by it.
    pub tag: Option<String>,
    /// What to do: the steps of the site's alarm-response section that
    /// matches the alert (one per line, numbered), when the site's
    /// documents have one.
    pub response: Option<String>,
    /// Where the response is from: `file § heading (page N)`.
    pub response_source: Option<String>,
}

impl Alert {
    /// An alert with the required fields and no inspection details.
    pub fn new(
        id: impl Into<String>,
        ts_ms: i64,
        station: impl Into<String>,
        severity: Severity,
        kind: impl Into<String>,
        message: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            ts_ms,
            station: station.into(),
            severity,
            kind: kind.into(),
            message: message.into(),
            confidence: None,
            source: source.into(),
            frame_id: None,
            model: None,
            line: None,
            anomaly_score: None,
            regions: Vec::new(),
            location: None,
            verdict: None,
            image_ref: None,
            tag: None,
            response: None,
            response_source: None,
        }
    }
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
            ("line", str_col(&|a| a.line.as_deref()), true),
            ("anomaly_score", Arc::new(alerts.iter().map(|a| a.anomaly_score).collect::<Float32Array>()), true),
            ("regions", regions_to_arrow(alerts.iter().map(|a| a.regions.as_slice())), false),
            ("location", str_col(&|a| a.location.as_deref()), true),
            ("verdict", str_col(&|a| a.verdict.as_deref()), true),
            ("image_ref", str_col(&|a| a.image_ref.as_deref()), true),
            ("tag", str_col(&|a| a.tag.as_deref()), true),
            ("response", str_col(&|a| a.response.as_deref()), true),
            ("response_source", str_col(&|a| a.response_source.as_deref()), true),
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
        let line = cols.optional_utf8("line")?;
        let anomaly_score = cols.optional_f32("anomaly_score")?;
        let regions = match cols.optional_list("regions")? {
            Some(list) => regions_from_arrow(list)?,
            None => vec![Vec::new(); cols.len()],
        };
        let location = cols.optional_utf8("location")?;
        let verdict = cols.optional_utf8("verdict")?;
        let image_ref = cols.optional_utf8("image_ref")?;
        let tag = cols.optional_utf8("tag")?;
        let response = cols.optional_utf8("response")?;
        let response_source = cols.optional_utf8("response_source")?;
        let maybe_str = |column: Option<&StringArray>, row: usize| column.and_then(|c| optional_str(c, row));
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
                    line: maybe_str(line, row),
                    anomaly_score: anomaly_score.and_then(|c| (!c.is_null(row)).then(|| c.value(row))),
                    regions: regions[row].clone(),
                    location: maybe_str(location, row),
                    verdict: maybe_str(verdict, row),
                    image_ref: maybe_str(image_ref, row),
                    tag: maybe_str(tag, row),
                    response: maybe_str(response, row),
                    response_source: maybe_str(response_source, row),
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
            confidence: Some(0.91),
            frame_id: Some("cam1-000042".into()),
            ..Alert::new(
                id,
                1_764_000_000_000,
                "station3",
                severity,
                "scratch",
                "Scratch on the housing, left side.",
                "vlm-inspector",
            )
        }
    }

    #[test]
    fn alerts_survive_a_round_trip() {
        let inspected = Alert {
            line: Some("line1".into()),
            anomaly_score: Some(9.5),
            regions: vec![Region { x: 10, y: 20, width: 30, height: 8, score: 9.5 }],
            location: Some("top-left".into()),
            verdict: Some("defect".into()),
            image_ref: Some("/var/lib/shopfloor/crops/cam1-000042.png".into()),
            tag: Some("spindle_temperature".into()),
            response: Some("1. Press Feed Hold.\n2. Check the coolant flow.".into()),
            response_source: Some("overheat.md § Responding (page 2)".into()),
            ..alert("a-3", Severity::Warning)
        };
        let alerts = vec![
            alert("a-1", Severity::Critical),
            Alert { confidence: None, ..alert("a-2", Severity::Info) },
            inspected,
        ];
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
