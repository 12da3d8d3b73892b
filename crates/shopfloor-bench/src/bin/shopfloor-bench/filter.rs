//! `shopfloor-bench filter [--product plate|board] [--images N] [--learn N] [--seed S] [--runs R]
//! [--width W] [--height H] [--conditions [--misses] [--only NAME]]`: learns a [`GoodModel`] from one generated good set, scores
//! another generated set (half good, half defective, the kinds in turn) on
//! this thread, and prints speed and accuracy as a markdown table.
//!
//! A defective image counts as found when it is flagged and one of its
//! boxes overlaps the ground-truth box.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use defect_filter::{FilterSettings, FrameScore, FrameView, GoodModel};
use part_images::{product_set, render, Condition, Product, TruthBox};

/// Stage-1 speed and accuracy on generated parts.
#[derive(clap::Args)]
pub struct Options {
    /// Images scored (half good, half defective).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(2..=1_000_000))]
    images: u64,
    /// Good images learned from.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u64).range(defect_filter::MIN_LEARN_IMAGES as u64..=10_000))]
    learn: u64,
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Timed passes over the scored set; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
    runs: u64,
    #[arg(long, default_value_t = 640, value_parser = clap::value_parser!(u32).range(160..=8192))]
    width: u32,
    #[arg(long, default_value_t = 480, value_parser = clap::value_parser!(u32).range(120..=8192))]
    height: u32,
    /// Score the set once per line condition (rotation, sub-pixel shift,
    /// light drift, vignetting, motion blur, noise, all at once), learning
    /// from nominal good parts, and print one row per condition.
    #[arg(long)]
    conditions: bool,
    /// With `--conditions`: after each row, one line per missed defect and
    /// per false alarm (kind, score, threshold, sharpness, gain, turn, boxes),
    /// to see why a condition fails.
    #[arg(long, requires = "conditions")]
    misses: bool,
    /// With `--conditions`: only the rows whose condition's name starts
    /// with this (`nominal`, `rotation`, `all`, `part`, ...), for timing one
    /// condition; each row's parts are the same as in a full run.
    #[arg(long, requires = "conditions")]
    only: Option<String>,
    /// `plate` (machined plates) or `board` (circuit boards): each learned
    /// from its own good parts.
    #[arg(long, default_value = "plate", value_parser = parse_product)]
    product: Product,
}

fn parse_product(text: &str) -> Result<Product, String> {
    text.parse().map_err(|()| "plate or board".to_owned())
}

/// One rendered test image and its truth.
struct Sample {
    pixels: Vec<u8>,
    label: &'static str,
    truth: Option<TruthBox>,
}

