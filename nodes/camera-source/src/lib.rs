//! `camera-source`: a station camera: GigE Vision (Aravis), RTSP or USB
//! (GStreamer), or a folder of images played as one.
//!
//! | | id | payload |
//! |---|---|---|
//! | input | `metrics_tick` | timer: send a snapshot |
//! | input | `trigger` | one frame per message (a software-triggered GigE camera) |
//! | output | `frames` | `frame`: image bytes, size and encoding in the metadata |
//! | output | `metrics` | `metric` snapshot (`shopfloor_camera_*`) |
//!
//! Files (`.png`, `.jpg`, `.jpeg`) are sent in file-name order at
//! `CAMERA_RATE_HZ`, decoded to `rgb8` or as stored; the node stops after
//! the last one unless `CAMERA_LOOP` is set. A file that cannot be read is
//! skipped, logged and counted, never the end of the stream. A live camera
//! streams until dora stops the node, and is opened again whenever it goes
//! away.
//!
//! # Layout
//! - [`read`]: a file to a frame's bytes and size.
//! - [`pace`]: when each frame is due.
//! - [`state`]: which file is next and when, the frame message, the counts.
//! - [`live`]: a live camera's frames, gaps, losses and triggers, as plain state.
//! - [`gige`]: a GigE Vision camera through Aravis.
//! - [`stream`]: an RTSP or USB camera through GStreamer.
//! - [`driver`]: the node on dora.

pub mod config;
pub mod driver;
pub mod gige;
pub mod live;
pub mod pace;
pub mod read;
pub mod state;
pub mod stream;
