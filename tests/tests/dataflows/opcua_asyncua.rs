//! `opcua-source` (and `shopfloor opcua browse`) against an independent OPC UA server, python `asyncua`
//! (tests/opcua/asyncua_server.py, installed into .venv by scripts/test.sh):
//! browse lists its variables with units; subscribed, polled and `nsu=` tags
//! all deliver, with the server's types and status codes and descriptions; a
//! deadband holds back small changes; a model change on the server reaches the
//! readings' description and range.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use shopfloor_dataflow_tests::node::TestNode;
use shopfloor_dataflow_tests::process::ProcessGroup;
use shopfloor_dataflow_tests::{free_port, repo_root, scratch_dir, shopfloor, Scratch};

/// Starts the asyncua server on `port` for a minute; with `trigger`, the
/// server changes its model once that file exists.
fn start_asyncua(port: u16, trigger: Option<&std::path::Path>) -> anyhow::Result<(ProcessGroup, Scratch)> {
    let dir = scratch_dir("asyncua-server");
    let log = dir.join("stderr.log");
    let mut command = Command::new(repo_root().join(".venv/bin/python"));
    command.arg(repo_root().join("tests/opcua/asyncua_server.py")).args([port.to_string(), "60".to_owned()]);
    command.args(trigger);
    command.stderr(std::fs::File::create(&log)?);
    let mut server = ProcessGroup::spawn("asyncua", command)?;
    server.wait_listening(port, || {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        format!("(is asyncua installed in .venv? scripts/test.sh does it)\n{log}")
    })?;
    Ok((server, dir))
}

#[test]
fn an_independent_server_is_browsed_subscribed_and_polled() -> anyhow::Result<()> {
    let port = free_port();
    let _server = start_asyncua(port, None)?;
    let endpoint = format!("opc.tcp://127.0.0.1:{port}/");

    let output = shopfloor()?.args(["opcua", "browse", &endpoint]).output()?;
    let listing = String::from_utf8(output.stdout)?;
    assert!(output.status.success(), "browse failed:\n{}", String::from_utf8_lossy(&output.stderr));
    for line in [
        "press1.temperature ns=2;s=Press1.Temperature °C # Platen temperature",
        "press1.count ns=2;s=Press1.Count",
        "press1.state ns=2;s=Press1.State",
    ] {
        assert!(listing.lines().any(|l| l == line), "{line:?} missing from:\n{listing}");
    }

    let tags = format!(
        "{listing}\ntemperature_by_uri nsu=urn:shopfloor-slm:asyncua-test;s=Press1.Temperature °C\ncount_polled ns=2;s=Press1.Count poll=200\n\
         temperature_deadband ns=2;s=Press1.Temperature °C deadband=2\n"
    );
    let envs = [("OPCUA_ENDPOINT", endpoint), ("OPCUA_TAGS", tags), ("OPCUA_PUBLISH_INTERVAL_MS", "100".to_owned())];
    let mut node =
        TestNode::start_with_ticks("opcua-source", &envs, 4.0, Some(Duration::from_millis(100)), "opcua-asyncua-node")?;
    let outputs = node.outputs();
    let (log, clean) = node.wait()?;
    assert!(clean, "opcua-source failed against asyncua:\n{log}");

    let mut by_tag: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    let mut states = Vec::new();
    for line in std::fs::read_to_string(outputs)?.lines() {
        let output: serde_json::Value = serde_json::from_str(line)?;
        for row in output["data"].as_array().cloned().unwrap_or_default() {
            match output["id"].as_str() {
                Some("readings") => {
                    by_tag.entry(row["tag"].as_str().unwrap_or_default().to_owned()).or_default().push(row)
                }
                Some("status") => states.push(row["state"].as_str().unwrap_or_default().to_owned()),
                _ => {}
            }
        }
    }
    assert!(states.contains(&"connected".to_owned()), "{states:?}");
    let tags: Vec<&str> = by_tag.keys().map(String::as_str).collect();
    assert_eq!(
        tags,
        [
            "count_polled",
            "press1.count",
            "press1.state",
            "press1.temperature",
            "temperature_by_uri",
            "temperature_deadband"
        ]
    );
    for (tag, rows) in &by_tag {
        assert!(rows.iter().all(|r| r["quality"] == "good" && r["status_code"] == "Good"), "{tag}: {rows:?}");
    }
    let numbers = |tag: &str| by_tag[tag].iter().filter_map(|r| r["value_number"].as_f64()).collect::<Vec<_>>();
    for tag in ["press1.temperature", "press1.count", "count_polled"] {
        let values = numbers(tag);
        assert!(values.len() >= 3 && values.windows(2).all(|w| w[1] > w[0]), "{tag} does not rise: {values:?}");
    }
    // The temperature rises 0.5 per write; a deadband of 2 holds back most of
    // them. asyncua compares with the previous sample (so it may report only
    // the first value), async-opcua with the last reported one (every fifth).
    let (all, filtered) = (by_tag["press1.temperature"].len(), by_tag["temperature_deadband"].len());
    assert!(filtered >= 1 && filtered * 4 <= all, "deadband not honoured: {filtered} of {all} changes reported");
    assert_eq!(by_tag["press1.temperature"][0]["value_type"], "Double");
    assert_eq!(by_tag["press1.temperature"][0]["unit"], "°C");
    assert_eq!(by_tag["press1.count"][0]["value_type"], "UInt32");
    assert_eq!(by_tag["press1.state"][0]["value_text"], "RUNNING");
    Ok(())
}

#[test]
fn a_model_change_on_the_server_reaches_the_readings() -> anyhow::Result<()> {
    let port = free_port();
    let trigger_dir = scratch_dir("asyncua-model-change");
    let trigger = trigger_dir.join("change-now");
    let _server = start_asyncua(port, Some(&trigger))?;
    let envs = [
        ("OPCUA_ENDPOINT", format!("opc.tcp://127.0.0.1:{port}/")),
        ("OPCUA_TAGS", "platen ns=2;s=Press1.Temperature\n".to_owned()),
        ("OPCUA_PUBLISH_INTERVAL_MS", "100".to_owned()),
    ];
    let mut node = TestNode::start_with_ticks(
        "opcua-source",
        &envs,
        20.0,
        Some(Duration::from_millis(100)),
        "opcua-model-change",
    )?;
    // Change the model only once the node watches for changes, so that it
    // has read the first description at connect.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !node.log_text().contains("watching the server for model changes") {
        anyhow::ensure!(Instant::now() < deadline, "the node never watched for model changes:\n{}", node.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(&trigger, "")?;
    let outputs = node.outputs();
    let (log, clean) = node.wait()?;
    assert!(clean, "opcua-source failed:\n{log}");
    assert!(log.contains("units, ranges and descriptions re-read"), "no re-read logged:\n{log}");

    let rows: Vec<serde_json::Value> = shopfloor_dataflow_tests::node::output_rows(&outputs)
        .into_iter()
        .filter(|(id, row)| id == "readings" && row["tag"] == "platen")
        .map(|(_, row)| row)
        .collect();
    let (first, last) = (rows.first(), rows.last());
    let described = |row: Option<&serde_json::Value>| row.map(|r| (r["description"].clone(), r["eu_high"].clone()));
    assert_eq!(
        described(first),
        Some((serde_json::json!("Platen temperature"), serde_json::Value::Null)),
        "before the change"
    );
    assert_eq!(described(last), Some((serde_json::json!("Mould temperature"), serde_json::json!(250.0))), "after");
    Ok(())
}
