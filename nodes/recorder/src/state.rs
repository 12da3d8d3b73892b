//! The recorder as plain state: which input records as which `node/output`,
//! the message to write for each input, and the counts. No dora, no file,
//! no clock: the driver hands each input over with the time and writes
//! what comes back.

use std::collections::BTreeMap;
use std::sync::Arc;

use dora_node_api::arrow_v59::array::{Array, ArrayRef, UInt64Array};
use dora_node_api::arrow_v59::datatypes::DataType;
use dora_node_api::metadata::strip_internal_parameters;
use dora_node_api::uhlc::Timestamp;
use dora_node_api::MetadataParameters;
use recording::output_ref::OutputRef;
use recording::RecordedMessage;
use shopfloor_node::Emit;

/// The count of messages recorded so far (a one-value UInt64 after each),
/// when the dataflow declares it: a replayer's `ack…` input paces itself
/// by it.
pub const RECORDED_OUTPUT: &str = "recorded";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Messages recorded, per `node/output`.
    pub recorded: BTreeMap<String, u64>,
    /// Messages of inputs that map to no output (not recorded), per input.
    pub unmapped: BTreeMap<String, u64>,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.recorded.values().sum()
    }
}

pub struct RecorderState {
    topics: BTreeMap<String, OutputRef>,
    /// Whether the dataflow declares [`RECORDED_OUTPUT`].
    reports: bool,
    /// When the recording started, ns since the Unix epoch.
    start_nanos: u64,
    counts: Counts,
}

impl RecorderState {
    pub fn new(topics: BTreeMap<String, OutputRef>, reports: bool, start_nanos: u64) -> Self {
        Self { topics, reports, start_nanos, counts: Counts::default() }
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// The message to write for an input that came at `now_nanos`; `None`
    /// (counted, warned once) for an input that maps to no output.
    pub fn message(
        &mut self,
        input: &str,
        parameters: &MetadataParameters,
        timestamp: Timestamp,
        data: ArrayRef,
        now_nanos: u64,
    ) -> Option<RecordedMessage> {
        let Some(topic) = self.topics.get(input) else {
            let unmapped = self.counts.unmapped.entry(input.to_owned()).or_default();
            if *unmapped == 0 {
                tracing::warn!(input, "input maps to no node output; not recorded (set RECORD_TOPICS)");
            }
            *unmapped += 1;
            return None;
        };
        let mut parameters = parameters.clone();
        strip_internal_parameters(&mut parameters);
        // A timer's tick (no data) records as a message without payload.
        let data = (!(data.is_empty() && *data.data_type() == DataType::Null)).then_some(data);
        Some(RecordedMessage {
            node_id: topic.node.clone(),
            output_id: topic.output.clone(),
            offset_ns: now_nanos.saturating_sub(self.start_nanos),
            timestamp,
            parameters,
            data,
        })
    }

    /// `message` is in the file: counted, and the progress report to send.
    pub fn written(&mut self, message: &RecordedMessage) -> Option<Emit> {
        *self.counts.recorded.entry(message.topic()).or_default() += 1;
        let total: ArrayRef = Arc::new(UInt64Array::from(vec![self.counts.total()]));
        self.reports.then(|| Emit::new(RECORDED_OUTPUT, total))
    }
}

#[cfg(test)]
mod tests {
    use dora_node_api::arrow_v59::array::{Float64Array, NullArray};
    use dora_node_api::uhlc::HLC;
    use dora_node_api::Parameter;

    use super::*;

    fn topics() -> BTreeMap<String, OutputRef> {
        BTreeMap::from([("readings".to_owned(), "opcua-source/readings".parse().unwrap())])
    }

    #[test]
    fn a_mapped_input_records_as_its_output_at_its_offset() {
        let mut state = RecorderState::new(topics(), true, 1_000);
        let mut parameters = MetadataParameters::default();
        parameters.insert("width".into(), Parameter::Integer(640));
        let data: ArrayRef = Arc::new(Float64Array::from(vec![1.5]));
        let timestamp = HLC::default().new_timestamp();
        let message = state.message("readings", &parameters, timestamp, data, 5_000).unwrap();
        assert_eq!((message.topic().as_str(), message.offset_ns), ("opcua-source/readings", 4_000));
        assert_eq!(message.parameters.get("width"), Some(&Parameter::Integer(640)));
        assert_eq!((message.timestamp, message.rows()), (timestamp, 1));
        let progress = state.written(&message).unwrap();
        assert_eq!(progress.output, RECORDED_OUTPUT);
        let total = progress.data.as_any().downcast_ref::<UInt64Array>().unwrap();
        assert_eq!(total.value(0), 1);
        assert_eq!(state.counts().recorded["opcua-source/readings"], 1);
    }

    #[test]
    fn an_unmapped_input_is_counted_not_recorded_and_no_data_is_no_payload() {
        let mut state = RecorderState::new(topics(), false, 0);
        let timestamp = HLC::default().new_timestamp();
        let empty: ArrayRef = Arc::new(NullArray::new(0));
        assert!(state.message("tick", &MetadataParameters::default(), timestamp, empty.clone(), 1).is_none());
        assert!(state.message("tick", &MetadataParameters::default(), timestamp, empty.clone(), 2).is_none());
        assert_eq!(state.counts().unmapped["tick"], 2);
        let message = state.message("readings", &MetadataParameters::default(), timestamp, empty, 3).unwrap();
        assert!(message.data.is_none());
        assert!(state.written(&message).is_none(), "no progress output declared");
    }
}
