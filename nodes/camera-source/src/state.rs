//! The camera as plain state: which file's slot is next and when it is
//! due, the frame message of a file read, and the counts. No dora, no
//! clock, no files: the driver reads the file the state names and hands
//! the result back with the time.

use std::collections::BTreeMap;
use std::time::Duration;

use dora_node_api::arrow_v59::array::Array;
use dora_node_api::MetadataParameters;
use shopfloor_core::schema::{frame_to_arrow, FrameMeta};
use shopfloor_node::metrics::Snapshot;
use shopfloor_node::{Emit, NodeLogic, Rejected};

use crate::config::{CameraSourceConfig, FolderSettings};
use crate::pace::Pace;
use crate::read::{FrameData, ReadError};

pub const FRAMES_OUTPUT: &str = "frames";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub frames: u64,
    /// Bytes sent in frames.
    pub bytes: u64,
    /// Files skipped, by [`ReadError::reason`].
    pub skipped: BTreeMap<&'static str, u64>,
}

/// The next file to play: its index in the folder's list and how long
/// after the start it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub file: usize,
    pub due: Duration,
}

pub struct CameraState {
    files: usize,
    repeat: bool,
    max_frames: Option<u64>,
    pace: Pace,
    /// Slots played, read or not: the pace counts slots.
    slot: u64,
    id_prefix: String,
    station: String,
    line: String,
    counts: Counts,
}

impl CameraState {
    /// A camera over a folder of `files` images; frame ids start with
    /// `id_prefix` (the camera id, with the run's start when configured).
    pub fn new(config: &CameraSourceConfig, folder: &FolderSettings, files: usize, id_prefix: String) -> Self {
        Self {
            files,
            repeat: folder.repeat,
            max_frames: config.max_frames,
            pace: Pace::new(config.rate_hz),
            slot: 0,
            id_prefix,
            station: config.station.clone(),
            line: config.line.clone(),
            counts: Counts::default(),
        }
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// The next slot; `None` when the folder is done (played once without
    /// `CAMERA_LOOP`, or `CAMERA_MAX_FRAMES` sent).
    pub fn next_slot(&self) -> Option<Slot> {
        let files = self.files as u64;
        if files == 0 || (self.slot >= files && !self.repeat) {
            return None;
        }
        if self.max_frames.is_some_and(|max| self.counts.frames >= max) {
            return None;
        }
        Some(Slot { file: (self.slot % files) as usize, due: self.pace.due(self.slot) })
    }

    /// The next slot's file was read (or not) at `now_ms`: the frame to
    /// send, or nothing for a file skipped (counted by reason).
    pub fn take(&mut self, read: Result<FrameData, ReadError>, now_ms: i64) -> Option<Emit> {
        self.slot += 1;
        let frame = match read {
            Ok(frame) => frame,
            Err(error) => {
                *self.counts.skipped.entry(error.reason()).or_default() += 1;
                tracing::warn!(error = %chain(&error), "file skipped");
                return None;
            }
        };
        let meta = FrameMeta {
            frame_id: format!("{}-{:06}", self.id_prefix, self.counts.frames),
            ts_ms: now_ms,
            station: self.station.clone(),
            line: self.line.clone(),
            width: frame.width,
            height: frame.height,
            encoding: frame.encoding,
        };
        self.counts.frames += 1;
        self.counts.bytes += frame.bytes.len() as u64;
        tracing::debug!(frame = %meta.frame_id, "frame");
        Some(Emit::new(FRAMES_OUTPUT, frame_to_arrow(frame.bytes)).with_parameters(meta.to_parameters()))
    }
}

/// An error and its causes, as one log line.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

impl NodeLogic for CameraState {
    /// The camera takes no input but the metrics tick, which the driver answers.
    fn on_input(
        &mut self,
        input: &str,
        _data: &dyn Array,
        _parameters: &MetadataParameters,
        _now_ms: i64,
    ) -> Result<Vec<Emit>, Rejected> {
        Err(Rejected::unknown_input(input))
    }

