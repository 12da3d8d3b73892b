//! `mqtt-broker`: TLS and accounts of the embedded broker.
//!
//! The listen address is `MQTT_EMBEDDED_LISTEN` ([`super::MqttConfig`]),
//! shared with the client nodes; these settings exist only on the broker.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::env::{ConfigError, EnvReader, EnvVars};
use super::mqtt::Secret;

/// Embedded broker settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmbeddedBrokerConfig {
    /// Serve TLS only, with this certificate chain and key (`BROKER_TLS_CERT`,
    /// `BROKER_TLS_KEY`, PEM, both or neither).
    pub tls: Option<BrokerTls>,
    /// Accounts from `BROKER_USERS_FILE` (lines `user:password`, `#`
    /// comments); when set, clients without a listed account are refused.
    pub users: Option<BTreeMap<String, Secret>>,
}

/// The broker's TLS identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerTls {
    /// PEM certificate chain, server certificate first.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
    /// When set (`BROKER_TLS_CLIENT_CA`), clients must show a certificate
    /// issued by this CA.
    pub client_ca_file: Option<PathBuf>,
}

impl EmbeddedBrokerConfig {
    /// Parses the broker settings of the node named `node`.
    pub fn from_env(node: &str, vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new(node, vars);
        let cert = env.existing_file("BROKER_TLS_CERT");
        let key = env.existing_file("BROKER_TLS_KEY");
        let client_ca = env.existing_file("BROKER_TLS_CLIENT_CA");
        let identity = env.both_or_neither(("BROKER_TLS_CERT", cert), ("BROKER_TLS_KEY", key));
        if identity.is_none() && client_ca.is_some() {
            env.invalid("BROKER_TLS_CLIENT_CA", "", "used only with BROKER_TLS_CERT and BROKER_TLS_KEY");
        }
        let tls = identity.map(|(cert_file, key_file)| BrokerTls { cert_file, key_file, client_ca_file: client_ca });
        let users = env.optional_string("BROKER_USERS_FILE").and_then(|path| match std::fs::read_to_string(&path) {
            Ok(text) => match parse_users(&text) {
                Ok(users) => Some(users),
                Err(line) => {
                    // Never quote the line: it holds a password.
                    env.invalid("BROKER_USERS_FILE", &path, &format!("lines `user:password`; line {line} is not"));
                    None
                }
            },
            Err(_) => {
                env.invalid("BROKER_USERS_FILE", &path, "a readable file of `user:password` lines");
                None
            }
        });
        env.finish(&["BROKER_"])?;
        Ok(Self { tls, users })
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
    fn nothing_set_means_plain_tcp_and_anonymous_clients() {
        assert_eq!(EmbeddedBrokerConfig::from_env("b", &EnvVars::new()).unwrap(), EmbeddedBrokerConfig::default());
    }

    #[test]
    fn users_are_read_from_user_password_lines() {
        let users = parse_users("# gateway accounts\nnodes:s3cret:with:colons\n\nalice:pw\n").unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users["nodes"].expose(), "s3cret:with:colons");
        assert_eq!(parse_users("alice:pw\nbob\n").unwrap_err(), 2);
        assert_eq!(parse_users("# only a comment\n").unwrap_err(), 1);
    }

    #[test]
    fn half_a_tls_identity_and_missing_files_are_named() {
        let vars = EnvVars::from([
            ("BROKER_TLS_CERT".into(), "/nonexistent/cert.pem".into()),
            ("BROKER_USERS_FILE".into(), "/nonexistent/users".into()),
        ]);
        let err = EmbeddedBrokerConfig::from_env("b", &vars).unwrap_err();
        assert!(err.names_field("BROKER_TLS_CERT") && err.names_field("BROKER_TLS_KEY"), "{err}");
        assert!(err.names_field("BROKER_USERS_FILE"), "{err}");
    }
}
