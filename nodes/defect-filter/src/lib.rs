//! Stage 1 of the two-stage visual inspection: a small anomaly filter that
//! looks at every camera frame and passes only suspicious ones (with boxes
//! around what looks wrong) to the vision-language model of stage 2.
//!
//! As a dora node ([`state`], [`driver`]):
//!
//! | | id | payload |
//! |---|---|---|
//! | input | `frames` | `frame` (`rgb8`, `bgr8`, `png` or `jpeg`) |
//! | input | `metrics_tick` | timer: send a snapshot |
//! | input | `verdicts` (optional) | stage 2's `alert`s: its verdicts on flagged frames |
//! | input | `vlm_alive` (optional) | any message: stage 2 is alive (wire its `metrics`) |
//! | output | `inspections` | `inspection`: a flagged frame with score, regions and pixels |
//! | output | `alerts` | `alert`: a flagged frame stage 2 did not judge (unconfirmed) |
//! | output | `metrics` | `metric` snapshot (`shopfloor_filter_*`) |
//!
//! A frame that cannot be scored (bad metadata, wrong length, corrupt
//! image, another size than the good parts) is refused and counted by
//! reason; the node goes on.
//!
//! It learns what good parts look like from a set of good images and
//! scores each frame against that, in about a millisecond at 640x480 on
//! one core; no dora here, so it can be tested and benchmarked alone.
//! Design, figures and limits: docs/vision-stage1.md.
//!
//! | input | output |
//! |---|---|
//! | good frames + [`FilterSettings`] | [`GoodModel`] (`GoodModel::learn`) |
//! | a [`FrameView`] (RGB8 or BGR8) | [`FrameScore`]: score, threshold, flagged, [`AnomalyBox`]es |
//!
//! # Layout
//! - [`settings`]: the settings and their validation.
//! - [`frame`]: the frame view and the errors.
//! - `features`: alignment and per-cell features (the hot path).
//! - [`model`]: learning and scoring.
//! - [`boxes`]: flagged cells to boxes.
//! - [`decode`]: frame messages to raw RGB.
//! - [`confirmation`]: the filter's own alert when stage 2 gives no verdict.
//! - [`setup`]: the settings from the dataflow, the good parts learned.
//! - [`state`]: the node's logic: a frame in, an inspection, alert or refusal out.
//! - [`driver`]: the node on dora.

mod blur;
pub mod boxes;
pub mod config;
pub mod confirmation;
pub mod decode;
pub mod driver;
mod features;
pub mod frame;
pub mod model;
mod rotation;
pub mod settings;
pub mod setup;
pub mod state;

pub use boxes::AnomalyBox;
pub use features::Workspace;
pub use frame::{FilterError, FrameView, PixelFormat};
pub use model::{FrameScore, GoodModel, Unusable, MIN_LEARNED_THRESHOLD, MIN_LEARN_IMAGES};
pub use settings::{FilterSettings, InvalidSettings, SettingProblem};

#[cfg(test)]
mod tests;
