//! The plant as the SLM node knows it: per tag the latest reading, a short
//! history, limits, and the facts computed from them.
//!
//! A library inside the SLM node rather than its own node: facts are needed
//! at the moment a question is answered, and a second node would add a
//! round trip per question (docs/decisions.md).
//!
//! Limits come from the reading (`low_limit`/`high_limit`, e.g. an OPC UA
//! EURange) or from limit tags named after their tag: `<tag>_high_limit`
//! (or `<tag>_limit`) and `<tag>_low_limit`. Limit tags are folded into their
//! tag's facts and not listed on their own.

use std::collections::BTreeMap;

use shopfloor_core::schema::{Reading, ReadingValue};
use shopfloor_vocabulary::tag_match::TagIndex;

use crate::facts::{freshness_of, LimitStatus, TagFact, Trend};
use crate::tag_state::{Sample, TagState};

/// How long history is kept and when a value counts as stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateSettings {
    /// History window per tag, ms.
    pub history_ms: i64,
    /// Unchanged for longer than this: possibly stale, ms.
    pub stale_after_ms: i64,
}

impl Default for StateSettings {
    fn default() -> Self {
        Self { history_ms: 600_000, stale_after_ms: 300_000 }
    }
}

/// Suffixes that make a tag the limit of another tag, and which limit.
const LIMIT_SUFFIXES: &[(&str, bool)] = &[("_high_limit", true), ("_low_limit", false), ("_limit", true)];

/// All tags.
#[derive(Debug, Default, Clone)]
pub struct PlantState {
    tags: BTreeMap<String, TagState>,
    settings: StateSettings,
    /// What each tag measures and belongs to, for matching questions; kept
    /// up to date as tags, units and descriptions arrive.
    index: TagIndex,
}

impl PlantState {
    /// An empty state with `settings`.
    pub fn new(settings: StateSettings) -> Self {
        Self { tags: BTreeMap::new(), settings, index: TagIndex::default() }
    }

    /// Takes in a batch; a reading older than the one held for its tag is ignored.
    pub fn update(&mut self, readings: Vec<Reading>) {
        for reading in readings {
            match self.tags.get_mut(&reading.tag) {
                Some(state) => {
                    let described = (&state.latest.unit, &state.latest.description);
                    let changed = described != (&reading.unit, &reading.description);
                    state.update(reading, self.settings.history_ms);
                    if changed {
                        let latest = &state.latest;
                        self.index.upsert(&latest.tag, latest.unit.as_deref(), latest.description.as_deref());
                    }
                }
                None => {
                    self.index.upsert(&reading.tag, reading.unit.as_deref(), reading.description.as_deref());
                    self.tags.insert(reading.tag.clone(), TagState::new(reading));
                }
            }
        }
    }

    /// The tags' profiles for matching questions.
    pub fn index(&self) -> &TagIndex {
        &self.index
    }

    /// Whether any reading has arrived.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// The tags facts are given for (limit tags folded away), in fact-sheet
    /// order: tags that rarely change first, then by name, so that a prompt
    /// built in this order keeps its longest stable prefix in the KV cache.
    pub fn tags(&self) -> Vec<&str> {
        let mut tags: Vec<(&str, bool)> = self
            .tags
            .iter()
            .filter(|(tag, _)| self.limit_target(tag).is_none())
            .map(|(tag, state)| (tag.as_str(), state.recent_changes() > 2))
            .collect();
        tags.sort_by_key(|(tag, volatile)| (*volatile, *tag));
        tags.into_iter().map(|(tag, _)| tag).collect()
    }

    /// Whether `tag` is known (a limit tag counts).
    pub fn knows(&self, tag: &str) -> bool {
        self.tags.contains_key(tag)
    }

    /// Every tag name including limit tags, and every unit and text value:
    /// the words a question may use for things this plant has.
    pub fn vocabulary(&self) -> impl Iterator<Item = &str> {
        self.tags.values().flat_map(|state| {
            let reading = &state.latest;
            let text = match &reading.value {
                ReadingValue::Text(t) => Some(t.as_str()),
                ReadingValue::Number(_) => None,
            };
            std::iter::once(reading.tag.as_str()).chain(reading.unit.as_deref()).chain(text)
        })
    }

    /// The unit of `tag`.
    pub fn unit(&self, tag: &str) -> Option<&str> {
        self.tags.get(tag).and_then(|s| s.latest.unit.as_deref())
    }

    /// The facts of `tag` at `now_ms`.
    pub fn fact(&self, tag: &str, now_ms: i64) -> Option<TagFact> {
        let state = self.tags.get(tag)?;
        let reading = &state.latest;
        let age_ms = (now_ms - state.last_change_ms).max(0);
        let (limit, trend) = match reading.value {
            ReadingValue::Number(value) => {
                let (low, high) = self.limits(tag);
                (LimitStatus::of(value, low, high), state.trend())
            }
            ReadingValue::Text(_) => (LimitStatus::NoLimit, Trend::Unknown),
        };
        Some(TagFact {
            tag: tag.to_owned(),
            value: reading.value.clone(),
            unit: reading.unit.clone(),
            limit,
            trend,
            freshness: freshness_of(reading.quality, age_ms, self.settings.stale_after_ms),
            age_ms,
            alarm: limit.is_alarm() || is_active_alarm_tag(reading),
            description: reading.description.clone(),
        })
    }

    /// Facts of every tag, in fact-sheet order.
    pub fn facts(&self, now_ms: i64) -> Vec<TagFact> {
        self.tags().into_iter().filter_map(|tag| self.fact(tag, now_ms)).collect()
    }

