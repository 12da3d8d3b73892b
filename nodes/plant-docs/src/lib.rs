//! `plant-docs`: procedure questions ("how do I clear a jam on the chip
//! conveyor?") answered from the site's own documents. The answer quotes
//! the steps of the best section, in order, names its document, section
//! and page, and adds the live value beside each step that refers to one;
//! a question no section covers is told so, with the closest documents.
//! Nothing is generated: the router sends it the classes routed to a
//! `kind=docs` tier, and its answers are final (docs/documents.md).
//!
//! | | id | payload |
//! |---|---|---|
//! | input | `questions` | `question` batch (from the router's `ask_<tier>`) |
//! | input | `readings` (any id starting with it) | `reading` batches: the live values beside steps |
//! | input | `metrics_tick` | timer: send a snapshot |
//! | output | `answers` | `answer` batch: `sources` names the section quoted; error `no_procedure` when none covers the question |
//! | output | `metrics` | `metric` snapshot (`shopfloor_docs_*`) |
//!
//! The folder is read at start (a missing folder stops the node with an
//! error naming `DOCS_DIR`) and scanned again every `DOCS_RESCAN_MS`: a
//! document added, changed or removed is read again alone, without a
//! restart. A document that cannot be read is logged and counted, never
//! fatal.
//!
//! ```yaml
//! - id: plant-docs
//!   path: ../target/release/plant-docs
//!   inputs:
//!     questions: {source: router/ask_docs, queue_size: 100, queue_policy: backpressure}
//!     readings: opcua-source/readings
//!     metrics_tick: dora/timer/millis/1000
//!   outputs: [answers, metrics]
//!   env:
//!     DOCS_DIR: ../data/docs/plant-sim   # relative to the dataflow's folder
//!     DOCS_RESCAN_MS: "2000"             # default
//! ```
//!
//! # Layout
//! - [`config`]: `DOCS_*` settings, validated.
//! - [`state`]: the node's logic as plain state, counted.
//! - [`driver`]: the node on dora, and the folder's rescans.

pub mod config;
pub mod driver;
pub mod state;
