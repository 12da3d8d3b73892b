//! `shopfloor-bench rtsp [--seconds S]`: an IP camera (GStreamer's RTSP
//! server, inside this process, serving a live 640x480 H.264 test picture
//! at 30 fps on loopback) streams through camera-source into the defect
//! filter, in `dataflows/bench-rtsp.yml`. The filter first learns from
//! frames grabbed with `shopfloor camera grab --url`. The camera-source
//! process's CPU time over the window is its decoding cost. After the
//! window the camera's server is stopped and started again on the same
//! port: the time from its start to the first frame that reaches the
//! dataflow is the reconnect time. Prints a markdown section;
//! `scripts/bench.sh` appends it to docs/benchmarks.md.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gstreamer as gst;
use gstreamer::glib;
use gstreamer_rtsp_server as rtsp_server;
use gstreamer_rtsp_server::prelude::*;
use shopfloor_dataflow_tests::dataflow::RunningDataflow;

use crate::frames_counter::Counted;
use shopfloor_dataflow_tests::{release_binary, scratch_dir};

/// Node start, the filter's learning, the first key frame.
const WARM_UP: Duration = Duration::from_secs(8);
/// The camera away before it is started again.
const AWAY: Duration = Duration::from_secs(2);
/// Streaming after the camera's return, before the dataflow stops.
const AFTER_RETURN: Duration = Duration::from_secs(8);
/// What IP cameras commonly send: H.264 at 30 fps, a key frame a second,
/// the codec's settings with each (clients join at any time).
/// The bars scroll, so that every frame differs, as a line's does.
const PICTURE: &str = "( videotestsrc is-live=true pattern=smpte horizontal-speed=4 \
    ! video/x-raw,width=640,height=480,framerate=30/1 \
    ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=2000 \
    ! rtph264pay name=pay0 pt=96 config-interval=-1 )";

#[derive(clap::Args)]
pub struct Args {
    /// The measuring window, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(5..=3600))]
    seconds: u64,
}

/// An RTSP server on 127.0.0.1 serving `/line1`, with its own main loop;
/// dropping it closes its sessions and its port, as a camera losing power.
struct Camera {
    port: u16,
    server: rtsp_server::RTSPServer,
    context: glib::MainContext,
    listening: Option<glib::SourceId>,
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Camera {
    fn start(port: u16) -> anyhow::Result<Self> {
        gst::init().context("GStreamer")?;
        let context = glib::MainContext::new();
        let server = rtsp_server::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&port.to_string());
        let factory = rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(PICTURE);
        factory.set_shared(true);
        server.mount_points().context("the server's mount points")?.add_factory("/line1", factory);
        let listening = server.attach(Some(&context)).context("the RTSP server cannot listen")?;
        let port = u16::try_from(server.bound_port()).context("the server's port")?;
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let thread = {
            let (main_loop, context) = (main_loop.clone(), context.clone());
            std::thread::spawn(move || {
                if context.with_thread_default(|| main_loop.run()).is_err() {
                    eprintln!("the RTSP server's context was taken");
                }
            })
        };
        Ok(Self { port, server, context, listening: Some(listening), main_loop, thread: Some(thread) })
    }

    fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/line1", self.port)
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.server.client_filter(Some(&mut |_, _| rtsp_server::RTSPFilterResult::Remove));
        if let Some(source) = self.listening.take().and_then(|id| self.context.find_source_by_id(&id)) {
            source.destroy();
        }
        self.main_loop.quit();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// CPU seconds (user and system) the `camera-source` processes have used,
/// from `/proc/<pid>/stat` (in clock ticks of 1/100 s).
fn camera_source_cpu_seconds() -> Option<f64> {
    let output = Command::new("pgrep").args(["-x", "camera-source"]).output().ok()?;
    let pids = String::from_utf8_lossy(&output.stdout).split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let ticks: Vec<u64> = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .collect();
    (!ticks.is_empty()).then(|| ticks.iter().sum::<u64>() as f64 / 100.0)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let scratch = scratch_dir("bench-rtsp");
    let good = scratch.path().join("good");
    let out = scratch.path().join("count.json");
    let camera = Camera::start(0)?;
    let (port, url) = (camera.port, camera.url());
    let grabbed = Command::new(release_binary("shopfloor")?)
        .args(["camera", "grab", "--url", &url, "--count", "24", "--out"])
        .arg(&good)
        .output()?;
    anyhow::ensure!(grabbed.status.success(), "grab failed: {}", String::from_utf8_lossy(&grabbed.stderr));
    let measure = Duration::from_secs(args.seconds);
    let dataflow = RunningDataflow::start(
        "bench-rtsp.yml",
        &[
            ("CAMERA_URL", url.clone()),
            ("FILTER_GOOD_DIR", good.display().to_string()),
            ("COUNTER_OUT", out.display().to_string()),
        ],
        WARM_UP + measure + AWAY + AFTER_RETURN + Duration::from_secs(60),
    )?;
    std::thread::sleep(WARM_UP);
    let (from_ms, cpu_from) = (now_ms(), camera_source_cpu_seconds());
    std::thread::sleep(measure);
    let (to_ms, cpu_to) = (now_ms(), camera_source_cpu_seconds());
    drop(camera);
    let killed_ms = now_ms();
    std::thread::sleep(AWAY);
    let back_ms = now_ms();
    let _camera = Camera::start(port)?;
    let returned = Instant::now();
    while returned.elapsed() < AFTER_RETURN {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (stopped, _) = dataflow.stop();
    anyhow::ensure!(stopped, "the benchmark dataflow did not stop cleanly");
    let counted = Counted::read(&out)?;
    let window = counted.ids_between(from_ms, to_ms);
    let seconds = (to_ms - from_ms) as f64 / 1e3;
    let first_after_return = counted.first_after(back_ms);
    let last_before_kill = counted.last_before(killed_ms);
    let metric = |name: &str| counted.metric(name);
    let metric_sum = |prefix: &str| counted.metric_sum(prefix);
    let cpu = cpu_from.zip(cpu_to).map(|(from, to)| 100.0 * (to - from) / seconds);
    println!("### IP camera over RTSP into the defect filter (GStreamer's RTSP server, 640x480 H.264 at 30 fps)\n");
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| frames received in the {seconds:.1} s window | {} ({:.1} frames/s) |",
        window.len(),
        window.len() as f64 / seconds
    );
    println!(
        "| decoded frames dropped for want of room, in the window (gaps in the node's count) | {} |",
        crate::gige::skipped_ids(&window)
    );
    println!("| frames the node counted as missed, whole run | {} |", metric("shopfloor_camera_missed_frames"));
    println!(
        "| frames sent by camera-source / scored by the filter (last metrics snapshots) | {} / {} |",
        metric("shopfloor_camera_frames"),
        metric("shopfloor_filter_frames")
    );
    println!("| rate by the stream's clock (last connection) | {:.2} frames/s |", metric("shopfloor_camera_rate_hz"));
    println!(
        "| camera-source CPU in the window (receive, decode, convert, send), % of one core | {} |",
        cpu.map_or("-".into(), |c| format!("{c:.0} %"))
    );
    println!(
        "| last frame before the camera's server stopped | {} ms before |",
        last_before_kill.map_or("-".into(), |ms| ms.to_string())
    );
    println!(
        "| reconnect: first frame after the server's start | {} ms |",
        first_after_return.map_or("none".into(), |ms| ms.to_string())
    );
    println!(
        "| camera opened / lost / failed opens | {} / {} / {} |",
        metric("shopfloor_camera_connects"),
        metric_sum("shopfloor_camera_losses"),
        metric("shopfloor_camera_failed_opens")
    );
    println!(
        "\nThe RTSP server runs in the benchmark process on the same two cores, encoding H.264 (x264, ultrafast, \
         zero latency, 2 Mbit/s, a key frame a second) scrolling colour bars; RTSP over TCP, jitter buffer 200 ms. Warm-up {} s; the \
         server is away {} s before it starts again. The reconnect time includes waiting for the next key frame.",
        WARM_UP.as_secs(),
        AWAY.as_secs()
    );
    Ok(())
}
