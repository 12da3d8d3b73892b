//! `mqtt-broker`: TLS and accounts of the embedded broker.
//!
//! The listen address is `MQTT_EMBEDDED_LISTEN` ([`super::MqttConfig`]),
//! shared with the client nodes; these settings exist only on the broker.

use std::collections::BTreeMap;
use std::path::PathBuf;

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars, Secret};

use crate::acl::Acl;

/// Embedded broker settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmbeddedBrokerConfig {
    /// Serve TLS only, with this certificate chain and key (`BROKER_TLS_CERT`,
    /// `BROKER_TLS_KEY`, PEM, both or neither).
    pub tls: Option<BrokerTls>,
    /// Accounts from `BROKER_USERS_FILE` (lines `user:password`, `#`
    /// comments); when set, clients without a listed account are refused.
    pub users: Option<BTreeMap<String, Secret>>,
    /// Per-topic rights from `BROKER_ACL_FILE`; needs `BROKER_USERS_FILE`
    /// (without passwords a user name proves nothing).
    pub acl: Option<Acl>,
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
        let acl_file = env.existing_file("BROKER_ACL_FILE");
        let acl = acl_file.filter(|path| path.is_file()).and_then(|path| match std::fs::read_to_string(&path) {
            Err(error) => {
                env.invalid("BROKER_ACL_FILE", &path.display().to_string(), &format!("cannot be read: {error}"));
                None
            }
            Ok(text) => match Acl::parse(&text) {
                Ok(acl) => Some(acl),
                Err(lines) => {
                    let why = lines.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                    env.invalid("BROKER_ACL_FILE", &path.display().to_string(), &why);
                    None
                }
            },
        });
        if acl.is_some() && users.is_none() {
            env.invalid("BROKER_ACL_FILE", "", "needs BROKER_USERS_FILE: without passwords a user name proves nothing");
        }
        env.finish(&["BROKER_"])?;
        Ok(Self { tls, users, acl })
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

    #[test]
    fn an_acl_needs_accounts_and_its_bad_lines_are_named() {
        let dir = std::env::temp_dir().join(format!("broker-acl-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let acl = dir.join("acl");
        std::fs::write(&acl, "user sink\ntopic write a/#/b\n").unwrap();
        let users = dir.join("users");
        std::fs::write(&users, "sink:pw\n").unwrap();
        let path = |p: &std::path::Path| p.display().to_string();
        let bad = EnvVars::from([("BROKER_ACL_FILE", path(&acl)), ("BROKER_USERS_FILE", path(&users))]);
        let err = EmbeddedBrokerConfig::from_env("b", &bad).unwrap_err();
        assert!(err.names_field("BROKER_ACL_FILE") && err.to_string().contains("line 2"), "{err}");

        std::fs::write(&acl, "user sink\ntopic write a/#\n").unwrap();
        let alone = EnvVars::from([("BROKER_ACL_FILE", path(&acl))]);
        let err = EmbeddedBrokerConfig::from_env("b", &alone).unwrap_err();
        assert!(err.to_string().contains("BROKER_USERS_FILE"), "{err}");
        let good = EnvVars::from([("BROKER_ACL_FILE", path(&acl)), ("BROKER_USERS_FILE", path(&users))]);
        assert!(EmbeddedBrokerConfig::from_env("b", &good).unwrap().acl.is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
