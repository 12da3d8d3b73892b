//! When each message is due: at `(pass offset + recorded offset) / speed`
//! after the replay's start, so a slow send never makes the replay drift.
//! Speed 0 means no waiting at all.

use std::time::Duration;

/// The clock of one replay.
#[derive(Debug, Clone, Copy)]
pub struct ReplayClock {
    speed: f64,
}

impl ReplayClock {
    /// A replay at `speed` (0: as fast as possible).
    pub fn new(speed: f64) -> Self {
        Self { speed }
    }

    /// How long after the replay's start a message recorded at `offset_ns`
    /// is due, in the pass that starts `pass_start_ns` of recorded time
    /// after the first; `None`: now.
    pub fn due(&self, pass_start_ns: u64, offset_ns: u64) -> Option<Duration> {
        if self.speed <= 0.0 {
            return None;
        }
        let recorded = (pass_start_ns.saturating_add(offset_ns)) as f64 / 1e9;
        // Far beyond any real recording; guards the Duration conversion.
        let seconds = (recorded / self.speed).min(1e9);
        Some(Duration::from_secs_f64(seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_due_at_their_offset_over_the_speed() {
        let clock = ReplayClock::new(2.0);
        assert_eq!(clock.due(0, 3_000_000_000), Some(Duration::from_millis(1500)));
        // Second pass of a 10 s recording.
        assert_eq!(clock.due(10_000_000_000, 0), Some(Duration::from_secs(5)));
        assert_eq!(ReplayClock::new(0.0).due(0, 5), None);
        assert!(ReplayClock::new(1e-12).due(0, u64::MAX).is_some());
    }
}
