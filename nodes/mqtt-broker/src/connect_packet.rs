//! Reading a client's first packet (CONNECT) at the front door: which MQTT
//! version it speaks, and its login. Decoding is rumqttc's own codec; this
//! module only decides.

use bytes::BytesMut;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;

/// The protocol versions the embedded broker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttVersion {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.
    V5,
}

/// What the bytes received so far amount to.
#[derive(Debug, PartialEq, Eq)]
pub enum Inspection {
    /// The CONNECT packet is not complete yet.
    NeedMore,
    /// A complete CONNECT.
    Connect {
        version: MqttVersion,
        /// Its login, when it has one.
        login: Option<(String, String)>,
        client_id: String,
        /// The topic of its will message, when it has one.
        will_topic: Option<String>,
    },
    /// Not an MQTT 3.1.1 or 5 CONNECT: close the connection.
    Invalid(NotConnect),
}

/// Why the first bytes of a connection are not a CONNECT the broker serves.
#[derive(Debug, thiserror::Error)]
pub enum NotConnect {
    #[error("first byte {0:#04x} is not an MQTT CONNECT")]
    FirstByte(u8),
    #[error("CONNECT of {size} bytes, more than the {limit} allowed")]
    TooLarge { size: usize, limit: usize },
    #[error("protocol name is not MQTT")]
    ProtocolName,
    #[error("MQTT protocol level {0} (only 4 = 3.1.1 and 5 are served)")]
    Level(u8),
    #[error("first packet is not CONNECT")]
    OtherPacket,
    #[error("not an MQTT 3.1.1 CONNECT")]
    V311(#[source] rumqttc::mqttbytes::Error),
    #[error("not an MQTT 5 CONNECT")]
    V5(#[source] rumqttc::v5::mqttbytes::Error),
}

/// rumqttc's decoding errors are not comparable; two refusals are alike
/// when they say the same.
impl PartialEq for NotConnect {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other) && self.to_string() == other.to_string()
    }
}

impl Eq for NotConnect {}

/// Inspects the first bytes of a connection (at most `max_size` for the packet).
pub fn inspect(received: &[u8], max_size: usize) -> Inspection {
    // CONNECT is packet type 1 with no flags; anything else is not a client
    // (an HTTP probe, a port scanner), and waiting for its "packet" would only
    // hold the connection open.
    if received.first().is_some_and(|&first| first != 0x10) {
        return Inspection::Invalid(NotConnect::FirstByte(received[0]));
    }
    let Some((header_len, remaining_len)) = fixed_header(received) else {
        return Inspection::NeedMore;
    };
    if remaining_len > max_size {
        return Inspection::Invalid(NotConnect::TooLarge { size: remaining_len, limit: max_size });
    }
    // The two readers disagree on the bytes after the protocol level (MQTT 5
    // has properties there), so the level picks the reader. It follows the
    // protocol name `00 04 M Q T T`.
    let Some(name_and_level) = received.get(header_len..header_len + 7) else {
        return Inspection::NeedMore;
    };
    if name_and_level[..6] != *b"\x00\x04MQTT" {
        return Inspection::Invalid(NotConnect::ProtocolName);
    }
    match name_and_level[6] {
        4 => inspect_v311(received, max_size),
        5 => inspect_v5(received, max_size),
        level => Inspection::Invalid(NotConnect::Level(level)),
    }
}

/// The fixed header's length (type byte and 1-4 length bytes) and the
/// remaining length it announces; `None` while too few bytes are in (or
/// after 4 length bytes that all say "more": then the length is garbage,
/// caught by the size check as soon as it is decoded as huge).
pub(crate) fn fixed_header(received: &[u8]) -> Option<(usize, usize)> {
    let mut remaining = 0usize;
    for (index, byte) in received.iter().skip(1).take(4).enumerate() {
        remaining |= usize::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((index + 2, remaining));
        }
    }
    (received.len() >= 5).then_some((5, usize::MAX))
}

fn inspect_v311(received: &[u8], max_size: usize) -> Inspection {
    match v4::Packet::read(&mut BytesMut::from(received), max_size) {
        Ok(v4::Packet::Connect(connect)) => Inspection::Connect {
            version: MqttVersion::V311,
            login: connect.login.map(|l| (l.username, l.password)),
            client_id: connect.client_id,
            will_topic: connect.last_will.map(|will| will.topic),
        },
        Ok(_) => Inspection::Invalid(NotConnect::OtherPacket),
        Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => Inspection::NeedMore,
        Err(error) => Inspection::Invalid(NotConnect::V311(error)),
    }
}

