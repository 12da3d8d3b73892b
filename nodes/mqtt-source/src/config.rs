//! `mqtt-source` telemetry: which topics carry plant values, how their
//! payloads map to tags, and how readings are batched.
//!
//! `TELEMETRY_SUBSCRIPTIONS`, one subscription per line:
//!
//! ```text
//! <filter> number <tag> [unit]
//! <filter> json <path>=<tag>[@unit] [<path>=<tag>[@unit] ...] [ts=<path>]
//! <filter> sparkplug
//! ```
//!
//! - `<filter>`: an MQTT topic filter (`+` and `#` allowed); `~/` at the start
//!   stands for `MQTT_TOPIC_ROOT/`.
//! - `<tag>`: the tag name; `{1}`, `{2}`, … are replaced by that level of the
//!   topic the message arrived on (1 = first level), so one wildcard
//!   subscription can feed many tags.
//! - `<path>`: a field of the JSON payload: keys separated by `.`, array
//!   elements as `[n]` (`values[0].v`).
//! - `ts=<path>`: the source timestamp, a number of milliseconds (or seconds,
//!   when below 10^11) since the Unix epoch; without it, the arrival time.

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars};

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A JSON field mapped to a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMapping {
    /// Where the value is.
    pub path: Vec<PathStep>,
    pub tag: String,
    pub unit: Option<String>,
}

/// How a subscription's payloads are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadFormat {
    /// The payload is one number as text (`72.4`).
    Number { tag: String, unit: Option<String> },
    /// A JSON object with mapped fields.
    Json { fields: Vec<FieldMapping>, timestamp: Option<Vec<PathStep>> },
    /// Sparkplug B protobuf on `spBv1.0/...` topics; tags are named from the
    /// edge node, device and metric.
    Sparkplug,
}

/// One telemetry subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySubscription {
    /// Topic filter (with `~/` already replaced by the root).
    pub filter: String,
    pub format: PayloadFormat,
    /// The line's ` # comment`: what its tags are, in words (every reading
    /// of the line carries it).
    pub description: Option<String>,
}

/// Telemetry settings of `mqtt-source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// Subscriptions (`TELEMETRY_SUBSCRIPTIONS`, default none).
    pub subscriptions: Vec<TelemetrySubscription>,
    /// Longest a reading waits to be sent in a batch, ms
    /// (`TELEMETRY_BATCH_MS`, 1..=10000, default 50).
    pub batch_ms: u64,
    /// Most readings per batch (`TELEMETRY_BATCH_MAX`, 1..=100000, default 1000).
    pub batch_max: usize,
}

impl TelemetryConfig {
    /// Parses the telemetry settings; `topic_root` replaces `~` in filters.
    pub fn from_env(vars: &EnvVars, topic_root: &str) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("mqtt-source", vars);
        let text = env.optional_string("TELEMETRY_SUBSCRIPTIONS").unwrap_or_default();
        let mut subscriptions = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            match parse_line(line, topic_root) {
                Ok(subscription) => subscriptions.push(subscription),
                Err(why) => env.invalid("TELEMETRY_SUBSCRIPTIONS", line, why),
            }
        }
        let batch_ms =
            env.parsed_or("TELEMETRY_BATCH_MS", 50u64, "milliseconds in 1..=10000", |v| (1..=10_000).contains(v));
        let batch_max =
            env.parsed_or("TELEMETRY_BATCH_MAX", 1000usize, "a count in 1..=100000", |v| (1..=100_000).contains(v));
        env.finish(&["TELEMETRY_"])?;
        Ok(Self { subscriptions, batch_ms, batch_max })
    }
}

/// How long `mqtt-source` waits for the router to take a question it sent
/// (used where the dataflow wires the router's `accepted` output to the
/// node's `accepted` input; see [`crate::handover`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandoverConfig {
    /// A question not accepted this long after it was sent is sent again, ms
    /// (`QUESTION_RESEND_MS`, 100..=60000, default 2000).
    pub resend_ms: u64,
    /// A question not accepted this long after it arrived (or by its own
    /// deadline, if sooner) is answered `busy` to its asker and forgotten, ms
    /// (`QUESTION_GIVE_UP_MS`, 1000..=3600000, default 60000).
    pub give_up_ms: u64,
}

impl Default for HandoverConfig {
    fn default() -> Self {
        Self { resend_ms: 2_000, give_up_ms: 60_000 }
    }
}

