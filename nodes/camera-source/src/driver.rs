//! The node on dora: each frame at its time, dora's events (the metrics
//! tick, a trigger, stop) answered while waiting; a folder stops when it is
//! done, a live camera when dora says so.

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use dora_node_api::{DoraNode, EventStream};
use shopfloor_node::clock::now_ms;
use shopfloor_node::driver::{forward_dora_events, DoraSide, SendError};
use shopfloor_node::image_files::image_files;
use shopfloor_node::{Driver, Flow, NodeLogic};

use crate::config::{CameraSourceConfig, FolderSettings, GigeSettings, Source, StreamSettings, Trigger};
use crate::gige::{GigeCamera, GigeError};
use crate::live::{LiveCamera, LiveCounts, Polled};
use crate::read::read_frame;
use crate::state::{CameraState, Counts};
use crate::stream::{StreamCamera, StreamError};

#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("cannot list {dir}")]
    Folder {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{dir} holds no .png, .jpg or .jpeg file")]
    Empty { dir: PathBuf },
    #[error("cannot start the thread that receives dora's events")]
    DoraEvents(#[source] std::io::Error),
    #[error(transparent)]
    Send(#[from] SendError),
}

/// dora events waiting for the frame loop (ticks, triggers and a stop).
const EVENTS_WAITING: usize = 64;

/// What a run counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunCounts {
    Folder(Counts),
    Live(LiveCounts),
}

impl RunCounts {
    pub fn frames(&self) -> u64 {
        match self {
            RunCounts::Folder(counts) => counts.frames,
            RunCounts::Live(counts) => counts.frames,
        }
    }
}

/// Runs the configured camera until it is done or dora stops the node.
pub fn run(config: &CameraSourceConfig, node: DoraNode, events: EventStream) -> Result<RunCounts, CameraError> {
    match &config.source {
        Source::Folder(folder) => run_folder(config, folder, node, events).map(RunCounts::Folder),
        Source::Gige(gige) => run_gige(config, gige, node, events).map(RunCounts::Live),
        Source::Stream(stream) => run_stream(config, stream, node, events).map(RunCounts::Live),
    }
}

/// Frame ids start with the camera id, and with the node's start when
/// configured, so that a restarted camera's ids do not repeat the last run's.
fn id_prefix(config: &CameraSourceConfig) -> String {
    if config.run_in_ids {
        format!("{}-{}", config.camera_id, now_ms() / 1000)
    } else {
        config.camera_id.clone()
    }
}

/// dora's events come through a thread with a blocking `recv`, as in the
/// other nodes that wait on something besides dora: the frame loop waits
/// on one channel with its own deadline and never cancels a dora receive.
fn dora_events(events: EventStream) -> Result<Receiver<DoraSide>, CameraError> {
    let (tx, rx) = sync_channel::<DoraSide>(EVENTS_WAITING);
    forward_dora_events(events, tx).map_err(CameraError::DoraEvents)?;
    Ok(rx)
}

/// Plays the folder until it is done (or forever with `CAMERA_LOOP`), or
/// until dora stops the node; returns what it counted.
pub fn run_folder(
    config: &CameraSourceConfig,
    folder: &FolderSettings,
    node: DoraNode,
    events: EventStream,
) -> Result<Counts, CameraError> {
    let files = image_files(&folder.dir).map_err(|source| CameraError::Folder { dir: folder.dir.clone(), source })?;
    if files.is_empty() {
        return Err(CameraError::Empty { dir: folder.dir.clone() });
    }
    tracing::info!(files = files.len(), dir = %folder.dir.display(), rate_hz = config.rate_hz, "camera starts");
    let mut driver = Driver::new(node);
    let mut camera = CameraState::new(config, folder, files.len(), id_prefix(config));
    let rx = dora_events(events)?;
    let start = Instant::now();
    'frames: while let Some(slot) = camera.next_slot() {
        let due = start + slot.due;
        // Wait for the frame's time, answering dora meanwhile.
        while let Some(left) = due.checked_duration_since(Instant::now()).filter(|left| !left.is_zero()) {
            match rx.recv_timeout(left) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(DoraSide::Closed) | Err(RecvTimeoutError::Disconnected) => break 'frames,
                Ok(DoraSide::Event(event)) => {
                    if driver.step(event, &mut camera)? == Flow::Stop {
                        break 'frames;
                    }
                }
            }
        }
        let read = read_frame(&files[slot.file], folder.output);
        if let Some(emit) = camera.take(read, now_ms()) {
            driver.send(emit)?;
        }
    }
    let emits = camera.on_stop(now_ms());
    driver.send_all(emits)?;
    driver.send_metrics(|snapshot| camera.metrics(snapshot))?;
    Ok(camera.counts().clone())
}

