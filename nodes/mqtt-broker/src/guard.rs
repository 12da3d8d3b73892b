//! Judging each packet a client sends against the ACL ([`crate::acl`]), so
//! the front door can stop a PUBLISH or SUBSCRIBE before rumqttd sees it.
//! Pure: bytes in, a verdict out; the front door does the I/O.
//!
//! A refused client is told in its protocol's terms: MQTT 5 gets a PUBACK /
//! PUBREC with reason "not authorized" for QoS 1 / 2 and a DISCONNECT with
//! that reason for QoS 0; a refused SUBSCRIBE gets a SUBACK that fails every
//! filter of the packet (MQTT 3.1.1 failure code 0x80, MQTT 5 0x87). MQTT
//! 3.1.1 has no way to refuse a publication, so the connection is closed
//! (the standard's other choice, a PUBACK for a message thrown away, would
//! tell the client it was delivered).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::BytesMut;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;
use rumqttc::v5::mqttbytes::QoS as V5QoS;

use crate::acl::{Access, Acl, Client};
use crate::connect_packet::{fixed_header, MqttVersion};

/// Most topic aliases one MQTT 5 client may define (bounds the memory a
/// connection can claim with them).
pub const MAX_TOPIC_ALIASES: usize = 1024;

/// MQTT 5 DISCONNECT, reason 0x87 "not authorized", no properties. The
/// empty property length is written although the standard lets it be left
/// out: some clients (rumqttc among them) cannot read it otherwise.
const DISCONNECT_NOT_AUTHORIZED: [u8; 4] = [0xe0, 0x02, 0x87, 0x00];

/// What to do with one packet from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it on to rumqttd.
    Forward,
    /// Do not pass it on; send `reply` (if any) to the client, then close
    /// the connection when `close` is set.
    Refuse { reply: Option<Vec<u8>>, close: bool, why: Denied },
}

/// Why a packet was stopped (for the log: names the user and the topic).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("may not publish to {topic:?}")]
    Publish { topic: String },
    #[error("may not subscribe to {filters:?}")]
    Subscribe { filters: Vec<String> },
    #[error("published to topic alias {0} that was never defined")]
    UnknownAlias(u16),
    #[error("defined more than {MAX_TOPIC_ALIASES} topic aliases")]
    TooManyAliases,
    #[error("malformed {kind}: {why}")]
    Malformed { kind: &'static str, why: String },
}

/// One connection's packet judge.
pub struct Guard {
    acl: Arc<Acl>,
    version: MqttVersion,
    user: Option<String>,
    client_id: String,
    /// MQTT 5 topic aliases this client defined.
    aliases: HashMap<u16, String>,
    max_packet: usize,
}

impl Guard {
    /// A judge for one client's packets after its CONNECT.
    pub fn new(
        acl: Arc<Acl>,
        version: MqttVersion,
        user: Option<String>,
        client_id: String,
        max_packet: usize,
    ) -> Self {
        Self { acl, version, user, client_id, aliases: HashMap::new(), max_packet }
    }

    /// Whether this client may publish to `topic` (its will, say).
    pub fn may_publish(&self, topic: &str) -> bool {
        self.acl.permits(self.client(), Access::Write, topic)
    }

