//! Live plant values for the console: the latest reading of every tag and a
//! short history of its numbers for the sparkline. Plain state: readings in,
//! JSON out; staleness is judged by the page from `ts_ms` and the server
//! time it is sent.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{json, Value};
use shopfloor_core::schema::{Reading, ReadingValue};

/// Points of history kept per tag (two minutes at 1 Hz, 30 s at 4 Hz).
pub const HISTORY_POINTS: usize = 120;
/// Tags kept at most; readings of further tags are counted and left out.
pub const MAX_TAGS: usize = 20_000;

#[derive(Debug, Clone)]
struct LiveTag {
    latest: Reading,
    history: VecDeque<(i64, f64)>,
}

/// The latest value of every tag.
#[derive(Debug, Default)]
pub struct LiveTags {
    tags: BTreeMap<String, LiveTag>,
    /// When each source last sent a reading (ms since the epoch): a value
    /// that does not change is not stale while its source keeps reporting.
    heard: BTreeMap<String, i64>,
    /// Readings of tags beyond [`MAX_TAGS`], left out.
    pub refused: u64,
}

/// The time a reading stands for: the plant's, else when it arrived.
fn reading_ts(reading: &Reading) -> i64 {
    reading.source_ts_ms.unwrap_or(reading.received_ts_ms)
}

fn value_json(value: &ReadingValue) -> Value {
    match value {
        ReadingValue::Number(number) => json!(number),
        ReadingValue::Text(text) => json!(text),
    }
}

impl LiveTags {
    /// Takes a batch of readings; returns the JSON updates of the tags it
    /// changed (each with its new history point), in tag order.
    pub fn take(&mut self, readings: &[Reading]) -> Vec<Value> {
        let mut changed: BTreeMap<String, Value> = BTreeMap::new();
        for reading in readings {
            if self.heard.len() < MAX_TAGS || self.heard.contains_key(&reading.source) {
                let heard = self.heard.entry(reading.source.clone()).or_insert(reading.received_ts_ms);
                *heard = (*heard).max(reading.received_ts_ms);
            }
            if !self.tags.contains_key(&reading.tag) && self.tags.len() >= MAX_TAGS {
                self.refused += 1;
                continue;
            }
            let live = self
                .tags
                .entry(reading.tag.clone())
                .or_insert_with(|| LiveTag { latest: reading.clone(), history: VecDeque::new() });
            live.latest = reading.clone();
            let point = match reading.value {
                ReadingValue::Number(number) if number.is_finite() => {
                    let point = (reading_ts(reading), number);
                    if live.history.len() == HISTORY_POINTS {
                        live.history.pop_front();
                    }
                    live.history.push_back(point);
                    Some(point)
                }
                _ => None,
            };
            let mut update = tag_json(&live.latest);
            update["point"] = point.map_or(Value::Null, |(ts, value)| json!([ts, value]));
            changed.insert(reading.tag.clone(), update);
        }
        changed.into_values().collect()
    }

    /// Every tag with its history, in tag order.
    pub fn snapshot(&self) -> Vec<Value> {
        self.tags
            .values()
            .map(|live| {
                let mut tag = tag_json(&live.latest);
                tag["history"] = live.history.iter().map(|(ts, value)| json!([ts, value])).collect();
                tag
            })
            .collect()
    }

    /// When each source last sent a reading.
    pub fn sources(&self) -> Value {
        self.heard
            .iter()
            .map(|(source, heard)| (source.clone(), json!(heard)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    pub fn len(&self) -> usize {
        self.tags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }
}

/// One tag as the page shows it (docs/console.md, "Live values").
fn tag_json(reading: &Reading) -> Value {
    json!({
        "tag": reading.tag,
        "value": value_json(&reading.value),
        "unit": reading.unit,
        "quality": reading.quality.as_str(),
        "status_code": reading.status_code,
        "ts_ms": reading_ts(reading),
        "low_limit": reading.low_limit,
        "high_limit": reading.high_limit,
        "description": reading.description,
        "source": reading.source,
    })
}

#[cfg(test)]
mod tests {
    use shopfloor_core::schema::Quality;

    use super::*;

    fn reading(tag: &str, value: ReadingValue, ts_ms: i64) -> Reading {
        Reading {
            high_limit: Some(80.0),
            ..Reading::good("opc.tcp://127.0.0.1:4840/", tag.into(), value, Some("°C".into()), None, ts_ms)
        }
    }

    #[test]
    fn a_number_updates_its_tag_and_adds_a_history_point_text_does_not() {
        let mut tags = LiveTags::default();
        let first = tags.take(&[
            reading("spindle_temperature", ReadingValue::Number(61.5), 1_000),
            reading("machine_state", ReadingValue::Text("RUNNING".into()), 1_000),
        ]);
        assert_eq!(first.len(), 2);
        assert_eq!(first[0]["tag"], "machine_state", "in tag order");
        assert_eq!(first[0]["point"], Value::Null);
        assert_eq!(first[1]["point"], json!([1_000, 61.5]));
        assert_eq!((first[1]["high_limit"].as_f64(), first[1]["quality"].as_str()), (Some(80.0), Some("good")));

        let bad = Reading { quality: Quality::Bad, ..reading("spindle_temperature", ReadingValue::Number(0.0), 2_000) };
        tags.take(&[bad]);
        let snapshot = tags.snapshot();
        assert_eq!(snapshot[1]["quality"], "bad");
        assert_eq!(snapshot[1]["history"], json!([[1_000, 61.5], [2_000, 0.0]]));
        assert_eq!(tags.sources(), json!({ "opc.tcp://127.0.0.1:4840/": 2_000 }), "heard from at its latest batch");
    }

    #[test]
    fn history_and_the_number_of_tags_are_bounded() {
        let mut tags = LiveTags::default();
        for n in 0..(HISTORY_POINTS as i64 + 5) {
            tags.take(&[reading("t", ReadingValue::Number(n as f64), n)]);
        }
        let history = tags.snapshot()[0]["history"].as_array().unwrap().clone();
        assert_eq!(history.len(), HISTORY_POINTS);
        assert_eq!(history[0], json!([5, 5.0]), "the oldest points went first");

        let many: Vec<Reading> =
            (0..MAX_TAGS + 2).map(|n| reading(&format!("tag{n:05}"), ReadingValue::Number(1.0), 1)).collect();
        let mut tags = LiveTags::default();
        tags.take(&many);
        assert_eq!((tags.len(), tags.refused), (MAX_TAGS, 2));
    }
}
