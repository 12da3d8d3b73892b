//! The dora side every node shares: sending what its logic decided,
//! counting the inputs it refused, and answering the metrics tick.
//!
//! A node's logic is plain state: it is handed one input (or a wake-up) and
//! the time, and returns the [`Emit`]s to send, or a [`Rejected`] that says
//! why it refused the input. [`Driver`] does the rest, the same way in every
//! node:
//!
//! - sends each `Emit` (an output id dora does not know is a bug in the
//!   dataflow, which dora itself logs once);
//! - counts rejected inputs by reason, logs the first ones and then only the
//!   powers of two (a flood of bad messages must not flood the log), and
//!   reports them as `shopfloor_rejected_inputs{reason}`;
//! - on `metrics_tick` sends the logic's snapshot, with the rejections and
//!   the process's resident memory added.
//!
//! Nodes that also wait on something else (an MQTT connection, a model
//! thread) run their own loop over one channel ([`forward_dora_events`]) and
//! still send, reject and report through a `Driver`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use dora_node_api::arrow_v59::array::{Array, ArrayRef};
use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters};
use shopfloor_core::schema::MetricSample;

use crate::clock::now_ms;
use crate::metrics::{Snapshot, METRICS_OUTPUT, METRICS_TICK_INPUT};

/// One message a node's logic wants sent.
#[derive(Debug, Clone)]
pub struct Emit {
    /// The output id, as declared in the dataflow.
    pub output: String,
    /// dora metadata parameters (frames carry their size here).
    pub parameters: MetadataParameters,
    pub data: ArrayRef,
}

impl Emit {
    pub fn new(output: impl Into<String>, data: ArrayRef) -> Self {
        Self { output: output.into(), parameters: MetadataParameters::default(), data }
    }

    pub fn with_parameters(mut self, parameters: MetadataParameters) -> Self {
        self.parameters = parameters;
        self
    }
}

/// Why a node's logic refused an input: a short reason that becomes a
/// metric label (`schema`, `unknown_input`, `bad_frame`, ...) and the detail
/// for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub reason: &'static str,
    pub detail: String,
}

impl Rejected {
    pub fn new(reason: &'static str, detail: impl fmt::Display) -> Self {
        Self { reason, detail: detail.to_string() }
    }

    /// The input's array is not the message the input id promises.
    pub fn schema(detail: impl fmt::Display) -> Self {
        Self::new("schema", detail)
    }

    /// An input id the node has no use for.
    pub fn unknown_input(input: &str) -> Self {
        Self::new("unknown_input", format_args!("no input `{input}` is known to this node"))
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// Inputs refused, by reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rejections {
    by_reason: BTreeMap<&'static str, u64>,
}

impl Rejections {
    /// Counts one refused input and logs it while it is among the first of
    /// its reason or its count is a power of two.
    pub fn count(&mut self, input: &str, rejected: &Rejected) {
        let count = self.by_reason.entry(rejected.reason).or_default();
        *count += 1;
        if *count <= 3 || count.is_power_of_two() {
            tracing::warn!(input, reason = rejected.reason, detail = %rejected.detail, rejected = *count, "input rejected");
        }
    }

    pub fn total(&self) -> u64 {
        self.by_reason.values().sum()
    }

    pub fn by_reason(&self) -> &BTreeMap<&'static str, u64> {
        &self.by_reason
    }

    /// Adds `shopfloor_rejected_inputs{reason}` to a snapshot.
    pub fn report(&self, snapshot: &mut Snapshot) {
        for (reason, count) in &self.by_reason {
            snapshot.counter("shopfloor_rejected_inputs", "Inputs refused, by reason", &[("reason", reason)], *count);
        }
    }
}

/// dora refused to send an output.
#[derive(Debug, thiserror::Error)]
#[error("cannot send output `{output}`")]
pub struct SendError {
    pub output: String,
    #[source]
    pub source: dora_node_api::NodeError,
}

