//! Continuous batching on the real SmolLM2-135M: completions started in
//! sequences of one context and advanced together by `Engine::step`. Runs
//! in the serial test group (llama.cpp's threads spin).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use slm_engine::profile::HardwareProfile;
use slm_engine::{ChatTurn, Engine, EngineError, GenerateOptions, Generation, Ticket};

const MODEL: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
/// The slm node's system turn, written the way its fact sheet is.
const FACTS: &str = "You are the assistant of a CNC machining cell. Answer the operator in one short sentence. \
                     Use only the plant facts below and copy numbers and units exactly as written.\n\n\
                     Plant facts:\n- spindle speed: 1450 rpm\n- spindle temperature: 72.4 °C\n- conveyor speed: 0.8 m/s";
/// The rest of a JSON object after `{` (what the node's JSON answers look like).
const GRAMMAR: &str = r#"root ::= " \"rpm\": " [0-9]+ "}""#;

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

fn engine(parallel: u32) -> Engine {
    let mut profile = HardwareProfile::load(&repo_path("hw-profiles/generic-x86-2core.toml")).unwrap();
    profile.engine.parallel = parallel;
    // Batching of the bare model: the shipped plant-qa adapter was trained on
    // prompts with the asked fact alone, not on this three-fact sheet.
    profile.lora.clear();
    Engine::load(&repo_path(MODEL), &profile).expect("model loads")
}

fn prompt(engine: &Engine, question: &str) -> String {
    let turns = [ChatTurn { role: "system", content: FACTS }, ChatTurn { role: "user", content: question }];
    engine.chat_prompt(&turns).unwrap()
}

/// Steps until every ticket is reported; returns the results and the steps taken.
fn run_to_end(engine: &mut Engine) -> (BTreeMap<Ticket, Result<Generation, EngineError>>, usize) {
    let mut done = BTreeMap::new();
    let mut steps = 0;
    while engine.sequences_running() > 0 {
        assert!(steps < 1_000, "the completions never finished");
        done.extend(engine.step());
        steps += 1;
    }
    (done, steps)
}

#[test]
fn model_completions_in_one_batch_are_grounded_and_each_has_its_own_confidence() {
    let mut engine = engine(3);
    assert_eq!(engine.parallel(), 3);
    let questions = ["What is the spindle speed?", "What is the spindle temperature?"];
    let prompts: Vec<String> = questions.iter().map(|q| prompt(&engine, q)).collect();
    let json_prompt = prompt(&engine, "Give the spindle speed as JSON.") + "{";
    // The shared start of every prompt, cached in sequence 0 as the node does.
    let prefix = engine.chat_prefix(FACTS).unwrap();
    assert!(engine.prefill(&prefix).unwrap() > 0);

    let started = Instant::now();
    let free = GenerateOptions::line(32);
    let json = GenerateOptions { max_tokens: 16, stop_at_line_break: false, grammar: Some(GRAMMAR) };
    let speed = engine.start(&prompts[0], free, started).unwrap();
    let temperature = engine.start(&prompts[1], free, started).unwrap();
    let constrained = engine.start(&json_prompt, json, started).unwrap();
    assert_eq!(engine.sequences_running(), 3);
    let refused = engine.start(&prompts[0], free, started);
    assert!(matches!(refused, Err(EngineError::NoFreeSequence { parallel: 3 })), "{refused:?}");
    let lora = engine.set_lora(None, 0.0);
    assert!(matches!(lora, Err(EngineError::SequencesRunning { running: 3 })), "{lora:?}");

    let (mut done, steps) = run_to_end(&mut engine);
    let mut take = |ticket| done.remove(&ticket).expect("reported once").expect("completed");
    let (speed, temperature, constrained) = (take(speed), take(temperature), take(constrained));
    assert!(speed.text.contains("1450"), "{speed:?}");
    assert!(temperature.text.contains("72.4"), "{temperature:?}");
    let digits = constrained.text.strip_prefix("\"rpm\": ").and_then(|rest| rest.strip_suffix('}'));
    assert!(digits.is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())), "{constrained:?}");
    // Decoded together: far fewer steps than tokens generated one by one.
    let tokens = speed.tokens + temperature.tokens + constrained.tokens;
    assert!(steps < tokens, "{steps} steps for {tokens} tokens: not batched");
    for generation in [&speed, &temperature, &constrained] {
        // The fact sheet came from sequence 0: only the question's tokens were read.
        assert!(generation.prompt_tokens_evaluated * 3 < generation.prompt_tokens, "{generation:?}");
        assert!(generation.confidence > 0.0 && generation.confidence <= 1.0, "{generation:?}");
    }
    assert_ne!(speed.confidence, temperature.confidence, "each sequence measures its own tokens");
}

