//! rumqttd behind the front door, on two loopback ports picked at start.
//!
//! A port seen free can be taken before rumqttd binds it: dora starts every
//! node of a dataflow at once, and each opens listeners on ports the kernel
//! picks from the same range. rumqttd then only logs its bind error, and the
//! front door would relay clients to whoever holds the port. So each backend
//! must answer an MQTT CONNECT with a CONNACK before the broker counts as
//! started; if one does not, rumqttd is started again on fresh ports.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::BytesMut;

use crate::front_door::Backends;
use crate::rumqttd_config;
use crate::BrokerError;

/// Starts on fresh ports this often before giving up.
pub const START_ATTEMPTS: usize = 5;
/// How long a backend gets to accept connections and answer the probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Numbers the probes: rumqttd drops a connected client when another
/// connects with its id, and a probe's DISCONNECT may not have reached its
/// router yet when the next probe connects.
static PROBES: AtomicU32 = AtomicU32::new(0);

/// MQTT version of a backend listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// MQTT 3.1.1.
    V311,
    /// MQTT 5.
    V5,
}

/// Starts rumqttd and returns its listeners once both answer as MQTT
/// brokers. `pick_port` gives a loopback address believed free (a seam for
/// tests; [`free_loopback_address`] in the node).
pub fn start(
    max_payload_bytes: usize,
    users: Option<HashMap<String, String>>,
    mut pick_port: impl FnMut() -> Result<SocketAddr, BrokerError>,
) -> Result<Backends, BrokerError> {
    let login =
        users.as_ref().and_then(|users| users.iter().next()).map(|(name, password)| (name.clone(), password.clone()));
    for attempt in 1..=START_ATTEMPTS {
        let backends = Backends { v311: pick_port()?, v5: pick_port()? };
        let mut broker = rumqttd::Broker::new(rumqttd_config::broker_config(
            backends.v311,
            backends.v5,
            max_payload_bytes,
            users.clone(),
        ));
        std::thread::Builder::new()
            .name("mqtt-broker".into())
            .spawn(move || {
                if let Err(error) = broker.start() {
                    tracing::error!(%error, "embedded broker stopped");
                }
            })
            .map_err(BrokerError::Thread)?;
        let answers = [(Protocol::V311, backends.v311), (Protocol::V5, backends.v5)]
            .into_iter()
            .map(|(protocol, addr)| (protocol, addr, answers_as_broker(addr, protocol, login.as_ref())))
            .find(|(_, _, answered)| !answered);
        match answers {
            None => return Ok(backends),
            Some((protocol, addr, _)) => {
                // The previous rumqttd keeps whatever it did bind; it is idle.
                tracing::warn!(attempt, %addr, ?protocol, "embedded broker's internal listener not answering (port taken?); starting it on other ports");
            }
        }
    }
    Err(BrokerError::BackendNotAnswering { attempts: START_ATTEMPTS })
}

/// A loopback address with a port free right now.
pub fn free_loopback_address() -> Result<SocketAddr, BrokerError> {
    TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).map_err(BrokerError::NoFreePort)
}

/// Whether an MQTT broker at `addr` answers a CONNECT with a CONNACK,
/// waiting (bounded) for it to start listening.
fn answers_as_broker(addr: SocketAddr, protocol: Protocol, login: Option<&(String, String)>) -> bool {
    let deadline = std::time::Instant::now() + PROBE_TIMEOUT;
    let mut stream = loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(50)) {
            Ok(stream) => break stream,
            Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => return false,
        }
    };
    let Ok(connect) = connect_packet(protocol, login) else { return false };
    let exchanged = stream
        .set_read_timeout(Some(PROBE_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(PROBE_TIMEOUT)))
        .and_then(|()| stream.write_all(&connect))
        .and_then(|()| {
            let mut first = [0u8; 1];
            stream.read_exact(&mut first).map(|()| first[0])
        });
    match exchanged {
        Ok(first) if is_connack(first) => {
            // DISCONNECT, reason "normal" (the same two bytes in 3.1.1 and
            // 5), then wait for rumqttd to close. Closing first makes its
            // link report the disconnection a second time, late, and
            // rumqttd 0.20 then drops whichever client has reused the
            // connection id by then: the next probe, or a real client.
            let _ = stream.write_all(&[0xE0, 0x00]);
            let mut rest = [0u8; 64];
            let closing = std::time::Instant::now() + PROBE_TIMEOUT;
            while std::time::Instant::now() < closing && matches!(stream.read(&mut rest), Ok(n) if n > 0) {}
            true
        }
        _ => false,
    }
}

