//! The node's front as plain state: which inputs become work for the model
//! thread, which questions are admitted and which are answered "busy" at
//! once, what was counted. No dora, no clock, no model: the driver hands it
//! each input with the time, and the model thread's results come back here
//! before they are sent.
//!
//! # Queue policy
//!
//! The model answers one question at a time, and an answer takes seconds
//! on small hardware, so work is bounded on both kinds of input:
//!
//! - **Questions** are never dropped silently. As many as the model has
//!   sequences (`slots`, the profile's `engine.parallel`) may be answered
//!   together and `queue_capacity` more may wait; a question beyond that
//!   gets a `busy` answer at once (the operator can ask again), and so does
//!   one no answering worker is left for. Waiting questions are taken in turn
//!   per origin ([`FairQueue`]).
//! - **Readings**: the latest plant state wins. Readings wait in
//!   [`PendingReadings`] until the model thread takes them (before every
//!   question and whenever it is idle); past [`PENDING_READINGS_MAX`] the
//!   older readings of each tag are dropped for its newest one and counted
//!   (`shopfloor_readings_coalesced`). The plant state then misses some
//!   history points of a busy period, never a tag's current value.

use std::collections::{BTreeMap, HashMap, VecDeque};

use dora_node_api::arrow_v59::array::{Array, StringArray};
use dora_node_api::MetadataParameters;
use shopfloor_core::schema::{Answer, AnswerError, Question, Reading, ReadingValue};
use shopfloor_node::metrics::Snapshot;
use shopfloor_node::{Emit, NodeLogic, Rejected};

use crate::lora_control::{self, LoraCommand, LORA_INPUT};
use crate::metrics::SlmMetrics;

/// Input ids starting with this carry `reading` batches (`readings`,
/// `readings_mqtt`, …: one input per source).
pub const READINGS_INPUT: &str = "readings";
/// Input ids starting with this carry `question` batches (`questions`,
/// `questions_http`, …: one input per front door).
pub const QUESTIONS_INPUT: &str = "questions";
pub const ANSWERS_OUTPUT: &str = "answers";

/// Readings that may wait for the model thread before older readings of a
/// tag are dropped for its newest one.
pub const PENDING_READINGS_MAX: usize = 4096;

/// Work the driver hands to the model thread.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Question(Question),
    Lora(LoraCommand),
}

/// What the model thread reports back.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    Answered(Box<Answer>),
    /// The power policy swapped in another variant.
    Swapped(String),
    /// The engine refused a LoRA command (no adapter of that name, ...).
    LoraRefused {
        command: LoraCommand,
        reason: String,
    },
}

/// The front's state: admission, counts, and the work decided for the
/// model thread since the driver last took it.
pub struct SlmNode {
    capacity: usize,
    /// Questions answered at once.
    slots: usize,
    /// Questions admitted and not yet answered (waiting or being answered).
    waiting: usize,
    metrics: SlmMetrics,
    readings: Vec<Vec<Reading>>,
    work: Vec<Work>,
}

impl SlmNode {
    /// A front for `model`; `capacity` questions may wait beyond the one
    /// being answered.
    pub fn new(model: &str, capacity: usize) -> Self {
        Self { capacity, slots: 1, waiting: 0, metrics: SlmMetrics::new(model), readings: Vec::new(), work: Vec::new() }
    }

    /// `slots` questions are answered at once (1 unless set).
    pub fn with_slots(mut self, slots: usize) -> Self {
        self.slots = slots.max(1);
        self
    }

    pub fn counts(&self) -> &SlmMetrics {
        &self.metrics
    }

    /// Questions admitted and not yet answered.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// The reading batches and the work decided since the last call, for
    /// the driver to hand over.
    pub fn take_work(&mut self) -> (Vec<Vec<Reading>>, Vec<Work>) {
        (std::mem::take(&mut self.readings), std::mem::take(&mut self.work))
    }

    /// The driver could not hand `work` to the model thread (it is gone, or
    /// its queue is full): a question is answered busy, a LoRA command is
    /// refused.
    pub fn not_taken(&mut self, work: Work, now_ms: i64) -> Result<Emit, Rejected> {
        match work {
            Work::Question(question) => {
                self.waiting = self.waiting.saturating_sub(1);
                Ok(self.busy(&question, now_ms))
            }
            Work::Lora(command) => {
                Err(Rejected::new("lora_queue_full", format_args!("{command:?}: the model thread cannot take it now")))
            }
        }
    }

