//! Turning one OPC UA `DataValue` into one [`Reading`]: pure, no I/O.

use crate::config::TagSpec;
use opcua::types::{DataValue, DateTime, StatusCode, Variant};
use shopfloor_core::schema::{Quality, Reading, ReadingValue};

/// A data change that cannot become a reading.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unconvertible {
    /// The server sent a good status but no value.
    #[error("tag `{tag}`: the server sent no value")]
    NoValue { tag: String },
    /// The value has a type readings cannot carry (array, structure, ...).
    #[error("tag `{tag}`: values of OPC UA type {type_name} are not supported")]
    UnsupportedType {
        tag: String,
        /// The OPC UA type of the value.
        type_name: String,
    },
}

/// The reading for a data change of `spec`'s node.
///
/// Numbers (any numeric type) become [`ReadingValue::Number`], booleans 0 or 1,
/// strings and localized text [`ReadingValue::Text`]. A value the server could
/// not deliver (bad or uncertain status without a value) becomes a reading
/// whose text is the status name, e.g. `BadNodeIdUnknown`, so that downstream
/// nodes see the tag went bad instead of silently keeping its last value.
pub fn to_reading(
    source: &str,
    spec: &TagSpec,
    data_value: &DataValue,
    received_ts_ms: i64,
) -> Result<Reading, Unconvertible> {
    let status = data_value.status.unwrap_or(StatusCode::Good);
    let value = match data_value.value.as_ref() {
        None | Some(Variant::Empty) if status.is_good() => {
            return Err(Unconvertible::NoValue { tag: spec.tag.clone() })
        }
        None | Some(Variant::Empty) => ReadingValue::Text(status.to_string()),
        Some(variant) => reading_value(variant).ok_or_else(|| Unconvertible::UnsupportedType {
            tag: spec.tag.clone(),
            type_name: format!("{:?}", variant.type_id()),
        })?,
    };
    Ok(Reading {
        source: source.to_owned(),
        tag: spec.tag.clone(),
        value,
        unit: spec.unit.clone(),
        quality: quality(status),
        source_ts_ms: data_value.source_timestamp.as_ref().and_then(epoch_ms),
        received_ts_ms,
        // Configured per tag (`low=`/`high=`); a server's limit may also be
        // published as its own tag (`<tag>_high_limit`), which the SLM folds in.
        low_limit: spec.low_limit,
        high_limit: spec.high_limit,
        server_ts_ms: data_value.server_timestamp.as_ref().and_then(epoch_ms),
        value_type: data_value.value.as_ref().and_then(Variant::scalar_type_id).map(|kind| format!("{kind:?}")),
        status_code: Some(status.to_string()),
        eu_low: None,
        eu_high: None,
        description: spec.description.clone(),
    })
}

/// The reading value of a scalar variant, or `None` for types readings cannot carry.
pub fn reading_value(variant: &Variant) -> Option<ReadingValue> {
    let number = match variant {
        Variant::Boolean(b) => f64::from(u8::from(*b)),
        Variant::SByte(n) => f64::from(*n),
        Variant::Byte(n) => f64::from(*n),
        Variant::Int16(n) => f64::from(*n),
        Variant::UInt16(n) => f64::from(*n),
        Variant::Int32(n) => f64::from(*n),
        Variant::UInt32(n) => f64::from(*n),
        // Exact up to 2^53, which covers every realistic counter.
        Variant::Int64(n) => *n as f64,
        Variant::UInt64(n) => *n as f64,
        Variant::Float(n) => f64::from(*n),
        Variant::Double(n) => *n,
        Variant::String(text) => return Some(ReadingValue::Text(text.as_ref().to_owned())),
        Variant::LocalizedText(text) => return Some(ReadingValue::Text(text.text.as_ref().to_owned())),
        _ => return None,
    };
    Some(ReadingValue::Number(number))
}

/// The quality class of an OPC UA status code.
pub fn quality(status: StatusCode) -> Quality {
    if status.is_good() {
        Quality::Good
    } else if status.is_uncertain() {
        Quality::Uncertain
    } else {
        Quality::Bad
    }
}

