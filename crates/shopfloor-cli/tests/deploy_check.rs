//! `shopfloor deploy check` as a command: the built binary on the
//! distributed dataflow and the shipped inventories, and on inventories
//! made wrong on purpose (exit status 0 fits, 1 does not fit, 2 bad input).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DATAFLOW: &str = "dataflows/plant-distributed.yml";
const SHIPPED: &str = "dataflows/plant-distributed.machines.toml";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `shopfloor deploy ARGS` in the repository root.
fn deploy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shopfloor"))
        .arg("deploy")
        .args(args)
        .current_dir(repo())
        .output()
        .expect("the shopfloor binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A scratch folder of this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shopfloor-deploy-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// An inventory in `dir` listing `machines` as (id, profile path).
fn inventory(dir: &Path, machines: &[(&str, &str)], extra: &str) -> PathBuf {
    let mut toml = String::new();
    for (id, profile) in machines {
        toml.push_str(&format!(
            "[[machines]]\nid = \"{id}\"\nprofile = \"{profile}\"\nlabels = {{ gpu = \"false\" }}\n{extra}\n"
        ));
    }
    let path = dir.join("machines.toml");
    std::fs::write(&path, toml).expect("write the inventory");
    path
}

fn generic_profile() -> String {
    repo().join("hw-profiles/generic-x86-2core.toml").display().to_string()
}

/// The shipped inventory holds the distributed dataflow on three
/// development-class machines: every machine is listed with its nodes and fits.
#[test]
fn the_distributed_dataflow_fits_the_shipped_inventory() {
    let out = deploy(&["check", DATAFLOW, "--machines", SHIPPED]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for machine in ["gateway", "station1", "edge-server"] {
        assert!(
            stdout.contains(&format!("machine {machine}: profile generic-x86-2core")),
            "{machine} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("  slm-small "), "{stdout}");
    assert!(stdout.contains("result: every machine fits (3 machines)"), "{stdout}");
}

/// An edge server whose budget is 600 MiB cannot hold the OS reserve and
/// Gemma 3 270M: exit status 1, and the report names it.
#[test]
fn an_edge_server_with_too_small_a_budget_does_not_fit() {
    let dir = scratch("small-budget");
    let profile = std::fs::read_to_string(repo().join("hw-profiles/generic-x86-2core.toml")).expect("profile");
    assert!(profile.contains("budget_mb = 2048"), "the shipped profile changed");
    let small = profile
        .replace("budget_mb = 2048", "budget_mb = 600")
        .replace("name = \"generic-x86-2core\"", "name = \"small-budget\"");
    std::fs::write(dir.join("small-budget.toml"), small).expect("write the profile");
    let generic = generic_profile();
    let machines =
        inventory(&dir, &[("gateway", &generic), ("station1", &generic), ("edge-server", "small-budget.toml")], "");
    let out = deploy(&["check", DATAFLOW, "--machines", &machines.display().to_string()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("machine edge-server: profile small-budget"), "{stdout}");
    assert!(stdout.contains("of budget 600 MiB → does NOT fit by"), "{stdout}");
    assert!(stdout.contains("result: does NOT fit on edge-server (by "), "{stdout}");
    std::fs::remove_dir_all(dir).ok();
}

/// A node pinned to a machine the inventory does not list is bad input:
/// exit status 2, naming node and machine.
#[test]
fn a_machine_missing_from_the_inventory_is_bad_input() {
    let dir = scratch("unknown-machine");
    let generic = generic_profile();
    let machines = inventory(&dir, &[("gateway", &generic), ("station1", &generic)], "");
    let out = deploy(&["check", DATAFLOW, "--machines", &machines.display().to_string()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}{stderr}", text(&out.stdout));
    assert!(
        stderr.contains("node `vlm-inspector` has `deploy.machine` \"edge-server\", which is not in the inventory (machines: gateway, station1)"),
        "{stderr}"
    );
    assert!(stderr.contains("node `slm-small`"), "every unplaced node is named: {stderr}");
    std::fs::remove_dir_all(dir).ok();
}

/// A bad value in the inventory is bad input, named with its machine and key.
#[test]
fn a_bad_inventory_field_is_bad_input_naming_machine_and_field() {
    let dir = scratch("bad-field");
    let generic = generic_profile();
    let machines = inventory(
        &dir,
        &[("gateway", &generic), ("station1", &generic), ("edge-server", &generic)],
        "other_node_mb = 0",
    );
    let out = deploy(&["check", DATAFLOW, "--machines", &machines.display().to_string()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("machine `station1` has invalid `other_node_mb`: 0 (must be MiB in 1..=65536)"),
        "{stderr}"
    );
    let out = deploy(&["check", "dataflows/none.yml", "--machines", SHIPPED]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read dataflow dataflows/none.yml"), "{}", text(&out.stderr));
    std::fs::remove_dir_all(dir).ok();
}

/// `--format json` gives the same result for scripts.
#[test]
fn the_json_report_has_every_machine_and_the_verdict() {
    let out = deploy(&["check", DATAFLOW, "--machines", SHIPPED, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["fits"], true);
    let ids: Vec<&str> =
        report["machines"].as_array().expect("machines").iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, ["gateway", "station1", "edge-server"]);
    let edge = &report["machines"][2];
    let slm_small = edge["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["id"] == "slm-small")
        .expect("slm-small on edge-server");
    assert_eq!(slm_small["kind"], "model");
    assert_eq!(slm_small["engine_reserve_mib"], 128);
}

/// The realistic example (a Raspberry Pi station, a GPU edge server) loads,
/// fits, and warns that the model nodes name another profile than their machine's.
#[test]
fn the_site_example_fits_and_warns_about_profile_mismatches() {
    let out = deploy(&["check", DATAFLOW, "--machines", "docs/examples/plant-distributed.machines.toml"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("machine station1: profile raspberry-pi5-8gb"), "{stdout}");
    assert!(
        stdout.contains("node slm-small loads profile generic-x86-2core (SLM_PROFILE ../../hw-profiles/generic-x86-2core.toml) but runs on machine edge-server, whose profile is x86-nvidia-gpu"),
        "{stdout}"
    );
}
