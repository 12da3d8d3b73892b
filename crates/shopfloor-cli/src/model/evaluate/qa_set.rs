//! The labelled plant Q&A set (`tests/fixtures/plant-qa.json`): scenarios
//! of plant readings, questions about them, and what a right answer must
//! say. Pure data and judging; running a model over it is in [`super::run`].

use std::path::Path;

use serde::Deserialize;
use shopfloor_core::schema::{Answer, Reading, ReadingValue};

use slm::plant_state::{PlantState, StateSettings};

/// Why the set could not be used.
#[derive(Debug, thiserror::Error)]
pub enum QaSetError {
    /// The file could not be read.
    #[error("cannot read the Q&A set {path}: {source}")]
    Read { path: String, source: std::io::Error },
    /// The file is not a valid set.
    #[error("invalid Q&A set {path}: {message}")]
    Invalid {
        path: String,
        /// What is wrong (serde's message names the field).
        message: String,
    },
}

/// The whole set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QaSet {
    pub name: String,
    pub version: u32,
    /// Plant states the questions are asked against.
    pub scenarios: Vec<Scenario>,
    pub items: Vec<QaItem>,
}

/// A plant state.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Referenced by items.
    pub name: String,
    /// What is going on.
    pub description: String,
    /// The latest reading of each tag.
    pub readings: Vec<ScenarioReading>,
}

/// One tag's latest value and, optionally, its earlier samples.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioReading {
    pub tag: String,
    /// Number or text.
    pub value: serde_json::Value,
    /// Engineering unit.
    #[serde(default)]
    pub unit: Option<String>,
    /// How old the latest value is, seconds.
    pub age_secs: i64,
    /// Earlier samples as `[seconds ago, value]`, oldest first.
    #[serde(default)]
    pub history: Vec<(i64, f64)>,
}

/// A question and what its answer must say.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QaItem {
    pub id: String,
    pub scenario: String,
    /// Question class (current_value, limit, trend, alarm, stale, unknown_tag, out_of_scope).
    pub class: String,
    pub question: String,
    /// The right answer's content.
    pub expect: Expectation,
}

/// What a right answer says. Words and values match case-insensitively;
/// a number must stand alone (72.4 is not found in 172.4 or 72.45).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Every one of these values appears.
    #[serde(default)]
    pub values: Vec<String>,
    /// One of these spellings of the unit appears (empty: no unit needed).
    #[serde(default)]
    pub units: Vec<String>,
    /// One of these words appears (empty: none needed).
    #[serde(default)]
    pub words: Vec<String>,
    /// None of these words appears.
    #[serde(default)]
    pub not_words: Vec<String>,
    /// A label instead of content: `no_data` is the "I have no data on" refusal.
    #[serde(default)]
    pub label: Option<String>,
}

/// How one answer was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The answer says what it must.
    pub correct: bool,
    /// The model wrote the text (rather than the facts' fallback sentence).
    pub by_model: bool,
}

impl Verdict {
    /// Right, in a sentence the model wrote. A sentence that code composed
    /// (a refusal, a stale value) or that the grounding check put in place
    /// of the model's is never the model's success.
    pub fn model_correct(self) -> bool {
        self.correct && self.by_model
    }

    /// Right, in a sentence that code wrote (composed or replaced).
    pub fn code_correct(self) -> bool {
        self.correct && !self.by_model
    }
}

/// Seconds between a scenario's history samples and "now" are measured
/// from this instant (any fixed time works; fixed keeps runs identical).
pub const SCENARIO_NOW_MS: i64 = 1_764_086_400_000;

