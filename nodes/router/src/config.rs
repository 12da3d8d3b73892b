//! `router`: which model tier answers which question class, when an answer
//! is escalated, and whether (and how redacted) a question may leave the
//! site for an OpenAI-compatible endpoint. Every setting: docs/routing.md.

use std::collections::BTreeMap;
use std::time::Duration;

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars, Secret};

/// The question classes the router knows, in the order docs list them.
pub const QUESTION_CLASSES: [&str; 5] = ["current_value", "trend", "alarm", "procedure", "out_of_scope"];

/// Where a tier's questions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierKind {
    /// An `slm` node of the dataflow (same machine or another dora machine):
    /// questions on output `ask_<name>`, answers on input `answers_<name>`.
    Slm,
    /// The OpenAI-compatible endpoint of `ROUTER_HTTP_URL` (off the site).
    Http,
    /// A `plant-docs` node: answers procedures from the site's documents,
    /// quoting them. Asked only by the classes routed to it; never an
    /// escalation or fallback target, and its answers are final (a model
    /// asked instead would invent a procedure). Wired like an `slm` tier.
    Docs,
}

/// One model tier, in escalation order.
#[derive(Debug, Clone, PartialEq)]
pub struct TierSpec {
    /// Name (letters, digits, `_`, `-`); names the dora output and input.
    pub name: String,
    /// Where its questions go.
    pub kind: TierKind,
    /// Answers below this confidence go to the next tier (0..=1).
    pub threshold: f32,
    /// Expected answer time until measured, ms: escalation that would miss
    /// the deadline by this estimate is not tried.
    pub expect_ms: u64,
    /// What a "busy" answer of this tier (its queue full) leads to.
    pub on_busy: OnBusy,
}

/// What the router does when a tier answers "busy" (`on_busy=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnBusy {
    /// The asker gets the busy answer and asks again later (default): the
    /// next tier usually runs on the same cores, and overflow sent to it
    /// slows both (docs/routing.md).
    Answer,
    /// The question goes on to the next tier, for a next tier with cores
    /// of its own (another machine, a remote service).
    Escalate,
}

impl TierSpec {
    /// Output id the tier's questions are sent on.
    pub fn output(&self) -> String {
        format!("ask_{}", self.name)
    }

    /// Input id the tier's answers arrive on.
    pub fn input(&self) -> String {
        format!("answers_{}", self.name)
    }

    /// Input id on which any message shows the tier is alive (optional;
    /// wire the tier's `metrics` output to it).
    pub fn liveness_input(&self) -> String {
        format!("alive_{}", self.name)
    }
}

/// Where a class of questions goes first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassTarget {
    /// The tier at this index of [`RouterConfig::tiers`].
    Tier(usize),
    /// The router refuses politely, asking no model.
    Refuse,
}

/// One redaction rule: matches of `pattern` (a regular expression) are
/// replaced by `replacement` before anything leaves the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactRule {
    /// Regular expression (Rust `regex` syntax).
    pub pattern: String,
    /// What each match becomes.
    pub replacement: String,
}

/// The off-site escalation endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpTierConfig {
    /// Base URL of the OpenAI-compatible API, e.g. `http://127.0.0.1:8081/v1`
    /// (`/chat/completions` is appended).
    pub url: String,
    /// The `model` to ask for.
    pub model: String,
    /// Bearer token (`ROUTER_HTTP_API_KEY` or `ROUTER_HTTP_API_KEY_FILE`).
    pub api_key: Option<Secret>,
    /// How long one request may take, ms.
    pub timeout_ms: u64,
    /// `max_tokens` asked for.
    pub max_tokens: u32,
    /// Rules applied to everything sent (the operator id is never sent).
    pub redact: Vec<RedactRule>,
    /// A JSON line per request sent, exactly as sent, for audit.
    pub outbound_log: Option<std::path::PathBuf>,
}

