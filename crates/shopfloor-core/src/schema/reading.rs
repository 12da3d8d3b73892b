//! `reading`: one value of one tag, from any source (OPC UA, MQTT, replay).
//!
//! Columns: `source` Utf8, `tag` Utf8, `value_number` Float64?, `value_text`
//! Utf8?, `unit` Utf8?, `quality` Utf8 (`good`/`uncertain`/`bad`),
//! `source_ts_ms` Int64?, `received_ts_ms` Int64, `low_limit` Float64?,
//! `high_limit` Float64?, `server_ts_ms` Int64?, `value_type` Utf8?,
//! `status_code` Utf8?, `eu_low` Float64?, `eu_high` Float64?, `description`
//! Utf8? (may be absent from older recordings). Exactly one of
//! `value_number`/`value_text` is set. Limits are the alarm limits the source
//! knows for the tag (configured per tag for OPC UA); `eu_low`/`eu_high` the
//! instrument's range (OPC UA `EURange`), outside which a value is not credible.
//! The last three are what an OPC UA source knows beyond the value: the
//! server's timestamp, the original variant type (`Double`, `UInt32`, ...)
//! and the full status code (`Good`, `UncertainLastUsableValue`, ...).
//! `description` says what the tag is in words (OPC UA `Description`, or the
//! tag line's own): how the assistant knows that `TT_4711` is the reactor
//! jacket temperature.

use std::sync::Arc;

use super::columns::{build_struct, optional_i64, optional_str, Columns, SchemaError};
use crate::arrow::array::{Array, ArrayRef, Float64Array, Int64Array, StringArray};

const MESSAGE: &str = "reading";

/// The value of a reading: a number, or text for enumerations and strings.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadingValue {
    /// Any numeric value (integers are carried exactly up to 2^53).
    Number(f64),
    /// A string value, e.g. a machine state name.
    Text(String),
}

impl std::fmt::Display for ReadingValue {
    /// The value as operators read it: `72.4`, `1200`, `0.05`, `RUNNING`.
    /// Numbers get at most three decimals, trailing zeros dropped; sensors
    /// rarely mean more, and answers and tests must agree on one spelling.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadingValue::Text(text) => f.write_str(text),
            ReadingValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{}", *n as i64),
            ReadingValue::Number(n) => {
                let text = format!("{n:.3}");
                f.write_str(text.trim_end_matches('0').trim_end_matches('.'))
            }
        }
    }
}

/// How far the source vouches for a value (OPC UA status code class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// The value is trustworthy.
    Good,
    /// The value may be wrong (e.g. sensor out of calibration).
    Uncertain,
    /// The value must not be used.
    Bad,
}

impl Quality {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Uncertain => "uncertain",
            Quality::Bad => "bad",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "good" => Some(Quality::Good),
            "uncertain" => Some(Quality::Uncertain),
            "bad" => Some(Quality::Bad),
            _ => None,
        }
    }
}

/// One value of one tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Where the value came from, e.g. `opc.tcp://127.0.0.1:4840`.
    pub source: String,
    /// The tag name the plant knows the value by, e.g. `spindle_temperature`.
    pub tag: String,
    pub value: ReadingValue,
    /// Engineering unit, e.g. `°C`.
    pub unit: Option<String>,
    /// Quality as reported by the source.
    pub quality: Quality,
    /// Timestamp given by the device or server, if any (ms since epoch).
    pub source_ts_ms: Option<i64>,
    /// When the gateway received the value (ms since epoch).
    pub received_ts_ms: i64,
    /// Lower alarm limit, when the source knows one.
    pub low_limit: Option<f64>,
    /// Upper alarm limit, when the source knows one.
    pub high_limit: Option<f64>,
    /// When the server (not the device) stamped the value, if it says.
    pub server_ts_ms: Option<i64>,
    /// The value's type at the source, e.g. `Double` or `UInt32` for OPC UA.
    pub value_type: Option<String>,
    /// The source's full status code, e.g. `Good` or `BadSensorFailure`;
    /// `quality` is its class.
    pub status_code: Option<String>,
    /// Low end of the measuring range (OPC UA `EURange.low`), if known.
    pub eu_low: Option<f64>,
    /// High end of the measuring range (OPC UA `EURange.high`), if known.
    pub eu_high: Option<f64>,
    /// What the tag is, in words (OPC UA `Description`), if known.
    pub description: Option<String>,
}

