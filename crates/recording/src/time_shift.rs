//! The mapping between a recording's time and a replay's: a value stamped
//! `t` in the recording is `replay start + (t - recording start) / speed` in
//! the replay (a plain shift at speed 0), so it is as old at its send time as
//! it was when recorded. The replayer moves time fields forward with it; a
//! test harness maps outputs back.

/// The mapping from recorded time to replay time, in ms since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimeShift {
    /// When the recording started.
    pub recording_start_ms: i64,
    /// When the replay started.
    pub replay_start_ms: i64,
    /// Replay speed (0: no scaling, a plain shift).
    pub speed: f64,
}

impl TimeShift {
    /// A recorded time in the replay's present.
    pub fn forward(&self, recorded_ms: i64) -> i64 {
        let since = (recorded_ms - self.recording_start_ms) as f64;
        let scaled = if self.speed > 0.0 { since / self.speed } else { since };
        self.replay_start_ms + scaled.round() as i64
    }

    /// A replay-time stamp back in the recording's time (what a harness
    /// needs to compare outputs with the recording).
    pub fn back(&self, replay_ms: i64) -> i64 {
        let since = (replay_ms - self.replay_start_ms) as f64;
        let scaled = if self.speed > 0.0 { since * self.speed } else { since };
        self.recording_start_ms + scaled.round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_move_to_the_replay_and_back() {
        let shift = TimeShift { recording_start_ms: 1_000, replay_start_ms: 50_000, speed: 2.0 };
        assert_eq!(shift.forward(1_000), 50_000);
        assert_eq!(shift.forward(5_000), 52_000);
        assert_eq!(shift.back(52_000), 5_000);
        let plain = TimeShift { speed: 0.0, ..shift };
        assert_eq!(plain.forward(5_000), 54_000);
        assert_eq!(plain.back(54_000), 5_000);
    }
}
