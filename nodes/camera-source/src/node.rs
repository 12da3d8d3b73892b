//! The node's loop: each frame at its time, metrics when asked, stop when
//! dora says so or the folder is done.

use std::path::PathBuf;
use std::time::Instant;

use crate::config::CameraSourceConfig;
use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters};
use shopfloor_core::schema::{frame_to_arrow, FrameMeta, MetricSample};
use shopfloor_node::clock::now_ms;
use shopfloor_node::image_files::image_files;
use shopfloor_node::metrics::{Snapshot, METRICS_OUTPUT, METRICS_TICK_INPUT};

use crate::pace::Pace;
use crate::read::read_frame;

/// The frames output.
pub const FRAMES_OUTPUT: &str = "frames";

/// Why the node could not run.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// The folder cannot be listed.
    #[error("cannot list {dir}: {message}")]
    Folder {
        /// The folder.
        dir: PathBuf,
        /// The OS' reason.
        message: String,
    },
    /// The folder has no image.
    #[error("{dir} holds no .png, .jpg or .jpeg file")]
    Empty {
        /// The folder.
        dir: PathBuf,
    },
    /// dora refused an output.
    #[error("cannot send {output}: {message}")]
    Send {
        /// The output.
        output: &'static str,
        /// dora's reason.
        message: String,
    },
}

/// What the node did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Frames sent.
    pub frames: u64,
    /// Bytes sent in frames.
    pub bytes: u64,
    /// Files skipped, by reason.
    pub skipped: std::collections::BTreeMap<&'static str, u64>,
}

/// Plays the folder until it is done (or forever with `CAMERA_LOOP`), or
/// until dora stops the node.
pub fn run(
    config: &CameraSourceConfig,
    node_id: &str,
    mut node: DoraNode,
    mut events: EventStream,
) -> Result<Counts, CameraError> {
    let files = image_files(&config.dir)
        .map_err(|e| CameraError::Folder { dir: config.dir.clone(), message: e.to_string() })?;
    if files.is_empty() {
        return Err(CameraError::Empty { dir: config.dir.clone() });
    }
    tracing::info!(files = files.len(), dir = %config.dir.display(), rate_hz = config.rate_hz, "camera starts");
    let mut counts = Counts::default();
    let pace = Pace::new(Instant::now(), config.rate_hz);
    let mut sequence = 0u64;
    // With the start in ids, a restarted camera's ids do not repeat the last run's.
    let id_prefix =
        if config.run_in_ids { format!("{}-{}", config.camera_id, now_ms() / 1000) } else { config.camera_id.clone() };
    // One slot per file played, read or not: the pace counts slots.
    'frames: for (slot, path) in (0u64..).zip(files.iter().cycle()) {
        if slot > 0 && slot.is_multiple_of(files.len() as u64) && !config.repeat {
            break;
        }
        if config.max_frames.is_some_and(|max| counts.frames >= max) {
            break;
        }
        // Wait for the frame's time, answering dora meanwhile.
        loop {
            let now = Instant::now();
            let due = pace.due(slot);
            if now >= due {
                break;
            }
            match events.recv_timeout(due - now) {
                None | Some(Event::Stop(_)) => break 'frames,
                Some(Event::Input { id, .. }) if id.as_str() == METRICS_TICK_INPUT => {
                    send(
                        &mut node,
                        METRICS_OUTPUT,
                        MetadataParameters::default(),
                        MetricSample::to_arrow(&snapshot(node_id, &counts)),
                    )?;
                }
                Some(_) => {}
            }
        }
        let frame = match read_frame(path, config.output) {
            Ok(frame) => frame,
            Err(error) => {
                *counts.skipped.entry(error.reason()).or_default() += 1;
                tracing::warn!(%error, "file skipped");
                continue;
            }
        };
        let meta = FrameMeta {
            frame_id: format!("{id_prefix}-{sequence:06}"),
            ts_ms: now_ms(),
            station: config.station.clone(),
            line: config.line.clone(),
            width: frame.width,
            height: frame.height,
            encoding: frame.encoding,
        };
        sequence += 1;
        counts.frames += 1;
        counts.bytes += frame.bytes.len() as u64;
        tracing::debug!(frame = %meta.frame_id, file = %path.display(), "frame");
        send(&mut node, FRAMES_OUTPUT, meta.to_parameters(), frame_to_arrow(frame.bytes))?;
    }
    send(
        &mut node,
        METRICS_OUTPUT,
        MetadataParameters::default(),
        MetricSample::to_arrow(&snapshot(node_id, &counts)),
    )?;
    Ok(counts)
}

fn snapshot(node_id: &str, counts: &Counts) -> Vec<MetricSample> {
    let mut snapshot = Snapshot::new(node_id);
    snapshot.counter("shopfloor_camera_frames", "Frames sent", &[], counts.frames);
    snapshot.counter("shopfloor_camera_bytes", "Bytes sent in frames", &[], counts.bytes);
    for (reason, count) in &counts.skipped {
        snapshot.counter(
            "shopfloor_camera_skipped_files",
            "Image files skipped, by reason",
            &[("reason", reason)],
            *count,
        );
    }
    snapshot.process_memory();
    snapshot.finish()
}

fn send(
    node: &mut DoraNode,
    output: &'static str,
    parameters: MetadataParameters,
    data: dora_node_api::arrow_v59::array::ArrayRef,
) -> Result<(), CameraError> {
    node.send_output(DataId::from(output.to_owned()), parameters, data)
        .map_err(|e| CameraError::Send { output, message: e.to_string() })
}
