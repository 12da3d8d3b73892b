//! Generation benchmark, side by side in one run on one model and profile:
//!
//! - tokens/s of this crate's engine against a plain llama.cpp generation
//!   loop (llama.cpp's own greedy sampler, as in its `simple` example);
//! - grammar-constrained generation (top candidate checked first) against
//!   unconstrained generation of the same number of tokens, and against
//!   llama.cpp's grammar sampler placed in the chain;
//! - time to first token for a short question over a ~1k-token fact sheet,
//!   with the sheet cached against full re-evaluation;
//! - when `scripts/build-llama-reference.sh` has built it, llama.cpp's own
//!   `llama-bench` on the same model and threads, interleaved with the
//!   engine's runs: generation (tg128), and the same question tokens at the
//!   same depth as the time-to-first-token run.
//!
//! `target/release/shopfloor-bench generation` after `cargo build --release` (prints a
//! markdown section; `scripts/bench.sh` appends it to docs/benchmarks.md).
//! Uses the model and profile of the demo dataflow unless `SLM_MODEL_PATH` /
//! `SLM_PROFILE` are set. A binary rather than a cargo bench target so that it
//! shares the release build instead of compiling the tree a second time.

use std::path::PathBuf;
use std::time::Instant;

use slm::engine::{ChatTurn, Engine, GenerateOptions};
use slm::grounding::system_prompt;
use slm::tools;
use slm_engine::profile::HardwareProfile;

const RUNS: usize = 11;
const LONG_TOKENS: u32 = 128;
const LONG_SYSTEM: &str = "You are a helpful assistant.";
const LONG_QUESTION: &str = "Describe how a CNC milling machine works, step by step, in detail.";
const TOOL_QUESTION: &str = "How fast is the spindle turning right now?";

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

/// p50 of repeated measurements (there is always at least one).
fn median(values: Vec<f64>) -> f64 {
    shopfloor_node::stats::median(&values).unwrap_or(f64::NAN)
}

/// Tokens per second after the first token, from a count and two times in ms.
fn rate(tokens: usize, total_ms: f64, ttft_ms: f64) -> f64 {
    tokens.saturating_sub(1) as f64 / ((total_ms - ttft_ms) / 1e3)
}

