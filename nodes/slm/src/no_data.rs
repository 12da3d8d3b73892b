//! "I have no data on X here": the answer to a question about something the
//! plant does not have, naming the closest tags so the operator can ask
//! again. The model may word it (the tuned nano model is taught this
//! sentence); its wording is kept only if it says there is no data, names
//! what was asked and at least one listed tag, and states no number the
//! prompt does not hold. Otherwise the composed sentence is the answer.

use shopfloor_vocabulary::language::Language;

use crate::grounding::states_only_known_numbers;
use crate::plant_state::PlantState;

/// Most tags listed when nothing closer than "what I have" can be named.
const KNOWN_TAGS_LISTED: usize = 8;

/// What a "no data" answer says: the thing asked and the tags offered instead.
#[derive(Debug, Clone, PartialEq)]
pub struct NoData {
    /// What the question asked for, as its words.
    asked: String,
    /// Tags named instead, as written in answers (`_` as spaces).
    listed: Vec<String>,
    /// `None`: `listed` are the closest tags. `Some(more)`: nothing is
    /// close, `listed` are the first tags the plant has (`more`: and others).
    all_known: Option<bool>,
}

impl NoData {
    /// The answer to a question that asked for `asked`, with the `closest`
    /// tags (or, without any, the first few the plant has).
    pub fn new(asked: &[String], closest: &[String], state: &PlantState) -> Self {
        let shown = |tag: &str| tag.replace('_', " ");
        if closest.is_empty() {
            let tags = state.tags();
            Self {
                asked: asked.join(" "),
                listed: tags.iter().take(KNOWN_TAGS_LISTED).map(|t| shown(t)).collect(),
                // No count: an answer states no number that is not a plant value.
                all_known: Some(tags.len() > KNOWN_TAGS_LISTED),
            }
        } else {
            Self { asked: asked.join(" "), listed: closest.iter().map(|t| shown(t)).collect(), all_known: None }
        }
    }

    /// The composed sentence in `language`.
    pub fn text_in(&self, language: Language) -> String {
        let asked = &self.asked;
        let (no_data, known, closest_word, and_more) = match language {
            Language::English => (format!("I have no data on {asked} here"), "I know", "closest", " and more"),
            Language::German => {
                (format!("Dazu habe ich hier keine Daten: {asked}"), "ich kenne", "am nächsten", " und weitere")
            }
            Language::Spanish => (format!("No tengo datos de {asked} aquí"), "conozco", "lo más cercano", " y más"),
            Language::French => {
                (format!("Je n'ai pas de données sur {asked} ici"), "je connais", "le plus proche", " et d'autres")
            }
        };
        let listed = self.listed.join(", ");
        match self.all_known {
            Some(more) => format!("{no_data}; {known}: {listed}{}.", if more { and_more } else { "" }),
            None => format!("{no_data}; {closest_word}: {listed}."),
        }
    }

    /// The words of the listed tag names (the plant's spelling, not the
    /// sentence's language).
    pub fn plant_words(&self) -> Vec<String> {
        self.listed.iter().flat_map(|tag| crate::answering::plant_words_of(tag)).collect()
    }

    /// The prompt's fact lines: what has no data, and what is offered.
    pub fn prompt_lines(&self) -> Vec<String> {
        let offered = match self.all_known {
            Some(true) => format!("tags known: {} and more", self.listed.join(", ")),
            Some(false) => format!("tags known: {}", self.listed.join(", ")),
            None => format!("closest tags: {}", self.listed.join(", ")),
        };
        vec![format!("no data on: {}", self.asked), offered]
    }

    /// Whether the model's `text` is a faithful "no data" answer in
    /// `language`: it says so, names what was asked and at least one listed
    /// tag, and states no number the prompt lines do not hold (so no value
    /// of any tag: the prompt has none).
    pub fn is_stated_by(&self, text: &str, language: Language) -> bool {
        let lower = text.to_lowercase();
        let marker = match language {
            Language::English => "no data",
            Language::German => "keine daten",
            Language::Spanish => "no tengo datos",
            Language::French => "pas de données",
        };
        lower.contains(marker)
            && lower.contains(&self.asked.to_lowercase())
            && (self.listed.is_empty() || self.listed.iter().any(|tag| lower.contains(&tag.to_lowercase())))
            && states_only_known_numbers(text, &self.prompt_lines())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plant_state::StateSettings;
    use shopfloor_core::schema::{Reading, ReadingValue};

    fn state(tags: &[&str]) -> PlantState {
        let mut state = PlantState::new(StateSettings::default());
        state.update(
            tags.iter()
                .map(|t| Reading::good("cell", (*t).to_owned(), ReadingValue::Number(1.0), None, Some(0), 0))
                .collect(),
        );
        state
    }

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn the_composed_sentence_names_the_closest_tags_in_the_askers_language() {
        let empty = state(&[]);
        let no_data = NoData::new(&words("hydraulic pressure"), &["coolant_pressure".into()], &empty);
        assert_eq!(
            no_data.text_in(Language::English),
            "I have no data on hydraulic pressure here; closest: coolant pressure."
        );
        assert_eq!(
            no_data.text_in(Language::German),
            "Dazu habe ich hier keine Daten: hydraulic pressure; am nächsten: coolant pressure."
        );
        assert_eq!(no_data.prompt_lines(), ["no data on: hydraulic pressure", "closest tags: coolant pressure"]);
    }

    #[test]
    fn without_close_tags_the_first_known_ones_are_listed_without_a_count() {
        let names: Vec<String> = (1..=10).map(|n| format!("tag_{n}")).collect();
        let plant = state(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let no_data = NoData::new(&words("humidity"), &[], &plant);
        let text = no_data.text_in(Language::English);
        assert!(text.starts_with("I have no data on humidity here; I know: "), "{text}");
        assert!(text.ends_with(" and more."), "{text}");
        assert_eq!(no_data.prompt_lines()[1].matches(", ").count(), KNOWN_TAGS_LISTED - 1);
    }

    #[test]
    fn the_models_wording_must_say_no_data_name_the_asked_thing_and_a_listed_tag() {
        let no_data = NoData::new(&words("vibration press 9"), &["press_2_vibration".into()], &state(&[]));
        let composed = no_data.text_in(Language::English);
        assert!(no_data.is_stated_by(&composed, Language::English));
        assert!(
            no_data.is_stated_by("There is no data on vibration press 9; try press 2 vibration.", Language::English)
        );
        // A value invented for the missing tag, or for the offered one.
        assert!(!no_data.is_stated_by(
            "I have no data on vibration press 9 here; closest: press 2 vibration at 4.1 mm/s.",
            Language::English
        ));
        // Another thing than was asked, no tag offered, no "no data".
        assert!(!no_data.is_stated_by("I have no data on press 2 here; closest: press 2 vibration.", Language::English));
        assert!(!no_data.is_stated_by("I have no data on vibration press 9 here.", Language::English));
        assert!(!no_data.is_stated_by("Vibration press 9 is fine; see press 2 vibration.", Language::English));
        // The marker of the asker's language.
        assert!(no_data.is_stated_by(&no_data.text_in(Language::Spanish), Language::Spanish));
        assert!(!no_data.is_stated_by(&composed, Language::French));
    }
}
