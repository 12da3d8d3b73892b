//! `shopfloor camera list|grab`: the GigE Vision cameras on the network
//! (and the USB ones on this machine), and frames from one (GigE, RTSP or
//! USB) saved as PNG files, through the camera-source node's own camera
//! code.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use camera_source::config::{
    rtsp_url_is_plain, without_account, GigeSettings, PixelFormat, Region, RtspTransport, StreamKind, StreamSettings,
    Trigger,
};
use camera_source::gige::{discover, GigeCamera};
use camera_source::live::{LiveFrame, Polled};
use camera_source::stream::StreamCamera;
use shopfloor_core::env::Secret;
use shopfloor_core::schema::FrameEncoding;

use crate::cli::{CameraCommand, GrabArgs};

pub fn run(command: CameraCommand) -> anyhow::Result<ExitCode> {
    match command {
        CameraCommand::List => {
            let found = discover();
            if found.is_empty() {
                println!("no camera found");
            }
            for camera in found {
                println!(
                    "{}\tvendor {}\tmodel {}\t{} at {}",
                    camera.id, camera.vendor, camera.model, camera.protocol, camera.address
                );
            }
            for device in usb_devices() {
                println!("{}\tUSB (V4L2): CAMERA_SOURCE=usb CAMERA_DEVICE={0}", device.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        CameraCommand::Grab(args) => grab(&args),
    }
}

fn grab(args: &GrabArgs) -> anyhow::Result<ExitCode> {
    if !(0.01..=1000.0).contains(&args.rate_hz) {
        bail!("--rate-hz {}: frames per second in 0.01..=1000", args.rate_hz);
    }
    let pixel_format: PixelFormat = args
        .pixel_format
        .parse()
        .map_err(|()| anyhow::anyhow!("--pixel-format {:?}: mono8 or rgb8", args.pixel_format))?;
    let region: Option<Region> = match &args.region {
        None => None,
        Some(text) => {
            Some(text.parse().map_err(|()| anyhow::anyhow!("--region {text:?}: x,y,width,height in pixels"))?)
        }
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot make {}", args.out.display()))?;
    let (name, mut camera) = open(args, pixel_format, region)?;
    let mut saved = 0u64;
    let mut incomplete = 0u64;
    let mut last_frame = Instant::now();
    while saved < args.count {
        match camera.poll(Duration::from_millis(100)) {
            Polled::Frame(frame) => {
                let path = args.out.join(format!("frame-{saved:06}.png"));
                save(&frame, &path)?;
                saved += 1;
                last_frame = Instant::now();
            }
            Polled::Incomplete { .. } => incomplete += 1,
            Polled::Gone { reason } => bail!("{name} went away ({reason}) after {saved} frames"),
            Polled::Nothing if last_frame.elapsed() > args.timeout => {
                bail!("no frame from {name} for {:?} ({saved} saved)", args.timeout)
            }
            Polled::Nothing => {}
        }
    }
    println!("{saved} frames saved in {} ({incomplete} incomplete frames skipped)", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// A camera being grabbed from.
enum Grabbing {
    Gige(GigeCamera),
    Stream(StreamCamera),
}

impl Grabbing {
    fn poll(&mut self, wait: Duration) -> Polled {
        match self {
            Grabbing::Gige(camera) => camera.poll(wait),
            Grabbing::Stream(camera) => camera.poll(wait),
        }
    }
}

/// Opens the camera the arguments name; its name for messages, and it.
fn open(args: &GrabArgs, pixel_format: PixelFormat, region: Option<Region>) -> anyhow::Result<(String, Grabbing)> {
    let stream = |kind: StreamKind| StreamSettings { kind, pixel_format, buffers: 8, frame_timeout: args.timeout };
    let settings = match (&args.device, &args.url, &args.usb) {
        (Some(device), _, _) => {
            let settings = GigeSettings {
                device: device.clone(),
                pixel_format,
                region,
                exposure_us: args.exposure_us,
                gain_db: args.gain_db,
                trigger: Trigger::FreeRun,
                buffers: 8,
                frame_timeout: args.timeout,
            };
            return Ok((device.clone(), Grabbing::Gige(GigeCamera::open(&settings, args.rate_hz)?)));
        }
        (None, Some(url), _) => {
            if !rtsp_url_is_plain(url) {
                bail!(
                    "--url {}: rtsp://host[:port]/path or rtsps://..., the account in --user and --password-file",
                    without_account(url)
                );
            }
            let password = match &args.password_file {
                Some(file) => {
                    let text = std::fs::read_to_string(file)
                        .with_context(|| format!("cannot read the password file {}", file.display()))?;
                    Some(Secret::new(text.lines().next().unwrap_or_default().to_owned()))
                }
                None => None,
            };
            stream(StreamKind::Rtsp {
                url: url.clone(),
                user: args.user.clone(),
                password,
                transport: RtspTransport::Tcp,
                latency: Duration::from_millis(200),
            })
        }
        (None, None, Some(device)) => stream(StreamKind::Usb { device: device.clone() }),
        (None, None, None) => bail!("name a camera: --device, --url or --usb"),
    };
    if region.is_some() || args.exposure_us.is_some() || args.gain_db.is_some() {
        bail!("--region, --exposure-us and --gain-db are GigE settings; a stream's camera keeps its own");
    }
    Ok((settings.describe(), Grabbing::Stream(StreamCamera::open(&settings)?)))
}

/// The Video4Linux capture devices of this machine (`/dev/video*`).
fn usb_devices() -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir("/dev") else { return Vec::new() };
    let mut devices: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.starts_with("video")))
        .collect();
    devices.sort();
    devices
}

fn save(frame: &LiveFrame, path: &Path) -> anyhow::Result<()> {
    let bytes = frame.bytes.clone();
    let saved = match frame.encoding {
        FrameEncoding::Mono8 => image::GrayImage::from_raw(frame.width, frame.height, bytes).map(|i| i.save(path)),
        _ => image::RgbImage::from_raw(frame.width, frame.height, bytes).map(|i| i.save(path)),
    };
    match saved {
        Some(result) => result.with_context(|| format!("cannot write {}", path.display())),
        None => bail!("a {}x{} frame of {} bytes does not fit its size", frame.width, frame.height, frame.bytes.len()),
    }
}
