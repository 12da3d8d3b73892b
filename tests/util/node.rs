//! Running one node binary in dora's testing mode (no daemon): its inputs
//! are a JSON file of timed events, its outputs go to a JSONL file.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::ProcessGroup;
use crate::{release_binary, scratch_dir, Scratch};

/// How long after its `Stop` event a node may take to exit. Generous: a
/// model node still answering a queue of questions on a busy machine has
/// taken over 120 s (twelve questions beside two busy loops, 2026-12-06);
/// the wait ends as soon as the node exits.
const STOP_GRACE: Duration = Duration::from_secs(360);

/// An event on the input named `input` every `every` until `run_secs`: in
/// testing mode they keep a node's start, slowed by a loaded machine, from
/// waiting for its next scripted event (the `Stop`).
pub fn input_ticks(every: Duration, input: &str, run_secs: f64) -> Vec<serde_json::Value> {
    (1..)
        .map(|n| n as f64 * every.as_secs_f64())
        .take_while(|&at| at < run_secs)
        .map(|at| serde_json::json!({"time_offset_secs": at, "type": "Input", "id": input, "data": 0}))
        .collect()
}

/// A node binary started with only a `Stop` event after `run_secs`.
pub struct TestNode {
    /// The running process group.
    pub process: ProcessGroup,
    /// Its stderr (the log).
    pub log: PathBuf,
    run_secs: f64,
    /// The folder of its inputs, outputs and log, when this node made it.
    _dir: Option<Scratch>,
}

impl TestNode {
    /// Starts `target/release/<binary>` with `envs`; it stops by itself after `run_secs`.
    pub fn start(binary: &str, envs: &[(&str, String)], run_secs: f64, scratch: &str) -> anyhow::Result<Self> {
        Self::start_with_ticks(binary, envs, run_secs, None, scratch)
    }

    /// Like [`start`](Self::start), with a `tick` input every `tick`: in
    /// testing mode dora's `recv_timeout` waits for the next event rather
    /// than the timeout, so a node that wakes on a timer needs these.
    pub fn start_with_ticks(
        binary: &str,
        envs: &[(&str, String)],
        run_secs: f64,
        tick: Option<Duration>,
        scratch: &str,
    ) -> anyhow::Result<Self> {
        Self::start_with_input_ticks(binary, envs, run_secs, tick.map(|every| (every, "tick")), scratch)
    }

    /// Like [`start_with_ticks`](Self::start_with_ticks), the ticks on the
    /// input named `input` (a node's `metrics_tick`, as its dataflow's timer
    /// gives it): they also keep a start slowed by a loaded machine from
    /// waiting for the `Stop`.
    pub fn start_with_input_ticks(
        binary: &str,
        envs: &[(&str, String)],
        run_secs: f64,
        tick: Option<(Duration, &str)>,
        scratch: &str,
    ) -> anyhow::Result<Self> {
        let events = tick.map(|(every, input)| input_ticks(every, input, run_secs)).unwrap_or_default();
        let dir = scratch_dir(scratch);
        let mut node = Self::start_with_events(binary, envs, events, run_secs, &dir)?;
        node._dir = Some(dir);
        Ok(node)
    }

    /// Starts the node with timed `events` (see [`arrow_input`]) in `dir`,
    /// then a `Stop` after `run_secs`.
    pub fn start_with_events(
        binary: &str,
        envs: &[(&str, String)],
        mut events: Vec<serde_json::Value>,
        run_secs: f64,
        dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let inputs = dir.join("inputs.json");
        events.push(serde_json::json!({"time_offset_secs": run_secs, "type": "Stop"}));
        std::fs::write(&inputs, serde_json::json!({"id": binary, "events": events}).to_string())?;
        let log = dir.join("stderr.log");
        let mut command = Command::new(release_binary(binary)?);
        command
            .env("DORA_TEST_WITH_INPUTS", &inputs)
            .env("DORA_TEST_WRITE_OUTPUTS_TO", dir.join("outputs.jsonl"))
            .env("RUST_LOG", "debug")
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stderr(Stdio::from(std::fs::File::create(&log)?));
        let process = ProcessGroup::spawn(binary, command)?;
        Ok(Self { process, log, run_secs, _dir: None })
    }

    /// Waits for the node to stop by itself; returns its log and whether it exited cleanly.
    pub fn wait(&mut self) -> anyhow::Result<(String, bool)> {
        let limit = Duration::from_secs_f64(self.run_secs) + STOP_GRACE;
        let status = self.process.wait_timeout(limit).ok_or_else(|| {
            anyhow::anyhow!(
                "the node did not stop within {} s of its Stop event:\n{}",
                STOP_GRACE.as_secs(),
                self.log_text()
            )
        })?;
        Ok((std::fs::read_to_string(&self.log)?, status.success()))
    }

    /// The outputs file dora's testing mode writes when the node ends.
    pub fn outputs(&self) -> PathBuf {
        self.log.with_file_name("outputs.jsonl")
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Writes `batches` (struct arrays, e.g. `Reading::to_arrow(..)`) to an
/// Arrow IPC file and returns one input event per batch, `id` at `times`:
/// how a test hands a node the project's own Arrow messages.
pub fn arrow_input(
    dir: &std::path::Path,
    id: &str,
    batches: &[(f64, dora_node_api::arrow_v59::array::ArrayRef)],
) -> anyhow::Result<Vec<serde_json::Value>> {
    use dora_node_api::arrow_v59::array::{Array, AsArray, RecordBatch};
    let path = dir.join(format!("{id}.arrow"));
    let schema = match batches.first() {
        Some((_, first)) => match first.data_type() {
            dora_node_api::arrow_v59::datatypes::DataType::Struct(fields) => {
                std::sync::Arc::new(dora_node_api::arrow_v59::datatypes::Schema::new(fields.clone()))
            }
            other => anyhow::bail!("{id}: a struct array is needed, got {other}"),
        },
        None => return Ok(Vec::new()),
    };
    let mut writer =
        dora_node_api::arrow_v59::ipc::writer::FileWriter::try_new(std::fs::File::create(&path)?, &schema)?;
    for (_, array) in batches {
        writer.write(&RecordBatch::from(array.as_struct().clone()))?;
    }
    writer.finish()?;
    Ok(batches
        .iter()
        .enumerate()
        .map(|(index, (at, _))| {
            serde_json::json!({"time_offset_secs": at, "type": "Input", "id": id, "path": path, "batch_index": index})
        })
        .collect())
}

/// Every row of every output in a testing-mode outputs file: (output id, row).
pub fn output_rows(path: &std::path::Path) -> Vec<(String, serde_json::Value)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .flat_map(|output| {
            let id = output["id"].as_str().unwrap_or_default().to_owned();
            output["data"].as_array().cloned().unwrap_or_default().into_iter().map(move |row| (id.clone(), row))
        })
        .collect()
}
