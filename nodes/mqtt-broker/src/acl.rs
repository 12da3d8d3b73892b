//! Per-topic access control of the embedded broker (`BROKER_ACL_FILE`), in
//! Mosquitto's `acl_file` format so that one file serves either broker:
//!
//! ```text
//! # lines before the first `user` apply to clients without a user name
//! topic read plant1/assembly/cell1/alerts/#
//! user sink
//! topic write plant1/assembly/cell1/assistant/answer/#
//! # `pattern` lines apply to every user; %u is the user name, %c the client id
//! pattern write plant1/assembly/cell1/assistant/query/%u
//! pattern read plant1/assembly/cell1/assistant/answer/%u
//! ```
//!
//! Access is `read` (subscribe), `write` (publish), `readwrite` (the
//! default) or `deny` (overrides every grant). Whatever no line grants is
//! refused. A subscription is granted when every topic its filter can match
//! is readable (Mosquitto also lets a wider filter through and then drops
//! what may not be read; this broker refuses the filter instead, so the
//! client learns at once).

use std::collections::BTreeMap;

/// What a client wants to do with a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Subscribe (and so receive).
    Read,
    /// Publish (including a will message).
    Write,
}

/// What one line allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Read,
    Write,
    ReadWrite,
    Deny,
}

impl Grant {
    fn allows(self, access: Access) -> bool {
        matches!((self, access), (Grant::ReadWrite, _) | (Grant::Read, Access::Read) | (Grant::Write, Access::Write))
    }
}

/// One `topic` or `pattern` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    grant: Grant,
    /// A topic filter; in `pattern` lines with `%u` / `%c` still in it.
    filter: String,
}

/// A parsed ACL file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    /// `topic` lines before the first `user` line.
    anonymous: Vec<Rule>,
    /// `topic` lines after `user <name>`.
    users: BTreeMap<String, Vec<Rule>>,
    /// `pattern` lines, for every client with a user name.
    patterns: Vec<Rule>,
}

/// A line of the ACL file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct AclLineError {
    /// 1-based.
    pub line: usize,
    pub why: String,
}

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    /// The CONNECT's user name, if any.
    pub user: Option<&'a str>,
    pub client_id: &'a str,
}

impl Acl {
    /// Parses the file's text; every bad line is reported.
    pub fn parse(text: &str) -> Result<Self, Vec<AclLineError>> {
        let mut acl = Acl::default();
        let mut errors = Vec::new();
        let mut current_user: Option<String> = None;
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut error = |why: String| errors.push(AclLineError { line: index + 1, why });
            let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            match keyword {
                "user" => {
                    if rest.is_empty() {
                        error("`user` needs a user name".into());
                    } else {
                        acl.users.entry(rest.to_owned()).or_default();
                        current_user = Some(rest.to_owned());
                    }
                }
                "topic" | "pattern" => match parse_rule(rest) {
                    Ok(rule) if keyword == "pattern" => acl.patterns.push(rule),
                    Ok(rule) => match &current_user {
                        Some(user) => acl.users.entry(user.clone()).or_default().push(rule),
                        None => acl.anonymous.push(rule),
                    },
                    Err(why) => error(why),
                },
                other => error(format!("unknown keyword {other:?} (expected user, topic or pattern)")),
            }
        }
        if errors.is_empty() {
            Ok(acl)
        } else {
            Err(errors)
        }
    }

    /// Whether `client` may publish to the topic `topic` ([`Access::Write`])
    /// or subscribe to the filter `topic` ([`Access::Read`]).
    pub fn permits(&self, client: Client<'_>, access: Access, topic: &str) -> bool {
        if !valid_filter(topic) || (access == Access::Write && topic.contains(['+', '#'])) {
            return false;
        }
        let rules: Vec<Rule> = self.rules_of(client).collect();
        let denied = rules.iter().any(|rule| rule.grant == Grant::Deny && overlaps(&rule.filter, topic));
        let granted = rules.iter().any(|rule| rule.grant.allows(access) && covers(&rule.filter, topic));
        granted && !denied
    }

    /// The rules that apply to `client`, patterns filled in.
    fn rules_of<'a>(&'a self, client: Client<'a>) -> impl Iterator<Item = Rule> + 'a {
        let own: &[Rule] = match client.user {
            None => &self.anonymous,
            Some(user) => self.users.get(user).map(Vec::as_slice).unwrap_or(&[]),
        };
        let patterns = client.user.into_iter().flat_map(move |user| {
            self.patterns.iter().filter_map(move |rule| {
                // A name that could widen the pattern (a wildcard or a level
                // separator in it) gets nothing from it.
                let plain = |text: &str| !text.is_empty() && !text.contains(['/', '+', '#']);
                let needs_user = rule.filter.contains("%u");
                let needs_id = rule.filter.contains("%c");
                if (needs_user && !plain(user)) || (needs_id && !plain(client.client_id)) {
                    return None;
                }
                let filter = rule.filter.replace("%u", user).replace("%c", client.client_id);
                Some(Rule { grant: rule.grant, filter })
            })
        });
        own.iter().cloned().chain(patterns)
    }
}