#[test]
fn model_a_finished_sequence_is_taken_by_the_next_completion_while_others_run() {
    let mut engine = engine(2);
    let short = prompt(&engine, "What is the conveyor speed?");
    let long = prompt(&engine, "Describe the spindle in detail.");
    let started = Instant::now();
    let first = engine.start(&short, GenerateOptions::line(4), started).unwrap();
    let second = engine
        .start(&long, GenerateOptions { max_tokens: 40, stop_at_line_break: false, grammar: None }, started)
        .unwrap();
    let mut finished = BTreeMap::new();
    while !finished.contains_key(&first) {
        finished.extend(engine.step());
    }
    assert!(!finished.contains_key(&second), "the longer completion still runs");
    let third = engine.start(&short, GenerateOptions::line(4), started).expect("the freed sequence is taken");
    let (rest, _) = run_to_end(&mut engine);
    finished.extend(rest);
    for ticket in [first, second, third] {
        let generation = finished[&ticket].as_ref().expect("completed");
        assert!(generation.tokens > 0, "{generation:?}");
    }
    // The freed sequence kept the first completion's cells: the same prompt
    // again reads only its last token (for the logits).
    let again = finished[&third].as_ref().expect("completed");
    assert_eq!(again.prompt_tokens_evaluated, 1, "{again:?}");
    assert_eq!(engine.sequences_running(), 0);

    // Clearing the cache under a running completion loses it, and says so.
    let lost = engine.start(&short, GenerateOptions::line(4), started).unwrap();
    engine.clear_cache();
    let reported = engine.step();
    assert!(
        matches!(reported.as_slice(), [(ticket, Err(EngineError::SequenceLost))] if *ticket == lost),
        "{reported:?}"
    );
}

#[test]
fn model_a_kept_sequence_gives_way_when_the_cells_run_out() {
    let mut profile = HardwareProfile::load(&repo_path("hw-profiles/generic-x86-2core.toml")).unwrap();
    profile.engine.parallel = 1;
    profile.engine.context_size = 256; // one window of 256 cells in all
    let mut engine = Engine::load(&repo_path(MODEL), &profile).expect("model loads");
    let question = prompt(&engine, "What is the spindle speed?");
    let ticket = engine.start(&question, GenerateOptions::line(8), Instant::now()).unwrap();
    let (done, _) = run_to_end(&mut engine);
    let kept = done[&ticket].as_ref().expect("completed");
    // A prefix that does not fit beside the kept cells (nothing in common with them).
    let lines: Vec<String> = (0..14).map(|n| format!("- conveyor {n} motor current: {}.{n} A", 9 + n % 5)).collect();
    let long = format!("Shift log of line 2.\n{}\n", lines.join("\n"));
    let long_tokens = engine.token_count(&long);
    assert!(kept.prompt_tokens + kept.tokens + long_tokens > 256 && long_tokens < 256, "{long_tokens} {kept:?}");
    assert_eq!(engine.prefill(&long).expect("the kept sequence made room"), long_tokens);
    // It is gone: the question is read again in full, save what sequence 0 shares.
    let ticket = engine.start(&question, GenerateOptions::line(8), Instant::now()).unwrap();
    let (done, _) = run_to_end(&mut engine);
    let again = done[&ticket].as_ref().expect("completed");
    assert!(again.prompt_tokens_evaluated + 2 >= again.prompt_tokens, "{again:?}");
}

#[test]
fn model_more_kinds_of_question_than_sequences_each_keep_their_cells() {
    let mut engine = engine(2);
    let questions = ["What is the spindle speed?", "What is the spindle temperature?", "What is the conveyor speed?"];
    let prompts: Vec<String> = questions.iter().map(|q| prompt(&engine, q)).collect();
    let ask = |engine: &mut Engine, prompt: &str| {
        let ticket = engine.start(prompt, GenerateOptions::line(8), Instant::now()).unwrap();
        let (mut done, _) = run_to_end(engine);
        done.remove(&ticket).expect("reported").expect("completed")
    };
    for prompt in &prompts {
        assert!(ask(&mut engine, prompt).prompt_tokens_evaluated > 1);
    }
    // Three kinds asked on a profile of two sequences: each is still kept.
    for prompt in &prompts {
        let again = ask(&mut engine, prompt);
        assert_eq!(again.prompt_tokens_evaluated, 1, "{again:?}");
    }
}
