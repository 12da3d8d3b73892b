//! `shopfloor camera list|grab`: the GigE Vision cameras on the network,
//! and frames from one saved as PNG files, through the camera-source node's
//! own camera code.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use camera_source::config::{GigePixelFormat, GigeSettings, Region, Trigger};
use camera_source::gige::{discover, GigeCamera, Polled};
use camera_source::live::LiveFrame;
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
            Ok(ExitCode::SUCCESS)
        }
        CameraCommand::Grab(args) => grab(&args),
    }
}

fn grab(args: &GrabArgs) -> anyhow::Result<ExitCode> {
    if !(0.01..=1000.0).contains(&args.rate_hz) {
        bail!("--rate-hz {}: frames per second in 0.01..=1000", args.rate_hz);
    }
    let pixel_format: GigePixelFormat = args
        .pixel_format
        .parse()
        .map_err(|()| anyhow::anyhow!("--pixel-format {:?}: mono8 or rgb8", args.pixel_format))?;
    let region: Option<Region> = match &args.region {
        None => None,
        Some(text) => {
            Some(text.parse().map_err(|()| anyhow::anyhow!("--region {text:?}: x,y,width,height in pixels"))?)
        }
    };
    let settings = GigeSettings {
        device: args.device.clone(),
        pixel_format,
        region,
        exposure_us: args.exposure_us,
        gain_db: args.gain_db,
        trigger: Trigger::FreeRun,
        buffers: 8,
        frame_timeout: args.timeout,
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot make {}", args.out.display()))?;
    let camera = GigeCamera::open(&settings, args.rate_hz)?;
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
            Polled::Nothing if last_frame.elapsed() > args.timeout => {
                bail!("no frame from {} for {:?} ({saved} saved)", args.device, args.timeout)
            }
            Polled::Nothing => {}
        }
    }
    println!("{saved} frames saved in {} ({incomplete} incomplete frames skipped)", args.out.display());
    Ok(ExitCode::SUCCESS)
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
