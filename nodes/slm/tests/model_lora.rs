//! LoRA adapters on the real SmolLM2-135M: an adapter (a small random one,
//! written by tests/python/make_lora_adapter.py with the `gguf` package)
//! moves the next-token distribution, and switching it off gives back the
//! base model's output exactly. Runs in the serial test group.

use std::path::{Path, PathBuf};
use std::process::Command;

use slm::engine::{Engine, EngineError};
use slm_engine::profile::HardwareProfile;

const PROMPT: &str = "<|im_start|>user\nWhat does a spindle do?<|im_end|>\n<|im_start|>assistant\n";

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

/// A random rank-4 adapter for the installed model, under the test's scratch folder.
fn random_adapter(name: &str, seed: u32) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lora-{name}.gguf"));
    let status = Command::new(repo_path(".venv/bin/python"))
        .arg(repo_path("tests/python/make_lora_adapter.py"))
        .arg(repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf"))
        .arg(&out)
        .args(["--rank", "4", "--alpha", "8", "--seed", &seed.to_string()])
        .status()
        .expect("python from .venv (scripts/test.sh installs it with gguf)");
    assert!(status.success(), "make_lora_adapter.py failed");
    out
}

/// `text` without its `[[lora]]` tables.
fn without_lora_tables(text: &str) -> String {
    let mut inside = false;
    let mut kept = String::new();
    for line in text.lines() {
        if line.starts_with('[') {
            inside = line.trim() == "[[lora]]";
        }
        if !inside {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

/// The shipped 2-core profile with `lora` tables in place of its own.
fn profile_with(lora: &str) -> HardwareProfile {
    let path = repo_path("hw-profiles/generic-x86-2core.toml");
    let text = without_lora_tables(&std::fs::read_to_string(&path).expect("profile")) + lora;
    let mut profile = HardwareProfile::parse("lora.toml", &text).expect("profile with lora parses");
    profile.folder = path.parent().expect("folder").to_path_buf();
    profile
}

fn engine(profile: &HardwareProfile) -> Engine {
    Engine::load(&repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf"), profile).expect("model loads")
}

fn total_variation(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / 2.0
}

#[test]
fn model_lora_adapter_moves_the_distribution_and_off_restores_the_base_exactly() {
    let adapter = random_adapter("a", 7);
    let profile = profile_with(&format!(
        "\n[[lora]]\nname = \"random\"\npath = \"{}\"\nscale = 1.0\nat_start = false\n",
        adapter.display()
    ));
    let mut engine = engine(&profile);
    assert_eq!(engine.lora_names(), ["random"]);
    assert_eq!(engine.active_lora(), None, "at_start = false loads the adapter switched off");

    let base = engine.next_token_probabilities(PROMPT).unwrap();
    let base_text = engine.generate(PROMPT, 24).unwrap().text;

    engine.set_lora(Some("random"), 1.0).unwrap();
    let adapted = engine.next_token_probabilities(PROMPT).unwrap();
    let adapted_text = engine.generate(PROMPT, 24).unwrap().text;
    let moved = total_variation(&base, &adapted);
    eprintln!("base {base_text:?}\nadapted {adapted_text:?}\ntotal variation {moved:.4}");
    assert!(moved > 0.02, "the adapter did not move the distribution: {moved}");

    engine.set_lora(Some("random"), 0.25).unwrap();
    let weaker = total_variation(&base, &engine.next_token_probabilities(PROMPT).unwrap());
    assert!(weaker < moved, "scale 0.25 moved it more ({weaker}) than scale 1 ({moved})");

    engine.set_lora(None, 0.0).unwrap();
    assert_eq!(engine.active_lora(), None);
    let restored = engine.next_token_probabilities(PROMPT).unwrap();
    assert!(base == restored, "switching the adapter off did not restore the base distribution bit for bit");
    assert_eq!(engine.generate(PROMPT, 24).unwrap().text, base_text);
}

#[test]
fn model_lora_adapters_load_at_start_and_at_run_time_and_bad_ones_are_refused() {
    let first = random_adapter("first", 7);
    let profile = profile_with(&format!("\n[[lora]]\nname = \"first\"\npath = \"{}\"\nscale = 0.5\n", first.display()));
    let mut engine = engine(&profile);
    assert_eq!(engine.active_lora(), Some(("first", 0.5)), "at_start defaults to on");

    let second = random_adapter("second", 11);
    engine.load_lora("second", &second, 1.0).unwrap();
    assert_eq!(engine.active_lora(), Some(("first", 0.5)), "loading does not switch");
    engine.set_lora(Some("second"), 1.0).unwrap();
    assert_eq!(engine.active_lora(), Some(("second", 1.0)));
    assert!(matches!(engine.set_lora(Some("third"), 1.0), Err(EngineError::LoraUnknown { .. })));

    // Not an adapter (the base model itself), and a missing file: refused with the name.
    let base = repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let err = engine.load_lora("model-not-adapter", &base, 1.0).unwrap_err().to_string();
    assert!(err.contains("model-not-adapter") && err.contains("cannot load"), "{err}");
    let err = engine.load_lora("gone", Path::new("/nonexistent/a.gguf"), 1.0).unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(engine.active_lora(), Some(("second", 1.0)), "a refused adapter changes nothing");
}

#[test]
fn model_lora_adapters_are_checked_against_their_sha256_and_kept_to_their_model() {
    let adapter = random_adapter("checked", 7);
    let wrong = "0".repeat(64);
    let profile = profile_with(&format!(
        "\n[[lora]]\nname = \"checked\"\npath = \"{}\"\nsha256 = \"{wrong}\"\n",
        adapter.display()
    ));
    let err = Engine::load(&repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf"), &profile).err().expect("refused");
    assert!(matches!(err, EngineError::LoraChecksum { .. }), "{err}");
    assert!(err.to_string().contains("checked") && err.to_string().contains(&wrong), "{err}");

    // Made for another model (the profile's tier 1): this model loads without it.
    let profile = profile_with(&format!(
        "\n[[lora]]\nname = \"other\"\npath = \"{}\"\nmodel = \"../models/gemma-3-270m.Q4_K_M.gguf\"\n",
        adapter.display()
    ));
    assert!(engine(&profile).lora_names().is_empty());
    let profile = profile_with(&format!(
        "\n[[lora]]\nname = \"this\"\npath = \"{}\"\nmodel = \"../models/SmolLM2-135M-Instruct.Q4_1.gguf\"\n",
        adapter.display()
    ));
    assert_eq!(engine(&profile).active_lora(), Some(("this", 1.0)));
}
