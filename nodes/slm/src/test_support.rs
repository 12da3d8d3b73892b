//! Helpers shared by the unit tests of this crate.

use shopfloor_core::schema::{Reading, ReadingValue};

/// A good-quality reading of `tag` at `ts` (source and arrival time alike).
pub(crate) fn reading(tag: &str, value: ReadingValue, unit: Option<&str>, ts: i64) -> Reading {
    Reading::good("test", tag.into(), value, unit.map(str::to_owned), Some(ts), ts)
}
