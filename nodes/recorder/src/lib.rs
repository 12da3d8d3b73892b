//! `recorder`: a dora node that writes every message of its inputs to a
//! `.drec` file (dora's recording format), each under the `node/output` it
//! came from, with its metadata and time.
//!
//! Inputs: any; each records as the output the dataflow maps it to, or as
//! `RECORD_TOPICS` says. Timer inputs are not recorded. Give the inputs
//! `queue_policy: backpressure` so that a burst is recorded whole. The file
//! is flushed after every message, so a recording cut short keeps what came
//! before; it is closed with its footer when the inputs end or dora stops
//! the node.
//!
//! Output `recorded` (only when declared): the count of messages recorded so
//! far, after each one. A replayer's `ack…` input paces itself by it, which
//! makes a replay at any speed lossless (dora's `backpressure` queue policy is
//! a bounded buffer that drops the oldest beyond 10 × `queue_size`).
//!
//! ```yaml
//! - id: recorder
//!   path: ../target/release/recorder
//!   inputs:
//!     readings: { source: opcua-source/readings, queue_policy: backpressure }
//!     answers: { source: router/answers, queue_policy: backpressure }
//!   env:
//!     RECORD_FILE: out/shift.drec
//! ```

pub mod config;
pub mod driver;
pub mod state;
pub mod topics;
