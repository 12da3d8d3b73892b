//! The replay suite: recordings made from the plant simulator and the image
//! generator (tests/fixtures/recordings) played through the real dataflows
//! with the real dora CLI, models and recorder.
//!
//! - a recording played by the `replayer` as fast as the `recorder` takes it
//!   (paced by the recorder's acknowledgements) and recorded again is the
//!   same, message for message (payloads and metadata),
//!   and so is one exported to Arrow IPC and imported back;
//! - the overheat recording through the plant assistant raises the expected
//!   alerts and answers the scripted questions (tests/replay/overheat.toml);
//! - a changed alarm threshold fails the case and shows in the report's diff
//!   against the golden output;
//! - the defect-burst recording through visual inspection raises one alert
//!   per defective frame and none for the good ones (tests/replay/defect-burst.toml);
//! - raw MQTT captured from a Mosquitto broker and published back arrives
//!   unchanged.

use std::path::{Path, PathBuf};
use std::time::Duration;

use part_images::PartSpec;
use recording::mqtt::from_recorded;
use recording::RecordedMessage;
use replay_harness::case::TestCase;
use replay_harness::report;
use replay_harness::run::{run_case, RunSettings};
use shopfloor_dataflow_tests::dataflow::dora_binary;
use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::replay::replay_and_record;
use shopfloor_dataflow_tests::vision::{tiny_vlm, write_part};
use shopfloor_dataflow_tests::{node_binaries, release_binary, repo_root, scratch_dir, shopfloor, Scratch};

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/recordings").join(name)
}

/// Asserts that `again` holds the messages of `original`, in order per topic,
/// with equal payloads and metadata.
fn assert_same_messages(original: &[RecordedMessage], again: &[RecordedMessage]) {
    assert_eq!(again.len(), original.len(), "message count");
    let topics: std::collections::BTreeSet<String> = original.iter().map(RecordedMessage::topic).collect();
    for topic in topics {
        let before: Vec<&RecordedMessage> = original.iter().filter(|m| m.topic() == topic).collect();
        let after: Vec<&RecordedMessage> = again.iter().filter(|m| m.topic() == topic).collect();
        assert_eq!(after.len(), before.len(), "{topic}: message count");
        for (index, (a, b)) in before.iter().zip(&after).enumerate() {
            assert!(a.same_content(b), "{topic} message {index} differs:\n{a:?}\n{b:?}");
        }
    }
}

#[test]
fn a_replayed_recording_records_again_message_for_message() -> anyhow::Result<()> {
    let dir = scratch_dir("replay-round-trip");
    // Readings, link status and questions; and camera frames with their metadata.
    for name in ["overheat.drec", "defect-burst.drec"] {
        let original = recording::read_file(&fixture(name))?;
        assert!(original.len() > 10, "{name} holds {} messages", original.len());
        let work = dir.join(name.trim_end_matches(".drec"));
        std::fs::create_dir_all(&work)?;
        let again = replay_and_record(&fixture(name), &work, 0.0, true)?;
        assert_same_messages(&original, &recording::read_file(&again)?);

        // Arrow IPC and back, through the command line.
        let arrow = dir.join(format!("{name}.arrow"));
        let imported = dir.join(format!("{name}.imported.drec"));
        let status = shopfloor()?.args(["record", "export"]).arg(fixture(name)).arg("--out").arg(&arrow).status()?;
        assert!(status.success(), "export of {name}");
        let status = shopfloor()?.args(["record", "import"]).arg(&arrow).arg("--out").arg(&imported).status()?;
        assert!(status.success(), "import of {name}");
        let back = recording::read_file(&imported)?;
        assert_same_messages(&original, &back);
        for (a, b) in original.iter().zip(&back) {
            assert_eq!((a.offset_ns, a.timestamp), (b.offset_ns, b.timestamp), "times survive the export");
        }
    }
    Ok(())
}

/// Settings of a replay run, and the scratch folder that holds its report.
fn settings(name: &str, extra_env: Vec<(String, String)>) -> anyhow::Result<(RunSettings, Scratch)> {
    // The harness and the dataflows start these; each must be newer than its sources.
    node_binaries()?;
    let binaries = release_binary("replayer")?.parent().map(PathBuf::from).unwrap_or_default();
    let out_dir = scratch_dir(name);
    let settings = RunSettings { dora: dora_binary(), binaries, out_dir: out_dir.to_path_buf(), extra_env };
    Ok((settings, out_dir))
}

#[test]
fn the_overheat_recording_raises_its_alerts_and_answers_the_questions() -> anyhow::Result<()> {
    let case = TestCase::load(&repo_root().join("tests/replay/overheat.toml"))?;
    let (settings, _out) = settings("replay-overheat", Vec::new())?;
    let outcome = run_case(&case, &settings)?;
    report::write(&settings.out_dir, &case, &outcome)?;
    let report = std::fs::read_to_string(settings.out_dir.join("report.md"))?;
    assert!(outcome.passed(), "expectations failed; report:\n{report}");
    assert!(report.starts_with("# Replay test `overheat`: PASSED"));
    let svg = std::fs::read_to_string(settings.out_dir.join("timeline.svg"))?;
    assert!(svg.contains("<polyline") && svg.contains("event: above 90"), "timeline plot");
    // Alerts come from the recorded plant time alone: the same build and
    // recording give exactly the golden alerts (answers are reported).
    if let Some(diff) = outcome.golden_diff() {
        let changed_alerts: Vec<&str> = diff
            .lines()
            .filter(|l| (l.starts_with('-') || l.starts_with('+')) && l[1..].starts_with("alert"))
            .collect();
        assert!(changed_alerts.is_empty(), "alerts differ from the golden output:\n{diff}");
    }
    Ok(())
}

