//! What a recording holds, per `node/output`.

use std::collections::BTreeMap;
use std::fmt::Write;

use dora_node_api::arrow_v59::array::Array;

use crate::message::RecordedMessage;

/// Counts of one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicSummary {
    pub messages: u64,
    /// Payload rows over all messages.
    pub rows: u64,
    /// Payload bytes (Arrow buffers) over all messages.
    pub bytes: u64,
    /// Offset of the first message, ns.
    pub first_ns: u64,
    /// Offset of the last message, ns.
    pub last_ns: u64,
}

/// Per-topic counts, topics in name order.
pub fn summarize(messages: &[RecordedMessage]) -> BTreeMap<String, TopicSummary> {
    let mut topics: BTreeMap<String, TopicSummary> = BTreeMap::new();
    for message in messages {
        let entry = topics
            .entry(message.topic())
            .or_insert_with(|| TopicSummary { first_ns: message.offset_ns, ..TopicSummary::default() });
        entry.messages += 1;
        entry.rows += message.rows() as u64;
        entry.bytes += message.data.as_ref().map_or(0, |d| d.get_array_memory_size() as u64);
        entry.first_ns = entry.first_ns.min(message.offset_ns);
        entry.last_ns = entry.last_ns.max(message.offset_ns);
    }
    topics
}

/// The summary as a text table.
pub fn render(messages: &[RecordedMessage]) -> String {
    let mut out = String::new();
    let span = messages.iter().map(|m| m.offset_ns).max().unwrap_or(0);
    let _ = writeln!(out, "{} messages over {:.3} s", messages.len(), span as f64 / 1e9);
    let _ = writeln!(
        out,
        "{:<32} {:>8} {:>8} {:>12} {:>9} {:>9}",
        "topic", "messages", "rows", "bytes", "first s", "last s"
    );
    for (topic, s) in summarize(messages) {
        let _ = writeln!(
            out,
            "{topic:<32} {:>8} {:>8} {:>12} {:>9.3} {:>9.3}",
            s.messages,
            s.rows,
            s.bytes,
            s.first_ns as f64 / 1e9,
            s.last_ns as f64 / 1e9
        );
    }
    out
}