fn inspect_v5(received: &[u8], max_size: usize) -> Inspection {
    let max = u32::try_from(max_size).unwrap_or(u32::MAX);
    match v5::Packet::read(&mut BytesMut::from(received), Some(max)) {
        Ok(v5::Packet::Connect(connect, will, login)) => Inspection::Connect {
            version: MqttVersion::V5,
            login: login.map(|l| (l.username, l.password)),
            client_id: connect.client_id,
            will_topic: will.map(|will| String::from_utf8_lossy(&will.topic).into_owned()),
        },
        Ok(_) => Inspection::Invalid(NotConnect::OtherPacket),
        Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(_)) => Inspection::NeedMore,
        Err(error) => Inspection::Invalid(NotConnect::V5(error)),
    }
}

/// The CONNACK that refuses a client for a bad user name or password, in its
/// version's encoding, so that the client can say why instead of seeing a
/// closed socket.
pub fn bad_login_connack(version: MqttVersion) -> &'static [u8] {
    match version {
        // CONNACK, remaining length 2, no session, return code 4.
        MqttVersion::V311 => &[0x20, 0x02, 0x00, 0x04],
        // CONNACK, remaining length 3, no session, reason 0x86, no properties.
        MqttVersion::V5 => &[0x20, 0x03, 0x00, 0x86, 0x00],
    }
}

/// The CONNACK that refuses a client whose will message names a topic it
/// may not publish to ("not authorized").
pub fn not_authorized_connack(version: MqttVersion) -> &'static [u8] {
    match version {
        // Return code 5: not authorised.
        MqttVersion::V311 => &[0x20, 0x02, 0x00, 0x05],
        // Reason 0x87: not authorized.
        MqttVersion::V5 => &[0x20, 0x03, 0x00, 0x87, 0x00],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_connect(login: Option<(&str, &str)>) -> Vec<u8> {
        let mut connect = v4::Connect::new("client-1");
        if let Some((user, password)) = login {
            connect.set_login(user, password);
        }
        let mut bytes = BytesMut::new();
        connect.write(&mut bytes).unwrap();
        bytes.to_vec()
    }

    fn v5_connect(login: Option<(&str, &str)>) -> Vec<u8> {
        // With properties, as real MQTT 5 clients send (a persistent session's expiry).
        let properties =
            v5::ConnectProperties { session_expiry_interval: Some(86_400), ..v5::ConnectProperties::new() };
        let connect = v5::Connect {
            keep_alive: 10,
            client_id: "client-5".into(),
            clean_start: false,
            properties: Some(properties),
        };
        let login = login.map(|(u, p)| v5::Login::new(u, p));
        let mut bytes = BytesMut::new();
        connect.write(&None, &login, &mut bytes).unwrap();
        bytes.to_vec()
    }

    #[test]
    fn both_versions_and_their_logins_are_recognised() {
        let v4 = inspect(&v4_connect(Some(("alice", "pw"))), 1024);
        let expected = Inspection::Connect {
            version: MqttVersion::V311,
            login: Some(("alice".into(), "pw".into())),
            client_id: "client-1".into(),
            will_topic: None,
        };
        assert_eq!(v4, expected);
        let v5 = inspect(&v5_connect(None), 1024);
        let expected = Inspection::Connect {
            version: MqttVersion::V5,
            login: None,
            client_id: "client-5".into(),
            will_topic: None,
        };
        assert_eq!(v5, expected);
    }

    #[test]
    fn a_partial_packet_asks_for_more_at_every_cut() {
        for packet in [v4_connect(Some(("u", "p"))), v5_connect(Some(("u", "p")))] {
            for cut in 0..packet.len() {
                assert_eq!(inspect(&packet[..cut], 1024), Inspection::NeedMore, "cut at {cut}");
            }
        }
    }

    #[test]
    fn garbage_and_other_first_packets_are_refused() {
        assert!(matches!(inspect(b"GET / HTTP/1.1\r\n\r\n", 1024), Inspection::Invalid(_)));
        assert!(matches!(inspect(&[0xc0, 0x00], 1024), Inspection::Invalid(_)), "PINGREQ first");
        assert!(
            matches!(inspect(&[0x10, 0x00, 0, 4, b'M', b'Q', b'T', b'T', 4], 1024), Inspection::Invalid(_)),
            "empty CONNECT"
        );
        let mut level3 = v4_connect(None);
        level3[8] = 3;
        assert!(matches!(inspect(&level3, 1024), Inspection::Invalid(NotConnect::Level(3))));
        assert!(
            matches!(inspect(&[0x10, 0xff, 0xff, 0xff, 0x7f], 1024), Inspection::Invalid(_)),
            "beyond the size limit"
        );
    }
}
