//! Multi-machine deployment of the Shopfloor dataflows on dora's
//! distributed runtime (`docs/deployment.md`), as the `shopfloor-deploy`
//! command.
//!
//! `shopfloor-deploy check DATAFLOW.yml --machines MACHINES.toml` answers,
//! before anything starts, whether each machine's RAM budget (its hardware
//! profile's `[memory]`) holds for the nodes the dataflow places on it.
//!
//! # Layout
//!
//! - [`descriptor`]: the dataflow YAML, reduced to ids, paths, `env:`, `deploy:`
//! - [`inventory`]: the machines (`MACHINES.toml`) and their profiles
//! - [`placement`]: which machine(s) each node runs on
//! - [`estimate`]: what one node takes on one machine
//! - [`report`]: the sums per machine, as text or JSON
//! - [`check`]: the `check` subcommand, from files to report
//! - [`cli`]: the command line
//! - [`supervise`]: the supervisor's decisions (start, restart when a machine returns)
//! - [`watch`]: the supervisor's loop (the `supervise` subcommand)
//! - [`dora_cli`]: the dora CLI calls it makes

pub mod check;
pub mod descriptor;
pub mod dora_cli;
pub mod estimate;
pub mod inventory;
pub mod placement;
pub mod report;
pub mod supervise;
pub mod watch;
