//! Stage-2 latency: how long the vision-language model takes per flagged
//! frame, with the node's own prompt and verdict grammar.
//!
//! ```text
//! shopfloor-bench vlm --model M.gguf --mmproj P.gguf --image CROP.png [--profile P.toml] [--runs 20]
//! ```
//!
//! Prints a markdown table (for docs/benchmarks.md): per verdict the prompt
//! positions (text and image tokens), generated tokens, time to first token
//! and total time, and how many tokens needed the grammar to filter the
//! whole vocabulary (the costly path), p50 and p95 over the runs, after one
//! warm-up run.

use std::path::PathBuf;

use anyhow::Context;
use slm_engine::profile::HardwareProfile;
use slm_engine::{GenerateOptions, VisionEngine, VisionImage};
use vlm_inspector::{prompt, verdict};

/// Stage-2 latency per flagged frame.
#[derive(clap::Args)]
pub struct Args {
    /// The vision-language model (GGUF).
    #[arg(long)]
    model: PathBuf,
    /// Its projector (GGUF).
    #[arg(long)]
    mmproj: PathBuf,
    /// A crop as the inspector would send it.
    #[arg(long)]
    image: PathBuf,
    #[arg(long, default_value = "hw-profiles/generic-x86-2core.toml")]
    profile: PathBuf,
    /// Timed runs after one warm-up.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    runs: u64,
}

fn percentile(values: &[f64], p: f64) -> f64 {
    shopfloor_node::stats::percentile(values, p).unwrap_or(f64::NAN)
}

pub fn run(args: Args) -> anyhow::Result<()> {
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
