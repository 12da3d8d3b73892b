//! A live camera as plain state: the frame message of each image the camera
//! delivered, the frames it never delivered (gaps in its frame ids), the
//! connection's losses and returns, the triggers asked for, and the counts.
//! No camera library and no clock: the driver polls the camera and hands
//! each result here with the time.

use std::collections::BTreeMap;
use std::time::Duration;

use dora_node_api::arrow_v59::array::Array;
use dora_node_api::{MetadataParameters, Parameter};
use shopfloor_core::schema::{frame_to_arrow, FrameEncoding, FrameMeta};
use shopfloor_node::metrics::Snapshot;
use shopfloor_node::{Emit, NodeLogic, Rejected};

use crate::state::FRAMES_OUTPUT;

/// The input whose every message is one software trigger.
pub const TRIGGER_INPUT: &str = "trigger";

/// Triggers asked for and not yet sent to the camera, at most: a burst of
/// trigger messages while the camera is away must not become a burst of
/// frames when it returns.
const TRIGGERS_WAITING: u32 = 64;

/// One complete image as the camera delivered it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveFrame {
    /// The camera's own frame (block) id.
    pub device_frame_id: u64,
    /// The camera's timestamp, in its own clock's nanoseconds.
    pub camera_ts_ns: u64,
    /// When the host received the frame, nanoseconds since the epoch.
    pub received_ns: u64,
    pub width: u32,
    pub height: u32,
    pub encoding: FrameEncoding,
    pub bytes: Vec<u8>,
}

/// One poll of a live camera.
#[derive(Debug)]
pub enum Polled {
    Frame(LiveFrame),
    /// A frame came without a usable image (a GigE buffer's status, a
    /// decoder's corrupted frame).
    Incomplete {
        status: &'static str,
        device_frame_id: u64,
    },
    /// Nothing within the wait.
    Nothing,
    /// The camera is gone (a stream's error or end), for `reason`.
    Gone {
        reason: &'static str,
    },
}

/// What the camera's frame ids say about the frames between two arrivals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdStep {
    /// The first frame, or the next id.
    InOrder,
    /// This many ids were skipped: frames the camera sent that never came.
    Missed(u64),
    /// The ids started again (the camera restarted): nothing to count.
    Restarted,
}

/// GigE Vision 1.x block ids are 16 bits, skip 0, and wrap from 65535 to 1.
const LAST_SHORT_ID: u64 = u16::MAX as u64;

/// The last frame id seen, to find the gaps.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameIds {
    last: Option<u64>,
}

impl FrameIds {
    pub fn step(&mut self, id: u64) -> IdStep {
        let step = match self.last {
            None => IdStep::InOrder,
            Some(last) if id == last + 1 => IdStep::InOrder,
            Some(last) if id > last => IdStep::Missed(id - last - 1),
            // A 16-bit id that wrapped: the ids after `last` up to 65535,
            // then those from 1 up to `id`. A wrap that skipped more than a
            // few seconds' worth is a restart that happened to start low.
            Some(last) if last <= LAST_SHORT_ID && id >= 1 && LAST_SHORT_ID - last + id - 1 < 1_000 => {
                match LAST_SHORT_ID - last + id - 1 {
                    0 => IdStep::InOrder,
                    missed => IdStep::Missed(missed),
                }
            }
            Some(_) => IdStep::Restarted,
        };
        self.last = Some(id);
        step
    }

    /// A new connection: the camera may count from anywhere.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LiveCounts {
    /// Frames sent on.
    pub frames: u64,
    /// Bytes sent in frames.
    pub bytes: u64,
    /// Frames the camera sent that never arrived (gaps in its ids).
    pub missed: u64,
    /// Frames that arrived broken, by the stream's status
    /// (`missing_packets`, `timeout`, `size_mismatch`, ...).
    pub incomplete: BTreeMap<&'static str, u64>,
    /// Times the camera was opened.
    pub connects: u64,
    /// Times the camera was lost, by why (`no_frames`, `control_lost`,
    /// `no_reply`, `trigger_failed`).
    pub losses: BTreeMap<&'static str, u64>,
    /// Failed attempts to open it.
    pub failed_opens: u64,
    /// Software triggers sent to the camera.
    pub triggers: u64,
    /// Trigger messages dropped because too many were waiting.
    pub triggers_dropped: u64,
    /// The camera's ids started again within one connection.
    pub id_restarts: u64,
    /// The frames of the current (or last) connection, by the camera's clock.
    pub connection: ConnectionFrames,
}

