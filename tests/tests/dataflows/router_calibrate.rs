//! `shopfloor router calibrate` on the shipped dataflow: both real model tiers over a
//! sample of the labelled plant Q&A set, replayed through the router's policy.

use shopfloor_dataflow_tests::{repo_root, shopfloor};

#[test]
fn model_calibrate_reports_each_tier_alone_and_routed() -> anyhow::Result<()> {
    let output = shopfloor()?
        .args(["router", "calibrate", "dataflows/plant-assistant.yml", "--sample", "20"])
        .current_dir(repo_root())
        .output()?;
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}\n{}", String::from_utf8_lossy(&output.stderr));
    eprintln!("{report}");
    assert!(report.contains("(11 items)"), "every 20th of 218 items: {report}");
    for row in [
        "| tier nano alone (SmolLM2-135M-Instruct.Q4_1) |",
        "| tier small alone (gemma-3-270m.Q4_K_M) |",
        "| routed, configured (thresholds 0.44 / 0.50) |",
        "| routed, recommended (thresholds ",
    ] {
        assert!(report.contains(row), "no row {row:?}: {report}");
    }
    // Every number cell of the routed row is a number: accuracy, p50, p95.
    let routed = report.lines().find(|l| l.starts_with("| routed, configured")).unwrap_or_default();
    let cells: Vec<&str> = routed.split('|').map(str::trim).collect();
    for cell in &cells[2..5] {
        assert!(cell.parse::<f64>().is_ok(), "{cell:?} in {routed}");
    }
    assert!(
        report.contains("| current_value | current_value |"),
        "the router class of each set class is reported: {report}"
    );
    assert!(report.contains("Youden's J threshold"), "{report}");
    Ok(())
}
