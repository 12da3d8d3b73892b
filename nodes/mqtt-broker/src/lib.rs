//! `mqtt-broker`: an MQTT broker inside the dataflow, for sites without one.
//!
//! No inputs, no outputs. When `MQTT_BROKER_URL` is empty (the demo default)
//! it serves MQTT 3.1.1 and MQTT 5 on `MQTT_EMBEDDED_LISTEN` (default
//! `127.0.0.1:1883`), which is also where `mqtt-source` and `mqtt-sink` then
//! connect. When a URL is set the plant's broker is used and this node only
//! waits for stop, so the same YAML serves both cases.
//!
//! Options (`env:` of this node only): `BROKER_TLS_CERT` + `BROKER_TLS_KEY`
//! (serve TLS only; `BROKER_TLS_CLIENT_CA` to require client certificates)
//! and `BROKER_USERS_FILE` (`user:password` lines; anonymous clients are then
//! refused), `BROKER_ACL_FILE` (per-topic rights, Mosquitto's `acl_file`
//! format; see [`acl`]).
//!
//! # Layout
//! - [`front_door`]: the public listener: TLS, version detection, login check,
//!   relay to rumqttd.
//! - [`connect_packet`]: reading a CONNECT (pure).
//! - [`acl`]: the per-topic rights file and MQTT topic matching (pure).
//! - [`guard`]: judging each PUBLISH and SUBSCRIBE against the rights (pure).
//! - [`backend`]: starting the broker behind it (rumqttd, loopback only) and
//!   checking that it is rumqttd that answers on its ports.
//! - [`rumqttd_config`]: rumqttd's configuration.
//! - [`tls`]: the server's TLS configuration.
//! - [`state`]: what the node reports (whether the broker is embedded).
//! - [`driver`]: starts the broker, then answers dora until Stop.

pub mod acl;
pub mod backend;
pub mod config;
pub mod connect_packet;
pub mod driver;
pub mod front_door;
pub mod guard;
pub mod rumqttd_config;
pub mod state;
pub mod tls;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use crate::config::EmbeddedBrokerConfig;

use crate::front_door::FrontDoor;

/// Why the embedded broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr} (set MQTT_EMBEDDED_LISTEN to a free address, or MQTT_BROKER_URL to use an existing broker)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("embedded broker TLS (BROKER_TLS_CERT / BROKER_TLS_KEY / BROKER_TLS_CLIENT_CA)")]
    Tls(#[source] std::io::Error),
    #[error("no free loopback port for the embedded broker's internal listeners")]
    NoFreePort(#[source] std::io::Error),
    #[error("cannot encode the probe CONNECT (MQTT 3.1.1)")]
    ProbeV311(#[source] rumqttc::mqttbytes::Error),
    #[error("cannot encode the probe CONNECT (MQTT 5)")]
    ProbeV5(#[source] rumqttc::v5::mqttbytes::Error),
    #[error("rumqttd did not answer on its internal loopback ports after {attempts} attempts")]
    BackendNotAnswering { attempts: usize },
    #[error("cannot set up the embedded broker's listener")]
    Listener(#[source] std::io::Error),
    #[error("cannot start the embedded broker's async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot start a thread of the embedded broker")]
    Thread(#[source] std::io::Error),
}

/// Starts the broker on its own threads and returns once it is listening.
pub fn start(listen: SocketAddr, max_payload_bytes: usize, config: &EmbeddedBrokerConfig) -> Result<(), BrokerError> {
    let public = TcpListener::bind(listen).map_err(|source| BrokerError::Bind { addr: listen, source })?;
    let tls = match &config.tls {
        Some(tls) => {
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls::server_config(tls).map_err(BrokerError::Tls)?)))
        }
        None => None,
    };
    let users = config
        .users
        .as_ref()
        .map(|users| users.iter().map(|(name, secret)| (name.clone(), secret.expose().to_owned())).collect());
    let backends = backend::start(max_payload_bytes, users, backend::free_loopback_address)?;

    public.set_nonblocking(true).map_err(BrokerError::Listener)?;
    let door = Arc::new(FrontDoor {
        tls,
        backends,
        users: config.users.clone(),
        acl: config.acl.clone().map(Arc::new),
        max_packet_bytes: max_payload_bytes,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("mqtt-front-door")
        .enable_all()
        .build()
        .map_err(BrokerError::Runtime)?;
    std::thread::Builder::new()
        .name("mqtt-front-door".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(public) {
                    Ok(listener) => door.serve(listener).await,
                    Err(error) => tracing::error!(%error, "embedded broker cannot listen"),
                }
            })
        })
        .map_err(BrokerError::Thread)?;
    Ok(())
}
