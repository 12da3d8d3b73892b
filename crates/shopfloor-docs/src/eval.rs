//! The procedure questions of an evaluation set (JSON lines, see
//! `data/docs-eval/`) asked of a library: which got the right section, which
//! were rightly told that no document covers them, and how many quoted
//! steps the section does not support.

use std::path::{Path, PathBuf};

use crate::answer::{answer, AnswerRules};
use crate::library::{DocsError, Library};

/// One question and the section that answers it (`None`: no document
/// covers it).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct EvalQuestion {
    pub id: String,
    pub question: String,
    #[serde(default)]
    pub language: Option<String>,
    pub expect: Option<Expected>,
}

/// The section that answers a question.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Expected {
    /// The document's file name.
    pub document: String,
    /// The section's heading, exactly.
    pub section: String,
}

/// Why a question set cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read the question set {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("line {line} of {path} is not a question")]
    Line { path: PathBuf, line: usize, source: serde_json::Error },
    #[error(transparent)]
    Docs(#[from] DocsError),
}

/// Reads a JSON-lines question set.
pub fn read_questions(path: &Path) -> Result<Vec<EvalQuestion>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read { path: path.to_owned(), source })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|source| EvalError::Line {
                path: path.to_owned(),
                line: index + 1,
                source,
            })
        })
        .collect()
}

/// What one question got.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub id: String,
    pub question: String,
    /// `file § heading` expected, or `none`.
    pub expected: String,
    /// `file § heading` cited, or `none`.
    pub got: String,
    pub right: bool,
    pub unsupported_steps: usize,
}

/// The whole set's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalReport {
    /// Questions a document covers, and of them those answered from the right section.
    pub covered: usize,
    pub covered_right: usize,
    /// Questions no document covers, and of them those told so.
    pub uncovered: usize,
    pub uncovered_right: usize,
    /// Quoted steps, and of them those the section does not support.
    pub steps: usize,
    pub unsupported_steps: usize,
    pub outcomes: Vec<Outcome>,
}

impl EvalReport {
    /// Share of covered questions answered from the right section.
    pub fn right_section_share(&self) -> f64 {
        share(self.covered_right, self.covered)
    }

    /// The figures in words: right sections, "no procedure" where none
    /// covers, unsupported steps.
    pub fn summary(&self) -> String {
        format!(
            "right section {}/{} ({:.0} %); no procedure where none covers {}/{}; unsupported steps {} of {}",
            self.covered_right,
            self.covered,
            self.right_section_share() * 100.0,
            self.uncovered_right,
            self.uncovered,
            self.unsupported_steps,
            self.steps
        )
    }

    /// Share of uncovered questions told "no procedure found".
    pub fn no_procedure_share(&self) -> f64 {
        share(self.uncovered_right, self.uncovered)
    }
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// Asks every question of `questions` (no live values).
pub fn evaluate(library: &Library, questions: &[EvalQuestion], rules: &AnswerRules) -> Result<EvalReport, EvalError> {
    let mut report = EvalReport::default();
    for question in questions {
        let reply = answer(library, &question.question, &[], rules)?;
        let got = match &reply.cited {
            Some((document, heading)) => {
                let file = document.rsplit('/').next().unwrap_or(document);
                format!("{file} § {heading}")
            }
            None => "none".to_owned(),
        };
        let (expected, right) = match &question.expect {
            Some(expected) => {
                report.covered += 1;
                let wanted = format!("{} § {}", expected.document, expected.section);
                let right = got == wanted;
                report.covered_right += usize::from(right);
                (wanted, right)
            }
            None => {
                report.uncovered += 1;
                let right = !reply.found;
                report.uncovered_right += usize::from(right);
                ("none".to_owned(), right)
            }
        };
        report.steps += reply.steps.len();
        report.unsupported_steps += reply.unsupported_steps;
        report.outcomes.push(Outcome {
            id: question.id.clone(),
            question: question.question.clone(),
            expected,
            got,
            right,
            unsupported_steps: reply.unsupported_steps,
        });
    }
    Ok(report)
}
