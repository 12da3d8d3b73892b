//! A GigE Vision camera through Aravis: open and configure it, stream into a
//! fixed pool of buffers, hand out each complete image, trigger it, and tell
//! when it is gone. Everything it decides about the frames is in
//! [`crate::live`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aravis::prelude::*;
use aravis::{AcquisitionMode, Buffer, BufferStatus, Camera, Stream};
use shopfloor_core::schema::FrameEncoding;

use crate::config::{GigeSettings, PixelFormat, Trigger};
use crate::live::{LiveFrame, Polled};

/// Why a camera could not be opened or driven.
#[derive(Debug, thiserror::Error)]
pub enum GigeError {
    #[error("cannot open camera {device:?}")]
    Open {
        device: String,
        #[source]
        source: aravis::glib::Error,
    },
    /// A setting the camera refused (a region beyond its sensor, a pixel
    /// format it lacks, a trigger line it has not).
    #[error("camera {device:?} refused {setting}")]
    Setting {
        device: String,
        setting: &'static str,
        #[source]
        source: aravis::glib::Error,
    },
    #[error("camera {device:?} cannot stream")]
    Stream {
        device: String,
        #[source]
        source: aravis::glib::Error,
    },
    #[error("camera {device:?} did not take a software trigger")]
    Trigger {
        device: String,
        #[source]
        source: aravis::glib::Error,
    },
}

/// An open, streaming camera. Dropping it stops the acquisition.
pub struct GigeCamera {
    device: String,
    camera: Camera,
    stream: Stream,
    encoding: FrameEncoding,
    /// Set by Aravis's heartbeat thread when the camera stops answering.
    control_lost: Arc<AtomicBool>,
    settings: GigeSettings,
}

impl GigeCamera {
    /// Opens `settings.device`, applies the settings, and starts streaming
    /// (free run at `rate_hz`, or waiting for triggers).
    pub fn open(settings: &GigeSettings, rate_hz: f64) -> Result<Self, GigeError> {
        let device = settings.device.clone();
        let camera = Camera::new(Some(&device)).map_err(|source| GigeError::Open { device: device.clone(), source })?;
        let name = device.as_str();
        let refused = |setting: &'static str| {
            move |source: aravis::glib::Error| GigeError::Setting { device: name.to_owned(), setting, source }
        };
        let (format, encoding) = match settings.pixel_format {
            PixelFormat::Mono8 => (aravis::PixelFormat::MONO_8, FrameEncoding::Mono8),
            PixelFormat::Rgb8 => (aravis::PixelFormat::RGB_8_PACKED, FrameEncoding::Rgb8),
        };
        camera.set_pixel_format(format).map_err(refused("CAMERA_PIXEL_FORMAT"))?;
        if let Some(region) = settings.region {
            let side = |value: u32| i32::try_from(value).unwrap_or(i32::MAX);
            camera
                .set_region(side(region.x), side(region.y), side(region.width), side(region.height))
                .map_err(refused("CAMERA_REGION"))?;
        }
        if let Some(exposure) = settings.exposure_us {
            camera.set_exposure_time(exposure).map_err(refused("CAMERA_EXPOSURE_US"))?;
        }
        if let Some(gain) = settings.gain_db {
            camera.set_gain(gain).map_err(refused("CAMERA_GAIN_DB"))?;
        }
        match &settings.trigger {
            Trigger::FreeRun => {
                camera.clear_triggers().map_err(refused("CAMERA_TRIGGER"))?;
                camera.set_acquisition_mode(AcquisitionMode::Continuous).map_err(refused("CAMERA_TRIGGER"))?;
                camera.set_frame_rate(rate_hz).map_err(refused("CAMERA_RATE_HZ"))?;
            }
            Trigger::Software => camera.set_trigger("Software").map_err(refused("CAMERA_TRIGGER"))?,
            Trigger::Line(line) => camera.set_trigger(line).map_err(refused("CAMERA_TRIGGER"))?,
        }
        let streaming = |source| GigeError::Stream { device: device.clone(), source };
        let payload = camera.payload().map_err(streaming)? as usize;
        let stream = camera.create_stream().map_err(streaming)?;
        for _ in 0..settings.buffers {
            stream.push_buffer(Buffer::new_allocate(payload));
        }
        let control_lost = Arc::new(AtomicBool::new(false));
        if let Some(arv_device) = camera.device() {
            let flag = Arc::clone(&control_lost);
            arv_device.connect_control_lost(move |_| flag.store(true, Ordering::Release));
        }
        camera.start_acquisition().map_err(streaming)?;
        Ok(Self { device, camera, stream, encoding, control_lost, settings: settings.clone() })
    }

    /// Waits up to `wait` for the next buffer; its bytes are copied out and
    /// the buffer goes straight back to the pool.
    pub fn poll(&self, wait: Duration) -> Polled {
        let micros = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
        let Some(buffer) = self.stream.timeout_pop_buffer(micros) else {
            return Polled::Nothing;
        };
        let polled = self.read(&buffer);
        self.stream.push_buffer(buffer);
        polled
    }

    fn read(&self, buffer: &Buffer) -> Polled {
        let device_frame_id = buffer.frame_id();
        let incomplete = |status: &'static str| Polled::Incomplete { status, device_frame_id };
        let status = buffer.status();
        if status != BufferStatus::Success {
            return incomplete(status_name(status));
        }
        let (width, height) = (buffer.image_width(), buffer.image_height());
        let (Ok(width), Ok(height)) = (u32::try_from(width), u32::try_from(height)) else {
            return incomplete("bad_size");
        };
        let bytes = buffer.image_data();
        let per_pixel = self.encoding.bytes_per_pixel().unwrap_or(1);
        if width == 0 || height == 0 || bytes.len() != width as usize * height as usize * per_pixel {
            return incomplete("size_mismatch");
        }
        let expected = match self.encoding {
            FrameEncoding::Rgb8 => aravis::PixelFormat::RGB_8_PACKED,
            _ => aravis::PixelFormat::MONO_8,
        };
        if buffer.image_pixel_format() != expected {
            return incomplete("wrong_pixel_format");
        }
        Polled::Frame(LiveFrame {
            device_frame_id,
            camera_ts_ns: buffer.timestamp(),
            received_ns: buffer.system_timestamp(),
            width,
            height,
            encoding: self.encoding,
            bytes,
        })
    }

    /// The settings it was opened with.
    pub fn settings(&self) -> &GigeSettings {
        &self.settings
    }

    /// Sends one software trigger.
    pub fn trigger(&self) -> Result<(), GigeError> {
        self.camera.software_trigger().map_err(|source| GigeError::Trigger { device: self.device.clone(), source })
    }

    /// Whether Aravis's heartbeat found the camera gone.
    pub fn control_lost(&self) -> bool {
        self.control_lost.load(Ordering::Acquire)
    }

    /// Reads a register of the camera: whether it still answers (a
    /// triggered camera may rightly send nothing for a long time).
    pub fn answers(&self) -> bool {
        self.camera.payload().is_ok()
    }
}

