//! What a question is about: which tags, all alarms, something the plant
//! does not have, or the plant in general. The matching itself
//! (`shopfloor_vocabulary::tag_match`) reads tag names of any convention,
//! descriptions and units, and questions in English, German, Spanish or
//! French.

use shopfloor_vocabulary::tag_match::{Doubt, Match};
use shopfloor_vocabulary::text::fold;
use shopfloor_vocabulary::{raw_words, LIMIT_WORDS, TREND_WORDS};

use crate::plant_state::PlantState;

/// What the question asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Focus {
    /// These tags, best match first.
    Tags(Vec<String>),
    /// The active alarms.
    Alarms,
    /// Things this plant has no tag for (the words as asked), and the tags
    /// that come closest.
    Unknown { asked: Vec<String>, closest: Vec<String> },
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
    /// What makes the focus a doubtful reading of the question (a word no
    /// chosen tag explains, a unit the plant may name otherwise).
    pub doubts: Vec<Doubt>,
}

/// The share of the model's confidence an answer keeps when the question's
/// reading is in doubt. The model cannot know that it was handed the wrong
/// facts: on the development plants every wrong sentence it wrote stated
/// its facts faithfully, at a confidence near 1, from a misread question.
/// 0.4 puts a sure sentence (0.99) under the nano tier's threshold (0.44).
pub const DOUBTED_SHARE: f32 = 0.4;

impl Intent {
    /// The confidence of an answer from these facts whose sentence the
    /// model wrote with `model_confidence`.
    pub fn confidence(&self, model_confidence: f32) -> f32 {
        if self.doubts.is_empty() {
            model_confidence
        } else {
            model_confidence * DOUBTED_SHARE
        }
    }
}

/// Limit words beyond English ("zu heiss", "über dem Grenzwert", "límite").
const MORE_LIMIT_WORDS: &[&str] = &[
    "grenzwert",
    "grenzwerte",
    "grenze",
    "uber",
    "unter",
    "zu",
    "normal",
    "limite",
    "limites",
    "encima",
    "debajo",
    "dessus",
    "dessous",
    "trop",
    "demasiado",
    "umbral",
    "seuil",
];

/// Trend words beyond English.
const MORE_TREND_WORDS: &[&str] = &[
    "steigt",
    "sinkt",
    "fallt",
    "trend",
    "verlauf",
    "stabil",
    "sube",
    "baja",
    "tendencia",
    "estable",
    "monte",
    "descend",
    "tendance",
    "augmente",
    "diminue",
];

/// Works out what `question` is about in `state`.
pub fn intent(question: &str, state: &PlantState) -> Intent {
    let raw: Vec<String> = raw_words(question).iter().map(|w| fold(w)).collect();
    let has = |english: &[&str], more: &[&str]| {
        raw.iter().any(|w| english.contains(&w.as_str()) || more.contains(&w.as_str()))
    };
    let asks_limit = has(LIMIT_WORDS, MORE_LIMIT_WORDS);
    let asks_trend = has(TREND_WORDS, MORE_TREND_WORDS);

    // A token written like a tag is judged whole: `oven_temp` is unknown as
    // a tag, not as the noun "oven".
    let unknown_tags: Vec<String> = tag_like_tokens(question).filter(|t| !state.knows(t)).map(str::to_owned).collect();
    let tags = state.tags();
    if !unknown_tags.is_empty() {
        let closest = tags.iter().take(5).map(|t| (*t).to_owned()).collect();
        return Intent {
            focus: Focus::Unknown { asked: unknown_tags, closest },
            asks_limit,
            asks_trend,
            doubts: Vec::new(),
        };
    }
    let (found, mut doubts) = state.index().find_doubted(question, &tags);
    // Limit and trend words say what is wanted of the thing, not which thing.
    doubts.retain(|doubt| match doubt {
        Doubt::Unexplained(word) => {
            ![MORE_LIMIT_WORDS, MORE_TREND_WORDS].iter().any(|more| more.contains(&word.as_str()))
        }
        Doubt::NumberedNeighbour(_) | Doubt::UnreadMeasure(_) => true,
    });
    let focus = match found {
        Match::Tags(tags) => Focus::Tags(tags),
        Match::Alarms => Focus::Alarms,
        Match::Unknown { asked, closest } => Focus::Unknown { asked, closest },
        Match::General => Focus::General,
    };
    Intent { focus, asks_limit, asks_trend, doubts }
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
        let asked = |question: &str| match intent(question, &state).focus {
            Focus::Unknown { asked, .. } => asked,
            other => panic!("{question}: {other:?}"),
        };
        assert_eq!(asked("What is the coolant temperature?"), ["coolant"]);
        assert_eq!(
            asked("hydraulic pressure of press 4?"),
            ["pressure", "press 4"],
            "the press named, so hydraulic is no question of its own"
        );
        assert_eq!(asked("value of oven_temp?"), ["oven_temp"]);
        assert_eq!(tags(intent("value of spindle_speed?", &state).focus), ["spindle_speed"]);
    }

    #[test]
    fn words_of_text_values_are_known() {
        // The machine is named by the tag; "tool change" is its value.
        assert_eq!(tags(intent("Is the machine in tool change?", &cell()).focus), ["machine_state"]);
    }

    #[test]
    fn alarm_and_general_questions() {
        assert_eq!(intent("Any alarms?", &cell()).focus, Focus::Alarms);
        assert_eq!(intent("Give me an overview", &cell()).focus, Focus::General);
    }
}
