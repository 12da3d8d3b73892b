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

fn profile_check(profile: &std::path::Path) -> anyhow::Result<(bool, String)> {
    let output = Command::new(repo_root().join("target/release/slm")).args(["profile", "check"]).arg(profile).output()?;
    Ok((output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned()))
}

/// `slm profile check` passes every shipped profile with the installed model
/// (file, SHA-256 and memory), and fails one whose SHA-256 does not match.
#[test]
fn profile_check_verifies_the_model_and_the_memory_arithmetic() -> anyhow::Result<()> {
    for name in ["generic-x86-2core", "raspberry-pi5-8gb", "jetson-orin-nano-8gb", "x86-nvidia-gpu"] {
        let (ok, report) = profile_check(&repo_root().join(format!("hw-profiles/{name}.toml")))?;
        assert!(ok, "{name}:\n{report}");
        assert!(report.contains("SHA-256 matches") && report.contains("— fits") && report.contains("loads: "), "{report}");
    }
    let dir = scratch_dir("profile-check");
    let shipped = std::fs::read_to_string(repo_root().join("hw-profiles/generic-x86-2core.toml"))?;
    let models = repo_root().join("models");
    let tampered = shipped
        .replace("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", &"0".repeat(64))
        .replace("../models/", &format!("{}/", models.display()));
    let path = dir.join("tampered.toml");
    std::fs::write(&path, tampered)?;
    let (ok, report) = profile_check(&path)?;
    assert!(!ok, "{report}");
    assert!(report.contains("FAIL tier 0") && report.contains("the profile says 0000"), "{report}");
    Ok(())
}