/// Frames of one connection and the camera's clock at the first and last.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionFrames {
    pub frames: u64,
    pub first_camera_ts_ns: u64,
    pub last_camera_ts_ns: u64,
}

impl ConnectionFrames {
    fn add(&mut self, camera_ts_ns: u64) {
        if self.frames == 0 {
            self.first_camera_ts_ns = camera_ts_ns;
        }
        self.last_camera_ts_ns = camera_ts_ns;
        self.frames += 1;
    }

    /// Frames per second by the camera's own clock: the rate it really
    /// runs at, whatever the host's load (`None` before two frames).
    pub fn rate_hz(&self) -> Option<f64> {
        let span_ns = self.last_camera_ts_ns.checked_sub(self.first_camera_ts_ns).filter(|span| *span > 0)?;
        (self.frames >= 2).then(|| (self.frames - 1) as f64 * 1e9 / span_ns as f64)
    }
}

/// The live camera's state between polls.
pub struct LiveCamera {
    id_prefix: String,
    station: String,
    line: String,
    max_frames: Option<u64>,
    software_trigger: bool,
    ids: FrameIds,
    counts: LiveCounts,
    /// When the camera was opened or last sent a frame (ms): silence is
    /// measured from here.
    last_sign_of_life_ms: Option<i64>,
    /// When the camera was lost, until it is back.
    lost_at_ms: Option<i64>,
    /// The last outage, from loss to the next open.
    last_outage: Option<Duration>,
    triggers_waiting: u32,
}

impl LiveCamera {
    /// A camera whose frame ids start with `id_prefix`; `software_trigger`
    /// when the `trigger` input drives it.
    pub fn new(
        id_prefix: String,
        station: String,
        line: String,
        max_frames: Option<u64>,
        software_trigger: bool,
    ) -> Self {
        Self {
            id_prefix,
            station,
            line,
            max_frames,
            software_trigger,
            ids: FrameIds::default(),
            counts: LiveCounts::default(),
            last_sign_of_life_ms: None,
            lost_at_ms: None,
            last_outage: None,
            triggers_waiting: 0,
        }
    }

    pub fn counts(&self) -> &LiveCounts {
        &self.counts
    }

    /// How long the camera was away the last time it came back.
    pub fn last_outage(&self) -> Option<Duration> {
        self.last_outage
    }

    /// Whether `CAMERA_MAX_FRAMES` frames were sent.
    pub fn done(&self) -> bool {
        self.max_frames.is_some_and(|max| self.counts.frames >= max)
    }

    /// The camera was opened at `now_ms`.
    pub fn connected(&mut self, now_ms: i64) {
        self.counts.connects += 1;
        self.counts.connection = ConnectionFrames::default();
        self.ids.reset();
        self.last_sign_of_life_ms = Some(now_ms);
        if let Some(lost_at) = self.lost_at_ms.take() {
            let outage = Duration::from_millis(now_ms.saturating_sub(lost_at).max(0) as u64);
            self.last_outage = Some(outage);
            tracing::info!(outage_ms = outage.as_millis() as u64, "camera back");
        } else {
            tracing::info!("camera open");
        }
    }

    /// An attempt to open the camera failed (`error` is for the log: the
    /// first failure after a loss is a warning, the retries are quiet).
    pub fn open_failed(&mut self, error: &dyn std::error::Error, now_ms: i64) {
        self.counts.failed_opens += 1;
        if self.lost_at_ms.is_none() {
            self.lost_at_ms = Some(now_ms);
            tracing::warn!(error = %crate::state::chain(error), "cannot open the camera; retrying");
        } else {
            tracing::debug!(error = %crate::state::chain(error), "camera still away");
        }
    }

