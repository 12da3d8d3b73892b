//! The MQTT client side shared by `mqtt-source` and `mqtt-sink`.
//!
//! Every node speaks MQTT 5 (rumqttc's `v5` client), for its request/response
//! properties: a question's response topic and correlation data travel with
//! it and come back on the answer (docs/decisions.md says why not 3.1.1).
//!
//! [`connect`] builds a [`Client`] from [`MqttConfig`] (TCP no-delay,
//! persistent session, keep-alive) and starts one thread that drives the
//! connection forever: it reconnects with capped backoff when the broker goes
//! away, re-subscribes after every connect (a restarted broker may have lost
//! the session), and hands incoming publishes and delivery acknowledgements to
//! the node through a channel. The node never touches the socket.
//!
//! [`NodeEvent`] and [`forward_dora_events`] put dora's events on the same
//! channel, so a node's loop waits on one thing.

pub mod config;
mod events;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::{MqttConfig, TlsSettings};
use rumqttc::v5::mqttbytes::matches;
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, PubAckReason, Publish, PublishProperties};
pub use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{ConnectionError, Event, Incoming, MqttOptions};
use rumqttc::{Outgoing, TlsConfiguration, Transport};

pub use events::{forward_dora_events, NodeEvent};
pub use rumqttc;
pub use rumqttc::v5::{Client, ClientError};

/// How long the broker keeps a node's session (subscriptions and queued QoS 1
/// messages) while the node is away: long enough for a gateway reboot.
const SESSION_EXPIRY_SECS: u32 = 24 * 60 * 60;

/// What the connection thread reports to the node.
#[derive(Debug)]
pub enum MqttEvent {
    /// A message arrived on a subscribed topic.
    Message {
        /// Topic it was published on.
        topic: String,
        payload: Vec<u8>,
        /// MQTT 5 response topic: where the publisher wants the reply.
        response_topic: Option<String>,
        /// MQTT 5 correlation data, to be returned with the reply.
        correlation_data: Option<Vec<u8>>,
        /// [`connect_acknowledged`] only, QoS 1/2 only: hand to
        /// [`Acknowledger::acknowledge`] once what the message carried is
        /// safe, so that the broker sends it again if the node dies first.
        receipt: Option<Receipt>,
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
    Sent { session: u64, pkid: u16 },
    /// [`connect_session`] only: the broker answered packet `pkid`.
    Acked {
        session: u64,
        pkid: u16,
        /// The broker's reason when it refused the message (MQTT 5 reason
        /// codes >= 0x80, e.g. not authorized), `None` when accepted.
        refused: Option<String>,
    },
    /// [`connect_session`] only: the connection failed or was lost; the
    /// session is over and its client must be dropped.
    SessionEnded { session: u64, reason: String },
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

/// One received QoS 1/2 message that waits for the node's acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// Its place in the order of arrival.
    serial: u64,
}

/// One acknowledgement owed to the broker.
#[derive(Debug, Clone, Copy)]
struct OwedAck {
    serial: u64,
    /// Which connection the message arrived on: packet ids only mean
    /// something there.
    connection: u64,
    pkid: u16,
    qos: QoS,
    /// The message has been handed on (or needs no hand-over).
    ready: bool,
}

/// The acknowledgements owed, in the order the messages arrived. MQTT wants
/// them sent in that order (rumqttd drops a client that acknowledges out of
/// order), so one goes out only when it and every one before it are ready.
#[derive(Debug, Default)]
struct AckQueue {
    owed: VecDeque<OwedAck>,
    next_serial: u64,
}

impl AckQueue {
    fn push(&mut self, connection: u64, pkid: u16, qos: QoS, ready: bool) -> u64 {
        let serial = self.next_serial;
        self.next_serial += 1;
        self.owed.push_back(OwedAck { serial, connection, pkid, qos, ready });
        serial
    }

    fn mark_ready(&mut self, serial: u64) {
        // Serials increase along the queue.
        if let Ok(at) = self.owed.binary_search_by_key(&serial, |owed| owed.serial) {
            self.owed[at].ready = true;
        }
    }

