//! The `slm` node (dora testing mode) refuses a damaged model at start with
//! a message that says what is wrong, before llama.cpp reads the file;
//! `shopfloor model check|quantize|evaluate` and the node's evaluation gate.

use std::path::Path;

use shopfloor_dataflow_tests::node::TestNode;
use shopfloor_dataflow_tests::{repo_root, scratch_dir, shopfloor};

/// Starts the `slm` node in dora's testing mode with only a `Stop` after a
/// few seconds; whether it ended cleanly, and its log.
fn start_node(envs: &[(&str, String)], scratch: &str) -> anyhow::Result<(bool, String)> {
    let mut node = TestNode::start("slm", envs, 5.0, scratch)?;
    let (log, clean) = node.wait()?;
    Ok((clean, log))
}

fn start_slm(model: &Path) -> anyhow::Result<(bool, String)> {
    let envs = [
        ("SLM_MODEL_PATH", model.display().to_string()),
        ("SLM_PROFILE", repo_root().join("hw-profiles/generic-x86-2core.toml").display().to_string()),
    ];
    start_node(&envs, "slm-startup-node")
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

fn profile_check(profile: &Path) -> anyhow::Result<(bool, String)> {
    let output = shopfloor()?.args(["model", "check"]).arg(profile).output()?;
    Ok((output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned()))
}

/// `shopfloor model check` passes every shipped profile with the installed model
/// (file, SHA-256 and memory), and fails one whose SHA-256 does not match.
#[test]
fn profile_check_verifies_the_model_and_the_memory_arithmetic() -> anyhow::Result<()> {
    for name in
        ["generic-x86-2core", "raspberry-pi5-8gb", "jetson-orin-nano-8gb", "x86-nvidia-gpu", "intel-core-ultra-npu"]
    {
        let (ok, report) = profile_check(&repo_root().join(format!("hw-profiles/{name}.toml")))?;
        assert!(ok, "{name}:\n{report}");
        assert!(
            report.contains("SHA-256 matches") && report.contains("— fits") && report.contains("loads: "),
            "{report}"
        );
    }
    let dir = scratch_dir("profile-check");
    let shipped = std::fs::read_to_string(repo_root().join("hw-profiles/generic-x86-2core.toml"))?;
    let models = repo_root().join("models");
    let tampered = shipped
        .replace("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", &"0".repeat(64))
        .replace("../models/", &format!("{}/", models.display()))
        .replace("\"lora/", &format!("\"{}/", repo_root().join("hw-profiles/lora").display()));
    let path = dir.join("tampered.toml");
    std::fs::write(&path, tampered)?;
    let (ok, report) = profile_check(&path)?;
    assert!(!ok, "{report}");
    assert!(report.contains("FAIL tier 0") && report.contains("the profile says 0000"), "{report}");
    Ok(())
}

fn model_tool(args: &[&str], profile_dir: &Path) -> anyhow::Result<(bool, String)> {
    let output = shopfloor()?.arg("model").args(args).current_dir(profile_dir).output()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    Ok((output.status.success(), text))
}

fn start_gated(model: &Path, profile: &Path, allow_unevaluated: bool) -> anyhow::Result<(bool, String)> {
    let envs = [
        ("SLM_MODEL_PATH", model.display().to_string()),
        ("SLM_PROFILE", profile.display().to_string()),
        ("SLM_ALLOW_UNEVALUATED", allow_unevaluated.to_string()),
    ];
    start_node(&envs, "slm-gate-node")
}

/// The post-quantization gate end to end: `shopfloor model quantize` makes a
/// ternary TQ1_0 variant (a deliberate over-quantization), `shopfloor model
/// evaluate --record`
/// measures it on a sample of the plant Q&A set and records it as rejected,
/// and the `slm` node then refuses to load it, and refuses a file with no
/// record at all, unless told to skip the gate. The shipped model passes on
/// the shipped profile's record (the node loads it and stops cleanly).
#[test]
fn model_gate_rejects_an_over_quantized_variant_and_unevaluated_files() -> anyhow::Result<()> {
    let dir = scratch_dir("slm-gate");
    let source = repo_root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let (ok, text) = model_tool(&["quantize", &source.display().to_string(), "variants", "TQ1_0"], &dir)?;
    assert!(ok, "{text}");
    let ternary = dir.join("variants/SmolLM2-135M-Instruct.TQ1_0.gguf");
    let profile = dir.join("profile.toml");
    std::fs::write(
        &profile,
        std::fs::read_to_string(repo_root().join("hw-profiles/generic-x86-2core.toml"))?
            .replace("../models/", &format!("{}/", repo_root().join("models").display()))
            .replace("\"lora/", &format!("\"{}/", repo_root().join("hw-profiles/lora").display())),
    )?;

    let qa = repo_root().join("tests/fixtures/plant-qa.json");
    let (ok, table) = model_tool(
        &[
            "evaluate",
            "profile.toml",
            "--qa",
            &qa.display().to_string(),
            "--sample",
            "6",
            "--record",
            "variants/SmolLM2-135M-Instruct.TQ1_0.gguf",
        ],
        &dir,
    )?;
    eprintln!("{table}");
    assert!(!ok, "a rejected variant makes evaluate exit non-zero");
    assert!(table.contains("| SmolLM2-135M-Instruct.TQ1_0 |") && table.contains("REJECTED (below 0.50)"), "{table}");
    let recorded = std::fs::read_to_string(&profile)?;
    assert!(
        recorded.contains("model = \"SmolLM2-135M-Instruct.TQ1_0\"") && recorded.contains("passed = false"),
        "{recorded}"
    );

    let (clean, refused) = start_gated(&ternary, &profile, false)?;
    assert!(
        !clean && refused.contains("failed its evaluation") && refused.contains("below the floor 0.500"),
        "{refused}"
    );
    let unevaluated = dir.join("variants/SmolLM2-135M-Instruct.F16.gguf");
    let (clean, refused) = start_gated(&unevaluated, &profile, false)?;
    assert!(
        !clean && refused.contains("has no evaluation record") && refused.contains("SLM_ALLOW_UNEVALUATED"),
        "{refused}"
    );
    for (model, allow) in [(&ternary, true), (&source, false)] {
        let (clean, passed) = start_gated(model, &profile, allow)?;
        assert!(!passed.contains("failed its evaluation") && !passed.contains("no evaluation record"), "{passed}");
        assert!(clean && passed.contains("model loaded"), "got past the gate and loaded the model: {passed}");
    }
    Ok(())
}