pub fn run() -> anyhow::Result<()> {
    let model_path = std::env::var_os("SLM_MODEL_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    let profile_path = std::env::var_os("SLM_PROFILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path("hw-profiles/generic-x86-2core.toml"));
    let profile = HardwareProfile::load(&profile_path)?;
    let tool_tags = ["machine_state", "part_count", "spindle_speed", "spindle_temperature", "vibration"];

    let load_started = Instant::now();
    let mut engine = Engine::load(&model_path, &profile)?;
    let load_ms = load_started.elapsed().as_secs_f64() * 1e3;

    // Unconstrained generation: this crate's loop vs the plain loop, runs
    // alternating so that both see the same machine.
    let long_prompt = prompt(&engine, LONG_SYSTEM, LONG_QUESTION)?;
    let reference = LlamaBench::find(&model_path, &profile);
    let (mut plain, mut ours, mut inside_decode, mut peer) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..RUNS {
        if let Some(reference) = reference.as_ref().filter(|_| run % 4 == 0) {
            peer.push(reference.tokens_per_second(0, LONG_TOKENS as usize, 0)?);
        }
        plain.push(engine.reference_generation(&long_prompt, LONG_TOKENS as usize, None)?);
        engine.clear_cache();
        engine.reset_llama_timings();
        let g = engine.generate_until(&long_prompt, LONG_TOKENS, false)?;
        let t = engine.llama_timings();
        ours.push(rate(g.tokens, g.total_ms, g.ttft_ms));
        inside_decode.push(t.eval_tokens as f64 / (t.eval_ms / 1e3));
    }
    let (plain, ours, inside_decode) = (median(plain), median(ours), median(inside_decode));
    let peer = (!peer.is_empty()).then(|| median(peer));

    // The profile's LoRA adapter on against the same engine with it off,
    // alternating; the rest of the runs keep it on, as the node does.
    let adapter = engine.active_lora().map(|(name, scale)| (name.to_owned(), scale));
    let adapter_rates = match &adapter {
        Some((name, scale)) => {
            let (mut on, mut off, mut tokens) = (Vec::new(), Vec::new(), (0, 0));
            for _ in 0..RUNS {
                for active in [true, false] {
                    engine.set_lora(active.then_some(name.as_str()), *scale)?;
                    engine.clear_cache();
                    let g = engine.generate_until(&long_prompt, LONG_TOKENS, false)?;
                    let speed = rate(g.tokens, g.total_ms, g.ttft_ms);
                    if active {
                        on.push(speed);
                        tokens.0 = g.tokens;
                    } else {
                        off.push(speed);
                        tokens.1 = g.tokens;
                    }
                }
            }
            engine.set_lora(Some(name), *scale)?;
            Some((median(on), median(off), tokens))
        }
        None => None,
    };

    // Constrained (tool call) vs unconstrained, same prompt, same token count.
    let tool_prompt = prompt(&engine, &tools::tool_prompt(&tool_tags), TOOL_QUESTION)? + tools::CALL_PREFIX;
    let grammar = tools::grammar(&tool_tags);
    let (mut constrained, mut free, mut chained) = (Vec::new(), Vec::new(), Vec::new());
    let (mut fallbacks, mut full_filters, mut call, mut call_tokens) = (0, 0, String::new(), 0);
    for _ in 0..RUNS {
        chained.push(engine.reference_generation(&tool_prompt, 40, Some(&grammar))?);
        engine.clear_cache();
        let options = GenerateOptions { max_tokens: 40, stop_at_line_break: false, grammar: Some(&grammar) };
        let g = engine.generate_with(&tool_prompt, options)?;
        constrained.push(rate(g.tokens, g.total_ms, g.ttft_ms));
        (fallbacks, full_filters, call, call_tokens) =
            (g.grammar_fallbacks, g.grammar_full_filters, g.text.clone(), g.tokens);
        engine.clear_cache();
        let options = GenerateOptions { max_tokens: g.tokens as u32, stop_at_line_break: false, grammar: None };
        let g = engine.generate_with(&tool_prompt, options)?;
        free.push(rate(g.tokens, g.total_ms, g.ttft_ms));
    }
    let (constrained, free, chained) = (median(constrained), median(free), median(chained));

    // TTFT over a ~1k-token fact sheet: cached (as the node keeps it) vs full.
    let sheet = synthetic_fact_sheet(&engine, 1000);
    let system = system_prompt(&sheet);
    let prefix = engine.chat_prefix(&system)?;
    let sheet_tokens = engine.token_count(&prefix);
    let questions = [
        "What is the motor current of conveyor 7 on line 2 right now?",
        "How warm is the oven zone 3 air on line 1 at the moment?",
    ];
    let (mut cached, mut full, mut question_tokens) = (Vec::new(), Vec::new(), 0);
    for run in 0..RUNS {
        // The cached run asks the other question, as the next operator would.
        let question_prompt = prompt(&engine, &system, questions[run % 2])?;
        let next_question_prompt = prompt(&engine, &system, questions[(run + 1) % 2])?;
        engine.clear_cache();
        let g = engine.generate(&question_prompt, 1)?;
        full.push(g.ttft_ms);
        engine.prefill(&prefix)?;
        let g = engine.generate(&next_question_prompt, 1)?;
        question_tokens = g.prompt_tokens_evaluated;
        cached.push(g.ttft_ms);
    }

    // llama-bench's prompt processing of as many tokens at the same depth.
    let peer_ttft_ms = match &reference {
        Some(reference) => {
            let rate = reference.tokens_per_second(question_tokens, 0, sheet_tokens)?;
            Some(question_tokens as f64 / rate * 1e3)
        }
        None => None,
    };

    println!("### Generation ({}, profile `{}`)\n", engine.model_name, profile.name);
    println!("| measure | median of {RUNS} |");
    println!("|---|---|");
    println!("| model load | {load_ms:.0} ms |");
    println!("| generation, plain llama.cpp loop (greedy sampler, {LONG_TOKENS} tokens) | {:.1} tokens/s |", plain);
    println!(
        "| generation, this crate's engine (same prompt and tokens) | {ours:.1} tokens/s ({:.2}x the plain loop) |",
        ours / plain
    );
    println!("| time inside `llama_decode` during the engine's generation | {inside_decode:.1} tokens/s |");
    if let (Some((name, scale)), Some((on, off, (on_tokens, off_tokens)))) = (&adapter, adapter_rates) {
        println!(
            "| generation with the profile's LoRA adapter `{name}` on (scale {scale}; {on_tokens} tokens) against off ({off_tokens} tokens), alternating | {on:.1} against {off:.1} tokens/s ({:.2}x) |",
            on / off
        );
    }
    match peer {
        Some(peer) => println!(
            "| llama.cpp's `llama-bench` tg{LONG_TOKENS}, same model and threads, interleaved (median of 3 runs of `-r 3`) | {peer:.1} tokens/s (engine = {:.2}x) |",
            ours / peer
        ),
        None => println!("| llama.cpp's `llama-bench` | not built (scripts/build-llama-reference.sh) |"),
    }
    println!("| tool call under the grammar, top candidate checked first ({call_tokens} tokens; top candidate rejected {fallbacks} times, whole vocabulary filtered {full_filters} times) | {constrained:.1} tokens/s |");
    println!(
        "| same prompt and token count, unconstrained | {free:.1} tokens/s (constrained = {:.2}x) |",
        constrained / free
    );
    println!("| same call with llama.cpp's grammar sampler in the chain (plain loop) | {:.1} tokens/s ({:.2}x unconstrained) |", chained, chained / free);
    println!("| time to first token, {question_tokens} new tokens (question and chat markup) after a {sheet_tokens}-token cached fact sheet | {:.1} ms |", median(cached));
    if let Some(peer_ttft_ms) = peer_ttft_ms {
        println!("| `llama-bench -p {question_tokens} -n 0 -d {sheet_tokens}`: the same tokens' evaluation alone, no sampling | {peer_ttft_ms:.1} ms |");
    }
    println!("| same, whole prompt evaluated (empty cache) | {:.1} ms |", median(full));
    println!("\nTool call produced: `{}{call}`", tools::CALL_PREFIX);
    Ok(())
}

