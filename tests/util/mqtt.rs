//! A plain MQTT client for tests: publish questions, collect what arrives.

use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};

/// A message received by the test client.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    /// Payload as JSON (`Null` if it was not JSON).
    pub json: serde_json::Value,
    /// The broker delivered it as a retained message.
    pub retained: bool,
}

/// A rumqttc client with TCP no-delay: without it, Nagle's algorithm adds
/// tens of ms to each small message.
pub fn client_with_nodelay(options: MqttOptions, capacity: usize) -> (Client, rumqttc::Connection) {
    let (client, mut connection) = Client::new(options, capacity);
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    connection.eventloop.set_network_options(network);
    (client, connection)
}

/// A connected client with its subscriptions in place.
pub struct TestClient {
    client: Client,
    received: Receiver<Received>,
}

impl TestClient {
    /// Connects to `127.0.0.1:port` and subscribes to `filters`; returns once
    /// the broker acknowledged the subscriptions (bounded wait).
    pub fn connect(port: u16, filters: &[String]) -> anyhow::Result<Self> {
        Self::connect_with(port, filters, true, None)
    }

    /// Like [`connect`](Self::connect) with a user name and password.
    pub fn connect_as(port: u16, filters: &[String], user: &str, password: &str) -> anyhow::Result<Self> {
        Self::connect_with(port, filters, true, Some((user, password)))
    }

    /// Like [`connect`](Self::connect) under a client id of its own
    /// (`name`), for several clients of one process on one broker.
    pub fn connect_named(port: u16, filters: &[String], name: &str) -> anyhow::Result<Self> {
        Self::connect_with_id(format!("test-{name}-{}-{port}", std::process::id()), port, filters, true, None)
    }

    /// Like [`connect`](Self::connect) with a persistent session: the broker
    /// keeps QoS 1 messages for this client while it is away (and, with
    /// persistence, across a broker restart).
    pub fn connect_persistent(port: u16, filters: &[String]) -> anyhow::Result<Self> {
        Self::connect_with(port, filters, false, None)
    }

    /// Like [`connect_persistent`](Self::connect_persistent) under a client
    /// id of its own (`name`), beside another test client on the same broker.
    pub fn connect_persistent_named(port: u16, filters: &[String], name: &str) -> anyhow::Result<Self> {
        Self::connect_with_id(format!("test-{name}-{}-{port}", std::process::id()), port, filters, false, None)
    }

    fn connect_with(
        port: u16,
        filters: &[String],
        clean_session: bool,
        login: Option<(&str, &str)>,
    ) -> anyhow::Result<Self> {
        Self::connect_with_id(format!("test-{}-{port}", std::process::id()), port, filters, clean_session, login)
    }

    fn connect_with_id(
        client_id: String,
        port: u16,
        filters: &[String],
        clean_session: bool,
        login: Option<(&str, &str)>,
    ) -> anyhow::Result<Self> {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(1 << 20, 1 << 20)
            .set_clean_session(clean_session);
        if let Some((user, password)) = login {
            options.set_credentials(user, password);
        }
        let (client, mut connection) = client_with_nodelay(options, 64);
        let (tx, received) = channel();
        let (suback_tx, suback_rx) = channel();
        let subscriber = client.clone();
        let filter_count = filters.len();
        let filters = filters.to_vec();
        std::thread::spawn(move || {
            for notification in connection.iter() {
                match notification {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        for filter in &filters {
                            let _ = subscriber.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                        }
                    }
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        let _ = suback_tx.send(());
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        let json = serde_json::from_slice(&p.payload).unwrap_or(serde_json::Value::Null);
                        if tx.send(Received { topic: p.topic, json, retained: p.retain }).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // The broker may not be up yet: keep trying, slowly.
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        for _ in 0..filter_count {
            let left = deadline.saturating_duration_since(Instant::now());
            suback_rx
                .recv_timeout(left)
                .map_err(|_| anyhow::anyhow!("the broker did not acknowledge the test subscriptions within 30 s"))?;
        }
        Ok(Self { client, received })
    }

    /// Publishes `payload` with QoS 1.
    pub fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) -> anyhow::Result<()> {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload.into())?;
        Ok(())
    }

    /// The next message matching `wanted`, within `timeout`. Messages
    /// already received are looked at even when the time is up (a caller
    /// that was busy elsewhere for its whole window still sees what came).
    pub fn wait_for(&self, timeout: Duration, mut wanted: impl FnMut(&Received) -> bool) -> Option<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.received.recv_timeout(left) {
                Ok(message) if wanted(&message) => return Some(message),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }
}
