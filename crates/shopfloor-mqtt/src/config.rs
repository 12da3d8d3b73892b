//! MQTT settings shared by `mqtt-broker`, `mqtt-source` and `mqtt-sink`, so the
//! three always agree on where the broker is and how topics are laid out.

use std::net::SocketAddr;
use std::path::PathBuf;

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars, Secret};
use shopfloor_core::topics::TopicLayout;

/// Which broker the MQTT nodes use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerTarget {
    /// The plant's own broker (`MQTT_BROKER_URL=mqtt://host:port`, or
    /// `mqtts://host:port` for TLS, default port 8883).
    External { host: String, port: u16 },
    /// The broker embedded in the dataflow (`mqtt-broker` node), used when no
    /// URL is set; it listens on `MQTT_EMBEDDED_LISTEN`.
    Embedded {
        /// Listen address (default `127.0.0.1:1883`).
        listen: SocketAddr,
    },
}

impl BrokerTarget {
    /// Host and port a client connects to.
    pub fn client_address(&self) -> (String, u16) {
        match self {
            BrokerTarget::External { host, port } => (host.clone(), *port),
            BrokerTarget::Embedded { listen } => (listen.ip().to_string(), listen.port()),
        }
    }
}

/// TLS to the broker (`mqtts://` URLs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// CA certificate(s) the broker's certificate must chain to, PEM
    /// (`MQTT_TLS_CA_FILE`, required with `mqtts://`).
    pub ca_file: PathBuf,
    /// Client certificate and key, PEM (`MQTT_TLS_CLIENT_CERT`,
    /// `MQTT_TLS_CLIENT_KEY`, both or neither).
    pub client_auth: Option<(PathBuf, PathBuf)>,
}

/// User name and password for the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `MQTT_USERNAME`.
    pub username: String,
    /// `MQTT_PASSWORD`, or the first line of the file `MQTT_PASSWORD_FILE`.
    pub password: Secret,
}

/// MQTT settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    pub broker: BrokerTarget,
    /// Topic layout (`MQTT_TOPIC_ROOT`, `<site>/<area>/<line>`, default `plant1/assembly/cell1`).
    pub topics: TopicLayout,
    /// Client id prefix (`MQTT_CLIENT_ID`, default: the node's name).
    pub client_id: String,
    /// Largest accepted question payload in bytes (`MQTT_MAX_PAYLOAD_BYTES`, default 16384).
    pub max_payload_bytes: usize,
    /// QoS of subscriptions and publications (`MQTT_QOS`, 0..=2, default 1).
    pub qos: u8,
    /// TLS, when the URL is `mqtts://`.
    pub tls: Option<TlsSettings>,
    /// Credentials, when `MQTT_USERNAME` is set.
    pub credentials: Option<Credentials>,
}

impl MqttConfig {
    /// Parses and validates MQTT settings for the node named `node`.
    pub fn from_env(node: &str, vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new(node, vars);
        let url = env.optional_string("MQTT_BROKER_URL");
        let listen_text = env.string_or("MQTT_EMBEDDED_LISTEN", "127.0.0.1:1883");
        let listen = listen_text.parse::<SocketAddr>().ok();
        if listen.is_none() {
            env.invalid("MQTT_EMBEDDED_LISTEN", &listen_text, "an address like 127.0.0.1:1883");
        }
        let use_tls = url.as_deref().is_some_and(|u| u.starts_with("mqtts://"));
        let broker = match url {
            Some(url) => parse_broker_url(&url).unwrap_or_else(|| {
                env.invalid(
                    "MQTT_BROKER_URL",
                    &url,
                    "mqtt://host:port or mqtts://host:port, or empty for the embedded broker",
                );
                BrokerTarget::External { host: String::new(), port: 0 }
            }),
            None => {
                BrokerTarget::Embedded { listen: listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 1883))) }
            }
        };
        let root = env.string_or("MQTT_TOPIC_ROOT", "plant1/assembly/cell1");
        let topics = TopicLayout::new(&root).unwrap_or_else(|| {
            env.invalid("MQTT_TOPIC_ROOT", &root, "`<site>/<area>/<line>` without wildcards");
            TopicLayout::fallback()
        });
        let client_id = env.string_or("MQTT_CLIENT_ID", node);
        let max_payload_bytes = env.parsed_or("MQTT_MAX_PAYLOAD_BYTES", 16_384usize, "bytes in 64..=1048576", |v| {
            (64..=1_048_576).contains(v)
        });
        let qos = env.parsed_or("MQTT_QOS", 1u8, "0, 1 or 2", |q| *q <= 2);
        let tls = tls_settings(&mut env, use_tls);
        let credentials = credentials(&mut env);
        env.finish(&["MQTT_"])?;
        Ok(Self { broker, topics, client_id, max_payload_bytes, qos, tls, credentials })
    }
}