    fn client(&self) -> Client<'_> {
        Client { user: self.user.as_deref(), client_id: &self.client_id }
    }

    /// Judges one whole packet (as framed by [`packet_length`]).
    pub fn judge(&mut self, packet: &[u8]) -> Verdict {
        match packet.first().map(|byte| byte >> 4) {
            Some(3) => self.judge_publish(packet),
            Some(8) => self.judge_subscribe(packet),
            _ => Verdict::Forward,
        }
    }

    fn judge_publish(&mut self, packet: &[u8]) -> Verdict {
        let malformed = |why: String| close(None, Denied::Malformed { kind: "PUBLISH", why });
        match self.version {
            MqttVersion::V311 => match v4::Packet::read(&mut BytesMut::from(packet), self.max_packet) {
                Ok(v4::Packet::Publish(publish)) => {
                    if self.may_publish(&publish.topic) {
                        Verdict::Forward
                    } else {
                        close(None, Denied::Publish { topic: publish.topic })
                    }
                }
                Ok(other) => malformed(format!("read as {other:?}")),
                Err(error) => malformed(error.to_string()),
            },
            MqttVersion::V5 => {
                let max = u32::try_from(self.max_packet).unwrap_or(u32::MAX);
                let publish = match v5::Packet::read(&mut BytesMut::from(packet), Some(max)) {
                    Ok(v5::Packet::Publish(publish)) => publish,
                    Ok(other) => return malformed(format!("read as {other:?}")),
                    Err(error) => return malformed(error.to_string()),
                };
                let Ok(named) = std::str::from_utf8(&publish.topic) else {
                    return malformed("topic is not UTF-8".into());
                };
                let alias = publish.properties.as_ref().and_then(|p| p.topic_alias);
                let topic = match (named.is_empty(), alias) {
                    (false, None) => named.to_owned(),
                    (false, Some(alias)) => {
                        if !self.aliases.contains_key(&alias) && self.aliases.len() >= MAX_TOPIC_ALIASES {
                            return close(None, Denied::TooManyAliases);
                        }
                        // Defined even when refused below: the alias then
                        // names a topic this client may not use, which the
                        // next publication through it is refused for.
                        self.aliases.insert(alias, named.to_owned());
                        named.to_owned()
                    }
                    (true, Some(alias)) => match self.aliases.get(&alias) {
                        Some(topic) => topic.clone(),
                        None => return close(None, Denied::UnknownAlias(alias)),
                    },
                    (true, None) => return malformed("no topic and no topic alias".into()),
                };
                if self.may_publish(&topic) {
                    return Verdict::Forward;
                }
                let why = Denied::Publish { topic };
                let mut reply = BytesMut::new();
                let written = match publish.qos {
                    V5QoS::AtMostOnce => {
                        reply.extend_from_slice(&DISCONNECT_NOT_AUTHORIZED);
                        Ok(true)
                    }
                    V5QoS::AtLeastOnce => {
                        let ack = v5::PubAck {
                            pkid: publish.pkid,
                            reason: v5::PubAckReason::NotAuthorized,
                            properties: None,
                        };
                        ack.write(&mut reply).map(|_| false)
                    }
                    V5QoS::ExactlyOnce => {
                        let rec = v5::PubRec {
                            pkid: publish.pkid,
                            reason: v5::PubRecReason::NotAuthorized,
                            properties: None,
                        };
                        rec.write(&mut reply).map(|_| false)
                    }
                };
                match written {
                    Ok(close_after) => Verdict::Refuse { reply: Some(reply.to_vec()), close: close_after, why },
                    Err(_) => close(None, why),
                }
            }
        }
    }

    fn judge_subscribe(&mut self, packet: &[u8]) -> Verdict {
        let malformed = |why: String| close(None, Denied::Malformed { kind: "SUBSCRIBE", why });
        let (pkid, filters) = match self.version {
            MqttVersion::V311 => match v4::Packet::read(&mut BytesMut::from(packet), self.max_packet) {
                Ok(v4::Packet::Subscribe(subscribe)) => {
                    (subscribe.pkid, subscribe.filters.into_iter().map(|f| f.path).collect::<Vec<_>>())
                }
                Ok(other) => return malformed(format!("read as {other:?}")),
                Err(error) => return malformed(error.to_string()),
            },
            MqttVersion::V5 => {
                let max = u32::try_from(self.max_packet).unwrap_or(u32::MAX);
                match v5::Packet::read(&mut BytesMut::from(packet), Some(max)) {
                    Ok(v5::Packet::Subscribe(subscribe)) => {
                        (subscribe.pkid, subscribe.filters.into_iter().map(|f| f.path).collect::<Vec<_>>())
                    }
                    Ok(other) => return malformed(format!("read as {other:?}")),
                    Err(error) => return malformed(error.to_string()),
                }
            }
        };
        let refused: Vec<String> = filters
            .iter()
            .filter(|filter| !self.acl.permits(self.client(), Access::Read, filter.as_str()))
            .cloned()
            .collect();
        if refused.is_empty() {
            return Verdict::Forward;
        }
        let why = Denied::Subscribe { filters: refused };
        let mut reply = BytesMut::new();
        let written = match self.version {
            MqttVersion::V311 => {
                v4::SubAck::new(pkid, vec![v4::SubscribeReasonCode::Failure; filters.len()]).write(&mut reply).is_ok()
            }
            MqttVersion::V5 => v5::SubAck {
                pkid,
                return_codes: vec![v5::SubscribeReasonCode::NotAuthorized; filters.len()],
                properties: None,
            }
            .write(&mut reply)
            .is_ok(),
        };
        if written {
            Verdict::Refuse { reply: Some(reply.to_vec()), close: false, why }
        } else {
            close(None, why)
        }
    }
}

