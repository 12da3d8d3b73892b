//! One recorded message: which node output it came from, when, its metadata
//! parameters and its Arrow payload.

use dora_node_api::arrow_v59::array::{Array, ArrayRef};
use dora_node_api::uhlc::Timestamp;
use dora_node_api::MetadataParameters;

/// A dataflow message as recorded.
#[derive(Debug, Clone)]
pub struct RecordedMessage {
    /// The node that sent it (a dora node id).
    pub node_id: String,
    /// That node's output (a dora output id).
    pub output_id: String,
    /// Time since the recording started, in nanoseconds.
    pub offset_ns: u64,
    /// The message's dora timestamp (hybrid logical clock) when it was sent.
    pub timestamp: Timestamp,
    /// The sender's metadata parameters (frame size, request ids, ...).
    pub parameters: MetadataParameters,
    /// The payload; `None` for a message without data.
    pub data: Option<ArrayRef>,
}

impl RecordedMessage {
    /// `node/output`, as dataflow YAML names an output.
    pub fn topic(&self) -> String {
        format!("{}/{}", self.node_id, self.output_id)
    }

    /// Same sender, parameters and payload (type, length and every value):
    /// what a lossless replay must preserve. Times are not compared, a replay
    /// sends at its own time.
    pub fn same_content(&self, other: &RecordedMessage) -> bool {
        self.node_id == other.node_id
            && self.output_id == other.output_id
            && self.parameters == other.parameters
            && match (&self.data, &other.data) {
                (None, None) => true,
                (Some(a), Some(b)) => a.to_data() == b.to_data(),
                _ => false,
            }
    }

    /// Payload length in rows (0 without data).
    pub fn rows(&self) -> usize {
        self.data.as_ref().map_or(0, |data| data.len())
    }
}
