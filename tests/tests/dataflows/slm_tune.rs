//! `shopfloor model tune` on this machine: measures the bandwidth ceiling and every
//! knob combination with the real model, and `--write` puts the fastest
//! into the profile (a scratch copy of the shipped one), keeping its comments.

use shopfloor_dataflow_tests::{repo_root, scratch_dir, shopfloor};
use slm_engine::profile::HardwareProfile;

#[test]
fn model_tune_measures_the_ceiling_and_writes_the_fastest_knobs() -> anyhow::Result<()> {
    let dir = scratch_dir("slm-tune");
    let profile = dir.join("profile.toml");
    let shipped = std::fs::read_to_string(repo_root().join("hw-profiles/generic-x86-2core.toml"))?;
    std::fs::write(
        &profile,
        shipped
            .replace("../models/", &format!("{}/", repo_root().join("models").display()))
            .replace("\"lora/", &format!("\"{}/", repo_root().join("hw-profiles/lora").display())),
    )?;
    let output = shopfloor()?
        .args(["model", "tune", &profile.display().to_string(), "--tokens", "16", "--rounds", "1", "--write"])
        .output()?;
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}\n{}", String::from_utf8_lossy(&output.stderr));
    eprintln!("{report}");
    assert!(
        report.contains("GB/s -> ceiling") && report.contains("(profile as it was)") && report.contains("fastest: "),
        "{report}"
    );
    assert_eq!(report.matches("| threads ").count(), 13, "the profile's knobs plus 12 combinations: {report}");
    // Every weight is read once per token, so generation cannot run much
    // faster than the measured read bandwidth allows. A ceiling far below
    // the speeds measured means the bandwidth measurement itself is slow
    // (it once was, compiled without optimisation: 1 GB/s, 500 % of it).
    for row in report.lines().filter(|l| l.starts_with("| threads ")) {
        let percent = row.split('|').nth(3).and_then(|c| c.trim().trim_end_matches('%').parse::<f64>().ok());
        assert!(percent.is_some_and(|p| p < 200.0), "generation far above the bandwidth ceiling: {row}\n{report}");
    }

    let written = std::fs::read_to_string(&profile)?;
    assert!(
        written.contains("# slm tune ") && written.contains("% of the ") && written.contains("bandwidth ceiling"),
        "{written}"
    );
    assert!(written.contains("# llama.cpp CPU backend; no cargo feature needed"), "other comments stay: {written}");
    let tuned = HardwareProfile::load(&profile)?;
    let best = report.lines().find_map(|l| l.strip_prefix("fastest: ")).unwrap_or_default();
    assert!(
        best.starts_with(&format!(
            "threads {}, flash attention {}",
            tuned.engine.threads,
            format!("{:?}", tuned.engine.flash_attention).to_lowercase()
        )),
        "{best} vs {:?}",
        tuned.engine
    );
    Ok(())
}
