//! When each frame is due: frame `n` at `n / rate` after the start, so a
//! slow send never makes the stream drift (late frames go at once, then the
//! pace resumes).

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Pace {
    period: Duration,
}

impl Pace {
    pub fn new(rate_hz: f64) -> Self {
        Self { period: Duration::from_secs_f64(1.0 / rate_hz.max(1e-3)) }
    }

    /// How long after the start frame number `n` (from 0) is due.
    pub fn due(&self, n: u64) -> Duration {
        self.period.mul_f64(n as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_due_at_fixed_offsets_from_the_start() {
        let pace = Pace::new(4.0);
        assert_eq!(pace.due(0), Duration::ZERO);
        assert_eq!(pace.due(10), Duration::from_millis(2500));
    }
}
