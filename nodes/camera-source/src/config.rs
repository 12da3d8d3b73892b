//! `camera-source`: where frames come from (a folder of images, a GigE
//! Vision camera, an IP camera over RTSP or a USB camera), how fast, and
//! where the camera is.

use std::path::PathBuf;
use std::time::Duration;

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars, Secret};

/// How frames of a folder leave the camera source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameOutput {
    /// Decoded to raw RGB (`rgb8`): consumers need no image decoder.
    Rgb8,
    /// The files' own bytes (`jpeg`/`png`): a tenth of the size on the wire.
    AsStored,
}

impl std::str::FromStr for FrameOutput {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "rgb8" => Ok(FrameOutput::Rgb8),
            "as_stored" => Ok(FrameOutput::AsStored),
            _ => Err(()),
        }
    }
}

/// A folder of images played as a camera.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderSettings {
    /// Folder of `.png`/`.jpg`/`.jpeg` files, sent in file-name order
    /// (`CAMERA_DIR`, required, must exist).
    pub dir: PathBuf,
    /// Start again after the last file (`CAMERA_LOOP`, default false: the
    /// node stops after the last frame).
    pub repeat: bool,
    /// `CAMERA_OUTPUT`: `rgb8` (default) or `as_stored`.
    pub output: FrameOutput,
}

/// The pixel formats a live camera's frames are sent in; each goes on the
/// wire as the frame encoding of the same name. A GigE camera is asked for
/// it; a stream's decoded frames are converted to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Mono8,
    Rgb8,
}

impl std::str::FromStr for PixelFormat {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        match text.to_ascii_lowercase().as_str() {
            "mono8" => Ok(PixelFormat::Mono8),
            "rgb8" => Ok(PixelFormat::Rgb8),
            _ => Err(()),
        }
    }
}

/// What starts a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The camera streams at `CAMERA_RATE_HZ`.
    FreeRun,
    /// One frame per message on the node's `trigger` input.
    Software,
    /// One frame per edge on a camera line (`Line0`, `Line1`, ...): the
    /// part sensor is wired to the camera.
    Line(String),
}

impl std::str::FromStr for Trigger {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "free_run" => Ok(Trigger::FreeRun),
            "software" => Ok(Trigger::Software),
            line if line.starts_with("Line") && line.len() > 4 && line[4..].bytes().all(|b| b.is_ascii_digit()) => {
                Ok(Trigger::Line(line.to_owned()))
            }
            _ => Err(()),
        }
    }
}

/// The part of the sensor that is read out, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl std::str::FromStr for Region {
    type Err = ();
    /// `x,y,width,height`, as `0,0,640,480`.
    fn from_str(text: &str) -> Result<Self, ()> {
        let numbers: Vec<u32> = text.split(',').map(|n| n.trim().parse().map_err(|_| ())).collect::<Result<_, _>>()?;
        match numbers[..] {
            [x, y, width, height] if width > 0 && height > 0 => Ok(Region { x, y, width, height }),
            _ => Err(()),
        }
    }
}

/// A GigE Vision camera, through Aravis.
#[derive(Debug, Clone, PartialEq)]
pub struct GigeSettings {
    /// The camera: its Aravis id (`Vendor-Serial`, as `shopfloor camera
    /// list` shows), its serial number or its IP address (`CAMERA_DEVICE`,
    /// required: on a network with several cameras "the first one found"
    /// is a different camera after a power cut).
    pub device: String,
    /// `CAMERA_PIXEL_FORMAT`: `mono8` (default) or `rgb8`.
    pub pixel_format: PixelFormat,
    /// `CAMERA_REGION`: `x,y,width,height` (default: the camera's setting).
    pub region: Option<Region>,
    /// `CAMERA_EXPOSURE_US`: exposure in microseconds (default: the camera's).
    pub exposure_us: Option<f64>,
    /// `CAMERA_GAIN_DB`: gain in dB (default: the camera's).
    pub gain_db: Option<f64>,
    /// `CAMERA_TRIGGER`: `free_run` (default), `software` or a line
    /// (`Line0`).
    pub trigger: Trigger,
    /// Frame buffers handed to the camera's stream (`CAMERA_BUFFERS`,
    /// 2..=64, default 8): the bound on memory and on frames waiting.
    pub buffers: usize,
    /// In free run, a camera that sends nothing for this long is taken as
    /// lost and opened again (`CAMERA_FRAME_TIMEOUT_MS`, 100..=60000;
    /// default 5 frame periods, at least 1 s).
    pub frame_timeout: Duration,
}

