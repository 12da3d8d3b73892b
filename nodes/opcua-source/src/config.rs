//! `opcua-source`: which OPC UA server to read and which nodes become which tags.

use std::path::PathBuf;

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars};
use shopfloor_opcua::{EndpointSecurity, SecurityMode, SecurityPolicyName, UserIdentity};

/// One OPC UA node read as one tag.
#[derive(Debug, Clone, PartialEq)]
pub struct TagSpec {
    /// Tag name in readings, e.g. `spindle_temperature`.
    pub tag: String,
    /// OPC UA node id in its text form, e.g. `ns=2;s=Cell1.SpindleTemperature`.
    pub node_id: String,
    /// Engineering unit attached to readings, if any.
    pub unit: Option<String>,
    /// Lower limit configured for the tag (`low=`), sent with every reading.
    pub low_limit: Option<f64>,
    /// Upper limit configured for the tag (`high=`), sent with every reading.
    pub high_limit: Option<f64>,
    /// How the server samples and filters this tag; unset fields fall back to
    /// the group defaults ([`OpcuaSourceConfig::monitoring_defaults`]).
    pub monitoring: Monitoring,
    /// What the tag is, in words: the line's `# comment`, else the node's
    /// OPC UA `Description` once connected.
    pub description: Option<String>,
}

/// Monitored-item settings of a tag, or the group defaults. `None`: not set here.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Monitoring {
    /// How often the server samples the value, in ms (0: as fast as it can).
    pub sampling_ms: Option<u64>,
    /// Values the server queues between two publishes (newest kept).
    pub queue_size: Option<u32>,
    /// Report a change only when it is larger than this.
    pub deadband: Option<Deadband>,
    /// Read the tag every this many ms instead of subscribing to it, for
    /// servers or nodes without subscriptions; changes are reported.
    pub poll_ms: Option<u64>,
}

impl Monitoring {
    /// `self` where set, else `defaults`.
    pub fn or(self, defaults: Monitoring) -> Monitoring {
        Monitoring {
            sampling_ms: self.sampling_ms.or(defaults.sampling_ms),
            queue_size: self.queue_size.or(defaults.queue_size),
            deadband: self.deadband.or(defaults.deadband),
            poll_ms: self.poll_ms.or(defaults.poll_ms),
        }
    }
}

/// An OPC UA data-change deadband.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Deadband {
    /// In the value's own unit (`deadband=0.5`).
    Absolute(f64),
    /// Percent of the node's EURange (`deadband=2%`); the server refuses it
    /// for nodes without an EURange.
    Percent(f64),
}

impl Deadband {
    /// Parses `0.5` or `2%`.
    pub fn parse(text: &str) -> Option<Deadband> {
        match text.strip_suffix('%') {
            Some(percent) => percent.parse::<f64>().ok().filter(|p| (0.0..=100.0).contains(p)).map(Deadband::Percent),
            None => text.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).map(Deadband::Absolute),
        }
    }
}

/// Settings of the OPC UA source.
#[derive(Debug, Clone, PartialEq)]
pub struct OpcuaSourceConfig {
    /// Server endpoint (`OPCUA_ENDPOINT`, `opc.tcp://host:port/...`, required).
    pub endpoint: String,
    /// Tags to subscribe to (`OPCUA_TAGS`, one per line:
    /// `<tag> <node-id> [unit] [sampling=<ms>] [queue=<n>] [deadband=<x>|<x>%] [poll=<ms>]`, required).
    pub tags: Vec<TagSpec>,
    /// Defaults for tags that set nothing (`OPCUA_SAMPLING_MS`, default the
    /// publishing interval; `OPCUA_QUEUE_SIZE`, default 10; `OPCUA_DEADBAND`,
    /// default none; `OPCUA_POLL_MS`, default none: subscribe).
    pub monitoring_defaults: Monitoring,
    /// Subscription publishing interval (`OPCUA_PUBLISH_INTERVAL_MS`, default 250).
    pub publish_interval_ms: u64,
    /// Longest wait between reconnect attempts (`OPCUA_RECONNECT_MAX_MS`, default 5000).
    pub reconnect_max_ms: u64,
    /// Most readings in one dora message (`OPCUA_BATCH_MAX`, 1..=100000,
    /// default 1000); more waiting readings go out as several messages.
    pub batch_max: usize,
    /// Security, login and trust.
    pub security: OpcuaClientSecurity,
}

