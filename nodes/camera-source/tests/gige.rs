//! The camera source against a real GigE Vision peer: Aravis's simulated
//! camera (`arv-fake-gv-camera-0.8`, Debian's `aravis-tools`) on loopback,
//! driven by the node's real driver in dora's testing mode.
//!
//! The simulated camera listens on 127.0.0.1's GigE Vision control port
//! (3956), so one runs at a time: a lock here, and a nextest group for the
//! other test binaries (.config/nextest.toml).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use camera_source::config::{CameraSourceConfig, GigeSettings, PixelFormat, Region, Source, Trigger};
use camera_source::driver::{run_gige, CameraError};
use camera_source::live::LiveCounts;
use dora_node_api::arrow_v59::array::{Array, ArrayRef, NullArray};
use shopfloor_node::testing::{Outputs, TestRun};

const FAKE_CAMERA: &str = "arv-fake-gv-camera-0.8";
/// The frames are small: dora's testing mode writes every output out as
/// JSON, which a 640x480 frame at 30 per second would drown in.
const REGION: Region = Region { x: 0, y: 0, width: 32, height: 24 };
/// How long a streaming run lasts: the node stops on its own after its
/// frame limit (a few seconds of the camera's time), but dora's testing
/// mode holds the run until its scripted stop, so this is a bound that a
/// loaded machine does not reach, not a measure.
const RUN_SECS: f64 = 20.0;
/// Generous: waits are for conditions, not races against a clock.
const DEADLINE: Duration = Duration::from_secs(60);

static ONE_CAMERA_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_CAMERA_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A simulated camera process; killed when dropped. Its debug log tells
/// when a client starts the acquisition.
struct FakeCamera {
    child: Child,
    acquisition_started: Receiver<()>,
}

impl FakeCamera {
    fn start(serial: &str) -> Self {
        Self::start_losing(serial, 0)
    }

    /// A camera that drops `per_thousand` of the packets it sends (and,
    /// being Aravis's simulated one, does not send them again when asked).
    fn start_losing(serial: &str, per_thousand: u32) -> Self {
        let mut child = Command::new(FAKE_CAMERA)
            .args(["-i", "127.0.0.1", "-s", serial, "-d", "device:3", "-r", &per_thousand.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {FAKE_CAMERA} (Debian aravis-tools; scripts/test.sh installs it): {e}")
            });
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, acquisition_started) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // GigE Vision's AcquisitionStart register (0x124) set to 1.
                if line.contains("Write register command 292 -> 1") {
                    let _ = tx.send(());
                }
            }
        });
        Self { child, acquisition_started }
    }

    /// Waits until a client started streaming from this camera.
    fn wait_for_acquisition(&self) {
        self.acquisition_started
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("no client started the acquisition within {DEADLINE:?}"));
    }
}

