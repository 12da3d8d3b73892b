//! The broker's public listener. Each client's CONNECT is read here to learn
//! its MQTT version (rumqttd serves 3.1.1 and 5 on separate ports; clients of
//! both find the broker at one address) and to check its login, so that a
//! refused client gets a CONNACK with the reason instead of a closed socket.
//! Then the connection is relayed, byte for byte, to rumqttd's listener for
//! that version. TLS, when configured, ends here.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use shopfloor_core::env::Secret;
use shopfloor_node::logging::with_causes as full_message;
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::acl::Acl;
use crate::connect_packet::{bad_login_connack, inspect, not_authorized_connack, Inspection, MqttVersion, NotConnect};
use crate::guard::{packet_length, Denied, Guard, Verdict};

/// Longest a client may take for the TLS handshake and its CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest CONNECT accepted (client id, will message and login included).
const MAX_CONNECT_BYTES: usize = 64 * 1024;

/// Why a client was not relayed to rumqttd.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("cannot set TCP no-delay")]
    NoDelay(#[source] std::io::Error),
    #[error("TLS handshake timed out")]
    TlsTimeout,
    #[error("TLS handshake failed")]
    Tls(#[source] std::io::Error),
    #[error("no CONNECT within {} s", CONNECT_TIMEOUT.as_secs())]
    ConnectTimeout,
    #[error("cannot read the CONNECT")]
    Read(#[source] std::io::Error),
    #[error("closed before CONNECT")]
    ClosedBeforeConnect,
    #[error("CONNECT larger than {} KiB", MAX_CONNECT_BYTES / 1024)]
    ConnectTooLarge,
    #[error(transparent)]
    NotConnect(#[from] NotConnect),
    #[error(transparent)]
    Login(#[from] LoginRefused),
    /// The ACL stopped a packet (or the will of the CONNECT).
    #[error("user {user:?} {why}")]
    Denied { user: String, why: Denied },
    #[error("broker listener {address}")]
    Backend {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Why a login was refused; names the user, never the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefused {
    #[error("no user name (BROKER_USERS_FILE is set)")]
    NoUserName,
    #[error("wrong password for user {0:?}")]
    WrongPassword(String),
    #[error("unknown user {0:?}")]
    UnknownUser(String),
}

/// Where rumqttd listens for each version (loopback).
#[derive(Debug, Clone, Copy)]
pub struct Backends {
    /// MQTT 3.1.1 listener.
    pub v311: SocketAddr,
    /// MQTT 5 listener.
    pub v5: SocketAddr,
}

/// Everything a connection needs, shared by all of them.
pub struct FrontDoor {
    /// TLS, when the broker serves TLS only.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub backends: Backends,
    /// Accounts; `None` lets every client in.
    pub users: Option<BTreeMap<String, Secret>>,
    /// Per-topic rights; `None` lets every client use every topic.
    pub acl: Option<Arc<Acl>>,
    /// Largest packet a client may send (rumqttd's limit too).
    pub max_packet_bytes: usize,
}

/// The client's CONNECT, as the front door needs it.
struct ConnectInfo {
    version: MqttVersion,
    login: Option<(String, String)>,
    client_id: String,
    will_topic: Option<String>,
}

impl FrontDoor {
    /// Accepts clients forever, each on its own task.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let door = self.clone();
                    tokio::spawn(async move {
                        if let Err(refused) = door.handle(stream).await {
                            tracing::warn!(%peer, why = %full_message(&refused), "MQTT client refused");
                        }
                    });
                }
                Err(error) => {
                    // Out of file descriptors, typically: wait instead of spinning.
                    tracing::warn!(%error, "cannot accept an MQTT client");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn handle(&self, stream: TcpStream) -> Result<(), Refused> {
        // Without no-delay, Nagle's algorithm adds tens of ms to each small packet.
        stream.set_nodelay(true).map_err(Refused::NoDelay)?;
        match &self.tls {
            None => self.relay(stream).await,
            Some(acceptor) => {
                let handshake = tokio::time::timeout(CONNECT_TIMEOUT, acceptor.accept(stream)).await;
                let stream = handshake.map_err(|_| Refused::TlsTimeout)?.map_err(Refused::Tls)?;
                self.relay(stream).await
            }
        }
    }

    async fn relay<S: AsyncRead + AsyncWrite + Unpin>(&self, mut client: S) -> Result<(), Refused> {
        let (received, connect) = tokio::time::timeout(CONNECT_TIMEOUT, read_connect(&mut client))
            .await
            .map_err(|_| Refused::ConnectTimeout)??;
        if let Some(users) = &self.users {
            if let Err(why) = check_login(users, connect.login.as_ref()) {
                // Best effort: the client may already be gone.
                let _ = client.write_all(bad_login_connack(connect.version)).await;
                let _ = client.shutdown().await;
                return Err(why.into());
            }
        }
        let user = connect.login.map(|(user, _)| user);
        let guard = self.acl.as_ref().map(|acl| {
            Guard::new(acl.clone(), connect.version, user.clone(), connect.client_id, self.max_packet_bytes)
        });
        let shown_user = user.unwrap_or_default();
        if let (Some(guard), Some(topic)) = (&guard, connect.will_topic) {
            if !guard.may_publish(&topic) {
                let _ = client.write_all(not_authorized_connack(connect.version)).await;
                let _ = client.shutdown().await;
                return Err(Refused::Denied { user: shown_user, why: Denied::Publish { topic } });
            }
        }
        let address = match connect.version {
            MqttVersion::V311 => self.backends.v311,
            MqttVersion::V5 => self.backends.v5,
        };
        let backend_error = |source| Refused::Backend { address, source };
        let mut backend = TcpStream::connect(address).await.map_err(backend_error)?;
        backend.set_nodelay(true).map_err(backend_error)?;
        backend.write_all(&received).await.map_err(backend_error)?;
        match guard {
            None => {
                // Ends when either side closes; errors then are ordinary disconnects.
                let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
                Ok(())
            }
            Some(guard) => guarded_relay(client, backend, guard, self.max_packet_bytes, &shown_user)
                .await
                .map_err(|why| Refused::Denied { user: shown_user, why }),
        }
    }
}

/// What the client-side reader hands the writer towards the client.
struct Reply {
    packet: Option<Vec<u8>>,
    close: bool,
}

/// Relays whole packets both ways, judging each packet from the client:
/// refused ones are answered here and never reach rumqttd. Packets towards
/// the client are written whole, so a refusal is never written into the
/// middle of one. Ends when either side closes (`Ok`) or after a refusal
/// that closes the connection (`Err` with the reason).
async fn guarded_relay<S: AsyncRead + AsyncWrite + Unpin>(
    client: S,
    backend: TcpStream,
    mut guard: Guard,
    max_packet_bytes: usize,
    user: &str,
) -> Result<(), Denied> {
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut backend_read, mut backend_write) = backend.into_split();
    let (replies, mut pending_replies) = tokio::sync::mpsc::channel::<Reply>(8);
    // A packet's fixed header is at most 5 bytes.
    let largest = max_packet_bytes.saturating_add(5);

    let from_client = async {
        let mut buffer = BytesMut::with_capacity(4096);
        loop {
            while let Some(length) = packet_length(&buffer) {
                if length > largest {
                    let why = Denied::Malformed { kind: "packet", why: format!("{length} bytes, over the limit") };
                    let _ = replies.send(Reply { packet: None, close: true }).await;
                    return Err(why);
                }
                if buffer.len() < length {
                    break;
                }
                let packet = buffer.split_to(length);
                match guard.judge(&packet) {
                    Verdict::Forward => {
                        if backend_write.write_all(&packet).await.is_err() {
                            return Ok(());
                        }
                    }
                    Verdict::Refuse { reply, close, why } => {
                        let _ = replies.send(Reply { packet: reply, close }).await;
                        if close {
                            return Err(why);
                        }
                        tracing::warn!(user, why = %why, "MQTT packet refused");
                    }
                }
            }
            match client_read.read_buf(&mut buffer).await {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => {}
            }
        }
    };

    let to_client = async {
        let mut buffer = BytesMut::with_capacity(4096);
        loop {
            tokio::select! {
                read = backend_read.read_buf(&mut buffer) => {
                    if !matches!(read, Ok(n) if n > 0) {
                        return;
                    }
                    while let Some(length) = packet_length(&buffer).filter(|&length| buffer.len() >= length) {
                        let packet = buffer.split_to(length);
                        if client_write.write_all(&packet).await.is_err() {
                            return;
                        }
                    }
                }
                reply = pending_replies.recv() => {
                    let Some(reply) = reply else { return };
                    if let Some(packet) = reply.packet {
                        if client_write.write_all(&packet).await.is_err() {
                            return;
                        }
                    }
                    if reply.close {
                        let _ = client_write.shutdown().await;
                        return;
                    }
                }
            }
        }
    };

    tokio::pin!(from_client, to_client);
    tokio::select! {
        result = &mut from_client => {
            if result.is_err() {
                // Let the writer send the refusal before the connection goes.
                let _ = tokio::time::timeout(CONNECT_TIMEOUT, &mut to_client).await;
            }
            result
        }
        () = &mut to_client => Ok(()),
    }
}

/// Reads until a whole CONNECT is in; returns every byte read (the relay
/// passes them all on) and what the CONNECT says.
async fn read_connect<S: AsyncRead + Unpin>(client: &mut S) -> Result<(Vec<u8>, ConnectInfo), Refused> {
    let mut received = Vec::with_capacity(256);
    let mut chunk = [0u8; 4096];
    loop {
        let n = client.read(&mut chunk).await.map_err(Refused::Read)?;
        if n == 0 {
            return Err(Refused::ClosedBeforeConnect);
        }
        received.extend_from_slice(&chunk[..n]);
        match inspect(&received, MAX_CONNECT_BYTES) {
            Inspection::NeedMore if received.len() <= MAX_CONNECT_BYTES => {}
            Inspection::NeedMore => return Err(Refused::ConnectTooLarge),
            Inspection::Connect { version, login, client_id, will_topic } => {
                return Ok((received, ConnectInfo { version, login, client_id, will_topic }))
            }
            Inspection::Invalid(why) => return Err(why.into()),
        }
    }
}

/// Whether `login` names an account with that password; the reason if not
/// (it names the user, never the password). Compared in constant time.
fn check_login(users: &BTreeMap<String, Secret>, login: Option<&(String, String)>) -> Result<(), LoginRefused> {
    let Some((user, password)) = login else {
        return Err(LoginRefused::NoUserName);
    };
    match users.get(user) {
        Some(secret) if bool::from(secret.expose().as_bytes().ct_eq(password.as_bytes())) => Ok(()),
        Some(_) => Err(LoginRefused::WrongPassword(user.clone())),
        None => Err(LoginRefused::UnknownUser(user.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_checked_and_refusals_never_quote_the_password() {
        let users = BTreeMap::from([("nodes".to_owned(), Secret::new("s3cret".into()))]);
        assert!(check_login(&users, Some(&("nodes".into(), "s3cret".into()))).is_ok());
        let wrong = check_login(&users, Some(&("nodes".into(), "guess".into()))).unwrap_err().to_string();
        assert_eq!(wrong, "wrong password for user \"nodes\"");
        let unknown = check_login(&users, Some(&("eve".into(), "s3cret".into()))).unwrap_err();
        assert_eq!(unknown, LoginRefused::UnknownUser("eve".into()));
        assert!(check_login(&users, None).is_err());
    }
}
