//! A recording played by the `replayer` and recorded again by the
//! `recorder`, in a dataflow of just those two (the replay suite's round
//! trip and the replay benchmark).

use std::path::{Path, PathBuf};
use std::process::Command;

use recording::RecordedMessage;

use crate::dataflow::dora_binary;
use crate::release_binary;

/// Plays `recording` at `speed` (0: as fast as possible) through a dataflow
/// of just the replayer and the recorder, every topic recorded as itself;
/// with `acknowledged`, the replayer paces itself by the recorder's count
/// (`ack: recorder/recorded`). Returns the new file.
pub fn replay_and_record(recording: &Path, dir: &Path, speed: f64, acknowledged: bool) -> anyhow::Result<PathBuf> {
    let messages = recording::read_file(recording)?;
    let topics: std::collections::BTreeSet<String> = messages.iter().map(RecordedMessage::topic).collect();
    let output = |topic: &str| topic.replace('/', "__");
    let outputs: Vec<String> = topics.iter().map(|t| format!("      - {}", output(t))).collect();
    let play: Vec<String> = topics.iter().map(|t| format!("{}={t}", output(t))).collect();
    let inputs: Vec<String> = topics
        .iter()
        .map(|t| {
            format!(
                "      {0}:\n        source: replay/{0}\n        queue_size: 10\n        queue_policy: backpressure",
                output(t)
            )
        })
        .collect();
    let record_as: Vec<String> = topics.iter().map(|t| format!("{}={t}", output(t))).collect();
    let again = dir.join("again.drec");
    let yaml = format!(
        "nodes:\n  - id: replay\n    path: {}\n{}    outputs:\n{}\n    env:\n      REPLAY_FILE: {}\n      REPLAY_TOPICS: \"{}\"\n      REPLAY_SPEED: \"{}\"\n  - id: recorder\n    path: {}\n    inputs:\n{}\n    env:\n      RECORD_FILE: {}\n      RECORD_TOPICS: \"{}\"\n{}",
        release_binary("replayer")?.display(),
        if acknowledged { "    inputs:\n      ack: recorder/recorded\n" } else { "" },
        outputs.join("\n"),
        recording.display(),
        play.join(","),
        speed,
        release_binary("recorder")?.display(),
        inputs.join("\n"),
        again.display(),
        record_as.join(","),
        if acknowledged { "    outputs:\n      - recorded\n" } else { "" },
    );
    let dataflow = dir.join("round-trip.yml");
    std::fs::write(&dataflow, yaml)?;
    let output = Command::new(dora_binary())
        .arg("run")
        .arg(&dataflow)
        .args(["--stop-after", "600s"])
        .current_dir(dir)
        .output()?;
    let log = crate::strip_ansi(&format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ));
    anyhow::ensure!(output.status.success(), "dora run failed:\n{log}");
    Ok(again)
}
