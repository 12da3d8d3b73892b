//! The node's state: where the embedded broker listens, if it runs here at
//! all (with `MQTT_BROKER_URL` set the plant's broker is used and this node
//! only waits for stop).

use std::net::SocketAddr;

use dora_node_api::arrow_v59::array::Array;
use dora_node_api::MetadataParameters;
use shopfloor_node::metrics::Snapshot;
use shopfloor_node::{Emit, NodeLogic, Rejected};

#[derive(Debug, Default)]
pub struct BrokerNode {
    listening: Option<SocketAddr>,
}

impl BrokerNode {
    pub fn new(listening: Option<SocketAddr>) -> Self {
        Self { listening }
    }

    pub fn listening(&self) -> Option<SocketAddr> {
        self.listening
    }
}

impl NodeLogic for BrokerNode {
    /// The node takes no inputs but the metrics tick (answered by the driver).
    fn on_input(
        &mut self,
        input: &str,
        _data: &dyn Array,
        _parameters: &MetadataParameters,
        _now_ms: i64,
    ) -> Result<Vec<Emit>, Rejected> {
        Err(Rejected::unknown_input(input))
    }

    fn metrics(&self, snapshot: &mut Snapshot) {
        snapshot.gauge(
            "shopfloor_broker_embedded",
            "1 while the embedded MQTT broker serves (0: the plant's broker is used)",
            &[],
            f64::from(u8::from(self.listening.is_some())),
        );
    }
}

#[cfg(test)]
mod tests {
    use dora_node_api::arrow_v59::array::new_null_array;
    use dora_node_api::arrow_v59::datatypes::DataType;

    use super::*;

    fn embedded(node: &BrokerNode) -> Option<f64> {
        let mut snapshot = Snapshot::new("mqtt-broker");
        node.metrics(&mut snapshot);
        snapshot.finish().into_iter().find(|s| s.name == "shopfloor_broker_embedded").map(|s| s.value)
    }

    #[test]
    fn the_snapshot_says_whether_the_broker_is_embedded() {
        assert_eq!(embedded(&BrokerNode::new(None)), Some(0.0));
        assert_eq!(embedded(&BrokerNode::new(Some("127.0.0.1:1883".parse().unwrap()))), Some(1.0));
    }

    #[test]
    fn inputs_are_refused_as_unknown() {
        let data = new_null_array(&DataType::Null, 0);
        let rejected =
            BrokerNode::default().on_input("tick", data.as_ref(), &MetadataParameters::default(), 0).unwrap_err();
        assert_eq!(rejected.reason, "unknown_input");
    }
}
