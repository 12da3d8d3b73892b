//! Questions the node refuses before any work: empty, too long, or text that
//! was not valid UTF-8 when it arrived (decoded with replacement characters)
//! or carries control characters.

/// Why a question is refused; the message is what the operator reads.
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
    NotText { what: &'static str },
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
        return Err(QuestionProblem::NotText { what: "bytes that are not UTF-8" });
    }
    if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(QuestionProblem::NotText { what: "control characters" });
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
    fn undecodable_bytes_and_control_characters_are_refused() {
        let lossy = String::from_utf8_lossy(b"temp \xff\xfe?").into_owned();
        assert!(matches!(check(&lossy, 500), Err(QuestionProblem::NotText { .. })));
        assert!(matches!(check("temp\u{0}?", 500), Err(QuestionProblem::NotText { .. })));
    }
}
