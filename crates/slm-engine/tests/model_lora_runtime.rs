//! An adapter loaded, switched on and off between answers on the real
//! SmolLM2-135M. Loading takes the model alone (`&mut`), so the engine
//! drops and rebuilds its context around it: before and after, and while
//! it is loaded but off, the base model's distribution. The adapter is a small random one
//! written by tests/python/make_lora_adapter.py (the `gguf` package of
//! .venv). Runs in the serial test group.

use std::path::{Path, PathBuf};
use std::process::Command;

use slm_engine::profile::HardwareProfile;
use slm_engine::{Engine, EngineError};

const PROMPT: &str = "<|im_start|>user\nWhat does a spindle do?<|im_end|>\n<|im_start|>assistant\n";
const MODEL: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

fn random_adapter(name: &str, seed: u32) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("engine-lora-{name}.gguf"));
    let status = Command::new(repo_path(".venv/bin/python"))
        .arg(repo_path("tests/python/make_lora_adapter.py"))
        .arg(repo_path(MODEL))
        .arg(&out)
        .args(["--rank", "4", "--alpha", "8", "--seed", &seed.to_string()])
        .status()
        .expect("python from .venv (scripts/test.sh installs it with gguf)");
    assert!(status.success(), "make_lora_adapter.py failed");
    out
}

fn total_variation(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / 2.0
}

#[test]
fn model_lora_loads_and_unloads_between_answers() {
    let mut profile = HardwareProfile::load(&repo_path("hw-profiles/generic-x86-2core.toml")).unwrap();
    // The bare model: the shipped plant-qa adapter is left out.
    profile.lora.clear();
    let mut engine = Engine::load(&repo_path(MODEL), &profile).expect("model loads");
    assert!(engine.lora_names().is_empty());

    // Before: the base model.
    assert!(engine.generate(PROMPT, 24).unwrap().tokens > 0);
    let base = engine.next_token_probabilities(PROMPT).unwrap();

    // Loaded at run time (the context is rebuilt around it), still off: the
    // base distribution (llama.cpp may compute it in another order now that
    // the model has an adapter registered, so "the same" is within 0.005).
    engine.load_lora("random", &random_adapter("random", 7), 1.0).unwrap();
    assert_eq!((engine.lora_names(), engine.active_lora()), (vec!["random"], None));
    assert!(engine.generate(PROMPT, 24).unwrap().tokens > 0);
    let loaded_off = engine.next_token_probabilities(PROMPT).unwrap();
    let drift = total_variation(&base, &loaded_off);
    assert!(drift < 0.005, "loading an adapter that is off moved the distribution: {drift}");

    // With: the adapter moves the distribution and the engine still answers.
    engine.set_lora(Some("random"), 1.0).unwrap();
    let adapted = engine.next_token_probabilities(PROMPT).unwrap();
    assert!(engine.generate(PROMPT, 24).unwrap().tokens > 0, "the adapted model generated nothing");
    let moved = total_variation(&loaded_off, &adapted);
    assert!(moved > 0.02, "the adapter did not move the distribution: {moved}");

    // A second adapter loaded while the first is on: the first stays on,
    // applied again to the rebuilt context.
    engine.load_lora("second", &random_adapter("second", 11), 1.0).unwrap();
    assert_eq!(engine.active_lora(), Some(("random", 1.0)));
    let still = total_variation(&adapted, &engine.next_token_probabilities(PROMPT).unwrap());
    assert!(still < 0.005, "the active adapter was not applied again after the rebuild: {still}");

    // Refused adapters (a missing file, a model instead of an adapter) change nothing.
    let missing = engine.load_lora("gone", Path::new("/nonexistent/a.gguf"), 1.0).unwrap_err();
    assert!(matches!(missing, EngineError::LoraMissing { .. }), "{missing}");
    let refused = engine.load_lora("model", &repo_path(MODEL), 1.0).unwrap_err();
    assert!(matches!(refused, EngineError::LoraLoad { .. }), "{refused}");
    assert_eq!(engine.active_lora(), Some(("random", 1.0)));
    assert!(engine.generate(PROMPT, 24).unwrap().tokens > 0);

    // After: off again, the base distribution.
    engine.set_lora(None, 0.0).unwrap();
    let off = engine.next_token_probabilities(PROMPT).unwrap();
    let back = total_variation(&loaded_off, &off);
    assert!(back < 0.005, "switching off did not give the base distribution back: {back}");
    assert!(engine.generate(PROMPT, 24).unwrap().tokens > 0);
}

#[test]
fn the_engine_moves_between_threads() {
    fn is_send<T: Send>() {}
    is_send::<Engine>();
    is_send::<slm_engine::LoadedModel>();
}
