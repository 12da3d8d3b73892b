//! A camera read through GStreamer: an IP camera over RTSP or a USB camera
//! through Video4Linux, decoded by whatever decoder the installed plugins
//! have (H.264, H.265, MJPEG, raw) and converted to the wanted pixel format.
//! Decoded frames wait in a bounded channel; one that finds it full is
//! dropped, and the gap it leaves in the frame ids is what [`crate::live`]
//! counts as missed.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use shopfloor_core::schema::FrameEncoding;

use crate::config::{PixelFormat, RtspTransport, StreamKind, StreamSettings};
use crate::live::{LiveFrame, Polled};

/// Why a stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("GStreamer cannot start: {0}")]
    Init(String),
    #[error("GStreamer has no element {element} (Debian package {package})")]
    MissingElement {
        element: &'static str,
        package: &'static str,
        #[source]
        source: gst::glib::BoolError,
    },
    #[error("cannot build the pipeline for {camera}")]
    Pipeline {
        camera: String,
        #[source]
        source: gst::glib::BoolError,
    },
    #[error("cannot start streaming from {camera}")]
    Start {
        camera: String,
        #[source]
        source: gst::StateChangeError,
    },
    /// The camera, the network or a decoder said no (refused connection,
    /// wrong account, unknown path, no decoder for the codec).
    #[error("{camera}: {message}")]
    Refused { camera: String, message: String },
    #[error("{camera} ended its stream before its first frame")]
    Ended { camera: String },
    #[error("{camera} sent no frame within {timeout:?} of being opened")]
    NoFrame { camera: String, timeout: Duration },
}

/// What the streaming thread hands over.
enum Decoded {
    Frame(LiveFrame),
    /// A frame the decoder marked as damaged (lost packets of a UDP stream).
    Corrupted {
        device_frame_id: u64,
    },
}

/// How often the open waits look at the bus between frames.
const OPEN_POLL: Duration = Duration::from_millis(20);

/// An open, playing stream. Dropping it stops the pipeline (and, for RTSP,
/// tears the session down).
pub struct StreamCamera {
    camera: String,
    pipeline: gst::Pipeline,
    bus: gst::Bus,
    decoded: Receiver<Decoded>,
    /// The first frame, taken while opening.
    first: Option<Decoded>,
}

impl StreamCamera {
    /// Builds and starts the pipeline, and waits for the first frame (or the
    /// camera's refusal) at most `settings.frame_timeout`: a camera that is
    /// open has sent a frame.
    pub fn open(settings: &StreamSettings) -> Result<Self, StreamError> {
        init()?;
        let camera = settings.describe();
        let (pipeline, decoded) = build(settings, &camera)?;
        let Some(bus) = pipeline.bus() else {
            return Err(StreamError::Refused { camera, message: "the pipeline has no bus".into() });
        };
        let opened = Self { camera, pipeline, bus, decoded, first: None };
        if let Err(source) = opened.pipeline.set_state(gst::State::Playing) {
            // The bus usually says why better than the state change does.
            return Err(match opened.failure() {
                Some(error) => error,
                None => StreamError::Start { camera: opened.camera.clone(), source },
            });
        }
        opened.wait_for_first_frame(settings.frame_timeout)
    }