/// How RTSP's media travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtspTransport {
    /// Interleaved in the RTSP connection: one TCP port through firewalls,
    /// no packet loss (a late frame instead).
    Tcp,
    /// RTP over UDP: lowest latency; lost packets are broken frames.
    Udp,
}

impl std::str::FromStr for RtspTransport {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "tcp" => Ok(RtspTransport::Tcp),
            "udp" => Ok(RtspTransport::Udp),
            _ => Err(()),
        }
    }
}

/// What a GStreamer-read camera is.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamKind {
    /// An IP camera: its `rtsp://` or `rtsps://` address (`CAMERA_URL`),
    /// the account if it asks for one, and how the media travels.
    Rtsp {
        url: String,
        user: Option<String>,
        password: Option<Secret>,
        transport: RtspTransport,
        /// The jitter buffer (`CAMERA_LATENCY_MS`, 0..=5000, default 200):
        /// how long packets wait to be put in order.
        latency: Duration,
    },
    /// A USB (UVC) camera through Video4Linux: its device file
    /// (`CAMERA_DEVICE`, as `/dev/video0`).
    Usb { device: PathBuf },
}

/// A camera read through GStreamer: decoded (H.264, H.265, MJPEG, raw, as
/// the installed plugins can) and converted to the pixel format.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSettings {
    pub kind: StreamKind,
    /// `CAMERA_PIXEL_FORMAT`: `mono8` (default) or `rgb8`.
    pub pixel_format: PixelFormat,
    /// Decoded frames waiting for the node, at most (`CAMERA_BUFFERS`,
    /// 2..=64, default 8); a frame beyond them is dropped and counted.
    pub buffers: usize,
    /// A camera that sends nothing for this long (also: that sends no first
    /// frame this long after it is opened) is taken as lost and opened again
    /// (`CAMERA_FRAME_TIMEOUT_MS`, 100..=60000; default 5 frame periods, at
    /// least 5 s: an IP camera's first frame waits for a key frame).
    pub frame_timeout: Duration,
}

impl StreamSettings {
    /// The camera for logs and errors: the address without any account.
    pub fn describe(&self) -> String {
        match &self.kind {
            StreamKind::Rtsp { url, .. } => url.clone(),
            StreamKind::Usb { device } => device.display().to_string(),
        }
    }
}

/// Where frames come from (`CAMERA_SOURCE`: `folder`, the default, `gige`,
/// `rtsp` or `usb`).
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Folder(FolderSettings),
    Gige(GigeSettings),
    Stream(StreamSettings),
}

/// Settings of the camera source node.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraSourceConfig {
    pub source: Source,
    /// Frames per second (`CAMERA_RATE_HZ`, 0.01..=1000, default 5): a
    /// folder's pace, a free-running camera's frame rate.
    pub rate_hz: f64,
    /// Camera name, the prefix of frame ids (`CAMERA_ID`, default `cam1`).
    pub camera_id: String,
    /// Station the camera watches (`CAMERA_STATION`, default `station1`).
    pub station: String,
    /// Line of that station (`CAMERA_LINE`, default `line1`).
    pub line: String,
    /// Stop after this many frames (`CAMERA_MAX_FRAMES`, optional, ≥ 1).
    pub max_frames: Option<u64>,
    /// Put the node's start (unix seconds) into frame ids,
    /// `cam1-1795729142-000001`, so that ids stay unique when the node
    /// restarts and counts from 0 again (`CAMERA_RUN_IN_IDS`, default false:
    /// `cam1-000001`). Alert ids derive from frame ids, and subscribers drop
    /// an alert id they have seen.
    pub run_in_ids: bool,
}

