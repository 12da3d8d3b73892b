//! `vlm-inspector`: stage 2 of visual inspection. The stage-1 filter
//! (`defect-filter`) flags frames that do not look like good parts; this
//! node asks a vision-language model (llama.cpp's mtmd, a GGUF model and its
//! `mmproj` projector) about each flagged frame, and sends one alert per
//! flagged frame to the MQTT sink.
//!
//! | | id | payload |
//! |---|---|---|
//! | input | `inspections` | `inspection`: flagged frame, score, regions, pixels |
//! | input | `metrics_tick` | timer: send a snapshot |
//! | output | `alerts` | `alert`, one per flagged frame |
//! | output | `metrics` | `metric` snapshot (`shopfloor_vlm_*`) |
//!
//! The model sees the crop around the flagged regions (or the whole frame)
//! and must answer grammar-constrained JSON ([`verdict`]); its confidence is
//! the geometric mean probability of its answer's tokens. A crop of every
//! flagged frame is stored as PNG and named in the alert (`image_ref`); no
//! image bytes travel in alerts. A frame the model cannot take (queue full,
//! no model, an error, an unusable answer) still gets its alert, marked
//! `not_judged: <why>`. Settings: `docs/vision.md`.
//!
//! # Layout
//! - [`verdict`]: the answer's grammar and how it is read.
//! - [`prompt`]: what the model is told.
//! - [`crop`]: the crop around the regions, stored as PNG.
//! - [`judge`]: the model as a judge of one image.
//! - [`worker`]: the judge's thread and bounded queue.
//! - [`alert`]: the alert of a flagged frame.
//! - [`state`]: the node's logic: flagged frames prepared, outcomes to alerts, counts.
//! - [`driver`]: the node on dora.

pub mod alert;
pub mod config;
pub mod crop;
pub mod driver;
pub mod judge;
pub mod prompt;
pub mod state;
pub mod verdict;
pub mod worker;
