//! Helpers shared by the unit tests of this crate.

use shopfloor_core::schema::{Quality, Reading, ReadingValue};

/// A good-quality reading of `tag` at `ts` (source and arrival time alike).
pub(crate) fn reading(tag: &str, value: ReadingValue, unit: Option<&str>, ts: i64) -> Reading {
    Reading {
        source: "test".into(),
        tag: tag.into(),
        value,
        unit: unit.map(str::to_owned),
        quality: Quality::Good,
        source_ts_ms: Some(ts),
        received_ts_ms: ts,
        low_limit: None,
        high_limit: None,
        server_ts_ms: None,
        value_type: None,
        status_code: None,
        eu_low: None,
        eu_high: None,
    }
}
