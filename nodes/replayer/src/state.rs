//! The replay as plain state: whether the dataflow is ready, which recorded
//! message plays under which output and when, whether the receivers leave
//! room for one more, and the passes over the recording. No dora, no file,
//! no clock: the driver reads the recording, waits and sends.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use dora_node_api::arrow_v59::array::{ArrayRef, NullArray};
use recording::RecordedMessage;
use shopfloor_node::Emit;

use crate::config::ReplayerConfig;
use crate::flow::Credits;
use crate::selection::output_for;
use crate::shift::{shift_fields, TimeShift};
use crate::timing::ReplayClock;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub messages: u64,
    /// Passes over the recording begun.
    pub passes: u64,
}

/// A recorded message this replayer plays.
#[derive(Debug)]
pub struct Planned {
    pub output: String,
    /// How long after the replay's start it is due; `None`: now.
    pub due: Option<Duration>,
    pub message: RecordedMessage,
}

/// The recording has nothing this replayer plays.
#[derive(Debug, thiserror::Error)]
#[error("the recording has no message of {what}")]
pub struct NothingToPlay {
    /// What was asked for (`node opcua-source`, or the topics).
    pub what: String,
}

/// What follows the end of a pass over the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassEnd {
    Again,
    Done,
}

pub struct ReplayState {
    config: ReplayerConfig,
    clock: ReplayClock,
    /// `ready…` inputs that have not spoken yet.
    waiting: BTreeSet<String>,
    credits: Credits,
    shift: TimeShift,
    pass_start_ns: u64,
    last_offset_ns: u64,
    sent_this_pass: u64,
    counts: Counts,
}

