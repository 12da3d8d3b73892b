//! Scenarios on top of the normal plant: what the cell and the line show at a
//! tick under `SIM_SCENARIO`, with optional seeded measurement noise
//! (`SIM_SEED`). Pure and deterministic: the same scenario, seed and tick
//! always give the same values.
//!
//! Every scenario starts like `normal` and departs from it at
//! [`SCENARIO_START_TICK`], so a client sees the plant healthy first:
//!
//! | scenario          | from the start tick on                                                         |
//! |-------------------|--------------------------------------------------------------------------------|
//! | `normal`          | machining cycles, packaging line running                                       |
//! | `overheat`        | spindle temperature climbs 0.25 °C per tick above normal, up to +35 °C         |
//! | `vibration_spike` | vibration jumps to ~7.5 mm/s for 5 ticks in every 50                           |
//! | `stoppage`        | cell `STOPPED` (0 rpm, count holds, cooling); line jammed, `JamAlarm` true     |

use crate::config::SimScenario;

use crate::cell::{round_to_decimals, values_at, CellValues, MachineState, COLDEST_TEMPERATURE};
use crate::line::{jammed_line_at, running_line_at, LineValues};

/// The tick at which a scenario departs from normal operation.
pub const SCENARIO_START_TICK: u64 = 20;
/// Overheat: degrees added per tick, and at most.
const OVERHEAT_PER_TICK: f64 = 0.25;
const OVERHEAT_MAX: f64 = 35.0;
/// Vibration spikes: period, length and height.
const SPIKE_EVERY: u64 = 50;
const SPIKE_TICKS: u64 = 5;
const SPIKE_MM_S: f64 = 7.5;
/// Stoppage: how fast the stopped spindle cools, °C per tick.
const COOLING_PER_TICK: f64 = 0.1;

/// A scenario with its noise seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Simulation {
    pub scenario: SimScenario,
    /// Noise seed; `None`: no noise.
    pub seed: Option<u64>,
}

impl Simulation {
    /// The cell's values at `tick`.
    pub fn cell_at(&self, tick: u64) -> CellValues {
        let mut values = values_at(tick);
        let since = tick.checked_sub(SCENARIO_START_TICK);
        match (self.scenario, since) {
            (SimScenario::Overheat, Some(since)) => {
                values.spindle_temperature += (since as f64 * OVERHEAT_PER_TICK).min(OVERHEAT_MAX);
            }
            (SimScenario::VibrationSpike, Some(since)) if since % SPIKE_EVERY < SPIKE_TICKS => {
                values.vibration = SPIKE_MM_S + 0.1 * (since % SPIKE_EVERY) as f64;
            }
            (SimScenario::Stoppage, Some(since)) => {
                let at_stop = values_at(SCENARIO_START_TICK);
                values.machine_state = MachineState::Stopped;
                values.spindle_speed = 0.0;
                values.part_count = at_stop.part_count;
                values.spindle_temperature =
                    (at_stop.spindle_temperature - since as f64 * COOLING_PER_TICK).max(COLDEST_TEMPERATURE);
                // Floor vibration from the neighbouring machines, as when idle.
                values.vibration = values_at(230).vibration;
            }
            _ => {}
        }
        if let Some(seed) = self.seed {
            values.spindle_temperature += 0.2 * noise(seed, tick, 1);
            values.vibration = (values.vibration + 0.05 * noise(seed, tick, 2)).max(0.0);
            if values.spindle_speed > 0.0 {
                values.spindle_speed += (5.0 * noise(seed, tick, 3)).round();
            }
        }
        values.spindle_temperature = round_to_decimals(values.spindle_temperature, 1);
        values.vibration = round_to_decimals(values.vibration, 2);
        values
    }

