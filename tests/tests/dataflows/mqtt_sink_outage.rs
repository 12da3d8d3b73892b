//! Store and forward: the `mqtt-sink` binary (dora testing mode, no daemon)
//! publishes a stream of alerts while the real Mosquitto is stopped and
//! restarted (cleanly, then killed); a subscriber with a persistent session
//! receives every alert, in order; re-sends are removed by id and counted.
//! Afterwards a new subscriber finds the last alert retained. A third run
//! keeps the outbox's disk full (a file size limit on the process): every
//! alert is still published, and the failure is logged.

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use shopfloor_core::arrow::array::{Array, StructArray};
use shopfloor_core::arrow::ipc::writer::FileWriter;
use shopfloor_core::arrow::record_batch::RecordBatch;
use shopfloor_core::schema::{Alert, Severity};
use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::process::ProcessGroup;
use shopfloor_dataflow_tests::{release_binary, scratch_dir};

const ALERTS: usize = 60;
/// One alert every 200 ms: the stream runs for 12 s.
const EVERY_SECS: f64 = 0.2;
const OUTAGE_AT: Duration = Duration::from_secs(3);
const OUTAGE: Duration = Duration::from_secs(8);

fn alert(n: usize) -> Alert {
    let severity = [Severity::Info, Severity::Warning, Severity::Critical][n % 3];
    Alert {
        confidence: Some(0.9),
        ..Alert::new(
            format!("a-{n:03}"),
            1_764_000_000_000 + n as i64,
            "station1",
            severity,
            "scratch",
            format!("alert {n}"),
            "outage-test",
        )
    }
}

/// Writes one Arrow IPC file with one batch per alert.
fn alerts_file(path: &std::path::Path) -> anyhow::Result<()> {
    let batches: Vec<RecordBatch> = (0..ALERTS)
        .map(|n| {
            let array = Alert::to_arrow(&[alert(n)]);
            let structs = array.as_any().downcast_ref::<StructArray>().cloned().expect("alerts are a struct array");
            RecordBatch::from(structs)
        })
        .collect();
    let mut writer = FileWriter::try_new(std::fs::File::create(path)?, &batches[0].schema())?;
    for batch in &batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    Ok(())
}

/// What the sink runs through: a broker outage with this signal, or a disk
/// that takes no more than about 2 KiB per file (`ulimit -f 2`, writes beyond
/// fail with EFBIG as they would with ENOSPC).
#[derive(Debug, Clone, Copy)]
enum Trouble {
    BrokerOutage(Signal),
    DiskFull,
}

fn outage(signal: Signal) -> anyhow::Result<()> {
    run_through(Trouble::BrokerOutage(signal))
}

