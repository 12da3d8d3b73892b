//! At-least-once intake (`mqtt-source`'s connection, `connect_acknowledged`)
//! against a real Mosquitto: a QoS 1 message the node received but never
//! acknowledged (it died before handing it on) comes again when the node's
//! session reconnects; one it acknowledged does not.

use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shopfloor_core::env::EnvVars;
use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_mqtt::config::MqttConfig;
use shopfloor_mqtt::{Acknowledger, Client, MqttEvent, Receipt};

const TOPIC: &str = "plant1/assembly/cell1/assistant/query/alice";
/// Generous: the broker and the client may share a busy machine.
const WAIT: Duration = Duration::from_secs(30);

/// One life of the node's connection: connects under the same client id
/// (so the broker's persistent session carries over) and waits until up.
struct Intake {
    client: Client,
    acknowledger: Acknowledger,
    thread: JoinHandle<()>,
    events: Receiver<MqttEvent>,
}

impl Intake {
    fn start(port: u16) -> anyhow::Result<Self> {
        let vars = EnvVars::from_iter([
            ("MQTT_BROKER_URL".to_owned(), format!("mqtt://127.0.0.1:{port}")),
            ("MQTT_CLIENT_ID".to_owned(), format!("redelivery-{}-{port}", std::process::id())),
            ("MQTT_QOS".to_owned(), "1".to_owned()),
        ]);
        let config = MqttConfig::from_env("mqtt-source", &vars)?;
        let (tx, events) = sync_channel(64);
        let questions = "plant1/assembly/cell1/assistant/query/+".to_owned();
        let (client, acknowledger, thread) =
            shopfloor_mqtt::connect_acknowledged(&config, vec![questions.clone()], vec![questions], tx)?;
        let intake = Self { client, acknowledger, thread, events };
        let deadline = Instant::now() + WAIT;
        loop {
            let left =
                deadline.checked_duration_since(Instant::now()).ok_or_else(|| anyhow::anyhow!("not connected"))?;
            if let MqttEvent::Connected = intake.events.recv_timeout(left)? {
                return Ok(intake);
            }
        }
    }

    /// The next message's payload and receipt.
    fn next_message(&self) -> anyhow::Result<(Vec<u8>, Option<Receipt>)> {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.checked_duration_since(Instant::now()).ok_or_else(|| anyhow::anyhow!("no message"))?;
            if let MqttEvent::Message { payload, receipt, .. } = self.events.recv_timeout(left)? {
                return Ok((payload, receipt));
            }
        }
    }

    /// Ends this life: acknowledgements already queued go out, then the
    /// connection closes; whatever was not acknowledged stays with the
    /// broker's session, as when the node is killed.
    fn die(self) -> anyhow::Result<()> {
        let Self { client, mut acknowledger, thread, events } = self;
        anyhow::ensure!(acknowledger.flush() == 0, "acknowledgements left unsent");
        client.try_disconnect()?;
        drop((client, acknowledger));
        thread.join().map_err(|_| anyhow::anyhow!("the connection thread panicked"))?;
        drop(events);
        Ok(())
    }
}

#[test]
fn a_question_not_acknowledged_before_the_node_died_is_delivered_again() -> anyhow::Result<()> {
    let broker = Mosquitto::start()?;
    // The first life subscribes, which creates the persistent session.
    Intake::start(broker.port)?.die()?;
    let operator = TestClient::connect(broker.port, &[])?;

    operator.publish(TOPIC, r#"{"id":"q1","question":"spindle temperature?"}"#)?;
    let life = Intake::start(broker.port)?;
    let (payload, receipt) = life.next_message()?;
    assert!(String::from_utf8_lossy(&payload).contains("q1"));
    assert!(receipt.is_some(), "a QoS 1 message must wait for the node's acknowledgement");
    life.die()?;

    // Not acknowledged: the broker sends it again to the next life. This time
    // the node hands it on and acknowledges it.
    let mut life = Intake::start(broker.port)?;
    let (payload, receipt) = life.next_message()?;
    assert!(String::from_utf8_lossy(&payload).contains("q1"), "the unacknowledged question came again");
    life.acknowledger.acknowledge(receipt.expect("QoS 1"));
    operator.publish(TOPIC, r#"{"id":"q2","question":"and the feed rate?"}"#)?;
    let (payload, receipt) = life.next_message()?;
    assert!(String::from_utf8_lossy(&payload).contains("q2"));
    life.acknowledger.acknowledge(receipt.expect("QoS 1"));
    // A third question, left unacknowledged on purpose.
    operator.publish(TOPIC, r#"{"id":"q3","question":"and the pressure?"}"#)?;
    let (payload, _) = life.next_message()?;
    assert!(String::from_utf8_lossy(&payload).contains("q3"));
    life.die()?;

    // Acknowledged questions never come again; the unacknowledged third does.
    let life = Intake::start(broker.port)?;
    let (payload, _) = life.next_message()?;
    assert!(
        String::from_utf8_lossy(&payload).contains("q3"),
        "only the unacknowledged question comes again, got {}",
        String::from_utf8_lossy(&payload)
    );
    life.die()?;
    Ok(())
}