/// Settings of the router node.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterConfig {
    /// Tiers in escalation order (`ROUTER_TIERS`, one per line:
    /// `<name> [kind=slm|http|docs] [threshold=0.5] [expect_ms=1000] [on_busy=answer|escalate]`).
    pub tiers: Vec<TierSpec>,
    /// First tier per class (`ROUTER_CLASSES`, `class=tier|refuse ...`;
    /// unnamed classes go to the first tier, `out_of_scope` is refused).
    pub classes: BTreeMap<String, ClassTarget>,
    /// Deadline of questions that carry none, ms after receipt
    /// (`ROUTER_DEADLINE_MS`, 100..=600000, default 20000).
    pub default_deadline: Duration,
    /// Site words that make a question about the plant (`ROUTER_PLANT_WORDS`,
    /// space or comma separated), beyond the built-in vocabulary.
    pub plant_words: Vec<String>,
    /// What an out-of-scope question is told (`ROUTER_REFUSAL`).
    pub refusal: String,
    /// Off-site escalation, when a tier has `kind=http` (`ROUTER_HTTP_*`).
    pub http: Option<HttpTierConfig>,
    /// A tier whose liveness input (`alive_<tier>`, e.g. the tier's metrics)
    /// has been silent this long is unreachable: skipped, and questions it
    /// holds go to a reachable tier (`ROUTER_TIER_STALE_MS`, 500..=600000,
    /// default 5000). Tiers without such an input are always reachable.
    pub tier_stale_after: Duration,
    /// The audit journal of answers; `None` when `ROUTER_AUDIT=false` (see
    /// [`AuditConfig`]).
    pub audit: Option<AuditConfig>,
    /// The questions being answered, kept for a restarted router
    /// (`ROUTER_PENDING_FILE`, default `out/router/pending.arrow`, relative
    /// to the dataflow's folder).
    pub pending_file: std::path::PathBuf,
}

/// Where and how much of the audit journal is kept (docs/routing.md "Audit journal").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// `ROUTER_AUDIT_DIR`, default `out/audit` (relative to the dataflow's
    /// folder).
    pub dir: std::path::PathBuf,
    /// A file is rotated before it grows past this (`ROUTER_AUDIT_FILE_MB`,
    /// 1..=4096, default 16).
    pub max_file_bytes: u64,
    /// Files kept, the one being written included (`ROUTER_AUDIT_FILES`,
    /// 1..=1000, default 8).
    pub files: usize,
}

/// The default answer to out-of-scope questions.
pub const DEFAULT_REFUSAL: &str = "Sorry, I can only answer questions about this plant: current values, limits, trends, alarms and procedures of its machines.";

impl RouterConfig {
    /// Parses the router's settings.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("router", vars);
        let tiers_text = env.required_string(
            "ROUTER_TIERS",
            "one tier per line: <name> [kind=slm|http|docs] [threshold=0.5] [expect_ms=1000] [on_busy=answer|escalate]",
        );
        let tiers = tiers_text.map(|text| parse_tiers(&mut env, &text)).unwrap_or_default();
        let classes_text = env.optional_string("ROUTER_CLASSES").unwrap_or_default();
        let classes = parse_classes(&mut env, &classes_text, &tiers);
        let deadline_ms = env.parsed_or("ROUTER_DEADLINE_MS", 20_000u64, "milliseconds in 100..=600000", |n| {
            (100..=600_000).contains(n)
        });
        let plant_words = env
            .optional_string("ROUTER_PLANT_WORDS")
            .map(|text| text.split([' ', ',', '\n']).filter(|w| !w.is_empty()).map(str::to_lowercase).collect())
            .unwrap_or_default();
        let refusal = env.string_or("ROUTER_REFUSAL", DEFAULT_REFUSAL);
        let http = parse_http(&mut env, &tiers);
        let stale_ms = env.parsed_or("ROUTER_TIER_STALE_MS", 5_000u64, "milliseconds in 500..=600000", |n| {
            (500..=600_000).contains(n)
        });
        let audit_dir = env.string_or("ROUTER_AUDIT_DIR", "out/audit");
        let audit_mb =
            env.parsed_or("ROUTER_AUDIT_FILE_MB", 16u64, "megabytes in 1..=4096", |n| (1..=4096).contains(n));
        let audit_files =
            env.parsed_or("ROUTER_AUDIT_FILES", 8usize, "a count in 1..=1000", |n| (1..=1000).contains(n));
        let audit_on = env.parsed_or("ROUTER_AUDIT", true, "true or false", |_| true);
        let pending_file = env.string_or("ROUTER_PENDING_FILE", "out/router/pending.arrow");
        let audit = audit_on.then(|| AuditConfig {
            dir: audit_dir.into(),
            max_file_bytes: audit_mb * 1024 * 1024,
            files: audit_files,
        });
        env.finish(&["ROUTER_"])?;
        Ok(Self {
            audit,
            pending_file: pending_file.into(),
            tiers,
            classes,
            default_deadline: Duration::from_millis(deadline_ms),
            plant_words,
            refusal,
            http,
            tier_stale_after: Duration::from_millis(stale_ms),
        })
    }

    /// Where questions of `class` go first.
    pub fn target(&self, class: &str) -> ClassTarget {
        self.classes.get(class).cloned().unwrap_or(ClassTarget::Tier(0))
    }

    /// The tier whose answers arrive on input `input`.
    pub fn tier_of_input(&self, input: &str) -> Option<usize> {
        self.tiers.iter().position(|t| t.kind != TierKind::Http && t.input() == input)
    }

    /// The tier whose liveness arrives on input `input` (`alive_<tier>`).
    pub fn tier_of_liveness_input(&self, input: &str) -> Option<usize> {
        self.tiers.iter().position(|t| t.kind != TierKind::Http && t.liveness_input() == input)
    }
}

