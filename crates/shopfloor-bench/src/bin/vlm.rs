//! Stage-2 latency: how long the vision-language model takes per flagged
//! frame, with the node's own prompt and verdict grammar.
//!
//! ```text
//! vlm-bench --model M.gguf --mmproj P.gguf --image CROP.png [--profile P.toml] [--runs 20]
//! ```
//!
//! Prints a markdown table (for docs/benchmarks.md): per verdict the prompt
//! positions (text and image tokens), generated tokens, time to first token
//! and total time, and how many tokens needed the grammar to filter the
//! whole vocabulary (the costly path), p50 and p95 over the runs, after one
//! warm-up run.

use std::path::PathBuf;

use anyhow::{bail, Context};
use slm_engine::profile::HardwareProfile;
use slm_engine::{GenerateOptions, VisionEngine, VisionImage};
use vlm_inspector::{prompt, verdict};

struct Args {
    model: PathBuf,
    mmproj: PathBuf,
    image: PathBuf,
    profile: PathBuf,
    runs: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut model = None;
    let mut mmproj = None;
    let mut image = None;
    let mut profile = PathBuf::from("hw-profiles/generic-x86-2core.toml");
    let mut runs = 20usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => model = Some(PathBuf::from(value()?)),
            "--mmproj" => mmproj = Some(PathBuf::from(value()?)),
            "--image" => image = Some(PathBuf::from(value()?)),
            "--profile" => profile = PathBuf::from(value()?),
            "--runs" => {
                runs = value()?
                    .parse()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .context("--runs must be a count in 1..=10000")?
            }
            other => bail!(
                "unknown argument {other:?}; usage: vlm-bench --model M --mmproj P --image I [--profile F] [--runs N]"
            ),
        }
    }
    Ok(Args {
        model: model.context("--model is required")?,
        mmproj: mmproj.context("--mmproj is required")?,
        image: image.context("--image is required")?,
        profile,
        runs,
    })
}

fn percentile(values: &[f64], p: f64) -> f64 {
    shopfloor_node::stats::percentile(values, p).unwrap_or(f64::NAN)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let profile = HardwareProfile::load(&args.profile)?;
    let picture = image::open(&args.image).with_context(|| format!("cannot read {}", args.image.display()))?.to_rgb8();
    let (width, height) = picture.dimensions();
    let mut engine = VisionEngine::load(&args.model, &args.mmproj, &profile)?;
    let text = engine.chat_prompt(&prompt::system_prompt(), &prompt::instruction(&[], width, height, true))?;
    let grammar = verdict::grammar();
    let options = GenerateOptions { max_tokens: 160, stop_at_line_break: false, grammar: Some(&grammar) };
    let frame = VisionImage { width, height, rgb: picture.as_raw() };
    engine.generate(&text, frame, options)?; // warm-up
    let (mut totals, mut firsts, mut tokens, mut parsed) = (Vec::new(), Vec::new(), Vec::new(), 0usize);
    let mut full_filters = Vec::new();
    let mut positions = 0;
    for _ in 0..args.runs {
        let generation = engine.generate(&text, frame, options)?;
        totals.push(generation.total_ms);
        firsts.push(generation.ttft_ms);
        tokens.push(generation.tokens as f64);
        full_filters.push(generation.grammar_full_filters as f64);
        positions = generation.prompt_tokens;
        parsed += usize::from(verdict::Verdict::parse(&generation.text).is_ok());
    }
    println!("| measure | p50 | p95 |");
    println!("|---|---|---|");
    println!("| total per verdict (ms) | {:.1} | {:.1} |", percentile(&totals, 0.5), percentile(&totals, 0.95));
    println!("| time to first token (ms) | {:.1} | {:.1} |", percentile(&firsts, 0.5), percentile(&firsts, 0.95));
    println!("| generated tokens | {:.0} | {:.0} |", percentile(&tokens, 0.5), percentile(&tokens, 0.95));
    println!(
        "| tokens whose choice filtered the whole vocabulary through the grammar | {:.0} | {:.0} |",
        percentile(&full_filters, 0.5),
        percentile(&full_filters, 0.95)
    );
    println!();
    println!(
        "model {} + projector {} ({}, {}x{} input), image {}x{}, prompt {positions} positions, {} runs, {parsed}/{} verdicts parse",
        args.model.display(),
        args.mmproj.display(),
        engine.projector().projector,
        engine.projector().image_size,
        engine.projector().image_size,
        width,
        height,
        args.runs,
        args.runs,
    );
    Ok(())
}
