//! `shopfloor model quantize` on the installed model: every variant asked for is a
//! complete GGUF file of the asked type that llama.cpp loads and generates
//! from. Runs in the serial test group (see .config/nextest.toml).

use std::path::PathBuf;

use slm_engine::model_file;
use slm_engine::profile::HardwareProfile;
use slm_engine::quantize::{make_variants, QuantType};
use slm_engine::Engine;

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

#[test]
fn model_quantize_makes_variants_that_load_and_generate() {
    let source = repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(source.exists(), "{} is missing: run scripts/test.sh, which installs it", source.display());
    let out = repo_path("target/test-scratch").join(format!("quantize-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let types = [QuantType::Q8_0, QuantType::Q4_0, QuantType::Q2K];
    let outcome = make_variants(&source, &out, &types, 2).expect("variants are made");
    assert!(outcome.source_quantized.is_some(), "the PyPI model is Q4_1, so the accuracy warning applies");
    assert_eq!(outcome.variants.iter().map(|v| v.quant).collect::<Vec<_>>(), types);
    // llama.cpp's ftype numbers: F16 1, Q8_0 7, Q4_0 2, Q2_K 10.
    let expected_file_types = [
        (outcome.f16.path.clone(), 1),
        (outcome.variants[0].path.clone(), 7),
        (outcome.variants[1].path.clone(), 2),
        (outcome.variants[2].path.clone(), 10),
    ];
    for (path, file_type) in expected_file_types {
        assert_eq!(model_file::check(&path).unwrap().file_type, Some(file_type), "{}", path.display());
    }
    assert!(outcome.variants[0].bytes > outcome.variants[2].bytes, "Q8_0 is larger than Q2_K");

    let profile = HardwareProfile::load(&repo_path("hw-profiles/generic-x86-2core.toml")).unwrap();
    for variant in &outcome.variants {
        let mut engine =
            Engine::load(&variant.path, &profile).unwrap_or_else(|e| panic!("{}: {e}", variant.path.display()));
        let generation = engine.generate("The spindle temperature is", 4).unwrap();
        assert!(generation.tokens > 0, "{} generated nothing", variant.quant.name());
    }
    let _ = std::fs::remove_dir_all(&out);
}
