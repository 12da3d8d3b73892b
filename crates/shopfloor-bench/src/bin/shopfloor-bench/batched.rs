//! Continuous batching in the engine: the same answers written one after
//! another (`Engine::generate_with`) and with 1, 2, 4 and 8 sequences decoded
//! together (`Engine::start` / `Engine::step`), in one run on one model and
//! profile. Each answer is a question over a small fact sheet that sequence 0
//! holds cached, as in the node; the next question joins as soon as a
//! sequence is free. Reports answers/s, generated tokens/s, and p50/p95 of
//! each answer's time from its start to its last token.
//!
//! `target/release/shopfloor-bench batched` (prints a markdown section); the
//! model is the demo's unless `SLM_MODEL_PATH` names another.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use slm::engine::{ChatTurn, Engine, GenerateOptions, Generation};
use slm::grounding::system_prompt;
use slm_engine::profile::HardwareProfile;

const ANSWERS: usize = 48;
const MAX_TOKENS: u32 = 48;
const LONG_TOKENS: u32 = 128;
const LEVELS: [u32; 4] = [1, 2, 4, 8];
const FACTS: &[&str] = &[
    "spindle_speed = 1450 rpm",
    "spindle_temperature = 72.4 °C (high limit 85 °C)",
    "conveyor_speed = 0.8 m/s",
    "part_count = 1289",
    "machine_state = RUNNING",
    "vibration = 2.1 mm/s (high limit 7.1 mm/s)",
];
const QUESTIONS: &[&str] = &[
    "How fast is the spindle turning?",
    "What is the spindle temperature?",
    "How many parts have been made?",
    "Is the machine running?",
    "What is the vibration level?",
    "How fast does the conveyor run?",
];

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

fn percentile(values: &[f64], q: f64) -> f64 {
    shopfloor_node::stats::percentile(values, q).unwrap_or(f64::NAN)
}

struct Row {
    how: String,
    seconds: f64,
    tokens: usize,
    answer_ms: Vec<f64>,
}

pub fn run() -> anyhow::Result<()> {
    let model_path = std::env::var_os("SLM_MODEL_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    let profile = HardwareProfile::load(&repo_path("hw-profiles/generic-x86-2core.toml"))?;
    let model_name = model_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let sheet: Vec<String> = FACTS.iter().map(|f| (*f).to_owned()).collect();
    let system = system_prompt(&sheet);
    let options = GenerateOptions::line(MAX_TOKENS);
    let mut rows = Vec::new();

    // One after another, through the single-sequence path.
    let mut engine = Engine::load(&model_path, &profile)?;
    let prompts = prompts(&engine, &system)?;
    let prefix = engine.chat_prefix(&system)?;
    engine.prefill(&prefix)?;
    let started = Instant::now();
    let mut generations = Vec::new();
    for prompt in &prompts {
        generations.push(engine.generate_with(prompt, options)?);
        engine.prefill(&prefix)?;
    }
    rows.push(row("one after another (`generate_with`)".into(), started, &generations));
    drop(engine);

    for parallel in LEVELS {
        let mut profile = profile.clone();
        profile.engine.parallel = parallel;
        let mut engine = Engine::load(&model_path, &profile)?;
        engine.prefill(&prefix)?;
        let started = Instant::now();
        let mut next = prompts.iter();
        let mut done: HashMap<_, Generation> = HashMap::new();
        let mut running = 0;
        loop {
            while running < parallel as usize {
                let Some(prompt) = next.next() else { break };
                engine.start(prompt, options, Instant::now())?;
                running += 1;
            }
            if running == 0 {
                break;
            }
            for (ticket, result) in engine.step() {
                done.insert(ticket, result?);
                running -= 1;
            }
        }
        let generations: Vec<Generation> = done.into_values().collect();
        rows.push(row(format!("{parallel} sequences together (`start`/`step`)"), started, &generations));
    }

    // Decoding alone: k sequences each writing LONG_TOKENS tokens at once.
    let long_turns =
        [ChatTurn { role: "user", content: "Describe how a CNC milling machine works, step by step, in detail." }];
    let mut decode_rows = Vec::new();
    for parallel in LEVELS {
        let mut profile = profile.clone();
        profile.engine.parallel = parallel;
        let mut engine = Engine::load(&model_path, &profile)?;
        let prompt = engine.chat_prompt(&long_turns)?;
        let long = GenerateOptions { max_tokens: LONG_TOKENS, stop_at_line_break: false, grammar: None };
        for _ in 0..parallel {
            engine.start(&prompt, long, Instant::now())?;
        }
        // The first step reads the prompts; time the steps after it.
        let mut finished = engine.step();
        let started = Instant::now();
        let mut steps = 0usize;
        while engine.sequences_running() > 0 {
            finished.extend(engine.step());
            steps += 1;
        }
        let seconds = started.elapsed().as_secs_f64();
        let mut tokens = 0;
        for (_, generation) in finished {
            tokens += generation?.tokens.saturating_sub(1);
        }
        decode_rows.push((parallel, tokens as f64 / seconds, seconds * 1e3 / steps.max(1) as f64));
    }

    println!("### Continuous batching in the engine ({model_name}, profile `{}`)\n", profile.name);
    println!(
        "{ANSWERS} answers of at most {MAX_TOKENS} tokens (one line) to questions over a cached fact sheet of {} facts; \
         the next question starts as soon as a sequence is free.\n",
        FACTS.len()
    );
    println!("| how | answers/s | generated tokens/s | answer p50 | answer p95 |");
    println!("|---|---|---|---|---|");
    for row in rows {
        let p50 = percentile(&row.answer_ms, 0.5);
        let p95 = percentile(&row.answer_ms, 0.95);
        println!(
            "| {} | {:.2} | {:.1} | {p50:.0} ms | {p95:.0} ms |",
            row.how,
            ANSWERS as f64 / row.seconds,
            row.tokens as f64 / row.seconds
        );
    }
    println!("\nDecoding alone: k sequences each writing {LONG_TOKENS} tokens of one long answer together (the step that reads the prompts not counted).\n");
    println!("| sequences | generated tokens/s | ms per step |");
    println!("|---|---|---|");
    for (parallel, rate, step_ms) in decode_rows {
        println!("| {parallel} | {rate:.1} | {step_ms:.1} |");
    }
    Ok(())
}

fn prompts(engine: &Engine, system: &str) -> anyhow::Result<Vec<String>> {
    (0..ANSWERS)
        .map(|n| {
            let turns = [
                ChatTurn { role: "system", content: system },
                ChatTurn { role: "user", content: QUESTIONS[n % QUESTIONS.len()] },
            ];
            Ok(engine.chat_prompt(&turns)?)
        })
        .collect()
}

fn row(how: String, started: Instant, generations: &[Generation]) -> Row {
    Row {
        how,
        seconds: started.elapsed().as_secs_f64(),
        tokens: generations.iter().map(|g| g.tokens).sum(),
        answer_ms: generations.iter().map(|g| g.total_ms).collect(),
    }
}