    fn wait_for_first_frame(mut self, timeout: Duration) -> Result<Self, StreamError> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(error) = self.failure() {
                return Err(error);
            }
            match self.decoded.recv_timeout(OPEN_POLL) {
                Ok(first) => {
                    self.first = Some(first);
                    return Ok(self);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        Err(self.failure().unwrap_or(StreamError::NoFrame { camera: self.camera.clone(), timeout }))
    }

    /// An error or the end of the stream on the bus, as an error.
    fn failure(&self) -> Option<StreamError> {
        let camera = self.camera.clone();
        let message = self.bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Eos])?;
        Some(match message.view() {
            gst::MessageView::Error(error) => StreamError::Refused { camera, message: describe_error(error) },
            _ => StreamError::Ended { camera },
        })
    }

    /// Waits up to `wait` for the next decoded frame; `Gone` when the
    /// pipeline failed or the stream ended.
    pub fn poll(&mut self, wait: Duration) -> Polled {
        if let Some(error) = self.failure() {
            tracing::warn!(error = %error, "stream failed");
            return Polled::Gone {
                reason: if matches!(error, StreamError::Ended { .. }) { "end_of_stream" } else { "stream_error" },
            };
        }
        let decoded = match self.first.take() {
            Some(first) => first,
            None => match self.decoded.recv_timeout(wait) {
                Ok(decoded) => decoded,
                Err(RecvTimeoutError::Timeout) => return Polled::Nothing,
                Err(RecvTimeoutError::Disconnected) => return Polled::Gone { reason: "stream_error" },
            },
        };
        match decoded {
            Decoded::Frame(frame) => Polled::Frame(frame),
            Decoded::Corrupted { device_frame_id } => Polled::Incomplete { status: "corrupted", device_frame_id },
        }
    }
}

impl Drop for StreamCamera {
    fn drop(&mut self) {
        if let Err(error) = self.pipeline.set_state(gst::State::Null) {
            tracing::debug!(%error, camera = %self.camera, "stopping the pipeline failed");
        }
    }
}

/// GStreamer is initialised once per process.
fn init() -> Result<(), StreamError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| gst::init().map_err(|error| error.to_string())).clone().map_err(StreamError::Init)
}

fn element(name: &'static str, package: &'static str) -> Result<gst::Element, StreamError> {
    gst::ElementFactory::make(name).build().map_err(|source| StreamError::MissingElement {
        element: name,
        package,
        source,
    })
}

