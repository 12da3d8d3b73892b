//! The camera source against a real RTSP peer: GStreamer's RTSP server
//! library serving a live test picture (H.264 or MJPEG, as IP cameras do) on
//! loopback, read by the node's real driver in dora's testing mode.
//!
//! Each test's server takes its own free port, so these tests may run side
//! by side.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use camera_source::config::{CameraSourceConfig, PixelFormat, RtspTransport, Source, StreamKind, StreamSettings};
use camera_source::driver::{run_stream, CameraError};
use camera_source::live::{LiveCounts, Polled};
use camera_source::stream::{StreamCamera, StreamError};
use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_rtsp_server as rtsp_server;
use gstreamer_rtsp_server::prelude::*;
use shopfloor_core::env::Secret;
use shopfloor_node::testing::{Outputs, TestRun};
use tracing_subscriber::layer::SubscriberExt;

const WIDTH: usize = 64;
const HEIGHT: usize = 48;
/// An IP camera's usual stream: H.264 at 30 fps, a key frame every half
/// second, the codec's settings sent with each key frame (a client that
/// joins late needs them).
const H264: &str = "( videotestsrc name=camera is-live=true pattern=white \
    ! video/x-raw,width=64,height=48,framerate=30/1 \
    ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 \
    ! rtph264pay name=pay0 pt=96 config-interval=-1 )";
/// The other common one: Motion JPEG (RTP carries JPEG's 4:2:0 or 4:2:2
/// only, hence the format).
const MJPEG: &str = "( videotestsrc name=camera is-live=true pattern=white \
    ! video/x-raw,format=I420,width=64,height=48,framerate=30/1 \
    ! jpegenc ! rtpjpegpay name=pay0 pt=26 )";
/// A bound that a loaded machine does not reach: the node stops on its own
/// after its frame limit, but dora's testing mode holds the run until its
/// scripted stop.
const RUN_SECS: f64 = 20.0;
/// Generous: waits are for conditions, not races against a clock.
const DEADLINE: Duration = Duration::from_secs(60);

/// An RTSP camera on 127.0.0.1 serving `/line1`. Dropping it closes every
/// session and the listening port, as a camera that loses power.
struct RtspCamera {
    port: u16,
    server: rtsp_server::RTSPServer,
    listening: Option<glib::SourceId>,
    context: glib::MainContext,
    main_loop: glib::MainLoop,
    thread: Option<JoinHandle<()>>,
    /// Frames the picture source produced and let through.
    produced: Arc<AtomicU64>,
    /// While set, the picture source's frames are dropped: the camera
    /// sends nothing though its sessions stay open (a cable pulled
    /// between it and a switch).
    silent: Arc<AtomicBool>,
}

impl RtspCamera {
    fn start(launch: &str) -> Self {
        Self::start_at(launch, 0, None)
    }

