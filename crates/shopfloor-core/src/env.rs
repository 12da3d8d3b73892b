//! The env reader: a node's settings, read out of environment variables
//! (dora passes a node's `env:` block that way), every problem collected.
//!
//! A node's `config.rs` reads its variables with an [`EnvReader`] and
//! validates them into its own struct; the reader remembers every problem,
//! so one start reports all of them, each naming the variable, the value and
//! what was expected. A variable that carries the node's prefix but that the
//! node does not know (`SLM_MAX_TOKEN`) is an error when the dataflow set it,
//! and a warning when it only came from the shell that launched dora (a
//! stray export must not stop a node).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use crate::secrets::Secret;

/// The environment a node sees, and which variables of it the dataflow set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvVars {
    values: BTreeMap<String, String>,
    /// The names the dataflow's `env:` set; `None` where that is not known
    /// (tests, tools reading a dataflow file): every variable then counts as
    /// set by the dataflow.
    from_dataflow: Option<BTreeSet<String>>,
}

impl EnvVars {
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks which of the variables the dataflow set; the others came from
    /// the launching shell.
    pub fn with_dataflow_names(mut self, names: BTreeSet<String>) -> Self {
        self.from_dataflow = Some(names);
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.values.insert(key.into(), value.into());
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether the dataflow set `key` (true when that is not known).
    pub fn set_by_dataflow(&self, key: &str) -> bool {
        self.from_dataflow.as_ref().is_none_or(|names| names.contains(key))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EnvVars {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        Self { values: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(), from_dataflow: None }
    }
}

impl<K: Into<String>, V: Into<String>, const N: usize> From<[(K, V); N]> for EnvVars {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl IntoIterator for EnvVars {
    type Item = (String, String);
    type IntoIter = std::collections::btree_map::IntoIter<String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.values.into_iter()
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for EnvVars {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, pairs: I) {
        self.values.extend(pairs.into_iter().map(|(k, v)| (k.into(), v.into())));
    }
}

/// One bad or missing setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProblem {
    /// A required variable is absent or empty.
    Missing {
        field: String,
        /// What it must hold.
        requirement: String,
    },
    /// A variable holds an unusable value.
    Invalid {
        field: String,
        value: String,
        /// What it must hold.
        requirement: String,
    },
    /// A variable with the node's prefix that the node does not know.
    Unknown {
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
            ConfigProblem::Invalid { field, value, requirement } => {
                write!(f, "`{field}` has invalid value {value:?} (must be {requirement})")
            }
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
        Self { owner, vars, known: Vec::new(), problems: Vec::new() }
    }

    fn raw(&mut self, key: &'static str) -> Option<&'a str> {
        self.known.push(key);
        self.vars.get(key).map(str::trim).filter(|v| !v.is_empty())
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
            self.problems.push(ConfigProblem::Missing { field: key.to_owned(), requirement: requirement.to_owned() });
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

    /// An optional folder that must exist when set.
    pub fn existing_dir(&mut self, key: &'static str) -> Option<std::path::PathBuf> {
        let text = self.optional_string(key)?;
        let dir = std::path::PathBuf::from(&text);
        if !dir.is_dir() {
            self.invalid(key, &text, "an existing folder (relative paths start at the dataflow's folder)");
        }
        Some(dir)
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

    /// A required path that must name an existing file.
    pub fn required_file(&mut self, key: &'static str, requirement: &str) -> PathBuf {
        let Some(text) = self.required_string(key, requirement) else {
            return PathBuf::new();
        };
        let path = PathBuf::from(&text);
        if !path.is_file() {
            let why = format!("{requirement}; no such file (relative paths start at the dataflow's folder)");
            self.invalid(key, &text, &why);
        }
        path
    }

    /// A required folder that must exist.
    pub fn required_dir(&mut self, key: &'static str, requirement: &str) -> PathBuf {
        let Some(text) = self.required_string(key, requirement) else {
            return PathBuf::new();
        };
        let dir = PathBuf::from(&text);
        if !dir.is_dir() {
            self.invalid(key, &text, "an existing folder (relative paths start at the dataflow's folder)");
        }
        dir
    }

    /// An optional parsed value; a bad one is recorded and read as absent.
    pub fn optional_parsed<T: FromStr>(
        &mut self,
        key: &'static str,
        requirement: &str,
        valid: impl Fn(&T) -> bool,
    ) -> Option<T> {
        let text = self.optional_string(key)?;
        match text.parse::<T>() {
            Ok(value) if valid(&value) => Some(value),
            _ => {
                self.invalid(key, &text, requirement);
                None
            }
        }
    }

    /// A name that becomes one MQTT topic level (a station, a line): no
    /// `/`, `+`, `#` or spaces.
    pub fn topic_level(&mut self, key: &'static str, default: &str) -> String {
        let value = self.string_or(key, default);
        self.check_topic_level(key, &value);
        value
    }

    /// Records `value` of `key` as invalid unless it is one topic level.
    pub fn check_topic_level(&mut self, key: &'static str, value: &str) {
        if value.chars().any(|c| matches!(c, '/' | '+' | '#') || c.is_whitespace()) {
            self.invalid(key, value, "one topic level: no '/', '+', '#' or spaces");
        }
    }

    /// Ends reading. A variable that starts with one of `prefixes` but was
    /// not read is a problem when the dataflow set it, and a logged warning
    /// when it came from the launching shell. Returns every problem found.
    pub fn finish(mut self, prefixes: &[&str]) -> Result<(), ConfigError> {
        for key in self.vars.keys() {
            let owned = prefixes.iter().any(|p| key.starts_with(p));
            if !owned || self.known.contains(&key) {
                continue;
            }
            if self.vars.set_by_dataflow(key) {
                self.problems.push(ConfigProblem::Unknown { field: key.to_owned(), known: self.known.clone() });
            } else {
                tracing::warn!(
                    owner = self.owner,
                    variable = key,
                    "ignoring a variable of the launching shell that no setting of this node has"
                );
            }
        }
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { owner: self.owner.to_owned(), problems: self.problems })
        }
    }
}

/// The current process environment as [`EnvVars`] (non-UTF-8 entries skipped).
pub fn process_env() -> EnvVars {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

/// A settings line and the description after its ` #` (tag lines of
/// `OPCUA_TAGS`, `TELEMETRY_SUBSCRIPTIONS` lines): what the line's tags are,
/// in words, or `None` without a comment or with an empty one.
pub fn split_description(line: &str) -> (&str, Option<String>) {
    match line.split_once(" #").or_else(|| line.split_once("\t#")) {
        Some((settings, comment)) => (settings, Some(comment.trim()).filter(|c| !c.is_empty()).map(str::to_owned)),
        None => (line, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> EnvVars {
        pairs.iter().copied().collect()
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
    fn an_optional_folder_must_exist_when_set() {
        let here = env!("CARGO_MANIFEST_DIR");
        let env = vars(&[("X_DOCS", here), ("X_GONE", "/no/such/folder")]);
        let mut reader = EnvReader::new("node x", &env);
        assert_eq!(reader.existing_dir("X_DOCS"), Some(PathBuf::from(here)));
        assert_eq!(reader.existing_dir("X_UNSET"), None);
        let _ = reader.existing_dir("X_GONE");
        let err = reader.finish(&["X_"]).unwrap_err();
        assert!(err.names_field("X_GONE") && !err.names_field("X_DOCS"), "{err}");
    }

    #[test]
    fn a_line_comment_is_its_description() {
        assert_eq!(split_description("t ns=2;s=T °C # Jacket temp"), ("t ns=2;s=T °C", Some("Jacket temp".into())));
        assert_eq!(split_description("t ns=2;s=T\t#"), ("t ns=2;s=T", None));
        assert_eq!(split_description("t ns=2;s=T#1"), ("t ns=2;s=T#1", None), "a # inside a word is no comment");
    }

    #[test]
    fn an_empty_value_counts_as_absent() {
        let env = vars(&[("X_NAME", "  ")]);
        let mut reader = EnvReader::new("node x", &env);
        assert_eq!(reader.string_or("X_NAME", "fallback"), "fallback");
        assert!(reader.finish(&["X_"]).is_ok());
    }

    #[test]
    fn an_unknown_name_from_the_dataflow_is_an_error_and_one_from_the_shell_is_not() {
        let env = vars(&[("ALERTS_RETAIN_LAST", "true"), ("ALERTS_OUT", "x")]);
        let from_shell = env.clone().with_dataflow_names(["ALERTS_RETAIN_LAST".to_owned()].into());
        let mut reader = EnvReader::new("mqtt-sink", &from_shell);
        let _ = reader.optional_string("ALERTS_RETAIN_LAST");
        assert!(reader.finish(&["ALERTS_"]).is_ok());

        let from_dataflow = env.with_dataflow_names(["ALERTS_RETAIN_LAST".to_owned(), "ALERTS_OUT".to_owned()].into());
        let mut reader = EnvReader::new("mqtt-sink", &from_dataflow);
        let _ = reader.optional_string("ALERTS_RETAIN_LAST");
        assert!(reader.finish(&["ALERTS_"]).unwrap_err().names_field("ALERTS_OUT"));
    }

    #[test]
    fn a_topic_level_with_a_slash_is_refused() {
        let env = vars(&[("X_STATION", "line/1")]);
        let mut reader = EnvReader::new("node x", &env);
        assert_eq!(reader.topic_level("X_STATION", "station1"), "line/1");
        assert!(reader.finish(&["X_"]).unwrap_err().names_field("X_STATION"));
    }
}