fn parse_tiers(env: &mut EnvReader<'_>, text: &str) -> Vec<TierSpec> {
    const FIELD: &str = "ROUTER_TIERS";
    let mut tiers: Vec<TierSpec> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut words = line.split_whitespace();
        let Some(name) = words.next() else { continue };
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            || tiers.iter().any(|t| t.name == name)
        {
            env.invalid(FIELD, line, "a unique tier name of letters, digits, `_` or `-` first");
            continue;
        }
        let mut tier = TierSpec {
            name: name.to_owned(),
            kind: TierKind::Slm,
            threshold: 0.5,
            expect_ms: 1000,
            on_busy: OnBusy::Answer,
        };
        for option in words {
            match option.split_once('=') {
                Some(("kind", "slm")) => tier.kind = TierKind::Slm,
                Some(("kind", "http")) => tier.kind = TierKind::Http,
                Some(("kind", "docs")) => tier.kind = TierKind::Docs,
                Some(("threshold", value)) => match value.parse::<f32>() {
                    Ok(t) if (0.0..=1.0).contains(&t) => tier.threshold = t,
                    _ => env.invalid(FIELD, line, "threshold= between 0 and 1"),
                },
                Some(("expect_ms", value)) => match value.parse::<u64>() {
                    Ok(ms) if (1..=600_000).contains(&ms) => tier.expect_ms = ms,
                    _ => env.invalid(FIELD, line, "expect_ms= milliseconds in 1..=600000"),
                },
                Some(("on_busy", "answer")) => tier.on_busy = OnBusy::Answer,
                Some(("on_busy", "escalate")) => tier.on_busy = OnBusy::Escalate,
                _ => env.invalid(
                    FIELD,
                    line,
                    "options kind=slm|http|docs, threshold=<0..1>, expect_ms=<ms>, on_busy=answer|escalate",
                ),
            }
        }
        tiers.push(tier);
    }
    if tiers.is_empty() {
        env.invalid(FIELD, text, "at least one tier");
    }
    // Escalation runs through the model tiers only; docs tiers stand aside.
    let chain: Vec<&TierSpec> = tiers.iter().filter(|t| t.kind != TierKind::Docs).collect();
    let http_tiers = chain.iter().filter(|t| t.kind == TierKind::Http).count();
    if http_tiers > 1 || chain.iter().take(chain.len().saturating_sub(1)).any(|t| t.kind == TierKind::Http) {
        env.invalid(FIELD, text, "at most one kind=http tier, and it last (nothing escalates from off the site)");
    }
    if tiers.first().is_some_and(|t| t.kind == TierKind::Docs) {
        env.invalid(FIELD, text, "a model tier first: unrouted classes go to the first tier, and kind=docs answers only procedures routed to it");
    }
    tiers
}

