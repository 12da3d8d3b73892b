//! When each frame is due: frame `n` at `start + n / rate`, so a slow send
//! never makes the stream drift (late frames go at once, then the pace
//! resumes).

use std::time::{Duration, Instant};

/// The pace of a stream of frames.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    start: Instant,
    period: Duration,
}

impl Pace {
    /// Frames at `rate_hz` from `start`.
    pub fn new(start: Instant, rate_hz: f64) -> Self {
        Self { start, period: Duration::from_secs_f64(1.0 / rate_hz.max(1e-3)) }
    }

    /// When frame number `n` (from 0) is due.
    pub fn due(&self, n: u64) -> Instant {
        self.start + self.period.mul_f64(n as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_due_at_fixed_offsets_from_the_start() {
        let start = Instant::now();
        let pace = Pace::new(start, 4.0);
        assert_eq!(pace.due(0), start);
        assert_eq!(pace.due(10) - start, Duration::from_millis(2500));
    }
}
