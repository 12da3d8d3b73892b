//! `shopfloor opcua browse` against the simulated plant (`shopfloor sim`): the printed tag
//! list names every simulated variable with its unit, and pasted unchanged
//! into `OPCUA_TAGS` it makes the node deliver readings for every tag, in
//! messages of at most `OPCUA_BATCH_MAX` readings.

use std::collections::BTreeSet;
use std::time::Duration;

use shopfloor_dataflow_tests::node::TestNode;
use shopfloor_dataflow_tests::{free_port, plant_sim, shopfloor};

#[test]
fn the_browsed_tag_list_pastes_into_opcua_tags_and_every_tag_delivers() -> anyhow::Result<()> {
    let port = free_port();
    let _simulator = plant_sim::start(port, &[], "opcua-browse-sim")?;

    let endpoint = format!("opc.tcp://127.0.0.1:{port}/");
    let output = shopfloor()?.args(["opcua", "browse", &endpoint]).output()?;
    let listing = String::from_utf8(output.stdout)?;
    assert!(output.status.success(), "browse failed:\n{}", String::from_utf8_lossy(&output.stderr));
    for line in [
        "cell1.spindle_temperature ns=2;s=Cell1.SpindleTemperature °C",
        "cell1.spindle_speed ns=2;s=Cell1.SpindleSpeed rpm",
        "cell1.vibration ns=2;s=Cell1.Vibration mm/s",
        "cell1.part_count ns=2;s=Cell1.PartCount",
        "cell1.machine_state ns=2;s=Cell1.MachineState",
    ] {
        assert!(listing.lines().any(|l| l == line), "{line:?} missing from:\n{listing}");
    }
    assert!(!listing.contains("EngineeringUnits"), "properties must not be listed as tags:\n{listing}");

    // Small batches: six tags change every tick, so each wake-up sends several messages.
    let envs = [
        ("OPCUA_ENDPOINT", endpoint),
        ("OPCUA_TAGS", listing.clone()),
        ("OPCUA_PUBLISH_INTERVAL_MS", "100".to_owned()),
        ("OPCUA_BATCH_MAX", "2".to_owned()),
    ];
    let mut node =
        TestNode::start_with_ticks("opcua-source", &envs, 3.0, Some(Duration::from_millis(100)), "opcua-browse-node")?;
    let outputs = node.outputs();
    let (log, clean) = node.wait()?;
    assert!(clean, "opcua-source failed with the browsed tags:\n{log}");
    let text = std::fs::read_to_string(outputs)?;
    let batch_sizes: Vec<usize> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|output| output["id"] == "readings")
        .map(|output| output["data"].as_array().map_or(0, Vec::len))
        .collect();
    assert!(batch_sizes.iter().all(|&n| (1..=2).contains(&n)), "OPCUA_BATCH_MAX=2 not honoured: {batch_sizes:?}");
    let tags: BTreeSet<String> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|output| output["id"] == "readings")
        .flat_map(|output| output["data"].as_array().cloned().unwrap_or_default())
        .filter_map(|row| row["tag"].as_str().map(str::to_owned))
        .collect();
    let listed: BTreeSet<String> = listing
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert_eq!(tags, listed, "every browsed tag delivers a reading");
    Ok(())
}