impl Drop for FakeCamera {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn settings(trigger: Trigger) -> GigeSettings {
    GigeSettings {
        device: "127.0.0.1".into(),
        pixel_format: PixelFormat::Mono8,
        region: Some(REGION),
        exposure_us: None,
        gain_db: None,
        trigger,
        // Room for a loaded machine to fall behind without losing a frame.
        buffers: 32,
        frame_timeout: Duration::from_millis(500),
    }
}

fn config(settings: GigeSettings, max_frames: Option<u64>) -> CameraSourceConfig {
    CameraSourceConfig {
        source: Source::Gige(settings),
        rate_hz: 30.0,
        camera_id: "gige1".into(),
        station: "station2".into(),
        line: "line1".into(),
        max_frames,
        run_in_ids: false,
    }
}

fn live(config: &CameraSourceConfig, run: TestRun) -> (LiveCounts, Outputs) {
    let Source::Gige(settings) = &config.source else { unreachable!("a GigE camera") };
    let (counts, outputs): (Result<LiveCounts, CameraError>, Outputs) =
        run.run(|node, events| run_gige(config, settings, node, events)).expect("the testing run starts");
    (counts.expect("the camera source runs"), outputs)
}

/// A run that ends at `until_secs`. dora's testing daemon serves a node's
/// sends only as the next scripted event comes due; an input the node
/// ignores, a hundred times a second, stands in for a dataflow's steady
/// traffic so that frames flow at the camera's rate.
fn clocked(until_secs: f64) -> TestRun {
    TestRun::new("camera-source").ticks(0.01, until_secs, "clock").stop(until_secs)
}

fn frame_sizes(outputs: &Outputs) -> Vec<usize> {
    outputs.on("frames").map(|sent| sent.data.len()).collect()
}

/// Free run at 30 Hz, 32x24 Mono8: every frame arrives whole, in the format
/// asked for, at the camera's rate by its own clock, and no frame id is
/// skipped.
#[test]
fn a_free_running_camera_streams_at_its_rate_in_its_format_and_loses_no_frame() {
    let _one = one_at_a_time();
    let _camera = FakeCamera::start("GV01");
    let config = config(settings(Trigger::FreeRun), Some(90));
    // The node ends after 90 frames (3 s of the camera's time); the ticks
    // keep dora's testing daemon serving its sends until the deadline.
    let (counts, outputs) = live(&config, clocked(RUN_SECS));
    assert_eq!(counts.frames, 90, "{counts:?}");
    assert_eq!(frame_sizes(&outputs), vec![(REGION.width * REGION.height) as usize; 90]);
    assert_eq!((counts.missed, counts.incomplete.len(), counts.connects), (0, 0, 1), "{counts:?}");
    let rate = counts.connection.rate_hz().expect("two frames or more");
    assert!((27.0..=33.0).contains(&rate), "{rate} frames/s by the camera's clock, 30 asked");
}

/// The camera is killed mid-stream and started again: the node notices,
/// opens it again, and goes on streaming from the new camera.
#[test]
fn a_camera_killed_mid_stream_is_picked_up_again() {
    let _one = one_at_a_time();
    let camera = FakeCamera::start("GV02");
    let config = config(settings(Trigger::FreeRun), Some(60));
    // The kill comes once frames flow; the node must then stream 60 frames
    // in all, so some come from the camera started again.
    let power_cycle = std::thread::spawn(move || {
        camera.wait_for_acquisition();
        std::thread::sleep(Duration::from_millis(300));
        drop(camera);
        std::thread::sleep(Duration::from_millis(500));
        let again = FakeCamera::start("GV02");
        again.wait_for_acquisition();
        again
    });
    let (counts, outputs) = live(&config, clocked(RUN_SECS));
    let _again = power_cycle.join().expect("the power cycle ran");
    assert_eq!(counts.frames, 60, "{counts:?}");
    assert_eq!(counts.connects, 2, "opened, lost, opened again: {counts:?}");
    assert!(counts.losses.values().sum::<u64>() >= 1, "{counts:?}");
    assert!(counts.connection.frames >= 1 && counts.connection.frames < 60, "frames from both cameras: {counts:?}");
    assert_eq!(frame_sizes(&outputs).len(), 60);
}

/// Software triggered: each message on `trigger` makes exactly one frame,
/// also a trigger that came before the camera was open.
#[test]
fn each_software_trigger_makes_exactly_one_frame() {
    let _one = one_at_a_time();
    let _camera = FakeCamera::start("GV03");
    let config = config(settings(Trigger::Software), None);
    let trigger: ArrayRef = std::sync::Arc::new(NullArray::new(0));
    let (counts, outputs) = live(
        &config,
        clocked(8.0)
            .input(0.0, "trigger", trigger.clone())
            .input(2.0, "trigger", trigger.clone())
            .input(4.0, "trigger", trigger),
    );
    assert_eq!((counts.triggers, counts.frames), (3, 3), "{counts:?}");
    assert_eq!(frame_sizes(&outputs), vec![(REGION.width * REGION.height) as usize; 3]);
    assert!(outputs.on("frames").all(|sent| sent.data.null_count() == 0));
}

/// A lossy link: the camera drops a tenth of its packets. A frame with a
/// packet missing is counted by its status (or, its leader lost, as a gap
/// in the ids), and never passed on: every frame that goes out is whole.
#[test]
fn on_a_lossy_link_broken_frames_are_counted_and_never_passed_on() {
    let _one = one_at_a_time();
    let _camera = FakeCamera::start_losing("GV04", 100);
    let config = config(settings(Trigger::FreeRun), Some(60));
    let (counts, outputs) = live(&config, clocked(RUN_SECS));
    assert_eq!(counts.frames, 60, "{counts:?}");
    assert_eq!(frame_sizes(&outputs), vec![(REGION.width * REGION.height) as usize; 60]);
    // Three packets a frame (leader, data, trailer) at 10 % loss: about a
    // quarter of the frames break; none would in 60 only once in 10^8 runs.
    let broken = counts.incomplete.values().sum::<u64>() + counts.missed;
    assert!(broken > 0, "a tenth of the packets lost, yet no frame broke: {counts:?}");
}
