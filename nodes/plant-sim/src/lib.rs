//! The `plant-sim` dora node: serves the simulated plant of the `plant-sim`
//! library over OPC UA until dora says stop. It has no dora inputs; its only
//! output is the optional `metrics` snapshot. Settings (`SIM_*`) and what is
//! served: see the `plant-sim` library.
//!
//! # Layout
//! - [`state`]: whether the server is up, as the metrics snapshot reports it (pure).
//! - [`driver`]: the server on its own thread, dora's events on another, one loop.

pub mod driver;
pub mod state;
