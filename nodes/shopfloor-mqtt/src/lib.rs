//! The MQTT client side shared by `mqtt-source` and `mqtt-sink`.
//!
//! [`connect`] builds a [`rumqttc::Client`] from [`MqttConfig`] (TCP no-delay,
//! persistent session, keep-alive) and starts one thread that drives the
//! connection forever: it reconnects with capped backoff when the broker goes
//! away, re-subscribes after every connect (a restarted broker may have lost
//! the session), and hands incoming publishes and delivery acknowledgements to
//! the node through a channel. The node never touches the socket.
//!
//! [`NodeEvent`] and [`forward_dora_events`] put dora's events on the same
//! channel, so a node's loop waits on one thing.

mod events;

use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::Duration;

use rumqttc::{Client, ConnectReturnCode, Event, Incoming, MqttOptions, Outgoing, QoS, TlsConfiguration, Transport};
use shopfloor_core::config::{MqttConfig, TlsSettings};

pub use events::{forward_dora_events, NodeEvent};
pub use rumqttc;

/// What the connection thread reports to the node.
#[derive(Debug)]
pub enum MqttEvent {
    /// A message arrived on a subscribed topic.
    Message {
        /// Topic it was published on.
        topic: String,
        /// Raw payload.
        payload: Vec<u8>,
    },
    /// The broker accepted the connection (first time or after a reconnect).
    Connected,
    /// The broker acknowledged one QoS 1/2 publication of ours.
    Delivered,
    /// The connection was lost; the thread is reconnecting.
    Disconnected,
    /// [`connect_session`] only: the session's connection is up.
    SessionConnected {
        /// The session number given to `connect_session`.
        session: u64,
    },
    /// [`connect_session`] only: a publication went out with packet id `pkid`
    /// (in the order `publish` was called).
    Sent {
        /// Session number.
        session: u64,
        /// MQTT packet id.
        pkid: u16,
    },
    /// [`connect_session`] only: the broker acknowledged packet `pkid`.
    Acked {
        /// Session number.
        session: u64,
        /// MQTT packet id.
        pkid: u16,
    },
    /// [`connect_session`] only: the connection failed or was lost; the
    /// session is over and its client must be dropped.
    SessionEnded {
        /// Session number.
        session: u64,
        /// Why.
        reason: String,
    },
}

/// Maps a configured QoS number (validated to 0..=2) to rumqttc's type.
pub fn qos(level: u8) -> QoS {
    match level {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// Longest wait between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Connects as `<client_id>` and starts the connection thread.
///
/// `subscriptions` are (re)made on every connect; events go to `events`
/// (any type a [`MqttEvent`] converts into, so a node can merge them with its
/// dora events in one channel). The
/// thread ends when every [`Client`] handle is dropped or `events` is closed.
pub fn connect<E: From<MqttEvent> + Send + 'static>(
    config: &MqttConfig,
    subscriptions: Vec<String>,
    events: SyncSender<E>,
) -> std::io::Result<(Client, JoinHandle<()>)> {
    // A persistent session keeps QoS 1 messages queued for us at the broker
    // while we reconnect.
    let (client, mut connection) = new_client(config, false)?;

    let subscriber = client.clone();
    let qos = qos(config.qos);
    let thread = std::thread::Builder::new()
        .name("mqtt-connection".into())
        .spawn(move || {
            let mut backoff = Duration::from_millis(100);
            let mut warned_down = false;
            for notification in connection.iter() {
                let event = match notification {
                    Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                        if ack.code != ConnectReturnCode::Success {
                            tracing::warn!(reason = refusal(ack.code), "broker refused the connection");
                            continue;
                        }
                        backoff = Duration::from_millis(100);
                        warned_down = false;
                        tracing::info!("connected to MQTT broker");
                        for topic in &subscriptions {
                            if let Err(error) = subscriber.try_subscribe(topic.clone(), qos) {
                                tracing::warn!(%topic, %error, "cannot queue subscription");
                            }
                        }
                        MqttEvent::Connected
                    }
                    Ok(Event::Incoming(Incoming::Publish(publish))) => MqttEvent::Message {
                        topic: publish.topic,
                        payload: publish.payload.to_vec(),
                    },
                    Ok(Event::Incoming(Incoming::PubAck(_) | Incoming::PubComp(_))) => MqttEvent::Delivered,
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                    Ok(_) => continue,
                    Err(error) => {
                        if !warned_down {
                            match error {
                                rumqttc::ConnectionError::ConnectionRefused(code) => {
                                    tracing::warn!(reason = refusal(code), "broker refused the connection; retrying")
                                }
                                error => tracing::warn!(%error, "MQTT connection lost; reconnecting"),
                            }
                            warned_down = true;
                        }
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        MqttEvent::Disconnected
                    }
                };
                if events.send(E::from(event)).is_err() {
                    return;
                }
            }
        })?;
    Ok((client, thread))
}