    /// Hands the ready acknowledgements at the front to the client, stopping
    /// at the first not ready or when the client's request queue is full
    /// (tried again on the next call, never dropped: the broker would keep the
    /// message in its in-flight window for the rest of the connection).
    /// Acknowledgements of an earlier connection are dropped: the broker sends
    /// those messages again on the new one. Returns how many ready ones wait.
    fn flush(&mut self, client: &Client, connection: u64) -> usize {
        while let Some(front) = self.owed.front().copied() {
            if front.connection == connection {
                if !front.ready {
                    break;
                }
                let mut publish = Publish::new("", front.qos, Vec::new(), None);
                publish.pkid = front.pkid;
                if client.try_ack(&publish).is_err() {
                    break;
                }
            }
            self.owed.pop_front();
        }
        self.owed.iter().filter(|owed| owed.ready).count()
    }
}

/// The queue shared by the connection thread and the node.
type SharedAcks = Arc<Mutex<AckQueue>>;

fn lock(acks: &SharedAcks) -> std::sync::MutexGuard<'_, AckQueue> {
    // A panic while holding the lock leaves the queue itself consistent.
    acks.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Acknowledges held messages for a node that hands them on first
/// ([`connect_acknowledged`]).
pub struct Acknowledger {
    client: Client,
    /// Number of the connection now up (counts successful connects).
    connection: Arc<AtomicU64>,
    acks: SharedAcks,
}

impl Acknowledger {
    /// The message of `receipt` has been handed on: its acknowledgement goes
    /// out as soon as those of the messages before it have.
    pub fn acknowledge(&mut self, receipt: Receipt) {
        let mut acks = lock(&self.acks);
        acks.mark_ready(receipt.serial);
        acks.flush(&self.client, self.connection.load(Ordering::Acquire));
    }

    /// Sends what is ready and waiting; returns how many ready
    /// acknowledgements the client could not take yet (try again soon).
    pub fn flush(&mut self) -> usize {
        lock(&self.acks).flush(&self.client, self.connection.load(Ordering::Acquire))
    }
}

/// Connects as `<client_id>` and starts the connection thread; QoS 1/2
/// messages are acknowledged to the broker as soon as they are read.
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
    let (client, _, thread) = start_connection(config, subscriptions, None, events)?;
    Ok((client, thread))
}

/// Like [`connect`], but a QoS 1/2 message on a topic matching one of
/// `held` stays unacknowledged until the node passes its [`Receipt`] to the
/// returned [`Acknowledger`]: one the node had not handed on when it died is
/// sent again by the broker after the restart (the session is persistent),
/// at the cost of a possible repeat of one it had handed on but not yet
/// acknowledged. Other messages are acknowledged when read, in their turn
/// (acknowledgements keep the order of arrival).
pub fn connect_acknowledged<E: From<MqttEvent> + Send + 'static>(
    config: &MqttConfig,
    subscriptions: Vec<String>,
    held: Vec<String>,
    events: SyncSender<E>,
) -> std::io::Result<(Client, Acknowledger, JoinHandle<()>)> {
    start_connection(config, subscriptions, Some(held), events)
}

