//! The simulated CNC cell: a pure function from tick number to the cell's values.
//!
//! No clock and no randomness, so a test (or a person reading a log) can say
//! exactly what the cell showed at any tick. The server calls [`values_at`] once
//! per tick with a counter that starts at 0.
//!
//! One machining cycle lasts [`CYCLE_TICKS`] ticks:
//!
//! | phase (tick % 240) | state         | spindle              | temperature      |
//! |--------------------|---------------|----------------------|------------------|
//! | 0..120             | `RUNNING`     | roughing, ~12000 rpm | warms 60 → 85 °C |
//! | 120..200           | `RUNNING`     | finishing, ~8000 rpm | starts cooling   |
//! | 200..216           | `TOOL_CHANGE` | stopped (0 rpm)      | cooling          |
//! | 216..240           | `IDLE`        | stopped (0 rpm)      | back to ~60 °C   |
//!
//! The temperature stays above [`SPINDLE_TEMPERATURE_HIGH_LIMIT`] for under a
//! third of every cycle, so questions like "is the spindle too hot?" get both
//! answers over time.

use std::f64::consts::TAU;

/// The spindle temperature above which the cell is considered overheating, in °C.
pub const SPINDLE_TEMPERATURE_HIGH_LIMIT: f64 = 80.0;

/// Ticks in one machining cycle (two minutes at the default 500 ms tick).
pub const CYCLE_TICKS: u64 = 240;

/// A part is finished every this many ticks while the spindle is cutting.
pub const TICKS_PER_PART: u64 = 10;

const ROUGHING_END: u64 = 120;
const CUTTING_END: u64 = 200;
const TOOL_CHANGE_END: u64 = 216;

pub(crate) const COLDEST_TEMPERATURE: f64 = 60.0;
const HOTTEST_TEMPERATURE: f64 = 85.0;

const ROUGHING_RPM: f64 = 12_000.0;
const FINISHING_RPM: f64 = 8_000.0;

/// What the cell is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineState {
    /// The spindle is cutting parts.
    Running,
    /// The spindle is stopped while the tool is swapped.
    ToolChange,
    /// The spindle is stopped, waiting for the next job.
    Idle,
    /// Stopped by a fault (the stoppage scenario).
    Stopped,
}

impl MachineState {
    /// The name published on OPC UA, e.g. `RUNNING`.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineState::Running => "RUNNING",
            MachineState::ToolChange => "TOOL_CHANGE",
            MachineState::Idle => "IDLE",
            MachineState::Stopped => "STOPPED",
        }
    }
}

/// Everything the cell shows at one tick.
#[derive(Debug, Clone, PartialEq)]
pub struct CellValues {
    /// Spindle temperature in °C, rounded to 0.1.
    pub spindle_temperature: f64,
    /// Spindle speed in rpm, a whole number.
    pub spindle_speed: f64,
    /// Vibration velocity (RMS) in mm/s, rounded to 0.01.
    pub vibration: f64,
    /// Parts finished since the simulation started.
    pub part_count: u32,
    /// What the cell is doing.
    pub machine_state: MachineState,
}

/// The cell's values at `tick` (0 = the moment the simulator started).
pub fn values_at(tick: u64) -> CellValues {
    let phase = tick % CYCLE_TICKS;
    CellValues {
        spindle_temperature: round_to_decimals(spindle_temperature(tick, phase), 1),
        spindle_speed: spindle_speed(tick, phase),
        vibration: round_to_decimals(vibration(tick, phase), 2),
        part_count: part_count(tick),
        machine_state: state_at(phase),
    }
}

fn state_at(phase: u64) -> MachineState {
    match phase {
        p if p < CUTTING_END => MachineState::Running,
        p if p < TOOL_CHANGE_END => MachineState::ToolChange,
        _ => MachineState::Idle,
    }
}

/// A raised cosine over the cycle: coldest at phase 0, hottest at the end of
/// roughing, plus a small ripple so the reading moves between ticks.
fn spindle_temperature(tick: u64, phase: u64) -> f64 {
    let mid = (COLDEST_TEMPERATURE + HOTTEST_TEMPERATURE) / 2.0;
    let swing = (HOTTEST_TEMPERATURE - COLDEST_TEMPERATURE) / 2.0;
    let angle = TAU * phase as f64 / CYCLE_TICKS as f64;
    mid - swing * angle.cos() + 0.3 * ripple(tick, 1.3)
}

/// The drive regulates around its set point in 10 rpm steps.
fn spindle_speed(tick: u64, phase: u64) -> f64 {
    let set_point = match phase {
        p if p < ROUGHING_END => ROUGHING_RPM,
        p if p < CUTTING_END => FINISHING_RPM,
        _ => return 0.0,
    };
    set_point + 10.0 * (never_repeating_step(tick) as f64 - 2.0)
}

/// Cutting shakes the spindle more when roughing and as it heats up; a stopped
/// spindle still shows floor vibration from the neighbouring machines.
fn vibration(tick: u64, phase: u64) -> f64 {
    let base = match phase {
        p if p < ROUGHING_END => 1.8,
        p if p < CUTTING_END => 1.1,
        _ => return 0.1 + 0.01 * never_repeating_step(tick) as f64,
    };
    let heat = (spindle_temperature(tick, phase) - COLDEST_TEMPERATURE).max(0.0) * 0.02;
    base + heat + 0.25 * ripple(tick, 2.3)
}

