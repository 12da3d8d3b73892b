//! The message contract of Shopfloor SLM: what passes between nodes.
//!
//! Each node crate owns its own settings (its `config.rs`); what lives here
//! is only what two or more nodes must agree on.
//!
//! # Layout
//! - [`schema`]: Arrow encodings of readings, questions, answers, frames,
//!   inspections, alerts and metric snapshots (`docs/messages.md` has an
//!   example of each).
//! - [`topics`]: the MQTT topic layout (Unified Namespace style).
//! - [`env`]: the env reader every node's `config.rs` reads its variables
//!   with; errors name the variable.

pub mod env;
pub mod schema;
mod secrets;
pub mod topics;

/// The Arrow crate exactly as dora uses it, so array types always match.
pub use dora_node_api::arrow_v59 as arrow;
