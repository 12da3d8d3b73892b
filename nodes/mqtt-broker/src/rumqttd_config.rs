//! The rumqttd configuration behind the front door: one MQTT 3.1.1 and one
//! MQTT 5 listener on loopback ports of our choosing.
//!
//! rumqttd's `RouterConfig::default()` is all zeros (it would refuse every
//! client), so every limit is set here explicitly.

use std::collections::HashMap;
use std::net::SocketAddr;

use rumqttd::{Config, ConnectionSettings, RouterConfig, ServerSettings};

/// A complete configuration. `users` (name to password), when given, is also
/// checked by rumqttd itself, so a local process that finds the internal
/// ports cannot skip the front door's login check.
pub fn broker_config(
    v4: SocketAddr,
    v5: SocketAddr,
    max_payload_bytes: usize,
    users: Option<HashMap<String, String>>,
) -> Config {
    let server = |name: &str, listen: SocketAddr| ServerSettings {
        name: name.to_owned(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 5_000,
            // Room for answers and dead letters, which carry more than a question.
            max_payload_size: (max_payload_bytes * 4).max(256 * 1024),
            max_inflight_count: 100,
            auth: users.clone(),
            external_auth: None,
            dynamic_filters: true,
        },
    };
    Config {
        id: 0,
        router: RouterConfig {
            max_connections: 1_000,
            max_outgoing_packet_count: 200,
            max_segment_size: 10 * 1024 * 1024,
            max_segment_count: 10,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(HashMap::from([("v4".to_owned(), server("v4-embedded", v4))])),
        v5: Some(HashMap::from([("v5".to_owned(), server("v5-embedded", v5))])),
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_config_is_not_the_all_zero_default() {
        let config = broker_config("127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap(), 16_384, None);
        assert!(config.router.max_connections > 0);
        assert!(config.router.max_segment_size > 0 && config.router.max_segment_count > 0);
        assert!(config.v4.unwrap()["v4"].connections.max_payload_size >= 16_384);
        assert_eq!(config.v5.unwrap()["v5"].listen.port(), 2);
    }
}