impl Drop for GigeCamera {
    fn drop(&mut self) {
        // A camera that is gone cannot be stopped; nothing else to do.
        if let Err(error) = self.camera.stop_acquisition() {
            tracing::debug!(%error, device = %self.device, "stopping the acquisition failed");
        }
    }
}

/// The stream's status as a metric label.
fn status_name(status: BufferStatus) -> &'static str {
    match status {
        BufferStatus::Timeout => "timeout",
        BufferStatus::MissingPackets => "missing_packets",
        BufferStatus::WrongPacketId => "wrong_packet_id",
        BufferStatus::SizeMismatch => "size_mismatch",
        BufferStatus::Aborted => "aborted",
        BufferStatus::PayloadNotSupported => "payload_not_supported",
        _ => "other",
    }
}

/// A camera found on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The id to put in `CAMERA_DEVICE`.
    pub id: String,
    pub vendor: String,
    pub model: String,
    pub protocol: String,
    pub address: String,
}

/// Every camera Aravis finds (GigE Vision on every interface, USB3 Vision).
pub fn discover() -> Vec<Found> {
    // Aravis's device list is global state: one token, taken once, guards it.
    static ARAVIS: OnceLock<Option<Mutex<aravis::Aravis>>> = OnceLock::new();
    let Some(token) = ARAVIS.get_or_init(|| aravis::Aravis::initialize().ok().map(Mutex::new)) else {
        return Vec::new();
    };
    let aravis = token.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    aravis
        .get_device_list()
        .into_iter()
        .map(|info| Found {
            id: info.id.to_string_lossy().into_owned(),
            vendor: info.vendor.to_string_lossy().into_owned(),
            model: info.model.to_string_lossy().into_owned(),
            protocol: info.protocol.to_string_lossy().into_owned(),
            address: info.address.to_string_lossy().into_owned(),
        })
        .collect()
}