pub fn run(o: Options) -> anyhow::Result<()> {
    if o.conditions {
        return run_conditions(&o);
    }
    let (w, h) = (o.width, o.height);
    let (images, learn, runs) = (o.images as usize, o.learn as usize, o.runs as usize);

    let learn_pixels = product_set(o.product, o.seed, learn, 0, w, h)
        .iter()
        .map(|s| Ok(render(s)?.image.into_raw()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let good = images / 2;
    let test: Vec<Sample> = product_set(o.product, o.seed + 1, good, images - good, w, h)
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

    let mut timings = Vec::with_capacity(runs);
    let mut results: Vec<FrameScore> = Vec::new();
    for _ in 0..runs {
        results.clear();
        let started = Instant::now();
        for sample in &test {
            results.push(model.score(&FrameView::rgb8(w, h, &sample.pixels))?);
        }
        timings.push(started.elapsed());
    }
    timings.sort();
    let median = timings[timings.len() / 2];
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
            "bench-filter --product {} --images {} --learn {} --seed {} --runs {} ({}x{})",
            o.product.as_str(),
            o.images,
            o.learn,
            o.seed,
            o.runs,
            o.width,
            o.height
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
    let mut learning = model.learning_scores().to_vec();
    learning.sort_by(|a, b| b.total_cmp(a));
    let learning: Vec<String> = learning.iter().map(|s| format!("{s:.2}")).collect();
    line(&mut out, format!("| learning images' scores, left out (highest first) | {} |", learning.join(" ")));
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

/// One `--misses` line: what the filter made of a part it got wrong.
fn miss_line(what: &str, n: usize, sample: &Sample, result: &FrameScore) -> String {
    let boxes: Vec<String> =
        result.boxes.iter().map(|b| format!("{}x{}@{},{} {:.1}", b.width, b.height, b.x, b.y, b.score)).collect();
    let truth = sample.truth.map(|t| format!(" truth {}x{}@{},{}", t.width, t.height, t.x, t.y)).unwrap_or_default();
    format!(
        "    {what} #{n} {}: score {:.2} / {:.2}, misfit {:.2}, sharpness {:.3}, gain {:.2}, turn {:.1}°, shift {:?}{}{truth}, boxes [{}]",
        sample.label,
        result.score,
        result.threshold,
        result.misfit,
        result.sharpness,
        result.gain,
        result.turn_deg,
        result.shift,
        result.unusable.map(|u| format!(", unusable ({})", u.reason())).unwrap_or_default(),
        boxes.join("; ")
    )
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// One row per line condition: the model learns from nominal good parts
/// (the scene's own variation only), then scores `images` parts (half
/// good, half defective) under conditions of that kind drawn per part.
fn run_conditions(o: &Options) -> anyhow::Result<()> {
    let (w, h) = (o.width, o.height);
    let learn_pixels = product_set(o.product, o.seed, o.learn as usize, 0, w, h)
        .iter()
        .map(|s| Ok(render(s)?.image.into_raw()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let frames: Vec<FrameView> = learn_pixels.iter().map(|p| FrameView::rgb8(w, h, p)).collect();
    let model = GoodModel::learn(&frames, &FilterSettings::default()).context("learning failed")?;
    println!(
        "bench-filter --conditions --product {} --images {} --learn {} --seed {} ({w}x{h}; learned from nominal \
         good parts; threshold {:.2})\n",
        o.product.as_str(),
        o.images,
        o.learn,
        o.seed,
        model.threshold()
    );
    println!(
        "| condition | recall | false alarms on good | unusable frames (good / defective) | frames/s, one thread |"
    );
    println!("|---|---|---|---|---|");
    let images = o.images as usize;
    let good = images / 2;
    for (index, condition) in Condition::EVERY.into_iter().enumerate() {
        if o.only.as_ref().is_some_and(|only| !condition.as_str().starts_with(only.as_str())) {
            continue;
        }
        let specs = product_set(o.product, o.seed + 1, good, images - good, w, h);
        let mut test = Vec::with_capacity(specs.len());
        for (n, spec) in specs.iter().enumerate() {
            let conditions = condition.draw(o.seed ^ ((index as u64) << 32) ^ n as u64);
            let spec = &conditions.on_part(*spec);
            let rendered = render(spec)?;
            let truth = rendered.defect.map(|d| conditions.map_box(d.1, w, h));
            test.push(Sample { pixels: conditions.apply(&rendered.image).into_raw(), label: spec.label(), truth });
        }
        let started = Instant::now();
        let results = test
            .iter()
            .map(|sample| model.score(&FrameView::rgb8(w, h, &sample.pixels)))
            .collect::<Result<Vec<_>, _>>()?;
        let per_frame = started.elapsed().as_secs_f64() / test.len() as f64;
        let (mut hits, mut defective, mut alarms, mut goods, mut unusable_good, mut unusable_bad) = (0, 0, 0, 0, 0, 0);
        let mut wrong = Vec::new();
        for (n, (sample, result)) in test.iter().zip(&results).enumerate() {
            let unusable = result.unusable.is_some();
            match sample.truth {
                Some(t) => {
                    defective += 1;
                    unusable_bad += usize::from(unusable);
                    let found = result.flagged && result.boxes.iter().any(|b| b.overlaps(t.x, t.y, t.width, t.height));
                    hits += usize::from(found);
                    if !found {
                        wrong.push(miss_line("missed", n, sample, result));
                    }
                }
                None => {
                    goods += 1;
                    unusable_good += usize::from(unusable);
                    alarms += usize::from(result.flagged);
                    if result.flagged {
                        wrong.push(miss_line("false alarm", n, sample, result));
                    }
                }
            }
        }
        println!(
            "| {} | {:.1} % ({hits}/{defective}) | {:.1} % ({alarms}/{goods}) | {unusable_good} / {unusable_bad} | {:.0} |",
            condition.as_str(),
            percent(hits, defective),
            percent(alarms, goods),
            1.0 / per_frame
        );
        if o.misses {
            wrong.iter().for_each(|line| println!("{line}"));
        }
    }
    println!(
        "\nRecall: a defective part flagged with a box on its (moved) defect. An unusable frame (too blurred, too \
         dark or bright to judge) is neither: it is counted apart, and a defective part in one counts as missed."
    );
    Ok(())
}
