//! Question classes by rules: plain word matching over the shared plant
//! vocabulary. Rules are exact for what they decide (a question with no
//! plant word is not about the plant) and cost microseconds, so no model
//! is spent on classifying (docs/decisions.md).

use shopfloor_vocabulary::{
    canonical, raw_words, ALARM_WORDS, GENERAL_PLANT_WORDS, LIMIT_WORDS, PLANT_NOUNS, PROCEDURE_WORDS, SYNONYMS,
    TREND_WORDS, UNIT_WORDS,
};

/// What a question asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// A value now ("what is the spindle speed?").
    CurrentValue,
    /// Change over time ("is it rising?").
    Trend,
    /// Alarms, limits, diagnosis ("any alarms?", "too hot?").
    Alarm,
    /// How to do something ("how do I reset the spindle?").
    Procedure,
    /// Nothing about the plant ("write me a poem").
    OutOfScope,
}

impl Class {
    /// The name used in configuration and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::CurrentValue => "current_value",
            Class::Trend => "trend",
            Class::Alarm => "alarm",
            Class::Procedure => "procedure",
            Class::OutOfScope => "out_of_scope",
        }
    }
}

/// Classifies questions; `site_words` are the site's own plant words
/// (`ROUTER_PLANT_WORDS`), e.g. machine names.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    site_words: Vec<String>,
}

/// Bound on learned words: tag names come from outside.
const MAX_SITE_WORDS: usize = 10_000;

/// Phrases anywhere in a question that ask what to do.
const PROCEDURE_PHRASES: &[&str] = &[
    "what now",
    "what should i do",
    "what do i do",
    "should i ",
    "do i have to ",
    "do i need to ",
    "how long do i ",
    "who do i call",
    "who should i call",
    "was muss ich tun",
    "was soll ich tun",
    "was mache ich",
];

/// Opening phrases that ask for a procedure.
const PROCEDURE_OPENINGS: &[&str] = &[
    "how do i ",
    "how to ",
    "how should i ",
    "how can i ",
    "what should i do",
    "what do i do",
    "what are the steps",
    "what do i have to",
    "what do i need to",
    "wie kann ich ",
    "wie mache ich ",
    "wie muss ich ",
    "wie behebe ",
    "wie beseitige ",
    "was mache ich",
    "was muss ich",
    "was soll ich",
    "que hago",
    "qué hago",
    "como puedo ",
    "cómo puedo ",
    "que dois-je faire",
    "comment faire ",
];

impl Classifier {
    /// A classifier that also knows `site_words`.
    pub fn new(site_words: Vec<String>) -> Self {
        Self { site_words }
    }

    /// The site words known so far (configured and learned).
    pub fn site_words(&self) -> &[String] {
        &self.site_words
    }

    /// Learns the words of a tag name (`package_count` -> package, count), so
    /// that questions about this site's own tags are plant questions.
    pub fn learn_tag(&mut self, tag: &str) {
        for word in tag.split(['_', '.', '-', ' ', '/']).filter(|w| w.len() > 1).map(str::to_lowercase) {
            // A numbered unit's name alone too: "brutus 1" asks about `Brutus1`.
            let name = word.trim_end_matches(|c: char| c.is_ascii_digit());
            let unit_name = (name.len() != word.len() && name.chars().count() > 2).then(|| name.to_owned());
            for word in std::iter::once(word.clone()).chain(unit_name) {
                self.learn_word(word);
            }
        }
        // `Shaft2.ConeCrusher2.CSS`: "crusher" is a word of this plant too.
        let parts = shopfloor_vocabulary::text::identifier_segments(tag).into_iter().flatten();
        for part in parts.filter(|p| p.chars().count() > 2 && p.chars().all(char::is_alphabetic)) {
            self.learn_word(part);
        }
    }

    fn learn_word(&mut self, word: String) {
        if !self.site_words.contains(&word) && self.site_words.len() < MAX_SITE_WORDS {
            self.site_words.push(word);
        }
    }

    /// Whether any word of `question` is a plant word.
    pub fn is_about_plant(&self, question: &str) -> bool {
        let words = raw_words(question);
        words.iter().any(|w| self.is_plant_word(w)) || asks_about_a_unit(&words)
    }

    /// The class of `question`.
    pub fn classify(&self, question: &str) -> Class {
        let words = raw_words(question);
        let about_plant = words.iter().any(|w| self.is_plant_word(w)) || asks_about_a_unit(&words);
        if !about_plant {
            return Class::OutOfScope;
        }
        let lower = question.trim().to_lowercase();
        let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
        // "The spindle is overheating, what do I do?": the asking part may come last.
        let asks_how = PROCEDURE_OPENINGS.iter().any(|p| lower.starts_with(p) || lower.contains(&format!(", {p}")))
            || PROCEDURE_PHRASES.iter().any(|p| lower.contains(p));
        if asks_how || has(PROCEDURE_WORDS) {
            Class::Procedure
        } else if has(ALARM_WORDS) || has(LIMIT_WORDS) {
            Class::Alarm
        } else if has(TREND_WORDS) {
            Class::Trend
        } else {
            Class::CurrentValue
        }
    }

