//! The node's loop: every input message to the file, until the inputs end
//! or dora stops the node.

use std::collections::BTreeMap;
use std::time::Instant;

use std::sync::Arc;

use dora_node_api::arrow_v59::array::{Array, ArrayRef, UInt64Array};
use dora_node_api::arrow_v59::datatypes::DataType;
use dora_node_api::dora_core::config::DataId;
use dora_node_api::metadata::strip_internal_parameters;
use dora_node_api::DoraNode;
use dora_node_api::{Event, EventStream};
use recording::drec::unix_nanos_now;
use recording::output_ref::OutputRef;
use recording::{DrecError, DrecWriter, RecordedMessage};

/// What the recorder did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Messages recorded, per `node/output`.
    pub recorded: BTreeMap<String, u64>,
    /// Messages of inputs that map to no output (not recorded), per input.
    pub unmapped: BTreeMap<String, u64>,
}

/// The output that reports how many messages are recorded so far (a
/// one-value UInt64 after each), when the dataflow declares it: a replayer's
/// `ack…` input paces itself by it.
pub const RECORDED_OUTPUT: &str = "recorded";

/// Records until the stream ends; the file is finished either way. With
/// `progress`, the count so far is sent after each message.
pub fn run(
    topics: &BTreeMap<String, OutputRef>,
    mut writer: DrecWriter,
    mut events: EventStream,
    mut progress: Option<&mut DoraNode>,
) -> Result<Counts, DrecError> {
    let mut counts = Counts::default();
    let started = Instant::now();
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, metadata, data } => {
                let Some(topic) = topics.get(id.as_str()) else {
                    let unmapped = counts.unmapped.entry(id.to_string()).or_default();
                    if *unmapped == 0 {
                        tracing::warn!(input = %id, "input maps to no node output; not recorded (set RECORD_TOPICS)");
                    }
                    *unmapped += 1;
                    continue;
                };
                let mut parameters = metadata.parameters.clone();
                strip_internal_parameters(&mut parameters);
                let array = data.into_inner();
                let data = (!(array.is_empty() && *array.data_type() == DataType::Null)).then_some(array);
                let message = RecordedMessage {
                    node_id: topic.node.clone(),
                    output_id: topic.output.clone(),
                    offset_ns: unix_nanos_now().saturating_sub(writer.start_nanos()),
                    timestamp: metadata.timestamp(),
                    parameters,
                    data,
                };
                writer.write(&message)?;
                *counts.recorded.entry(message.topic()).or_default() += 1;
                if let Some(node) = progress.as_deref_mut() {
                    let total: ArrayRef = Arc::new(UInt64Array::from(vec![writer.messages()]));
                    if let Err(error) =
                        node.send_output(DataId::from(RECORDED_OUTPUT.to_owned()), Default::default(), total)
                    {
                        tracing::warn!(%error, "cannot report progress");
                    }
                }
            }
            Event::Stop(_) => break,
            _ => {}
        }
    }
    let messages = writer.messages();
    writer.finish()?;
    tracing::info!(messages, seconds = started.elapsed().as_secs_f64(), recorded = ?counts.recorded, "recording closed");
    Ok(counts)
}