/// Parts finished in all earlier cycles plus those finished in this one.
fn part_count(tick: u64) -> u32 {
    let parts_per_cycle = CUTTING_END / TICKS_PER_PART;
    let phase = tick % CYCLE_TICKS;
    let parts = tick / CYCLE_TICKS * parts_per_cycle + phase.min(CUTTING_END) / TICKS_PER_PART;
    // A real PLC counter would wrap; saturating is clearer and takes centuries at any tick rate.
    u32::try_from(parts).unwrap_or(u32::MAX)
}

/// 0..=4, and never the same for two neighbouring ticks (3 is coprime to 5),
/// which guarantees that some value changes on every tick.
fn never_repeating_step(tick: u64) -> u64 {
    tick % 5 * 3 % 5
}

/// A deterministic wobble in -1..=1 that changes from tick to tick.
pub(crate) fn ripple(tick: u64, frequency: f64) -> f64 {
    // Reduce the tick first so the angle stays precise for very large ticks.
    let tick = (tick % 100_000) as f64;
    (tick * frequency).sin()
}

/// Rounds to `decimals` places; dividing by the exact power of ten gives the
/// double nearest the decimal, so 60.3 prints as `60.3`, not `60.300000000000004`.
pub(crate) fn round_to_decimals(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE_CYCLE: std::ops::Range<u64> = 0..CYCLE_TICKS;

    fn decimals(value: f64) -> usize {
        let text = format!("{value}");
        text.split_once('.').map_or(0, |(_, frac)| frac.len())
    }

    #[test]
    fn the_same_tick_always_gives_the_same_values() {
        for tick in [0, 1, 119, 239, 240, 1_000_003] {
            assert_eq!(values_at(tick), values_at(tick));
        }
    }

    #[test]
    fn every_cycle_looks_alike_but_the_part_counter_keeps_counting() {
        let first = values_at(37);
        let second = values_at(37 + CYCLE_TICKS);
        assert_eq!(first.machine_state, second.machine_state);
        // Only the ripple (±0.3 °C) differs between cycles.
        assert!((first.spindle_temperature - second.spindle_temperature).abs() <= 0.7);
        assert_eq!(second.part_count, first.part_count + 20);
    }

    #[test]
    fn some_value_changes_on_every_tick() {
        for tick in 0..5 * CYCLE_TICKS {
            assert_ne!(values_at(tick), values_at(tick + 1), "nothing moved at tick {tick}");
        }
    }

    #[test]
    fn spindle_temperature_crosses_its_limit_within_one_cycle() {
        let temperatures: Vec<f64> = ONE_CYCLE.map(|t| values_at(t).spindle_temperature).collect();
        let hot = temperatures.iter().filter(|t| **t > SPINDLE_TEMPERATURE_HIGH_LIMIT).count();
        assert!(hot > 0, "never above the limit");
        assert!(hot < temperatures.len() / 2, "above the limit for {hot} of {} ticks", temperatures.len());
    }

    #[test]
    fn spindle_temperature_stays_between_60_and_85_degrees() {
        for tick in 0..2 * CYCLE_TICKS {
            let t = values_at(tick).spindle_temperature;
            assert!((59.5..=85.5).contains(&t), "tick {tick}: {t} °C");
        }
    }

    #[test]
    fn spindle_temperature_changes_within_a_few_ticks() {
        for tick in 0..CYCLE_TICKS {
            let now = values_at(tick).spindle_temperature;
            let changed = (1..=3).any(|d| values_at(tick + d).spindle_temperature != now);
            assert!(changed, "temperature stuck at {now} from tick {tick}");
        }
    }

    #[test]
    fn readings_are_rounded_to_their_display_precision() {
        for tick in ONE_CYCLE {
            let v = values_at(tick);
            assert!(decimals(v.spindle_temperature) <= 1, "{}", v.spindle_temperature);
            assert!(decimals(v.vibration) <= 2, "{}", v.vibration);
            assert_eq!(v.spindle_speed.fract(), 0.0, "{}", v.spindle_speed);
        }
    }

    #[test]
    fn the_spindle_turns_only_while_running() {
        for tick in ONE_CYCLE {
            let v = values_at(tick);
            let turning = v.spindle_speed > 0.0;
            assert_eq!(turning, v.machine_state == MachineState::Running, "tick {tick}: {v:?}");
        }
    }

    #[test]
    fn the_cycle_passes_through_running_tool_change_and_idle() {
        let states: Vec<MachineState> = ONE_CYCLE.map(|t| values_at(t).machine_state).collect();
        for expected in [MachineState::Running, MachineState::ToolChange, MachineState::Idle] {
            assert!(states.contains(&expected), "{expected:?} missing");
        }
        assert_eq!(MachineState::ToolChange.as_str(), "TOOL_CHANGE");
    }

    #[test]
    fn the_part_counter_never_goes_back_and_counts_while_running() {
        let counts: Vec<u32> = (0..2 * CYCLE_TICKS).map(|t| values_at(t).part_count).collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(counts[0], 0);
        assert_eq!(values_at(TICKS_PER_PART).part_count, 1);
        assert_eq!(values_at(CYCLE_TICKS).part_count, 20);
    }

    #[test]
    fn a_huge_tick_saturates_the_part_counter_instead_of_panicking() {
        assert_eq!(values_at(u64::MAX).part_count, u32::MAX);
    }

    #[test]
    fn vibration_is_higher_while_cutting_than_while_stopped() {
        let cutting = values_at(100).vibration;
        let stopped = values_at(230).vibration;
        assert!(cutting > 1.0 && stopped < 0.2, "cutting {cutting}, stopped {stopped}");
    }
}
