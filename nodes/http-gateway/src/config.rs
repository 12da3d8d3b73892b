//! `http-gateway`: the OpenAI-compatible HTTP front door and `/metrics`.

use std::net::SocketAddr;
use std::path::PathBuf;

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars, Secret};

/// Settings of the HTTP gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    /// Address to listen on (`GATEWAY_LISTEN`, default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Bearer token every request except `/healthz` must carry
    /// (`GATEWAY_API_KEY` or `GATEWAY_API_KEY_FILE`); required when
    /// `listen` is not a loopback address.
    pub api_key: Option<Secret>,
    /// Largest request body in bytes (`GATEWAY_MAX_BODY_BYTES`, 1024..=10485760,
    /// default 65536); larger gets 413.
    pub max_body_bytes: usize,
    /// Chat requests served at once (`GATEWAY_MAX_CONCURRENT`, 1..=1024,
    /// default 16); more get 429 at once instead of queueing without bound.
    pub max_concurrent: usize,
    /// How long a chat request may wait for its answer (`GATEWAY_TIMEOUT_MS`,
    /// 100..=600000, default 30000); past it the client gets 504.
    pub timeout_ms: u64,
    /// Model name of the dataflow as a whole in `/v1/models`
    /// (`GATEWAY_MODEL_NAME`, default `shopfloor-assistant`): questions to it
    /// go wherever the dataflow routes them.
    pub model_name: String,
    /// Operator recorded for HTTP questions without a `user` field
    /// (`GATEWAY_OPERATOR`, default `http`).
    pub default_operator: String,
    /// Alarm journal of the console (`GATEWAY_CONSOLE_JOURNAL`, a file path;
    /// unset: alarms and acknowledgements are kept in memory only).
    pub console_journal: Option<PathBuf>,
    /// Folder of replay reports the console lists (`GATEWAY_CONSOLE_REPORTS`).
    pub console_reports: Option<PathBuf>,
    /// A value older than this is shown stale (`GATEWAY_CONSOLE_STALE_MS`,
    /// 500..=3600000, default 10000).
    pub console_stale_ms: i64,
    /// How long a console login lasts (`GATEWAY_CONSOLE_SESSION_MINUTES`,
    /// 1..=10080, default 720: a 12-hour shift).
    pub console_session_minutes: i64,
    /// Whether the console offers asking (`GATEWAY_CONSOLE_ASK`, default
    /// true); false where no assistant answers the gateway's questions (the
    /// vision dataflow).
    pub console_ask: bool,
}