    fn is_plant_word(&self, word: &str) -> bool {
        // "packages" asks about the tag word "package".
        let singular = word.strip_suffix('s').filter(|w| w.len() > 2);
        self.is_plant_word_as_written(word) || singular.is_some_and(|w| self.is_plant_word_as_written(w))
    }

    fn is_plant_word_as_written(&self, word: &str) -> bool {
        let canonical = canonical(word);
        PLANT_NOUNS.contains(&canonical.as_str())
            || SYNONYMS.iter().any(|(said, _)| *said == word)
            || GENERAL_PLANT_WORDS.contains(&word)
            || ALARM_WORDS.contains(&word)
            || UNIT_WORDS.iter().any(|(said, _)| *said == word)
            || self.site_words.iter().any(|w| w == word)
            // What plants measure and have, in English, German, Spanish or French.
            || shopfloor_vocabulary::tag_match::is_plant_word(word)
            // Tag-like tokens (`oven_temp`, `cell7.pressure`) are plant words.
            || word.contains('_')
    }
}

/// Openings that ask for a value, as `raw_words` splits them ("what's" is
/// "what", "s"; "¿Cuál es" is "cuál", "es").
const VALUE_OPENINGS: &[&[&str]] = &[
    &["what", "is"],
    &["what", "s"],
    &["what", "are"],
    &["how", "is"],
    &["how", "s"],
    &["how", "many"],
    &["how", "much"],
    &["how", "high"],
    &["wie", "hoch"],
    &["wie", "viel"],
    &["wie", "viele"],
    &["wie", "ist"],
    &["was", "ist"],
    &["cuál"],
    &["cual"],
    &["cuánto"],
    &["cuanto"],
    &["cuánta"],
    &["cuántos"],
    &["cuántas"],
    &["qué"],
    &["quelle"],
    &["quel"],
    &["quels"],
    &["quelles"],
    &["combien"],
];

/// Whether `pair` is a numbered unit: a name of letters and its number
/// (`crusher 2`, `drawframe 2`, `carda 2`).
fn is_numbered_unit(pair: &[String]) -> bool {
    pair[0].chars().count() > 1
        && pair[0].chars().all(char::is_alphabetic)
        && !pair[1].is_empty()
        && pair[1].chars().all(|c| c.is_ascii_digit())
}