impl HandoverConfig {
    /// Parses the hand-over settings.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("mqtt-source", vars);
        let defaults = Self::default();
        let resend_ms = env.parsed_or("QUESTION_RESEND_MS", defaults.resend_ms, "milliseconds in 100..=60000", |v| {
            (100..=60_000).contains(v)
        });
        let give_up_ms =
            env.parsed_or("QUESTION_GIVE_UP_MS", defaults.give_up_ms, "milliseconds in 1000..=3600000", |v| {
                (1_000..=3_600_000).contains(v)
            });
        env.finish(&["QUESTION_"])?;
        Ok(Self { resend_ms, give_up_ms })
    }
}

const LINE_FORMAT: &str =
    "`<filter> number <tag> [unit]`, `<filter> json <path>=<tag>[@unit] ... [ts=<path>]` or `spBv1.0/<group>/# sparkplug`";

fn parse_line(line: &str, topic_root: &str) -> Result<TelemetrySubscription, &'static str> {
    let (line, description) = shopfloor_core::env::split_description(line);
    let mut words = line.split_whitespace();
    let filter = words.next().ok_or(LINE_FORMAT)?;
    let filter = match filter.strip_prefix("~/") {
        Some(rest) => format!("{topic_root}/{rest}"),
        None => filter.to_owned(),
    };
    if !valid_filter(&filter) {
        return Err("a valid MQTT topic filter (`+`/`#` alone in a level, `#` last) first");
    }
    let format = match words.next() {
        Some("number") => {
            let tag = words.next().ok_or(LINE_FORMAT)?;
            check_tag(tag)?;
            let unit = words.next().map(str::to_owned);
            if words.next().is_some() {
                return Err(LINE_FORMAT);
            }
            PayloadFormat::Number { tag: tag.to_owned(), unit }
        }
        Some("sparkplug") => {
            if !filter.starts_with("spBv1.0/") || words.next().is_some() {
                return Err("`spBv1.0/<group>/#` (or another filter under spBv1.0/) followed by `sparkplug` alone");
            }
            PayloadFormat::Sparkplug
        }
        Some("json") => {
            let mut fields = Vec::new();
            let mut timestamp = None;
            for word in words {
                if let Some(path) = word.strip_prefix("ts=") {
                    timestamp = Some(parse_path(path).ok_or("a JSON path after ts=, like `meta.ts`")?);
                    continue;
                }
                let (path, target) = word.split_once('=').ok_or(LINE_FORMAT)?;
                let (tag, unit) = match target.split_once('@') {
                    Some((tag, unit)) if !unit.is_empty() => (tag, Some(unit.to_owned())),
                    Some(_) => return Err("a unit after `@`"),
                    None => (target, None),
                };
                check_tag(tag)?;
                let path = parse_path(path).ok_or("JSON paths like `temp`, `a.b`, `values[0].v`")?;
                fields.push(FieldMapping { path, tag: tag.to_owned(), unit });
            }
            if fields.is_empty() {
                return Err("at least one `<path>=<tag>` after `json`");
            }
            PayloadFormat::Json { fields, timestamp }
        }
        _ => return Err(LINE_FORMAT),
    };
    Ok(TelemetrySubscription { filter, format, description })
}

fn check_tag(tag: &str) -> Result<(), &'static str> {
    let plain = tag.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '{' | '}'));
    if tag.is_empty() || !plain {
        return Err("tag names of letters, digits, `_`, `.`, `-` and `{n}` level placeholders");
    }
    Ok(())
}

/// Whether `filter` is a valid MQTT topic filter.
pub fn valid_filter(filter: &str) -> bool {
    let levels: Vec<&str> = filter.split('/').collect();
    !filter.is_empty()
        && levels.iter().enumerate().all(|(i, level)| match *level {
            "#" => i + 1 == levels.len(),
            "+" => true,
            level => !level.contains(['+', '#']),
        })
}