impl QaSet {
    /// Reads and checks a set: every item names a known scenario.
    pub fn load(path: &Path) -> Result<Self, QaSetError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| QaSetError::Read { path: shown.clone(), source })?;
        Self::parse(&shown, &text)
    }

    /// Parses set text; `path` is only used in errors.
    pub fn parse(path: &str, text: &str) -> Result<Self, QaSetError> {
        let invalid = |message: String| QaSetError::Invalid { path: path.to_owned(), message };
        let set: QaSet = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if let Some(item) = set.items.iter().find(|i| set.scenario(&i.scenario).is_none()) {
            return Err(invalid(format!(
                "item {} names scenario {:?}, which the set does not have",
                item.id, item.scenario
            )));
        }
        if let Some(item) = set.items.iter().find(|i| i.expect.label.as_deref().is_some_and(|l| l != "no_data")) {
            return Err(invalid(format!("item {} has label {:?}; known labels: no_data", item.id, item.expect.label)));
        }
        Ok(set)
    }

    /// The scenario called `name`.
    pub fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// Every `step`-th item, starting with the first (a quick sample with
    /// every class in it when `step` is small).
    pub fn sample(&self, step: usize) -> Vec<&QaItem> {
        self.items.iter().step_by(step.max(1)).collect()
    }
}

impl Scenario {
    /// The plant state at [`SCENARIO_NOW_MS`].
    pub fn state(&self, settings: StateSettings) -> PlantState {
        let mut state = PlantState::new(settings);
        let reading = |tag: &str, value: ReadingValue, unit: &Option<String>, secs_ago: i64| {
            let ts = SCENARIO_NOW_MS - secs_ago * 1000;
            Reading::good("plant-qa", tag.to_owned(), value, unit.clone(), Some(ts), ts)
        };
        for r in &self.readings {
            let history = r.history.iter().map(|&(ago, v)| reading(&r.tag, ReadingValue::Number(v), &r.unit, ago));
            state.update(history.collect());
            let value = match &r.value {
                serde_json::Value::Number(n) => ReadingValue::Number(n.as_f64().unwrap_or(f64::NAN)),
                serde_json::Value::String(s) => ReadingValue::Text(s.clone()),
                other => ReadingValue::Text(other.to_string()),
            };
            state.update(vec![reading(&r.tag, value, &r.unit, r.age_secs)]);
        }
        state
    }
}

impl Expectation {
    /// Judges `answer` against this expectation.
    pub fn judge(&self, answer: &Answer) -> Verdict {
        let text = answer.text.to_lowercase();
        let correct = match self.label.as_deref() {
            // The slm's "I have no data on …" (composed, or in the model's
            // words, which its check keeps to "no data on"), or the router's refusal.
            Some(_no_data) => {
                text.contains("no data on")
                    || answer.route.iter().any(|hop| hop.outcome == shopfloor_core::schema::HopOutcome::Refused)
            }
            None => {
                answer.error.is_none()
                    && self.values.iter().all(|v| contains_value(&text, &v.to_lowercase()))
                    && (self.units.is_empty() || self.units.iter().any(|u| text.contains(&u.to_lowercase())))
                    && (self.words.is_empty() || self.words.iter().any(|w| text.contains(&w.to_lowercase())))
                    && !self.not_words.iter().any(|w| text.contains(&w.to_lowercase()))
            }
        };
        Verdict { correct, by_model: answer.model.is_some() }
    }
}

/// Whether `needle` appears in `text` on its own: a number is not part of
/// a longer number.
pub(crate) fn contains_value(text: &str, needle: &str) -> bool {
    let numeric = needle.parse::<f64>().is_ok();
    text.match_indices(needle).any(|(at, _)| {
        if !numeric {
            return true;
        }
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().collect::<Vec<_>>();
        let digit_before = before.is_some_and(|c| c.is_ascii_digit() || c == '.');
        // "72.4." at the end of a sentence is fine; "72.45" is not.
        let digit_after = match after.as_slice() {
            [c, ..] if c.is_ascii_digit() => true,
            ['.', d, ..] | [',', d, ..] if d.is_ascii_digit() => true,
            _ => false,
        };
        !digit_before && !digit_after
    })
}