    /// The camera stopped answering at `now_ms`, for `reason`.
    pub fn lost(&mut self, reason: &'static str, now_ms: i64) {
        *self.counts.losses.entry(reason).or_default() += 1;
        self.lost_at_ms.get_or_insert(now_ms);
        self.last_sign_of_life_ms = None;
        tracing::warn!(reason, "camera lost; opening it again");
    }

    /// Whether a connected camera has been silent longer than `timeout`.
    pub fn silent_for(&self, timeout: Duration, now_ms: i64) -> bool {
        self.last_sign_of_life_ms.is_some_and(|since| now_ms.saturating_sub(since) > timeout.as_millis() as i64)
    }

    /// The camera answered a probe: it is alive though it sent no frame.
    pub fn answered(&mut self, now_ms: i64) {
        self.last_sign_of_life_ms = Some(now_ms);
    }

    /// A frame that arrived broken (`status`), with its id.
    pub fn incomplete(&mut self, status: &'static str, device_frame_id: u64, now_ms: i64) {
        self.step_ids(device_frame_id);
        self.last_sign_of_life_ms = Some(now_ms);
        *self.counts.incomplete.entry(status).or_default() += 1;
        tracing::debug!(status, device_frame_id, "incomplete frame dropped");
    }

    /// A complete frame: the message to send, or nothing once
    /// `CAMERA_MAX_FRAMES` were sent.
    pub fn frame(&mut self, frame: LiveFrame, now_ms: i64) -> Option<Emit> {
        self.step_ids(frame.device_frame_id);
        self.last_sign_of_life_ms = Some(now_ms);
        if self.done() {
            return None;
        }
        let meta = FrameMeta {
            frame_id: format!("{}-{:06}", self.id_prefix, self.counts.frames),
            // The host's clock at arrival: the same clock as every other
            // message's `ts_ms`. The camera's own clock goes alongside.
            ts_ms: (frame.received_ns / 1_000_000) as i64,
            station: self.station.clone(),
            line: self.line.clone(),
            width: frame.width,
            height: frame.height,
            encoding: frame.encoding,
        };
        let mut parameters = meta.to_parameters();
        parameters.insert("device_frame_id".into(), Parameter::Integer(saturating_i64(frame.device_frame_id)));
        parameters.insert("camera_ts_ns".into(), Parameter::Integer(saturating_i64(frame.camera_ts_ns)));
        self.counts.frames += 1;
        self.counts.bytes += frame.bytes.len() as u64;
        self.counts.connection.add(frame.camera_ts_ns);
        // At trace level: one line per frame is for following a stream by
        // hand (and for tests that wait until frames have arrived).
        tracing::trace!(frames = self.counts.frames, connection_frames = self.counts.connection.frames, "frame taken");
        Some(Emit::new(FRAMES_OUTPUT, frame_to_arrow(frame.bytes)).with_parameters(parameters))
    }

    /// Triggers to send to the camera now; the count starts again at 0.
    pub fn take_triggers(&mut self) -> u32 {
        std::mem::take(&mut self.triggers_waiting)
    }

    /// One software trigger went to the camera.
    pub fn trigger_sent(&mut self) {
        self.counts.triggers += 1;
    }

