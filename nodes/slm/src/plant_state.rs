//! The latest reading of every tag, and which tags a question is about.

use std::collections::BTreeMap;

use shopfloor_core::schema::{Quality, Reading};

/// Latest reading per tag.
#[derive(Debug, Default, Clone)]
pub struct PlantState {
    latest: BTreeMap<String, Reading>,
}

/// Everyday words operators use for parts of tag names.
const SYNONYMS: &[(&str, &str)] = &[
    ("temp", "temperature"),
    ("hot", "temperature"),
    ("heat", "temperature"),
    ("rpm", "speed"),
    ("fast", "speed"),
    ("vibrating", "vibration"),
    ("vibrate", "vibration"),
    ("parts", "part"),
    ("produced", "count"),
    ("made", "count"),
    ("many", "count"),
    ("status", "state"),
    ("running", "state"),
    ("doing", "state"),
];

impl PlantState {
    /// Takes in a batch; a reading older than the one held for its tag is ignored.
    pub fn update(&mut self, readings: Vec<Reading>) {
        for reading in readings {
            let newer = self
                .latest
                .get(&reading.tag)
                .is_none_or(|held| timestamp(&reading) >= timestamp(held));
            if newer {
                self.latest.insert(reading.tag.clone(), reading);
            }
        }
    }

    /// Whether any reading has arrived.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    /// All readings, in tag order.
    pub fn all(&self) -> impl Iterator<Item = &Reading> {
        self.latest.values()
    }

    /// The readings a question is about, best match first; every reading when
    /// the question names none (a general question like "how is the cell?").
    pub fn relevant(&self, question: &str) -> Vec<&Reading> {
        let words = question_words(question);
        let mut scored: Vec<(usize, &Reading)> = self
            .latest
            .values()
            .map(|r| (match_score(&r.tag, &words), r))
            .filter(|(score, _)| *score > 0)
            .collect();
        if scored.is_empty() {
            return self.all().collect();
        }
        // Stable sort keeps tag order among equal scores.
        scored.sort_by(|a, b| b.0.cmp(&a.0));
        let best = scored[0].0;
        scored.into_iter().filter(|(s, _)| *s == best).map(|(_, r)| r).collect()
    }
}

fn timestamp(reading: &Reading) -> i64 {
    reading.source_ts_ms.unwrap_or(reading.received_ts_ms)
}

/// Lower-case words of a question, with synonyms mapped to tag vocabulary.
fn question_words(question: &str) -> Vec<String> {
    question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.to_lowercase();
            SYNONYMS
                .iter()
                .find(|(said, _)| *said == w)
                .map(|(_, tag_word)| (*tag_word).to_owned())
                .unwrap_or(w)
        })
        .collect()
}

/// How many words of a tag name (`spindle_temperature`) the question uses.
fn match_score(tag: &str, words: &[String]) -> usize {
    tag.split(['_', '.', '-'])
        .filter(|part| !part.is_empty())
        .filter(|part| words.iter().any(|w| w.eq_ignore_ascii_case(part)))
        .count()
}

/// A reading as the model sees it: `spindle temperature: 72.4 °C`, with the
/// quality only when it is not good. Kept short because every prompt token
/// after the cached instructions costs time on a small CPU.
pub fn prompt_fact(reading: &Reading) -> String {
    let name = reading.tag.replace(['_', '.'], " ");
    let unit = reading.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
    let quality = match reading.quality {
        Quality::Good => "",
        Quality::Uncertain => " (quality UNCERTAIN)",
        Quality::Bad => " (quality BAD)",
    };
    format!("{name}: {}{unit}{quality}", reading.value)
}

