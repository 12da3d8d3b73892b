//! Console logins: a random session token in an `HttpOnly`, `SameSite=Strict`
//! cookie, and a second random token the page sends back in the
//! `X-CSRF-Token` header of every change (a page of another site can make
//! the browser send the cookie, never read the token). Plain state, time
//! passed in.

use std::collections::HashMap;

use subtle::ConstantTimeEq;

/// Sessions kept at most; a new login beyond it ends the oldest.
pub const MAX_SESSIONS: usize = 1_024;
/// Longest operator name, in characters.
pub const MAX_OPERATOR_CHARS: usize = 64;
/// The cookie's name.
pub const COOKIE: &str = "shopfloor_console";

/// One logged-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub operator: String,
    pub csrf: String,
    pub started_ms: i64,
    pub expires_ms: i64,
}

/// Every live session, by token.
#[derive(Debug)]
pub struct Sessions {
    by_token: HashMap<String, Session>,
    lifetime_ms: i64,
}

fn random_token() -> String {
    // Two v4 UUIDs: 244 random bits from the OS generator.
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// The operator name as kept, or why it is refused.
pub fn operator_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() {
        return Err("enter your name: acknowledgements are recorded with it");
    }
    if name.chars().count() > MAX_OPERATOR_CHARS || name.chars().any(char::is_control) {
        return Err("a name is at most 64 printable characters");
    }
    Ok(name.to_owned())
}

/// The session token in a `Cookie` header, if there is one.
pub fn token_in_cookies(cookie_header: &str) -> Option<&str> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

impl Sessions {
    /// Sessions that last `lifetime_ms` from login.
    pub fn new(lifetime_ms: i64) -> Self {
        Self { by_token: HashMap::new(), lifetime_ms }
    }

    /// A new session for `operator`: (token, session).
    pub fn start(&mut self, operator: String, now_ms: i64) -> (String, Session) {
        self.by_token.retain(|_, session| session.expires_ms > now_ms);
        if self.by_token.len() >= MAX_SESSIONS {
            let oldest = self.by_token.iter().min_by_key(|(_, s)| s.started_ms).map(|(token, _)| token.clone());
            if let Some(token) = oldest {
                self.by_token.remove(&token);
            }
        }
        let session =
            Session { operator, csrf: random_token(), started_ms: now_ms, expires_ms: now_ms + self.lifetime_ms };
        let token = random_token();
        self.by_token.insert(token.clone(), session.clone());
        (token, session)
    }

    /// The live session of `token`.
    pub fn get(&self, token: &str, now_ms: i64) -> Option<&Session> {
        self.by_token.get(token).filter(|session| session.expires_ms > now_ms)
    }

    /// The session of `token` if `csrf` is its token too (for changes).
    pub fn get_checked(&self, token: &str, csrf: &str, now_ms: i64) -> Option<&Session> {
        self.get(token, now_ms).filter(|session| bool::from(session.csrf.as_bytes().ct_eq(csrf.as_bytes())))
    }

    pub fn end(&mut self, token: &str) {
        self.by_token.remove(token);
    }

    pub fn len(&self) -> usize {
        self.by_token.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_needs_its_csrf_token_for_changes_and_expires() {
        let mut sessions = Sessions::new(1_000);
        let (token, session) = sessions.start("anna".into(), 0);
        assert_ne!(token, session.csrf);
        assert_eq!(sessions.get(&token, 999).map(|s| s.operator.as_str()), Some("anna"));
        assert!(sessions.get_checked(&token, &session.csrf, 10).is_some());
        assert!(sessions.get_checked(&token, "forged", 10).is_none());
        assert!(sessions.get_checked(&token, "", 10).is_none());
        assert!(sessions.get(&token, 1_000).is_none(), "expired");
        assert!(sessions.get("guessed", 10).is_none());
        sessions.end(&token);
        assert!(sessions.is_empty());
    }

    #[test]
    fn sessions_are_bounded_the_oldest_ends_first() {
        let mut sessions = Sessions::new(i64::MAX / 2);
        let (first, _) = sessions.start("a".into(), 0);
        for n in 1..=MAX_SESSIONS as i64 {
            sessions.start("b".into(), n);
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(sessions.get(&first, 5).is_none());
    }

    #[test]
    fn names_and_cookies_are_read_strictly() {
        assert_eq!(operator_name("  anna "), Ok("anna".to_owned()));
        assert!(operator_name(" ").is_err());
        assert!(operator_name("a\u{7}b").is_err());
        assert!(operator_name(&"x".repeat(65)).is_err());
        assert_eq!(token_in_cookies("theme=dark; shopfloor_console=abc123 ; x=y"), Some("abc123"));
        assert_eq!(token_in_cookies("shopfloor_console_old=abc"), None);
    }
}