    /// The packaging line's values at `tick`.
    pub fn line_at(&self, tick: u64) -> LineValues {
        let mut line = match self.scenario {
            SimScenario::Stoppage if tick >= SCENARIO_START_TICK => jammed_line_at(tick, SCENARIO_START_TICK),
            _ => running_line_at(tick),
        };
        if let Some(seed) = self.seed {
            line.fill_weight = round_to_decimals(line.fill_weight + 0.5 * noise(seed, tick, 4), 1);
        }
        line
    }
}

/// Noise in -1..1 from a hash of seed, tick and channel (SplitMix64's
/// finaliser): no state, so any tick can be computed on its own.
fn noise(seed: u64, tick: u64, channel: u64) -> f64 {
    let mut z = seed ^ tick.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ channel.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::SPINDLE_TEMPERATURE_HIGH_LIMIT;

    fn simulation(scenario: SimScenario) -> Simulation {
        Simulation { scenario, seed: None }
    }

    #[test]
    fn normal_without_a_seed_is_the_plain_cell() {
        for tick in [0, 19, 20, 500] {
            assert_eq!(simulation(SimScenario::Normal).cell_at(tick), values_at(tick));
        }
    }

    #[test]
    fn every_scenario_starts_normal() {
        for scenario in [SimScenario::Overheat, SimScenario::VibrationSpike, SimScenario::Stoppage] {
            for tick in 0..SCENARIO_START_TICK {
                assert_eq!(simulation(scenario).cell_at(tick), values_at(tick), "{scenario:?} at {tick}");
                assert!(!simulation(scenario).line_at(tick).jam_alarm);
            }
        }
    }

    #[test]
    fn overheat_stays_above_the_limit_once_it_has_ramped_up() {
        let overheat = simulation(SimScenario::Overheat);
        let ramped = SCENARIO_START_TICK + (OVERHEAT_MAX / OVERHEAT_PER_TICK) as u64;
        for tick in ramped..ramped + 480 {
            let t = overheat.cell_at(tick).spindle_temperature;
            assert!(t > SPINDLE_TEMPERATURE_HIGH_LIMIT + 10.0, "tick {tick}: {t}");
        }
    }

    #[test]
    fn vibration_spikes_come_and_go() {
        let spikes = simulation(SimScenario::VibrationSpike);
        let high: Vec<bool> =
            (SCENARIO_START_TICK..SCENARIO_START_TICK + 100).map(|t| spikes.cell_at(t).vibration > 5.0).collect();
        assert_eq!(high.iter().filter(|h| **h).count(), 10);
        assert!(high[0] && !high[SPIKE_TICKS as usize] && high[SPIKE_EVERY as usize]);
    }

    #[test]
    fn a_stoppage_stops_the_cell_and_jams_the_line() {
        let stoppage = simulation(SimScenario::Stoppage);
        let at = |tick| stoppage.cell_at(tick);
        let stopped = at(SCENARIO_START_TICK + 100);
        assert_eq!((stopped.machine_state.as_str(), stopped.spindle_speed), ("STOPPED", 0.0));
        assert_eq!(stopped.part_count, at(SCENARIO_START_TICK).part_count);
        assert!(stopped.spindle_temperature <= at(SCENARIO_START_TICK).spindle_temperature);
        let line = stoppage.line_at(SCENARIO_START_TICK + 100);
        assert!(line.jam_alarm && line.conveyor_speed == 0.0);
    }

    #[test]
    fn the_same_seed_gives_the_same_values_and_another_seed_others() {
        let seeded = |seed| Simulation { scenario: SimScenario::Normal, seed: Some(seed) };
        let run = |seed| (0..200).map(|t| (seeded(seed).cell_at(t), seeded(seed).line_at(t))).collect::<Vec<_>>();
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        for t in 0..200 {
            let noisy = seeded(7).cell_at(t).spindle_temperature;
            assert!((noisy - values_at(t).spindle_temperature).abs() <= 0.25, "tick {t}");
        }
    }

    #[test]
    fn noise_stays_within_minus_one_and_one() {
        assert!((0..10_000).map(|t| noise(3, t, 1)).all(|n| (-1.0..1.0).contains(&n)));
    }
}
