//! `mqtt-sink`'s settings: the broker connection (`shopfloor_mqtt::config`),
//! how alerts are published, and the on-disk outbox that holds messages
//! until the broker acknowledged them.

use std::path::PathBuf;

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars};

/// Alert delivery settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertDeliveryConfig {
    /// Also publish each alert, retained, to `<root>/alerts/<station>/last`
    /// (`ALERTS_RETAIN_LAST`, `true`/`false`, default `false`), so that a
    /// panel that connects later sees every station's last alert at once.
    pub retain_last: bool,
}

impl AlertDeliveryConfig {
    /// Parses the alert settings of the node named `node`.
    pub fn from_env(node: &str, vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new(node, vars);
        let retain_last = env.parsed_or("ALERTS_RETAIN_LAST", false, "true or false", |_| true);
        env.finish(&["ALERTS_"])?;
        Ok(Self { retain_last })
    }
}

/// Store-and-forward settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Folder of the outbox journal (`OUTBOX_DIR`, default `out/outbox/<node>`,
    /// relative to the dataflow's folder). Survives a restart of the node.
    pub dir: PathBuf,
    /// Most messages held (`OUTBOX_MAX_MESSAGES`, 1..=10000000, default 100000);
    /// beyond it the oldest low-priority message is dropped (counted, logged).
    pub max_messages: usize,
    /// Publications per second while catching up after an outage
    /// (`OUTBOX_CATCHUP_PER_SEC`, 1..=100000, default 500).
    pub catchup_per_sec: u32,
    /// Unacknowledged publications at a time (`OUTBOX_INFLIGHT`, 1..=65535,
    /// default 16; Mosquitto's default limit is 20).
    pub inflight: usize,
}

impl OutboxConfig {
    /// Parses the outbox settings of the node named `node`.
    pub fn from_env(node: &str, vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new(node, vars);
        let dir = PathBuf::from(env.string_or("OUTBOX_DIR", &format!("out/outbox/{node}")));
        let max_messages = env.parsed_or("OUTBOX_MAX_MESSAGES", 100_000usize, "a count in 1..=10000000", |n| {
            (1..=10_000_000).contains(n)
        });
        let catchup_per_sec =
            env.parsed_or("OUTBOX_CATCHUP_PER_SEC", 500u32, "a rate in 1..=100000", |n| (1..=100_000).contains(n));
        let inflight = env.parsed_or("OUTBOX_INFLIGHT", 16usize, "a count in 1..=65535", |n| (1..=65_535).contains(n));
        env.finish(&["OUTBOX_"])?;
        Ok(Self { dir, max_messages, catchup_per_sec, inflight })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retaining_the_last_alert_is_off_unless_asked() {
        assert!(!AlertDeliveryConfig::from_env("s", &EnvVars::new()).unwrap().retain_last);
        let on = EnvVars::from([("ALERTS_RETAIN_LAST", "true")]);
        assert!(AlertDeliveryConfig::from_env("s", &on).unwrap().retain_last);
        let bad = EnvVars::from([("ALERTS_RETAIN_LAST", "yes")]);
        assert!(AlertDeliveryConfig::from_env("s", &bad).unwrap_err().names_field("ALERTS_RETAIN_LAST"));
    }

    #[test]
    fn defaults_and_errors() {
        let cfg = OutboxConfig::from_env("mqtt-sink", &EnvVars::new()).unwrap();
        assert_eq!(cfg.dir, PathBuf::from("out/outbox/mqtt-sink"));
        assert_eq!((cfg.max_messages, cfg.catchup_per_sec, cfg.inflight), (100_000, 500, 16));
        let bad = EnvVars::from([("OUTBOX_INFLIGHT", "0"), ("OUTBOX_MAXMESSAGES", "1")]);
        let err = OutboxConfig::from_env("mqtt-sink", &bad).unwrap_err();
        assert!(err.names_field("OUTBOX_INFLIGHT") && err.names_field("OUTBOX_MAXMESSAGES"), "{err}");
    }
}
