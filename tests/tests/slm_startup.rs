//! The `slm` binary refuses a damaged model at start with a message that
//! says what is wrong, before it connects to dora and before llama.cpp reads
//! the file.

use std::process::Command;

use shopfloor_dataflow_tests::{repo_root, scratch_dir};

fn start_slm(model: &std::path::Path) -> anyhow::Result<(bool, String)> {
    let output = Command::new(repo_root().join("target/release/slm"))
        .env("SLM_MODEL_PATH", model)
        .env("SLM_PROFILE", repo_root().join("hw-profiles/generic-x86-2core.toml"))
        .output()?;
    Ok((output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned()))
}

#[test]
fn a_truncated_or_foreign_model_file_stops_the_node_with_a_clear_error() -> anyhow::Result<()> {
    let dir = scratch_dir("slm-startup");
    let model = std::fs::read(repo_root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf"))?;
    let truncated = dir.join("truncated.gguf");
    std::fs::write(&truncated, &model[..model.len() / 3])?;
    let (ok, stderr) = start_slm(&truncated)?;
    assert!(!ok, "started with a truncated model");
    assert!(stderr.contains("is truncated") && stderr.contains("copy it again"), "{stderr}");

    let pointer = dir.join("pointer.gguf");
    std::fs::write(&pointer, "version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n")?;
    let (ok, stderr) = start_slm(&pointer)?;
    assert!(!ok, "started with a text file");
    assert!(stderr.contains("is not a GGUF model file"), "{stderr}");
    Ok(())
}