    fn step_ids(&mut self, device_frame_id: u64) {
        match self.ids.step(device_frame_id) {
            IdStep::InOrder => {}
            IdStep::Missed(missed) => {
                self.counts.missed += missed;
                tracing::warn!(missed, device_frame_id, "frames lost between camera and node");
            }
            IdStep::Restarted => self.counts.id_restarts += 1,
        }
    }
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl NodeLogic for LiveCamera {
    /// `trigger`: one frame, when the camera is software-triggered.
    fn on_input(
        &mut self,
        input: &str,
        _data: &dyn Array,
        _parameters: &MetadataParameters,
        _now_ms: i64,
    ) -> Result<Vec<Emit>, Rejected> {
        if input != TRIGGER_INPUT {
            return Err(Rejected::unknown_input(input));
        }
        if !self.software_trigger {
            return Err(Rejected::new("not_software_triggered", "CAMERA_TRIGGER is not `software`"));
        }
        if self.triggers_waiting >= TRIGGERS_WAITING {
            self.counts.triggers_dropped += 1;
            return Err(Rejected::new("too_many_triggers", format!("{TRIGGERS_WAITING} triggers already wait")));
        }
        self.triggers_waiting += 1;
        Ok(Vec::new())
    }

    fn metrics(&self, snapshot: &mut Snapshot) {
        let c = &self.counts;
        snapshot.counter("shopfloor_camera_frames", "Frames sent", &[], c.frames);
        snapshot.counter("shopfloor_camera_bytes", "Bytes sent in frames", &[], c.bytes);
        snapshot.counter("shopfloor_camera_missed_frames", "Frames the camera sent that never arrived", &[], c.missed);
        for (status, count) in &c.incomplete {
            snapshot.counter(
                "shopfloor_camera_incomplete_frames",
                "Frames that arrived broken, by status",
                &[("status", status)],
                *count,
            );
        }
        snapshot.counter("shopfloor_camera_connects", "Times the camera was opened", &[], c.connects);
        for (reason, count) in &c.losses {
            snapshot.counter(
                "shopfloor_camera_losses",
                "Times the camera was lost, by reason",
                &[("reason", reason)],
                *count,
            );
        }
        snapshot.counter("shopfloor_camera_failed_opens", "Failed attempts to open the camera", &[], c.failed_opens);
        snapshot.counter("shopfloor_camera_triggers", "Software triggers sent", &[], c.triggers);
        if let Some(rate) = c.connection.rate_hz() {
            snapshot.gauge("shopfloor_camera_rate_hz", "Frames per second by the camera's clock", &[], rate);
        }
        snapshot.gauge(
            "shopfloor_camera_connected",
            "1 while the camera is open",
            &[],
            if self.lost_at_ms.is_none() && c.connects > 0 { 1.0 } else { 0.0 },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera(max_frames: Option<u64>, software_trigger: bool) -> LiveCamera {
        LiveCamera::new("cam2".into(), "station4".into(), "line1".into(), max_frames, software_trigger)
    }

    fn frame(device_frame_id: u64) -> LiveFrame {
        LiveFrame {
            device_frame_id,
            camera_ts_ns: 5_000_000_123,
            received_ns: 1_796_000_000_123_456_789,
            width: 4,
            height: 2,
            encoding: FrameEncoding::Mono8,
            bytes: vec![9; 8],
        }
    }

    #[test]
    fn gaps_in_frame_ids_are_missed_frames_and_16_bit_ids_wrap() {
        let mut ids = FrameIds::default();
        let steps: Vec<IdStep> = [7, 8, 11, 65_534, 65_535, 1, 3, 2].into_iter().map(|id| ids.step(id)).collect();
        assert_eq!(
            steps,
            [
                IdStep::InOrder,
                IdStep::InOrder,
                IdStep::Missed(2),
                IdStep::Missed(65_522),
                IdStep::InOrder,
                IdStep::InOrder,
                IdStep::Missed(1),
                IdStep::Restarted
            ]
        );
        let mut ids = FrameIds::default();
        ids.step(65_530);
        assert_eq!(ids.step(4), IdStep::Missed(8), "65531..=65535 and 1..=3");
        ids.reset();
        assert_eq!(ids.step(900), IdStep::InOrder);
    }

    #[test]
    fn a_frame_becomes_a_message_with_the_cameras_id_and_clock() {
        let mut live = camera(None, false);
        live.connected(1_000);
        let emit = live.frame(frame(41), 1_010).unwrap();
        assert_eq!(emit.output, FRAMES_OUTPUT);
        let meta = FrameMeta::from_parameters(&emit.parameters).unwrap();
        assert_eq!(
            (meta.frame_id.as_str(), meta.ts_ms, meta.encoding),
            ("cam2-000000", 1_796_000_000_123, FrameEncoding::Mono8)
        );
        assert_eq!((meta.width, meta.height, meta.station.as_str()), (4, 2, "station4"));
        assert_eq!(emit.parameters.get("device_frame_id"), Some(&Parameter::Integer(41)));
        assert_eq!(emit.parameters.get("camera_ts_ns"), Some(&Parameter::Integer(5_000_000_123)));
        assert_eq!(emit.data.len(), 8);
        live.incomplete("missing_packets", 42, 1_040);
        let later = LiveFrame { camera_ts_ns: frame(0).camera_ts_ns + 100_000_000, ..frame(45) };
        live.frame(later, 1_100).unwrap();
        // Two frames 0.1 s apart by the camera's clock (three ids lost between).
        assert_eq!(live.counts().connection.rate_hz(), Some(10.0));
        let counts = live.counts();
        assert_eq!((counts.frames, counts.bytes, counts.missed), (2, 16, 2));
        assert_eq!(counts.incomplete.get("missing_packets"), Some(&1));
    }

    #[test]
    fn a_silent_camera_is_lost_and_its_outage_is_measured_when_it_returns() {
        let mut live = camera(None, false);
        live.connected(0);
        live.frame(frame(1), 100);
        let timeout = Duration::from_secs(1);
        assert!(!live.silent_for(timeout, 1_100));
        assert!(live.silent_for(timeout, 1_101));
        live.lost("no_frames", 1_101);
        assert!(!live.silent_for(timeout, 9_000), "a lost camera is not polled for silence");
        let refused = std::io::Error::other("no camera at 127.0.0.1");
        live.open_failed(&refused, 1_400);
        live.open_failed(&refused, 1_700);
        live.connected(2_600);
        assert_eq!(live.last_outage(), Some(Duration::from_millis(1_499)));
        // Ids after a reconnect start from wherever the camera counts.
        live.frame(frame(60_000), 2_700);
        let counts = live.counts();
        assert_eq!((counts.connects, counts.failed_opens, counts.missed), (2, 2, 0));
        assert_eq!(counts.losses.get("no_frames"), Some(&1));
    }

    #[test]
    fn software_triggers_wait_for_the_camera_within_a_bound() {
        let mut live = camera(None, true);
        let empty = dora_node_api::arrow_v59::array::NullArray::new(0);
        let parameters = MetadataParameters::new();
        for _ in 0..TRIGGERS_WAITING + 3 {
            let _ = live.on_input(TRIGGER_INPUT, &empty, &parameters, 0);
        }
        assert_eq!(live.take_triggers(), TRIGGERS_WAITING);
        assert_eq!(live.take_triggers(), 0);
        assert_eq!(live.counts().triggers_dropped, 3);
        let free_run = &mut camera(None, false);
        let err = free_run.on_input(TRIGGER_INPUT, &empty, &parameters, 0).unwrap_err();
        assert_eq!(err.reason, "not_software_triggered");
        assert_eq!(live.on_input("frames", &empty, &parameters, 0).unwrap_err().reason, "unknown_input");
    }

    #[test]
    fn the_frame_limit_ends_the_stream() {
        let mut live = camera(Some(2), false);
        live.connected(0);
        assert!(live.frame(frame(1), 0).is_some());
        assert!(!live.done());
        assert!(live.frame(frame(2), 0).is_some());
        assert!(live.done());
        assert!(live.frame(frame(3), 0).is_none());
    }

    #[test]
    fn the_snapshot_says_whether_the_camera_is_open_and_what_was_lost() {
        let mut live = camera(None, false);
        live.connected(0);
        live.frame(frame(1), 0);
        live.frame(frame(3), 0);
        live.lost("control_lost", 10);
        let mut snapshot = Snapshot::new("camera");
        live.metrics(&mut snapshot);
        let samples = snapshot.finish();
        let value = |name: &str| samples.iter().find(|s| s.name == name).map(|s| s.value);
        assert_eq!(value("shopfloor_camera_missed_frames"), Some(1.0));
        assert_eq!(value("shopfloor_camera_connected"), Some(0.0));
        assert_eq!(value("shopfloor_camera_losses"), Some(1.0));
    }
}