/// How the client secures its connection: shared by the node and
/// `shopfloor opcua browse`, which read the same variables.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpcuaClientSecurity {
    /// Security policy and mode (`OPCUA_SECURITY_POLICY`, default None;
    /// `OPCUA_SECURITY_MODE`, default SignAndEncrypt under a policy).
    pub endpoint: EndpointSecurity,
    /// Who to log in as: anonymous (default), `OPCUA_USER` with
    /// `OPCUA_PASSWORD` or `OPCUA_PASSWORD_FILE`, or an X.509 user
    /// certificate (`OPCUA_USER_CERT` with `OPCUA_USER_KEY`).
    pub identity: UserIdentity,
    /// The PKI folder (`OPCUA_PKI_DIR`: `own/`, `private/`, `trusted/`,
    /// `rejected/`); required under a security policy, where trust decisions
    /// must outlive a temp folder. `None`: the client's default folder.
    pub pki_dir: Option<PathBuf>,
    /// Accept, and trust from then on, a server certificate that is not in
    /// `trusted/` (`OPCUA_TRUST_UNKNOWN_SERVER`, default false).
    pub trust_unknown_server: bool,
}

impl OpcuaClientSecurity {
    /// The security variables alone, for `shopfloor opcua browse`; other
    /// variables are ignored.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("shopfloor opcua browse", vars);
        let security = Self::read(&mut env);
        env.finish(&[])?;
        Ok(security)
    }

    fn read(env: &mut EnvReader<'_>) -> Self {
        let endpoint = security(env);
        let identity = identity(env);
        let pki_dir = env.optional_string("OPCUA_PKI_DIR").map(PathBuf::from);
        if pki_dir.is_none() && endpoint.is_secured() {
            env.invalid("OPCUA_PKI_DIR", "", &format!("set with security policy {}: the folder that keeps the client's certificate and the trusted server certificates", endpoint.policy.as_str()));
        }
        let trust_unknown_server = env.parsed_or("OPCUA_TRUST_UNKNOWN_SERVER", false, "true or false", |_| true);
        Self { endpoint, identity, pki_dir, trust_unknown_server }
    }
}

impl OpcuaSourceConfig {
    /// `tags` of `endpoint` with every other setting at its default, as an
    /// `env:` with only `OPCUA_ENDPOINT` and `OPCUA_TAGS` gives.
    pub fn with_defaults(endpoint: impl Into<String>, tags: Vec<TagSpec>) -> Self {
        Self {
            endpoint: endpoint.into(),
            tags,
            monitoring_defaults: Monitoring {
                sampling_ms: Some(DEFAULT_PUBLISH_INTERVAL_MS),
                queue_size: Some(DEFAULT_QUEUE_SIZE),
                deadband: None,
                poll_ms: None,
            },
            publish_interval_ms: DEFAULT_PUBLISH_INTERVAL_MS,
            reconnect_max_ms: DEFAULT_RECONNECT_MAX_MS,
            batch_max: DEFAULT_BATCH_MAX,
            security: OpcuaClientSecurity::default(),
        }
    }