/// "current" is too common a word to make a question about the plant on
/// its own ("the current price of gold"), but next to a numbered unit
/// ("current of bandsaw 2", "stand 1 current?") it is the electric current,
/// whatever the unit is called. So is a limit or trend asked of a numbered
/// unit ("Is the gap of crusher 2 rising or falling?"), and a value asked of
/// one ("What is the evenness of drawframe 2?", "¿Cuál es la irregularidad de
/// carda 2?", "ringframe 1 end breaks?"), though neither word is in the
/// vocabulary: the assistant's tier then answers from the plant's tags, or
/// says it has none.
fn asks_about_a_unit(words: &[String]) -> bool {
    if !words.windows(2).any(is_numbered_unit) {
        return false;
    }
    let asks = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    let asks_a_value = VALUE_OPENINGS
        .iter()
        .any(|opening| words.len() > opening.len() && words.iter().zip(opening.iter()).all(|(w, o)| w == o))
        || words.get(..2).is_some_and(is_numbered_unit);
    words.iter().any(|w| w == "current") || asks(TREND_WORDS) || asks(LIMIT_WORDS) || asks_a_value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plant_questions_get_their_class() {
        let c = Classifier::default();
        assert_eq!(c.classify("What is the spindle temperature?"), Class::CurrentValue);
        assert_eq!(c.classify("How hot is oven 3?"), Class::CurrentValue);
        assert_eq!(c.classify("How full is the hopper?"), Class::CurrentValue);
        assert_eq!(c.classify("Is the spindle temperature rising?"), Class::Trend);
        assert_eq!(c.classify("Any active alarms?"), Class::Alarm);
        assert_eq!(c.classify("Is the spindle too hot?"), Class::Alarm);
        assert_eq!(c.classify("How do I reset the spindle drive?"), Class::Procedure);
        assert_eq!(c.classify("What are the steps to replace the coolant filter?"), Class::Procedure);
        assert_eq!(c.classify("The spindle is overheating, what do I do?"), Class::Procedure);
        assert_eq!(c.classify("Was mache ich, wenn die Spindel überhitzt?"), Class::Procedure);
        assert_eq!(c.classify("What do I do about the spindle temperature?"), Class::Procedure);
        assert_eq!(c.classify("spindle overheating, what now?"), Class::Procedure);
        assert_eq!(c.classify("The spindle alarm went off. Should I check the coolant first?"), Class::Procedure);
        assert_eq!(c.classify("How long do I warm up the spindle?"), Class::Procedure);
    }

    #[test]
    fn questions_without_a_plant_word_are_out_of_scope() {
        let c = Classifier::default();
        for q in [
            "Who won the football match yesterday?",
            "Write me a poem about cats.",
            "What is the capital of France?",
            "",
            "???",
        ] {
            assert_eq!(c.classify(q), Class::OutOfScope, "{q}");
        }
    }

    #[test]
    fn questions_in_german_spanish_and_french_are_about_the_plant() {
        let c = Classifier::default();
        for q in
            ["Wie hoch ist der Kesseldruck?", "¿Cuál es la temperatura del horno 2?", "Quel est le débit de la pompe ?"]
        {
            assert!(c.is_about_plant(q), "{q}");
        }
        assert!(!c.is_about_plant("Wer hat gestern das Fußballspiel gewonnen?"));
    }

    #[test]
    fn a_limit_or_trend_of_a_numbered_unit_is_about_the_plant() {
        let c = Classifier::default();
        assert_eq!(c.classify("Is the gap of crusher 2 rising or falling?"), Class::Trend);
        assert_eq!(c.classify("Is the redox of basin 3 above its limit?"), Class::Alarm);
        assert_eq!(c.classify("Is the price of gold rising?"), Class::OutOfScope);
    }

    #[test]
    fn a_value_asked_of_a_numbered_unit_is_about_the_plant() {
        let c = Classifier::default();
        // Neither the measure nor the unit is a word the vocabulary knows.
        for q in [
            "What is the evenness of drawframe 2?",
            "what's the flimmer of zwirner 3",
            "How many bobbins has doffer 2 made?",
            "Wie hoch ist die Flimmerzahl von Zwirnmaschine 2?",
            "¿Cuál es la irregularidad de carda 2?",
            "Quelle est la alcali résiduel de lessiveur 2 ?",
            "ringframe 1 end breaks?",
        ] {
            assert_eq!(c.classify(q), Class::CurrentValue, "{q}");
        }
        // No numbered unit, or no value asked of it: still off-topic.
        for q in ["What is the capital of France?", "Who won game 3?", "Write a poem about chapter 2."] {
            assert_eq!(c.classify(q), Class::OutOfScope, "{q}");
        }
    }

    #[test]
    fn the_words_of_a_camel_case_tag_are_the_plants_words() {
        let mut c = Classifier::default();
        assert_eq!(c.classify("How is the polisher buffing?"), Class::OutOfScope);
        c.learn_tag("Line4.WidgetPolisher3.Buffing");
        assert_eq!(c.classify("How is the polisher buffing?"), Class::CurrentValue);
        assert!(c.is_about_plant("What does the widget polisher say?"));
    }

    #[test]
    fn current_next_to_a_numbered_unit_is_the_electric_current() {
        let c = Classifier::default();
        assert_eq!(c.classify("What is the current of bandsaw 1?"), Class::CurrentValue);
        assert_eq!(c.classify("bandsaw 2 current?"), Class::CurrentValue);
        assert_eq!(c.classify("What is the current price of gold?"), Class::OutOfScope);
        // The cost: any numbered thing beside "current" counts as the plant's;
        // the tier then says the plant has no such tag.
        assert_eq!(c.classify("What is the current score in game 3?"), Class::CurrentValue);
    }

    #[test]
    fn a_numbered_unit_in_a_tag_teaches_its_name() {
        let mut c = Classifier::default();
        assert_eq!(c.classify("Is brutus 1 ready?"), Class::OutOfScope);
        c.learn_tag("Yard.Brutus1.Mode");
        assert_eq!(c.classify("Is brutus 1 ready?"), Class::CurrentValue);
        // Codes of two letters stay codes: `P1` teaches no word "p".
        c.learn_tag("P1_Flw");
        assert!(!c.site_words().contains(&"p".to_owned()));
    }

    #[test]
    fn site_words_make_a_question_about_the_plant() {
        assert_eq!(Classifier::default().classify("Is Brutus ready?"), Class::OutOfScope);
        assert_eq!(Classifier::new(vec!["brutus".into()]).classify("Is Brutus ready?"), Class::CurrentValue);
    }

    #[test]
    fn learned_tag_words_count_singular_or_plural() {
        let mut c = Classifier::default();
        assert_eq!(c.classify("What's the current number of widgets?"), Class::OutOfScope);
        c.learn_tag("widget_count");
        assert_eq!(c.classify("What's the current number of widgets?"), Class::CurrentValue);
        assert_eq!(c.classify("How many widgets are there?"), Class::CurrentValue);
    }
}