#[test]
fn a_changed_alarm_threshold_fails_the_case_and_shows_in_the_diff() -> anyhow::Result<()> {
    let case = TestCase::load(&repo_root().join("tests/replay/overheat.toml"))?;
    let changed = vec![("ALARMS_HIGH_LIMITS".to_owned(), "spindle_temperature=95".to_owned())];
    let (settings, _out) = settings("replay-overheat-threshold", changed)?;
    let outcome = run_case(&case, &settings)?;
    report::write(&settings.out_dir, &case, &outcome)?;
    let report = std::fs::read_to_string(settings.out_dir.join("report.md"))?;
    assert!(!outcome.passed(), "a 95 °C limit cannot raise the expected alerts; report:\n{report}");
    assert!(report.starts_with("# Replay test `overheat`: FAILED"), "{report}");
    assert!(report.contains("`ALARMS_HIGH_LIMITS=spindle_temperature=95`"), "the report names the change");
    assert!(report.contains("**Differs from"), "{report}");
    assert!(report.lines().any(|l| l.starts_with("-alert")), "golden alerts gone:\n{report}");
    assert!(report.lines().any(|l| l.starts_with("+alert") && l.contains("95")), "new alerts shown:\n{report}");
    Ok(())
}

#[test]
fn the_defect_burst_recording_raises_an_alert_per_defective_frame() -> anyhow::Result<()> {
    let case = TestCase::load(&repo_root().join("tests/replay/defect-burst.toml"))?;
    // Stage 1 learns good parts of the recording's size; stage 2 is the tiny test VLM.
    let good = scratch_dir("replay-defect-burst-good");
    for n in 0..16u64 {
        write_part(&good.join(format!("good-{n:04}.png")), &PartSpec::good(100 + n, 320, 240))?;
    }
    let vlm = tiny_vlm()?;
    let path = |p: PathBuf| p.to_string_lossy().into_owned();
    let (settings, _out) = settings(
        "replay-defect-burst",
        vec![
            ("FILTER_GOOD_DIR".into(), path(good.to_path_buf())),
            ("VLM_MODEL_PATH".into(), path(vlm.join("tiny-vlm.gguf"))),
            ("VLM_MMPROJ_PATH".into(), path(vlm.join("tiny-vlm-mmproj.gguf"))),
        ],
    )?;
    let outcome = run_case(&case, &settings)?;
    report::write(&settings.out_dir, &case, &outcome)?;
    let report = std::fs::read_to_string(settings.out_dir.join("report.md"))?;
    assert!(outcome.passed(), "expectations failed; report:\n{report}");
    // One alert per defective frame, each for its own frame.
    let alerts = &outcome.timeline.alerts;
    assert_eq!(alerts.len(), 6, "{report}");
    let ids: std::collections::BTreeSet<&str> = alerts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.len(), 6, "{ids:?}");
    Ok(())
}

#[test]
fn raw_mqtt_captured_at_a_broker_publishes_back_unchanged() -> anyhow::Result<()> {
    let broker = Mosquitto::start()?;
    let dir = scratch_dir("replay-mqtt-capture");
    let captured = dir.join("captured.drec");
    let capture = |out: &Path| -> anyhow::Result<std::process::Child> {
        Ok(shopfloor()?
            .args(["record", "capture-mqtt", "--broker", &broker.url(), "--topic", "plant1/#", "--duration-s", "20"])
            .args(["--max-messages", "5", "--out"])
            .arg(out)
            .spawn()?)
    };
    let mut first = capture(&captured)?;
    let publisher = TestClient::connect(broker.port, &[])?;
    std::thread::sleep(Duration::from_millis(1500));
    // Four JSON messages on two topics and one binary payload.
    let sent: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| (format!("plant1/line{}/telemetry", i % 2), format!("{{\"temperature\": {}.5}}", 60 + i).into_bytes()))
        .chain(std::iter::once(("plant1/raw".to_owned(), vec![0u8, 255, 7])))
        .collect();
    for (topic, payload) in &sent {
        publisher.publish(topic, payload.clone())?;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(first.wait()?.success(), "capture-mqtt");
    let messages = recording::read_file(&captured)?;
    let got: Vec<(String, Vec<u8>)> = messages.iter().filter_map(from_recorded).map(|m| (m.topic, m.payload)).collect();
    assert_eq!(got, sent);

    // Published back (recorded timing, twice as fast) and captured again.
    let again = dir.join("again.drec");
    let mut second = capture(&again)?;
    std::thread::sleep(Duration::from_millis(1500));
    let status = shopfloor()?
        .args(["record", "publish-mqtt"])
        .arg(&captured)
        .args(["--broker", &broker.url(), "--speed", "2"])
        .status()?;
    assert!(status.success(), "publish-mqtt");
    assert!(second.wait()?.success(), "second capture");
    let republished: Vec<(String, Vec<u8>)> =
        recording::read_file(&again)?.iter().filter_map(from_recorded).map(|m| (m.topic, m.payload)).collect();
    assert_eq!(republished, sent);
    Ok(())
}
