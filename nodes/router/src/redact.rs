//! Redaction of what leaves the site: the configured rules (plant names,
//! line ids, ...) and the asking operator's id, applied to every text sent.

use crate::config::RedactRule;
use regex::Regex;

/// Placeholder for the operator's id when a question mentions it.
pub const OPERATOR_PLACEHOLDER: &str = "[operator]";

/// Compiled redaction rules.
#[derive(Debug, Clone)]
pub struct Redactor {
    rules: Vec<(Regex, String)>,
}

/// A rule whose pattern does not compile (the config check compiles them
/// too, so this only reaches callers that skip it).
#[derive(Debug, thiserror::Error)]
#[error("redaction rule {pattern:?}: {source}")]
pub struct RedactError {
    pattern: String,
    source: regex::Error,
}

impl Redactor {
    /// Compiles `rules`.
    pub fn new(rules: &[RedactRule]) -> Result<Self, RedactError> {
        let rules = rules
            .iter()
            .map(|rule| {
                Regex::new(&rule.pattern)
                    .map(|re| (re, rule.replacement.clone()))
                    .map_err(|source| RedactError { pattern: rule.pattern.clone(), source })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { rules })
    }

    /// `text` with every rule applied and `operator` (when not empty) replaced.
    pub fn redact(&self, text: &str, operator: &str) -> String {
        let mut out = text.to_owned();
        if !operator.trim().is_empty() {
            out = out.replace(operator, OPERATOR_PLACEHOLDER);
        }
        for (pattern, replacement) in &self.rules {
            out = pattern.replace_all(&out, replacement.as_str()).into_owned();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pattern: &str, replacement: &str) -> RedactRule {
        RedactRule { pattern: pattern.into(), replacement: replacement.into() }
    }

    #[test]
    fn rules_and_the_operator_are_replaced_everywhere() {
        let r = Redactor::new(&[rule("(?i)plant1", "[site]"), rule(r"Cell\d+", "[cell]")]).unwrap();
        assert_eq!(
            r.redact("alice asks: is PLANT1 Cell1 hotter than plant1 Cell22?", "alice"),
            "[operator] asks: is [site] [cell] hotter than [site] [cell]?"
        );
        assert_eq!(r.redact("nothing to hide", ""), "nothing to hide");
    }

    #[test]
    fn a_bad_pattern_is_an_error_not_a_panic() {
        assert!(Redactor::new(&[rule("(", "x")]).is_err());
    }
}