/// `uridecodebin` (source and decoder, chosen by the address and the
/// codec) into `videoconvert` into an `appsink` whose callback copies each
/// frame out.
fn build(settings: &StreamSettings, camera: &str) -> Result<(gst::Pipeline, Receiver<Decoded>), StreamError> {
    const BASE: &str = "gstreamer1.0-plugins-base";
    let pipeline_error = |source| StreamError::Pipeline { camera: camera.to_owned(), source };
    let decode = element("uridecodebin", BASE)?;
    let uri = match &settings.kind {
        StreamKind::Rtsp { url, .. } => url.clone(),
        StreamKind::Usb { device } => format!("v4l2://{}", device.display()),
    };
    decode.set_property("uri", uri.as_str());
    if let StreamKind::Rtsp { user, password, transport, latency, .. } = &settings.kind {
        let (user, password) = (user.clone(), password.as_ref().map(|p| p.expose().to_owned()));
        let protocols = match transport {
            RtspTransport::Tcp => "tcp",
            RtspTransport::Udp => "udp",
        };
        let latency_ms = u32::try_from(latency.as_millis()).unwrap_or(u32::MAX);
        decode.connect("source-setup", false, move |values| {
            let source = values.get(1).and_then(|value| value.get::<gst::Element>().ok())?;
            // Only rtspsrc has these; another source (none today) keeps its own.
            if source.find_property("latency").is_some() && source.find_property("protocols").is_some() {
                source.set_property("latency", latency_ms);
                source.set_property_from_str("protocols", protocols);
                // A camera that is away fails the connection in 2 s, not 20.
                source.set_property("tcp-timeout", 2_000_000u64);
                if let (Some(user), Some(password)) = (&user, &password) {
                    source.set_property("user-id", user.as_str());
                    source.set_property("user-pw", password.as_str());
                }
            }
            None
        });
    }
    let convert = element("videoconvert", BASE)?;
    let format = match settings.pixel_format {
        PixelFormat::Mono8 => gst_video::VideoFormat::Gray8,
        PixelFormat::Rgb8 => gst_video::VideoFormat::Rgb,
    };
    let caps = gst_video::VideoCapsBuilder::new().format(format).build();
    let sink = gst_app::AppSink::builder().caps(&caps).sync(false).max_buffers(2).drop(false).build();
    let (frames, decoded) = sync_channel(settings.buffers);
    sink.set_callbacks(frame_callbacks(frames, settings.pixel_format));
    let pipeline = gst::Pipeline::new();
    pipeline.add_many([&decode, &convert, sink.upcast_ref()]).map_err(pipeline_error)?;
    convert.link(&sink).map_err(pipeline_error)?;
    let Some(convert_sink) = convert.static_pad("sink") else {
        return Err(pipeline_error(gst::glib::bool_error!("videoconvert has no sink pad")));
    };
    decode.connect_pad_added(move |_, pad| {
        // The first video stream; audio and a second video are left alone.
        let is_video = pad
            .current_caps()
            .and_then(|caps| caps.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        if is_video && !convert_sink.is_linked() {
            if let Err(error) = pad.link(&convert_sink) {
                tracing::warn!(%error, "cannot link the decoded video");
            }
        }
    });
    Ok((pipeline, decoded))
}

/// The appsink's callback, on GStreamer's streaming thread: each frame is
/// numbered, copied row by row (GStreamer pads rows to 4 bytes) and handed
/// over, or dropped when the node is behind.
fn frame_callbacks(frames: SyncSender<Decoded>, pixel_format: PixelFormat) -> gst_app::AppSinkCallbacks {
    let (encoding, bytes_per_pixel) = match pixel_format {
        PixelFormat::Mono8 => (FrameEncoding::Mono8, 1),
        PixelFormat::Rgb8 => (FrameEncoding::Rgb8, 3),
    };
    let mut next_id = 0u64;
    gst_app::AppSinkCallbacks::builder()
        .new_sample(move |sink| {
            let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
            next_id += 1;
            let device_frame_id = next_id;
            let received_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64);
            let decoded = match copy_frame(&sample, bytes_per_pixel) {
                Some((_, _, _, true)) | None => Decoded::Corrupted { device_frame_id },
                Some((width, height, bytes, false)) => Decoded::Frame(LiveFrame {
                    device_frame_id,
                    camera_ts_ns: sample.buffer().and_then(|buffer| buffer.pts()).map_or(0, |pts| pts.nseconds()),
                    received_ns,
                    width,
                    height,
                    encoding,
                    bytes,
                }),
            };
            match frames.try_send(decoded) {
                // Full: this frame is dropped; its id is the gap that counts it.
                Ok(()) | Err(TrySendError::Full(_)) => Ok(gst::FlowSuccess::Ok),
                Err(TrySendError::Disconnected(_)) => Err(gst::FlowError::Flushing),
            }
        })
        .build()
}

/// A sample's pixels without row padding: width, height, bytes, and
/// whether the decoder marked the frame as damaged. `None` when the sample
/// is not a readable video frame.
fn copy_frame(sample: &gst::Sample, bytes_per_pixel: usize) -> Option<(u32, u32, Vec<u8>, bool)> {
    let buffer = sample.buffer()?;
    let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).ok()?;
    let (width, height) = (info.width(), info.height());
    let row = width as usize * bytes_per_pixel;
    let stride = usize::try_from(*frame.plane_stride().first()?).ok()?;
    let data = frame.plane_data(0).ok()?;
    let mut bytes = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        bytes.extend_from_slice(data.get(y * stride..y * stride + row)?);
    }
    Some((width, height, bytes, buffer.flags().contains(gst::BufferFlags::CORRUPTED)))
}

/// A GStreamer error as one line: what failed, where, and its detail.
fn describe_error(error: &gst::message::Error) -> String {
    let source = error.src().map(|src| src.path_string().to_string()).unwrap_or_default();
    match error.debug() {
        Some(debug) => format!("{} ({source}: {debug})", error.error()),
        None => format!("{} ({source})", error.error()),
    }
}
