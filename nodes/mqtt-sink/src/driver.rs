//! The sink on dora: one loop over one bounded channel that merges dora's
//! events and the MQTT session's, carrying out what [`SinkState`] decides
//! (connect, publish); the shared [`Driver`] counts rejected inputs and
//! sends the metrics. At stop the outbox is drained for a bounded time; what
//! is left stays on disk for the next start.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use dora_node_api::{DoraNode, Event, EventStream};
use shopfloor_core::schema::Accepted;
use shopfloor_mqtt::config::MqttConfig;
use shopfloor_mqtt::{connect_session, publish, qos, Client, MqttEvent};
use shopfloor_node::driver::{forward_dora_events, DoraSide};
use shopfloor_node::metrics::METRICS_TICK_INPUT;
use shopfloor_node::{Driver, Emit};

use crate::config::{AlertDeliveryConfig, OutboxConfig};
use crate::outbox::{FileJournal, Outbox, OutboxError};
use crate::state::{InputError, SinkCounts, SinkState};

/// Node name used in logs and as the settings' owner.
pub const NODE_NAME: &str = "mqtt-sink";
/// Output id of the router's answers taken into the outbox.
pub const ACCEPTED_OUTPUT: &str = "accepted";
/// Output id of the alerts and alarm events taken into the outbox.
pub const ALERTS_ACCEPTED_OUTPUT: &str = "alerts_accepted";
/// Output id of mqtt-source's refusals taken into the outbox.
pub const REFUSALS_ACCEPTED_OUTPUT: &str = "refusals_accepted";

/// Which acceptances the dataflow wires back to their senders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reports {
    /// The router's answers, on [`ACCEPTED_OUTPUT`].
    pub answers: bool,
    /// Alerts and alarm events, on [`ALERTS_ACCEPTED_OUTPUT`].
    pub alerts: bool,
    /// mqtt-source's refusals, on [`REFUSALS_ACCEPTED_OUTPUT`].
    pub refusals: bool,
}
/// How long to wait at stop for the broker to acknowledge what is waiting;
/// the rest stays in the outbox for the next start.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// Events waiting for the loop: dora's inputs and the session's acks.
const EVENT_CHANNEL: usize = 1024;

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot start the thread of dora's events")]
    DoraEvents(#[source] std::io::Error),
    #[error("cannot start the MQTT connection")]
    Mqtt(#[source] std::io::Error),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// What the loop receives.
#[derive(Debug)]
enum SinkEvent {
    Dora(DoraSide),
    Mqtt(MqttEvent),
}

impl From<DoraSide> for SinkEvent {
    fn from(event: DoraSide) -> Self {
        Self::Dora(event)
    }
}

impl From<MqttEvent> for SinkEvent {
    fn from(event: MqttEvent) -> Self {
        Self::Mqtt(event)
    }
}

/// The client of the state's current session.
struct Link<'a> {
    config: &'a MqttConfig,
    tx: SyncSender<SinkEvent>,
    client: Option<(u64, Client)>,
}

impl Link<'_> {
    /// Connects when the state asks, drops the client of an ended session,
    /// and hands the client what the state has ready to publish.
    fn serve(&mut self, state: &mut SinkState<FileJournal>) -> Result<(), SinkError> {
        if self.client.as_ref().is_some_and(|(id, _)| state.session() != Some(*id)) {
            // Dropping the client ends the old session for good.
            self.client = None;
        }
        if let Some(session) = state.connect_due(Instant::now()) {
            let client = connect_session(self.config, session, self.tx.clone()).map_err(SinkError::Mqtt)?;
            self.client = Some((session, client));
        }
        let Some((_, client)) = &self.client else { return Ok(()) };
        while let Some(p) = state.next_publication(Instant::now()) {
            let seq = p.seq;
            // try_publish: the session's request queue (256) is far above the in-flight bound.
            let sent =
                publish(client, p.topic, qos(p.qos), p.retain, p.payload.as_bytes().to_vec(), p.correlation_data);
            if let Err(error) = sent {
                tracing::warn!(%error, "cannot hand a message to the MQTT client; retrying on the next session");
                break;
            }
            state.published(seq, Instant::now());
        }
        Ok(())
    }

    fn disconnect(&mut self) {
        if let Some((_, client)) = self.client.take() {
            // The session ends either way; a failed DISCONNECT changes nothing.
            let _ = client.try_disconnect();
        }
    }
}

