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

use rumqttc::{Client, ConnectReturnCode, Event, Incoming, MqttOptions, Outgoing, QoS};
use shopfloor_core::config::MqttConfig;

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
    let (host, port) = config.broker.client_address();
    let mut options = MqttOptions::new(config.client_id.clone(), host, port);
    options
        .set_keep_alive(Duration::from_secs(10))
        // A persistent session keeps QoS 1 messages queued for us at the
        // broker while we reconnect.
        .set_clean_session(false)
        .set_max_packet_size(config.max_payload_bytes.max(1024) * 2, config.max_payload_bytes.max(1024) * 4);
    let (client, mut connection) = Client::new(options, 256);
    let mut network = rumqttc::NetworkOptions::new();
    // Without no-delay, Nagle's algorithm and delayed ACKs add ~40-90 ms to
    // every small question and answer.
    network.set_tcp_nodelay(true);
    network.set_connection_timeout(5);
    connection.eventloop.set_network_options(network);

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
                            tracing::warn!(code = ?ack.code, "broker refused the connection");
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
                            tracing::warn!(%error, "MQTT connection lost; reconnecting");
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
    let (host, port) = config.broker.client_address();
    let mut options = MqttOptions::new(config.client_id.clone(), host, port);
    options
        .set_keep_alive(Duration::from_secs(10))
        .set_clean_session(true)
        .set_max_packet_size(config.max_payload_bytes.max(1024) * 2, config.max_payload_bytes.max(1024) * 4);
    let (client, mut connection) = Client::new(options, 256);
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    network.set_connection_timeout(5);
    connection.eventloop.set_network_options(network);
    std::thread::Builder::new()
        .name(format!("mqtt-session-{session}"))
        .spawn(move || {
            for notification in connection.iter() {
                let event = match notification {
                    Ok(Event::Incoming(Incoming::ConnAck(ack))) if ack.code == ConnectReturnCode::Success => {
                        MqttEvent::SessionConnected { session }
                    }
                    Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                        MqttEvent::SessionEnded { session, reason: format!("broker refused the connection: {:?}", ack.code) }
                    }
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => MqttEvent::Sent { session, pkid },
                    Ok(Event::Incoming(Incoming::PubAck(ack))) => MqttEvent::Acked { session, pkid: ack.pkid },
                    Ok(Event::Incoming(Incoming::PubComp(comp))) => MqttEvent::Acked { session, pkid: comp.pkid },
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                    Ok(_) => continue,
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
