//! Flow control by acknowledgement. dora's `queue_policy: backpressure` is a
//! bounded buffer at the receiver (10 × `queue_size`, at least 100), which
//! drops the oldest message beyond it and never slows the sender; a replay
//! faster than its receivers therefore loses messages. Receivers that report
//! how many messages they have taken (the recorder's `recorded` output, a
//! cumulative UInt64) on the replayer's `ack…` inputs let it keep at most
//! `REPLAY_WINDOW` messages in flight: lossless at any speed.

use std::collections::BTreeMap;

use dora_node_api::arrow_v59::array::{Array, ArrayRef, UInt64Array};

/// The acknowledged counts of every `ack…` input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credits {
    acked: BTreeMap<String, u64>,
}

impl Credits {
    /// Flow control over `inputs` (the replayer's `ack…` input ids); none:
    /// no flow control.
    pub fn new(inputs: impl IntoIterator<Item = String>) -> Self {
        Self { acked: inputs.into_iter().map(|id| (id, 0)).collect() }
    }

    /// Whether any receiver acknowledges.
    pub fn active(&self) -> bool {
        !self.acked.is_empty()
    }

    /// A report on `input`: the last value of a UInt64 payload is the count
    /// taken so far (counts never go back).
    pub fn report(&mut self, input: &str, data: &ArrayRef) {
        let Some(count) = self.acked.get_mut(input) else { return };
        if let Some(values) = data.as_any().downcast_ref::<UInt64Array>() {
            if let Some(last) = (!values.is_empty()).then(|| values.value(values.len() - 1)) {
                *count = (*count).max(last);
            }
        }
    }

    /// A receiver that went away no longer holds the replay back.
    pub fn closed(&mut self, input: &str) {
        self.acked.remove(input);
    }

    /// Whether one more message may go when `sent` have gone.
    pub fn may_send(&self, sent: u64, window: u64) -> bool {
        let acked = self.acked.values().copied().min().unwrap_or(u64::MAX);
        sent.saturating_sub(acked) < window
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn count(n: u64) -> ArrayRef {
        Arc::new(UInt64Array::from(vec![n]))
    }

    #[test]
    fn the_slowest_receiver_sets_the_pace() {
        let mut credits = Credits::new(["ack_a".to_string(), "ack_b".to_string()]);
        assert!(credits.active());
        assert!(credits.may_send(9, 10) && !credits.may_send(10, 10));
        credits.report("ack_a", &count(10));
        assert!(!credits.may_send(10, 10), "b has taken nothing");
        credits.report("ack_b", &count(4));
        assert!(credits.may_send(13, 10) && !credits.may_send(14, 10));
        credits.report("ack_b", &count(2));
        assert!(credits.may_send(13, 10), "a count never goes back");
        credits.closed("ack_b");
        assert!(credits.may_send(19, 10) && !credits.may_send(20, 10));
        credits.report("other", &count(100));
        assert!(!credits.may_send(20, 10));
    }

    #[test]
    fn without_receivers_nothing_is_held_back() {
        let credits = Credits::new(Vec::new());
        assert!(!credits.active() && credits.may_send(1_000_000, 1));
    }
}