fn parse_classes(env: &mut EnvReader<'_>, text: &str, tiers: &[TierSpec]) -> BTreeMap<String, ClassTarget> {
    const FIELD: &str = "ROUTER_CLASSES";
    let mut classes = BTreeMap::from([("out_of_scope".to_owned(), ClassTarget::Refuse)]);
    for pair in text.split_whitespace() {
        let Some((class, target)) = pair.split_once('=') else {
            env.invalid(FIELD, pair, "class=tier pairs, e.g. procedure=small");
            continue;
        };
        if !QUESTION_CLASSES.contains(&class) {
            env.invalid(FIELD, pair, &format!("a class of {}", QUESTION_CLASSES.join(", ")));
            continue;
        }
        let target = if target == "refuse" {
            ClassTarget::Refuse
        } else if let Some(index) = tiers.iter().position(|t| t.name == target) {
            ClassTarget::Tier(index)
        } else {
            env.invalid(FIELD, pair, "a tier named in ROUTER_TIERS, or refuse");
            continue;
        };
        classes.insert(class.to_owned(), target);
    }
    classes
}

fn parse_http(env: &mut EnvReader<'_>, tiers: &[TierSpec]) -> Option<HttpTierConfig> {
    let url = env.optional_string("ROUTER_HTTP_URL");
    let model = env.optional_string("ROUTER_HTTP_MODEL");
    let api_key = env.password("ROUTER_HTTP_API_KEY", "ROUTER_HTTP_API_KEY_FILE");
    let timeout_ms = env.parsed_or("ROUTER_HTTP_TIMEOUT_MS", 10_000u64, "milliseconds in 100..=600000", |n| {
        (100..=600_000).contains(n)
    });
    let max_tokens = env.parsed_or("ROUTER_HTTP_MAX_TOKENS", 128u32, "a count in 1..=4096", |n| (1..=4096).contains(n));
    let redact = env.optional_string("ROUTER_REDACT").map(|text| parse_redact(env, &text)).unwrap_or_default();
    let outbound_log = env.optional_string("ROUTER_OUTBOUND_LOG").map(std::path::PathBuf::from);
    let wanted = tiers.iter().any(|t| t.kind == TierKind::Http);
    match (wanted, url) {
        (false, None) => None,
        (false, Some(url)) => {
            env.invalid(
                "ROUTER_HTTP_URL",
                &url,
                "unset unless ROUTER_TIERS has a kind=http tier (nothing leaves the site otherwise)",
            );
            None
        }
        (true, None) => {
            env.invalid("ROUTER_HTTP_URL", "", "set: ROUTER_TIERS has a kind=http tier");
            None
        }
        (true, Some(url)) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                env.invalid(
                    "ROUTER_HTTP_URL",
                    &url,
                    "an http:// or https:// base URL such as http://127.0.0.1:8081/v1",
                );
            }
            let model = model.unwrap_or_else(|| {
                env.invalid("ROUTER_HTTP_MODEL", "", "the model name to ask the endpoint for");
                String::new()
            });
            Some(HttpTierConfig {
                url: url.trim_end_matches('/').to_owned(),
                model,
                api_key,
                timeout_ms,
                max_tokens,
                redact,
                outbound_log,
            })
        }
    }
}

