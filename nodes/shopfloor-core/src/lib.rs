//! Shared pieces of Shopfloor SLM: the messages that travel between nodes, the
//! typed configuration every node reads from its dataflow `env:`, and hardware
//! profiles.
//!
//! No node crate depends on another node crate; everything two nodes must agree
//! on lives here, once.
//!
//! # Layout
//! - [`schema`]: Arrow encodings of readings, questions and answers (see
//!   `docs/messages.md` for an example of each).
//! - [`config`]: one validated config struct per node, parsed from environment
//!   variables; errors name the offending variable.
//! - [`profile`]: hardware profiles (`hw-profiles/*.toml`).
//! - [`topics`]: the MQTT topic layout (Unified Namespace style).
//! - [`metrics`]: counting for the `metric` snapshots every node sends.
//! - [`logging`]: the log subscriber every binary installs.
//! - [`vocabulary`]: plant words questions are matched and classified by.
//! - [`calibration`]: how well confidences separate right from wrong answers.
//! - [`image_files`]: the images of a folder, in name order.
//! - [`clock`]: wall-clock milliseconds, the one time unit in messages.
#![warn(missing_docs)]

pub mod calibration;
pub mod clock;
pub mod config;
pub mod image_files;
pub mod logging;
pub mod metrics;
pub mod profile;
pub mod schema;
pub mod topics;
pub mod vocabulary;

/// The Arrow crate exactly as dora uses it, so array types always match.
pub use dora_node_api::arrow_v59 as arrow;
