//! The vision dataflow end to end (dataflows/vision-inspection.yml) with
//! the real dora CLI, a real Mosquitto, rendered parts and the tiny
//! random-weight VLM on llama.cpp's mtmd path: a defective part's frame
//! becomes a well-formed alert on MQTT with a stored crop, a good part's
//! frame raises none, and a corrupt or wrong-size frame is refused and
//! counted while the stream goes on. The model's words are random, so the
//! alerts' structure is checked, never their wording.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use part_images::{DefectKind, PartSpec};
use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::vision::{defective, good_parts, tiny_vlm, write_part, HEIGHT, WIDTH};
use shopfloor_dataflow_tests::{free_port, http, scratch_dir, strip_ansi};

const DATAFLOW_LIMIT: Duration = Duration::from_secs(150);
/// Model load, six frames at 10 Hz and two judgements, with room to spare.
const ALERTS_TIMEOUT: Duration = Duration::from_secs(90);
/// After the last expected alert: long enough for the camera to finish.
const QUIET_AFTER: Duration = Duration::from_secs(3);

const LOCATIONS: [&str; 10] =
    ["top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right", "none"];

#[test]
fn vision_dataflow_alerts_on_defects_only_and_counts_bad_frames() -> anyhow::Result<()> {
    let scratch = scratch_dir("vision-inspection");
    let good = good_parts(&scratch.join("good"), 16, 100)?;
    let frames = scratch.join("frames");
    std::fs::create_dir_all(&frames)?;
    // Played in name order: frame ids cam1-<camera start>-000000 .. -000005.
    write_part(&frames.join("00-good.png"), &PartSpec::good(200, WIDTH, HEIGHT))?;
    write_part(&frames.join("01-scratch.png"), &defective(201, DefectKind::Scratch))?;
    write_part(&frames.join("02-corrupt.png"), &PartSpec::good(202, WIDTH, HEIGHT))?;
    let corrupt = std::fs::read(frames.join("02-corrupt.png"))?;
    std::fs::write(frames.join("02-corrupt.png"), &corrupt[..corrupt.len() / 2])?;
    write_part(&frames.join("03-good.png"), &PartSpec::good(203, WIDTH, HEIGHT))?;
    write_part(&frames.join("04-small.png"), &PartSpec::good(204, WIDTH / 2, HEIGHT / 2))?;
    write_part(&frames.join("05-contamination.png"), &defective(205, DefectKind::Contamination))?;
    let vlm = tiny_vlm()?;

    let broker = Mosquitto::start()?;
    let http_port = free_port();
    let root = "test/vision/cell1".to_owned();
    let client = TestClient::connect(broker.port, &[format!("{root}/alerts/#")])?;
    let mut envs = settings(&broker, &root, &scratch, &frames, &good, http_port);
    envs.push(("VLM_MODEL_PATH", vlm.join("tiny-vlm.gguf").display().to_string()));
    envs.push(("VLM_MMPROJ_PATH", vlm.join("tiny-vlm-mmproj.gguf").display().to_string()));
    let dataflow = RunningDataflow::start("vision-inspection.yml", &envs, DATAFLOW_LIMIT)?;

    let mut alerts: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let started = Instant::now();
    while alerts.len() < 2 && started.elapsed() < ALERTS_TIMEOUT {
        if let Some(message) = client.wait_for(Duration::from_secs(1), |m| !m.retained) {
            let frame = message.json["frame_id"].as_str().unwrap_or_default().to_owned();
            assert!(message.topic.starts_with(&format!("{root}/alerts/station3/")), "{}", message.topic);
            alerts.insert(frame, message.json);
        }
    }
    // Nothing more may come: the good frames pass the filter, the bad ones are refused.
    let extra = client.wait_for(QUIET_AFTER, |m| !m.retained);
    let console = console_alarms(http_port);
    let log = dataflow.log_text();
    let (stopped_cleanly, leftovers) = dataflow.stop();

    // The dataflow sets CAMERA_RUN_IN_IDS: `cam1-<start, unix seconds>-<sequence>`.
    let frames_alerted: Vec<&str> = alerts
        .keys()
        .filter_map(|id| {
            let (start, sequence) = id.strip_prefix("cam1-")?.split_once('-')?;
            start.bytes().all(|b| b.is_ascii_digit()).then_some(sequence)
        })
        .collect();
    assert_eq!(frames_alerted, ["000001", "000005"], "alerts: {alerts:#?}\nlog:\n{log}");
    assert!(extra.is_none(), "an alert for a frame that should pass: {:?}", extra.map(|m| m.json));
    for (frame, alert) in &alerts {
        assert_eq!(alert["id"], format!("alert-{frame}"));
        assert_eq!((alert["station"].as_str(), alert["line"].as_str()), (Some("station3"), Some("line1")));
        assert_eq!(alert["source"], "vlm-inspector");
        assert_eq!(alert["model"], "tiny-vlm", "{alert}");
        let verdict = alert["verdict"].as_str().unwrap_or_default();
        assert!(verdict == "defect" || verdict == "no_defect", "the model judged it: {alert}");
        assert!(["info", "warning", "critical"].contains(&alert["severity"].as_str().unwrap_or_default()), "{alert}");
        let confidence = alert["confidence"].as_f64().unwrap_or(-1.0);
        assert!(confidence > 0.0 && confidence <= 1.0, "{alert}");
        assert!(LOCATIONS.contains(&alert["location"].as_str().unwrap_or_default()), "{alert}");
        assert!(alert["anomaly_score"].as_f64().unwrap_or(0.0) > 0.0, "{alert}");
        let regions = alert["regions"].as_array().cloned().unwrap_or_default();
        assert!(!regions.is_empty() && regions.iter().all(|r| r["width"].as_u64() > Some(0)), "{alert}");
        let crop = alert["image_ref"].as_str().unwrap_or_default();
        let (crop_width, crop_height) = image::image_dimensions(crop)?;
        assert!(crop_width > 0 && crop_width <= WIDTH && crop_height <= HEIGHT, "{crop}");
        assert!(alert["message"].as_str().is_some_and(|m| !m.is_empty()), "{alert}");
        // A defect carries what to do, from the site's documents.
        if alert["severity"] != "info" {
            let source = alert["response_source"].as_str().unwrap_or_default();
            assert!(source.starts_with("defect-response.md § "), "{alert}");
            assert!(alert["response"].as_str().is_some_and(|r| r.starts_with("1. ")), "{alert}");
        }
    }
    // The operator console holds an alarm for every alert that is more than
    // information, with its regions and its crop served by alert id.
    let (alarms, crops_served) = console?;
    let alarming: Vec<&serde_json::Value> = alerts.values().filter(|a| a["severity"] != "info").collect();
    assert_eq!(alarms.len(), alarming.len(), "console alarms {alarms:#?} for alerts {alerts:#?}");
    for alert in alarming {
        let key = format!("station3/{}", alert["id"].as_str().unwrap_or_default());
        let alarm =
            alarms.iter().find(|a| a["key"] == key.as_str()).ok_or_else(|| anyhow::anyhow!("no alarm {key}"))?;
        assert_eq!(
            (alarm["state"].as_str(), alarm["severity"].as_str()),
            (Some("unacknowledged"), alert["severity"].as_str())
        );
        assert_eq!(alarm["defect"]["regions"].as_array().map(Vec::len), alert["regions"].as_array().map(Vec::len));
    }
    for (status, content_type, bytes) in crops_served {
        assert_eq!((status, content_type.as_str()), (200, "image/png"));
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG crop");
    }
    let log = strip_ansi(&log);
    assert!(log.contains("reason=\"corrupt_image\""), "the truncated PNG was not refused as corrupt:\n{log}");
    assert!(log.contains("reason=\"wrong_size\""), "the 320x240 frame was not refused as wrong size:\n{log}");
    assert!(stopped_cleanly && leftovers.is_empty(), "dora run did not stop cleanly: {leftovers:?}");
    Ok(())
}