/// How long one poll of the camera waits for a frame: dora's events wait at
/// most this long.
const POLL: Duration = Duration::from_millis(20);
/// Pause between attempts to open a camera that is away (an attempt itself
/// takes Aravis's discovery time, about 2.5 s, when nobody answers; a
/// stream's, up to its first frame or its refusal).
const REOPEN_PAUSE: Duration = Duration::from_millis(100);
/// dora events handled between two polls of the camera, at most.
const EVENTS_PER_POLL: usize = 4;

/// What the live loop needs of a camera.
trait LiveDevice {
    type Error: std::error::Error;
    fn poll(&mut self, wait: Duration) -> Polled;
    fn trigger(&self) -> Result<(), Self::Error>;
    /// After a poll with nothing: whether the camera is gone, and why.
    fn gone(&self, live: &mut LiveCamera) -> Option<&'static str>;
}

impl LiveDevice for GigeCamera {
    type Error = GigeError;

    fn poll(&mut self, wait: Duration) -> Polled {
        GigeCamera::poll(self, wait)
    }

    fn trigger(&self) -> Result<(), GigeError> {
        GigeCamera::trigger(self)
    }

    fn gone(&self, live: &mut LiveCamera) -> Option<&'static str> {
        if self.control_lost() {
            return Some("control_lost");
        }
        if !live.silent_for(self.settings().frame_timeout, now_ms()) {
            return None;
        }
        match self.settings().trigger {
            // A free-running camera that sends nothing is gone, or was
            // power-cycled and forgot where to stream: open it again.
            Trigger::FreeRun => Some("no_frames"),
            // A triggered one may wait for parts for hours: ask it.
            Trigger::Software | Trigger::Line(_) => {
                if self.answers() {
                    live.answered(now_ms());
                    None
                } else {
                    Some("no_reply")
                }
            }
        }
    }
}

/// A stream's camera and how long it may be silent.
struct Streaming {
    camera: StreamCamera,
    frame_timeout: Duration,
}

impl LiveDevice for Streaming {
    type Error = StreamError;

    fn poll(&mut self, wait: Duration) -> Polled {
        self.camera.poll(wait)
    }

    /// Streams free-run: the settings have no software trigger for them.
    fn trigger(&self) -> Result<(), StreamError> {
        Ok(())
    }

    /// An IP camera whose network went away sends nothing and says nothing:
    /// silence is the only sign.
    fn gone(&self, live: &mut LiveCamera) -> Option<&'static str> {
        live.silent_for(self.frame_timeout, now_ms()).then_some("no_frames")
    }
}

/// Streams a GigE Vision camera until dora stops the node (or
/// `CAMERA_MAX_FRAMES` were sent).
pub fn run_gige(
    config: &CameraSourceConfig,
    settings: &GigeSettings,
    node: DoraNode,
    events: EventStream,
) -> Result<LiveCounts, CameraError> {
    tracing::info!(device = %settings.device, trigger = ?settings.trigger, rate_hz = config.rate_hz, "camera starts");
    let software_trigger = settings.trigger == Trigger::Software;
    run_live(config, software_trigger, || GigeCamera::open(settings, config.rate_hz), node, events)
}

/// Streams an RTSP or USB camera until dora stops the node (or
/// `CAMERA_MAX_FRAMES` were sent).
pub fn run_stream(
    config: &CameraSourceConfig,
    settings: &StreamSettings,
    node: DoraNode,
    events: EventStream,
) -> Result<LiveCounts, CameraError> {
    tracing::info!(camera = %settings.describe(), "camera starts");
    let open =
        || StreamCamera::open(settings).map(|camera| Streaming { camera, frame_timeout: settings.frame_timeout });
    run_live(config, false, open, node, events)
}

