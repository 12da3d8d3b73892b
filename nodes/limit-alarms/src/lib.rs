//! `limit-alarms`: an `alert` when a plant value goes beyond its alarm limit,
//! and an `info` alert when it is back.
//!
//! | | id | payload |
//! |---|---|---|
//! | input | `readings` (any id starting with it) | `reading` batches, taken in order |
//! | input | `metrics_tick` | timer: send a snapshot |
//! | output | `alerts` | `alert` batch: kinds `high_limit`, `low_limit` (warning or critical), `limit_cleared` (info) |
//! | output | `metrics` | `metric` snapshot (`shopfloor_alarms_*`) |
//!
//! Limits are the readings' own `low_limit`/`high_limit`, or per tag those
//! of `ALARMS_HIGH_LIMITS`/`ALARMS_LOW_LIMITS`, which win. Only good
//! numeric readings move a tag's alarm state; uncertain, bad and text
//! readings are counted and change nothing. An alert's time and id come from
//! the reading's own time (the source's stamp, else the gateway's), never
//! the node's clock, so a replay at any speed raises the same alerts.
//!
//! ```yaml
//! - id: limit-alarms
//!   path: ../target/release/limit-alarms
//!   inputs:
//!     readings: {source: opcua-source/readings, queue_size: 100, queue_policy: backpressure}
//!     metrics_tick: dora/timer/millis/1000
//!   outputs: [alerts, metrics]
//!   env:
//!     ALARMS_STATION: station1            # default; one topic level
//!     ALARMS_LINE: line1                  # optional
//!     ALARMS_DEADBAND: "0.5"              # default; in the tag's unit, ≥ 0
//!     ALARMS_CRITICAL_MARGIN: "5"         # optional; this far beyond: critical
//!     ALARMS_HIGH_LIMITS: spindle_temperature=80, vibration=4.5
//!     ALARMS_LOW_LIMITS: coolant_flow=2.5
//!     ALARMS_STATE_FILE: out/limit-alarms/active.json   # default; kept across restarts
//!     ALARMS_DOCS_DIR: ../data/docs/plant-sim  # optional: alerts carry their response section
//! ```
//!
//! # Layout
//! - [`config`]: `ALARMS_*` settings, validated.
//! - [`alarms`]: every tag's state machine and the alerts it raises (pure).
//! - [`state`]: the node's logic as plain state, counted (pure).
//! - [`kept`]: the tags beyond a limit, kept on disk between runs.
//! - [`driver`]: the node on dora.

pub mod alarms;
pub mod config;
pub mod driver;
pub mod kept;
pub mod state;

pub use alarms::{Alarms, Limits, Outcome, Side, TagState};