fn run_through(trouble: Trouble) -> anyhow::Result<()> {
    let name = match trouble {
        Trouble::BrokerOutage(signal) => signal.to_string(),
        Trouble::DiskFull => "diskfull".to_owned(),
    };
    let mut broker = Mosquitto::start_persistent()?;
    let dir = scratch_dir(&format!("mqtt-sink-outage-{name}"));
    let arrow = dir.join("alerts.arrow");
    alerts_file(&arrow)?;
    let mut events: Vec<serde_json::Value> = (0..ALERTS)
        .map(|n| {
            serde_json::json!({"time_offset_secs": 0.5 + n as f64 * EVERY_SECS, "type": "Input", "id": "alerts",
                "path": arrow, "batch_index": n})
        })
        .collect();
    let stop_at = 0.5 + ALERTS as f64 * EVERY_SECS + 4.0;
    events.push(serde_json::json!({"time_offset_secs": stop_at, "type": "Stop"}));
    let inputs = dir.join("inputs.json");
    std::fs::write(&inputs, serde_json::json!({"id": "mqtt-sink", "events": events}).to_string())?;

    let root = format!("outage{name}/area/line");
    let subscriber = TestClient::connect_persistent(broker.port, &[format!("{root}/alerts/#")])?;
    let sink_binary = release_binary("mqtt-sink")?;
    let log = dir.join("sink.log");
    let mut command = match trouble {
        Trouble::BrokerOutage(_) => Command::new(&sink_binary),
        Trouble::DiskFull => {
            // The log goes through `cat`, started before the limit, so it is
            // not cut at 2 KiB. SIGXFSZ ignored (kept through exec): a write
            // past the limit fails instead of killing the process.
            let mut shell = Command::new("bash");
            shell
                .arg("-c")
                .arg("exec 2> >(cat > \"$1\"); trap '' XFSZ; ulimit -f 2; exec \"$0\"")
                .arg(&sink_binary)
                .arg(&log);
            shell
        }
    };
    let outputs = match trouble {
        // Outputs (the metrics) are not looked at; a device file has no size limit.
        Trouble::DiskFull => std::path::PathBuf::from("/dev/null"),
        Trouble::BrokerOutage(_) => dir.join("outputs.jsonl"),
    };
    if let Trouble::BrokerOutage(_) = trouble {
        command.stderr(std::fs::File::create(&log)?);
    }
    command
        .env("DORA_TEST_WITH_INPUTS", &inputs)
        .env("DORA_TEST_WRITE_OUTPUTS_TO", outputs)
        .env("MQTT_BROKER_URL", broker.url())
        .env("MQTT_TOPIC_ROOT", &root)
        .env("OUTBOX_DIR", dir.join("outbox"))
        .env("ALERTS_RETAIN_LAST", "true");
    let started = Instant::now();
    let mut sink = ProcessGroup::spawn("mqtt-sink", command)?;

    if let Trouble::BrokerOutage(signal) = trouble {
        std::thread::sleep(OUTAGE_AT);
        broker.stop(signal);
        std::thread::sleep(OUTAGE);
        broker.restart()?;
    }

    let status = sink
        .wait_timeout(Duration::from_secs_f64(stop_at + 15.0).saturating_sub(started.elapsed()))
        .ok_or_else(|| anyhow::anyhow!("mqtt-sink did not stop after its Stop event"))?;
    let log_text = || shopfloor_dataflow_tests::strip_ansi(&std::fs::read_to_string(&log).unwrap_or_default());
    assert!(status.success(), "mqtt-sink exited with {status}:\n{}", log_text());

    let mut seen = HashSet::new();
    let (mut order, mut duplicates) = (Vec::new(), 0);
    // The stream per station and severity; the retained copies on `.../last` are checked below.
    while let Some(message) = subscriber.wait_for(Duration::from_secs(3), |m| !m.topic.ends_with("/last")) {
        let id = message.json["id"].as_str().unwrap_or_default().to_owned();
        if seen.insert(id.clone()) {
            order.push(id);
        } else {
            duplicates += 1;
        }
    }
    eprintln!("{name}: {} distinct alerts, {duplicates} duplicates removed", order.len());
    if let Trouble::DiskFull = trouble {
        // Read after the subscriber's quiet wait: `cat` has written the whole log by then.
        let text = log_text();
        assert!(text.contains("cannot write the outbox journal"), "the full disk was not met:\n{text}");
    }
    let expected: Vec<String> = (0..ALERTS).map(|n| format!("a-{n:03}")).collect();
    assert_eq!(order, expected, "alerts missing or out of order through {trouble:?}");

    let late_panel = TestClient::connect(broker.port, &[format!("{root}/alerts/+/last")])?;
    let last = late_panel
        .wait_for(Duration::from_secs(30), |m| m.retained)
        .ok_or_else(|| anyhow::anyhow!("no retained last alert for the station"))?;
    assert_eq!(last.topic, format!("{root}/alerts/station1/last"));
    assert_eq!(last.json["id"], format!("a-{:03}", ALERTS - 1), "{}", last.json);
    if let Trouble::BrokerOutage(_) = trouble {
        // With the disk full the journal may be behind: only the healthy one is read.
        let left = std::fs::read_to_string(dir.join("outbox/outbox.jsonl"))?;
        let waiting = left.lines().filter(|l| l.contains("\"add\"")).count()
            - left.lines().filter(|l| l.contains("\"done\"")).count();
        assert_eq!(waiting, 0, "messages left in the outbox");
    }
    Ok(())
}

#[test]
fn alerts_are_published_while_the_outbox_disk_is_full() -> anyhow::Result<()> {
    run_through(Trouble::DiskFull)
}

#[test]
fn alerts_survive_a_clean_broker_restart() -> anyhow::Result<()> {
    outage(Signal::SIGTERM)
}

#[test]
fn alerts_survive_a_broker_crash() -> anyhow::Result<()> {
    outage(Signal::SIGKILL)
}