/// The live loop: a camera that is away, or goes away, is opened again and
/// again; frames are never queued beyond the camera's bounded buffers.
fn run_live<D: LiveDevice>(
    config: &CameraSourceConfig,
    software_trigger: bool,
    mut open: impl FnMut() -> Result<D, D::Error>,
    node: DoraNode,
    events: EventStream,
) -> Result<LiveCounts, CameraError> {
    let mut driver = Driver::new(node);
    let mut live = LiveCamera::new(
        id_prefix(config),
        config.station.clone(),
        config.line.clone(),
        config.max_frames,
        software_trigger,
    );
    let rx = dora_events(events)?;
    let mut camera: Option<D> = None;
    let mut next_open = Instant::now();
    'frames: while !live.done() {
        // dora first, a few events at a time: a stop or a trigger is never
        // behind more than one poll, and a stream of events (each of whose
        // answers may wait on dora) never starves the camera's buffers.
        for _ in 0..EVENTS_PER_POLL {
            match rx.try_recv() {
                Err(TryRecvError::Empty) => break,
                Ok(DoraSide::Closed) | Err(TryRecvError::Disconnected) => break 'frames,
                Ok(DoraSide::Event(event)) => {
                    if driver.step(event, &mut live)? == Flow::Stop {
                        break 'frames;
                    }
                }
            }
        }
        let Some(open_camera) = camera.as_mut() else {
            let wait = next_open.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                match rx.recv_timeout(wait) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(DoraSide::Closed) | Err(RecvTimeoutError::Disconnected) => break 'frames,
                    Ok(DoraSide::Event(event)) => {
                        if driver.step(event, &mut live)? == Flow::Stop {
                            break 'frames;
                        }
                    }
                }
                continue;
            }
            match open() {
                Ok(opened) => {
                    live.connected(now_ms());
                    camera = Some(opened);
                }
                Err(error) => {
                    live.open_failed(&error, now_ms());
                    next_open = Instant::now() + REOPEN_PAUSE;
                }
            }
            continue;
        };
        if let Some(reason) = send_triggers(open_camera, &mut live) {
            live.lost(reason, now_ms());
            camera = None;
            continue;
        }
        match open_camera.poll(POLL) {
            Polled::Frame(frame) => {
                if let Some(emit) = live.frame(frame, now_ms()) {
                    driver.send(emit)?;
                }
            }
            Polled::Incomplete { status, device_frame_id } => live.incomplete(status, device_frame_id, now_ms()),
            Polled::Gone { reason } => {
                live.lost(reason, now_ms());
                camera = None;
            }
            Polled::Nothing => {
                if let Some(reason) = open_camera.gone(&mut live) {
                    live.lost(reason, now_ms());
                    camera = None;
                }
            }
        }
    }
    drop(camera);
    let emits = live.on_stop(now_ms());
    driver.send_all(emits)?;
    driver.send_metrics(|snapshot| live.metrics(snapshot))?;
    Ok(live.counts().clone())
}

