//! Generation benchmark: time to first token with and without the prefix
//! cache, and tokens per second of this crate's decode loop against the time
//! llama.cpp itself spends in `llama_decode` for the same tokens.
//!
//! `target/release/bench-generation` after `cargo build --release` (prints a
//! markdown section; `scripts/bench.sh` appends it to docs/benchmarks.md).
//! Uses the model and profile of the demo dataflow unless `SLM_MODEL_PATH` /
//! `SLM_PROFILE` are set. A binary rather than a cargo bench target so that it
//! shares the release build instead of compiling the tree a second time.

use std::path::PathBuf;
use std::time::Instant;

use shopfloor_core::profile::HardwareProfile;
use slm::engine::{ChatTurn, Engine};
use slm::grounding::system_prompt;

const RUNS: usize = 7;
const LONG_TOKENS: u32 = 128;

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let model = std::env::var_os("SLM_MODEL_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    let profile_path = std::env::var_os("SLM_PROFILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path("hw-profiles/generic-x86-2core.toml"));
    let profile = HardwareProfile::load(&profile_path)?;
    let load_started = Instant::now();
    let mut engine = Engine::load(&model, &profile)?;
    let load_ms = load_started.elapsed().as_secs_f64() * 1e3;

    let facts = vec![
        "spindle temperature: 72.4 °C".to_owned(),
        "spindle temperature limit: 80 °C".to_owned(),
    ];
    let system = system_prompt(&facts);
    let questions = ["What is the spindle temperature?", "How hot is the spindle right now?"];
    let prompts = questions
        .iter()
        .map(|question| engine_prompt(&engine, &system, question))
        .collect::<Result<Vec<_>, _>>()?;

    let (mut cold, mut warm, mut prompt_tokens) = (Vec::new(), Vec::new(), 0);
    for _ in 0..RUNS {
        engine.clear_cache();
        let g = engine.generate(&prompts[0], 1)?;
        cold.push(g.ttft_ms);
        prompt_tokens = g.prompt_tokens;
        let g = engine.generate(&prompts[1], 1)?;
        warm.push(g.ttft_ms);
    }

    let long_prompt = engine_prompt(&engine, "You are a helpful assistant.", "Describe how a CNC milling machine works, step by step, in detail.")?;
    let (mut ours, mut llama) = (Vec::new(), Vec::new());
    let mut sample = String::new();
    for _ in 0..RUNS {
        engine.clear_cache();
        engine.reset_llama_timings();
        let g = engine.generate_until(&long_prompt, LONG_TOKENS, false)?;
        let t = engine.llama_timings();
        // Our loop: every generated token after the first costs one decode
        // plus our argmax/softmax and detokenisation.
        let ours_ms = g.total_ms - g.ttft_ms;
        ours.push((g.tokens.saturating_sub(1)) as f64 / (ours_ms / 1e3));
        llama.push(t.eval_tokens as f64 / (t.eval_ms / 1e3));
        sample = g.text.chars().take(60).collect();
    }
    let (ours, llama) = (median(ours), median(llama));

    println!("### Generation ({}, profile `{}`)\n", engine.model_name, profile.name);
    println!("| measure | median of {RUNS} |");
    println!("|---|---|");
    println!("| model load | {load_ms:.0} ms |");
    println!("| time to first token, {prompt_tokens}-token prompt, empty cache | {:.1} ms |", median(cold));
    println!("| time to first token, same facts, new question (prefix cache) | {:.1} ms |", median(warm));
    println!("| generation, this crate's loop ({LONG_TOKENS} tokens) | {ours:.1} tokens/s |");
    println!("| generation, llama.cpp inside llama_decode (same tokens) | {llama:.1} tokens/s |");
    println!("| loop overhead | {:.1} % |", (llama / ours - 1.0) * 100.0);
    println!("\nSample of the long generation: {sample:?}");
    Ok(())
}

fn engine_prompt(engine: &Engine, system: &str, question: &str) -> Result<String, slm::engine::EngineError> {
    engine.chat_prompt(&[
        ChatTurn { role: "system", content: system },
        ChatTurn { role: "user", content: question },
    ])
}