impl CameraSourceConfig {
    /// Parses and validates the node's settings.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("camera-source", vars);
        let rate_hz = env
            .parsed_or("CAMERA_RATE_HZ", 5.0f64, "frames per second in 0.01..=1000", |r| (0.01..=1000.0).contains(r));
        let source = match env.string_or("CAMERA_SOURCE", "folder").as_str() {
            "gige" => Source::Gige(gige_settings(&mut env, rate_hz)),
            "rtsp" => Source::Stream(stream_settings(&mut env, rate_hz, rtsp_camera)),
            "usb" => Source::Stream(stream_settings(&mut env, rate_hz, usb_camera)),
            other => {
                if other != "folder" {
                    env.invalid("CAMERA_SOURCE", other, "folder, gige, rtsp or usb");
                }
                Source::Folder(FolderSettings {
                    dir: env.required_dir("CAMERA_DIR", "a folder of PNG or JPEG images"),
                    repeat: env.parsed_or("CAMERA_LOOP", false, "true or false", |_| true),
                    output: env.parsed_or("CAMERA_OUTPUT", FrameOutput::Rgb8, "rgb8 or as_stored", |_| true),
                })
            }
        };
        let camera_id = env.topic_level("CAMERA_ID", "cam1");
        let station = env.topic_level("CAMERA_STATION", "station1");
        let line = env.topic_level("CAMERA_LINE", "line1");
        let max_frames = env.optional_parsed("CAMERA_MAX_FRAMES", "a count ≥ 1", |n: &u64| *n >= 1);
        let run_in_ids = env.parsed_or("CAMERA_RUN_IN_IDS", false, "true or false", |_| true);
        env.finish(&["CAMERA_"])?;
        Ok(Self { source, rate_hz, camera_id, station, line, max_frames, run_in_ids })
    }
}

fn gige_settings(env: &mut EnvReader, rate_hz: f64) -> GigeSettings {
    let device = env
        .required_string("CAMERA_DEVICE", "the camera's id, serial number or IP address (`shopfloor camera list`)")
        .unwrap_or_default();
    let pixel_format = env.parsed_or("CAMERA_PIXEL_FORMAT", PixelFormat::Mono8, "mono8 or rgb8", |_| true);
    let region = env.optional_parsed("CAMERA_REGION", "x,y,width,height in pixels, width and height ≥ 1", |_| true);
    let exposure_us =
        env.optional_parsed("CAMERA_EXPOSURE_US", "microseconds > 0", |e: &f64| *e > 0.0 && e.is_finite());
    let gain_db = env.optional_parsed("CAMERA_GAIN_DB", "decibels, a finite number", |g: &f64| g.is_finite());
    let trigger = env.parsed_or("CAMERA_TRIGGER", Trigger::FreeRun, "free_run, software or a line (Line0)", |_| true);
    let buffers = env.parsed_or("CAMERA_BUFFERS", 8usize, "a count in 2..=64", |n| (2..=64).contains(n));
    let five_periods = Duration::from_secs_f64(5.0 / rate_hz).max(Duration::from_secs(1));
    let frame_timeout = env
        .optional_parsed("CAMERA_FRAME_TIMEOUT_MS", "milliseconds in 100..=60000", |ms: &u64| {
            (100..=60_000).contains(ms)
        })
        .map_or(five_periods, Duration::from_millis);
    GigeSettings { device, pixel_format, region, exposure_us, gain_db, trigger, buffers, frame_timeout }
}

fn stream_settings(env: &mut EnvReader, rate_hz: f64, kind: fn(&mut EnvReader) -> StreamKind) -> StreamSettings {
    let kind = kind(env);
    let pixel_format = env.parsed_or("CAMERA_PIXEL_FORMAT", PixelFormat::Mono8, "mono8 or rgb8", |_| true);
    let buffers = env.parsed_or("CAMERA_BUFFERS", 8usize, "a count in 2..=64", |n| (2..=64).contains(n));
    let five_periods = Duration::from_secs_f64(5.0 / rate_hz).max(Duration::from_secs(5));
    let frame_timeout = env
        .optional_parsed("CAMERA_FRAME_TIMEOUT_MS", "milliseconds in 100..=60000", |ms: &u64| {
            (100..=60_000).contains(ms)
        })
        .map_or(five_periods, Duration::from_millis);
    StreamSettings { kind, pixel_format, buffers, frame_timeout }
}

fn rtsp_camera(env: &mut EnvReader) -> StreamKind {
    let requirement = "rtsp://host[:port]/path or rtsps://..., without an account \
                       (CAMERA_USER and CAMERA_PASSWORD or CAMERA_PASSWORD_FILE)";
    let url = env.required_string("CAMERA_URL", requirement).unwrap_or_default();
    if !url.is_empty() && !rtsp_url_is_plain(&url) {
        // The address is logged: an account in it would be too.
        env.invalid("CAMERA_URL", &without_account(&url), requirement);
    }
    let user = env.optional_string("CAMERA_USER");
    let password = env.password("CAMERA_PASSWORD", "CAMERA_PASSWORD_FILE");
    if user.is_some() != password.is_some() {
        env.invalid("CAMERA_USER", "", "set together with CAMERA_PASSWORD (or CAMERA_PASSWORD_FILE)");
    }
    let transport = env.parsed_or("CAMERA_RTSP_TRANSPORT", RtspTransport::Tcp, "tcp or udp", |_| true);
    let latency_ms = env.parsed_or("CAMERA_LATENCY_MS", 200u64, "milliseconds in 0..=5000", |ms| *ms <= 5_000);
    StreamKind::Rtsp { url, user, password, transport, latency: Duration::from_millis(latency_ms) }
}

