//! The `opcua-source` binary (dora testing mode) against the `plant-sim`
//! binary, which is killed and restarted on the same port three times: the
//! node stays up, reports each loss on `status`, re-sends the last values
//! marked bad, and good values flow again within 5 s of each restart.

use std::time::Duration;

use shopfloor_dataflow_tests::free_port;
use shopfloor_dataflow_tests::node::{output_rows, TestNode};
use shopfloor_dataflow_tests::plant_sim;

const RESTARTS: usize = 3;
const DOWN_FOR: Duration = Duration::from_secs(2);
/// Up long enough between kills for the bound below to be checked.
const UP_FOR: Duration = Duration::from_secs(6);
/// The bound: values flow again within 5 s of the server being back.
const RESUME_WITHIN_MS: i64 = 5_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn first_good_reading_after(rows: &[(String, serde_json::Value)], after_ms: i64) -> Option<i64> {
    rows.iter()
        .filter(|(id, row)| id == "readings" && row["quality"] == "good")
        .filter_map(|(_, row)| row["received_ts_ms"].as_i64())
        .find(|&received| received >= after_ms)
}

#[test]
fn values_resume_after_each_server_restart_and_the_gap_is_marked() -> anyhow::Result<()> {
    let port = free_port();
    let mut simulator = plant_sim::start(port, &[], "opcua-restart-sim-0")?;
    let envs = [
        ("OPCUA_ENDPOINT", format!("opc.tcp://127.0.0.1:{port}/")),
        (
            "OPCUA_TAGS",
            "spindle_temperature ns=2;s=Cell1.SpindleTemperature °C\nspindle_speed ns=2;s=Cell1.SpindleSpeed rpm"
                .to_owned(),
        ),
        ("OPCUA_PUBLISH_INTERVAL_MS", "100".to_owned()),
        ("OPCUA_RECONNECT_MAX_MS", "1000".to_owned()),
    ];
    // dora's testing mode writes the outputs when the node ends, so the
    // timeline is kept here and checked against the outputs afterwards.
    let run_secs = 4.0 + RESTARTS as f64 * (DOWN_FOR + UP_FOR).as_secs_f64() + 2.0;
    let tick = Some(Duration::from_millis(100));
    let mut node = TestNode::start_with_ticks("opcua-source", &envs, run_secs, tick, "opcua-restart-node")?;
    let outputs = node.outputs();
    std::thread::sleep(Duration::from_secs(4));
    let mut back_at = Vec::new();
    for restart in 1..=RESTARTS {
        simulator.stop(nix::sys::signal::Signal::SIGKILL, Duration::from_secs(2));
        std::thread::sleep(DOWN_FOR);
        simulator = plant_sim::start(port, &[], &format!("opcua-restart-sim-{restart}"))?;
        back_at.push(now_ms());
        std::thread::sleep(UP_FOR);
    }
    let (log, clean) = node.wait()?;
    drop(simulator);
    assert!(clean, "opcua-source did not stop cleanly:\n{log}");

    let rows = output_rows(&outputs);
    anyhow::ensure!(first_good_reading_after(&rows, 0).is_some(), "no good reading at all:\n{log}");
    let resume_ms: Vec<Option<i64>> =
        back_at.iter().map(|&at| first_good_reading_after(&rows, at).map(|resumed| resumed - at)).collect();
    eprintln!("values resumed {resume_ms:?} ms after each restart");
    for (restart, ms) in resume_ms.iter().enumerate() {
        assert!(ms.is_some_and(|ms| ms <= RESUME_WITHIN_MS), "restart {}: values resumed after {ms:?} ms", restart + 1);
    }
    let states: Vec<&str> =
        rows.iter().filter(|(id, _)| id == "status").filter_map(|(_, row)| row["state"].as_str()).collect();
    // The node reports the state it finds at each wake-up, so a loss may show as
    // `disconnected` or directly as `reconnecting` (failing attempts, with the reason).
    assert!(matches!(states.first(), Some(&"connecting" | &"connected")), "{states:?}");
    let losses = states.windows(2).filter(|pair| pair[0] == "connected" && pair[1] != "connected").count();
    assert_eq!(losses, RESTARTS, "{states:?}");
    assert_eq!(states.iter().filter(|s| **s == "connected").count(), RESTARTS + 1, "{states:?}");
    assert!(rows
        .iter()
        .filter(|(id, _)| id == "status")
        .skip(1)
        .all(|(_, row)| row["state"] == "connected" || row["reason"].is_string()));
    let stale = rows.iter().filter(|(id, row)| id == "readings" && row["quality"] == "bad").count();
    assert_eq!(stale, 2 * RESTARTS, "each loss re-sends both tags' last values marked bad once");
    Ok(())
}