    /// On `port` (0: any free one), asking for `account` if given.
    fn start_at(launch: &str, port: u16, account: Option<(&str, &str)>) -> Self {
        gst::init().expect("GStreamer starts");
        let context = glib::MainContext::new();
        let server = rtsp_server::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&port.to_string());
        let factory = rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(launch);
        // One picture for every client, as a camera has.
        factory.set_shared(true);
        let produced = Arc::new(AtomicU64::new(0));
        let silent = Arc::new(AtomicBool::new(false));
        let (count, mute) = (Arc::clone(&produced), Arc::clone(&silent));
        factory.connect_media_configure(move |_, media| {
            let bin = media.element().downcast::<gst::Bin>().expect("the media is a bin");
            let pad = bin.by_name("camera").and_then(|camera| camera.static_pad("src")).expect("the camera's pad");
            let (count, mute) = (Arc::clone(&count), Arc::clone(&mute));
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if mute.load(Ordering::Acquire) {
                    gst::PadProbeReturn::Drop
                } else {
                    count.fetch_add(1, Ordering::AcqRel);
                    gst::PadProbeReturn::Ok
                }
            });
        });
        if let Some((user, password)) = account {
            let auth = rtsp_server::RTSPAuth::new();
            let token =
                rtsp_server::RTSPToken::builder().field(rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE, "operator").build();
            auth.add_basic(rtsp_server::RTSPAuth::make_basic(user, password).as_str(), &token);
            server.set_auth(Some(&auth));
            factory.add_role_from_structure(
                &gst::Structure::builder("operator")
                    .field(rtsp_server::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                    .field(rtsp_server::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                    .build(),
            );
        }
        server.mount_points().expect("mount points").add_factory("/line1", factory);
        let listening = server.attach(Some(&context)).expect("the RTSP server listens");
        let port = u16::try_from(server.bound_port()).expect("a port");
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let thread = {
            let (main_loop, context) = (main_loop.clone(), context.clone());
            std::thread::spawn(move || {
                context.with_thread_default(|| main_loop.run()).expect("the server's context is free");
            })
        };
        Self { port, server, listening: Some(listening), context, main_loop, thread: Some(thread), produced, silent }
    }

    fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/line1", self.port)
    }

    /// Waits until the picture source has produced `frames` more frames
    /// than now: a client is streaming.
    fn wait_for_frames(&self, frames: u64) {
        let target = self.produced.load(Ordering::Acquire) + frames;
        let deadline = Instant::now() + DEADLINE;
        while self.produced.load(Ordering::Acquire) < target {
            assert!(Instant::now() < deadline, "the camera produced no {frames} frames within {DEADLINE:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RtspCamera {
    fn drop(&mut self) {
        self.server.client_filter(Some(&mut |_, _| rtsp_server::RTSPFilterResult::Remove));
        // The listening source lives in the server's own context, not the
        // default one `SourceId::remove` looks in.
        if let Some(source) = self.listening.take().and_then(|id| self.context.find_source_by_id(&id)) {
            source.destroy();
        }
        self.main_loop.quit();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn settings(url: String, transport: RtspTransport, pixel_format: PixelFormat) -> StreamSettings {
    StreamSettings {
        kind: StreamKind::Rtsp { url, user: None, password: None, transport, latency: Duration::from_millis(100) },
        pixel_format,
        // Room for a loaded machine to fall behind without losing a frame.
        buffers: 64,
        frame_timeout: Duration::from_secs(5),
    }
}

fn config(settings: StreamSettings, max_frames: u64) -> CameraSourceConfig {
    CameraSourceConfig {
        source: Source::Stream(settings),
        rate_hz: 30.0,
        camera_id: "ipcam1".into(),
        station: "station4".into(),
        line: "line1".into(),
        max_frames: Some(max_frames),
        run_in_ids: false,
    }
}

/// Frames the node has taken from its camera so far, counted from its
/// per-frame trace event: a test that cuts the camera waits on this, on the
/// node's side, rather than on frames the camera produced (on a loaded
/// machine those may not have reached the node yet).
#[derive(Clone, Default)]
struct FramesTaken(Arc<AtomicU64>);

impl FramesTaken {
    /// Counts the frames that the node running on this thread takes, until
    /// the returned guard is dropped.
    fn watch(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(tracing_subscriber::registry().with(self.clone()))
    }

    fn wait_for(&self, frames: u64) {
        let deadline = Instant::now() + DEADLINE;
        while self.0.load(Ordering::Acquire) < frames {
            assert!(Instant::now() < deadline, "the node took no {frames} frames within {DEADLINE:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for FramesTaken {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().fields().field("connection_frames").is_some() {
            self.0.fetch_add(1, Ordering::AcqRel);
        }
    }
}

fn live(config: &CameraSourceConfig) -> (LiveCounts, Outputs) {
    let Source::Stream(settings) = &config.source else { unreachable!("a stream") };
    // dora's testing daemon serves a node's sends only as the next scripted
    // event comes due: an ignored input a hundred times a second stands in
    // for a dataflow's steady traffic.
    let run = TestRun::new("camera-source").ticks(0.01, RUN_SECS, "clock").stop(RUN_SECS);
    let (counts, outputs): (Result<LiveCounts, CameraError>, Outputs) =
        run.run(|node, events| run_stream(config, settings, node, events)).expect("the testing run starts");
    (counts.expect("the camera source runs"), outputs)
}

/// The frames' sizes and their mean brightness.
fn frames(outputs: &Outputs) -> Vec<(usize, f64)> {
    use dora_node_api::arrow_v59::array::{Array, UInt8Array};
    outputs
        .on("frames")
        .map(|sent| {
            let bytes = sent.data.as_any().downcast_ref::<UInt8Array>().expect("frames are bytes");
            let mean = bytes.values().iter().map(|&b| f64::from(b)).sum::<f64>() / bytes.len().max(1) as f64;
            (bytes.len(), mean)
        })
        .collect()
}

/// H.264 over RTSP (interleaved in TCP), converted to mono8: every frame
/// whole, of the stream's size, white as the picture is, none skipped.
#[test]
fn an_h264_ip_camera_streams_whole_frames_in_the_asked_format() {
    let camera = RtspCamera::start(H264);
    let config = config(settings(camera.url(), RtspTransport::Tcp, PixelFormat::Mono8), 30);
    let (counts, outputs) = live(&config);
    assert_eq!(counts.frames, 30, "{counts:?}");
    assert_eq!((counts.missed, counts.incomplete.len(), counts.connects), (0, 0, 1), "{counts:?}");
    let frames = frames(&outputs);
    assert_eq!(frames.len(), 30);
    for (size, mean) in frames {
        assert_eq!(size, WIDTH * HEIGHT);
        // White in video range is 235; a wrong stride or format is not.
        assert!((225.0..=255.0).contains(&mean), "mean brightness {mean}");
    }
    let rate = counts.connection.rate_hz().expect("two frames or more");
    assert!((25.0..=35.0).contains(&rate), "{rate} frames/s by the stream's clock, 30 sent");
}

/// Motion JPEG over RTP on UDP, converted to rgb8.
#[test]
fn an_mjpeg_camera_over_udp_streams_rgb_frames() {
    let camera = RtspCamera::start(MJPEG);
    let config = config(settings(camera.url(), RtspTransport::Udp, PixelFormat::Rgb8), 20);
    let (counts, outputs) = live(&config);
    assert_eq!(counts.frames, 20, "{counts:?}");
    for (size, mean) in frames(&outputs) {
        assert_eq!(size, WIDTH * HEIGHT * 3);
        assert!((225.0..=255.0).contains(&mean), "mean brightness {mean}");
    }
}

/// The camera loses power mid-stream (its sessions and its port close) and
/// comes back on the same address: the node opens it again and streams on.
#[test]
fn a_camera_that_restarts_is_picked_up_again() {
    let camera = RtspCamera::start(H264);
    let (port, url) = (camera.port, camera.url());
    let config = config(settings(url, RtspTransport::Tcp, PixelFormat::Mono8), 60);
    let taken = FramesTaken::default();
    let _watching = taken.watch();
    let power_cycle = std::thread::spawn(move || {
        // Cut the camera once the node has frames from it: waiting on the
        // camera's side raced the node's first frame on a loaded machine.
        taken.wait_for(10);
        drop(camera);
        // The outage: the node's attempts in it are refused.
        std::thread::sleep(Duration::from_millis(800));
        RtspCamera::start_at(H264, port, None)
    });
    let (counts, outputs) = live(&config);
    let _again = power_cycle.join().expect("the power cycle ran");
    assert_eq!(counts.frames, 60, "{counts:?}");
    assert_eq!(counts.connects, 2, "opened, lost, opened again: {counts:?}");
    assert!(counts.losses.values().sum::<u64>() >= 1, "{counts:?}");
    assert!(counts.connection.frames >= 1 && counts.connection.frames < 60, "frames from both runs: {counts:?}");
    assert_eq!(frames(&outputs).len(), 60);
}

/// The camera goes silent with its session open (the network between
/// broke): after the frame timeout the node takes it as lost, and opens it
/// again once it sends.
#[test]
fn a_silent_camera_is_taken_as_lost_and_opened_again() {
    let camera = RtspCamera::start(H264);
    let mut settings = settings(camera.url(), RtspTransport::Tcp, PixelFormat::Mono8);
    settings.frame_timeout = Duration::from_millis(1_000);
    let config = config(settings, 40);
    let silent = Arc::clone(&camera.silent);
    let produced = Arc::clone(&camera.produced);
    let cable = std::thread::spawn(move || {
        camera.wait_for_frames(15);
        silent.store(true, Ordering::Release);
        // Longer than the frame timeout: the node must notice.
        std::thread::sleep(Duration::from_millis(2_500));
        silent.store(false, Ordering::Release);
        camera
    });
    let (counts, outputs) = live(&config);
    let _camera = cable.join().expect("the cable was pulled and put back");
    assert!(produced.load(Ordering::Acquire) >= 40);
    assert_eq!(counts.frames, 40, "{counts:?}");
    assert_eq!(counts.losses.get("no_frames"), Some(&1), "{counts:?}");
    assert!(counts.connects >= 2, "{counts:?}");
    assert_eq!(frames(&outputs).len(), 40);
}

/// A camera that asks for an account: the right one streams, a wrong one
/// is refused with the camera's answer, never a crash.
#[test]
fn a_camera_with_an_account_takes_the_right_one_and_refuses_a_wrong_one() {
    let camera = RtspCamera::start_at(H264, 0, Some(("viewer", "s3cret")));
    let with = |user: &str, password: &str| {
        let mut settings = settings(camera.url(), RtspTransport::Tcp, PixelFormat::Mono8);
        let StreamKind::Rtsp { user: u, password: p, .. } = &mut settings.kind else { unreachable!() };
        (*u, *p) = (Some(user.to_owned()), Some(Secret::new(password.to_owned())));
        settings
    };
    let mut opened = StreamCamera::open(&with("viewer", "s3cret")).expect("the right account streams");
    assert!(matches!(opened.poll(DEADLINE), Polled::Frame(_)));
    drop(opened);
    let refused = StreamCamera::open(&with("viewer", "guess")).err().expect("a wrong password is refused");
    assert!(matches!(refused, StreamError::Refused { .. }), "{refused:?}");
    assert!(!format!("{refused} {refused:?}").contains("guess"), "the password is not in the error: {refused}");
}

/// Nothing at the address, a path the camera does not serve, a USB camera
/// that is not plugged in: each is a clear error that names the camera.
#[test]
fn an_absent_camera_is_a_clear_error() {
    let camera = RtspCamera::start(H264);
    let unserved = format!("rtsp://127.0.0.1:{}/line9", camera.port);
    let error = StreamCamera::open(&settings(unserved.clone(), RtspTransport::Tcp, PixelFormat::Mono8))
        .err()
        .expect("an unserved path is refused");
    assert!(error.to_string().contains(&unserved), "{error}");
    drop(camera);
    let closed = format!("rtsp://127.0.0.1:{}/line1", free_port());
    let error = StreamCamera::open(&settings(closed.clone(), RtspTransport::Tcp, PixelFormat::Mono8))
        .err()
        .expect("a closed port is refused");
    assert!(matches!(error, StreamError::Refused { .. }) && error.to_string().contains(&closed), "{error}");
    let usb = StreamSettings {
        kind: StreamKind::Usb { device: "/dev/video-not-plugged".into() },
        ..settings(String::new(), RtspTransport::Tcp, PixelFormat::Mono8)
    };
    let error = StreamCamera::open(&usb).err().expect("an absent USB camera is an error");
    assert!(error.to_string().contains("/dev/video-not-plugged"), "{error}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port").port()
}
