//! The `limit-alarms` node binary in dora's testing mode (no daemon): reading
//! batches in as Arrow IPC, alerts out. An overheat raises a warning, then a
//! critical alert, then clears; limits from the dataflow win over the
//! readings' own, so changing a threshold changes the alerts; readings the
//! node must not judge, and inputs that are not readings, change nothing.

use dora_node_api::arrow_v59::array::ArrayRef;
use shopfloor_core::schema::{Quality, Reading, ReadingValue};
use shopfloor_dataflow_tests::node::{arrow_input, output_rows, TestNode};
use shopfloor_dataflow_tests::{scratch_dir, strip_ansi};

const T0: i64 = 1_764_086_400_000;

/// A reading as opcua-source sends it: stamped by the source at `T0 + s` seconds.
fn reading(tag: &str, value: ReadingValue, unit: Option<&str>, s: i64, high_limit: Option<f64>) -> Reading {
    Reading {
        high_limit,
        ..Reading::good(
            "opc.tcp://127.0.0.1:4840/",
            tag.into(),
            value,
            unit.map(str::to_owned),
            Some(T0 + s * 1000),
            T0 + s * 1000 + 12,
        )
    }
}

fn temperature(s: i64, value: f64) -> Reading {
    reading("spindle_temperature", ReadingValue::Number(value), Some("°C"), s, Some(80.0))
}

/// The overheat: normal, over the 80 °C limit, 5 °C over it, back under it.
fn overheat() -> Vec<(f64, ArrayRef)> {
    vec![
        (
            0.3,
            Reading::to_arrow(&[
                temperature(0, 72.4),
                reading("machine_state", ReadingValue::Text("RUNNING".into()), None, 0, None),
            ]),
        ),
        (0.4, Reading::to_arrow(&[temperature(1, 79.9), temperature(2, 80.25)])),
        (
            0.5,
            Reading::to_arrow(&[
                temperature(3, 83.0),
                // The link dropped: the last value again, marked bad; it must not clear the alarm.
                Reading { quality: Quality::Bad, ..temperature(3, 20.0) },
                temperature(4, 85.5),
                reading("vibration", ReadingValue::Number(5.2), Some("mm/s"), 4, None),
            ]),
        ),
        (0.6, Reading::to_arrow(&[temperature(5, 79.8), temperature(6, 79.25)])),
    ]
}

/// Runs the node on `overheat()` (plus a message that is not a reading
/// batch and a metrics tick) with `envs`; its alert rows and its log.
fn run_node(scratch: &str, envs: &[(&str, String)]) -> anyhow::Result<(Vec<serde_json::Value>, String)> {
    let dir = scratch_dir(scratch);
    let mut events = arrow_input(&dir, "readings", &overheat())?;
    events.push(serde_json::json!({"time_offset_secs": 0.7, "type": "Input", "id": "readings", "data": "hello"}));
    events.push(serde_json::json!({"time_offset_secs": 0.8, "type": "Input", "id": "metrics_tick", "data": 0}));
    let node = TestNode::start_with_events("limit-alarms", envs, events, 1.5, &dir)?;
    let outputs = node.outputs();
    let (log, clean) = node.wait()?;
    let log = strip_ansi(&log);
    assert!(clean, "limit-alarms did not stop cleanly:\n{log}");
    let rows = output_rows(&outputs);
    assert!(rows.iter().any(|(id, _)| id == "metrics"), "no metrics snapshot:\n{log}");
    Ok((rows.into_iter().filter(|(id, _)| id == "alerts").map(|(_, row)| row).collect(), log))
}

fn summary(alerts: &[serde_json::Value]) -> Vec<(String, String, String)> {
    alerts
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap_or("?").to_owned(),
                a["severity"].as_str().unwrap_or("?").to_owned(),
                a["kind"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

/// An overheat recording raises one warning when the spindle passes its
/// limit, one critical alert when it is 5 °C over, and one info alert once it
/// is back under by the deadband; each alert carries the reading's plant
/// time, the station and line, and the node as its source. A configured
/// limit applies to a tag whose readings carry none.
#[test]
fn an_overheat_raises_warning_critical_and_cleared_alerts() -> anyhow::Result<()> {
    let envs = [
        ("ALARMS_STATION", "station3".to_owned()),
        ("ALARMS_LINE", "line1".to_owned()),
        ("ALARMS_CRITICAL_MARGIN", "5".to_owned()),
        ("ALARMS_HIGH_LIMITS", "vibration=4.5".to_owned()),
    ];
    let (alerts, log) = run_node("limit-alarms-node-overheat", &envs)?;
    let id = |s: i64, tag: &str| format!("limit-{tag}-{}", T0 + s * 1000);
    let expected = [
        (id(2, "spindle_temperature"), "warning", "high_limit"),
        (id(4, "spindle_temperature"), "critical", "high_limit"),
        (id(4, "vibration"), "warning", "high_limit"),
        (id(6, "spindle_temperature"), "info", "limit_cleared"),
    ];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(i, s, k)| (i.clone(), (*s).to_owned(), (*k).to_owned())).collect();
    assert_eq!(summary(&alerts), expected, "{log}");

    let first = &alerts[0];
    assert_eq!(first["message"], "spindle_temperature 80.25 °C above high limit 80 °C");
    assert_eq!(first["ts_ms"], T0 + 2000);
    // The source is the node's dataflow id: dora's testing mode calls every node `test-node`.
    assert_eq!(
        (&first["station"], &first["line"], &first["source"]),
        (&"station3".into(), &"line1".into(), &"test-node".into())
    );
    assert_eq!(
        alerts[1]["message"],
        "spindle_temperature 85.5 °C above high limit 80 °C by 5.5 °C (critical margin 5 °C)"
    );
    assert_eq!(alerts[2]["message"], "vibration 5.2 mm/s above high limit 4.5 mm/s");
    assert_eq!(alerts[3]["message"], "spindle_temperature 79.25 °C back below high limit 80 °C");

    assert!(log.contains("input is not a reading batch"), "the text input was not refused:\n{log}");
    assert!(log.contains("alerts=4 rejected_inputs={\"schema\": 1}"), "final counts:\n{log}");
    Ok(())
}

/// The same recording with the spindle's limit raised to 85 °C from the
/// dataflow: one warning, later, and its clearing; no critical alert.
#[test]
fn a_configured_threshold_changes_the_alerts() -> anyhow::Result<()> {
    let envs =
        [("ALARMS_CRITICAL_MARGIN", "5".to_owned()), ("ALARMS_HIGH_LIMITS", "spindle_temperature=85".to_owned())];
    let (alerts, log) = run_node("limit-alarms-node-threshold", &envs)?;
    let expected = [
        (format!("limit-spindle_temperature-{}", T0 + 4000), "warning".to_owned(), "high_limit".to_owned()),
        (format!("limit-spindle_temperature-{}", T0 + 5000), "info".to_owned(), "limit_cleared".to_owned()),
    ];
    assert_eq!(summary(&alerts), expected, "{log}");
    assert_eq!(alerts[0]["message"], "spindle_temperature 85.5 °C above high limit 85 °C");
    assert_eq!(alerts[0]["station"], "station1");
    Ok(())
}
