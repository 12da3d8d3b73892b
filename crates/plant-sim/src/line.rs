//! The simulated packaging line next to the cell: a pure function from tick
//! number to the line's values, like [`crate::cell`].
//!
//! The line fills 500 g packages at 24 m/min and finishes one every
//! [`TICKS_PER_PACKAGE`] ticks; a jam stops it and raises `JamAlarm`.

use crate::cell::{ripple, round_to_decimals};

/// A package leaves the line every this many ticks while it runs.
pub const TICKS_PER_PACKAGE: u64 = 2;
/// The conveyor's set point, in m/min.
pub const CONVEYOR_SPEED: f64 = 24.0;
/// The target fill weight, in g.
pub const TARGET_FILL_WEIGHT: f64 = 500.0;

/// Everything the packaging line shows at one tick.
#[derive(Debug, Clone, PartialEq)]
pub struct LineValues {
    /// Conveyor speed in m/min, rounded to 0.1 (0 when stopped).
    pub conveyor_speed: f64,
    /// Weight of the last filled package in g, rounded to 0.1.
    pub fill_weight: f64,
    /// Packages finished since the simulation started.
    pub package_count: u32,
    /// True while the line is jammed.
    pub jam_alarm: bool,
}

impl LineValues {
    /// `RUNNING` or `JAMMED`.
    pub fn state(&self) -> &'static str {
        if self.jam_alarm {
            "JAMMED"
        } else {
            "RUNNING"
        }
    }
}

/// The running line's values at `tick`.
pub fn running_line_at(tick: u64) -> LineValues {
    LineValues {
        conveyor_speed: round_to_decimals(CONVEYOR_SPEED + 0.2 * ripple(tick, 0.7), 1),
        fill_weight: round_to_decimals(TARGET_FILL_WEIGHT + 1.5 * ripple(tick, 1.9), 1),
        package_count: u32::try_from(tick / TICKS_PER_PACKAGE).unwrap_or(u32::MAX),
        jam_alarm: false,
    }
}

/// The line jammed since `since`: the conveyor stands, the count holds, the alarm is up.
pub fn jammed_line_at(tick: u64, since: u64) -> LineValues {
    LineValues { conveyor_speed: 0.0, jam_alarm: true, ..running_line_at(since.min(tick)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_line_counts_packages_near_the_target_weight() {
        assert_eq!(running_line_at(0).package_count, 0);
        assert_eq!(running_line_at(10).package_count, 5);
        for tick in 0..500 {
            let line = running_line_at(tick);
            assert!((498.0..=502.0).contains(&line.fill_weight), "{line:?}");
            assert!(line.conveyor_speed > 23.0 && !line.jam_alarm && line.state() == "RUNNING");
        }
    }

    #[test]
    fn a_jam_stops_the_conveyor_and_holds_the_count() {
        let jammed = jammed_line_at(100, 40);
        assert_eq!((jammed.conveyor_speed, jammed.package_count, jammed.state()), (0.0, 20, "JAMMED"));
    }
}