/// Runs until dora says stop, then drains the outbox for a bounded time;
/// returns what the sink did.
///
/// With `reports`, the ids of the router's answers (of alerts, of
/// mqtt-source's refusals) are sent on [`ACCEPTED_OUTPUT`]
/// ([`ALERTS_ACCEPTED_OUTPUT`], [`REFUSALS_ACCEPTED_OUTPUT`]) once the outbox
/// holds them: their senders send each again until then.
pub fn run(
    config: &MqttConfig,
    outbox_config: &OutboxConfig,
    alerts: AlertDeliveryConfig,
    reports: Reports,
    node: DoraNode,
    events: EventStream,
) -> Result<SinkCounts, SinkError> {
    let outbox = Outbox::open(&outbox_config.dir, outbox_config.max_messages)?;
    if !outbox.is_empty() || outbox.damaged_lines > 0 {
        tracing::info!(waiting = outbox.len(), damaged_lines = outbox.damaged_lines, "outbox reopened");
    }
    let (tx, rx) = sync_channel::<SinkEvent>(EVENT_CHANNEL);
    forward_dora_events(events, tx.clone()).map_err(SinkError::DoraEvents)?;
    let mut driver = Driver::new(node);
    let mut state = SinkState::new(config, outbox_config, alerts, outbox, Instant::now());
    let mut link = Link { config, tx, client: None };

    loop {
        link.serve(&mut state)?;
        match rx.recv_timeout(state.next_wake(Instant::now())) {
            Ok(SinkEvent::Dora(DoraSide::Event(event))) => {
                let go_on = on_dora_event(&mut driver, &mut state, event)?;
                report(&mut driver, ACCEPTED_OUTPUT, reports.answers, state.take_journaled());
                report(&mut driver, ALERTS_ACCEPTED_OUTPUT, reports.alerts, state.take_journaled_alerts());
                report(&mut driver, REFUSALS_ACCEPTED_OUTPUT, reports.refusals, state.take_journaled_refusals());
                if !go_on {
                    break;
                }
            }
            Ok(SinkEvent::Dora(DoraSide::Closed)) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(SinkEvent::Mqtt(event)) => state.on_mqtt(event, Instant::now())?,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
    send_metrics(&mut driver, &state);
    drain(&mut link, &mut state, &rx)?;
    link.disconnect();
    Ok(SinkCounts { rejected_inputs: driver.rejections().total(), ..state.counts() })
}

/// Tells the senders (where `wired`) what the outbox now holds. Not fatal:
/// a sender sends again, and subscribers remove the repeat by id.
fn report(driver: &mut Driver, output: &'static str, wired: bool, journaled: Vec<Accepted>) {
    if wired && !journaled.is_empty() {
        if let Err(error) = driver.send(Emit::new(output, Accepted::to_arrow(&journaled))) {
            tracing::warn!(%error, output, "cannot tell the senders what is journaled");
        }
    }
}

/// One dora event; false when the node is to stop.
fn on_dora_event(driver: &mut Driver, state: &mut SinkState<FileJournal>, event: Event) -> Result<bool, SinkError> {
    match event {
        Event::Input { id, .. } if id.as_str() == METRICS_TICK_INPUT => send_metrics(driver, state),
        Event::Input { id, data, .. } => match state.take_input(id.as_str(), data.as_array().as_ref()) {
            Ok(_) => {}
            Err(InputError::Rejected(rejected)) => driver.reject(id.as_str(), &rejected),
            Err(InputError::Outbox(error)) => return Err(error.into()),
        },
        Event::Stop(cause) => {
            tracing::info!(?cause, "dora asked the node to stop");
            return Ok(false);
        }
        Event::InputClosed { id } => tracing::info!(input = %id, "input closed"),
        Event::Error(message) => tracing::warn!(%message, "dora reported an error"),
        _ => {}
    }
    Ok(true)
}

/// Sends the snapshot; a failure is logged, not fatal: delivering what the
/// outbox holds matters more than one missed snapshot.
fn send_metrics(driver: &mut Driver, state: &SinkState<FileJournal>) {
    if let Err(error) = driver.send_metrics(|snapshot| state.metrics(snapshot)) {
        tracing::warn!(error = %error, "cannot send metrics");
    }
}

/// At stop: keep publishing until the outbox is empty or the time is up.
fn drain(link: &mut Link<'_>, state: &mut SinkState<FileJournal>, rx: &Receiver<SinkEvent>) -> Result<(), SinkError> {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while !state.is_drained() && Instant::now() < deadline {
        link.serve(state)?;
        let wait = state.next_wake(Instant::now()).min(deadline.saturating_duration_since(Instant::now()));
        match rx.recv_timeout(wait) {
            Ok(SinkEvent::Mqtt(event)) => state.on_mqtt(event, Instant::now())?,
            Ok(SinkEvent::Dora(_)) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, TcpStream};

    use shopfloor_core::env::EnvVars;
    use shopfloor_core::schema::{
        Alert, Answer, AnswerError, MetricSample, Origin, Question, Reading, ReadingValue, Severity,
    };
    use shopfloor_mqtt::rumqttc::v5::{Event as ClientEvent, Incoming, MqttOptions};
    use shopfloor_mqtt::QoS;
    use shopfloor_node::testing::TestRun;

    use super::*;

    /// Outside the ports dora's own listeners take (see `test_ports`).
    fn free_address() -> SocketAddr {
        shopfloor_node::test_ports::reserve_address()
    }

    /// Mosquitto (from PATH) on `addr`, stopped when dropped.
    struct Broker {
        process: std::process::Child,
        _config: tempfile::TempDir,
    }

    impl Drop for Broker {
        fn drop(&mut self) {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }

    fn broker(addr: SocketAddr) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(&conf, format!("listener {} {}\nallow_anonymous true\n", addr.port(), addr.ip())).unwrap();
        let child = std::process::Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mosquitto on PATH");
        let broker = Broker { process: child, _config: dir };
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(10));
        }
        broker
    }

    /// A subscriber to `filters`; returns once the broker confirmed them.
    /// Each message arrives as (topic, JSON payload).
    fn subscriber(addr: SocketAddr, filters: &[String]) -> Receiver<(String, serde_json::Value)> {
        let options = MqttOptions::new("test-subscriber", addr.ip().to_string(), addr.port());
        let (client, mut connection) = shopfloor_mqtt::Client::new(options, 16);
        for filter in filters {
            client.subscribe(filter.clone(), QoS::AtLeastOnce).unwrap();
        }
        let (tx, rx) = sync_channel(256);
        let (subscribed_tx, subscribed_rx) = sync_channel(filters.len());
        std::thread::spawn(move || {
            let _client = client;
            for notification in connection.iter() {
                match notification {
                    Ok(ClientEvent::Incoming(Incoming::SubAck(_))) => {
                        let _ = subscribed_tx.try_send(());
                    }
                    Ok(ClientEvent::Incoming(Incoming::Publish(publish))) => {
                        let topic = String::from_utf8_lossy(&publish.topic).into_owned();
                        let json = serde_json::from_slice(&publish.payload).unwrap_or_default();
                        if tx.send((topic, json)).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        for _ in filters {
            subscribed_rx.recv_timeout(Duration::from_secs(5)).expect("subscription confirmed");
        }
        rx
    }

    /// Messages received until `count` arrived or 5 s passed.
    fn receive(rx: &Receiver<(String, serde_json::Value)>, count: usize) -> Vec<(String, serde_json::Value)> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut received = Vec::new();
        while received.len() < count {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(message) => received.push(message),
                Err(_) => break,
            }
        }
        received
    }

    fn configs(addr: SocketAddr, dir: &std::path::Path) -> (MqttConfig, OutboxConfig) {
        let url = format!("mqtt://{addr}");
        let vars = EnvVars::from([
            ("MQTT_BROKER_URL", url.as_str()),
            ("MQTT_TOPIC_ROOT", "test/sink/line1"),
            ("MQTT_CLIENT_ID", "test-mqtt-sink"),
        ]);
        let mqtt = MqttConfig::from_env(NODE_NAME, &vars).unwrap();
        let outbox = OutboxConfig { dir: dir.to_owned(), max_messages: 1000, catchup_per_sec: 500, inflight: 16 };
        (mqtt, outbox)
    }

    fn alert(id: &str, severity: Severity) -> Alert {
        Alert::new(id, 1_764_000_000_000, "station1", severity, "high_limit", "spindle hot", "limit-alarms")
    }

    fn ids(messages: &[(String, serde_json::Value)], topic_suffix: &str) -> Vec<String> {
        messages
            .iter()
            .filter(|(topic, _)| topic.ends_with(topic_suffix))
            .filter_map(|(_, json)| json["id"].as_str().map(str::to_owned))
            .collect()
    }

    /// Under dora, against Mosquitto on loopback: alerts of two inputs arrive
    /// at a subscriber on their severity topics and retained on `last`, an
    /// MQTT answer on its operator's topic (an HTTP answer is left alone);
    /// a malformed batch and an unknown input are refused and counted in the
    /// metrics; the outbox is empty at the end.
    #[test]
    fn alerts_reach_a_subscriber_and_bad_inputs_are_counted() {
        let addr = free_address();
        let _broker = broker(addr);
        let messages =
            subscriber(addr, &["test/sink/line1/alerts/#".to_owned(), "test/sink/line1/assistant/answer/#".to_owned()]);
        let dir = tempfile::tempdir().unwrap();
        let (mqtt, outbox) = configs(addr, dir.path());
        let mqtt_answer =
            Answer::to_question(&Question::new("q-7", "how hot?", "alice", Origin::Mqtt, 0), "61 °C".into());
        let http_answer = Answer::to_question(&Question::new("chatcmpl-1", "x", "bob", Origin::Http, 0), "y".into());
        let mut refusal = Answer::to_question(&Question::new("q-7", "", "carol", Origin::Mqtt, 0), "empty".into());
        refusal.error = Some(AnswerError::InvalidQuestion);
        let readings = Reading::to_arrow(&[Reading::good("opc", "t".into(), ReadingValue::Number(1.0), None, None, 0)]);
        let (counts, outputs) = TestRun::new(NODE_NAME)
            .input(0.0, "alerts", Alert::to_arrow(&[alert("a-1", Severity::Warning), alert("a-2", Severity::Critical)]))
            .input(0.05, "alerts_vision", Alert::to_arrow(&[alert("a-3", Severity::Info)]))
            .input(0.1, "alerts", readings.clone())
            .input(0.1, "answers", Answer::to_arrow(&[mqtt_answer, http_answer]))
            .input(0.12, "answers_refused", Answer::to_arrow(&[refusal]))
            .input(0.15, "frames", readings)
            .tick(0.3, "metrics_tick")
            .stop(0.5)
            .declare_output(ACCEPTED_OUTPUT)
            .declare_output(ALERTS_ACCEPTED_OUTPUT)
            .declare_output(REFUSALS_ACCEPTED_OUTPUT)
            .run(|node, events| {
                let reports = Reports { answers: true, alerts: true, refusals: true };
                run(&mqtt, &outbox, AlertDeliveryConfig { retain_last: true }, reports, node, events)
            })
            .unwrap();
        let counts = counts.unwrap();
        assert_eq!((counts.accepted, counts.not_for_mqtt, counts.rejected_inputs), (5, 1, 2), "{counts:?}");
        assert_eq!((counts.acknowledged, counts.left_waiting), (8, 0), "5 messages and 3 retained copies: {counts:?}");

        let received = receive(&messages, 8);
        let mut alerts = ids(&received, "/warning");
        alerts.extend(ids(&received, "/critical"));
        alerts.extend(ids(&received, "/info"));
        assert_eq!(alerts, ["a-1", "a-2", "a-3"], "{received:?}");
        assert_eq!(ids(&received, "/station1/last"), ["a-1", "a-2", "a-3"]);
        assert_eq!(ids(&received, "/assistant/answer/alice"), ["q-7"]);
        assert_eq!(ids(&received, "/assistant/answer/carol"), ["q-7"], "the refusal, with the same id");
        // The router is told the MQTT answer is journaled (the HTTP one is not the sink's).
        let journaled: Vec<Accepted> =
            outputs.on(ACCEPTED_OUTPUT).flat_map(|sent| Accepted::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(journaled, [Accepted { id: "q-7".into(), origin: Origin::Mqtt }]);
        // mqtt-source is told the refusal is journaled, on a stream of its own:
        // a refusal may share its id with an answer the router holds.
        let refusals_journaled: Vec<Accepted> = outputs
            .on(REFUSALS_ACCEPTED_OUTPUT)
            .flat_map(|sent| Accepted::from_arrow(sent.data.as_ref()).unwrap())
            .collect();
        assert_eq!(refusals_journaled, [Accepted { id: "q-7".into(), origin: Origin::Mqtt }]);
        // Their producers are told the alerts are journaled, each once, in order.
        let alerts_journaled: Vec<String> = outputs
            .on(ALERTS_ACCEPTED_OUTPUT)
            .flat_map(|sent| Accepted::from_arrow(sent.data.as_ref()).unwrap())
            .map(|accepted| accepted.id)
            .collect();
        assert_eq!(alerts_journaled, ["a-1", "a-2", "a-3"]);

        let snapshots: Vec<Vec<MetricSample>> =
            outputs.on("metrics").map(|sent| MetricSample::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(snapshots.len(), 2, "one on the tick, one at stop");
        let rejected: Vec<(&str, f64)> = snapshots[1]
            .iter()
            .filter(|s| s.name == "shopfloor_rejected_inputs")
            .map(|s| (s.labels[0].1.as_str(), s.value))
            .collect();
        assert_eq!(rejected, [("schema", 1.0), ("unknown_input", 1.0)]);
        assert!(snapshots[1].iter().any(|s| s.name == "shopfloor_sink_connected" && s.value == 1.0));
    }

    /// With no broker, what was accepted stays in the outbox on disk when
    /// the node stops; the next start sends it once a broker is there.
    #[test]
    fn nothing_accepted_is_lost_when_the_broker_is_away_at_stop() {
        let addr = free_address();
        let dir = tempfile::tempdir().unwrap();
        let (mqtt, outbox) = configs(addr, dir.path());
        let alerts = AlertDeliveryConfig { retain_last: false };
        let (counts, _) = TestRun::new(NODE_NAME)
            .input(0.0, "alerts", Alert::to_arrow(&[alert("a-1", Severity::Critical), alert("a-2", Severity::Info)]))
            .stop(0.2)
            .run(|node, events| run(&mqtt, &outbox, alerts, Reports::default(), node, events))
            .unwrap();
        let counts = counts.unwrap();
        assert_eq!((counts.accepted, counts.acknowledged, counts.left_waiting), (2, 0, 2), "{counts:?}");

        let _broker = broker(addr);
        let messages = subscriber(addr, &["test/sink/line1/alerts/#".to_owned()]);
        let (counts, _) = TestRun::new(NODE_NAME)
            .stop(0.3)
            .run(|node, events| run(&mqtt, &outbox, alerts, Reports::default(), node, events))
            .unwrap();
        let counts = counts.unwrap();
        assert_eq!((counts.acknowledged, counts.left_waiting), (2, 0), "{counts:?}");
        let received = receive(&messages, 2);
        let order: Vec<&str> = received.iter().filter_map(|(_, json)| json["id"].as_str()).collect();
        assert_eq!(order, ["a-1", "a-2"]);
    }
}