    /// A result of the model thread: answers are counted and sent.
    pub fn on_done(&mut self, done: Done) -> Result<Option<Emit>, Rejected> {
        match done {
            Done::Answered(answer) => {
                self.waiting = self.waiting.saturating_sub(1);
                tracing::info!(id = %answer.id, latency_ms = answer.latency_ms, ttft_ms = ?answer.ttft_ms, confidence = ?answer.confidence, "answered");
                Ok(Some(self.send(&answer)))
            }
            Done::Swapped(model) => {
                self.metrics.swapped_to(&model);
                Ok(None)
            }
            Done::LoraRefused { command, reason } => {
                Err(Rejected::new("lora_refused", format_args!("{command:?}: {reason}")))
            }
        }
    }

    /// Pending readings dropped for newer ones of their tag.
    pub fn coalesced(&mut self, dropped: usize) {
        self.metrics.readings_coalesced += dropped as u64;
    }

    fn send(&mut self, answer: &Answer) -> Emit {
        self.metrics.answered(answer);
        Emit::new(ANSWERS_OUTPUT, Answer::to_arrow(std::slice::from_ref(answer)))
    }

    fn busy(&mut self, question: &Question, now_ms: i64) -> Emit {
        self.metrics.busy += 1;
        tracing::warn!(id = %question.id, capacity = self.capacity, busy = self.metrics.busy, "question queue full; answering busy");
        let answer = busy_answer(question, now_ms);
        self.send(&answer)
    }

    /// Admits each question while there is room (`slots` being answered,
    /// `capacity` waiting); the rest are answered busy now. Room is counted
    /// once per message, so questions that arrive together are judged
    /// against the queue as it was when they arrived.
    fn take_questions(&mut self, questions: Vec<Question>, now_ms: i64) -> Vec<Emit> {
        let mut room = (self.capacity + self.slots).saturating_sub(self.waiting);
        let mut emits = Vec::new();
        for question in questions {
            if room == 0 {
                emits.push(self.busy(&question, now_ms));
            } else {
                room -= 1;
                self.waiting += 1;
                self.work.push(Work::Question(question));
            }
        }
        emits
    }

    fn take_lora(&mut self, data: &dyn Array) -> Result<(), Rejected> {
        let texts = data
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| Rejected::schema("LoRA commands are Utf8 strings"))?;
        // Every valid command goes on; the first invalid one is reported.
        let mut refused = None;
        for text in texts.iter().flatten() {
            match lora_control::parse(text) {
                Ok(command) => self.work.push(Work::Lora(command)),
                Err(error) => {
                    refused.get_or_insert(Rejected::new("lora_command", error));
                }
            }
        }
        refused.map_or(Ok(()), Err)
    }
}

impl NodeLogic for SlmNode {
    fn on_input(
        &mut self,
        input: &str,
        data: &dyn Array,
        _parameters: &MetadataParameters,
        now_ms: i64,
    ) -> Result<Vec<Emit>, Rejected> {
        if input == LORA_INPUT {
            self.take_lora(data)?;
            Ok(Vec::new())
        } else if input.starts_with(READINGS_INPUT) {
            let readings = Reading::from_arrow(data).map_err(Rejected::schema)?;
            self.metrics.readings += readings.len() as u64;
            self.readings.push(readings);
            Ok(Vec::new())
        } else if input.starts_with(QUESTIONS_INPUT) {
            let questions = Question::from_arrow(data).map_err(Rejected::schema)?;
            Ok(self.take_questions(questions, now_ms))
        } else {
            Err(Rejected::unknown_input(input))
        }
    }

    fn metrics(&self, snapshot: &mut Snapshot) {
        self.metrics.fill(snapshot, self.waiting, self.capacity);
    }
}

/// The answer to a question the node has no room for.
pub fn busy_answer(question: &Question, now_ms: i64) -> Answer {
    let mut answer = Answer::to_question(
        question,
        "The assistant is busy with other questions; please ask again in a moment.".into(),
    );
    answer.error = Some(AnswerError::Busy);
    answer.latency_ms = (now_ms - question.received_ts_ms).max(0);
    answer
}

/// Admitted questions waiting for a free slot. Each origin (MQTT, HTTP)
/// has its own line and the lines take turns, so a flood through one front
/// door cannot keep the other waiting; within a line, first come first
/// served. A question whose deadline passed while it waited is still taken
/// (and answered "expired" without the model, see `answering::answer`).
#[derive(Debug, Default)]
pub struct FairQueue {
    lines: BTreeMap<&'static str, VecDeque<Question>>,
    /// The origin served last.
    last: Option<&'static str>,
}

