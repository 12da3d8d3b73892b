//! The tuned model's training data (`shopfloor model train`'s teacher) with
//! the real SmolLM2-135M chat template: prompts are the pipeline's own,
//! targets state only what their prompt states, and nothing comes from a
//! held-out kind. A teacher that leaked a number the prompt does not hold
//! (the pipeline's fallback with its limit clause), or a generator that
//! drew held-out plants, fails here. Runs in the serial test group.

use std::path::PathBuf;

use plant_gen::Split;
use shopfloor_cli::model::train::data::{examples, Source};
use slm::grounding::states_only_known_numbers;
use slm_engine::profile::HardwareProfile;
use slm_engine::Engine;

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

#[test]
fn model_training_examples_state_only_what_their_prompt_states() {
    let mut profile = HardwareProfile::load(&repo_path("hw-profiles/generic-x86-2core.toml")).expect("profile");
    profile.lora.clear();
    let model = repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(model.exists(), "{} is missing: run scripts/test.sh, which installs it", model.display());
    let engine = Engine::load(&model, &profile).expect("model loads");
    let plants = plant_gen::training_plants(1);
    let (made, report) = examples(&engine, &plants);

    // Measured 2026-12-05: 1,346 examples from 4 variants, about a quarter of that from one.
    assert!(made.len() >= 250, "{} examples\n{}", made.len(), report.markdown(made.len()));
    let held_out: Vec<String> = [Split::SecondHeldOut, Split::SixthDevelopment]
        .iter()
        .flat_map(|split| split.kinds())
        .map(|k| format!("{}-", k.name))
        .collect();
    for example in &made {
        assert!(!held_out.iter().any(|kind| example.plant.starts_with(kind)), "{}", example.plant);
        assert!(
            example.prompt.starts_with("<|im_start|>system\n") && example.prompt.ends_with("<|im_start|>assistant\n"),
            "not the chat template's prompt: {:?}",
            example.prompt
        );
        assert!(
            states_only_known_numbers(&example.completion, std::slice::from_ref(&example.prompt)),
            "{:?} states a number its prompt does not hold:\n{}",
            example.completion,
            example.prompt
        );
        // "No data" is taught for the questions about what the plant lacks, and only for them.
        let unknown = example.class == "unknown";
        assert_eq!(example.source, if unknown { Source::NoDataSentence } else { Source::FactSentence }, "{example:?}");
        if unknown {
            assert!(example.prompt.contains("no data on: ") && example.completion.contains("no data"), "{example:?}");
        }
    }
    for class in ["value", "limit", "trend", "state", "unknown"] {
        assert!(report.by_class.get(class).is_some_and(|&n| n > 0), "no {class} examples: {report:?}");
    }
    for language in ["en", "de", "es", "fr"] {
        assert!(report.by_language.get(language).is_some_and(|&n| n > 0), "no {language} examples: {report:?}");
    }
    // Refusals of writes and empty questions are code's to answer: no example teaches them.
    assert!(!report.by_class.contains_key("write") && !report.by_class.contains_key("empty"), "{report:?}");
    assert!(report.skipped.values().sum::<usize>() > 0);
    assert_eq!(report.questions, made.len() + report.skipped.values().sum::<usize>());
}

/// The committed adapter reproduces: `shopfloor model train --data-only`
/// with the shipped settings writes exactly the data its record names. A
/// rule change that alters what the teacher says (the matcher, the fact
/// sentences, the generator of the development plants) fails here, so that
/// the adapter is trained again, or the change kept out of the teacher.
#[test]
fn model_the_committed_adapters_training_data_is_what_the_teacher_makes_now() {
    use sha2::{Digest, Sha256};
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("hw-profiles/lora/smollm2-plant-qa.training.json")).expect("the record"),
    )
    .expect("the record is JSON");
    let recorded = record["data"]["sha256"].as_str().expect("the record names its data's SHA-256");
    let out = tempfile::tempdir().expect("a folder");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_shopfloor"))
        .current_dir(repo_path(""))
        .args(["model", "train", "hw-profiles/generic-x86-2core.toml", "--data-only", "--out"])
        .arg(out.path())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("shopfloor runs");
    assert!(status.success(), "shopfloor model train --data-only failed");
    let data = std::fs::read(out.path().join("train.jsonl")).expect("the data");
    let made: String = Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        made, recorded,
        "the teacher's data differs from what the committed adapter was trained on: run scripts/train.sh \
         and commit the adapter with its record (docs/slm.md), or leave the teacher's output as it was"
    );
}