/// Sends the triggers asked for; the reason the camera is lost if one fails.
fn send_triggers(camera: &impl LiveDevice, live: &mut LiveCamera) -> Option<&'static str> {
    for _ in 0..live.take_triggers() {
        if let Err(error) = camera.trigger() {
            tracing::warn!(error = %crate::state::chain(&error), "software trigger failed");
            return Some("trigger_failed");
        }
        live.trigger_sent();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use dora_node_api::arrow_v59::array::Array;
    use shopfloor_core::schema::MetricSample;
    use shopfloor_node::testing::TestRun;

    use super::*;
    use crate::config::FrameOutput;

    fn config(dir: &Path, output: FrameOutput, repeat: bool) -> CameraSourceConfig {
        CameraSourceConfig {
            source: Source::Folder(FolderSettings { dir: dir.to_owned(), repeat, output }),
            rate_hz: 50.0,
            camera_id: "cam1".into(),
            station: "station3".into(),
            line: "line1".into(),
            max_frames: None,
            run_in_ids: false,
        }
    }

    /// Runs a folder camera: its counts.
    fn play(config: &CameraSourceConfig, node: DoraNode, events: EventStream) -> Result<Counts, CameraError> {
        match run(config, node, events)? {
            RunCounts::Folder(counts) => Ok(counts),
            RunCounts::Live(counts) => panic!("a folder camera counted as live: {counts:?}"),
        }
    }

    const WIDTH: u32 = 16;
    const HEIGHT: u32 = 12;

    /// Three small PNGs and a file that only looks like one. Small, because
    /// dora's testing mode writes every output array out as JSON, which
    /// takes about a second per 160x120 frame.
    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for shade in 0..3u8 {
            let image = image::RgbImage::from_pixel(WIDTH, HEIGHT, image::Rgb([60 * shade, 90, 120]));
            image.save(dir.path().join(format!("part-{shade}.png"))).unwrap();
        }
        std::fs::write(dir.path().join("part-1-broken.png"), b"not an image").unwrap();
        dir
    }

    /// Under dora: every image of the folder comes out on `frames`, decoded
    /// to raw RGB, in name order at the rate; the broken file is skipped and
    /// counted; after the folder the node ends with a last
    /// metrics snapshot.
    #[test]
    fn a_folder_of_images_becomes_paced_frames() {
        let dir = folder();
        // The node's end is not timed here: dora's testing mode holds the
        // node until its last scripted event (the Stop). That the folder
        // ends the play is the state's test.
        // At 1 Hz the node waits a second between frames and reads dora's
        // events while it waits; the play ends after 3 s. A metrics tick is
        // scripted every 0.5 s of the play, so that on a loaded machine (where
        // one tick once came only after the play) some still come while it
        // waits; each one answered is one snapshot, and one comes at the end.
        let slow = CameraSourceConfig { rate_hz: 1.0, ..config(dir.path(), FrameOutput::Rgb8, false) };
        let ticks = [0.05, 0.5, 1.0, 1.5, 2.0, 2.5];
        let (counts, outputs) = ticks
            .iter()
            .fold(TestRun::new("camera-source"), |run, &at| run.tick(at, "metrics_tick"))
            .stop(4.0)
            .run(|node, events| play(&slow, node, events))
            .unwrap();
        let counts = counts.unwrap();
        assert_eq!(counts.frames, 3);
        assert_eq!(counts.skipped.get("undecodable"), Some(&1));
        let sizes: Vec<usize> = outputs.on("frames").map(|sent| sent.data.len()).collect();
        assert_eq!(sizes, [(WIDTH * HEIGHT * 3) as usize; 3]);
        let snapshots: Vec<Vec<MetricSample>> =
            outputs.on("metrics").map(|sent| MetricSample::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert!(
            (2..=ticks.len() + 1).contains(&snapshots.len()),
            "{} snapshots: one per tick answered while playing (at least one) and one at the end",
            snapshots.len()
        );
        let last = snapshots.last().unwrap();
        let frames = last.iter().find(|s| s.name == "shopfloor_camera_frames").unwrap();
        assert_eq!(frames.value, 3.0);
        assert!(last.iter().any(|s| s.name == "shopfloor_camera_skipped_files"));
    }

    /// A looping camera plays until dora stops it; files go as stored.
    #[test]
    fn a_looping_camera_stops_when_dora_says_so() {
        let dir = folder();
        // dora's testing daemon serves the node's sends only between scripted
        // events: with the stop alone, the first frame waited for it (1 frame
        // in 10 s, seen). Ticks keep the sends flowing, as a dataflow's timer.
        let (counts, outputs) = TestRun::new("camera-source")
            .ticks(0.1, STOP_AFTER_SECS - 0.1, "metrics_tick")
            .stop(STOP_AFTER_SECS)
            .run(|node, events| play(&config(dir.path(), FrameOutput::AsStored, true), node, events))
            .unwrap();
        let counts = counts.unwrap();
        // It went round the folder (3 playable files) at least once, and never
        // faster than its rate: no count tied to how fast a loaded machine is.
        const STOP_AFTER_SECS: f64 = 10.0;
        assert!(counts.frames > 3, "{counts:?}");
        assert!(counts.frames as f64 <= STOP_AFTER_SECS * 50.0 + 1.0, "{counts:?}");
        assert_eq!(outputs.on("frames").count() as u64, counts.frames);
        assert!(
            outputs.on("frames").all(|sent| sent.data.len() < (WIDTH * HEIGHT * 3) as usize),
            "PNG bytes, not pixels"
        );
    }

    #[test]
    fn an_empty_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (result, _) = TestRun::new("camera-source")
            .run(|node, events| play(&config(dir.path(), FrameOutput::Rgb8, false), node, events))
            .unwrap();
        assert!(matches!(result, Err(CameraError::Empty { .. })));
    }
}
