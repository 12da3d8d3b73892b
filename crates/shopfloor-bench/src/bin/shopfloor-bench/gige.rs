//! `shopfloor-bench gige [--rate-hz R] [--seconds S]`: a GigE Vision camera
//! (Aravis's simulated one, `arv-fake-gv-camera-0.8`, on loopback) streams
//! 640x480 Mono8 through camera-source into the defect filter, in
//! `dataflows/bench-gige.yml`. The filter first learns from frames grabbed
//! with `shopfloor camera grab`. After the measuring window the camera is
//! killed and started again: the time from its start to the first frame
//! that reaches the dataflow is the reconnect time. Prints a markdown
//! section; `scripts/bench.sh` appends it to docs/benchmarks.md.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use camera_source::live::{FrameIds, IdStep};
use shopfloor_dataflow_tests::dataflow::RunningDataflow;

use crate::frames_counter::Counted;
use shopfloor_dataflow_tests::process::ProcessGroup;
use shopfloor_dataflow_tests::{release_binary, scratch_dir};

/// Camera start, node start, the filter's learning.
const WARM_UP: Duration = Duration::from_secs(8);
/// The camera away before it is started again.
const AWAY: Duration = Duration::from_secs(2);
/// Streaming after the camera's return, before the dataflow stops.
const AFTER_RETURN: Duration = Duration::from_secs(6);

#[derive(clap::Args)]
pub struct Args {
    /// The camera's frame rate.
    #[arg(long, default_value_t = 30.0)]
    rate_hz: f64,
    /// The measuring window, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(5..=3600))]
    seconds: u64,
}

fn fake_camera() -> anyhow::Result<ProcessGroup> {
    let mut command = Command::new("arv-fake-gv-camera-0.8");
    command.args(["-i", "127.0.0.1", "-s", "BENCH"]);
    ProcessGroup::spawn("arv-fake-gv-camera", command).context("arv-fake-gv-camera-0.8 (Debian aravis-tools)")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let scratch = scratch_dir("bench-gige");
    let good = scratch.path().join("good");
    let out = scratch.path().join("count.json");
    let camera = fake_camera()?;
    let grabbed = Command::new(release_binary("shopfloor")?)
        .args(["camera", "grab", "--device", "127.0.0.1", "--count", "24", "--rate-hz", "10"])
        .args(["--region", "0,0,640,480", "--out"])
        .arg(&good)
        .output()?;
    anyhow::ensure!(grabbed.status.success(), "grab failed: {}", String::from_utf8_lossy(&grabbed.stderr));
    let measure = Duration::from_secs(args.seconds);
    let dataflow = RunningDataflow::start(
        "bench-gige.yml",
        &[
            ("CAMERA_RATE_HZ", args.rate_hz.to_string()),
            ("FILTER_GOOD_DIR", good.display().to_string()),
            ("COUNTER_OUT", out.display().to_string()),
        ],
        WARM_UP + measure + AWAY + AFTER_RETURN + Duration::from_secs(60),
    )?;
    std::thread::sleep(WARM_UP);
    let from_ms = now_ms();
    std::thread::sleep(measure);
    let to_ms = now_ms();
    drop(camera);
    let killed_ms = now_ms();
    std::thread::sleep(AWAY);
    let back_ms = now_ms();
    let _camera = fake_camera()?;
    let returned = Instant::now();
    while returned.elapsed() < AFTER_RETURN {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (stopped, _) = dataflow.stop();
    anyhow::ensure!(stopped, "the benchmark dataflow did not stop cleanly");
    let counted = Counted::read(&out)?;
    let window = counted.ids_between(from_ms, to_ms);
    let in_window = window.len();
    let skipped_in_window = skipped_ids(&window);
    let seconds = (to_ms - from_ms) as f64 / 1e3;
    let first_after_return = counted.first_after(back_ms);
    let last_before_kill = counted.last_before(killed_ms);
    let metric = |name: &str| counted.metric(name);
    let metric_sum = |prefix: &str| counted.metric_sum(prefix);
    println!(
        "### GigE Vision camera into the defect filter (Aravis's simulated camera, 640x480 Mono8 at {} fps)\n",
        args.rate_hz
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| frames received in the {seconds:.1} s window | {in_window} ({:.1} frames/s) |",
        in_window as f64 / seconds
    );
    println!("| camera frame ids skipped in the window (frames lost) | {skipped_in_window} |");
    println!("| frames the node counted as missed, whole run | {} |", metric("shopfloor_camera_missed_frames"));
    println!(
        "| frames sent by camera-source / scored by the filter (last metrics snapshots) | {} / {} |",
        metric("shopfloor_camera_frames"),
        metric("shopfloor_filter_frames")
    );
    println!("| rate by the camera's clock (last connection) | {:.2} frames/s |", metric("shopfloor_camera_rate_hz"));
    println!("| incomplete frames (stream status), whole run | {} |", metric_sum("shopfloor_camera_incomplete_frames"));
    println!(
        "| last frame before the camera was killed | {} ms before the kill |",
        last_before_kill.map_or("-".into(), |ms| ms.to_string())
    );
    println!(
        "| reconnect: first frame after the camera's start | {} ms |",
        first_after_return.map_or("none".into(), |ms| ms.to_string())
    );
    println!(
        "| camera opened / lost | {} / {} |",
        metric("shopfloor_camera_connects"),
        metric_sum("shopfloor_camera_losses")
    );
    println!(
        "\nThe camera-source, the filter and the counting node receive through dora (frames input with backpressure, \
         queue 10). Warm-up {} s; the camera is away {} s before it starts again. The reconnect time runs from the \
         simulated camera's process start to the first frame at the counting node: the camera's own start, Aravis's \
         discovery and the node's open are in it.",
        WARM_UP.as_secs(),
        AWAY.as_secs()
    );
    Ok(())
}

/// Camera frame ids skipped between consecutive frames, as the camera
/// source itself counts them (16-bit ids wrap; a frame without an id, or
/// ids that start again, are no loss).
pub(crate) fn skipped_ids(ids: &[Option<i64>]) -> u64 {
    let mut steps = FrameIds::default();
    ids.iter()
        .flatten()
        .filter_map(|id| u64::try_from(*id).ok())
        .map(|id| match steps.step(id) {
            IdStep::Missed(missed) => missed,
            IdStep::InOrder | IdStep::Restarted => 0,
        })
        .sum()
}
