//! The node on dora: starts the embedded broker (when no plant broker is
//! configured), then answers dora's events until Stop. The broker's threads
//! end with the process.

use dora_node_api::{DoraNode, EventStream};
use shopfloor_mqtt::config::{BrokerTarget, MqttConfig};
use shopfloor_node::driver::SendError;
use shopfloor_node::{Driver, Flow, NodeLogic};

use crate::config::EmbeddedBrokerConfig;
use crate::state::BrokerNode;
use crate::BrokerError;

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum BrokerNodeError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Serves (or only waits, with a plant broker) until dora says stop.
pub fn run(
    config: &MqttConfig,
    broker: &EmbeddedBrokerConfig,
    node: DoraNode,
    mut events: EventStream,
) -> Result<(), BrokerNodeError> {
    let listening = match &config.broker {
        BrokerTarget::Embedded { listen } => {
            crate::start(*listen, config.max_payload_bytes, broker)?;
            let accounts = broker.users.as_ref().map_or(0, |users| users.len());
            tracing::info!(%listen, tls = broker.tls.is_some(), accounts, "embedded MQTT broker listening (MQTT 3.1.1 and 5)");
            Some(*listen)
        }
        BrokerTarget::External { host, port } => {
            tracing::info!(%host, port, "plant broker configured; embedded broker not started");
            None
        }
    };
    let mut driver = Driver::new(node);
    let mut state = BrokerNode::new(listening);
    while let Some(event) = events.recv() {
        if driver.step(event, &mut state)? == Flow::Stop {
            break;
        }
    }
    driver.send_metrics(|snapshot| state.metrics(snapshot))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use shopfloor_core::env::EnvVars;
    use shopfloor_core::schema::MetricSample;
    use shopfloor_node::testing::TestRun;

    use super::*;
    use crate::backend::{connect_packet, free_loopback_address, is_connack, Protocol};

    /// Under dora: the embedded broker answers an MQTT 5 CONNECT on the
    /// configured loopback address while the node runs, the metrics tick
    /// says so, and Stop ends the node.
    #[test]
    fn the_embedded_broker_serves_while_the_node_runs() {
        let listen = free_loopback_address().unwrap();
        let vars = EnvVars::from_iter([("MQTT_EMBEDDED_LISTEN", listen.to_string())]);
        let config = MqttConfig::from_env("mqtt-broker", &vars).unwrap();
        assert_eq!(config.broker, BrokerTarget::Embedded { listen });
        // The node binds its listener once dora's testing mode has started
        // it (over a second on a loaded machine): the client retries until
        // shortly before the scripted Stop.
        let client = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(7);
            let mut stream = loop {
                match TcpStream::connect(listen) {
                    Ok(stream) => break stream,
                    Err(err) if std::time::Instant::now() > deadline => panic!("no listener on {listen}: {err}"),
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            };
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            stream.write_all(&connect_packet(Protocol::V5, None).unwrap()).unwrap();
            let mut first = [0u8; 1];
            stream.read_exact(&mut first).unwrap();
            is_connack(first[0])
        });
        let (result, outputs) = TestRun::new("mqtt-broker")
            .declare_output("metrics")
            .tick(1.0, "metrics_tick")
            .stop(8.0)
            .run(|node, events| run(&config, &EmbeddedBrokerConfig::default(), node, events))
            .unwrap();
        result.unwrap();
        assert!(client.join().unwrap(), "a CONNACK through the front door");
        let snapshots: Vec<Vec<MetricSample>> =
            outputs.on("metrics").map(|sent| MetricSample::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(snapshots.len(), 2, "one on the tick, one at stop");
        let embedded = snapshots[0].iter().find(|s| s.name == "shopfloor_broker_embedded").map(|s| s.value);
        assert_eq!(embedded, Some(1.0));
    }
}
