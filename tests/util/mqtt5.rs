//! An MQTT 5 client for tests that ask with a response topic and correlation
//! data, the way an HMI written against MQTT 5 does.

use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{Client, Event, MqttOptions};

/// A reply received on the response topic.
#[derive(Debug, Clone)]
pub struct Response {
    /// Topic it arrived on.
    pub topic: String,
    /// Payload as JSON (`Null` if it was not JSON).
    pub json: serde_json::Value,
    /// Its MQTT 5 correlation data.
    pub correlation_data: Option<Vec<u8>>,
}

/// A connected MQTT 5 client subscribed to its response topics.
pub struct Requester {
    client: Client,
    responses: Receiver<Response>,
}

impl Requester {
    /// Connects to `127.0.0.1:port` and subscribes to `response_filter`;
    /// returns once the broker acknowledged the subscription (bounded wait).
    pub fn connect(port: u16, response_filter: &str) -> anyhow::Result<Self> {
        let mut options = MqttOptions::new(format!("test5-{}-{port}", std::process::id()), "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut connection) = Client::new(options, 64);
        let (tx, responses) = channel();
        let (suback_tx, suback_rx) = channel();
        let subscriber = client.clone();
        let filter = response_filter.to_owned();
        std::thread::spawn(move || {
            for notification in connection.iter() {
                match notification {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = subscriber.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = suback_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let response = Response {
                            topic: String::from_utf8_lossy(&p.topic).into_owned(),
                            json: serde_json::from_slice(&p.payload).unwrap_or(serde_json::Value::Null),
                            correlation_data: p.properties.and_then(|props| props.correlation_data).map(|c| c.to_vec()),
                        };
                        if tx.send(response).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        suback_rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| anyhow::anyhow!("the broker did not acknowledge the MQTT 5 subscription within 30 s"))?;
        Ok(Self { client, responses })
    }

    /// Publishes `payload` (QoS 1) with a response topic and correlation data.
    pub fn request(
        &self,
        topic: &str,
        payload: String,
        response_topic: &str,
        correlation_data: &[u8],
    ) -> anyhow::Result<()> {
        let properties = PublishProperties {
            response_topic: Some(response_topic.to_owned()),
            correlation_data: Some(bytes::Bytes::copy_from_slice(correlation_data)),
            ..PublishProperties::default()
        };
        self.client.publish_with_properties(topic, QoS::AtLeastOnce, false, payload.into_bytes(), properties)?;
        Ok(())
    }

    /// The next response within `timeout`.
    pub fn wait(&self, timeout: Duration) -> Option<Response> {
        let deadline = Instant::now() + timeout;
        self.responses.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()
    }
}
