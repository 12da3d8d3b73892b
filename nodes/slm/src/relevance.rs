//! What a question is about: which tags, all alarms, something the plant
//! does not have, or the plant in general. Plain word matching: the words
//! of tag names, a few everyday synonyms, and units.

use shopfloor_vocabulary::{canonical, raw_words, ALARM_WORDS, LIMIT_WORDS, PLANT_NOUNS, TREND_WORDS, UNIT_WORDS};

use crate::plant_state::PlantState;

/// What the question asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Focus {
    /// These tags, best match first.
    Tags(Vec<String>),
    /// The active alarms.
    Alarms,
    /// Things this plant has no tag for (the words as asked).
    Unknown(Vec<String>),
    /// Nothing in particular ("how is the cell doing?").
    General,
}

/// A question's focus and what it wants to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The tags (or alarms, or unknown things) asked about.
    pub focus: Focus,
    /// The question is about limits ("too hot?", "above the limit?").
    pub asks_limit: bool,
    /// The question is about change over time ("is it rising?").
    pub asks_trend: bool,
}

/// Works out what `question` is about in `state`.
pub fn intent(question: &str, state: &PlantState) -> Intent {
    let raw: Vec<String> = raw_words(question);
    let words: Vec<String> = raw.iter().map(|w| canonical(w)).collect();
    let asks_limit = raw.iter().any(|w| LIMIT_WORDS.contains(&w.as_str()));
    let asks_trend = raw.iter().any(|w| TREND_WORDS.contains(&w.as_str()));

    let known: Vec<String> = state.vocabulary().flat_map(tag_words).collect();
    // A token written like a tag is judged whole: `oven_temp` is unknown as
    // a tag, not as the noun "oven".
    let tag_like: Vec<&str> = tag_like_tokens(question).collect();
    let mut plain = question.to_owned();
    for token in &tag_like {
        plain = plain.replace(token, " ");
    }
    let plain_words = raw_words(&plain);
    let unknown: Vec<String> = plain_words
        .iter()
        .filter(|w| {
            let w = canonical(w);
            PLANT_NOUNS.contains(&w.as_str()) && !known.contains(&w)
        })
        .cloned()
        .chain(tag_like.iter().filter(|t| !state.knows(t)).map(|t| (*t).to_owned()))
        .collect();
    if !unknown.is_empty() {
        return Intent { focus: Focus::Unknown(unknown), asks_limit, asks_trend };
    }

    let tags = state.tags();
    let mut scored: Vec<(usize, &str)> = tags
        .iter()
        .map(|tag| (score(tag, state.unit(tag), &words, &raw), *tag))
        .filter(|(score, _)| *score > 0)
        .collect();
    if scored.is_empty() {
        let focus = if raw.iter().any(|w| ALARM_WORDS.contains(&w.as_str())) { Focus::Alarms } else { Focus::General };
        return Intent { focus, asks_limit, asks_trend };
    }
    // Stable sort keeps fact-sheet order among equal scores.
    scored.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    let best = scored[0].0;
    let focus = Focus::Tags(scored.into_iter().filter(|(s, _)| *s == best).map(|(_, t)| t.to_owned()).collect());
    Intent { focus, asks_limit, asks_trend }
}

/// The words of a tag name or value: `spindle_temperature` -> spindle, temperature.
fn tag_words(name: &str) -> impl Iterator<Item = String> + '_ {
    name.split(['_', '.', '-', ' ']).filter(|part| !part.is_empty()).map(str::to_lowercase)
}

/// Tokens written like tag names (`oven_temp`, `Cell7.Pressure`).
fn tag_like_tokens(question: &str) -> impl Iterator<Item = &str> {
    question
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '?' | '!' | '"' | '\'' | '(' | ')'))
        .map(|t| t.trim_end_matches('.'))
        .filter(|t| {
            let inner = t.trim_matches('_');
            inner.contains(['_', '.'])
                && inner.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.'))
                && inner.chars().any(char::is_alphabetic)
        })
}