/// `held`: `None` lets rumqttc acknowledge every message when read; `Some`
/// acknowledges through the ordered queue, holding those on these filters.
fn start_connection<E: From<MqttEvent> + Send + 'static>(
    config: &MqttConfig,
    subscriptions: Vec<String>,
    held: Option<Vec<String>>,
    events: SyncSender<E>,
) -> std::io::Result<(Client, Acknowledger, JoinHandle<()>)> {
    let manual_acks = held.is_some();
    let held = held.unwrap_or_default();
    // A persistent session keeps QoS 1 messages queued for us at the broker
    // while we reconnect.
    let mut options = options(config, false)?;
    options.set_manual_acks(manual_acks);
    let (client, mut connection) = Client::new(options, 256);
    let connection_number = Arc::new(AtomicU64::new(0));
    let acks: SharedAcks = Arc::default();
    let acknowledger =
        Acknowledger { client: client.clone(), connection: Arc::clone(&connection_number), acks: Arc::clone(&acks) };

    let subscriber = client.clone();
    let qos = qos(config.qos);
    let thread = std::thread::Builder::new().name("mqtt-connection".into()).spawn(move || {
        let mut backoff = Duration::from_millis(100);
        let mut warned_down = false;
        for notification in connection.iter() {
            if manual_acks {
                // Every event (each acknowledgement sent is one) gives the
                // ready ones a turn; the node hands its own on too.
                lock(&acks).flush(&subscriber, connection_number.load(Ordering::Acquire));
            }
            let event = match notification {
                Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                    if ack.code != ConnectReturnCode::Success {
                        tracing::warn!(reason = refusal(ack.code), "broker refused the connection");
                        continue;
                    }
                    connection_number.fetch_add(1, Ordering::AcqRel);
                    backoff = Duration::from_millis(100);
                    warned_down = false;
                    tracing::info!(session_present = ack.session_present, "connected to MQTT broker");
                    for topic in &subscriptions {
                        if let Err(error) = subscriber.try_subscribe(topic.clone(), qos) {
                            tracing::warn!(%topic, %error, "cannot queue subscription");
                        }
                    }
                    MqttEvent::Connected
                }
                Ok(Event::Incoming(Incoming::Publish(publish))) => {
                    let (response_topic, correlation_data) = publish
                        .properties
                        .map(|p| (p.response_topic, p.correlation_data.map(|c| c.to_vec())))
                        .unwrap_or_default();
                    let topic = String::from_utf8_lossy(&publish.topic).into_owned();
                    let receipt = if manual_acks && publish.qos != QoS::AtMostOnce {
                        let hold = held.iter().any(|filter| matches(&topic, filter));
                        let connection = connection_number.load(Ordering::Acquire);
                        let mut acks = lock(&acks);
                        let serial = acks.push(connection, publish.pkid, publish.qos, !hold);
                        acks.flush(&subscriber, connection);
                        hold.then_some(Receipt { serial })
                    } else {
                        None
                    };
                    MqttEvent::Message {
                        topic,
                        payload: publish.payload.to_vec(),
                        response_topic,
                        correlation_data,
                        receipt,
                    }
                }
                Ok(Event::Incoming(Incoming::PubAck(_) | Incoming::PubComp(_))) => MqttEvent::Delivered,
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(_) => continue,
                Err(error) => {
                    if !warned_down {
                        match error {
                            ConnectionError::ConnectionRefused(code) => {
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
    Ok((client, acknowledger, thread))
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
    std::thread::Builder::new().name(format!("mqtt-session-{session}")).spawn(move || {
        for notification in connection.iter() {
            let event = match notification {
                Ok(Event::Incoming(Incoming::ConnAck(ack))) if ack.code == ConnectReturnCode::Success => {
                    MqttEvent::SessionConnected { session }
                }
                Ok(Event::Incoming(Incoming::ConnAck(ack))) => MqttEvent::SessionEnded {
                    session,
                    reason: format!("broker refused the connection: {}", refusal(ack.code)),
                },
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => MqttEvent::Sent { session, pkid },
                Ok(Event::Incoming(Incoming::PubAck(ack))) => {
                    MqttEvent::Acked { session, pkid: ack.pkid, refused: puback_refusal(ack.reason) }
                }
                Ok(Event::Incoming(Incoming::PubComp(comp))) => {
                    MqttEvent::Acked { session, pkid: comp.pkid, refused: None }
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(_) => continue,
                Err(ConnectionError::ConnectionRefused(code)) => MqttEvent::SessionEnded {
                    session,
                    reason: format!("broker refused the connection: {}", refusal(code)),
                },
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
fn new_client(config: &MqttConfig, clean_session: bool) -> std::io::Result<(Client, rumqttc::v5::Connection)> {
    Ok(Client::new(options(config, clean_session)?, 256))
}

/// Publishes `payload`; with `correlation_data` (a reply to an MQTT 5
/// request) the data goes back as the publication's property.
pub fn publish(
    client: &Client,
    topic: &str,
    qos: QoS,
    retain: bool,
    payload: Vec<u8>,
    correlation_data: Option<&[u8]>,
) -> Result<(), Box<ClientError>> {
    // Boxed: rumqttc's error carries the whole request (over 200 bytes).
    let sent = match correlation_data {
        None => client.try_publish(topic, qos, retain, payload),
        Some(data) => {
            let properties = PublishProperties {
                correlation_data: Some(bytes::Bytes::copy_from_slice(data)),
                ..PublishProperties::default()
            };
            client.try_publish_with_properties(topic, qos, retain, payload, properties)
        }
    };
    sent.map_err(Box::new)
}

/// Client options from the config: keep-alive, packet sizes, credentials, TLS.
fn options(config: &MqttConfig, clean_session: bool) -> std::io::Result<MqttOptions> {
    let (host, port) = config.broker.client_address();
    let mut options = MqttOptions::new(config.client_id.clone(), host, port);
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    network.set_connection_timeout(5);
    let max_packet = u32::try_from(config.max_payload_bytes.max(1024) * 4).unwrap_or(u32::MAX);
    options
        .set_keep_alive(Duration::from_secs(10))
        .set_clean_start(clean_session)
        .set_session_expiry_interval((!clean_session).then_some(SESSION_EXPIRY_SECS))
        .set_max_packet_size(Some(max_packet))
        .set_network_options(network);
    if let Some(credentials) = &config.credentials {
        options.set_credentials(credentials.username.clone(), credentials.password.expose());
    }
    if let Some(tls) = &config.tls {
        // `connect` reports I/O errors; the TLS error rides inside as its source.
        let config = tls_client_config(tls).map_err(std::io::Error::other)?;
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(std::sync::Arc::new(config))));
    }
    Ok(options)
}

/// Why the TLS settings cannot be used; each names its file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a PEM certificate file", path.display())]
    NotCertificates { path: PathBuf },
    #[error("{}: unusable CA certificate", path.display())]
    UnusableCa {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("{}: contains no certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: not a PEM key file", path.display())]
    NotKey { path: PathBuf },
    #[error("{}: contains no private key", path.display())]
    NoKey { path: PathBuf },
    #[error("TLS protocol versions")]
    Versions(#[source] rustls::Error),
    #[error("{}: certificate and key do not match", path.display())]
    KeyMismatch {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

/// A rustls client configuration trusting `ca_file`, with the client
/// certificate when one is configured.
pub fn tls_client_config(tls: &TlsSettings) -> Result<rustls::ClientConfig, TlsError> {
    let read_pem = |path: &Path| std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source });
    let mut roots = rustls::RootCertStore::empty();
    let ca = read_pem(&tls.ca_file)?;
    for cert in rustls_pemfile::certs(&mut ca.as_slice()) {
        let cert = cert.map_err(|_| TlsError::NotCertificates { path: tls.ca_file.clone() })?;
        roots.add(cert).map_err(|source| TlsError::UnusableCa { path: tls.ca_file.clone(), source })?;
    }
    if roots.is_empty() {
        return Err(TlsError::NoCertificate { path: tls.ca_file.clone() });
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Versions)?
        .with_root_certificates(roots);
    match &tls.client_auth {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_path, key_path)) => {
            let cert_pem = read_pem(cert_path)?;
            let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| TlsError::NotCertificates { path: cert_path.clone() })?;
            let key_pem = read_pem(key_path)?;
            let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
                .map_err(|_| TlsError::NotKey { path: key_path.clone() })?
                .ok_or_else(|| TlsError::NoKey { path: key_path.clone() })?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|source| TlsError::KeyMismatch { path: cert_path.clone(), source })
        }
    }
}

/// Why the broker refused a connection, in words an operator can act on.
fn refusal(code: ConnectReturnCode) -> String {
    match code {
        ConnectReturnCode::BadUserNamePassword => {
            "bad user name or password (check MQTT_USERNAME and MQTT_PASSWORD / MQTT_PASSWORD_FILE)".into()
        }
        ConnectReturnCode::NotAuthorized => {
            "not authorized (check MQTT_USERNAME, the password and the broker's ACL)".into()
        }
        ConnectReturnCode::BadClientId | ConnectReturnCode::ClientIdentifierNotValid => {
            "client id rejected (check MQTT_CLIENT_ID)".into()
        }
        ConnectReturnCode::RefusedProtocolVersion | ConnectReturnCode::UnsupportedProtocolVersion => {
            "protocol version refused (the broker must speak MQTT 5)".into()
        }
        ConnectReturnCode::Success => "accepted".into(),
        other => format!("{other:?}"),
    }
}

/// `None` when the broker accepted a publication (MQTT 5 reason codes below
/// 0x80, "no matching subscribers" included), else its reason.
fn puback_refusal(reason: PubAckReason) -> Option<String> {
    match reason {
        PubAckReason::Success | PubAckReason::NoMatchingSubscribers => None,
        other => Some(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client whose requests nobody sends: enough to queue acknowledgements
    /// (the connection, never polled, keeps its request queue open).
    fn idle_client() -> (Client, rumqttc::v5::Connection) {
        Client::new(MqttOptions::new("test", "127.0.0.1", 1), 64)
    }

    #[test]
    fn acknowledgements_keep_the_order_of_arrival_and_a_held_one_holds_the_rest() {
        let (client, _connection) = idle_client();
        let mut acks = AckQueue::default();
        acks.push(1, 1, QoS::AtLeastOnce, true); // telemetry
        let question = acks.push(1, 2, QoS::AtLeastOnce, false); // held for the node
        acks.push(1, 3, QoS::AtLeastOnce, true); // telemetry after it
        assert_eq!(acks.flush(&client, 1), 1, "the third waits behind the held question");
        assert_eq!(acks.owed.iter().map(|owed| owed.pkid).collect::<Vec<_>>(), [2, 3]);
        acks.mark_ready(question);
        assert_eq!(acks.flush(&client, 1), 0);
        assert!(acks.owed.is_empty());
    }

    #[test]
    fn acknowledgements_of_an_earlier_connection_are_dropped() {
        let (client, _connection) = idle_client();
        let mut acks = AckQueue::default();
        acks.push(1, 7, QoS::AtLeastOnce, false);
        acks.push(2, 7, QoS::AtLeastOnce, true);
        assert_eq!(acks.flush(&client, 2), 0, "the held one of connection 1 no longer blocks");
        assert!(acks.owed.is_empty());
    }

    #[test]
    fn refusals_point_at_the_setting_to_fix() {
        assert!(refusal(ConnectReturnCode::BadUserNamePassword).contains("MQTT_PASSWORD"));
        assert!(refusal(ConnectReturnCode::UnsupportedProtocolVersion).contains("MQTT 5"));
        assert_eq!(puback_refusal(PubAckReason::NoMatchingSubscribers), None);
        assert_eq!(puback_refusal(PubAckReason::NotAuthorized).as_deref(), Some("NotAuthorized"));
    }
}