/// A CONNECT with a clean session and a client id of its own, logging in when the broker has accounts
/// (rumqttd closes the connection of a client it refuses, without CONNACK).
pub fn connect_packet(protocol: Protocol, login: Option<&(String, String)>) -> Result<Vec<u8>, BrokerError> {
    let client_id = format!("shopfloor-broker-probe-{}-{}", std::process::id(), PROBES.fetch_add(1, Ordering::Relaxed));
    let mut buffer = BytesMut::new();
    match protocol {
        Protocol::V311 => {
            let mut connect = rumqttc::mqttbytes::v4::Connect::new(client_id);
            if let Some((name, password)) = login {
                connect.set_login(name, password);
            }
            connect.write(&mut buffer).map_err(BrokerError::ProbeV311)?;
        }
        Protocol::V5 => {
            use rumqttc::v5::mqttbytes::v5::{Connect, Login};
            let connect = Connect { keep_alive: 10, client_id, clean_start: true, properties: None };
            let login = login.map(|(name, password)| Login { username: name.clone(), password: password.clone() });
            connect.write(&None, &login, &mut buffer).map_err(BrokerError::ProbeV5)?;
        }
    }
    Ok(buffer.to_vec())
}

/// The first byte of a CONNACK (packet type 2, no flags).
pub fn is_connack(first_byte: u8) -> bool {
    first_byte == 0x20
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_packets_are_connects_of_each_version_with_the_login_when_given() {
        let v311 = connect_packet(Protocol::V311, None).unwrap();
        assert_eq!(v311[0], 0x10);
        assert_eq!(&v311[2..9], b"\x00\x04MQTT\x04");
        let v5 = connect_packet(Protocol::V5, Some(&("ops".into(), "secret".into()))).unwrap();
        assert_eq!(&v5[2..9], b"\x00\x04MQTT\x05");
        // Username and password flags set.
        assert_eq!(v5[9] & 0b1100_0000, 0b1100_0000);
        assert!(v5.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn only_a_connack_counts_as_an_answer() {
        assert!(is_connack(0x20));
        assert!(!is_connack(0x30));
        assert!(!is_connack(0x00));
    }

    #[test]
    fn a_port_taken_by_another_listener_is_detected_and_the_broker_moves() {
        // Someone else's silent listener holds the first port handed out.
        let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = squatter.local_addr().unwrap();
        let mut picks = vec![Ok(taken)];
        let backends = start(16_384, None, || picks.pop().unwrap_or_else(free_loopback_address)).unwrap();
        assert_ne!(backends.v311, taken);
        // Probes in quick succession, as at start, each answered.
        // (Closing before rumqttd did failed here within 20 rounds.)
        for _ in 0..100 {
            assert!(answers_as_broker(backends.v311, Protocol::V311, None));
            assert!(answers_as_broker(backends.v5, Protocol::V5, None));
        }
    }

    #[test]
    fn with_accounts_the_probe_logs_in() {
        let users = HashMap::from([("ops".to_owned(), "secret".to_owned())]);
        let backends = start(16_384, Some(users), free_loopback_address).unwrap();
        let login = ("ops".to_owned(), "secret".to_owned());
        assert!(answers_as_broker(backends.v311, Protocol::V311, Some(&login)));
        assert!(!answers_as_broker(backends.v311, Protocol::V311, Some(&("ops".to_owned(), "wrong".to_owned()))));
    }
}
