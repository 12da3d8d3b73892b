//! Reading typed values out of environment variables, collecting every problem.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The environment a node sees, as a map (so tests can pass their own).
pub type EnvVars = BTreeMap<String, String>;

/// One bad or missing setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProblem {
    /// A required variable is absent or empty.
    Missing {
        /// Variable name.
        field: String,
        /// What it must hold.
        requirement: String,
    },
    /// A variable holds an unusable value.
    Invalid {
        /// Variable name.
        field: String,
        /// The value found.
        value: String,
        /// What it must hold.
        requirement: String,
    },
    /// A variable with the node's prefix that the node does not know.
    Unknown {
        /// Variable name.
        field: String,
        /// The variables the node does know.
        known: Vec<&'static str>,
    },
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigProblem::Missing { field, requirement } => {
                write!(f, "`{field}` is not set (must be {requirement})")
            }
            ConfigProblem::Invalid {
                field,
                value,
                requirement,
            } => write!(f, "`{field}` has invalid value {value:?} (must be {requirement})"),
            ConfigProblem::Unknown { field, known } => {
                write!(f, "`{field}` is not a known setting (known: {})", known.join(", "))
            }
        }
    }
}

/// All problems found in one node's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The node (or component) whose configuration is wrong.
    pub owner: String,
    /// Every problem found, in the order the settings were read.
    pub problems: Vec<ConfigProblem>,
}

impl ConfigError {
    /// Whether any problem concerns `field`.
    pub fn names_field(&self, field: &str) -> bool {
        self.problems.iter().any(|p| match p {
            ConfigProblem::Missing { field: f, .. }
            | ConfigProblem::Invalid { field: f, .. }
            | ConfigProblem::Unknown { field: f, .. } => f == field,
        })
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} has invalid configuration: ", self.owner)?;
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Reads settings for one owner and remembers every problem it meets.
pub struct EnvReader<'a> {
    owner: &'a str,
    vars: &'a EnvVars,
    known: Vec<&'static str>,
    problems: Vec<ConfigProblem>,
}

impl<'a> EnvReader<'a> {
    /// A reader for `owner` (used in error messages) over `vars`.
    pub fn new(owner: &'a str, vars: &'a EnvVars) -> Self {
        Self {
            owner,
            vars,
            known: Vec::new(),
            problems: Vec::new(),
        }
    }

    fn raw(&mut self, key: &'static str) -> Option<&'a str> {
        self.known.push(key);
        self.vars
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// An optional string; empty counts as absent.
    pub fn optional_string(&mut self, key: &'static str) -> Option<String> {
        self.raw(key).map(str::to_owned)
    }

    /// A string with a default.
    pub fn string_or(&mut self, key: &'static str, default: &str) -> String {
        self.optional_string(key).unwrap_or_else(|| default.to_owned())
    }

    /// A required string.
    pub fn required_string(&mut self, key: &'static str, requirement: &str) -> Option<String> {
        let value = self.optional_string(key);
        if value.is_none() {
            self.problems.push(ConfigProblem::Missing {
                field: key.to_owned(),
                requirement: requirement.to_owned(),
            });
        }
        value
    }

    /// A parsed value with a default, checked by `valid`.
    pub fn parsed_or<T: FromStr>(
        &mut self,
        key: &'static str,
        default: T,
        requirement: &str,
        valid: impl Fn(&T) -> bool,
    ) -> T {
        match self.raw(key) {
            None => default,
            Some(text) => match text.parse::<T>() {
                Ok(value) if valid(&value) => value,
                _ => {
                    self.invalid(key, text, requirement);
                    default
                }
            },
        }
    }

    /// An optional path that must name an existing file (a PEM file, a
    /// password file); a missing file is recorded as a problem.
    pub fn existing_file(&mut self, key: &'static str) -> Option<std::path::PathBuf> {
        let text = self.optional_string(key)?;
        let path = std::path::PathBuf::from(&text);
        if !path.is_file() {
            self.invalid(key, &text, "the path of a readable file");
        }
        Some(path)
    }

    /// Two settings that only make sense together (a certificate and its
    /// key): both, or neither; one alone is recorded as a problem.
    pub fn both_or_neither<A, B>(&mut self, a: (&str, Option<A>), b: (&str, Option<B>)) -> Option<(A, B)> {
        match (a.1, b.1) {
            (Some(first), Some(second)) => Some((first, second)),
            (None, None) => None,
            (Some(_), None) => {
                self.invalid(b.0, "", &format!("set together with {}", a.0));
                None
            }
            (None, Some(_)) => {
                self.invalid(a.0, "", &format!("set together with {}", b.0));
                None
            }
        }
    }

    /// Records a value that parsed but is unusable.
    pub fn invalid(&mut self, key: &str, value: &str, requirement: &str) {
        self.problems.push(ConfigProblem::Invalid {
            field: key.to_owned(),
            value: value.to_owned(),
            requirement: requirement.to_owned(),
        });
    }

    /// Ends reading: flags unknown variables starting with any of `prefixes`,
    /// and returns every problem found.
    pub fn finish(mut self, prefixes: &[&str]) -> Result<(), ConfigError> {
        for key in self.vars.keys() {
            let owned = prefixes.iter().any(|p| key.starts_with(p));
            if owned && !self.known.contains(&key.as_str()) {
                self.problems.push(ConfigProblem::Unknown {
                    field: key.clone(),
                    known: self.known.clone(),
                });
            }
        }
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                owner: self.owner.to_owned(),
                problems: self.problems,
            })
        }
    }
}

/// The current process environment as [`EnvVars`] (non-UTF-8 entries skipped).
pub fn process_env() -> EnvVars {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> EnvVars {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let env = vars(&[("X_PORT", "seventy"), ("X_TYPO", "1")]);
        let mut reader = EnvReader::new("node x", &env);
        let _ = reader.required_string("X_NAME", "a name");
        let _ = reader.parsed_or("X_PORT", 1u16, "a port number", |_| true);
        let err = reader.finish(&["X_"]).unwrap_err();
        assert_eq!(err.problems.len(), 3, "{err}");
        assert!(err.names_field("X_NAME") && err.names_field("X_PORT") && err.names_field("X_TYPO"));
        assert!(err.to_string().contains("`X_PORT` has invalid value \"seventy\""), "{err}");
    }

    #[test]
    fn an_empty_value_counts_as_absent() {
        let env = vars(&[("X_NAME", "  ")]);
        let mut reader = EnvReader::new("node x", &env);
        assert_eq!(reader.string_or("X_NAME", "fallback"), "fallback");
        assert!(reader.finish(&["X_"]).is_ok());
    }
}