/// A response: status, content type, body.
type Served = (u16, String, Vec<u8>);

/// The vision dataflow's console: its alarms (from the live stream's
/// snapshot) and each defect alarm's crop as served, while the dataflow runs.
fn console_alarms(port: u16) -> anyhow::Result<(Vec<serde_json::Value>, Vec<Served>)> {
    // No GATEWAY_API_KEY on loopback: a name logs in.
    let (cookie, _) = http::console_login(port, "inspector", None)?;
    let snapshot = http::console_snapshot(port, &cookie)?;
    let alarms = snapshot["alarms"].as_array().cloned().unwrap_or_default();
    let mut crops = Vec::new();
    for alarm in &alarms {
        if let Some(url) = alarm["defect"]["crop_url"].as_str() {
            crops.push(http::console_get(port, url, &cookie)?);
        }
    }
    Ok((alarms, crops))
}

/// Without a vision-language model every flagged frame is an unconfirmed
/// `warning` alert: in the operator console it is an alarm with its regions
/// and its crop, and acknowledging it clears it and tells MQTT who did.
#[test]
fn an_unconfirmed_defect_is_a_console_alarm_with_its_crop_until_acknowledged() -> anyhow::Result<()> {
    let scratch = scratch_dir("vision-console");
    let good = good_parts(&scratch.join("good"), 16, 100)?;
    let frames = scratch.join("frames");
    std::fs::create_dir_all(&frames)?;
    write_part(&frames.join("00-good.png"), &PartSpec::good(300, WIDTH, HEIGHT))?;
    write_part(&frames.join("01-scratch.png"), &defective(301, DefectKind::Scratch))?;
    let broker = Mosquitto::start()?;
    let http_port = free_port();
    let root = "test/vision-console/cell1".to_owned();
    let alerts = TestClient::connect(broker.port, &[format!("{root}/alerts/#")])?;
    let alarm_events = TestClient::connect_named(broker.port, &[format!("{root}/alarms/#")], "alarm-events")?;
    let envs = settings(&broker, &root, &scratch, &frames, &good, http_port);
    let dataflow = RunningDataflow::start("vision-inspection.yml", &envs, DATAFLOW_LIMIT)?;
    let alert = alerts
        .wait_for(ALERTS_TIMEOUT, |m| !m.retained)
        .ok_or_else(|| anyhow::anyhow!("no alert:\n{}", dataflow.log_text()))?
        .json;
    assert_eq!((alert["severity"].as_str(), alert["kind"].as_str()), (Some("warning"), Some("anomaly")), "{alert}");
    let key = format!("station3/{}", alert["id"].as_str().unwrap_or_default());

    let (alarms, crops) = console_alarms(http_port)?;
    let alarm = alarms.iter().find(|a| a["key"] == key.as_str()).ok_or_else(|| anyhow::anyhow!("{alarms:#?}"))?;
    assert_eq!(alarm["state"], "unacknowledged");
    assert_eq!(alarm["defect"]["regions"].as_array().map(Vec::len), alert["regions"].as_array().map(Vec::len));
    // Unjudged, it still carries the general defect response, on MQTT and in the console.
    assert_eq!(alert["response_source"], "defect-response.md § Responding to a defect alert", "{alert}");
    assert_eq!(alarm["response"]["source"], alert["response_source"], "{alarm}");
    assert_eq!(crops.len(), 1, "{alarms:#?}");
    let (status, content_type, bytes) = &crops[0];
    assert_eq!((*status, content_type.as_str()), (200, "image/png"));
    assert_eq!(bytes, &std::fs::read(alert["image_ref"].as_str().unwrap_or_default())?, "the stored crop");
    let raised = alarm_events.wait_for(ALERTS_TIMEOUT, |m| m.json["action"] == "raised");
    assert_eq!(raised.map(|m| m.json["key"].clone()), Some(key.as_str().into()));

    let (cookie, csrf) = http::console_login(http_port, "inspector", None)?;
    let body = serde_json::json!({ "key": key, "comment": "scrapped" }).to_string();
    let (status, answer) = http::console_post(http_port, "/console/api/alarms/ack", &cookie, &csrf, &body)?;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"state\":\"cleared\""), "an event clears when acknowledged: {answer}");
    let acknowledged = alarm_events.wait_for(ALERTS_TIMEOUT, |m| m.json["action"] == "acknowledged");
    let acknowledged = acknowledged.ok_or_else(|| anyhow::anyhow!("no acknowledgement on MQTT"))?.json;
    assert_eq!(
        (acknowledged["operator"].as_str(), acknowledged["comment"].as_str()),
        (Some("inspector"), Some("scrapped"))
    );
    let (stopped_cleanly, leftovers) = dataflow.stop();
    assert!(stopped_cleanly && leftovers.is_empty(), "dora run did not stop cleanly: {leftovers:?}");
    Ok(())
}

/// The dataflow's settings for a test: its broker and topic root, the
/// frames and good parts, crops and the console's journal in `scratch`,
/// the console on `http_port`; no vision-language model.
fn settings(
    broker: &Mosquitto,
    root: &str,
    scratch: &std::path::Path,
    frames: &std::path::Path,
    good: &std::path::Path,
    http_port: u16,
) -> Vec<(&'static str, String)> {
    vec![
        ("MQTT_BROKER_URL", broker.url()),
        ("MQTT_TOPIC_ROOT", root.to_owned()),
        ("CAMERA_DIR", frames.display().to_string()),
        ("CAMERA_RATE_HZ", "10".into()),
        // The files' own bytes: the filter decodes them, and finds the damage.
        ("CAMERA_OUTPUT", "as_stored".into()),
        ("FILTER_GOOD_DIR", good.display().to_string()),
        ("VLM_CROPS_DIR", scratch.join("crops").display().to_string()),
        ("GATEWAY_LISTEN", format!("127.0.0.1:{http_port}")),
        ("GATEWAY_CONSOLE_JOURNAL", scratch.join("alarms.jsonl").display().to_string()),
    ]
}