/// A node's logic, as [`Driver::run`] drives it. Every method is handed the
/// time instead of reading a clock, so tests decide what time it is.
pub trait NodeLogic {
    /// One input. `metrics_tick` never reaches this: the driver answers it.
    fn on_input(
        &mut self,
        input: &str,
        data: &dyn Array,
        parameters: &MetadataParameters,
        now_ms: i64,
    ) -> Result<Vec<Emit>, Rejected>;

    /// An input's sender is gone for good (or, with an `input_timeout`, for now).
    fn on_input_closed(&mut self, _input: &str, _now_ms: i64) -> Vec<Emit> {
        Vec::new()
    }

    /// A timed-out input speaks again.
    fn on_input_recovered(&mut self, _input: &str, _now_ms: i64) -> Vec<Emit> {
        Vec::new()
    }

    /// How often the node wants [`on_wake`](Self::on_wake) when no input
    /// comes (deadlines, pacing); `None`: only inputs wake it.
    fn wake_interval(&self) -> Option<Duration> {
        None
    }

    fn on_wake(&mut self, _now_ms: i64) -> Vec<Emit> {
        Vec::new()
    }

    /// The node's series for the metrics snapshot (rejections and memory
    /// are added by the driver).
    fn metrics(&self, snapshot: &mut Snapshot);

    /// dora said stop (or the event stream ended): last words.
    fn on_stop(&mut self, _now_ms: i64) -> Vec<Emit> {
        Vec::new()
    }
}

/// Sends outputs, counts rejections and answers the metrics tick for one node.
pub struct Driver {
    node: DoraNode,
    node_id: String,
    rejections: Rejections,
}

impl Driver {
    pub fn new(node: DoraNode) -> Self {
        let node_id = node.id().to_string();
        Self { node, node_id, rejections: Rejections::default() }
    }

    /// The node's id in the dataflow (the metrics' `node` label).
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn node(&self) -> &DoraNode {
        &self.node
    }

    pub fn rejections(&self) -> &Rejections {
        &self.rejections
    }

    pub fn send(&mut self, emit: Emit) -> Result<(), SendError> {
        let Emit { output, parameters, data } = emit;
        self.node
            .send_output(DataId::from(output.clone()), parameters, data)
            .map_err(|source| SendError { output, source })
    }

    pub fn send_all(&mut self, emits: impl IntoIterator<Item = Emit>) -> Result<(), SendError> {
        emits.into_iter().try_for_each(|emit| self.send(emit))
    }

    pub fn reject(&mut self, input: &str, rejected: &Rejected) {
        self.rejections.count(input, rejected);
    }

    /// Sends the node's metrics snapshot: what `fill` adds, then the
    /// rejections and the process's resident memory.
    pub fn send_metrics(&mut self, fill: impl FnOnce(&mut Snapshot)) -> Result<(), SendError> {
        let mut snapshot = Snapshot::new(self.node_id.clone());
        fill(&mut snapshot);
        self.rejections.report(&mut snapshot);
        snapshot.process_memory();
        let samples = snapshot.finish();
        self.send(Emit::new(METRICS_OUTPUT, MetricSample::to_arrow(&samples)))
    }

    /// Runs `logic` until dora says stop or the event stream ends; sends a
    /// last snapshot and returns.
    pub fn run(&mut self, events: &mut EventStream, logic: &mut impl NodeLogic) -> Result<(), SendError> {
        self.run_then(events, logic, |_| {})
    }

