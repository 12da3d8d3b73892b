//! One tag's latest reading and short history, and the trend computed from it.

use std::collections::VecDeque;

use shopfloor_core::schema::{Reading, ReadingValue};

use crate::facts::Trend;

/// The trend is fitted over at most this much recent history.
pub const TREND_WINDOW_MS: i64 = 60_000;

/// Most samples kept per tag, whatever the history window (bounds memory
/// for a tag that changes every millisecond).
const MAX_SAMPLES: usize = 2_000;

/// Most value changes remembered per tag. Only whether a tag moves is asked
/// ([`TagState::recent_changes`] above 2), and a tag changing at 1 kHz would
/// otherwise keep 600 000 times in a 10-minute window (8 MiB, found by the soak).
pub const MAX_CHANGES: usize = 64;

/// One numeric sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Source (or arrival) timestamp, ms.
    pub ts_ms: i64,
    pub value: f64,
}

/// A tag's state.
#[derive(Debug, Clone)]
pub struct TagState {
    pub latest: Reading,
    /// When the value last changed (ms).
    pub last_change_ms: i64,
    /// Numeric samples within the history window, oldest first.
    history: VecDeque<Sample>,
    /// Value changes seen within the history window (for fact-sheet order).
    changes: VecDeque<i64>,
}

/// The timestamp a reading is ordered by: the source's, else arrival.
pub fn timestamp(reading: &Reading) -> i64 {
    reading.source_ts_ms.unwrap_or(reading.received_ts_ms)
}

impl TagState {
    /// A tag's state from its first reading.
    pub fn new(reading: Reading) -> Self {
        let ts = timestamp(&reading);
        let mut state =
            Self { latest: reading, last_change_ms: ts, history: VecDeque::new(), changes: VecDeque::new() };
        state.record_sample(ts);
        state
    }

    /// Takes a newer reading; an older one than held is ignored (returns false).
    pub fn update(&mut self, reading: Reading, history_ms: i64) -> bool {
        let ts = timestamp(&reading);
        if ts < timestamp(&self.latest) {
            return false;
        }
        if reading.value != self.latest.value {
            self.last_change_ms = ts;
            self.changes.push_back(ts);
            if self.changes.len() > MAX_CHANGES {
                self.changes.pop_front();
            }
        }
        self.latest = reading;
        self.record_sample(ts);
        self.forget_before(ts - history_ms);
        true
    }

    fn record_sample(&mut self, ts_ms: i64) {
        if let ReadingValue::Number(value) = self.latest.value {
            if value.is_finite() {
                self.history.push_back(Sample { ts_ms, value });
                if self.history.len() > MAX_SAMPLES {
                    self.history.pop_front();
                }
            }
        }
    }

    fn forget_before(&mut self, oldest_ms: i64) {
        while self.history.front().is_some_and(|s| s.ts_ms < oldest_ms) {
            self.history.pop_front();
        }
        while self.changes.front().is_some_and(|&ts| ts < oldest_ms) {
            self.changes.pop_front();
        }
    }

    /// Samples kept, oldest first.
    pub fn history(&self) -> impl DoubleEndedIterator<Item = &Sample> + ExactSizeIterator {
        self.history.iter()
    }

    /// Value changes within the history window, at most [`MAX_CHANGES`].
    pub fn recent_changes(&self) -> usize {
        self.changes.len()
    }