/// `[read|write|readwrite|deny] <filter>`.
fn parse_rule(rest: &str) -> Result<Rule, String> {
    let (grant, filter) = match rest.split_once(char::is_whitespace) {
        Some(("read", filter)) => (Grant::Read, filter),
        Some(("write", filter)) => (Grant::Write, filter),
        Some(("readwrite", filter)) => (Grant::ReadWrite, filter),
        Some(("deny", filter)) => (Grant::Deny, filter),
        _ => (Grant::ReadWrite, rest),
    };
    let filter = filter.trim();
    if filter.is_empty() {
        return Err("a topic filter is missing".into());
    }
    if !valid_filter(filter) {
        return Err(format!(
            "{filter:?} is not a valid topic filter (`#` only as the last level, wildcards alone in their level)"
        ));
    }
    Ok(Rule { grant, filter: filter.to_owned() })
}

/// A well-formed MQTT topic filter: not empty, no NUL, `+` and `#` alone in
/// their level, `#` last.
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(index, level)| match *level {
        "#" => index == levels.len() - 1,
        "+" => true,
        other => !other.contains(['+', '#']),
    })
}

/// Whether every topic `filter` matches is also matched by `pattern`.
pub fn covers(pattern: &str, filter: &str) -> bool {
    // Topics starting with `$` are not matched by a leading wildcard (MQTT 4.7.2).
    if filter.starts_with('$') != pattern.starts_with('$') && pattern.starts_with(['+', '#']) {
        return false;
    }
    let mut pattern_levels = pattern.split('/');
    let mut filter_levels = filter.split('/');
    loop {
        match (pattern_levels.next(), filter_levels.next()) {
            (Some("#"), _) => return true,
            (None, None) => return true,
            (Some("+"), Some(level)) if level != "#" => {}
            (Some(p), Some(f)) if p == f && p != "+" && f != "#" => {}
            _ => return false,
        }
    }
}