/// Parses `a.b[2].c`.
pub fn parse_path(text: &str) -> Option<Vec<PathStep>> {
    let mut steps = Vec::new();
    for part in text.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(at) => (&part[..at], &part[at..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            steps.push(PathStep::Key(key.to_owned()));
        } else if rest.is_empty() {
            return None;
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']')?;
            steps.push(PathStep::Index(inner[..end].parse().ok()?));
            rest = &inner[end + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    (!steps.is_empty()).then_some(steps)
}

/// The tag for a message on `topic`: `{n}` replaced by the topic's n-th
/// level. `None` when a placeholder names a level the topic does not have.
pub fn render_tag(template: &str, topic: &str) -> Option<String> {
    let levels: Vec<&str> = topic.split('/').collect();
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}')? + open;
        let n: usize = rest[open + 1..close].parse().ok()?;
        let level = levels.get(n.checked_sub(1)?)?;
        if level.is_empty() {
            return None;
        }
        out.push_str(level);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TelemetryConfig, ConfigError> {
        TelemetryConfig::from_env(&EnvVars::from([("TELEMETRY_SUBSCRIPTIONS", text)]), "p/a/c")
    }

    #[test]
    fn number_and_json_subscriptions_parse() {
        let cfg = parse(
            "~/telemetry/+/temp number {5}_temperature °C\n\
             plant/line2/+/state json temp=oven_{3}_temp@°C meta.values[1]=oven_{3}_fan ts=meta.ts",
        )
        .unwrap();
        assert_eq!(cfg.subscriptions.len(), 2);
        assert_eq!(cfg.subscriptions[0].filter, "p/a/c/telemetry/+/temp");
        assert_eq!(
            cfg.subscriptions[0].format,
            PayloadFormat::Number { tag: "{5}_temperature".into(), unit: Some("°C".into()) }
        );
        let PayloadFormat::Json { fields, timestamp } = &cfg.subscriptions[1].format else { panic!() };
        assert_eq!(fields[1].path, [PathStep::Key("meta".into()), PathStep::Key("values".into()), PathStep::Index(1)]);
        assert_eq!(fields[0].unit.as_deref(), Some("°C"));
        assert_eq!(timestamp.as_deref(), Some(&[PathStep::Key("meta".into()), PathStep::Key("ts".into())][..]));
        assert_eq!((cfg.batch_ms, cfg.batch_max), (50, 1000));
    }

    #[test]
    fn hand_over_settings_default_and_out_of_range_values_are_named() {
        assert_eq!(HandoverConfig::from_env(&EnvVars::from([("UNRELATED", "1")])).unwrap(), HandoverConfig::default());
        let set =
            HandoverConfig::from_env(&EnvVars::from([("QUESTION_RESEND_MS", "500"), ("QUESTION_GIVE_UP_MS", "5000")]));
        assert_eq!(set.unwrap(), HandoverConfig { resend_ms: 500, give_up_ms: 5_000 });
        for (name, bad) in [("QUESTION_RESEND_MS", "5"), ("QUESTION_GIVE_UP_MS", "soon"), ("QUESTION_RESEND_MSS", "1")]
        {
            let error = HandoverConfig::from_env(&EnvVars::from([(name, bad)])).unwrap_err().to_string();
            assert!(error.contains(name), "{error}");
        }
    }

    #[test]
    fn bad_lines_are_named_in_the_error() {
        for bad in ["a/#/b number t", "a/b csv t", "a/b json", "a/b json x=", "a/b number t u extra", "a/b json a..b=t"]
        {
            let err = parse(bad).unwrap_err();
            assert!(err.names_field("TELEMETRY_SUBSCRIPTIONS"), "{bad}: {err}");
        }
    }

    #[test]
    fn sparkplug_subscriptions_must_be_in_its_namespace() {
        let cfg = parse("spBv1.0/plant/# sparkplug").unwrap();
        assert_eq!(cfg.subscriptions[0].format, PayloadFormat::Sparkplug);
        assert!(parse("plant/# sparkplug").is_err());
    }

    #[test]
    fn no_subscriptions_is_valid() {
        assert!(TelemetryConfig::from_env(&EnvVars::new(), "p/a/c").unwrap().subscriptions.is_empty());
    }

    #[test]
    fn tags_take_levels_of_the_topic() {
        assert_eq!(render_tag("oven_{3}_temp", "plant/line2/oven7/state").as_deref(), Some("oven_oven7_temp"));
        assert_eq!(render_tag("fixed", "a/b").as_deref(), Some("fixed"));
        assert_eq!(render_tag("x_{9}", "a/b"), None);
        assert_eq!(render_tag("x_{0}", "a/b"), None);
    }

    #[test]
    fn filters_follow_the_mqtt_rules() {
        assert!(valid_filter("a/+/b/#"));
        assert!(!valid_filter("a/#/b"));
        assert!(!valid_filter("a/b+"));
        assert!(!valid_filter(""));
    }
}
