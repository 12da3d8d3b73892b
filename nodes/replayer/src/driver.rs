//! The node on dora: wait until the dataflow is ready, then each recorded
//! message at its time, answering dora meanwhile; stops when dora says so
//! or the recording is played.

use std::path::PathBuf;
use std::time::Instant;

use dora_node_api::{DoraNode, Event, EventStream};
use recording::{DrecError, DrecReader};
use shopfloor_node::clock::now_ms;
use shopfloor_node::driver::SendError;
use shopfloor_node::{Driver, Wiring};

use crate::config::ReplayerConfig;
use crate::state::{Counts, NothingToPlay, PassEnd, ReplayState};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Recording(#[from] DrecError),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error("{file}: nothing to replay")]
    Nothing {
        file: PathBuf,
        #[source]
        source: NothingToPlay,
    },
    #[error("cannot write {file}")]
    DoneFile {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Go,
    Stop,
}

/// Takes one event into account; `Stop` when dora stops the node.
fn take(event: Option<Event>, state: &mut ReplayState) -> Wait {
    match event {
        None | Some(Event::Stop(_)) => Wait::Stop,
        Some(Event::Input { id, data, .. }) => {
            state.on_input(id.as_str(), data.as_array());
            Wait::Go
        }
        Some(Event::InputClosed { id, .. }) => {
            state.on_input_closed(id.as_str());
            Wait::Go
        }
        Some(_) => Wait::Go,
    }
}

/// Waits until `until`, answering dora; `Stop` when dora stops the node.
fn wait_until(events: &mut EventStream, until: Instant, state: &mut ReplayState) -> Wait {
    while let Some(left) = until.checked_duration_since(Instant::now()).filter(|left| !left.is_zero()) {
        if take(events.recv_timeout(left), state) == Wait::Stop {
            return Wait::Stop;
        }
    }
    Wait::Go
}

/// Waits on dora's events until `done` holds; `Stop` when dora stops the node first.
fn wait_for(events: &mut EventStream, state: &mut ReplayState, done: impl Fn(&ReplayState) -> bool) -> Wait {
    while !done(state) {
        if take(events.recv(), state) == Wait::Stop {
            return Wait::Stop;
        }
    }
    Wait::Go
}

/// Plays the recording (once, or until stopped with `REPLAY_LOOP`).
pub fn run(
    config: &ReplayerConfig,
    wiring: &Wiring,
    node: DoraNode,
    mut events: EventStream,
) -> Result<Counts, ReplayError> {
    let inputs = wiring.inputs.keys().map(|id| id.to_string());
    let mut state = ReplayState::new(config, inputs);
    let mut driver = Driver::new(node);
    if !state.is_ready() {
        tracing::info!(waiting = ?state.waiting(), "waiting for the dataflow to be ready");
    }
    if wait_for(&mut events, &mut state, ReplayState::is_ready) == Wait::Stop {
        return Ok(state.counts().clone());
    }
    let recording_start_ms = (DrecReader::open(&config.file)?.start_nanos() / 1_000_000) as i64;
    state.begin(recording_start_ms, now_ms());
    let start = Instant::now();
    tracing::info!(file = %config.file.display(), speed = config.speed, "replay starts");
    'passes: loop {
        let mut reader = DrecReader::open(&config.file)?;
        while let Some(message) = reader.next_message()? {
            let Some(planned) = state.plan(message) else { continue };
            if let Some(due) = planned.due {
                if wait_until(&mut events, start + due, &mut state) == Wait::Stop {
                    break 'passes;
                }
            }
            if wait_for(&mut events, &mut state, ReplayState::may_send) == Wait::Stop {
                break 'passes;
            }
            driver.send(state.emit(planned))?;
        }
        match state.end_pass().map_err(|source| ReplayError::Nothing { file: config.file.clone(), source })? {
            PassEnd::Again => {}
            PassEnd::Done => break,
        }
    }
    // dora can drop a message still in flight when its sender exits right
    // after sending it (seen with a frame on the daemon path): stay a moment,
    // until dora stops the node or the linger is over.
    if state.paced_by_receivers() {
        // Everything sent has been taken: nothing is left in flight.
        wait_for(&mut events, &mut state, ReplayState::all_taken);
    } else if let Some(linger) = config.linger {
        wait_until(&mut events, Instant::now() + linger, &mut state);
    }
    if let Some(done) = &config.done_file {
        std::fs::write(done, state.done_text())
            .map_err(|source| ReplayError::DoneFile { file: done.clone(), source })?;
    }
    Ok(state.counts().clone())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Arc;

    use dora_node_api::arrow_v59::array::{Array, ArrayRef, UInt64Array, UInt8Array};
    use dora_node_api::uhlc::HLC;
    use dora_node_api::{MetadataParameters, Parameter};
    use recording::{DrecWriter, RecordedMessage};
    use shopfloor_core::schema::{Reading, ReadingValue};
    use shopfloor_node::testing::TestRun;

    use super::*;

    fn reading(value: f64) -> ArrayRef {
        Reading::to_arrow(&[Reading::good(
            "opc",
            "spindle_temperature".into(),
            ReadingValue::Number(value),
            Some("°C".into()),
            Some(1_000),
            1_000,
        )])
    }

    fn message(
        node: &str,
        output: &str,
        offset_ms: u64,
        data: ArrayRef,
        parameters: MetadataParameters,
    ) -> RecordedMessage {
        RecordedMessage {
            node_id: node.into(),
            output_id: output.into(),
            offset_ns: offset_ms * 1_000_000,
            timestamp: HLC::default().new_timestamp(),
            parameters,
            data: Some(data),
        }
    }

    /// Readings of two nodes and a frame with its metadata, 50 ms apart.
    fn recording(dir: &Path) -> PathBuf {
        let path = dir.join("shift.drec");
        let mut frame_meta = MetadataParameters::default();
        frame_meta.insert("width".into(), Parameter::Integer(2));
        let frame: ArrayRef = Arc::new(UInt8Array::from(vec![9u8; 6]));
        let mut writer = DrecWriter::create(&path, "").unwrap();
        for message in [
            message("opcua-source", "readings", 0, reading(70.0), MetadataParameters::default()),
            message("plant-sim", "readings", 50, reading(1.0), MetadataParameters::default()),
            message("camera-source", "frames", 100, frame, frame_meta),
            message("opcua-source", "readings", 150, reading(81.0), MetadataParameters::default()),
        ] {
            writer.write(&message).unwrap();
        }
        writer.finish().unwrap();
        path
    }

    fn config(file: PathBuf, speed: f64, done_file: Option<PathBuf>) -> ReplayerConfig {
        ReplayerConfig {
            file,
            node: Some("opcua-source".into()),
            topics: BTreeMap::from([("camera".to_owned(), "camera-source/frames".parse().unwrap())]),
            speed,
            repeat: false,
            done_file,
            shift_times: BTreeMap::new(),
            linger: None,
            window: 50,
        }
    }

    /// Under dora: the recorded node's outputs and the listed topic play in
    /// their recorded order and timing, with their metadata; the other
    /// node's are left out; the done file says what was sent.
    #[test]
    fn a_recording_plays_in_order_with_its_timing_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let done = dir.path().join("done.json");
        // Ticks keep dora's testing-mode events flowing, so the sends are
        // not held until the Stop; the Stop only bounds a run starved by a
        // loaded machine (at 2 s one cold run sent only the first message).
        let (counts, outputs) = TestRun::new("replayer")
            .ticks(0.02, 10.0, "tick")
            .stop(10.0)
            .run_wired(|node, events, wiring| {
                run(&config(recording(dir.path()), 1.0, Some(done.clone())), wiring, node, events)
            })
            .unwrap();
        assert_eq!(counts.unwrap(), Counts { messages: 3, passes: 1 });
        assert_eq!(outputs.ids(), ["readings", "camera", "readings"]);
        // Recorded 0, 100 and 150 ms apart: played no faster than that.
        let sent_at: Vec<f64> = outputs.0.iter().map(|sent| sent.at_secs - outputs.0[0].at_secs).collect();
        assert!(sent_at[1] >= 0.1 && sent_at[2] >= 0.15, "played at the recorded pace: {sent_at:?}");
        let values: Vec<ReadingValue> = outputs
            .on("readings")
            .flat_map(|sent| Reading::from_arrow(sent.data.as_ref()).unwrap())
            .map(|r| r.value)
            .collect();
        assert_eq!(values, [ReadingValue::Number(70.0), ReadingValue::Number(81.0)]);
        assert_eq!(outputs.single("camera").unwrap().data.len(), 6);
        let text = std::fs::read_to_string(&done).unwrap();
        assert!(text.contains("\"messages\":3") && text.contains("time_shift"), "{text}");
    }

    /// A replay paced by acknowledgements waits until its window has room,
    /// and the ready input holds the start back.
    #[test]
    fn acknowledgements_pace_the_replay_and_ready_inputs_hold_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(recording(dir.path()), 0.0, None);
        config.window = 1;
        let count = |n: u64| -> ArrayRef { Arc::new(UInt64Array::from(vec![n])) };
        let (counts, outputs) = TestRun::new("replayer")
            .tick(0.1, "ready_dataflow")
            .input(0.2, "ack", count(1))
            .input(0.3, "ack", count(2))
            .input(0.4, "ack", count(3))
            .stop(1.0)
            .run_wired(|node, events, wiring| run(&config, wiring, node, events))
            .unwrap();
        assert_eq!(counts.unwrap().messages, 3);
        // Window 1: the first waits for the ready input (0.1 s), each next
        // one for the acknowledgement of the one before (0.2 s, 0.3 s).
        let sent_at: Vec<f64> = outputs.0.iter().map(|sent| sent.at_secs).collect();
        assert_eq!(sent_at.len(), 3);
        for (at, released_at) in sent_at.iter().zip([0.1, 0.2, 0.3]) {
            assert!(*at >= released_at, "sent at {sent_at:?}, released at 0.1, 0.2, 0.3 s");
        }
    }

    #[test]
    fn a_recording_without_the_node_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(recording(dir.path()), 0.0, None);
        config.node = Some("mqtt-source".into());
        config.topics.clear();
        let (result, _) =
            TestRun::new("replayer").run_wired(|node, events, wiring| run(&config, wiring, node, events)).unwrap();
        assert!(matches!(result, Err(ReplayError::Nothing { .. })), "{result:?}");
    }
}