impl Reading {
    /// A good reading with nothing beyond the value: no limits, no OPC UA
    /// details (the usual shape for MQTT telemetry).
    pub fn good(
        source: &str,
        tag: String,
        value: ReadingValue,
        unit: Option<String>,
        source_ts_ms: Option<i64>,
        received_ts_ms: i64,
    ) -> Reading {
        Reading {
            source: source.to_owned(),
            tag,
            value,
            unit,
            quality: Quality::Good,
            source_ts_ms,
            received_ts_ms,
            low_limit: None,
            high_limit: None,
            server_ts_ms: None,
            value_type: None,
            status_code: None,
            eu_low: None,
            eu_high: None,
            description: None,
        }
    }

    /// Encodes a batch of readings as one struct array.
    pub fn to_arrow(readings: &[Reading]) -> ArrayRef {
        let numbers: Float64Array = readings
            .iter()
            .map(|r| match r.value {
                ReadingValue::Number(n) => Some(n),
                ReadingValue::Text(_) => None,
            })
            .collect();
        let texts: StringArray = readings
            .iter()
            .map(|r| match &r.value {
                ReadingValue::Number(_) => None,
                ReadingValue::Text(t) => Some(t.as_str()),
            })
            .collect();
        build_struct(vec![
            ("source", strings(readings.iter().map(|r| Some(r.source.as_str()))), false),
            ("tag", strings(readings.iter().map(|r| Some(r.tag.as_str()))), false),
            ("value_number", Arc::new(numbers), true),
            ("value_text", Arc::new(texts), true),
            ("unit", strings(readings.iter().map(|r| r.unit.as_deref())), true),
            ("quality", strings(readings.iter().map(|r| Some(r.quality.as_str()))), false),
            ("source_ts_ms", Arc::new(readings.iter().map(|r| r.source_ts_ms).collect::<Int64Array>()), true),
            (
                "received_ts_ms",
                Arc::new(readings.iter().map(|r| Some(r.received_ts_ms)).collect::<Int64Array>()),
                false,
            ),
            ("low_limit", Arc::new(readings.iter().map(|r| r.low_limit).collect::<Float64Array>()), true),
            ("high_limit", Arc::new(readings.iter().map(|r| r.high_limit).collect::<Float64Array>()), true),
            ("server_ts_ms", Arc::new(readings.iter().map(|r| r.server_ts_ms).collect::<Int64Array>()), true),
            ("value_type", strings(readings.iter().map(|r| r.value_type.as_deref())), true),
            ("status_code", strings(readings.iter().map(|r| r.status_code.as_deref())), true),
            ("eu_low", Arc::new(readings.iter().map(|r| r.eu_low).collect::<Float64Array>()), true),
            ("eu_high", Arc::new(readings.iter().map(|r| r.eu_high).collect::<Float64Array>()), true),
            ("description", strings(readings.iter().map(|r| r.description.as_deref())), true),
        ])
    }

    /// Decodes a batch of readings.
    pub fn from_arrow(array: &dyn Array) -> Result<Vec<Reading>, SchemaError> {
        let cols = Columns::new(MESSAGE, array)?;
        let source = cols.utf8("source")?;
        let tag = cols.utf8("tag")?;
        let number = cols.f64("value_number")?;
        let text = cols.utf8("value_text")?;
        let unit = cols.utf8("unit")?;
        let quality = cols.utf8("quality")?;
        let source_ts = cols.i64("source_ts_ms")?;
        let received_ts = cols.i64("received_ts_ms")?;
        let low_limit = cols.f64("low_limit")?;
        let high_limit = cols.f64("high_limit")?;
        let server_ts = cols.i64("server_ts_ms")?;
        let value_type = cols.utf8("value_type")?;
        let status_code = cols.utf8("status_code")?;
        let eu_low = cols.f64("eu_low")?;
        let eu_high = cols.f64("eu_high")?;
        let description = cols.optional_utf8("description")?;

        (0..cols.len())
            .map(|row| {
                let value = match (number.is_null(row), text.is_null(row)) {
                    (false, true) => ReadingValue::Number(number.value(row)),
                    (true, false) => ReadingValue::Text(text.value(row).to_owned()),
                    (true, true) => return Err(cols.null("value_number", row)),
                    (false, false) => {
                        return Err(cols.invalid(
                            "value_text",
                            row,
                            "both value_number and value_text are set".to_owned(),
                        ))
                    }
                };
                let quality_text = cols.required_str(quality, "quality", row)?;
                let quality =
                    Quality::parse(&quality_text).ok_or_else(|| cols.invalid("quality", row, quality_text))?;
                if received_ts.is_null(row) {
                    return Err(cols.null("received_ts_ms", row));
                }
                Ok(Reading {
                    source: cols.required_str(source, "source", row)?,
                    tag: cols.required_str(tag, "tag", row)?,
                    value,
                    unit: optional_str(unit, row),
                    quality,
                    source_ts_ms: optional_i64(source_ts, row),
                    received_ts_ms: received_ts.value(row),
                    low_limit: (!low_limit.is_null(row)).then(|| low_limit.value(row)),
                    high_limit: (!high_limit.is_null(row)).then(|| high_limit.value(row)),
                    server_ts_ms: optional_i64(server_ts, row),
                    value_type: optional_str(value_type, row),
                    status_code: optional_str(status_code, row),
                    eu_low: (!eu_low.is_null(row)).then(|| eu_low.value(row)),
                    eu_high: (!eu_high.is_null(row)).then(|| eu_high.value(row)),
                    description: description.and_then(|d| optional_str(d, row)),
                })
            })
            .collect()
    }
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::array::{Int32Array, StructArray};

