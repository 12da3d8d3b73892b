//! Collecting readings between two dora sends: pure, no I/O.
//!
//! Readings arrive one by one from subscription notifications; the node sends
//! whatever has gathered as one Arrow batch per wake-up. The batch is bounded so
//! that a stalled dora output cannot grow memory without limit: past
//! `max_len`, the oldest readings are dropped (the newest value of a tag is the
//! one that matters) and counted.

use std::collections::VecDeque;

use shopfloor_core::schema::Reading;

/// Readings waiting to be sent, oldest first.
#[derive(Debug)]
pub struct ReadingBatch {
    pending: VecDeque<Reading>,
    max_len: usize,
    dropped: u64,
}

/// What [`ReadingBatch::take`] hands out.
#[derive(Debug, Clone, PartialEq)]
pub struct TakenBatch {
    /// The readings, oldest first.
    pub readings: Vec<Reading>,
    /// Readings dropped since the previous batch because the batch was full.
    pub dropped: u64,
}

impl ReadingBatch {
    /// An empty batch that keeps at most `max_len` readings (at least 1).
    pub fn new(max_len: usize) -> Self {
        Self { pending: VecDeque::new(), max_len: max_len.max(1), dropped: 0 }
    }

    /// Adds a reading, dropping the oldest one if the batch is full.
    pub fn push(&mut self, reading: Reading) {
        if self.pending.len() == self.max_len {
            self.pending.pop_front();
            self.dropped += 1;
        }
        self.pending.push_back(reading);
    }

    /// Adds readings in order.
    pub fn extend(&mut self, readings: impl IntoIterator<Item = Reading>) {
        for reading in readings {
            self.push(reading);
        }
    }

    /// Number of readings waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Hands out everything gathered so far, or `None` if nothing arrived, and
    /// starts a new batch.
    pub fn take(&mut self) -> Option<TakenBatch> {
        if self.pending.is_empty() {
            return None;
        }
        let readings = self.pending.drain(..).collect();
        let dropped = std::mem::take(&mut self.dropped);
        Some(TakenBatch { readings, dropped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopfloor_core::schema::ReadingValue;

    fn reading(tag: &str, value: f64) -> Reading {
        Reading::good("opc.tcp://127.0.0.1:4840/", tag.into(), ReadingValue::Number(value), None, None, 0)
    }

    #[test]
    fn an_empty_batch_hands_out_nothing() {
        assert_eq!(ReadingBatch::new(10).take(), None);
    }

    #[test]
    fn readings_come_out_in_arrival_order_once() {
        let mut batch = ReadingBatch::new(10);
        batch.push(reading("a", 1.0));
        batch.extend([reading("b", 2.0), reading("a", 3.0)]);
        assert_eq!(batch.len(), 3);
        let taken = batch.take().unwrap();
        let order: Vec<(&str, f64)> = taken
            .readings
            .iter()
            .map(|r| match r.value {
                ReadingValue::Number(n) => (r.tag.as_str(), n),
                ReadingValue::Text(_) => unreachable!(),
            })
            .collect();
        assert_eq!(order, vec![("a", 1.0), ("b", 2.0), ("a", 3.0)]);
        assert_eq!(taken.dropped, 0);
        assert!(batch.is_empty());
        assert_eq!(batch.take(), None);
    }

    #[test]
    fn a_full_batch_drops_the_oldest_readings_and_counts_them() {
        let mut batch = ReadingBatch::new(2);
        batch.extend([reading("a", 1.0), reading("a", 2.0), reading("a", 3.0), reading("a", 4.0)]);
        let taken = batch.take().unwrap();
        assert_eq!(taken.readings, vec![reading("a", 3.0), reading("a", 4.0)]);
        assert_eq!(taken.dropped, 2);
    }

    #[test]
    fn the_drop_count_starts_over_with_each_batch() {
        let mut batch = ReadingBatch::new(1);
        batch.extend([reading("a", 1.0), reading("a", 2.0)]);
        assert_eq!(batch.take().unwrap().dropped, 1);
        batch.push(reading("a", 3.0));
        assert_eq!(batch.take().unwrap().dropped, 0);
    }

    #[test]
    fn a_zero_limit_still_keeps_the_newest_reading() {
        let mut batch = ReadingBatch::new(0);
        batch.extend([reading("a", 1.0), reading("a", 2.0)]);
        assert_eq!(batch.take().unwrap().readings, vec![reading("a", 2.0)]);
    }
}
