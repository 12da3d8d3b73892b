//! `replayer`: a dora node that plays recorded outputs from a `.drec` file
//! in place of the node(s) that sent them, so the rest of a dataflow runs
//! as it did when the recording was made.
//!
//! - `REPLAY_NODE: opcua-source` plays that node's outputs under their own
//!   ids; `REPLAY_TOPICS: readings=opcua-source/readings, questions=mqtt-source/questions`
//!   plays several nodes' outputs, in their recorded order, under the given ids.
//! - `REPLAY_SPEED`: 1 keeps the recorded timing (drift-free: each message
//!   at start + offset / speed), 2 twice as fast, 0 as fast as possible.
//! - Inputs whose id starts with `ack` take receivers' counts of messages
//!   taken (e.g. `ack: recorder/recorded`); then at most `REPLAY_WINDOW`
//!   (default 50) messages are in flight, and nothing is lost at any speed
//!   ([`flow`]: dora's `backpressure` alone is a bounded buffer that drops).
//! - `REPLAY_LOOP`: start again after the last message.
//! - Metadata parameters are sent as recorded.
//! - Inputs whose id starts with `ready` hold the start back until each has
//!   had a message (e.g. `ready_slm: slm/metrics`: the model has loaded), so
//!   no recorded second is played into a node that is still starting.
//! - `REPLAY_SHIFT_TIMES: readings:source_ts_ms+received_ts_ms` moves those
//!   Int64 ms fields into the replay's present ([`shift`]; off by default, a
//!   replay is lossless).
//! - `REPLAY_LINGER_MS` (default 1000): the node stays this long after the
//!   last message (or until dora stops it): dora can drop a message still in
//!   flight when its sender exits at once.
//! - `REPLAY_DONE_FILE`: written when the last message is out: `{"messages":
//!   N, "passes": P, "time_shift": {...}}`, the mapping a harness needs to
//!   take outputs back to recorded time.

pub mod config;
pub mod driver;
pub mod flow;
pub mod selection;
pub mod shift;
pub mod state;
pub mod timing;