fn parse_redact(env: &mut EnvReader<'_>, text: &str) -> Vec<RedactRule> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let Some((pattern, replacement)) = line.split_once("=>") else {
                env.invalid("ROUTER_REDACT", line, "one rule per line: <regex> => <replacement>");
                return None;
            };
            let pattern = pattern.trim();
            if pattern.is_empty() || regex::Regex::new(pattern).is_err() {
                env.invalid("ROUTER_REDACT", line, "a valid regular expression before =>");
                return None;
            }
            Some(RedactRule { pattern: pattern.to_owned(), replacement: replacement.trim().to_owned() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> EnvVars {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_audit_journal_is_on_by_default_bounded_and_can_be_turned_off() {
        let cfg = RouterConfig::from_env(&vars(&[("ROUTER_TIERS", "nano")])).unwrap();
        let audit = cfg.audit.unwrap();
        assert_eq!((audit.dir.to_str(), audit.max_file_bytes, audit.files), (Some("out/audit"), 16 << 20, 8));
        let off = RouterConfig::from_env(&vars(&[("ROUTER_TIERS", "nano"), ("ROUTER_AUDIT", "false")])).unwrap();
        assert_eq!(off.audit, None);
        let bad = RouterConfig::from_env(&vars(&[("ROUTER_TIERS", "nano"), ("ROUTER_AUDIT_FILES", "0")])).unwrap_err();
        assert!(bad.names_field("ROUTER_AUDIT_FILES"), "{bad}");
    }

    #[test]
    fn tiers_classes_and_defaults() {
        let cfg = RouterConfig::from_env(&vars(&[
            ("ROUTER_TIERS", "nano threshold=0.44\nsmall threshold=0.6 expect_ms=900\n"),
            ("ROUTER_CLASSES", "procedure=small"),
        ]))
        .unwrap();
        assert_eq!(cfg.tiers.len(), 2);
        assert_eq!((cfg.tiers[0].threshold, cfg.tiers[1].expect_ms), (0.44, 900));
        assert_eq!((cfg.tiers[0].output(), cfg.tiers[0].input()), ("ask_nano".to_owned(), "answers_nano".to_owned()));
        assert_eq!(cfg.target("procedure"), ClassTarget::Tier(1));
        assert_eq!(cfg.target("trend"), ClassTarget::Tier(0));
        assert_eq!(cfg.target("out_of_scope"), ClassTarget::Refuse);
        assert_eq!(cfg.tier_of_input("answers_small"), Some(1));
        assert!(cfg.http.is_none());
        assert_eq!(cfg.default_deadline, Duration::from_secs(20));
    }

    #[test]
    fn a_tier_answers_busy_unless_it_may_overflow() {
        let cfg = RouterConfig::from_env(&vars(&[("ROUTER_TIERS", "nano on_busy=escalate\nsmall")])).unwrap();
        assert_eq!((cfg.tiers[0].on_busy, cfg.tiers[1].on_busy), (OnBusy::Escalate, OnBusy::Answer));
        let bad = RouterConfig::from_env(&vars(&[("ROUTER_TIERS", "nano on_busy=maybe")])).unwrap_err();
        assert!(bad.names_field("ROUTER_TIERS") && bad.to_string().contains("on_busy=answer|escalate"), "{bad}");
    }

    #[test]
    fn bad_settings_are_named() {
        let err = RouterConfig::from_env(&vars(&[
            ("ROUTER_TIERS", "nano threshold=2\nremote kind=http\nlast"),
            ("ROUTER_CLASSES", "gossip=nano procedure=huge"),
            ("ROUTER_REDACT", "(unclosed => x"),
            ("ROUTER_TYPO", "1"),
        ]))
        .unwrap_err();
        for field in ["ROUTER_TIERS", "ROUTER_CLASSES", "ROUTER_HTTP_URL", "ROUTER_REDACT", "ROUTER_TYPO"] {
            assert!(err.names_field(field), "{field} not named in: {err}");
        }
        assert!(RouterConfig::from_env(&EnvVars::new()).unwrap_err().names_field("ROUTER_TIERS"));
    }

    #[test]
    fn an_http_tier_needs_its_endpoint_and_nothing_leaves_without_one() {
        let cfg = RouterConfig::from_env(&vars(&[
            ("ROUTER_TIERS", "nano\nremote kind=http threshold=0"),
            ("ROUTER_HTTP_URL", "http://127.0.0.1:9/v1/"),
            ("ROUTER_HTTP_MODEL", "big"),
            ("ROUTER_REDACT", "(?i)plant1 => [site]\n# comment\nCell1 => [cell]"),
        ]))
        .unwrap();
        let http = cfg.http.unwrap();
        assert_eq!((http.url.as_str(), http.redact.len()), ("http://127.0.0.1:9/v1", 2));
        let err =
            RouterConfig::from_env(&vars(&[("ROUTER_TIERS", "nano"), ("ROUTER_HTTP_URL", "http://x/v1")])).unwrap_err();
        assert!(err.names_field("ROUTER_HTTP_URL"), "{err}");
    }

    #[test]
    fn a_docs_tier_stands_outside_the_chain_and_never_first() {
        let vars = EnvVars::from([
            ("ROUTER_TIERS", "nano\nremote kind=http\ndocs kind=docs"),
            ("ROUTER_CLASSES", "procedure=docs"),
            ("ROUTER_HTTP_URL", "http://127.0.0.1:9/v1"),
            ("ROUTER_HTTP_MODEL", "m"),
        ]);
        let config = RouterConfig::from_env(&vars).unwrap();
        assert_eq!(config.tiers[2].kind, TierKind::Docs);
        assert_eq!(config.tier_of_input("answers_docs"), Some(2));
        let err = RouterConfig::from_env(&EnvVars::from([("ROUTER_TIERS", "docs kind=docs\nnano")])).unwrap_err();
        assert!(err.to_string().contains("a model tier first"), "{err}");
    }
}
