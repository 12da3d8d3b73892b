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

use shopfloor_core::env::Secret;
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::connect_packet::{bad_login_connack, inspect, Inspection, MqttVersion, NotConnect};

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

/// `error` and its sources in one line, for the log.
fn full_message(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
        let (received, version, login) = tokio::time::timeout(CONNECT_TIMEOUT, read_connect(&mut client))
            .await
            .map_err(|_| Refused::ConnectTimeout)??;
        if let Some(users) = &self.users {
            if let Err(why) = check_login(users, login.as_ref()) {
                // Best effort: the client may already be gone.
                let _ = client.write_all(bad_login_connack(version)).await;
                let _ = client.shutdown().await;
                return Err(why.into());
            }
        }
        let address = match version {
            MqttVersion::V311 => self.backends.v311,
            MqttVersion::V5 => self.backends.v5,
        };
        let backend_error = |source| Refused::Backend { address, source };
        let mut backend = TcpStream::connect(address).await.map_err(backend_error)?;
        backend.set_nodelay(true).map_err(backend_error)?;
        backend.write_all(&received).await.map_err(backend_error)?;
        // Ends when either side closes; errors then are ordinary disconnects.
        let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
        Ok(())
    }
}

/// Reads until a whole CONNECT is in; returns every byte read (the relay
/// passes them all on), the version and the login.
async fn read_connect<S: AsyncRead + Unpin>(
    client: &mut S,
) -> Result<(Vec<u8>, MqttVersion, Option<(String, String)>), Refused> {
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
            Inspection::Connect { version, login } => return Ok((received, version, login)),
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