    /// Parses and validates the source's settings.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("opcua-source", vars);
        let endpoint = env.required_string("OPCUA_ENDPOINT", "an opc.tcp:// URL").unwrap_or_default();
        if !endpoint.is_empty() && !endpoint.starts_with("opc.tcp://") {
            env.invalid("OPCUA_ENDPOINT", &endpoint, "an opc.tcp:// URL");
        }
        let tags_text = tags_text(&mut env);
        let mut tags = Vec::new();
        // `#` lines are comments (the header of `shopfloor opcua browse` output).
        for line in tags_text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            match parse_tag_line(line) {
                Some(tag) if tags.iter().any(|t: &TagSpec| t.tag == tag.tag) => {
                    env.invalid("OPCUA_TAGS", line, "lines with distinct tag names")
                }
                Some(tag) => tags.push(tag),
                None => env.invalid("OPCUA_TAGS", line, TAG_LINE),
            }
        }
        let publish_interval_ms = env.parsed_or(
            "OPCUA_PUBLISH_INTERVAL_MS",
            DEFAULT_PUBLISH_INTERVAL_MS,
            "milliseconds in 10..=60000",
            |v| (10..=60_000).contains(v),
        );
        let reconnect_max_ms =
            env.parsed_or("OPCUA_RECONNECT_MAX_MS", DEFAULT_RECONNECT_MAX_MS, "milliseconds in 100..=600000", |v| {
                (100..=600_000).contains(v)
            });
        let sampling_ms = env.parsed_or("OPCUA_SAMPLING_MS", publish_interval_ms, "milliseconds in 0..=3600000", |v| {
            *v <= MAX_SAMPLING_MS
        });
        let queue_size = env.parsed_or("OPCUA_QUEUE_SIZE", DEFAULT_QUEUE_SIZE, "a count in 1..=10000", |v| {
            (1..=MAX_QUEUE_SIZE).contains(v)
        });
        let deadband = env.optional_string("OPCUA_DEADBAND").and_then(|text| {
            let parsed = Deadband::parse(&text);
            if parsed.is_none() {
                env.invalid("OPCUA_DEADBAND", &text, "an absolute deadband like 0.5 or a percent of EURange like 2%");
            }
            parsed
        });
        let batch_max =
            env.parsed_or("OPCUA_BATCH_MAX", DEFAULT_BATCH_MAX, "a count in 1..=100000", |n| (1..=100_000).contains(n));
        let poll_ms = env.optional_string("OPCUA_POLL_MS").and_then(|text| {
            let parsed = text.parse::<u64>().ok().filter(|ms| (MIN_POLL_MS..=MAX_SAMPLING_MS).contains(ms));
            if parsed.is_none() {
                env.invalid("OPCUA_POLL_MS", &text, "milliseconds in 10..=3600000");
            }
            parsed
        });
        let security = OpcuaClientSecurity::read(&mut env);
        env.finish(&["OPCUA_"])?;
        Ok(Self {
            security,
            endpoint,
            tags,
            monitoring_defaults: Monitoring {
                sampling_ms: Some(sampling_ms),
                queue_size: Some(queue_size),
                deadband,
                poll_ms,
            },
            publish_interval_ms,
            reconnect_max_ms,
            batch_max,
        })
    }
}

/// The tag list from `OPCUA_TAGS`, or from the file `OPCUA_TAGS_FILE` (for
/// lists longer than an environment variable may be: Linux caps one at 128 KiB).
fn tags_text(env: &mut EnvReader<'_>) -> String {
    let inline = env.optional_string("OPCUA_TAGS");
    let file = env.optional_string("OPCUA_TAGS_FILE");
    match (inline, file) {
        (Some(text), None) => text,
        (None, Some(path)) => std::fs::read_to_string(&path).unwrap_or_else(|_| {
            env.invalid("OPCUA_TAGS_FILE", &path, "a readable file of tag lines");
            String::new()
        }),
        (Some(_), Some(_)) => {
            env.invalid("OPCUA_TAGS_FILE", "", "not set together with OPCUA_TAGS (choose one)");
            String::new()
        }
        (None, None) => {
            env.required_string("OPCUA_TAGS", &format!("{TAG_LINE} (or OPCUA_TAGS_FILE, a file of such lines)"));
            String::new()
        }
    }
}

/// `OPCUA_SECURITY_POLICY` and `OPCUA_SECURITY_MODE`; the mode defaults to
/// SignAndEncrypt under a policy other than None.
fn security(env: &mut EnvReader<'_>) -> EndpointSecurity {
    let policy = env.optional_string("OPCUA_SECURITY_POLICY").map(|text| {
        SecurityPolicyName::parse(&text).unwrap_or_else(|| {
            env.invalid("OPCUA_SECURITY_POLICY", &text, SecurityPolicyName::CHOICES);
            SecurityPolicyName::None
        })
    });
    let mode = env.optional_string("OPCUA_SECURITY_MODE").map(|text| {
        SecurityMode::parse(&text).unwrap_or_else(|| {
            env.invalid("OPCUA_SECURITY_MODE", &text, SecurityMode::CHOICES);
            SecurityMode::None
        })
    });
    let policy = policy.unwrap_or(SecurityPolicyName::None);
    let default_mode = match policy {
        SecurityPolicyName::None => SecurityMode::None,
        _ => SecurityMode::SignAndEncrypt,
    };
    let mode = mode.unwrap_or(default_mode);
    EndpointSecurity::new(policy, mode).unwrap_or_else(|| {
        let requirement = match policy {
            SecurityPolicyName::None => "None when OPCUA_SECURITY_POLICY is None".to_owned(),
            other => format!("Sign or SignAndEncrypt with security policy {}", other.as_str()),
        };
        env.invalid("OPCUA_SECURITY_MODE", mode.as_str(), &requirement);
        EndpointSecurity::NONE
    })
}