fn usb_camera(env: &mut EnvReader) -> StreamKind {
    let requirement = "the camera's device file, as /dev/video0";
    let device = env.required_string("CAMERA_DEVICE", requirement);
    // Not checked for existence: a camera plugged in later is opened then.
    if let Some(device) = device.as_deref().filter(|device| device.len() <= 5 || !device.starts_with("/dev/")) {
        env.invalid("CAMERA_DEVICE", device, requirement);
    }
    StreamKind::Usb { device: PathBuf::from(device.unwrap_or_default()) }
}

/// An `rtsp://` or `rtsps://` address with a host and no `user:password@`.
pub fn rtsp_url_is_plain(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("rtsp://").or_else(|| url.strip_prefix("rtsps://")) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !authority.is_empty() && !authority.contains('@') && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The address with anything before an `@` in its authority cut out.
pub fn without_account(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://<account>@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> EnvVars {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_need_only_a_folder() {
        let dir = env!("CARGO_MANIFEST_DIR");
        let config = CameraSourceConfig::from_env(&vars(&[("CAMERA_DIR", dir)])).unwrap();
        let Source::Folder(folder) = &config.source else { panic!("{config:?}") };
        assert_eq!((config.rate_hz, folder.repeat, folder.output), (5.0, false, FrameOutput::Rgb8));
        assert_eq!((config.camera_id.as_str(), config.station.as_str()), ("cam1", "station1"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let err = CameraSourceConfig::from_env(&vars(&[
            ("CAMERA_DIR", "/nonexistent/frames"),
            ("CAMERA_RATE_HZ", "0"),
            ("CAMERA_OUTPUT", "h264"),
            ("CAMERA_STATION", "st/1"),
            ("CAMERA_MAX_FRAMES", "0"),
            ("CAMERA_FPS", "5"),
        ]))
        .unwrap_err();
        for field in
            ["CAMERA_DIR", "CAMERA_RATE_HZ", "CAMERA_OUTPUT", "CAMERA_STATION", "CAMERA_MAX_FRAMES", "CAMERA_FPS"]
        {
            assert!(err.names_field(field), "{field}: {err}");
        }
    }

    #[test]
    fn a_gige_camera_needs_its_device_and_defaults_the_rest() {
        let config =
            CameraSourceConfig::from_env(&vars(&[("CAMERA_SOURCE", "gige"), ("CAMERA_DEVICE", "127.0.0.1")])).unwrap();
        let Source::Gige(gige) = &config.source else { panic!("{config:?}") };
        assert_eq!(
            (gige.device.as_str(), gige.pixel_format, &gige.trigger),
            ("127.0.0.1", PixelFormat::Mono8, &Trigger::FreeRun)
        );
        assert_eq!((gige.region, gige.buffers, gige.frame_timeout), (None, 8, Duration::from_secs(1)));
        let fast = CameraSourceConfig::from_env(&vars(&[
            ("CAMERA_SOURCE", "gige"),
            ("CAMERA_DEVICE", "Aravis-Fake-GV01"),
            ("CAMERA_RATE_HZ", "0.5"),
            ("CAMERA_REGION", "8, 16, 640, 480"),
            ("CAMERA_TRIGGER", "Line1"),
        ]))
        .unwrap();
        let Source::Gige(gige) = &fast.source else { panic!("{fast:?}") };
        assert_eq!(gige.region, Some(Region { x: 8, y: 16, width: 640, height: 480 }));
        assert_eq!((&gige.trigger, gige.frame_timeout), (&Trigger::Line("Line1".into()), Duration::from_secs(10)));
    }

    #[test]
    fn each_bad_gige_field_is_named() {
        let err = CameraSourceConfig::from_env(&vars(&[
            ("CAMERA_SOURCE", "gige"),
            ("CAMERA_PIXEL_FORMAT", "yuv422"),
            ("CAMERA_REGION", "0,0,640"),
            ("CAMERA_EXPOSURE_US", "-5"),
            ("CAMERA_GAIN_DB", "loud"),
            ("CAMERA_TRIGGER", "Line"),
            ("CAMERA_BUFFERS", "1"),
            ("CAMERA_FRAME_TIMEOUT_MS", "5"),
        ]))
        .unwrap_err();
        for field in [
            "CAMERA_DEVICE",
            "CAMERA_PIXEL_FORMAT",
            "CAMERA_REGION",
            "CAMERA_EXPOSURE_US",
            "CAMERA_GAIN_DB",
            "CAMERA_TRIGGER",
            "CAMERA_BUFFERS",
            "CAMERA_FRAME_TIMEOUT_MS",
        ] {
            assert!(err.names_field(field), "{field}: {err}");
        }
        let err = CameraSourceConfig::from_env(&vars(&[("CAMERA_SOURCE", "webcam")])).unwrap_err();
        assert!(err.names_field("CAMERA_SOURCE"), "{err}");
    }

    #[test]
    fn an_rtsp_camera_needs_its_address_and_defaults_the_rest() {
        let config = CameraSourceConfig::from_env(&vars(&[
            ("CAMERA_SOURCE", "rtsp"),
            ("CAMERA_URL", "rtsp://10.0.0.7:554/stream1"),
            ("CAMERA_USER", "viewer"),
            ("CAMERA_PASSWORD", "hunter2"),
        ]))
        .unwrap();
        let Source::Stream(stream) = &config.source else { panic!("{config:?}") };
        let StreamKind::Rtsp { url, user, password, transport, latency } = &stream.kind else { panic!("{stream:?}") };
        assert_eq!((url.as_str(), user.as_deref()), ("rtsp://10.0.0.7:554/stream1", Some("viewer")));
        assert_eq!(password.as_ref().map(Secret::expose), Some("hunter2"));
        assert_eq!((*transport, *latency), (RtspTransport::Tcp, Duration::from_millis(200)));
        assert_eq!((stream.pixel_format, stream.buffers), (PixelFormat::Mono8, 8));
        assert_eq!(stream.frame_timeout, Duration::from_secs(5), "an IP camera's first key frame may take seconds");
        assert!(!format!("{config:?}").contains("hunter2"), "the password never reaches a log");
    }

    #[test]
    fn each_bad_rtsp_field_is_named_and_no_account_is_echoed() {
        let err = CameraSourceConfig::from_env(&vars(&[
            ("CAMERA_SOURCE", "rtsp"),
            ("CAMERA_URL", "rtsp://admin:hunter2@10.0.0.7/stream1"),
            ("CAMERA_USER", "viewer"),
            ("CAMERA_RTSP_TRANSPORT", "http"),
            ("CAMERA_LATENCY_MS", "9000"),
            ("CAMERA_BUFFERS", "100"),
        ]))
        .unwrap_err();
        for field in ["CAMERA_URL", "CAMERA_USER", "CAMERA_RTSP_TRANSPORT", "CAMERA_LATENCY_MS", "CAMERA_BUFFERS"] {
            assert!(err.names_field(field), "{field}: {err}");
        }
        assert!(!err.to_string().contains("hunter2"), "{err}");
        for url in ["http://10.0.0.7/mjpeg", "rtsp://", "rtsp:///path", "rtsp://cam 1/x"] {
            let err =
                CameraSourceConfig::from_env(&vars(&[("CAMERA_SOURCE", "rtsp"), ("CAMERA_URL", url)])).expect_err(url);
            assert!(err.names_field("CAMERA_URL"), "{url}: {err}");
        }
        let err = CameraSourceConfig::from_env(&vars(&[("CAMERA_SOURCE", "rtsp")])).unwrap_err();
        assert!(err.names_field("CAMERA_URL"), "required: {err}");
    }

    #[test]
    fn a_usb_camera_is_a_device_file() {
        let config =
            CameraSourceConfig::from_env(&vars(&[("CAMERA_SOURCE", "usb"), ("CAMERA_DEVICE", "/dev/video2")])).unwrap();
        let Source::Stream(stream) = &config.source else { panic!("{config:?}") };
        assert_eq!(stream.kind, StreamKind::Usb { device: "/dev/video2".into() });
        assert_eq!(stream.describe(), "/dev/video2");
        for device in ["video0", "/dev/", ""] {
            let err = CameraSourceConfig::from_env(&vars(&[("CAMERA_SOURCE", "usb"), ("CAMERA_DEVICE", device)]))
                .expect_err(device);
            assert!(err.names_field("CAMERA_DEVICE"), "{device:?}: {err}");
        }
    }
}