/// Milliseconds since the Unix epoch, or `None` for OPC UA's null time.
fn epoch_ms(time: &DateTime) -> Option<i64> {
    (!time.is_null()).then(|| time.as_chrono().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opcua::types::{LocalizedText, UAString};

    const SOURCE: &str = "opc.tcp://127.0.0.1:4840/";

    fn spec(tag: &str, unit: Option<&str>) -> TagSpec {
        TagSpec {
            tag: tag.into(),
            node_id: "ns=2;s=X".into(),
            unit: unit.map(Into::into),
            low_limit: None,
            high_limit: None,
            monitoring: Default::default(),
            description: None,
        }
    }

    fn value_of(variant: Variant) -> ReadingValue {
        let dv = DataValue::value_only(variant);
        to_reading(SOURCE, &spec("t", None), &dv, 0).unwrap().value
    }

    #[test]
    fn every_numeric_type_becomes_a_number() {
        assert_eq!(value_of(Variant::Double(72.4)), ReadingValue::Number(72.4));
        assert_eq!(value_of(Variant::Float(0.5)), ReadingValue::Number(0.5));
        assert_eq!(value_of(Variant::UInt32(7)), ReadingValue::Number(7.0));
        assert_eq!(value_of(Variant::Int64(-3)), ReadingValue::Number(-3.0));
        assert_eq!(value_of(Variant::Byte(255)), ReadingValue::Number(255.0));
    }

    #[test]
    fn booleans_become_zero_or_one() {
        assert_eq!(value_of(Variant::Boolean(true)), ReadingValue::Number(1.0));
        assert_eq!(value_of(Variant::Boolean(false)), ReadingValue::Number(0.0));
    }

    #[test]
    fn strings_and_localized_text_become_text() {
        assert_eq!(value_of(Variant::String(UAString::from("RUNNING"))), ReadingValue::Text("RUNNING".into()));
        assert_eq!(
            value_of(Variant::LocalizedText(Box::new(LocalizedText::new("en", "Idle")))),
            ReadingValue::Text("Idle".into())
        );
    }

    #[test]
    fn tag_unit_source_and_timestamps_are_carried_over() {
        let time = DateTime::parse_from_rfc3339("2024-05-01T10:00:00.250Z").unwrap();
        let dv = DataValue::new_at(Variant::Double(81.5), time);
        let reading = to_reading(SOURCE, &spec("spindle_temperature", Some("°C")), &dv, 99).unwrap();
        assert_eq!(reading.tag, "spindle_temperature");
        assert_eq!(reading.unit.as_deref(), Some("°C"));
        assert_eq!(reading.source, SOURCE);
        assert_eq!(reading.source_ts_ms, Some(1_714_557_600_250));
        assert_eq!(reading.received_ts_ms, 99);
        assert_eq!(reading.quality, Quality::Good);
        assert_eq!(reading.server_ts_ms, Some(1_714_557_600_250), "new_at stamps both times");
        assert_eq!(reading.value_type.as_deref(), Some("Double"));
        assert_eq!(reading.status_code.as_deref(), Some("Good"));
    }

    #[test]
    fn configured_limits_travel_with_every_reading() {
        let limited = TagSpec { low_limit: Some(10.0), high_limit: Some(80.0), ..spec("t", None) };
        let reading = to_reading(SOURCE, &limited, &DataValue::value_only(Variant::Double(1.0)), 0).unwrap();
        assert_eq!((reading.low_limit, reading.high_limit), (Some(10.0), Some(80.0)));
    }

    #[test]
    fn a_missing_or_null_source_timestamp_gives_none() {
        let dv = DataValue::value_only(Variant::Double(1.0));
        assert_eq!(to_reading(SOURCE, &spec("t", None), &dv, 0).unwrap().source_ts_ms, None);
        let mut dv = DataValue::value_only(Variant::Double(1.0));
        dv.source_timestamp = Some(DateTime::null());
        assert_eq!(to_reading(SOURCE, &spec("t", None), &dv, 0).unwrap().source_ts_ms, None);
    }

    #[test]
    fn status_classes_map_to_good_uncertain_and_bad() {
        assert_eq!(quality(StatusCode::Good), Quality::Good);
        assert_eq!(quality(StatusCode::UncertainLastUsableValue), Quality::Uncertain);
        assert_eq!(quality(StatusCode::BadSensorFailure), Quality::Bad);
    }

    #[test]
    fn a_bad_status_without_a_value_becomes_a_bad_reading_naming_the_status() {
        let dv = DataValue { status: Some(StatusCode::BadNodeIdUnknown), ..Default::default() };
        let reading = to_reading(SOURCE, &spec("t", None), &dv, 0).unwrap();
        assert_eq!(reading.quality, Quality::Bad);
        assert_eq!(reading.value, ReadingValue::Text("BadNodeIdUnknown".into()));
    }

    #[test]
    fn a_good_status_without_a_value_is_unconvertible() {
        let dv = DataValue::default();
        let err = to_reading(SOURCE, &spec("t", None), &dv, 0).unwrap_err();
        assert_eq!(err, Unconvertible::NoValue { tag: "t".into() });
    }

    #[test]
    fn an_array_value_is_unsupported_and_names_the_tag() {
        let array = Variant::from(vec![1.0f64, 2.0]);
        let err = to_reading(SOURCE, &spec("profile", None), &DataValue::value_only(array), 0).unwrap_err();
        assert!(err.to_string().contains("`profile`"), "{err}");
    }
}