impl FairQueue {
    pub fn push(&mut self, question: Question) {
        self.lines.entry(question.origin.as_str()).or_default().push_back(question);
    }

    /// The next question: from the first origin after the one served last
    /// that has one waiting.
    pub fn pop(&mut self) -> Option<Question> {
        let after = self.last.and_then(|last| {
            self.lines
                .range::<&str, _>((std::ops::Bound::Excluded(last), std::ops::Bound::Unbounded))
                .find(|(_, line)| !line.is_empty())
                .map(|(origin, _)| *origin)
        });
        let origin =
            after.or_else(|| self.lines.iter().find(|(_, line)| !line.is_empty()).map(|(origin, _)| *origin))?;
        self.last = Some(origin);
        self.lines.get_mut(origin)?.pop_front()
    }

    pub fn len(&self) -> usize {
        self.lines.values().map(VecDeque::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Readings waiting to be taken into the plant state (by the model thread,
/// or by a worker before its question), at most [`PENDING_READINGS_MAX`]
/// after each batch (beyond it, the older readings of each tag go); and the
/// power states for the model thread.
#[derive(Debug, Default)]
pub struct PendingReadings {
    readings: Vec<Reading>,
    /// The power policy's state from the Linux files, latest only.
    power_state: Option<&'static str>,
    /// The power policy's tag, if its state comes from a reading.
    power_tag: Option<String>,
    /// The newest value of that tag not yet taken by the model thread.
    tagged_state: Option<String>,
}

impl PendingReadings {
    /// Pending readings whose power-policy tag (if any) is noted as they arrive.
    pub fn watching(power_tag: Option<String>) -> Self {
        Self { power_tag, ..Self::default() }
    }

    /// Adds a batch; returns how many older readings were dropped to stay
    /// within the bound.
    pub fn push(&mut self, batch: Vec<Reading>) -> usize {
        if let Some(state) = self.power_tag.as_deref().and_then(|tag| power_state_in(&batch, tag)) {
            self.tagged_state = Some(state);
        }
        self.readings.extend(batch);
        if self.readings.len() <= PENDING_READINGS_MAX {
            return 0;
        }
        let before = self.readings.len();
        // The newest reading of each tag stays, in arrival order.
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (index, reading) in self.readings.iter().enumerate() {
            last.insert(reading.tag.as_str(), index);
        }
        let keep: Vec<bool> =
            (0..before).map(|index| last.get(self.readings[index].tag.as_str()) == Some(&index)).collect();
        let mut index = 0;
        self.readings.retain(|_| {
            index += 1;
            keep[index - 1]
        });
        before - self.readings.len()
    }

    pub fn set_power_state(&mut self, state: &'static str) {
        self.power_state = Some(state);
    }

    pub fn is_empty(&self) -> bool {
        self.readings.is_empty() && self.power_state.is_none() && self.tagged_state.is_none()
    }

    /// The pending readings, in arrival order.
    pub fn take_readings(&mut self) -> Vec<Reading> {
        std::mem::take(&mut self.readings)
    }

    /// The latest power state from the Linux files and from the policy's tag.
    pub fn take_power_states(&mut self) -> (Option<&'static str>, Option<String>) {
        (self.power_state.take(), self.tagged_state.take())
    }
}

/// The newest value of `tag` in `readings`, as the power policy reads it.
pub fn power_state_in(readings: &[Reading], tag: &str) -> Option<String> {
    readings.iter().rev().find(|r| r.tag == tag).map(|reading| match &reading.value {
        ReadingValue::Text(text) => text.clone(),
        ReadingValue::Number(n) => n.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use shopfloor_core::schema::{MetricSample, Origin};

    use super::*;
    use crate::test_support::reading;

    fn question(id: &str) -> Question {
        Question::new(id, "How fast is the spindle turning?", "alice", Origin::Mqtt, 1_000)
    }

    fn answers(emits: &[Emit]) -> Vec<Answer> {
        emits.iter().flat_map(|e| Answer::from_arrow(e.data.as_ref()).unwrap()).collect()
    }

    fn input(node: &mut SlmNode, input: &str, data: &dyn Array, now_ms: i64) -> Result<Vec<Emit>, Rejected> {
        node.on_input(input, data, &MetadataParameters::default(), now_ms)
    }

    #[test]
    fn questions_beyond_the_queue_are_answered_busy_at_once_and_the_rest_go_to_the_model() {
        let mut node = SlmNode::new("SmolLM2", 1);
        let batch = Question::to_arrow(&(0..4).map(|n| question(&format!("q-{n}"))).collect::<Vec<_>>());
        let emits = input(&mut node, "questions_http", batch.as_ref(), 1_250).unwrap();
        let busy = answers(&emits);
        assert_eq!(busy.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["q-2", "q-3"]);
        assert!(busy.iter().all(|a| a.error == Some(AnswerError::Busy) && a.latency_ms == 250));
        let (_, work) = node.take_work();
        assert_eq!(work, [Work::Question(question("q-0")), Work::Question(question("q-1"))]);
        assert_eq!((node.waiting(), node.counts().busy), (2, 2));

        // An answer frees a place; the next question is admitted.
        let mut done = Answer::to_question(&question("q-0"), "1450 rpm".into());
        done.model = Some("SmolLM2".into());
        let sent = node.on_done(Done::Answered(Box::new(done))).unwrap().expect("the answer is sent");
        assert_eq!(sent.output, ANSWERS_OUTPUT);
        assert_eq!(node.waiting(), 1);
        let next = Question::to_arrow(&[question("q-4")]);
        assert!(input(&mut node, "questions", next.as_ref(), 1_300).unwrap().is_empty());
        assert_eq!(node.take_work().1, [Work::Question(question("q-4"))]);
    }

    #[test]
    fn a_question_the_model_thread_cannot_take_is_answered_busy_not_dropped() {
        let mut node = SlmNode::new("SmolLM2", 4);
        let batch = Question::to_arrow(&[question("q-0")]);
        input(&mut node, "questions", batch.as_ref(), 1_000).unwrap();
        let (_, mut work) = node.take_work();
        let emit = node.not_taken(work.remove(0), 1_010).unwrap();
        let answer = &answers(&[emit])[0];
        assert_eq!((answer.id.as_str(), answer.error), ("q-0", Some(AnswerError::Busy)));
        assert_eq!(node.waiting(), 0);
        let refused = node.not_taken(Work::Lora(LoraCommand::Off), 1_010).unwrap_err();
        assert_eq!(refused.reason, "lora_queue_full");
    }

    #[test]
    fn readings_and_lora_commands_become_work_and_malformed_inputs_are_rejected() {
        let mut node = SlmNode::new("SmolLM2", 4);
        let readings = Reading::to_arrow(&[reading("spindle_speed", ReadingValue::Number(1450.0), Some("rpm"), 5)]);
        assert!(input(&mut node, "readings_mqtt", readings.as_ref(), 10).unwrap().is_empty());
        let commands: dora_node_api::arrow_v59::array::ArrayRef =
            std::sync::Arc::new(StringArray::from(vec!["terms=0.5", "load /etc/passwd", "off"]));
        let refused = input(&mut node, LORA_INPUT, commands.as_ref(), 10).unwrap_err();
        assert_eq!(refused.reason, "lora_command");
        assert!(refused.detail.contains("expected `off`, `NAME` or `NAME=SCALE`"), "{refused}");
        let (batches, work) = node.take_work();
        assert_eq!(batches.len(), 1);
        assert_eq!(
            work,
            [Work::Lora(LoraCommand::On { name: "terms".into(), scale: Some(0.5) }), Work::Lora(LoraCommand::Off)]
        );

        assert_eq!(input(&mut node, "questions", readings.as_ref(), 10).unwrap_err().reason, "schema");
        assert_eq!(input(&mut node, "readings", commands.as_ref(), 10).unwrap_err().reason, "schema");
        assert_eq!(input(&mut node, "frames", readings.as_ref(), 10).unwrap_err().reason, "unknown_input");
        assert_eq!(node.counts().readings, 1);
    }

    #[test]
    fn a_refused_lora_command_and_a_swap_are_reported() {
        let mut node = SlmNode::new("SmolLM2-135M-Instruct.Q4_1", 4);
        let command = LoraCommand::On { name: "nonexistent".into(), scale: None };
        let refused = node
            .on_done(Done::LoraRefused { command, reason: "no adapter of that name is loaded".into() })
            .unwrap_err();
        assert_eq!(refused.reason, "lora_refused");
        assert!(node.on_done(Done::Swapped("SmolLM2-135M-Instruct.Q8_0".into())).unwrap().is_none());
        let mut snapshot = Snapshot::new("slm");
        node.metrics(&mut snapshot);
        let samples: Vec<MetricSample> = snapshot.finish();
        let info = samples.iter().find(|s| s.name == "shopfloor_model_info").unwrap();
        assert_eq!(info.labels[0].1, "SmolLM2-135M-Instruct.Q8_0");
        let swaps = samples.iter().find(|s| s.name == "shopfloor_model_swaps").unwrap();
        assert_eq!(swaps.value, 1.0);
    }

    #[test]
    fn pending_readings_keep_every_reading_up_to_the_bound_then_the_newest_per_tag() {
        let mut pending = PendingReadings::default();
        let batch = |tag: &str, from: i64, count: i64| -> Vec<Reading> {
            (from..from + count).map(|ts| reading(tag, ReadingValue::Number(ts as f64), None, ts)).collect()
        };
        assert_eq!(pending.push(batch("a", 0, 10)), 0);
        assert_eq!(pending.take_readings().len(), 10, "below the bound nothing is dropped");
        assert!(pending.is_empty());

        let half = PENDING_READINGS_MAX as i64 / 2;
        assert_eq!(pending.push(batch("a", 0, half)), 0);
        assert_eq!(pending.push(batch("b", 0, half)), 0);
        let dropped = pending.push(batch("a", half, 2));
        assert_eq!(dropped, PENDING_READINGS_MAX + 2 - 2);
        pending.set_power_state("battery");
        pending.set_power_state("hot");
        let left = pending.take_readings();
        let newest: Vec<(&str, i64)> = left.iter().map(|r| (r.tag.as_str(), r.received_ts_ms)).collect();
        assert_eq!(newest, [("b", half - 1), ("a", half + 1)], "the newest of each tag, in arrival order");
        assert_eq!(pending.take_power_states(), (Some("hot"), None), "the latest power state wins");
    }

    #[test]
    fn the_power_tag_is_noted_even_when_a_worker_takes_the_readings() {
        let mut pending = PendingReadings::watching(Some("gateway_power".into()));
        pending.push(vec![reading("gateway_power", ReadingValue::Text("battery".into()), None, 1)]);
        pending.push(vec![reading("spindle_speed", ReadingValue::Number(1450.0), None, 2)]);
        assert_eq!(pending.take_readings().len(), 2);
        assert!(!pending.is_empty(), "the model thread has not seen the power state yet");
        assert_eq!(pending.take_power_states(), (None, Some("battery".to_owned())));
        assert!(pending.is_empty());
    }

    #[test]
    fn the_power_tag_is_read_from_its_newest_reading() {
        let readings = [
            reading("gateway_power", ReadingValue::Text("mains".into()), None, 1),
            reading("spindle_speed", ReadingValue::Number(1450.0), None, 2),
            reading("gateway_power", ReadingValue::Number(2.0), None, 3),
        ];
        assert_eq!(power_state_in(&readings, "gateway_power").as_deref(), Some("2"));
        assert_eq!(power_state_in(&readings, "other"), None);
    }

    #[test]
    fn with_several_slots_as_many_questions_are_admitted_beyond_the_queue() {
        let mut node = SlmNode::new("SmolLM2", 1).with_slots(3);
        let batch = Question::to_arrow(&(0..6).map(|n| question(&format!("q-{n}"))).collect::<Vec<_>>());
        let busy = answers(&input(&mut node, "questions", batch.as_ref(), 1_000).unwrap());
        assert_eq!(busy.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["q-4", "q-5"]);
        assert_eq!(node.take_work().1.len(), 4, "three answered at once, one waiting");
    }

    #[test]
    fn the_fair_queue_takes_origins_in_turn_and_each_in_arrival_order() {
        let asked = |id: &str, origin| Question::new(id, "How fast is the spindle?", "alice", origin, 1_000);
        let mut queue = FairQueue::default();
        for n in 0..4 {
            queue.push(asked(&format!("http-{n}"), Origin::Http));
        }
        queue.push(asked("mqtt-0", Origin::Mqtt));
        queue.push(asked("mqtt-1", Origin::Mqtt));
        assert_eq!(queue.len(), 6);
        let order: Vec<String> = std::iter::from_fn(|| queue.pop()).map(|q| q.id).collect();
        assert_eq!(order, ["http-0", "mqtt-0", "http-1", "mqtt-1", "http-2", "http-3"]);
        assert!(queue.is_empty());
    }
}