/// `OPCUA_USER` + password, or `OPCUA_USER_CERT` + `OPCUA_USER_KEY`, or anonymous.
fn identity(env: &mut EnvReader<'_>) -> UserIdentity {
    let user = env.optional_string("OPCUA_USER");
    let password = env.password("OPCUA_PASSWORD", "OPCUA_PASSWORD_FILE");
    let cert = env.existing_file("OPCUA_USER_CERT");
    let key = env.existing_file("OPCUA_USER_KEY");
    let certificate = env.both_or_neither(("OPCUA_USER_CERT", cert), ("OPCUA_USER_KEY", key));
    match (user, password, certificate) {
        (None, None, None) => UserIdentity::Anonymous,
        (Some(user), Some(password), None) => UserIdentity::UserName { user, password },
        (Some(_), None, _) => {
            env.invalid("OPCUA_PASSWORD", "", "set (or OPCUA_PASSWORD_FILE) with OPCUA_USER");
            UserIdentity::Anonymous
        }
        (None, Some(_), _) => {
            env.invalid("OPCUA_USER", "", "set when a password is given");
            UserIdentity::Anonymous
        }
        (None, None, Some((cert_file, key_file))) => UserIdentity::Certificate { cert_file, key_file },
        (Some(_), Some(_), Some(_)) => {
            env.invalid(
                "OPCUA_USER_CERT",
                "",
                "not set together with OPCUA_USER (one identity: a user name or a certificate)",
            );
            UserIdentity::Anonymous
        }
    }
}

/// What a line of `OPCUA_TAGS` looks like, for error messages.
const TAG_LINE: &str = "lines of `<tag> <node-id> [unit] [sampling=<ms>] [queue=<n>] [deadband=<x>|<x>%] [poll=<ms>] [low=<x>] [high=<x>] [# description]` \
                        with a node id like ns=2;s=Name, ns=2;i=7, nsu=<uri>;s=Name or a browse path /Folder/Name";
const DEFAULT_QUEUE_SIZE: u32 = 10;
const DEFAULT_PUBLISH_INTERVAL_MS: u64 = 250;
const DEFAULT_RECONNECT_MAX_MS: u64 = 5_000;
const DEFAULT_BATCH_MAX: usize = 1_000;
const MAX_QUEUE_SIZE: u32 = 10_000;
const MAX_SAMPLING_MS: u64 = 3_600_000;
const MIN_POLL_MS: u64 = 10;

fn parse_tag_line(line: &str) -> Option<TagSpec> {
    // `# ...` after the settings describes the tag (browse prints the
    // server's description there).
    let (line, description) = shopfloor_core::env::split_description(line);
    let mut parts = line.split_whitespace();
    let tag = parts.next()?;
    let node_id = parts.next()?;
    if !looks_like_node_id(node_id) || !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
        return None;
    }
    let mut unit = None;
    let mut monitoring = Monitoring::default();
    let (mut low_limit, mut high_limit) = (None, None);
    let finite = |text: &str| text.parse::<f64>().ok().filter(|v| v.is_finite());
    for (index, part) in parts.enumerate() {
        match part.split_once('=') {
            Some(("sampling", ms)) => {
                monitoring.sampling_ms = Some(ms.parse().ok().filter(|ms| *ms <= MAX_SAMPLING_MS)?)
            }
            Some(("queue", n)) => {
                monitoring.queue_size = Some(n.parse().ok().filter(|n| (1..=MAX_QUEUE_SIZE).contains(n))?)
            }
            Some(("deadband", value)) => monitoring.deadband = Some(Deadband::parse(value)?),
            Some(("low", value)) => low_limit = Some(finite(value)?),
            Some(("high", value)) => high_limit = Some(finite(value)?),
            Some(("poll", ms)) => {
                monitoring.poll_ms = Some(ms.parse().ok().filter(|ms| (MIN_POLL_MS..=MAX_SAMPLING_MS).contains(ms))?)
            }
            Some(_) => return None,
            // The unit comes right after the node id, before any option.
            None if index == 0 => unit = Some(part.to_owned()),
            None => return None,
        }
    }
    if let (Some(low), Some(high)) = (low_limit, high_limit) {
        if low >= high {
            return None;
        }
    }
    Some(TagSpec {
        tag: tag.to_owned(),
        node_id: node_id.to_owned(),
        unit,
        low_limit,
        high_limit,
        monitoring,
        description,
    })
}