    /// Least-squares slope over the last [`TREND_WINDOW_MS`]; needs three
    /// samples spanning 5 s. Stable when the fitted change per minute is below
    /// 1 % of the value's size (absolute 0.001 for values near zero).
    pub fn trend(&self) -> Trend {
        let Some(last) = self.history.back() else { return Trend::Unknown };
        let window: Vec<Sample> =
            self.history.iter().filter(|s| s.ts_ms >= last.ts_ms - TREND_WINDOW_MS).copied().collect();
        let span_ms = last.ts_ms - window.first().map_or(last.ts_ms, |s| s.ts_ms);
        if window.len() < 3 || span_ms < 5_000 {
            return Trend::Unknown;
        }
        let n = window.len() as f64;
        let mean_t = window.iter().map(|s| (s.ts_ms - last.ts_ms) as f64).sum::<f64>() / n;
        let mean_v = window.iter().map(|s| s.value).sum::<f64>() / n;
        let (mut covariance, mut variance) = (0.0, 0.0);
        for s in &window {
            let dt = (s.ts_ms - last.ts_ms) as f64 - mean_t;
            covariance += dt * (s.value - mean_v);
            variance += dt * dt;
        }
        if variance <= 0.0 {
            return Trend::Unknown;
        }
        let per_minute = covariance / variance * 60_000.0;
        let threshold = (mean_v.abs() * 0.01).max(0.001);
        if per_minute.abs() < threshold {
            Trend::Stable
        } else if per_minute > 0.0 {
            Trend::Rising { per_minute }
        } else {
            Trend::Falling { per_minute: -per_minute }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(value: f64, ts: i64) -> Reading {
        crate::test_support::reading("spindle_temperature", ReadingValue::Number(value), Some("°C"), ts)
    }

    fn series(values: impl IntoIterator<Item = (f64, i64)>) -> TagState {
        let mut values = values.into_iter();
        let (v, ts) = values.next().unwrap();
        let mut state = TagState::new(reading(v, ts));
        for (v, ts) in values {
            state.update(reading(v, ts), 600_000);
        }
        state
    }

    #[test]
    fn a_steady_rise_is_reported_with_its_rate_per_minute() {
        // +0.5 °C every 10 s = 3 °C/min
        let state = series((0..7).map(|i| (70.0 + 0.5 * i as f64, i * 10_000)));
        match state.trend() {
            Trend::Rising { per_minute } => assert!((per_minute - 3.0).abs() < 1e-9, "{per_minute}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn noise_around_a_level_is_stable() {
        let state = series((0..10).map(|i| (70.0 + if i % 2 == 0 { 0.1 } else { -0.1 }, i * 5_000)));
        assert_eq!(state.trend(), Trend::Stable);
    }

    #[test]
    fn a_fall_is_reported_as_a_positive_rate() {
        let state = series((0..5).map(|i| (100.0 - 10.0 * i as f64, i * 60_000 / 4)));
        assert!(matches!(state.trend(), Trend::Falling { per_minute } if (per_minute - 40.0).abs() < 1e-9));
    }

    #[test]
    fn too_little_history_gives_no_trend() {
        assert_eq!(series([(1.0, 0), (2.0, 1_000)]).trend(), Trend::Unknown);
        assert_eq!(series([(1.0, 0), (2.0, 1_000), (3.0, 2_000)]).trend(), Trend::Unknown);
    }

    #[test]
    fn the_time_of_the_last_change_ignores_repeats() {
        let state = series([(1.0, 0), (2.0, 1_000), (2.0, 5_000)]);
        assert_eq!(state.last_change_ms, 1_000);
        assert_eq!(state.recent_changes(), 1);
    }

    #[test]
    fn a_tag_changing_every_millisecond_keeps_bounded_memory() {
        let mut state = series([(0.0, 0)]);
        for ms in 1..20_000 {
            state.update(reading((ms % 100) as f64, ms), 600_000);
        }
        assert_eq!(state.recent_changes(), MAX_CHANGES, "counted up to the bound, still a moving tag");
        assert!(state.history().len() <= MAX_SAMPLES);
    }

    #[test]
    fn older_readings_are_ignored_and_history_is_bounded_by_the_window() {
        let mut state = series([(1.0, 0), (2.0, 1_000)]);
        assert!(!state.update(reading(9.0, 500), 600_000));
        state.update(reading(3.0, 700_000), 600_000);
        assert_eq!(state.history().len(), 1);
    }
}
