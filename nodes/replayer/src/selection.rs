//! Which recorded messages are played, under which output id.

use crate::config::ReplayerConfig;
use recording::RecordedMessage;

/// The output id a recorded message is played under, or `None` when this
/// replayer does not play it.
pub fn output_for(config: &ReplayerConfig, message: &RecordedMessage) -> Option<String> {
    if let Some((output, _)) =
        config.topics.iter().find(|(_, source)| source.node == message.node_id && source.output == message.output_id)
    {
        return Some(output.clone());
    }
    (config.node.as_deref() == Some(message.node_id.as_str())).then(|| message.output_id.clone())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use dora_node_api::uhlc::HLC;

    use super::*;

    fn message(node: &str, output: &str) -> RecordedMessage {
        RecordedMessage {
            node_id: node.into(),
            output_id: output.into(),
            offset_ns: 0,
            timestamp: HLC::default().new_timestamp(),
            parameters: Default::default(),
            data: None,
        }
    }

    #[test]
    fn a_node_plays_under_its_own_ids_and_topics_under_theirs() {
        let mut config = ReplayerConfig {
            file: "x".into(),
            node: Some("opcua-source".into()),
            topics: BTreeMap::new(),
            speed: 1.0,
            repeat: false,
            done_file: None,
            shift_times: BTreeMap::new(),
            linger: None,
            window: 50,
        };
        assert_eq!(output_for(&config, &message("opcua-source", "readings")).as_deref(), Some("readings"));
        assert_eq!(output_for(&config, &message("mqtt-source", "questions")), None);
        config.topics.insert("asked".into(), "mqtt-source/questions".parse().unwrap());
        assert_eq!(output_for(&config, &message("mqtt-source", "questions")).as_deref(), Some("asked"));
        assert_eq!(output_for(&config, &message("mqtt-source", "readings")), None);
    }
}
