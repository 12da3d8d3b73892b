//! Passwords in settings: read from the environment or a file, and never
//! shown.

use std::collections::BTreeMap;

use crate::env::EnvReader;

/// A secret (a password): shown as `<redacted>` by `Debug`, so it never
/// reaches a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl EnvReader<'_> {
    /// A password from the variable `inline_key`, or from the first line of the
    /// file named by `file_key` (so that it need not be written into the
    /// dataflow). Both set, or an unreadable file, is recorded as a problem.
    pub fn password(&mut self, inline_key: &'static str, file_key: &'static str) -> Option<Secret> {
        let env = self;
        // Never pass a password to `invalid`: errors are logged.
        let inline = env.optional_string(inline_key);
        let file = env.optional_string(file_key);
        match (inline, file) {
            (Some(_), Some(_)) => {
                env.invalid(file_key, "", &format!("not set together with {inline_key} (choose one)"));
                None
            }
            (Some(password), None) => Some(Secret(password)),
            (None, Some(path)) => match std::fs::read_to_string(&path) {
                Ok(text) => Some(Secret(text.lines().next().unwrap_or_default().to_owned())),
                Err(_) => {
                    env.invalid(file_key, &path, "a readable file whose first line is the password");
                    None
                }
            },
            (None, None) => None,
        }
    }

    /// The accounts of a `user:password` file named by `key` (blank lines and `#`
    /// comments skipped); an unreadable or malformed file is recorded as a
    /// problem that names the bad line by number, never by content.
    pub fn users_file(&mut self, key: &'static str) -> Option<BTreeMap<String, Secret>> {
        let env = self;
        let path = env.optional_string(key)?;
        match std::fs::read_to_string(&path) {
            Ok(text) => match parse_users(&text) {
                Ok(users) => Some(users),
                Err(line) => {
                    env.invalid(key, &path, &format!("lines `user:password`; line {line} is not"));
                    None
                }
            },
            Err(_) => {
                env.invalid(key, &path, "a readable file of `user:password` lines");
                None
            }
        }
    }
}

/// `user:password` lines; blank lines and `#` comments are skipped. On error,
/// the 1-based number of the first bad line.
fn parse_users(text: &str) -> Result<BTreeMap<String, Secret>, usize> {
    let mut users = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((user, password)) if !user.trim().is_empty() && !password.is_empty() => {
                users.insert(user.trim().to_owned(), Secret::new(password.to_owned()));
            }
            _ => return Err(index + 1),
        }
    }
    if users.is_empty() {
        return Err(1);
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_read_from_user_password_lines() {
        let users = parse_users("# gateway accounts\nnodes:s3cret:with:colons\n\nalice:pw\n").unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users["nodes"].expose(), "s3cret:with:colons");
        assert_eq!(parse_users("alice:pw\nbob\n").unwrap_err(), 2);
        assert_eq!(parse_users("# only a comment\n").unwrap_err(), 1);
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        assert_eq!(format!("{:?}", Secret::new("hunter2".into())), "<redacted>");
    }
}