fn close(reply: Option<Vec<u8>>, why: Denied) -> Verdict {
    Verdict::Refuse { reply, close: true, why }
}

/// The length of the whole packet at the start of `buffer` once its fixed
/// header is in (the packet itself may still be arriving); `None` before.
pub fn packet_length(buffer: &[u8]) -> Option<usize> {
    fixed_header(buffer).map(|(header, remaining)| header.saturating_add(remaining))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::mqttbytes::QoS as V4QoS;

    const ACL: &str = "\
user sink
topic write line/answer/#
pattern write line/query/%u
pattern read line/answer/%u
";

    fn guard(version: MqttVersion, user: &str) -> Guard {
        Guard::new(Arc::new(Acl::parse(ACL).unwrap()), version, Some(user.into()), "c".into(), 1 << 20)
    }

    fn v4_publish(topic: &str, qos: V4QoS) -> Vec<u8> {
        let mut publish = v4::Publish::new(topic, qos, "{}");
        publish.pkid = 7;
        let mut bytes = BytesMut::new();
        publish.write(&mut bytes).unwrap();
        bytes.to_vec()
    }

    fn v5_publish(topic: &str, qos: V5QoS, alias: Option<u16>) -> Vec<u8> {
        let properties = alias.map(|a| v5::PublishProperties { topic_alias: Some(a), ..Default::default() });
        let mut publish = v5::Publish::new(topic, qos, "{}", properties);
        publish.pkid = 7;
        let mut bytes = BytesMut::new();
        publish.write(&mut bytes).unwrap();
        bytes.to_vec()
    }

    fn refused_reply(verdict: Verdict) -> (Option<Vec<u8>>, bool) {
        match verdict {
            Verdict::Refuse { reply, close, .. } => (reply, close),
            Verdict::Forward => panic!("forwarded"),
        }
    }

    #[test]
    fn an_operator_asks_but_cannot_forge_an_answer_in_either_version() {
        let mut v4 = guard(MqttVersion::V311, "alice");
        assert_eq!(v4.judge(&v4_publish("line/query/alice", V4QoS::AtLeastOnce)), Verdict::Forward);
        let (reply, close) = refused_reply(v4.judge(&v4_publish("line/answer/alice", V4QoS::AtLeastOnce)));
        assert_eq!((reply, close), (None, true), "3.1.1 cannot say no to a publication: the connection closes");

        let mut v5 = guard(MqttVersion::V5, "alice");
        assert_eq!(v5.judge(&v5_publish("line/query/alice", V5QoS::AtLeastOnce, None)), Verdict::Forward);
        let (reply, close) = refused_reply(v5.judge(&v5_publish("line/answer/bob", V5QoS::AtLeastOnce, None)));
        let ack = v5::Packet::read(&mut BytesMut::from(&reply.unwrap()[..]), None).unwrap();
        assert!(!close);
        assert!(
            matches!(ack, v5::Packet::PubAck(ref a) if a.pkid == 7 && a.reason == v5::PubAckReason::NotAuthorized),
            "{ack:?}"
        );
        let (reply, close) = refused_reply(v5.judge(&v5_publish("line/answer/bob", V5QoS::AtMostOnce, None)));
        let disconnect = v5::Packet::read(&mut BytesMut::from(&reply.unwrap()[..]), None).unwrap();
        assert!(
            close
                && matches!(disconnect, v5::Packet::Disconnect(ref d) if d.reason_code == v5::DisconnectReasonCode::NotAuthorized)
        );
    }

    #[test]
    fn the_sink_publishes_answers() {
        let mut sink = guard(MqttVersion::V5, "sink");
        assert_eq!(sink.judge(&v5_publish("line/answer/alice", V5QoS::AtLeastOnce, None)), Verdict::Forward);
    }

    #[test]
    fn topic_aliases_cannot_smuggle_a_forbidden_topic() {
        let mut alice = guard(MqttVersion::V5, "alice");
        assert_eq!(alice.judge(&v5_publish("line/query/alice", V5QoS::AtLeastOnce, Some(1))), Verdict::Forward);
        assert_eq!(alice.judge(&v5_publish("", V5QoS::AtLeastOnce, Some(1))), Verdict::Forward, "alias reused");
        let _ = alice.judge(&v5_publish("line/answer/bob", V5QoS::AtLeastOnce, Some(1)));
        let (_, close) = refused_reply(alice.judge(&v5_publish("", V5QoS::AtLeastOnce, Some(1))));
        assert!(!close, "refused by the topic the alias now names");
        let (_, close) = refused_reply(alice.judge(&v5_publish("", V5QoS::AtLeastOnce, Some(9))));
        assert!(close, "an undefined alias closes the connection");
    }

    #[test]
    fn a_subscription_beyond_the_grant_fails_every_filter_of_its_packet() {
        let mut v4 = guard(MqttVersion::V311, "alice");
        let mut bytes = BytesMut::new();
        v4::Subscribe::new_many([
            v4::SubscribeFilter::new("line/answer/alice".into(), V4QoS::AtLeastOnce),
            v4::SubscribeFilter::new("line/answer/+".into(), V4QoS::AtLeastOnce),
        ])
        .write(&mut bytes)
        .unwrap();
        let (reply, close) = refused_reply(v4.judge(&bytes));
        let ack = v4::Packet::read(&mut BytesMut::from(&reply.unwrap()[..]), 1024).unwrap();
        assert!(!close);
        assert!(
            matches!(ack, v4::Packet::SubAck(ref a) if a.return_codes == [v4::SubscribeReasonCode::Failure; 2]),
            "{ack:?}"
        );

        let mut v5 = guard(MqttVersion::V5, "alice");
        let mut bytes = BytesMut::new();
        v5::Subscribe::new(v5::Filter::new("line/answer/alice", V5QoS::AtLeastOnce), None).write(&mut bytes).unwrap();
        assert_eq!(v5.judge(&bytes), Verdict::Forward);
    }

    #[test]
    fn other_packets_pass_and_garbage_publications_close() {
        let mut alice = guard(MqttVersion::V311, "alice");
        assert_eq!(alice.judge(&[0xc0, 0x00]), Verdict::Forward, "PINGREQ");
        let (_, close) = refused_reply(alice.judge(&[0x30, 0x01, 0xff]));
        assert!(close);
        assert_eq!(packet_length(&[0x30, 0x80]), None);
        assert_eq!(packet_length(&[0x30, 0x80, 0x01]), Some(3 + 128));
    }
}
