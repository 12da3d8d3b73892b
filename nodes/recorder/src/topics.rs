//! Which `node/output` each input records as.

use std::collections::BTreeMap;

use dora_message::config::InputMapping;
use dora_message::id::DataId;
use shopfloor_core::config::OutputRef;

/// Input id → the output it records as: `RECORD_TOPICS` first, then the
/// dataflow's mapping of the input. Timers and log streams are left out.
pub fn resolve(
    explicit: &BTreeMap<String, OutputRef>,
    inputs: &BTreeMap<DataId, dora_message::config::Input>,
) -> BTreeMap<String, OutputRef> {
    let mut topics = explicit.clone();
    for (id, input) in inputs {
        if let InputMapping::User(user) = &input.mapping {
            topics
                .entry(id.to_string())
                .or_insert_with(|| OutputRef { node: user.source.to_string(), output: user.output.to_string() });
        }
    }
    topics
}
