//! Questions the node refuses before any work: empty, too long, or text that
//! was not valid UTF-8 when it arrived (decoded with replacement characters)
//! or carries control characters.

use shopfloor_vocabulary::language::Language;

/// Why a question is refused; the message (in English; [`QuestionProblem::text_in`]
/// for the asker's language) is what the operator reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuestionProblem {
    /// Nothing but whitespace.
    #[error("The question is empty.")]
    Empty,
    /// More characters than allowed.
    #[error("The question has {chars} characters; the limit is {limit}. Please ask a shorter question.")]
    TooLong {
        /// Characters in the question.
        chars: usize,
        limit: usize,
    },
    /// Not readable text.
    #[error("The question is not valid UTF-8 text (it contains {what}).")]
    NotText { what: Unreadable },
}

/// What makes a question unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    NotUtf8,
    ControlCharacters,
}

impl Unreadable {
    fn words(self, language: Language) -> &'static str {
        match (self, language) {
            (Unreadable::NotUtf8, Language::English) => "bytes that are not UTF-8",
            (Unreadable::NotUtf8, Language::German) => "Bytes, die kein UTF-8 sind",
            (Unreadable::NotUtf8, Language::Spanish) => "bytes que no son UTF-8",
            (Unreadable::NotUtf8, Language::French) => "des octets qui ne sont pas de l'UTF-8",
            (Unreadable::ControlCharacters, Language::English) => "control characters",
            (Unreadable::ControlCharacters, Language::German) => "Steuerzeichen",
            (Unreadable::ControlCharacters, Language::Spanish) => "caracteres de control",
            (Unreadable::ControlCharacters, Language::French) => "des caractères de contrôle",
        }
    }
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.words(Language::English))
    }
}

impl QuestionProblem {
    /// The message in `language`: a long or garbled question still shows
    /// which language its asker writes (an empty one cannot, so it is English).
    pub fn text_in(&self, language: Language) -> String {
        match (self, language) {
            (_, Language::English) | (QuestionProblem::Empty, _) => self.to_string(),
            (QuestionProblem::TooLong { chars, limit }, Language::German) => format!(
                "Die Frage hat {chars} Zeichen; erlaubt sind {limit}. Bitte stellen Sie eine kürzere Frage."
            ),
            (QuestionProblem::TooLong { chars, limit }, Language::Spanish) => format!(
                "La pregunta tiene {chars} caracteres; el límite es {limit}. Haga una pregunta más corta, por favor."
            ),
            (QuestionProblem::TooLong { chars, limit }, Language::French) => format!(
                "La question compte {chars} caractères ; la limite est de {limit}. Posez une question plus courte, s'il vous plaît."
            ),
            (QuestionProblem::NotText { what }, Language::German) => {
                format!("Die Frage ist kein gültiger UTF-8-Text (sie enthält {}).", what.words(language))
            }
            (QuestionProblem::NotText { what }, Language::Spanish) => {
                format!("La pregunta no es texto UTF-8 válido (contiene {}).", what.words(language))
            }
            (QuestionProblem::NotText { what }, Language::French) => {
                format!("La question n'est pas un texte UTF-8 valide (elle contient {}).", what.words(language))
            }
        }
    }
}

/// Checks `text` against the limits.
pub fn check(text: &str, max_chars: usize) -> Result<(), QuestionProblem> {
    if text.trim().is_empty() {
        return Err(QuestionProblem::Empty);
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(QuestionProblem::TooLong { chars, limit: max_chars });
    }
    if text.contains('\u{FFFD}') {
        return Err(QuestionProblem::NotText { what: Unreadable::NotUtf8 });
    }
    if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(QuestionProblem::NotText { what: Unreadable::ControlCharacters });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ordinary_question_passes() {
        assert_eq!(check("What is the spindle temperature?\n", 500), Ok(()));
        assert_eq!(check("Wie heiß ist die Spindel?", 500), Ok(()));
    }

    #[test]
    fn empty_and_blank_questions_are_refused() {
        assert_eq!(check("", 500), Err(QuestionProblem::Empty));
        assert_eq!(check(" \n\t", 500), Err(QuestionProblem::Empty));
    }

    #[test]
    fn the_length_limit_counts_characters_not_bytes() {
        assert_eq!(check(&"ä".repeat(500), 500), Ok(()));
        assert_eq!(check(&"a".repeat(501), 500), Err(QuestionProblem::TooLong { chars: 501, limit: 500 }));
    }

    #[test]
    fn the_refusal_is_written_in_the_askers_language_where_the_question_shows_it() {
        let long = QuestionProblem::TooLong { chars: 900, limit: 500 };
        assert!(long.text_in(Language::German).starts_with("Die Frage hat 900 Zeichen"));
        assert!(long.text_in(Language::French).contains("limite est de 500"));
        assert_eq!(QuestionProblem::Empty.text_in(Language::Spanish), "The question is empty.");
        let garbled = QuestionProblem::NotText { what: Unreadable::ControlCharacters };
        assert_eq!(
            garbled.text_in(Language::Spanish),
            "La pregunta no es texto UTF-8 válido (contiene caracteres de control)."
        );
        assert!(garbled.to_string().ends_with("(it contains control characters)."));
    }

    #[test]
    fn undecodable_bytes_and_control_characters_are_refused() {
        let lossy = String::from_utf8_lossy(b"temp \xff\xfe?").into_owned();
        assert!(matches!(check(&lossy, 500), Err(QuestionProblem::NotText { .. })));
        assert!(matches!(check("temp\u{0}?", 500), Err(QuestionProblem::NotText { .. })));
    }
}