/// One connection attempt and its life, for a node that keeps its own outbox
/// (`mqtt-sink`): unlike [`connect`], nothing is retried or re-sent here.
///
/// A clean session is used and the thread ends at the first error with
/// [`MqttEvent::SessionEnded`]; the node then drops the client (so rumqttc's
/// own queue, which could re-send or silently lose publications, dies with
/// it), re-sends everything unacknowledged from its outbox, and calls this
/// again with the next session number. Every event carries `session` so that
/// late events of an old session can be ignored.
pub fn connect_session<E: From<MqttEvent> + Send + 'static>(
    config: &MqttConfig,
    session: u64,
    events: SyncSender<E>,
) -> std::io::Result<Client> {
    let (client, mut connection) = new_client(config, true)?;
    std::thread::Builder::new()
        .name(format!("mqtt-session-{session}"))
        .spawn(move || {
            for notification in connection.iter() {
                let event = match notification {
                    Ok(Event::Incoming(Incoming::ConnAck(ack))) if ack.code == ConnectReturnCode::Success => {
                        MqttEvent::SessionConnected { session }
                    }
                    Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                        MqttEvent::SessionEnded { session, reason: format!("broker refused the connection: {}", refusal(ack.code)) }
                    }
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => MqttEvent::Sent { session, pkid },
                    Ok(Event::Incoming(Incoming::PubAck(ack))) => MqttEvent::Acked { session, pkid: ack.pkid },
                    Ok(Event::Incoming(Incoming::PubComp(comp))) => MqttEvent::Acked { session, pkid: comp.pkid },
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                    Ok(_) => continue,
                    Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
                        MqttEvent::SessionEnded { session, reason: format!("broker refused the connection: {}", refusal(code)) }
                    }
                    Err(error) => MqttEvent::SessionEnded { session, reason: error.to_string() },
                };
                let ended = matches!(event, MqttEvent::SessionEnded { .. });
                if events.send(E::from(event)).is_err() || ended {
                    return;
                }
            }
        })?;
    Ok(client)
}

/// A client and its connection: options from the config, TCP no-delay
/// (without it, Nagle's algorithm and delayed ACKs add ~40-90 ms to every
/// small question and answer), a bounded connect timeout.
fn new_client(config: &MqttConfig, clean_session: bool) -> std::io::Result<(Client, rumqttc::Connection)> {
    let (client, mut connection) = Client::new(options(config, clean_session)?, 256);
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    network.set_connection_timeout(5);
    connection.eventloop.set_network_options(network);
    Ok((client, connection))
}

/// Client options from the config: keep-alive, packet sizes, credentials, TLS.
fn options(config: &MqttConfig, clean_session: bool) -> std::io::Result<MqttOptions> {
    let (host, port) = config.broker.client_address();
    let mut options = MqttOptions::new(config.client_id.clone(), host, port);
    options
        .set_keep_alive(Duration::from_secs(10))
        .set_clean_session(clean_session)
        .set_max_packet_size(config.max_payload_bytes.max(1024) * 2, config.max_payload_bytes.max(1024) * 4);
    if let Some(credentials) = &config.credentials {
        options.set_credentials(credentials.username.clone(), credentials.password.expose());
    }
    if let Some(tls) = &config.tls {
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(std::sync::Arc::new(
            tls_client_config(tls)?,
        ))));
    }
    Ok(options)
}

/// A rustls client configuration trusting `ca_file`, with the client
/// certificate when one is configured. Errors name the file.
pub fn tls_client_config(tls: &TlsSettings) -> std::io::Result<rustls::ClientConfig> {
    use std::io::{Error, ErrorKind};
    let read_pem = |path: &std::path::Path| -> std::io::Result<Vec<u8>> {
        std::fs::read(path).map_err(|e| Error::new(e.kind(), format!("cannot read {}: {e}", path.display())))
    };
    let invalid = |path: &std::path::Path, what: &str| Error::new(ErrorKind::InvalidData, format!("{}: {what}", path.display()));
    let mut roots = rustls::RootCertStore::empty();
    let ca = read_pem(&tls.ca_file)?;
    for cert in rustls_pemfile::certs(&mut ca.as_slice()) {
        let cert = cert.map_err(|_| invalid(&tls.ca_file, "not a PEM certificate file"))?;
        roots.add(cert).map_err(|e| invalid(&tls.ca_file, &format!("unusable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(invalid(&tls.ca_file, "contains no certificate"));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::other(e.to_string()))?
        .with_root_certificates(roots);
    match &tls.client_auth {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_path, key_path)) => {
            let cert_pem = read_pem(cert_path)?;
            let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| invalid(cert_path, "not a PEM certificate file"))?;
            let key_pem = read_pem(key_path)?;
            let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
                .map_err(|_| invalid(key_path, "not a PEM key file"))?
                .ok_or_else(|| invalid(key_path, "contains no private key"))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| invalid(cert_path, &format!("certificate and key do not match: {e}")))
        }
    }
}

/// Why the broker refused, in words an operator can act on.
fn refusal(code: ConnectReturnCode) -> &'static str {
    match code {
        ConnectReturnCode::BadUserNamePassword => "bad user name or password (check MQTT_USERNAME and MQTT_PASSWORD / MQTT_PASSWORD_FILE)",
        ConnectReturnCode::NotAuthorized => "not authorized (check MQTT_USERNAME, the password and the broker's ACL)",
        ConnectReturnCode::BadClientId => "client id rejected (check MQTT_CLIENT_ID)",
        ConnectReturnCode::ServiceUnavailable => "service unavailable",
        ConnectReturnCode::RefusedProtocolVersion => "protocol version refused (the broker must speak MQTT 3.1.1)",
        ConnectReturnCode::Success => "accepted",
    }
}
