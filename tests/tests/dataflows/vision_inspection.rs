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
use shopfloor_dataflow_tests::{scratch_dir, strip_ansi};

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
    let crops = scratch.join("crops");

    let broker = Mosquitto::start()?;
    let root = "test/vision/cell1".to_owned();
    let client = TestClient::connect(broker.port, &[format!("{root}/alerts/#")])?;
    let envs = [
        ("MQTT_BROKER_URL", broker.url()),
        ("MQTT_TOPIC_ROOT", root.clone()),
        ("CAMERA_DIR", frames.display().to_string()),
        ("CAMERA_RATE_HZ", "10".into()),
        // The files' own bytes: the filter decodes them, and finds the damage.
        ("CAMERA_OUTPUT", "as_stored".into()),
        ("FILTER_GOOD_DIR", good.display().to_string()),
        ("VLM_MODEL_PATH", vlm.join("tiny-vlm.gguf").display().to_string()),
        ("VLM_MMPROJ_PATH", vlm.join("tiny-vlm-mmproj.gguf").display().to_string()),
        ("VLM_CROPS_DIR", crops.display().to_string()),
    ];
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
    }
    let log = strip_ansi(&log);
    assert!(log.contains("reason=\"corrupt_image\""), "the truncated PNG was not refused as corrupt:\n{log}");
    assert!(log.contains("reason=\"wrong_size\""), "the 320x240 frame was not refused as wrong size:\n{log}");
    assert!(stopped_cleanly && leftovers.is_empty(), "dora run did not stop cleanly: {leftovers:?}");
    Ok(())
}