    /// Facts of the tags in alarm.
    pub fn alarms(&self, now_ms: i64) -> Vec<TagFact> {
        self.facts(now_ms).into_iter().filter(|f| f.alarm).collect()
    }

    /// Numeric history of `tag`, oldest first.
    pub fn history(&self, tag: &str) -> Vec<Sample> {
        self.tags.get(tag).map(|s| s.history().copied().collect()).unwrap_or_default()
    }

    /// Low and high limit of `tag`: the reading's own, else its limit tags'.
    pub fn limits(&self, tag: &str) -> (Option<f64>, Option<f64>) {
        let reading = self.tags.get(tag).map(|s| &s.latest);
        let from_tag = |suffix: &str| match self.tags.get(&format!("{tag}{suffix}")).map(|s| &s.latest.value) {
            Some(ReadingValue::Number(n)) => Some(*n),
            _ => None,
        };
        let low = reading.and_then(|r| r.low_limit).or_else(|| from_tag("_low_limit"));
        let high =
            reading.and_then(|r| r.high_limit).or_else(|| from_tag("_high_limit")).or_else(|| from_tag("_limit"));
        (low, high)
    }

    /// The tag whose limit `tag` is, if it is a limit tag.
    fn limit_target(&self, tag: &str) -> Option<&str> {
        LIMIT_SUFFIXES.iter().find_map(|(suffix, _)| {
            let base = tag.strip_suffix(suffix)?;
            self.tags.get_key_value(base).map(|(k, _)| k.as_str())
        })
    }
}

/// A tag named like an alarm (`door_alarm`) whose value is on.
fn is_active_alarm_tag(reading: &Reading) -> bool {
    let named_alarm = reading.tag.to_lowercase().contains("alarm");
    named_alarm
        && match &reading.value {
            ReadingValue::Number(n) => *n != 0.0,
            ReadingValue::Text(t) => matches!(t.to_lowercase().as_str(), "true" | "on" | "active"),
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Freshness;
    use crate::test_support::reading;
    use shopfloor_core::schema::Quality;

    fn cell(temperature: f64) -> PlantState {
        let mut state = PlantState::default();
        state.update(vec![
            reading("spindle_temperature", ReadingValue::Number(temperature), Some("°C"), 1000),
            reading("spindle_temperature_high_limit", ReadingValue::Number(80.0), Some("°C"), 1000),
            reading("spindle_speed", ReadingValue::Number(1200.0), Some("rpm"), 1000),
            reading("part_count", ReadingValue::Number(17.0), None, 1000),
            reading("machine_state", ReadingValue::Text("RUNNING".into()), None, 1000),
        ]);
        state
    }

    #[test]
    fn limit_tags_are_folded_into_their_tags_facts() {
        let state = cell(87.0);
        assert!(!state.tags().contains(&"spindle_temperature_high_limit"));
        let fact = state.fact("spindle_temperature", 1400).unwrap();
        assert!(fact.alarm);
        assert!(fact.prompt_line().contains("ALARM 7 °C above high limit 80 °C"), "{}", fact.prompt_line());
        assert_eq!(state.alarms(1400).len(), 1);
        assert!(cell(72.0).alarms(1400).is_empty());
    }

    #[test]
    fn a_readings_own_limits_win_over_limit_tags() {
        let mut state = cell(87.0);
        let mut own = reading("spindle_temperature", ReadingValue::Number(87.0), Some("°C"), 2000);
        own.high_limit = Some(90.0);
        state.update(vec![own]);
        assert!(!state.fact("spindle_temperature", 2000).unwrap().alarm);
    }

    #[test]
    fn an_older_reading_does_not_replace_a_newer_one() {
        let mut state = cell(70.0);
        state.update(vec![reading("spindle_speed", ReadingValue::Number(1.0), Some("rpm"), 500)]);
        assert_eq!(state.fact("spindle_speed", 1000).unwrap().value, ReadingValue::Number(1200.0));
    }

    #[test]
    fn a_value_unchanged_beyond_the_stale_limit_is_stale() {
        let state = cell(70.0);
        assert_eq!(state.fact("part_count", 1000 + 299_000).unwrap().freshness, Freshness::Fresh);
        assert_eq!(state.fact("part_count", 1000 + 301_000).unwrap().freshness, Freshness::Stale);
    }

    #[test]
    fn a_bad_quality_value_is_marked_bad() {
        let mut state = cell(70.0);
        let mut bad = reading("spindle_speed", ReadingValue::Number(1200.0), Some("rpm"), 2000);
        bad.quality = Quality::Bad;
        state.update(vec![bad]);
        assert_eq!(state.fact("spindle_speed", 2000).unwrap().freshness, Freshness::Bad);
    }

    #[test]
    fn rarely_changing_tags_come_first_in_the_fact_sheet() {
        let mut state = cell(70.0);
        for i in 1..=5 {
            state.update(vec![reading("machine_state", ReadingValue::Text(format!("S{i}")), None, 1000 + i)]);
        }
        let tags = state.tags();
        assert_eq!(tags.last(), Some(&"machine_state"), "{tags:?}");
        assert_eq!(tags[0], "part_count");
    }

    #[test]
    fn an_alarm_tag_that_is_on_is_an_alarm() {
        let mut state = cell(70.0);
        state.update(vec![reading("door_alarm", ReadingValue::Number(1.0), None, 1000)]);
        let alarms = state.alarms(1000);
        assert_eq!(alarms.len(), 1);
        assert_eq!(alarms[0].tag, "door_alarm");
    }
}