    /// Like [`run`](Self::run), calling `after_each` once what an event (or
    /// a wake) produced has been sent: where a node keeps its state on disk,
    /// so that what it keeps never runs ahead of what it sent.
    pub fn run_then<L: NodeLogic>(
        &mut self,
        events: &mut EventStream,
        logic: &mut L,
        mut after_each: impl FnMut(&mut L),
    ) -> Result<(), SendError> {
        loop {
            let event = match logic.wake_interval() {
                Some(interval) => match events.recv_timeout(interval) {
                    // dora reports a timeout as an error event.
                    Some(Event::Error(_)) => {
                        let emits = logic.on_wake(now_ms());
                        self.send_all(emits)?;
                        after_each(logic);
                        continue;
                    }
                    other => other,
                },
                None => events.recv(),
            };
            let Some(event) = event else { break };
            let flow = self.step(event, logic)?;
            if flow == Flow::Stop {
                break;
            }
            if logic.wake_interval().is_some() {
                let emits = logic.on_wake(now_ms());
                self.send_all(emits)?;
            }
            after_each(logic);
        }
        let emits = logic.on_stop(now_ms());
        self.send_all(emits)?;
        self.send_metrics(|snapshot| logic.metrics(snapshot))
    }

    /// Handles one dora event for `logic`; nodes with their own loop call it
    /// for the dora events they receive.
    pub fn step(&mut self, event: Event, logic: &mut impl NodeLogic) -> Result<Flow, SendError> {
        let now = now_ms();
        match event {
            Event::Input { id, metadata, data } => {
                let input = id.as_str();
                if input == METRICS_TICK_INPUT {
                    self.send_metrics(|snapshot| logic.metrics(snapshot))?;
                    return Ok(Flow::Continue);
                }
                match logic.on_input(input, data.as_array().as_ref(), &metadata.parameters, now) {
                    Ok(emits) => self.send_all(emits)?,
                    Err(rejected) => self.reject(input, &rejected),
                }
            }
            Event::InputClosed { id } => {
                tracing::info!(input = %id, "input closed");
                let emits = logic.on_input_closed(id.as_str(), now);
                self.send_all(emits)?;
            }
            Event::InputRecovered { id } => {
                tracing::info!(input = %id, "input recovered");
                let emits = logic.on_input_recovered(id.as_str(), now);
                self.send_all(emits)?;
            }
            Event::Stop(cause) => {
                tracing::info!(?cause, "dora asked the node to stop");
                return Ok(Flow::Stop);
            }
            Event::Error(message) => tracing::warn!(%message, "dora reported an error"),
            _ => {}
        }
        Ok(Flow::Continue)
    }
}

/// Whether a loop goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// What a merged-channel node loop receives from dora's side.
#[derive(Debug)]
pub enum DoraSide {
    Event(Event),
    /// The event stream ended.
    Closed,
}

/// Moves dora's blocking event stream onto its own thread, which hands each
/// event (and the stream's end) to `tx`, a bounded channel the node's loop
/// also receives its other events from. The thread ends with the stream or
/// when the loop is gone.
pub fn forward_dora_events<T: From<DoraSide> + Send + 'static>(
    mut events: EventStream,
    tx: SyncSender<T>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("dora-events".into()).spawn(move || {
        while let Some(event) = events.recv() {
            let stop = matches!(event, Event::Stop(_));
            if tx.send(T::from(DoraSide::Event(event))).is_err() || stop {
                return;
            }
        }
        let _ = tx.send(T::from(DoraSide::Closed));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_are_counted_by_reason_and_reported() {
        let mut rejections = Rejections::default();
        for _ in 0..5 {
            rejections.count("readings", &Rejected::schema("not a reading batch"));
        }
        rejections.count("foo", &Rejected::unknown_input("foo"));
        assert_eq!(rejections.total(), 6);
        assert_eq!(rejections.by_reason().get("schema"), Some(&5));
        let mut snapshot = Snapshot::new("node");
        rejections.report(&mut snapshot);
        let samples = snapshot.finish();
        assert_eq!(samples.len(), 2);
        assert!(samples.iter().all(|s| s.name == "shopfloor_rejected_inputs"));
        assert!(samples.iter().any(|s| s.labels == [("reason".to_owned(), "schema".to_owned())] && s.value == 5.0));
    }

    #[test]
    fn an_unknown_input_names_itself() {
        let rejected = Rejected::unknown_input("frames_typo");
        assert_eq!(rejected.reason, "unknown_input");
        assert!(rejected.to_string().contains("frames_typo"), "{rejected}");
    }
}
