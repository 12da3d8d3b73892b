//! The node on dora: MQTT messages (from the connection thread) and dora's
//! events arrive on one bounded channel, so a question is forwarded the
//! moment it arrives; the wait is cut short when the pending reading batch
//! is due. [`MqttSourceNode`] decides, this loop publishes and sends.

use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::time::Duration;

use dora_node_api::{DoraNode, EventStream};
use shopfloor_mqtt::config::MqttConfig;
use shopfloor_mqtt::{forward_dora_events, Client, MqttEvent, NodeEvent};
use shopfloor_node::clock::now_ms;
use shopfloor_node::driver::SendError;
use shopfloor_node::{Driver, Flow, NodeLogic};

use crate::config::{HandoverConfig, TelemetryConfig};
use crate::state::{Counts, Message, MqttSourceNode, Publish};

/// MQTT messages and dora events waiting for the loop.
const CHANNEL_CAPACITY: usize = 1024;
/// How soon acknowledgements the MQTT client could not take are tried again.
const ACK_RETRY: Duration = Duration::from_millis(5);

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum MqttSourceError {
    #[error("cannot start the MQTT connection")]
    Mqtt(#[source] std::io::Error),
    #[error("cannot start the dora event thread")]
    DoraEvents(#[source] std::io::Error),
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Runs until dora says stop; returns what the node counted. With
/// `handover`, each question is held until the router accepts it (the
/// dataflow wires the router's `accepted` output to this node); with
/// `hold_refusals`, each refusal until mqtt-sink has journaled it (its
/// `refusals_accepted` output).
pub fn run(
    config: MqttConfig,
    telemetry: TelemetryConfig,
    handover: Option<HandoverConfig>,
    hold_refusals: bool,
    node: DoraNode,
    events: EventStream,
) -> Result<Counts, MqttSourceError> {
    let (tx, rx) = sync_channel::<NodeEvent>(CHANNEL_CAPACITY);
    let mut filters = vec![config.topics.query_filter()];
    filters.extend(telemetry.subscriptions.iter().map(|s| s.filter.clone()));
    let (client, mut acknowledger, _connection) =
        shopfloor_mqtt::connect_acknowledged(&config, filters, vec![config.topics.query_filter()], tx.clone())
            .map_err(MqttSourceError::Mqtt)?;
    forward_dora_events(events, tx).map_err(MqttSourceError::DoraEvents)?;
    let mut driver = Driver::new(node);
    let mut state = MqttSourceNode::new(&config, &telemetry);
    if let Some(handover) = handover {
        state = state.with_handover(handover);
    }
    if hold_refusals {
        state = state.with_refusal_hold();
    }

    loop {
        // Acknowledgements the client could not take yet are retried soon.
        let retry_acks = (acknowledger.flush() > 0).then_some(ACK_RETRY);
        let until =
            |deadline: i64| Duration::from_millis(u64::try_from(deadline.saturating_sub(now_ms())).unwrap_or(0));
        let batch_due = state.batch_deadline_ms().map(until);
        let held_due = state.held_deadline_ms().map(until);
        let incoming = match batch_due.into_iter().chain(held_due).chain(retry_acks).min() {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(wait) => rx.recv_timeout(wait),
        };
        match incoming {
            Ok(NodeEvent::Mqtt(MqttEvent::Message { topic, payload, response_topic, correlation_data, receipt })) => {
                let message = Message { topic, payload, response_topic, correlation_data };
                let handled = state.on_message(message, now_ms());
                publish(&client, handled.publishes);
                driver.send_all(handled.emits)?;
                // Only questions are held (telemetry was acknowledged when
                // read): acknowledged once sent to dora or dead-lettered.
                if let Some(receipt) = receipt {
                    acknowledger.acknowledge(receipt);
                }
            }
            Ok(NodeEvent::Mqtt(MqttEvent::Connected)) => state.set_connected(true),
            Ok(NodeEvent::Mqtt(MqttEvent::Disconnected)) => state.set_connected(false),
            Ok(NodeEvent::Mqtt(_)) | Err(RecvTimeoutError::Timeout) => {}
            Ok(NodeEvent::Dora(event)) => {
                if driver.step(event, &mut state)? == Flow::Stop {
                    break;
                }
            }
            Ok(NodeEvent::DoraClosed) | Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(emit) = state.batch_due(now_ms()) {
            driver.send(emit)?;
        }
        driver.send_all(state.held_due(now_ms()))?;
    }
    let last = state.on_stop(now_ms());
    driver.send_all(last)?;
    driver.send_metrics(|snapshot| state.metrics(snapshot))?;
    // Dropping the client ends the connection thread after queued publishes.
    let _ = client.try_disconnect();
    Ok(state.counts().clone())
}

/// Queues dead letters and rebirth requests; a full queue loses them (logged),
/// it never blocks the node.
fn publish(client: &Client, publishes: Vec<Publish>) {
    for Publish { topic, qos, payload } in publishes {
        if let Err(error) = client.try_publish(topic.as_str(), qos, false, payload) {
            tracing::warn!(%topic, %error, "cannot queue a publication");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::time::Instant;

    use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};
    use shopfloor_core::env::EnvVars;
    use shopfloor_core::schema::{Answer, AnswerError, MetricSample, Question, Reading, ReadingValue};
    use shopfloor_mqtt::rumqttc::v5::{Client as TestClient, Event, Incoming, MqttOptions};
    use shopfloor_mqtt::QoS;
    use shopfloor_node::testing::TestRun;

    use super::*;

    const ROOT: &str = "plant1/assembly/cell1";

    /// rumqttd on a loopback port (MQTT 5 only), on its own thread for the
    /// rest of the test process.
    fn start_broker() -> SocketAddr {
        let listen = shopfloor_node::test_ports::reserve_address();
        let server = ServerSettings {
            name: "v5".into(),
            listen,
            tls: None,
            next_connection_delay_ms: 1,
            connections: ConnectionSettings {
                connection_timeout_ms: 5_000,
                max_payload_size: 256 * 1024,
                max_inflight_count: 100,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        };
        let config = Config {
            id: 0,
            router: RouterConfig {
                max_connections: 100,
                max_outgoing_packet_count: 200,
                max_segment_size: 1024 * 1024,
                max_segment_count: 10,
                custom_segment: None,
                initialized_filters: None,
                shared_subscriptions_strategy: Default::default(),
            },
            v4: None,
            v5: Some(HashMap::from([("v5".to_owned(), server)])),
            ws: None,
            cluster: None,
            console: None,
            bridge: None,
            prometheus: None,
            metrics: None,
        };
        let mut broker = Broker::new(config);
        // The broker runs until the test process ends; its exit error has
        // nothing to tell a test that waits for the port below.
        std::thread::spawn(move || drop(broker.start()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(listen).is_err() {
            assert!(Instant::now() < deadline, "rumqttd did not listen on {listen}");
            std::thread::sleep(Duration::from_millis(20));
        }
        listen
    }

    /// A plain MQTT 5 client of the test, and its connection on a thread
    /// that collects what arrives on its subscriptions.
    fn test_client(broker: SocketAddr, id: &str) -> (TestClient, std::sync::mpsc::Receiver<(String, Vec<u8>)>) {
        let options = MqttOptions::new(id, broker.ip().to_string(), broker.port());
        let (client, mut connection) = TestClient::new(options, 64);
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        std::thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(Event::Incoming(Incoming::Publish(publish))) => {
                        let topic = String::from_utf8_lossy(&publish.topic).into_owned();
                        if tx.send((topic, publish.payload.to_vec())).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        (client, rx)
    }

    /// How long the node may take to connect and subscribe; the scripted
    /// run lasts this plus two seconds.
    const PROBE_WITHIN_SECS: u64 = 15;

    /// Under dora, against a real broker on loopback: once the node is
    /// subscribed, a question is forwarded on `questions`, number telemetry
    /// arrives batched on `readings`, a malformed question is dead-lettered
    /// to the broker, and the metrics tick reports the counts. The node
    /// holds questions for the router's acceptance, which never comes here:
    /// the question is sent again, then answered `busy` to its asker.
    #[test]
    fn questions_and_telemetry_flow_and_bad_payloads_are_dead_lettered() {
        // The node's log goes to the test's stderr, which nextest shows when
        // the test fails.
        shopfloor_node::logging::init();
        let broker = start_broker();
        let vars = EnvVars::from_iter([
            ("MQTT_BROKER_URL".to_owned(), format!("mqtt://{broker}")),
            ("MQTT_TOPIC_ROOT".to_owned(), ROOT.to_owned()),
            ("TELEMETRY_SUBSCRIPTIONS".to_owned(), "~/telemetry/+ number {5} °C".to_owned()),
            ("TELEMETRY_BATCH_MS".to_owned(), "20".to_owned()),
        ]);
        let config = MqttConfig::from_env("mqtt-source", &vars).unwrap();
        let telemetry = TelemetryConfig::from_env(&vars, config.topics.root()).unwrap();
        let handover = HandoverConfig { resend_ms: 200, give_up_ms: 1_000 };

        let (watcher, dead_letters) = test_client(broker, "dead-letter-watcher");
        watcher.subscribe("plant1/shopfloor/deadletter/#", QoS::AtLeastOnce).unwrap();
        let (publisher, _) = test_client(broker, "plant");
        // The node connects at the start of the run. The plant learns that it
        // has subscribed when a probe (a malformed question) comes back as a
        // dead letter, then publishes the real messages.
        let plant = std::thread::spawn(move || {
            let query = format!("{ROOT}/assistant/query/alice");
            let deadline = Instant::now() + Duration::from_secs(PROBE_WITHIN_SECS);
            let mut probe_letters = 0usize;
            while probe_letters == 0 {
                assert!(Instant::now() < deadline, "the node did not subscribe within {PROBE_WITHIN_SECS} s");
                publisher.publish(&query, QoS::AtLeastOnce, false, b"{probe".to_vec()).unwrap();
                if dead_letters.recv_timeout(Duration::from_millis(200)).is_ok() {
                    probe_letters += 1;
                }
            }
            publisher.publish(&query, QoS::AtLeastOnce, false, br#"{"id":"q1","question":"temp?"}"#.to_vec()).unwrap();
            publisher.publish(&query, QoS::AtLeastOnce, false, b"{not json".to_vec()).unwrap();
            let telemetry = format!("{ROOT}/telemetry/spindle_temperature");
            publisher.publish(&telemetry, QoS::AtLeastOnce, false, b"71.5".to_vec()).unwrap();
            (publisher, dead_letters, probe_letters)
        });

        let (counts, outputs) = TestRun::new("mqtt-source")
            .declare_output("questions")
            .declare_output("readings")
            .declare_output("refusals")
            .declare_output("metrics")
            // Without ticks between, the node's first refusal would wait in
            // dora's testing daemon until the next scripted event (and on a
            // loaded machine its start did: it connected only at the tick).
            .ticks(0.25, PROBE_WITHIN_SECS as f64 + 1.5, "metrics_tick")
            .stop(PROBE_WITHIN_SECS as f64 + 2.0)
            .declare_input(crate::state::ACCEPTED_INPUT)
            .run(|node, events| run(config, telemetry, Some(handover), false, node, events))
            .unwrap();
        let counts = counts.unwrap();
        let (_publisher, dead_letters, mut letters) = plant.join().unwrap();

        let questions: Vec<Question> =
            outputs.on("questions").flat_map(|sent| Question::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert!(questions.len() >= 2, "sent, then sent again: {questions:?}");
        assert!(questions.iter().all(|q| (q.id.as_str(), q.operator.as_str()) == ("q1", "alice")), "{questions:?}");
        let readings: Vec<Reading> =
            outputs.on("readings").flat_map(|sent| Reading::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(readings.len(), 1);
        assert_eq!(
            (readings[0].tag.as_str(), &readings[0].value, readings[0].unit.as_deref()),
            ("spindle_temperature", &ReadingValue::Number(71.5), Some("°C"))
        );

        // Dead letters keep the order of the payloads: the probes' come
        // before the malformed question's.
        let letter = loop {
            let (topic, letter) = dead_letters.recv_timeout(Duration::from_secs(5)).expect("a dead letter");
            assert_eq!(topic, "plant1/shopfloor/deadletter/mqtt-source");
            let letter: serde_json::Value = serde_json::from_slice(&letter).unwrap();
            letters += 1;
            if letter["payload"] == "{not json" {
                break letter;
            }
        };
        assert_eq!(letter["reason"], "invalid_json");
        assert_eq!(counts.rejected.get("invalid_json"), letters as u64, "each refusal counted once, probes included");
        // Each refused question is answered to its asker as well.
        let refusals: Vec<Answer> =
            outputs.on("refusals").flat_map(|sent| Answer::from_arrow(sent.data.as_ref()).unwrap()).collect();
        let (busy, invalid): (Vec<&Answer>, Vec<&Answer>) =
            refusals.iter().partition(|a| a.error == Some(AnswerError::Busy));
        assert_eq!(invalid.len(), letters);
        assert!(invalid.iter().all(|a| a.operator == "alice" && a.error == Some(AnswerError::InvalidQuestion)));
        // Never accepted: its asker is told, once.
        assert_eq!(busy.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["q1"]);

        let snapshots: Vec<Vec<MetricSample>> =
            outputs.on("metrics").map(|sent| MetricSample::from_arrow(sent.data.as_ref()).unwrap()).collect();
        // The stop snapshot: a tick's may come before the broker has
        // delivered everything (rumqttd's router paces its deliveries).
        let last = snapshots.last().expect("a snapshot at stop");
        let value = |name: &str| last.iter().find(|s| s.name == name).map(|s| s.value);
        assert_eq!(value("shopfloor_source_connected"), Some(1.0));
        assert_eq!(value("shopfloor_questions_in"), Some(1.0));
        assert_eq!(value("shopfloor_readings_out"), Some(1.0));
        assert_eq!(value("shopfloor_dead_letters"), Some(letters as f64));
        assert_eq!(value("shopfloor_questions_not_taken"), Some(1.0));
        assert_eq!(value("shopfloor_questions_unaccepted"), Some(0.0));
        assert!(value("shopfloor_questions_resent").is_some_and(|resent| resent >= 1.0));
    }
}
