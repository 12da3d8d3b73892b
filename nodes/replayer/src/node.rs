//! The node's loop: wait until ready, then each message at its time,
//! answering dora meanwhile; stop when dora says so or the recording ends.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::config::ReplayerConfig;
use dora_node_api::arrow_v59::array::{ArrayRef, NullArray};
use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, Event, EventStream};
use recording::{DrecError, DrecReader};
use shopfloor_node::clock::now_ms;

use crate::flow::Credits;
use crate::selection::output_for;
use crate::shift::{shift_fields, TimeShift};
use crate::timing::ReplayClock;

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The recording cannot be read.
    #[error(transparent)]
    Recording(#[from] DrecError),
    /// dora refused an output.
    #[error("cannot send {output}: {message}")]
    Send {
        /// The output.
        output: String,
        /// dora's reason.
        message: String,
    },
    /// The recording has nothing this replayer plays.
    #[error("{file} has no message of {what}")]
    Nothing {
        /// The recording.
        file: String,
        /// What was asked for.
        what: String,
    },
    /// The done file cannot be written.
    #[error("cannot write {file}: {message}")]
    DoneFile {
        /// The file.
        file: String,
        /// The OS' reason.
        message: String,
    },
}

/// What the replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Messages sent.
    pub messages: u64,
    /// Passes over the recording begun.
    pub passes: u64,
}

enum Wait {
    Go,
    Stop,
}

/// Takes one event into account; `Stop` when dora stops the node.
fn take(event: Option<Event>, credits: &mut Credits) -> Wait {
    match event {
        None | Some(Event::Stop(_)) => Wait::Stop,
        Some(Event::Input { id, data, .. }) => {
            credits.report(id.as_str(), data.as_array());
            Wait::Go
        }
        Some(Event::InputClosed { id, .. }) => {
            credits.closed(id.as_str());
            Wait::Go
        }
        Some(_) => Wait::Go,
    }
}

/// Waits until `until` (or not at all), answering dora; `Stop` when dora
/// stops the node.
fn wait(events: &mut EventStream, until: Option<Instant>, credits: &mut Credits) -> Wait {
    let Some(until) = until else { return Wait::Go };
    loop {
        let now = Instant::now();
        if now >= until {
            return Wait::Go;
        }
        if let Wait::Stop = take(events.recv_timeout(until - now), credits) {
            return Wait::Stop;
        }
    }
}

/// Waits until the receivers have taken enough for one more message to go.
fn wait_for_credit(events: &mut EventStream, credits: &mut Credits, sent: u64, window: u64) -> Wait {
    while !credits.may_send(sent, window) {
        if let Wait::Stop = take(events.recv(), credits) {
            return Wait::Stop;
        }
    }
    Wait::Go
}

/// Holds the start back until every `ready*` input has had a message or
/// closed; `Stop` when dora stops the node first.
fn wait_until_ready(node: &DoraNode, events: &mut EventStream) -> Wait {
    let mut waiting: BTreeSet<String> =
        node.node_config().inputs.keys().map(|id| id.to_string()).filter(|id| id.starts_with("ready")).collect();
    if !waiting.is_empty() {
        tracing::info!(?waiting, "waiting for the dataflow to be ready");
    }
    while !waiting.is_empty() {
        match events.recv() {
            None | Some(Event::Stop(_)) => return Wait::Stop,
            Some(Event::Input { id, .. }) | Some(Event::InputClosed { id, .. }) => {
                waiting.remove(id.as_str());
            }
            Some(_) => {}
        }
    }
    Wait::Go
}

/// Plays the recording (once, or until stopped with `REPLAY_LOOP`).
pub fn run(config: &ReplayerConfig, mut node: DoraNode, mut events: EventStream) -> Result<Counts, ReplayError> {
    let mut counts = Counts::default();
    if let Wait::Stop = wait_until_ready(&node, &mut events) {
        return Ok(counts);
    }
    let mut credits =
        Credits::new(node.node_config().inputs.keys().map(|id| id.to_string()).filter(|id| id.starts_with("ack")));
    let clock = ReplayClock::new(Instant::now(), config.speed);
    let recording_start_ms = (DrecReader::open(&config.file)?.start_nanos() / 1_000_000) as i64;
    let shift = TimeShift { recording_start_ms, replay_start_ms: now_ms(), speed: config.speed };
    tracing::info!(file = %config.file.display(), speed = config.speed, "replay starts");
    let mut pass_start_ns = 0u64;
    'passes: loop {
        counts.passes += 1;
        let mut reader = DrecReader::open(&config.file)?;
        let mut last_offset = 0u64;
        let mut sent_this_pass = 0u64;
        while let Some(message) = reader.next_message()? {
            last_offset = last_offset.max(message.offset_ns);
            let Some(output) = output_for(config, &message) else { continue };
            if let Wait::Stop = wait(&mut events, clock.due(pass_start_ns, message.offset_ns), &mut credits) {
                break 'passes;
            }
            if let Wait::Stop = wait_for_credit(&mut events, &mut credits, counts.messages, config.window) {
                break 'passes;
            }
            let mut data: ArrayRef = message.data.unwrap_or_else(|| std::sync::Arc::new(NullArray::new(0)));
            if let Some(fields) = config.shift_times.get(&output) {
                data = shift_fields(&data, fields, &shift);
            }
            node.send_output(DataId::from(output.clone()), message.parameters, data)
                .map_err(|e| ReplayError::Send { output, message: e.to_string() })?;
            counts.messages += 1;
            sent_this_pass += 1;
        }
        if sent_this_pass == 0 {
            let what = match &config.node {
                Some(node) => format!("node {node}"),
                None => format!("{:?}", config.topics.values().map(ToString::to_string).collect::<Vec<_>>()),
            };
            return Err(ReplayError::Nothing { file: config.file.display().to_string(), what });
        }
        tracing::info!(pass = counts.passes, messages = sent_this_pass, "replay pass done");
        if !config.repeat {
            break;
        }
        // The next pass starts where this one ended, plus one message gap
        // of at least a millisecond so the last and first are not sent together.
        pass_start_ns += last_offset + 1_000_000;
    }
    // dora can drop a message still in flight when its sender exits right
    // after sending it (seen with a frame on the daemon path): stay a moment,
    // until dora stops the node or the linger is over.
    if credits.active() {
        // Everything sent has been taken: nothing is left in flight.
        wait_for_credit(&mut events, &mut credits, counts.messages, 1);
    } else if let Some(linger) = config.linger {
        wait(&mut events, Some(Instant::now() + linger), &mut credits);
    }
    if let Some(done) = &config.done_file {
        let text = serde_json::json!({ "messages": counts.messages, "passes": counts.passes, "time_shift": shift })
            .to_string();
        std::fs::write(done, text)
            .map_err(|e| ReplayError::DoneFile { file: done.display().to_string(), message: e.to_string() })?;
    }
    Ok(counts)
}
