//! Which `node/output` each input records as.

use std::collections::BTreeMap;

use dora_message::config::InputMapping;
use dora_message::id::DataId;
use recording::output_ref::OutputRef;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_record_as_their_source_unless_told_otherwise_and_timers_are_left_out() {
        let inputs: BTreeMap<DataId, dora_message::config::Input> = serde_norway::from_str(
            "readings: opcua-source/readings\nanswers:\n  source: router/answers\n  queue_policy: backpressure\ntick: dora/timer/millis/1000\n",
        )
        .unwrap();
        let explicit = BTreeMap::from([("answers".to_string(), "slm/answers".parse::<OutputRef>().unwrap())]);
        let topics = resolve(&explicit, &inputs);
        assert_eq!(topics["readings"].to_string(), "opcua-source/readings");
        assert_eq!(topics["answers"].to_string(), "slm/answers", "RECORD_TOPICS wins");
        assert!(!topics.contains_key("tick"));
    }
}