/// How many of a tag's words the question uses, plus two when it names the
/// tag's unit (a unit is more specific than a word like "many").
fn score(tag: &str, unit: Option<&str>, words: &[String], raw: &[String]) -> usize {
    let by_name = tag_words(tag).filter(|part| words.contains(part)).count();
    let by_unit = unit.is_some_and(|unit| {
        raw.iter().any(|w| {
            w.eq_ignore_ascii_case(unit) || UNIT_WORDS.iter().any(|(said, u)| said == w && u.eq_ignore_ascii_case(unit))
        })
    });
    by_name + 2 * usize::from(by_unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopfloor_core::schema::{Reading, ReadingValue};

    fn reading(tag: &str, value: ReadingValue, unit: Option<&str>) -> Reading {
        crate::test_support::reading(tag, value, unit, 1000)
    }

    fn cell() -> PlantState {
        let mut state = PlantState::default();
        state.update(vec![
            reading("spindle_temperature", ReadingValue::Number(72.4), Some("°C")),
            reading("spindle_temperature_high_limit", ReadingValue::Number(80.0), Some("°C")),
            reading("spindle_speed", ReadingValue::Number(1200.0), Some("rpm")),
            reading("vibration", ReadingValue::Number(2.3), Some("mm/s")),
            reading("part_count", ReadingValue::Number(17.0), None),
            reading("machine_state", ReadingValue::Text("TOOL_CHANGE".into()), None),
        ]);
        state
    }

    fn tags(focus: Focus) -> Vec<String> {
        match focus {
            Focus::Tags(tags) => tags,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_question_naming_a_tag_selects_that_tag() {
        assert_eq!(tags(intent("What is the spindle temperature?", &cell()).focus), ["spindle_temperature"]);
    }

    #[test]
    fn everyday_words_and_units_find_their_tags() {
        let state = cell();
        assert_eq!(tags(intent("how hot is it?", &state).focus), ["spindle_temperature"]);
        assert_eq!(tags(intent("How many parts were made?", &state).focus), ["part_count"]);
        assert_eq!(tags(intent("is the machine running", &state).focus), ["machine_state"]);
        assert_eq!(tags(intent("how many mm/s now?", &state).focus), ["vibration"]);
        assert_eq!(tags(intent("what's the rpm", &state).focus), ["spindle_speed"]);
    }

    #[test]
    fn a_limit_question_is_about_the_tag_not_its_limit_tag() {
        let intent = intent("Is the spindle temperature above its limit?", &cell());
        assert!(intent.asks_limit);
        assert_eq!(tags(intent.focus), ["spindle_temperature"]);
    }

    #[test]
    fn something_the_plant_does_not_have_is_unknown() {
        let state = cell();
        assert_eq!(intent("What is the coolant temperature?", &state).focus, Focus::Unknown(vec!["coolant".into()]));
        assert_eq!(
            intent("hydraulic pressure of press 4?", &state).focus,
            Focus::Unknown(vec!["hydraulic".into(), "pressure".into(), "press".into()])
        );
        assert_eq!(intent("value of oven_temp?", &state).focus, Focus::Unknown(vec!["oven_temp".into()]));
        assert_eq!(tags(intent("value of spindle_speed?", &state).focus), ["spindle_speed"]);
    }

    #[test]
    fn words_of_text_values_are_known() {
        // "tool" is in TOOL_CHANGE; not a plant noun anyway, but values count as known.
        assert_eq!(tags(intent("Is the machine in tool change?", &cell()).focus), ["machine_state"]);
    }

    #[test]
    fn alarm_and_general_questions() {
        assert_eq!(intent("Any alarms?", &cell()).focus, Focus::Alarms);
        assert_eq!(intent("Give me an overview", &cell()).focus, Focus::General);
    }
}
