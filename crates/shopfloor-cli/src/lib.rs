//! The `shopfloor` operator CLI: one command for every tool a person runs
//! by hand, each a clap subcommand that calls the libraries in-process.
//!
//! # Layout
//! - [`cli`]: the command line (clap derive), with `--help` at every level.
//! - [`run`]: what each subcommand does and its exit status.
//! - [`model`]: `model evaluate` (the plant Q&A set per variant, one child
//!   process of this program each) and `model tune`.
//! - [`router_calibrate`]: `router calibrate`, the tiers of a dataflow
//!   replayed through the router's own policy.
//! - [`calibration`]: how well confidences separate right from wrong.
//! - [`deploy`]: `deploy check|supervise`.
//! - [`docs`]: `docs index|search|evaluate`, the site's documents.
//! - [`camera`]: `camera list|grab`, GigE Vision cameras.

pub mod calibration;
pub mod camera;
pub mod cli;
pub mod deploy;
pub mod docs;
pub mod model;
pub mod router_calibrate;
pub mod run;
