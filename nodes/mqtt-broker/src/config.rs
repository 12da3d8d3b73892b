//! `mqtt-broker`: TLS and accounts of the embedded broker.
//!
//! The listen address is `MQTT_EMBEDDED_LISTEN` ([`super::MqttConfig`]),
//! shared with the client nodes; these settings exist only on the broker.

use std::collections::BTreeMap;
use std::path::PathBuf;

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars, Secret};

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
        let users = env.users_file("BROKER_USERS_FILE");
        env.finish(&["BROKER_"])?;
        Ok(Self { tls, users })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_set_means_plain_tcp_and_anonymous_clients() {
        assert_eq!(EmbeddedBrokerConfig::from_env("b", &EnvVars::new()).unwrap(), EmbeddedBrokerConfig::default());
    }

    #[test]
    fn half_a_tls_identity_and_missing_files_are_named() {
        let vars =
            EnvVars::from([("BROKER_TLS_CERT", "/nonexistent/cert.pem"), ("BROKER_USERS_FILE", "/nonexistent/users")]);
        let err = EmbeddedBrokerConfig::from_env("b", &vars).unwrap_err();
        assert!(err.names_field("BROKER_TLS_CERT") && err.names_field("BROKER_TLS_KEY"), "{err}");
        assert!(err.names_field("BROKER_USERS_FILE"), "{err}");
    }
}