/// A reading as one line of an answer's `facts_used`, e.g.
/// `spindle temperature: 72.4 °C (quality good, changed 0.4 s ago)`.
///
/// Sources report changes only (an OPC UA subscription sends a constant
/// value once), so the age is time since the last change, not staleness.
pub fn fact_line(reading: &Reading, now_ms: i64) -> String {
    let name = reading.tag.replace(['_', '.'], " ");
    let value = &reading.value;
    let unit = reading.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
    let age_ms = (now_ms - reading.source_ts_ms.unwrap_or(reading.received_ts_ms)).max(0);
    let quality = match reading.quality {
        Quality::Good => "good",
        Quality::Uncertain => "UNCERTAIN",
        Quality::Bad => "BAD",
    };
    format!("{name}: {value}{unit} (quality {quality}, changed {} ago)", format_age(age_ms))
}

/// The value as text, exactly as it appears in the fact sheet.
pub fn value_text(reading: &Reading) -> String {
    reading.value.to_string()
}

fn format_age(age_ms: i64) -> String {
    if age_ms < 60_000 {
        format!("{:.1} s", age_ms as f64 / 1000.0)
    } else {
        format!("{} min", age_ms / 60_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopfloor_core::schema::ReadingValue;

    fn reading(tag: &str, value: ReadingValue, unit: Option<&str>, ts: i64) -> Reading {
        Reading {
            source: "test".into(),
            tag: tag.into(),
            value,
            unit: unit.map(str::to_owned),
            quality: Quality::Good,
            source_ts_ms: Some(ts),
            received_ts_ms: ts,
        }
    }

    fn cell() -> PlantState {
        let mut state = PlantState::default();
        state.update(vec![
            reading("spindle_temperature", ReadingValue::Number(72.4), Some("°C"), 1000),
            reading("spindle_speed", ReadingValue::Number(1200.0), Some("rpm"), 1000),
            reading("part_count", ReadingValue::Number(17.0), None, 1000),
            reading("machine_state", ReadingValue::Text("RUNNING".into()), None, 1000),
        ]);
        state
    }

    #[test]
    fn a_question_about_the_spindle_temperature_selects_that_tag_first() {
        let state = cell();
        let relevant = state.relevant("What is the spindle temperature?");
        assert_eq!(relevant[0].tag, "spindle_temperature");
        assert_eq!(relevant.len(), 1);
    }

    #[test]
    fn everyday_words_find_their_tags() {
        let state = cell();
        assert_eq!(state.relevant("how hot is it?")[0].tag, "spindle_temperature");
        assert_eq!(state.relevant("How many parts were made?")[0].tag, "part_count");
        assert_eq!(state.relevant("is the machine running")[0].tag, "machine_state");
    }

    #[test]
    fn a_general_question_gets_every_fact() {
        assert_eq!(cell().relevant("Give me an overview").len(), 4);
    }

    #[test]
    fn an_older_reading_does_not_replace_a_newer_one() {
        let mut state = cell();
        state.update(vec![reading("spindle_speed", ReadingValue::Number(1.0), Some("rpm"), 500)]);
        let speed = state.all().find(|r| r.tag == "spindle_speed").unwrap();
        assert_eq!(speed.value, ReadingValue::Number(1200.0));
    }

    #[test]
    fn a_prompt_fact_is_short_and_flags_only_doubtful_quality() {
        let mut r = reading("spindle_temperature", ReadingValue::Number(72.4), Some("°C"), 1000);
        assert_eq!(prompt_fact(&r), "spindle temperature: 72.4 °C");
        r.quality = Quality::Bad;
        assert_eq!(prompt_fact(&r), "spindle temperature: 72.4 °C (quality BAD)");
    }

    #[test]
    fn a_fact_line_shows_value_unit_quality_and_time_since_change() {
        let r = reading("spindle_temperature", ReadingValue::Number(72.4), Some("°C"), 1000);
        assert_eq!(fact_line(&r, 1400), "spindle temperature: 72.4 °C (quality good, changed 0.4 s ago)");
        assert!(fact_line(&r, 181_000).contains("changed 3 min ago"));
    }

}