    fn temperature(value: ReadingValue) -> Reading {
        Reading {
            source: "opc.tcp://127.0.0.1:4840".into(),
            tag: "spindle_temperature".into(),
            value,
            unit: Some("°C".into()),
            quality: Quality::Good,
            source_ts_ms: Some(1_700_000_000_000),
            received_ts_ms: 1_700_000_000_010,
            low_limit: None,
            high_limit: Some(80.0),
            server_ts_ms: Some(1_700_000_000_005),
            value_type: Some("Double".into()),
            status_code: Some("Good".into()),
            eu_low: Some(0.0),
            eu_high: Some(150.0),
            description: Some("Spindle bearing temperature".into()),
        }
    }

    #[test]
    fn a_batch_of_readings_survives_a_round_trip() {
        let batch = vec![
            temperature(ReadingValue::Number(72.4)),
            Reading {
                tag: "machine_state".into(),
                value: ReadingValue::Text("RUNNING".into()),
                unit: None,
                quality: Quality::Uncertain,
                source_ts_ms: None,
                ..temperature(ReadingValue::Number(0.0))
            },
        ];
        let decoded = Reading::from_arrow(Reading::to_arrow(&batch).as_ref()).unwrap();
        assert_eq!(decoded, batch);
    }

    #[test]
    fn values_are_written_without_noise() {
        assert_eq!(ReadingValue::Number(72.4).to_string(), "72.4");
        assert_eq!(ReadingValue::Number(1200.0).to_string(), "1200");
        assert_eq!(ReadingValue::Number(0.050000001).to_string(), "0.05");
        assert_eq!(ReadingValue::Number(-3.5).to_string(), "-3.5");
        assert_eq!(ReadingValue::Text("IDLE".into()).to_string(), "IDLE");
    }

    #[test]
    fn an_empty_batch_round_trips_to_an_empty_vec() {
        let decoded = Reading::from_arrow(Reading::to_arrow(&[]).as_ref()).unwrap();
        assert!(decoded.is_empty());
    }

    #[test]
    fn a_non_struct_array_is_rejected_not_panicked_on() {
        let err = Reading::from_arrow(&Int32Array::from(vec![1, 2])).unwrap_err();
        assert!(matches!(err, SchemaError::NotAStruct { .. }), "{err}");
    }

    #[test]
    fn a_missing_column_is_named_in_the_error() {
        let full = Reading::to_arrow(&[temperature(ReadingValue::Number(1.0))]);
        let full = full.as_any().downcast_ref::<StructArray>().unwrap();
        let (fields, columns, _) = full.clone().into_parts();
        let keep: Vec<usize> = (0..fields.len()).filter(|&i| fields[i].name() != "quality").collect();
        let partial = StructArray::new(
            keep.iter().map(|&i| fields[i].clone()).collect(),
            keep.iter().map(|&i| columns[i].clone()).collect(),
            None,
        );
        let err = Reading::from_arrow(&partial).unwrap_err();
        assert_eq!(err.to_string(), "reading: missing column `quality`");
    }

    #[test]
    fn an_unknown_quality_is_rejected_with_its_value() {
        let full = Reading::to_arrow(&[temperature(ReadingValue::Number(1.0))]);
        let full = full.as_any().downcast_ref::<StructArray>().unwrap();
        let (fields, mut columns, _) = full.clone().into_parts();
        let idx = fields.iter().position(|f| f.name() == "quality").unwrap();
        columns[idx] = Arc::new(StringArray::from(vec!["excellent"]));
        let err = Reading::from_arrow(&StructArray::new(fields, columns, None)).unwrap_err();
        assert!(err.to_string().contains("\"excellent\""), "{err}");
    }
}
