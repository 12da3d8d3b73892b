//! MQTT settings shared by `mqtt-broker`, `mqtt-source` and `mqtt-sink`, so the
//! three always agree on where the broker is and how topics are laid out.

use std::net::SocketAddr;

use super::env::{ConfigError, EnvReader, EnvVars};
use crate::topics::TopicLayout;

/// Which broker the MQTT nodes use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerTarget {
    /// The plant's own broker (`MQTT_BROKER_URL=mqtt://host:port`).
    External {
        /// Broker host.
        host: String,
        /// Broker port.
        port: u16,
    },
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

/// MQTT settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    /// Broker to use.
    pub broker: BrokerTarget,
    /// Topic layout (`MQTT_TOPIC_ROOT`, `<site>/<area>/<line>`, default `plant1/assembly/cell1`).
    pub topics: TopicLayout,
    /// Client id prefix (`MQTT_CLIENT_ID`, default: the node's name).
    pub client_id: String,
    /// Largest accepted question payload in bytes (`MQTT_MAX_PAYLOAD_BYTES`, default 16384).
    pub max_payload_bytes: usize,
    /// QoS of subscriptions and publications (`MQTT_QOS`, 0..=2, default 1).
    pub qos: u8,
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
        let broker = match url {
            Some(url) => parse_broker_url(&url).unwrap_or_else(|| {
                env.invalid("MQTT_BROKER_URL", &url, "mqtt://host:port, or empty for the embedded broker");
                BrokerTarget::External { host: String::new(), port: 0 }
            }),
            None => BrokerTarget::Embedded {
                listen: listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 1883))),
            },
        };
        let root = env.string_or("MQTT_TOPIC_ROOT", "plant1/assembly/cell1");
        let topics = TopicLayout::new(&root).unwrap_or_else(|| {
            env.invalid("MQTT_TOPIC_ROOT", &root, "`<site>/<area>/<line>` without wildcards");
            TopicLayout::fallback()
        });
        let client_id = env.string_or("MQTT_CLIENT_ID", node);
        let max_payload_bytes =
            env.parsed_or("MQTT_MAX_PAYLOAD_BYTES", 16_384usize, "bytes in 64..=1048576", |v| {
                (64..=1_048_576).contains(v)
            });
        let qos = env.parsed_or("MQTT_QOS", 1u8, "0, 1 or 2", |q| *q <= 2);
        env.finish(&["MQTT_"])?;
        Ok(Self {
            broker,
            topics,
            client_id,
            max_payload_bytes,
            qos,
        })
    }
}

fn parse_broker_url(url: &str) -> Option<BrokerTarget> {
    let rest = url.strip_prefix("mqtt://").or_else(|| url.strip_prefix("tcp://"))?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().ok().filter(|p| *p > 0)?),
        None => (rest, 1883),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty() && !host.contains('/')).then(|| BrokerTarget::External {
        host: host.to_owned(),
        port,
    })
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
    fn qos_three_is_rejected() {
        let err = MqttConfig::from_env("x", &vars(&[("MQTT_QOS", "3")])).unwrap_err();
        assert!(err.names_field("MQTT_QOS"), "{err}");
    }
}