/// A cheap syntax check; the OPC UA client does the full parse. A browse
/// path from Objects (`/Cell1/SpindleTemperature`) also names a node.
fn looks_like_node_id(text: &str) -> bool {
    if let Some(path) = text.strip_prefix('/') {
        return !path.is_empty() && path.split('/').all(|name| !name.is_empty());
    }
    let identifier = match text.split_once(';') {
        Some((ns, rest)) if ns.starts_with("ns=") => rest,
        // `nsu=<uri>;<identifier>`: the URI may hold `;`, the identifier comes last.
        Some(_) if text.starts_with("nsu=") => text.rsplit(';').next().unwrap_or_default(),
        Some(_) => return false,
        None => text,
    };
    ["i=", "s=", "g=", "b="].iter().any(|kind| identifier.len() > 2 && identifier.starts_with(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(tags: &str) -> EnvVars {
        EnvVars::from([("OPCUA_ENDPOINT", "opc.tcp://127.0.0.1:4840/"), ("OPCUA_TAGS", tags)])
    }

    #[test]
    fn a_comment_after_the_settings_describes_the_tag() {
        let cfg = OpcuaSourceConfig::from_env(&env(
            "tt_4711 ns=2;s=TT_4711 °C high=90 # Reactor jacket outlet temperature\nft_1 ns=2;s=FT_1 #\n",
        ))
        .unwrap();
        assert_eq!(cfg.tags[0].description.as_deref(), Some("Reactor jacket outlet temperature"));
        assert_eq!((cfg.tags[0].unit.as_deref(), cfg.tags[0].high_limit), (Some("°C"), Some(90.0)));
        assert_eq!(cfg.tags[1].description, None, "an empty comment is no description");
    }

    #[test]
    fn tag_lines_give_tag_node_and_unit() {
        let cfg = OpcuaSourceConfig::from_env(&env(
            "spindle_temperature ns=2;s=Cell1.SpindleTemperature °C\npart_count ns=2;i=7\n",
        ))
        .unwrap();
        let by_uri =
            OpcuaSourceConfig::from_env(&env("t nsu=urn:shopfloor-slm:plant-sim;s=Cell1.SpindleTemperature °C"));
        assert!(by_uri.is_ok(), "{by_uri:?}");
        let by_path = OpcuaSourceConfig::from_env(&env("t /Cell1/SpindleTemperature °C"));
        assert_eq!(by_path.map(|c| c.tags[0].node_id.clone()).ok().as_deref(), Some("/Cell1/SpindleTemperature"));
        assert!(OpcuaSourceConfig::from_env(&env("t / °C")).is_err());
        assert_eq!(
            cfg.tags,
            vec![
                TagSpec {
                    tag: "spindle_temperature".into(),
                    node_id: "ns=2;s=Cell1.SpindleTemperature".into(),
                    unit: Some("°C".into()),
                    low_limit: None,
                    high_limit: None,
                    monitoring: Monitoring::default(),
                    description: None,
                },
                TagSpec {
                    tag: "part_count".into(),
                    node_id: "ns=2;i=7".into(),
                    unit: None,
                    low_limit: None,
                    high_limit: None,
                    monitoring: Monitoring::default(),
                    description: None,
                },
            ]
        );
    }

    #[test]
    fn a_bad_node_id_names_opcua_tags_and_the_line() {
        let err = OpcuaSourceConfig::from_env(&env("speed SpindleSpeed rpm")).unwrap_err();
        assert!(err.names_field("OPCUA_TAGS"), "{err}");
        assert!(err.to_string().contains("speed SpindleSpeed rpm"), "{err}");
    }

    #[test]
    fn tags_may_set_sampling_queue_and_deadband_over_the_group_defaults() {
        let mut vars = env("t ns=2;i=1 °C sampling=100 deadband=0.5\nu ns=2;i=2 queue=50 deadband=2%\nv ns=2;i=3");
        vars.insert("OPCUA_DEADBAND", "0.1");
        vars.insert("OPCUA_SAMPLING_MS", "500");
        let cfg = OpcuaSourceConfig::from_env(&vars).unwrap();
        let effective: Vec<Monitoring> = cfg.tags.iter().map(|t| t.monitoring.or(cfg.monitoring_defaults)).collect();
        assert_eq!(cfg.tags[0].unit.as_deref(), Some("°C"));
        let expect = |sampling, queue, deadband| Monitoring {
            sampling_ms: Some(sampling),
            queue_size: Some(queue),
            deadband: Some(deadband),
            poll_ms: None,
        };
        assert_eq!(effective[0], expect(100, 10, Deadband::Absolute(0.5)));
        assert_eq!(effective[1], expect(500, 50, Deadband::Percent(2.0)));
        assert_eq!(effective[2], expect(500, 10, Deadband::Absolute(0.1)));
        let polled = OpcuaSourceConfig::from_env(&env("p ns=2;i=1 poll=1000")).unwrap();
        assert_eq!(polled.tags[0].monitoring.poll_ms, Some(1000));
        let limited = OpcuaSourceConfig::from_env(&env("t ns=2;i=1 °C low=-5 high=80")).unwrap();
        assert_eq!((limited.tags[0].low_limit, limited.tags[0].high_limit), (Some(-5.0), Some(80.0)));
    }

    #[test]
    fn bad_options_name_the_line() {
        for line in [
            "t ns=2;i=1 low=5 high=1",
            "t ns=2;i=1 high=NaN",
            "t ns=2;i=1 poll=5",
            "t ns=2;i=1 deadband=-1",
            "t ns=2;i=1 deadband=150%",
            "t ns=2;i=1 queue=0",
            "t ns=2;i=1 speed=3",
            "t ns=2;i=1 °C rpm",
        ] {
            let err = OpcuaSourceConfig::from_env(&env(line)).unwrap_err();
            assert!(err.names_field("OPCUA_TAGS") && err.to_string().contains(line), "{line}: {err}");
        }
        let mut vars = env("t ns=2;i=1");
        vars.insert("OPCUA_DEADBAND", "lots");
        assert!(OpcuaSourceConfig::from_env(&vars).unwrap_err().names_field("OPCUA_DEADBAND"));
    }

    #[test]
    fn a_duplicate_tag_is_rejected() {
        let err = OpcuaSourceConfig::from_env(&env("a ns=2;i=1\na ns=2;i=2")).unwrap_err();
        assert!(err.to_string().contains("distinct tag names"), "{err}");
    }

    #[test]
    fn with_defaults_matches_an_env_with_only_endpoint_and_tags() {
        let parsed = OpcuaSourceConfig::from_env(&env("a ns=2;i=1")).unwrap();
        assert_eq!(OpcuaSourceConfig::with_defaults(parsed.endpoint.clone(), parsed.tags.clone()), parsed);
    }

    #[test]
    fn security_defaults_to_none_and_a_policy_defaults_to_sign_and_encrypt() {
        let plain = OpcuaSourceConfig::from_env(&env("a ns=2;i=1")).unwrap();
        assert_eq!(plain.security, OpcuaClientSecurity::default());
        assert_eq!(
            (plain.security.endpoint, &plain.security.identity),
            (EndpointSecurity::NONE, &UserIdentity::Anonymous)
        );
        let mut vars = env("a ns=2;i=1");
        vars.insert("OPCUA_SECURITY_POLICY", "Basic256Sha256");
        vars.insert("OPCUA_PKI_DIR", "/var/lib/shopfloor/pki");
        let secured = OpcuaSourceConfig::from_env(&vars).unwrap();
        assert_eq!(secured.security.endpoint.to_string(), "Basic256Sha256/SignAndEncrypt");
        vars.insert("OPCUA_SECURITY_MODE", "Sign");
        assert_eq!(OpcuaSourceConfig::from_env(&vars).unwrap().security.endpoint.mode, SecurityMode::Sign);
    }

    #[test]
    fn bad_security_settings_are_named() {
        let with = |pairs: &[(&str, &str)]| {
            let mut vars = env("a ns=2;i=1");
            vars.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            OpcuaSourceConfig::from_env(&vars).unwrap_err()
        };
        assert!(with(&[("OPCUA_SECURITY_POLICY", "Basic128Rsa15"), ("OPCUA_PKI_DIR", "/p")])
            .names_field("OPCUA_SECURITY_POLICY"));
        assert!(with(&[("OPCUA_SECURITY_POLICY", "Basic256Sha256")]).names_field("OPCUA_PKI_DIR"));
        assert!(with(&[("OPCUA_SECURITY_MODE", "Sign")]).names_field("OPCUA_SECURITY_MODE"));
        assert!(with(&[
            ("OPCUA_SECURITY_POLICY", "Basic256Sha256"),
            ("OPCUA_SECURITY_MODE", "None"),
            ("OPCUA_PKI_DIR", "/p")
        ])
        .names_field("OPCUA_SECURITY_MODE"));
        assert!(with(&[("OPCUA_TRUST_UNKNOWN_SERVER", "maybe")]).names_field("OPCUA_TRUST_UNKNOWN_SERVER"));
    }

    #[test]
    fn a_user_needs_a_password_which_never_shows() {
        let mut vars = env("a ns=2;i=1");
        vars.insert("OPCUA_USER", "operator");
        assert!(OpcuaSourceConfig::from_env(&vars).unwrap_err().names_field("OPCUA_PASSWORD"));
        vars.insert("OPCUA_PASSWORD", "hunter2");
        let cfg = OpcuaSourceConfig::from_env(&vars).unwrap();
        assert_eq!(cfg.security.identity.describe(), "user operator");
        assert!(!format!("{cfg:?}").contains("hunter2"));
        vars.insert("OPCUA_PASSWORD_FILE", "/nonexistent");
        let err = OpcuaSourceConfig::from_env(&vars).unwrap_err();
        assert!(err.names_field("OPCUA_PASSWORD_FILE") && !err.to_string().contains("hunter2"), "{err}");
        let mut certificate = env("a ns=2;i=1");
        certificate.insert("OPCUA_USER_CERT", "/nonexistent/user.der");
        let err = OpcuaSourceConfig::from_env(&certificate).unwrap_err();
        assert!(err.names_field("OPCUA_USER_CERT") && err.names_field("OPCUA_USER_KEY"), "{err}");
    }

    #[test]
    fn tags_may_come_from_a_file() {
        let path = std::env::temp_dir().join(format!("opcua-tags-{}.txt", std::process::id()));
        std::fs::write(&path, "# from a file\na ns=2;i=1\nb ns=2;i=2 °C\n").unwrap();
        let vars = EnvVars::from([
            ("OPCUA_ENDPOINT", "opc.tcp://127.0.0.1:4840/"),
            ("OPCUA_TAGS_FILE", &*path.display().to_string()),
        ]);
        let cfg = OpcuaSourceConfig::from_env(&vars);
        let _ = std::fs::remove_file(&path);
        assert_eq!(cfg.unwrap().tags.len(), 2);
        let mut both = env("a ns=2;i=1");
        both.insert("OPCUA_TAGS_FILE", "/nonexistent");
        assert!(OpcuaSourceConfig::from_env(&both).unwrap_err().names_field("OPCUA_TAGS_FILE"));
        let neither = EnvVars::from([("OPCUA_ENDPOINT", "opc.tcp://h:4840/")]);
        assert!(OpcuaSourceConfig::from_env(&neither).unwrap_err().names_field("OPCUA_TAGS"));
    }

    #[test]
    fn a_missing_endpoint_is_named() {
        let vars = EnvVars::from([("OPCUA_TAGS", "a ns=2;i=1")]);
        let err = OpcuaSourceConfig::from_env(&vars).unwrap_err();
        assert!(err.names_field("OPCUA_ENDPOINT"), "{err}");
    }

    #[test]
    fn an_http_endpoint_is_rejected() {
        let mut vars = env("a ns=2;i=1");
        vars.insert("OPCUA_ENDPOINT", "http://plc:4840");
        let err = OpcuaSourceConfig::from_env(&vars).unwrap_err();
        assert!(err.to_string().contains("http://plc:4840"), "{err}");
    }
}
