//! `mqtt-broker`: an MQTT broker inside the dataflow, for sites without one.
//!
//! No inputs, no outputs. When `MQTT_BROKER_URL` is empty (the demo default)
//! it serves MQTT 3.1.1 on `MQTT_EMBEDDED_LISTEN` (default `127.0.0.1:1883`),
//! which is also where `mqtt-source` and `mqtt-sink` then connect. When a URL
//! is set the plant's broker is used and this node only waits for stop, so the
//! same YAML serves both cases.
//!
//! The broker is rumqttd. Its `RouterConfig::default()` is all zeros (it would
//! refuse every client), so [`broker_config`] sets every limit explicitly.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};

use rumqttd::{Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Why the embedded broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr} (set MQTT_EMBEDDED_LISTEN to a free address, or MQTT_BROKER_URL to use an existing broker): {source}")]
    Bind {
        /// Address tried.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// rumqttd refused its configuration or failed.
    #[error("embedded broker failed: {0}")]
    Broker(String),
}

/// A complete rumqttd configuration with one MQTT 3.1.1 listener.
pub fn broker_config(listen: SocketAddr, max_payload_bytes: usize) -> Config {
    let connections = ConnectionSettings {
        connection_timeout_ms: 5_000,
        // Room for answers and dead letters, which carry more than a question.
        max_payload_size: (max_payload_bytes * 4).max(256 * 1024),
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = ServerSettings {
        name: "v4-embedded".to_owned(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
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
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        v5: None,
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    }
}

/// Starts the broker on its own threads and returns once it is listening.
///
/// rumqttd logs a bind failure instead of returning it, so the address is
/// tried first to give the operator a clear error.
pub fn start(listen: SocketAddr, max_payload_bytes: usize) -> Result<(), BrokerError> {
    TcpListener::bind(listen)
        .map_err(|source| BrokerError::Bind { addr: listen, source })?;
    let mut broker = rumqttd::Broker::new(broker_config(listen, max_payload_bytes));
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            if let Err(error) = broker.start() {
                tracing::error!(%error, "embedded broker stopped");
            }
        })
        .map_err(|e| BrokerError::Broker(e.to_string()))?;
    wait_until_listening(listen);
    Ok(())
}

/// Polls until the listener accepts connections (bounded: 5 s).
fn wait_until_listening(addr: SocketAddr) {
    for _ in 0..500 {
        if std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(50)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    tracing::warn!(%addr, "embedded broker is not accepting connections yet");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_config_is_not_the_all_zero_default() {
        let config = broker_config("127.0.0.1:1883".parse().unwrap(), 16_384);
        assert!(config.router.max_connections > 0);
        assert!(config.router.max_segment_size > 0 && config.router.max_segment_count > 0);
        assert!(config.v4.unwrap()["1"].connections.max_payload_size >= 16_384);
    }
}
