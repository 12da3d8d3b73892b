//! What the vision-language model must answer, and how its answer is read.
//!
//! The answer is JSON `{defect, type, location, severity, description}`,
//! forced by a GBNF grammar whose every part is bounded (closed word lists,
//! a description of at most 80 characters, at most one space between
//! tokens), so even a model that rambles ends within the token budget
//! with JSON that parses.

use serde::Deserialize;
use shopfloor_core::schema::Severity;

/// Defect types the model chooses from (`none` when it sees none).
pub const DEFECT_TYPES: [&str; 6] = ["none", "scratch", "dent", "missing_part", "contamination", "other"];

/// Where on the part, as a 3x3 grid (or `none`).
pub const LOCATIONS: [&str; 10] =
    ["top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right", "none"];

/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 80;

/// The GBNF grammar of a verdict (root rule `root`).
pub fn grammar() -> String {
    let choice = |words: &[&str]| words.iter().map(|w| format!("\"\\\"{w}\\\"\"")).collect::<Vec<_>>().join(" | ");
    format!(
        "root ::= \"{{\" sp \"\\\"defect\\\":\" sp boolean \",\" sp \"\\\"type\\\":\" sp type \",\" sp \
         \"\\\"location\\\":\" sp location \",\" sp \"\\\"severity\\\":\" sp severity \",\" sp \
         \"\\\"description\\\":\" sp description sp \"}}\"\n\
         boolean ::= \"true\" | \"false\"\n\
         type ::= {types}\n\
         location ::= {locations}\n\
         severity ::= \"\\\"info\\\"\" | \"\\\"warning\\\"\" | \"\\\"critical\\\"\"\n\
         description ::= \"\\\"\" [a-zA-Z0-9 ,.;:()'-]{{0,{MAX_DESCRIPTION_CHARS}}} \"\\\"\"\n\
         sp ::= \" \"?\n",
        types = choice(&DEFECT_TYPES),
        locations = choice(&LOCATIONS),
    )
}

/// The model's judgement of one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Whether the model sees a defect.
    pub defect: bool,
    /// One of [`DEFECT_TYPES`].
    pub kind: String,
    /// One of [`LOCATIONS`].
    pub location: String,
    /// How urgent.
    pub severity: Severity,
    /// In the model's words.
    pub description: String,
}

/// Why an answer is not a verdict.
#[derive(Debug, thiserror::Error)]
pub enum VerdictError {
    /// Not the JSON object the grammar describes (cut off by the token
    /// budget, for instance).
    #[error("the model's answer is not a verdict")]
    NotJson(#[source] serde_json::Error),
    /// A field outside its list.
    #[error("the model's answer has {field} = {value:?}, not one of the allowed values")]
    OutOfList { field: &'static str, value: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVerdict {
    defect: bool,
    #[serde(rename = "type")]
    kind: String,
    location: String,
    severity: String,
    description: String,
}

impl Verdict {
    /// Reads a model's answer.
    pub fn parse(text: &str) -> Result<Self, VerdictError> {
        let raw: RawVerdict = serde_json::from_str(text.trim()).map_err(VerdictError::NotJson)?;
        let listed = |field: &'static str, value: &str, list: &[&str]| {
            if list.contains(&value) {
                Ok(())
            } else {
                Err(VerdictError::OutOfList { field, value: value.to_owned() })
            }
        };
        listed("type", &raw.kind, &DEFECT_TYPES)?;
        listed("location", &raw.location, &LOCATIONS)?;
        let severity = Severity::parse(&raw.severity)
            .ok_or_else(|| VerdictError::OutOfList { field: "severity", value: raw.severity.clone() })?;
        Ok(Self {
            defect: raw.defect,
            kind: raw.kind,
            location: raw.location,
            severity,
            description: raw.description.chars().take(MAX_DESCRIPTION_CHARS).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_is_read_and_checked() {
        let verdict = Verdict::parse(
            r#"{"defect": true, "type": "scratch", "location": "top-left", "severity": "warning", "description": "Thin scratch."}"#,
        )
        .unwrap();
        assert!(verdict.defect);
        assert_eq!((verdict.kind.as_str(), verdict.severity), ("scratch", Severity::Warning));
        let err = Verdict::parse(
            r#"{"defect": true, "type": "crack", "location": "top", "severity": "info", "description": ""}"#,
        )
        .unwrap_err();
        assert!(matches!(err, VerdictError::OutOfList { field: "type", ref value } if value == "crack"), "{err}");
        assert!(matches!(Verdict::parse(r#"{"defect": true, "type": "sc"#), Err(VerdictError::NotJson(_))));
    }

    #[test]
    fn the_grammar_names_every_choice_and_bounds_the_text() {
        let grammar = grammar();
        for word in DEFECT_TYPES.iter().chain(&LOCATIONS) {
            assert!(grammar.contains(&format!("\\\"{word}\\\"")), "{word}");
        }
        assert!(grammar.contains("{0,80}"), "{grammar}");
        assert!(grammar.starts_with("root ::= \"{\""), "{grammar}");
    }
}