/// Whether some topic is matched by both filters.
pub fn overlaps(a: &str, b: &str) -> bool {
    if a.starts_with('$') != b.starts_with('$') && (a.starts_with(['+', '#']) || b.starts_with(['+', '#'])) {
        return false;
    }
    let mut a_levels = a.split('/');
    let mut b_levels = b.split('/');
    loop {
        match (a_levels.next(), b_levels.next()) {
            (Some("#"), _) | (_, Some("#")) => return true,
            (None, None) => return true,
            (Some(x), Some(y)) if x == "+" || y == "+" || x == y => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "\
# anonymous clients may read alerts only
topic read plant1/alerts/#

user sink
topic write plant1/assistant/answer/#
topic write plant1/alerts/#

user telemetry
topic write plant1/telemetry/#
topic deny plant1/telemetry/secret/#

pattern write plant1/assistant/query/%u
pattern read plant1/assistant/answer/%u
pattern read plant1/alerts/#
";

    fn client(user: Option<&str>) -> Client<'_> {
        Client { user, client_id: "c1" }
    }

    #[test]
    fn operators_ask_and_read_their_own_answers_and_nothing_else() {
        let acl = Acl::parse(EXAMPLE).unwrap();
        let alice = client(Some("alice"));
        assert!(acl.permits(alice, Access::Write, "plant1/assistant/query/alice"));
        assert!(acl.permits(alice, Access::Read, "plant1/assistant/answer/alice"));
        assert!(acl.permits(alice, Access::Read, "plant1/alerts/+/critical"));
        assert!(!acl.permits(alice, Access::Write, "plant1/assistant/query/bob"), "asks as someone else");
        assert!(!acl.permits(alice, Access::Write, "plant1/assistant/answer/alice"), "forges an answer");
        assert!(!acl.permits(alice, Access::Write, "plant1/alerts/st1/critical"), "forges an alert");
        assert!(!acl.permits(alice, Access::Read, "plant1/assistant/answer/+"), "reads everyone's answers");
        assert!(!acl.permits(alice, Access::Read, "#"));
    }

    #[test]
    fn only_the_named_user_publishes_answers_and_deny_wins() {
        let acl = Acl::parse(EXAMPLE).unwrap();
        assert!(acl.permits(client(Some("sink")), Access::Write, "plant1/assistant/answer/alice"));
        assert!(acl.permits(client(Some("telemetry")), Access::Write, "plant1/telemetry/press1/temp"));
        assert!(!acl.permits(client(Some("telemetry")), Access::Write, "plant1/telemetry/secret/x"));
        assert!(!acl.permits(client(Some("telemetry")), Access::Write, "plant1/assistant/answer/x"));
        assert!(acl.permits(client(None), Access::Read, "plant1/alerts/#"));
        assert!(!acl.permits(client(None), Access::Write, "plant1/assistant/query/anyone"), "patterns need a user");
    }

    #[test]
    fn the_documented_example_file_grants_what_the_docs_say() {
        let acl = Acl::parse(include_str!("../../../docs/examples/broker-acl")).unwrap();
        let root = "plant1/assembly/cell1";
        let alice = client(Some("alice"));
        assert!(acl.permits(alice, Access::Write, &format!("{root}/assistant/query/alice")));
        assert!(acl.permits(alice, Access::Read, &format!("{root}/assistant/answer/alice")));
        assert!(acl.permits(alice, Access::Read, &format!("{root}/alerts/+/+")));
        assert!(!acl.permits(alice, Access::Write, &format!("{root}/assistant/answer/alice")));
        assert!(!acl.permits(alice, Access::Write, &format!("{root}/alerts/station1/critical")));
        assert!(acl.permits(alice, Access::Read, &format!("{root}/alarms/+/events")));
        assert!(!acl.permits(alice, Access::Write, &format!("{root}/alarms/station1/events")));
        let bridge = client(Some("press-bridge"));
        assert!(acl.permits(bridge, Access::Write, &format!("{root}/telemetry/press1/temp")));
        assert!(!acl.permits(bridge, Access::Write, &format!("{root}/alerts/station1/critical")));
        assert!(acl.permits(client(Some("nodes")), Access::Write, &format!("{root}/alerts/station1/critical")));
    }

    #[test]
    fn a_name_with_wildcards_or_levels_gets_nothing_from_a_pattern() {
        let acl = Acl::parse(EXAMPLE).unwrap();
        for sneaky in ["+", "#", "a/b"] {
            assert!(!acl.permits(client(Some(sneaky)), Access::Read, "plant1/assistant/answer/+"), "{sneaky}");
            assert!(!acl.permits(client(Some(sneaky)), Access::Read, "plant1/assistant/answer/#"), "{sneaky}");
        }
    }

    #[test]
    fn publishing_to_a_filter_or_a_malformed_topic_is_refused() {
        let acl = Acl::parse("topic readwrite #\n").unwrap();
        assert!(acl.permits(client(None), Access::Write, "a/b"));
        assert!(!acl.permits(client(None), Access::Write, "a/+"));
        assert!(!acl.permits(client(None), Access::Read, "a/#/b"));
        assert!(!acl.permits(client(None), Access::Read, ""));
        assert!(!acl.permits(client(None), Access::Read, "$SYS/broker"), "# does not reach $ topics");
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let errors = Acl::parse("user\ntopic read a/#/b\nfrobnicate x\ntopic\ntopic ok/1\n").unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 2, 3, 4], "{errors:?}");
    }

    #[test]
    fn coverage_and_overlap_follow_mqtt_matching() {
        assert!(covers("a/#", "a"), "# also matches the parent level");
        assert!(covers("a/#", "a/b/c") && covers("a/+/c", "a/+/c") && covers("a/+", "a/b"));
        assert!(!covers("a/+", "a/#") && !covers("a/b", "a/+") && !covers("a/+", "a/b/c"));
        assert!(overlaps("a/+/c", "a/b/#") && overlaps("#", "x") && overlaps("a/b", "a/+"));
        assert!(!overlaps("a/b", "a/c") && !overlaps("a/+", "a/b/c"));
    }
}