impl ReplayState {
    /// A replay for a node with these input ids: `ready…` ones hold the
    /// start back, `ack…` ones pace it.
    pub fn new(config: &ReplayerConfig, inputs: impl IntoIterator<Item = String>) -> Self {
        let inputs: Vec<String> = inputs.into_iter().collect();
        Self {
            clock: ReplayClock::new(config.speed),
            waiting: inputs.iter().filter(|id| id.starts_with("ready")).cloned().collect(),
            credits: Credits::new(inputs.into_iter().filter(|id| id.starts_with("ack"))),
            shift: TimeShift { recording_start_ms: 0, replay_start_ms: 0, speed: config.speed },
            config: config.clone(),
            pass_start_ns: 0,
            last_offset_ns: 0,
            sent_this_pass: 0,
            counts: Counts::default(),
        }
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// The `ready…` inputs still awaited.
    pub fn waiting(&self) -> &BTreeSet<String> {
        &self.waiting
    }

    pub fn is_ready(&self) -> bool {
        self.waiting.is_empty()
    }

    /// A message on `input`: a `ready…` input is ready, an `ack…` one
    /// reports what its receiver has taken.
    pub fn on_input(&mut self, input: &str, data: &ArrayRef) {
        self.waiting.remove(input);
        self.credits.report(input, data);
    }

    /// A closed input holds nothing back any more.
    pub fn on_input_closed(&mut self, input: &str) {
        self.waiting.remove(input);
        self.credits.closed(input);
    }

    /// The first pass begins: the recording started at
    /// `recording_start_ms`, the replay at `now_ms`.
    pub fn begin(&mut self, recording_start_ms: i64, now_ms: i64) {
        self.shift = TimeShift { recording_start_ms, replay_start_ms: now_ms, speed: self.config.speed };
        self.counts.passes = 1;
    }

    pub fn time_shift(&self) -> &TimeShift {
        &self.shift
    }

    /// The next recorded message of the pass: when and under which output
    /// it plays; `None` when this replayer does not play it.
    pub fn plan(&mut self, message: RecordedMessage) -> Option<Planned> {
        self.last_offset_ns = self.last_offset_ns.max(message.offset_ns);
        let output = output_for(&self.config, &message)?;
        let due = self.clock.due(self.pass_start_ns, message.offset_ns);
        Some(Planned { output, due, message })
    }

    /// Whether the receivers leave room for one more message in flight.
    pub fn may_send(&self) -> bool {
        self.credits.may_send(self.counts.messages, self.config.window)
    }

    /// Whether receivers acknowledge what they take.
    pub fn paced_by_receivers(&self) -> bool {
        self.credits.active()
    }

    /// Whether every message sent has been taken.
    pub fn all_taken(&self) -> bool {
        self.credits.may_send(self.counts.messages, 1)
    }

    /// The message to send, its time fields moved when configured; counted.
    pub fn emit(&mut self, planned: Planned) -> Emit {
        let Planned { output, message, .. } = planned;
        let mut data: ArrayRef = message.data.unwrap_or_else(|| Arc::new(NullArray::new(0)));
        if let Some(fields) = self.config.shift_times.get(&output) {
            data = shift_fields(&data, fields, &self.shift);
        }
        self.counts.messages += 1;
        self.sent_this_pass += 1;
        Emit::new(output, data).with_parameters(message.parameters)
    }

    /// The pass is over: another one (with `REPLAY_LOOP`) or done. A pass
    /// that played nothing is an error: the recording lacks what was asked.
    pub fn end_pass(&mut self) -> Result<PassEnd, NothingToPlay> {
        if self.sent_this_pass == 0 {
            let what = match &self.config.node {
                Some(node) => format!("node {node}"),
                None => format!("{:?}", self.config.topics.values().map(ToString::to_string).collect::<Vec<_>>()),
            };
            return Err(NothingToPlay { what });
        }
        tracing::info!(pass = self.counts.passes, messages = self.sent_this_pass, "replay pass done");
        if !self.config.repeat {
            return Ok(PassEnd::Done);
        }
        // The next pass starts where this one ended, plus one message gap
        // of at least a millisecond so the last and first are not sent together.
        self.pass_start_ns += self.last_offset_ns + 1_000_000;
        self.sent_this_pass = 0;
        self.counts.passes += 1;
        Ok(PassEnd::Again)
    }

    /// What `REPLAY_DONE_FILE` says: the counts and the time mapping.
    pub fn done_text(&self) -> String {
        serde_json::json!({ "messages": self.counts.messages, "passes": self.counts.passes, "time_shift": self.shift })
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use dora_node_api::arrow_v59::array::{Array, Int64Array, StructArray, UInt64Array};
    use dora_node_api::arrow_v59::datatypes::{DataType, Field, Fields};
    use dora_node_api::uhlc::HLC;

    use super::*;

    fn config(speed: f64, repeat: bool) -> ReplayerConfig {
        ReplayerConfig {
            file: "x.drec".into(),
            node: Some("opcua-source".into()),
            topics: BTreeMap::from([("asked".to_owned(), "mqtt-source/questions".parse().unwrap())]),
            speed,
            repeat,
            done_file: None,
            shift_times: BTreeMap::from([("asked".to_owned(), vec!["received_ts_ms".to_owned()])]),
            linger: None,
            window: 2,
        }
    }

    fn message(node: &str, output: &str, offset_ms: u64, data: Option<ArrayRef>) -> RecordedMessage {
        RecordedMessage {
            node_id: node.into(),
            output_id: output.into(),
            offset_ns: offset_ms * 1_000_000,
            timestamp: HLC::default().new_timestamp(),
            parameters: Default::default(),
            data,
        }
    }

    fn question(received_ts_ms: i64) -> ArrayRef {
        let fields = Fields::from(vec![Field::new("received_ts_ms", DataType::Int64, false)]);
        Arc::new(StructArray::new(fields, vec![Arc::new(Int64Array::from(vec![received_ts_ms])) as ArrayRef], None))
    }

    #[test]
    fn messages_play_under_their_outputs_at_their_time_with_times_moved() {
        let mut state = ReplayState::new(&config(2.0, false), Vec::new());
        assert!(state.is_ready());
        state.begin(10_000, 50_000);
        assert!(state.plan(message("plant-sim", "readings", 0, None)).is_none(), "not played here");
        let planned = state.plan(message("opcua-source", "readings", 400, None)).unwrap();
        assert_eq!((planned.output.as_str(), planned.due), ("readings", Some(Duration::from_millis(200))));
        let emit = state.emit(planned);
        assert_eq!((emit.output.as_str(), emit.data.len()), ("readings", 0));
        let planned = state.plan(message("mqtt-source", "questions", 1_000, Some(question(10_600)))).unwrap();
        let emit = state.emit(planned);
        assert_eq!(emit.output, "asked");
        let rows = emit.data.as_any().downcast_ref::<StructArray>().unwrap();
        let moved = rows.column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0);
        assert_eq!(moved, 50_300, "as old at its send time as when recorded, at twice the speed");
        assert_eq!(state.end_pass().unwrap(), PassEnd::Done);
        assert_eq!(state.counts(), &Counts { messages: 2, passes: 1 });
        assert!(state.done_text().contains("\"messages\":2"), "{}", state.done_text());
    }

    #[test]
    fn a_looping_replay_starts_the_next_pass_after_the_last_message() {
        let mut state = ReplayState::new(&config(1.0, true), Vec::new());
        state.begin(0, 0);
        let planned = state.plan(message("opcua-source", "readings", 500, None)).unwrap();
        state.emit(planned);
        assert_eq!(state.end_pass().unwrap(), PassEnd::Again);
        let again = state.plan(message("opcua-source", "readings", 0, None)).unwrap();
        assert_eq!(again.due, Some(Duration::from_millis(501)));
        assert_eq!(state.counts().passes, 2);
        assert!(state.end_pass().is_err(), "a pass that played nothing");
    }

    #[test]
    fn ready_inputs_hold_the_start_and_ack_inputs_the_pace() {
        let inputs = ["ready_slm".to_owned(), "ack".to_owned(), "questions".to_owned()];
        let mut state = ReplayState::new(&config(0.0, false), inputs);
        assert_eq!(state.waiting().iter().collect::<Vec<_>>(), ["ready_slm"]);
        let count = |n: u64| -> ArrayRef { Arc::new(UInt64Array::from(vec![n])) };
        state.on_input("ready_slm", &count(0));
        assert!(state.is_ready() && state.paced_by_receivers());
        for _ in 0..2 {
            assert!(state.may_send());
            let planned = state.plan(message("opcua-source", "readings", 0, None)).unwrap();
            assert_eq!(planned.due, None, "speed 0: no waiting");
            state.emit(planned);
        }
        assert!(!state.may_send(), "the window of 2 is full");
        state.on_input("ack", &count(1));
        assert!(state.may_send() && !state.all_taken());
        state.on_input_closed("ack");
        assert!(state.all_taken());
    }
}