#[cfg(test)]
mod tests {
    use shopfloor_core::schema::{AnswerError, Origin, Question};

    use super::*;

    fn answer(text: &str, by_model: bool) -> Answer {
        let mut a = Answer::to_question(&Question::new("q", "?", "op", Origin::Mqtt, 0), text.into());
        a.model = by_model.then(|| "m".to_owned());
        a
    }

    #[test]
    fn values_stand_alone_and_units_words_and_labels_are_checked() {
        let e = Expectation {
            values: vec!["72.4".into()],
            units: vec!["°C".into(), "degrees".into()],
            ..Default::default()
        };
        assert!(e.judge(&answer("The spindle is at 72.4 °C.", true)).correct);
        assert!(e.judge(&answer("It reads 72.4 degrees.", true)).correct);
        assert!(!e.judge(&answer("It reads 172.4 °C.", true)).correct);
        assert!(!e.judge(&answer("It reads 72.45 °C.", true)).correct);
        assert!(!e.judge(&answer("It reads 72.4.", true)).correct, "unit missing");
        let limit = Expectation {
            values: vec!["87.5".into()],
            words: vec!["above".into()],
            not_words: vec!["below".into()],
            ..Default::default()
        };
        assert!(limit.judge(&answer("At 87.5 °C it is above the limit.", true)).correct);
        assert!(!limit.judge(&answer("At 87.5 °C it is below the limit.", true)).correct);
        let refusal = Expectation { label: Some("no_data".into()), ..Default::default() };
        assert!(refusal.judge(&answer("I have no data on coolant pressure here; I know: x.", false)).correct);
        assert!(!refusal.judge(&answer("Coolant pressure is 3 bar.", true)).correct);
        let mut refused = answer(router::config::DEFAULT_REFUSAL, false);
        refused.route = vec![shopfloor_core::schema::RouteHop::refused("out of scope")];
        assert!(refusal.judge(&refused).correct, "the router's refusal declines too");
        let mut failed = answer("The model failed; 72.4 °C", false);
        failed.error = Some(AnswerError::GenerationFailed);
        assert!(!e.judge(&failed).correct);
    }

    #[test]
    fn a_fallback_sentence_is_right_but_not_the_models() {
        let e = Expectation { values: vec!["72.4".into()], ..Default::default() };
        let verdict = e.judge(&answer("spindle temperature is 72.4 °C.", false));
        assert!(verdict.correct && !verdict.model_correct() && verdict.code_correct());
        let by_model = e.judge(&answer("spindle temperature is 72.4 °C.", true));
        assert!(by_model.model_correct() && !by_model.code_correct());
    }

    #[test]
    fn the_shipped_set_loads_and_builds_every_scenario() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/plant-qa.json");
        let set = QaSet::load(&path).unwrap();
        assert!(set.items.len() >= 200, "{} items", set.items.len());
        for scenario in &set.scenarios {
            let state = scenario.state(StateSettings::default());
            assert_eq!(
                state.tags().len() + usize::from(scenario.readings.iter().any(|r| r.tag.ends_with("_limit"))),
                scenario.readings.len(),
                "{}",
                scenario.name
            );
        }
        let overheat = set.scenario("cell-overheat").unwrap().state(StateSettings::default());
        let fact = overheat.fact("spindle_temperature", SCENARIO_NOW_MS).unwrap();
        assert!(fact.alarm && matches!(fact.trend, slm::facts::Trend::Rising { .. }), "{fact:?}");
        assert_eq!(set.sample(10).len(), set.items.len().div_ceil(10));
    }

    #[test]
    fn an_item_with_an_unknown_scenario_is_named() {
        let text = r#"{"name":"s","version":1,"scenarios":[],"items":[{"id":"x1","scenario":"nope","class":"c","question":"q","expect":{}}]}"#;
        let err = QaSet::parse("s.json", text).unwrap_err().to_string();
        assert!(err.contains("x1") && err.contains("nope"), "{err}");
    }
}
