//! The node's state: the endpoint it serves and whether the server is up.
//! The simulation itself lives in the `plant-sim` library; dora only starts
//! and stops it.

use dora_node_api::arrow_v59::array::Array;
use dora_node_api::MetadataParameters;
use shopfloor_node::metrics::Snapshot;
use shopfloor_node::{Emit, NodeLogic, Rejected};

pub struct PlantSimNode {
    endpoint: String,
    serving: bool,
}

impl PlantSimNode {
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self { endpoint: endpoint.into(), serving: false }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn serving(&self) -> bool {
        self.serving
    }

    /// The server is listening (`true`) or has ended (`false`).
    pub fn set_serving(&mut self, serving: bool) {
        self.serving = serving;
    }
}

impl NodeLogic for PlantSimNode {
    /// The node takes no inputs: anything but the metrics tick is a mistake
    /// in the dataflow, counted and otherwise ignored.
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
            "shopfloor_sim_serving",
            "1 while the simulated plant's OPC UA server is up",
            &[("endpoint", self.endpoint.as_str())],
            f64::from(u8::from(self.serving)),
        );
    }
}

#[cfg(test)]
mod tests {
    use dora_node_api::arrow_v59::array::new_null_array;
    use dora_node_api::arrow_v59::datatypes::DataType;

    use super::*;

    #[test]
    fn any_input_is_refused_as_unknown() {
        let mut node = PlantSimNode::new("opc.tcp://127.0.0.1:4840/");
        let data = new_null_array(&DataType::Null, 0);
        let rejected = node.on_input("tick", data.as_ref(), &MetadataParameters::default(), 0).unwrap_err();
        assert_eq!(rejected.reason, "unknown_input");
    }

    #[test]
    fn the_snapshot_says_whether_the_server_is_up() {
        let mut node = PlantSimNode::new("opc.tcp://127.0.0.1:4840/");
        let serving = |node: &PlantSimNode| {
            let mut snapshot = Snapshot::new("plant-sim");
            node.metrics(&mut snapshot);
            let samples = snapshot.finish();
            let sample = samples.iter().find(|s| s.name == "shopfloor_sim_serving").expect("the gauge");
            assert_eq!(sample.labels, [("endpoint".to_owned(), "opc.tcp://127.0.0.1:4840/".to_owned())]);
            sample.value
        };
        assert_eq!(serving(&node), 0.0);
        node.set_serving(true);
        assert_eq!(serving(&node), 1.0);
        node.set_serving(false);
        assert!(!node.serving());
        assert_eq!(serving(&node), 0.0);
    }
}