/// Fact lines of invented production lines until the sheet has about
/// `tokens` tokens.
fn synthetic_fact_sheet(engine: &Engine, tokens: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for n in 0.. {
        let line = format!(
            "line{} conveyor {:02} motor current: {}.{} A, {}.{} A below high limit 15 A, stable",
            n % 3 + 1,
            n,
            9 + n % 5,
            n % 10,
            5 - n % 5,
            9 - n % 10
        );
        lines.push(line);
        if engine.token_count(&system_prompt(&lines)) >= tokens {
            break;
        }
    }
    lines
}

fn prompt(engine: &Engine, system: &str, question: &str) -> Result<String, slm::engine::EngineError> {
    engine.chat_prompt(&[ChatTurn { role: "system", content: system }, ChatTurn { role: "user", content: question }])
}

/// llama.cpp's own `llama-bench`, as `scripts/build-llama-reference.sh`
/// builds it, run on the engine's model with the profile's threads.
struct LlamaBench {
    binary: PathBuf,
    model: PathBuf,
    threads: u32,
    batch: u32,
    flash: String,
}

impl LlamaBench {
    fn find(model: &std::path::Path, profile: &HardwareProfile) -> Option<Self> {
        let binary = repo_path("target/llama-reference/build/bin/llama-bench");
        binary.exists().then(|| Self {
            binary,
            model: model.to_owned(),
            threads: profile.engine.threads,
            batch: profile.engine.batch_size,
            flash: format!("{:?}", profile.engine.flash_attention).to_lowercase(),
        })
    }

    /// Mean tokens/s of one test: `prompt` tokens read or `generate` tokens
    /// written, after `depth` tokens already in the context (3 repetitions).
    fn tokens_per_second(&self, prompt: usize, generate: usize, depth: usize) -> anyhow::Result<f64> {
        // Our OpenMP threads may still spin from the last run: let them sleep first.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let output = std::process::Command::new(&self.binary)
            .arg("-m")
            .arg(&self.model)
            .args(["-t", &self.threads.to_string(), "-b", &self.batch.to_string(), "-ub", &self.batch.to_string()])
            .args(["-p", &prompt.to_string(), "-n", &generate.to_string(), "-d", &depth.to_string()])
            .args(["-fa", &self.flash, "-r", "3", "-o", "json"])
            .output()?;
        anyhow::ensure!(output.status.success(), "llama-bench failed: {}", String::from_utf8_lossy(&output.stderr));
        let results: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        results[0]["avg_ts"].as_f64().ok_or_else(|| anyhow::anyhow!("llama-bench printed no avg_ts"))
    }
}
