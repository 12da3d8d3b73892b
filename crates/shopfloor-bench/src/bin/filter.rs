//! `filter-bench [--images N] [--learn N] [--seed S] [--runs R] [--width W]
//! [--height H]`: learns a [`GoodModel`] from one generated good set, scores
//! another generated set (half good, half defective, the kinds in turn) on
//! this thread, and prints speed and accuracy as a markdown table.
//!
//! A defective image counts as found when it is flagged and one of its
//! boxes overlaps the ground-truth box.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use defect_filter::{FilterSettings, FrameScore, FrameView, GoodModel};
use part_images::{render, sample_set, TruthBox};

const USAGE: &str = "filter-bench [--images 500] [--learn 24] [--seed S] [--runs 5] [--width 640] [--height 480]";

struct Options {
    images: usize,
    learn: usize,
    seed: u64,
    runs: usize,
    width: u32,
    height: u32,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("filter-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options { images: 500, learn: 24, seed: 2026, runs: 5, width: 640, height: 480 };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let value = iter.next().with_context(|| format!("{arg} needs a value; usage: {USAGE}"))?;
        let number = |min: u64, max: u64| -> anyhow::Result<u64> {
            value
                .parse()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .with_context(|| format!("{arg} {value:?} is invalid (must be a whole number from {min} to {max})"))
        };
        match arg.as_str() {
            "--images" => options.images = number(2, 1_000_000)? as usize,
            "--learn" => options.learn = number(defect_filter::MIN_LEARN_IMAGES as u64, 10_000)? as usize,
            "--seed" => options.seed = number(0, u64::MAX - 1)?,
            "--runs" => options.runs = number(1, 100)? as usize,
            "--width" => options.width = number(160, 8192)? as u32,
            "--height" => options.height = number(120, 8192)? as u32,
            other => anyhow::bail!("unknown argument {other:?}; usage: {USAGE}"),
        }
    }
    Ok(options)
}

/// One rendered test image and its truth.
struct Sample {
    pixels: Vec<u8>,
    label: &'static str,
    truth: Option<TruthBox>,
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = parse(&args)?;
    let (w, h) = (o.width, o.height);

    let learn_pixels = sample_set(o.seed, o.learn, 0, w, h)
        .iter()
        .map(|s| Ok(render(s)?.image.into_raw()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let good = o.images / 2;
    let test: Vec<Sample> = sample_set(o.seed + 1, good, o.images - good, w, h)
        .iter()
        .map(|spec| {
            let rendered = render(spec)?;
            Ok(Sample { pixels: rendered.image.into_raw(), label: spec.label(), truth: rendered.defect.map(|d| d.1) })
        })
        .collect::<anyhow::Result<_>>()?;

    let settings = FilterSettings::default();
    let frames: Vec<FrameView> = learn_pixels.iter().map(|p| FrameView::rgb8(w, h, p)).collect();
    let started = Instant::now();
    let model = GoodModel::learn(&frames, &settings).context("learning failed")?;
    let learn_time = started.elapsed();

    let mut runs = Vec::with_capacity(o.runs);
    let mut results: Vec<FrameScore> = Vec::new();
    for _ in 0..o.runs {
        results.clear();
        let started = Instant::now();
        for sample in &test {
            results.push(model.score(&FrameView::rgb8(w, h, &sample.pixels))?);
        }
        runs.push(started.elapsed());
    }
    runs.sort();
    let median = runs[runs.len() / 2];
    print!("{}", report(&o, &model, learn_time, median, &test, &results));
    Ok(())
}

#[derive(Default)]
struct Tally {
    total: usize,
    hits: usize,
    flagged: usize,
    lowest: Option<f32>,
    highest: f32,
    /// Sum over found defects of the best box's intersection over union.
    iou: f64,
    boxes: usize,
}

fn iou(b: &defect_filter::AnomalyBox, t: &TruthBox) -> f64 {
    let ix = (b.x + b.width).min(t.x + t.width).saturating_sub(b.x.max(t.x)) as f64;
    let iy = (b.y + b.height).min(t.y + t.height).saturating_sub(b.y.max(t.y)) as f64;
    let inter = ix * iy;
    let union = (b.width * b.height + t.width * t.height) as f64 - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

fn report(
    o: &Options,
    model: &GoodModel,
    learn_time: Duration,
    median: Duration,
    test: &[Sample],
    results: &[FrameScore],
) -> String {
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    for (sample, result) in test.iter().zip(results) {
        let tally = tallies.entry(sample.label).or_default();
        tally.total += 1;
        tally.flagged += usize::from(result.flagged);
        let hit = sample
            .truth
            .is_some_and(|t| result.flagged && result.boxes.iter().any(|b| b.overlaps(t.x, t.y, t.width, t.height)));
        tally.hits += usize::from(hit);
        tally.boxes += result.boxes.len();
        if let (true, Some(t)) = (hit, sample.truth) {
            tally.iou += result.boxes.iter().map(|b| iou(b, &t)).fold(0.0, f64::max);
        }
        tally.lowest = Some(tally.lowest.map_or(result.score, |l: f32| l.min(result.score)));
        tally.highest = tally.highest.max(result.score);
    }
    let per_frame = median.as_secs_f64() / test.len() as f64;
    let mut out = String::new();
    let line = |out: &mut String, text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(
        &mut out,
        format!(
            "filter-bench --images {} --learn {} --seed {} --runs {} ({}x{})",
            o.images, o.learn, o.seed, o.runs, o.width, o.height
        ),
    );
    line(&mut out, String::new());
    line(&mut out, "| measure | value |".into());
    line(&mut out, "|---|---|".into());
    line(&mut out, format!("| frames/s, one thread (median of {} runs) | {:.0} |", o.runs, 1.0 / per_frame));
    line(&mut out, format!("| mean µs per frame | {:.0} |", per_frame * 1e6));
    line(
        &mut out,
        format!("| learning time ({} good images) | {:.0} ms |", model.learned_from(), learn_time.as_secs_f64() * 1e3),
    );
    line(&mut out, format!("| threshold (learned) | {:.2} ({:.2}) |", model.threshold(), model.learned_threshold()));
    let (mut found, mut defective) = (0, 0);
    for (label, t) in &tallies {
        if *label == "good" {
            continue;
        }
        found += t.hits;
        defective += t.total;
        line(
            &mut out,
            format!(
                "| recall {label} | {:.1} % ({}/{}; flagged {}) |",
                percent(t.hits, t.total),
                t.hits,
                t.total,
                t.flagged
            ),
        );
    }
    line(&mut out, format!("| recall overall | {:.1} % ({found}/{defective}) |", percent(found, defective)));
    if let Some(g) = tallies.get("good") {
        line(
            &mut out,
            format!("| false alarms on good | {:.1} % ({}/{}) |", percent(g.flagged, g.total), g.flagged, g.total),
        );
    }
    line(&mut out, String::new());
    line(
        &mut out,
        "| kind | images | lowest score | highest score | boxes per image | mean IoU of best box (found) |".into(),
    );
    line(&mut out, "|---|---|---|---|---|---|".into());
    for (label, t) in &tallies {
        let iou = if t.hits > 0 { format!("{:.2}", t.iou / t.hits as f64) } else { "-".into() };
        let boxes = t.boxes as f64 / t.total.max(1) as f64;
        line(
            &mut out,
            format!(
                "| {label} | {} | {:.2} | {:.2} | {boxes:.2} | {iou} |",
                t.total,
                t.lowest.unwrap_or(0.0),
                t.highest
            ),
        );
    }
    out
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}