    fn metrics(&self, snapshot: &mut Snapshot) {
        snapshot.counter("shopfloor_camera_frames", "Frames sent", &[], self.counts.frames);
        snapshot.counter("shopfloor_camera_bytes", "Bytes sent in frames", &[], self.counts.bytes);
        for (reason, count) in &self.counts.skipped {
            snapshot.counter(
                "shopfloor_camera_skipped_files",
                "Image files skipped, by reason",
                &[("reason", reason)],
                *count,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use shopfloor_core::schema::{FrameEncoding, FrameMeta};

    use super::*;
    use crate::config::{FrameOutput, Source};

    fn config(repeat: bool, max_frames: Option<u64>) -> CameraSourceConfig {
        CameraSourceConfig {
            source: Source::Folder(FolderSettings { dir: "frames".into(), repeat, output: FrameOutput::AsStored }),
            rate_hz: 4.0,
            camera_id: "cam1".into(),
            station: "station3".into(),
            line: "line2".into(),
            max_frames,
            run_in_ids: false,
        }
    }

    fn camera(config: &CameraSourceConfig, files: usize, id_prefix: &str) -> CameraState {
        let Source::Folder(folder) = &config.source else { unreachable!("a folder camera") };
        CameraState::new(config, folder, files, id_prefix.into())
    }

    fn frame() -> Result<FrameData, ReadError> {
        Ok(FrameData { width: 2, height: 1, encoding: FrameEncoding::Rgb8, bytes: vec![1; 6] })
    }

    fn broken() -> Result<FrameData, ReadError> {
        Err(ReadError::Format { path: "x.png".into(), found: None })
    }

    #[test]
    fn the_folder_plays_once_at_the_rate_and_skipped_files_keep_their_slot() {
        let mut camera = camera(&config(false, None), 3, "cam1");
        assert_eq!(camera.next_slot(), Some(Slot { file: 0, due: Duration::ZERO }));
        let emit = camera.take(frame(), 1_000).unwrap();
        assert_eq!(emit.output, FRAMES_OUTPUT);
        let meta = FrameMeta::from_parameters(&emit.parameters).unwrap();
        assert_eq!((meta.frame_id.as_str(), meta.ts_ms, meta.station.as_str()), ("cam1-000000", 1_000, "station3"));
        assert_eq!((meta.width, meta.height, meta.line.as_str()), (2, 1, "line2"));
        assert_eq!(emit.data.len(), 6);
        assert!(camera.take(broken(), 1_250).is_none());
        assert_eq!(camera.next_slot(), Some(Slot { file: 2, due: Duration::from_millis(500) }));
        let last = camera.take(frame(), 1_500).unwrap();
        assert_eq!(FrameMeta::from_parameters(&last.parameters).unwrap().frame_id, "cam1-000001");
        assert_eq!(camera.next_slot(), None);
        assert_eq!((camera.counts().frames, camera.counts().bytes), (2, 12));
        assert_eq!(camera.counts().skipped.get("undecodable"), Some(&1));
    }

    #[test]
    fn a_looping_camera_goes_round_until_its_frame_limit() {
        let mut camera = camera(&config(true, Some(4)), 2, "cam1-1795729142");
        let mut files = Vec::new();
        while let Some(slot) = camera.next_slot() {
            files.push(slot.file);
            camera.take(frame(), 0);
        }
        assert_eq!(files, [0, 1, 0, 1]);
        assert_eq!(camera.counts().frames, 4);
    }

    #[test]
    fn the_snapshot_counts_frames_and_skipped_files() {
        let mut camera = camera(&config(false, None), 2, "cam1");
        camera.take(frame(), 0);
        camera.take(broken(), 0);
        let mut snapshot = Snapshot::new("camera");
        camera.metrics(&mut snapshot);
        let names: Vec<String> = snapshot.finish().into_iter().map(|s| s.name).collect();
        for name in ["shopfloor_camera_frames", "shopfloor_camera_bytes", "shopfloor_camera_skipped_files"] {
            assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
        }
    }
}
