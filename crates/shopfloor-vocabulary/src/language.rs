//! Which of the supported languages a question is written in, so that the
//! answer can be written in it too. Function words decide (articles,
//! question words, common verbs): plant words are shared across languages
//! (`Motor`, `Tank`, `pH`) and say little.

use crate::text::{fold, words};

/// A language answers can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Language {
    #[default]
    English,
    German,
    Spanish,
    French,
}

impl Language {
    /// ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::German => "de",
            Language::Spanish => "es",
            Language::French => "fr",
        }
    }

    /// The language's name in English, for a model's instructions.
    pub fn english_name(self) -> &'static str {
        match self {
            Language::English => "English",
            Language::German => "German",
            Language::Spanish => "Spanish",
            Language::French => "French",
        }
    }
}

/// Whether folded `word` is a function word of a supported language
/// ("viele", "ahora"): part of how a question is asked, never what it is
/// about.
pub fn is_function_word(word: &str) -> bool {
    FUNCTION_WORDS.iter().any(|(_, words)| words.contains(&word))
}

/// Folded function words of each language. Words two languages share
/// (`es`, `la`, `de`) count for both.
const FUNCTION_WORDS: &[(Language, &[&str])] = &[
    (
        Language::English,
        &[
            "the", "what", "whats", "is", "are", "how", "of", "on", "in", "any", "does", "do", "which", "right", "now",
            "current", "tell", "me", "show", "please", "there", "it", "its", "many", "much", "running", "above",
            // Commands ("set the speed to 500"), which the router refuses in the asker's language.
            "set", "turn", "switch", "write", "to", "you", "off", "could",
        ],
    ),
    (
        Language::German,
        &[
            "der", "die", "das", "den", "dem", "des", "wie", "was", "ist", "sind", "hoch", "viele", "viel", "welche",
            "welcher", "gibt", "von", "im", "am", "beim", "zur", "zum", "aktuell", "aktuelle", "gerade", "jetzt",
            "lauft", "bitte", "uber", "unter", "hat", "haben", "gezahlt", "zeig", "zeige", "noch", "ein", "eine",
            "setze", "schalte", "stelle", "kannst", "du", "auf", "aus",
        ],
    ),
    (
        Language::Spanish,
        &[
            "el", "la", "los", "las", "del", "de", "que", "cual", "cuales", "cuanto", "cuantos", "cuanta", "esta",
            "es", "hay", "en", "actual", "ahora", "por", "favor", "funciona", "tiene", "una", "un", "son", "pon",
            "apaga", "enciende", "al",
        ],
    ),
    (
        Language::French,
        &[
            "le",
            "la",
            "les",
            "du",
            "des",
            "de",
            "quel",
            "quelle",
            "quels",
            "quelles",
            "est",
            "combien",
            "y",
            "a",
            "il",
            "en",
            "actuel",
            "actuelle",
            "maintenant",
            "fonctionne",
            "une",
            "un",
            "sont",
            "au",
            "aux",
            "mets",
            "arrete",
            "eteins",
            "allume",
            "vous",
            "plait",
        ],
    ),
];

/// The language of `text`; English when nothing points elsewhere.
pub fn detect(text: &str) -> Language {
    let words = words(text);
    let mut best = (Language::English, 0usize);
    for (language, list) in FUNCTION_WORDS {
        let score = words.iter().filter(|w| list.contains(&w.as_str())).count();
        if score > best.1 {
            best = (*language, score);
        }
    }
    // Spanish and French share articles; their question marks tell them apart.
    if matches!(best.0, Language::Spanish | Language::French) {
        let folded = fold(text);
        if folded.contains('¿') {
            return Language::Spanish;
        }
        if folded.contains(" ?") {
            return Language::French;
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_questions_are_told_apart() {
        assert_eq!(detect("What is the temperature of pump 1?"), Language::English);
        assert_eq!(detect("pump 1 temp?"), Language::English);
        assert_eq!(detect("Wie hoch ist die Drehzahl von Förderband 2?"), Language::German);
        assert_eq!(detect("Wie viele Teile hat Füller 1 gezählt?"), Language::German);
        assert_eq!(detect("¿Cuál es la temperatura de la caldera 1?"), Language::Spanish);
        assert_eq!(detect("Quelle est la vitesse de la pompe 3 ?"), Language::French);
        assert_eq!(detect("Combien de pièces sur la ligne 2"), Language::French);
        assert_eq!(detect("Tanque 1 nivel es 40 %."), Language::Spanish, "an answer's own words");
    }
}
