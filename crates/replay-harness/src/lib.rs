//! Replay tests: a recorded shift played through a dataflow, headless, with
//! expectations on what comes out.
//!
//! A case ([`case`], TOML) names a recording, the dataflow under test, the
//! nodes the recording stands in for, the outputs to collect, and what they
//! must show: answers containing given values, alerts within a time of given
//! recorded events, no alert in given windows, latency bounds (reported).
//! [`run::run_case`] makes the replay dataflow ([`dataflow`]), runs it with
//! `dora run`, collects the outputs with the recorder, builds one timeline of
//! recording and outputs ([`outcome`]), checks it ([`expect`]), and
//! [`report`] writes a markdown report with a timeline plot ([`svg`]) and the
//! diff against the case's golden output ([`golden`]).
//!
//! `shopfloor replay` runs cases from the command line; see
//! `docs/recording.md`.

pub mod case;
pub mod dataflow;
pub mod expect;
pub mod golden;
pub mod outcome;
pub mod report;
pub mod run;
pub mod svg;