impl GatewayConfig {
    /// Parses the gateway's settings.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("http-gateway", vars);
        let default_listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080));
        let listen = env.parsed_or("GATEWAY_LISTEN", default_listen, "an address like 127.0.0.1:8080", |_| true);
        let api_key = env.password("GATEWAY_API_KEY", "GATEWAY_API_KEY_FILE");
        if api_key.as_ref().is_some_and(|key| key.expose().trim().is_empty()) {
            env.invalid("GATEWAY_API_KEY_FILE", "", "a file whose first line is a non-empty key");
        }
        if !listen.ip().is_loopback() && api_key.is_none() {
            env.invalid(
                "GATEWAY_API_KEY",
                "",
                &format!(
                    "set (or GATEWAY_API_KEY_FILE) because GATEWAY_LISTEN={listen} is reachable from other machines"
                ),
            );
        }
        let max_body_bytes = env.parsed_or("GATEWAY_MAX_BODY_BYTES", 65_536usize, "bytes in 1024..=10485760", |n| {
            (1024..=10_485_760).contains(n)
        });
        let max_concurrent =
            env.parsed_or("GATEWAY_MAX_CONCURRENT", 16usize, "a count in 1..=1024", |n| (1..=1024).contains(n));
        let timeout_ms = env.parsed_or("GATEWAY_TIMEOUT_MS", 30_000u64, "milliseconds in 100..=600000", |n| {
            (100..=600_000).contains(n)
        });
        let model_name = env.string_or("GATEWAY_MODEL_NAME", "shopfloor-assistant");
        if model_name.trim().is_empty() {
            env.invalid("GATEWAY_MODEL_NAME", &model_name, "a non-empty name");
        }
        let default_operator = env.string_or("GATEWAY_OPERATOR", "http");
        let non_empty_path = |value: Option<String>| value.filter(|v| !v.trim().is_empty()).map(PathBuf::from);
        let console_journal = non_empty_path(env.optional_string("GATEWAY_CONSOLE_JOURNAL"));
        let console_reports = non_empty_path(env.optional_string("GATEWAY_CONSOLE_REPORTS"));
        let console_stale_ms =
            env.parsed_or("GATEWAY_CONSOLE_STALE_MS", 10_000i64, "milliseconds in 500..=3600000", |n| {
                (500..=3_600_000).contains(n)
            });
        let console_session_minutes =
            env.parsed_or("GATEWAY_CONSOLE_SESSION_MINUTES", 720i64, "minutes in 1..=10080", |n| {
                (1..=10_080).contains(n)
            });
        let console_ask = env.parsed_or("GATEWAY_CONSOLE_ASK", true, "true or false", |_| true);
        env.finish(&["GATEWAY_"])?;
        Ok(Self {
            listen,
            api_key,
            max_body_bytes,
            max_concurrent,
            timeout_ms,
            model_name,
            default_operator,
            console_journal,
            console_reports,
            console_stale_ms,
            console_session_minutes,
            console_ask,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> EnvVars {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_listen_on_loopback_without_a_key() {
        let cfg = GatewayConfig::from_env(&EnvVars::new()).unwrap();
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:8080");
        assert!(cfg.api_key.is_none());
        assert_eq!((cfg.max_body_bytes, cfg.max_concurrent, cfg.timeout_ms), (65_536, 16, 30_000));
        assert_eq!((cfg.console_journal, cfg.console_stale_ms, cfg.console_session_minutes), (None, 10_000, 720));
    }

    #[test]
    fn console_settings_are_read_and_checked() {
        let cfg = GatewayConfig::from_env(&vars(&[
            ("GATEWAY_CONSOLE_JOURNAL", "out/console/alarms.jsonl"),
            ("GATEWAY_CONSOLE_REPORTS", "../target/replay"),
        ]))
        .unwrap();
        assert_eq!(cfg.console_journal, Some(PathBuf::from("out/console/alarms.jsonl")));
        assert_eq!(cfg.console_reports, Some(PathBuf::from("../target/replay")));
        assert!(cfg.console_ask);
        let cfg = GatewayConfig::from_env(&vars(&[("GATEWAY_CONSOLE_ASK", "false")])).unwrap();
        assert!(!cfg.console_ask);
        let err = GatewayConfig::from_env(&vars(&[
            ("GATEWAY_CONSOLE_STALE_MS", "10"),
            ("GATEWAY_CONSOLE_SESSION_MINUTES", "0"),
        ]))
        .unwrap_err();
        assert!(
            err.names_field("GATEWAY_CONSOLE_STALE_MS") && err.names_field("GATEWAY_CONSOLE_SESSION_MINUTES"),
            "{err}"
        );
    }

    #[test]
    fn another_address_needs_a_key() {
        let err = GatewayConfig::from_env(&vars(&[("GATEWAY_LISTEN", "0.0.0.0:8080")])).unwrap_err();
        assert!(err.names_field("GATEWAY_API_KEY"), "{err}");
        assert!(err.to_string().contains("reachable from other machines"), "{err}");
        let cfg =
            GatewayConfig::from_env(&vars(&[("GATEWAY_LISTEN", "0.0.0.0:8080"), ("GATEWAY_API_KEY", "k")])).unwrap();
        assert_eq!(cfg.api_key.map(|k| k.expose().to_owned()), Some("k".to_owned()));
    }

    #[test]
    fn bad_values_and_typos_are_named_and_the_key_is_never_quoted() {
        let err = GatewayConfig::from_env(&vars(&[
            ("GATEWAY_LISTEN", "localhost"),
            ("GATEWAY_MAX_CONCURRENT", "0"),
            ("GATEWAY_TIMEOUT", "5"),
            ("GATEWAY_API_KEY", "sesame-4711"),
            ("GATEWAY_API_KEY_FILE", "/nonexistent"),
        ]))
        .unwrap_err();
        for field in ["GATEWAY_LISTEN", "GATEWAY_MAX_CONCURRENT", "GATEWAY_TIMEOUT", "GATEWAY_API_KEY_FILE"] {
            assert!(err.names_field(field), "{field}: {err}");
        }
        assert!(!err.to_string().contains("sesame"), "{err}");
    }
}