fn tls_settings(env: &mut EnvReader<'_>, use_tls: bool) -> Option<TlsSettings> {
    let ca_file = env.existing_file("MQTT_TLS_CA_FILE");
    let cert = env.existing_file("MQTT_TLS_CLIENT_CERT");
    let key = env.existing_file("MQTT_TLS_CLIENT_KEY");
    let client_auth = env.both_or_neither(("MQTT_TLS_CLIENT_CERT", cert), ("MQTT_TLS_CLIENT_KEY", key));
    match (use_tls, ca_file) {
        (true, Some(ca_file)) => Some(TlsSettings { ca_file, client_auth }),
        (true, None) => {
            env.invalid("MQTT_TLS_CA_FILE", "", "set with an mqtts:// broker URL");
            None
        }
        (false, Some(_)) => {
            env.invalid("MQTT_TLS_CA_FILE", "", "used only with an mqtts:// broker URL");
            None
        }
        (false, None) => None,
    }
}

fn credentials(env: &mut EnvReader<'_>) -> Option<Credentials> {
    let username = env.optional_string("MQTT_USERNAME");
    let password = env.password("MQTT_PASSWORD", "MQTT_PASSWORD_FILE");
    match (username, password) {
        (Some(username), password) => {
            Some(Credentials { username, password: password.unwrap_or_else(|| Secret::new(String::new())) })
        }
        (None, Some(_)) => {
            env.invalid("MQTT_USERNAME", "", "set when a password is given");
            None
        }
        (None, None) => None,
    }
}

fn parse_broker_url(url: &str) -> Option<BrokerTarget> {
    let (rest, default_port) = match url.strip_prefix("mqtts://") {
        Some(rest) => (rest, 8883),
        None => (url.strip_prefix("mqtt://").or_else(|| url.strip_prefix("tcp://"))?, 1883),
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().ok().filter(|p| *p > 0)?),
        None => (rest, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty() && !host.contains('/')).then(|| BrokerTarget::External { host: host.to_owned(), port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> EnvVars {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn no_url_means_the_embedded_broker_on_loopback() {
        let cfg = MqttConfig::from_env("mqtt-source", &EnvVars::new()).unwrap();
        assert_eq!(cfg.broker.client_address(), ("127.0.0.1".to_owned(), 1883));
        assert!(matches!(cfg.broker, BrokerTarget::Embedded { .. }));
    }

    #[test]
    fn a_url_selects_the_plant_broker() {
        let cfg = MqttConfig::from_env("x", &vars(&[("MQTT_BROKER_URL", "mqtt://10.1.2.3:8883")])).unwrap();
        assert_eq!(cfg.broker, BrokerTarget::External { host: "10.1.2.3".into(), port: 8883 });
        let cfg = MqttConfig::from_env("x", &vars(&[("MQTT_BROKER_URL", "mqtt://broker")])).unwrap();
        assert_eq!(cfg.broker.client_address().1, 1883);
    }

    #[test]
    fn a_bad_url_names_mqtt_broker_url() {
        let err = MqttConfig::from_env("mqtt-sink", &vars(&[("MQTT_BROKER_URL", "http://x:1")])).unwrap_err();
        assert!(err.names_field("MQTT_BROKER_URL"), "{err}");
        assert!(err.to_string().starts_with("mqtt-sink has invalid configuration"), "{err}");
    }

    #[test]
    fn a_wildcard_in_the_topic_root_is_rejected() {
        let err = MqttConfig::from_env("x", &vars(&[("MQTT_TOPIC_ROOT", "plant/+/cell")])).unwrap_err();
        assert!(err.names_field("MQTT_TOPIC_ROOT"), "{err}");
    }

    #[test]
    fn mqtts_needs_a_ca_file_and_passwords_never_show() {
        let err = MqttConfig::from_env("x", &vars(&[("MQTT_BROKER_URL", "mqtts://broker")])).unwrap_err();
        assert!(err.names_field("MQTT_TLS_CA_FILE"), "{err}");
        let here = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let cfg = MqttConfig::from_env(
            "x",
            &vars(&[
                ("MQTT_BROKER_URL", "mqtts://broker"),
                ("MQTT_TLS_CA_FILE", here),
                ("MQTT_USERNAME", "gateway"),
                ("MQTT_PASSWORD", "hunter2"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.broker.client_address().1, 8883);
        assert_eq!(cfg.credentials.as_ref().map(|c| c.password.expose()), Some("hunter2"));
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn a_password_without_a_user_or_from_two_places_is_refused_without_showing_it() {
        let err = MqttConfig::from_env("x", &vars(&[("MQTT_PASSWORD", "hunter2")])).unwrap_err();
        assert!(err.names_field("MQTT_USERNAME") && !err.to_string().contains("hunter2"), "{err}");
        let err = MqttConfig::from_env(
            "x",
            &vars(&[("MQTT_USERNAME", "u"), ("MQTT_PASSWORD", "hunter2"), ("MQTT_PASSWORD_FILE", "/nonexistent")]),
        )
        .unwrap_err();
        assert!(err.names_field("MQTT_PASSWORD_FILE") && !err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn qos_three_is_rejected() {
        let err = MqttConfig::from_env("x", &vars(&[("MQTT_QOS", "3")])).unwrap_err();
        assert!(err.names_field("MQTT_QOS"), "{err}");
    }
}
