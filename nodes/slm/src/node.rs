//! The SLM node's event loop, on two threads:
//!
//! - the *receiver* takes dora events as they arrive, decodes them, and
//!   hands readings and questions to the answerer in arrival order; when the
//!   bounded question queue is full it answers "busy" at once instead of
//!   letting questions pile up behind a slow model;
//! - the *answerer* owns the model, keeps the plant state, and answers
//!   questions one by one. Between questions it keeps the fact sheet's
//!   tokens evaluated in the KV cache, so that a question only costs its own
//!   tokens.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters};
use shopfloor_core::schema::{Answer, AnswerError, MetricSample, Question, Reading};
use shopfloor_node::clock::now_ms;
use shopfloor_node::metrics::{METRICS_OUTPUT, METRICS_TICK_INPUT};

use crate::answering::{answer, warm_cache, AnswerSettings};
use crate::engine::Engine;
use crate::lora_control::{self, LoraCommand, LORA_INPUT};
use crate::metrics::SlmMetrics;
use crate::plant_state::{PlantState, StateSettings};
use crate::power::{linux_power_state, PowerSwitch};

/// Input id of reading batches (also any input id starting with it, e.g.
/// `readings_mqtt`, so that several sources can feed one node).
pub const READINGS_INPUT: &str = "readings";
/// Input id of questions (also any input id starting with it, e.g.
/// `questions_http`, one per front door).
pub const QUESTIONS_INPUT: &str = "questions";
/// Output id of answers.
pub const ANSWERS_OUTPUT: &str = "answers";

/// The cache is warmed at most this often (each warm-up evaluates the fact
/// sheet's changed tail; more often would only burn CPU).
const WARM_INTERVAL: Duration = Duration::from_millis(1000);

/// Settings of the loop.
#[derive(Debug, Clone, Copy)]
pub struct NodeSettings {
    /// How answers are made.
    pub answer: AnswerSettings,
    /// Questions waiting beyond the one being answered.
    pub queue_capacity: usize,
    /// History and staleness.
    pub state: StateSettings,
}

/// Counts for the final log line.
#[derive(Debug, Default, Clone, Copy)]
pub struct SlmCounts {
    /// Questions answered by the answerer.
    pub answered: u64,
    /// Questions answered "busy" because the queue was full.
    pub busy: u64,
    /// Inputs that did not decode as their schema.
    pub rejected_inputs: u64,
}

enum Work {
    Readings(Vec<Reading>),
    Question(Question),
    /// The power state from the Linux files.
    PowerState(&'static str),
    /// A LoRA command from the `lora` input.
    Lora(LoraCommand),
}

/// How often the answerer looks for a finished variant load while one runs.
const SWAP_POLL: Duration = Duration::from_millis(20);

/// Runs until dora says stop.
pub fn run(
    engine: &mut Engine,
    settings: NodeSettings,
    power: Option<PowerSwitch>,
    node: DoraNode,
    events: EventStream,
) -> Result<SlmCounts, dora_node_api::NodeError> {
    let node = Mutex::new(node);
    let waiting = AtomicUsize::new(0);
    let metrics = SlmMetrics::new(&engine.model_name);
    let (work_tx, work_rx) = mpsc::channel::<Work>();
    let shared = Shared { node: &node, waiting: &waiting, metrics: &metrics };
    let stopping = AtomicBool::new(false);

    let answered = std::thread::scope(|scope| {
        if let Some(policy) =
            power.as_ref().map(|p| p.policy().clone()).filter(|p| p.source == slm_engine::profile::PowerSource::Linux)
        {
            let work = work_tx.clone();
            let stopping = &stopping;
            scope.spawn(move || watch_linux_power(policy.poll_secs, policy.hot_above_celsius, &work, stopping));
        }
        let receiver = scope.spawn(|| {
            let result = receive(events, work_tx, shared, settings.queue_capacity);
            stopping.store(true, Ordering::SeqCst);
            result
        });
        let answered = answer_all(engine, settings, power, &work_rx, shared);
        stopping.store(true, Ordering::SeqCst);
        // The receiver ends when dora stops; its errors are sending "busy".
        let received = receiver.join().unwrap_or(Ok(()));
        answered.and_then(|n| received.map(|()| n))
    })?;
    Ok(SlmCounts {
        answered,
        busy: metrics.busy.load(Ordering::SeqCst),
        rejected_inputs: metrics.rejected_inputs.load(Ordering::SeqCst),
    })
}

/// What both threads share.
#[derive(Clone, Copy)]
struct Shared<'a> {
    node: &'a Mutex<DoraNode>,
    /// Questions queued or being answered.
    waiting: &'a AtomicUsize,
    metrics: &'a SlmMetrics,
}

fn receive(
    mut events: EventStream,
    work: mpsc::Sender<Work>,
    shared: Shared<'_>,
    capacity: usize,
) -> Result<(), dora_node_api::NodeError> {
    let Shared { node, waiting, metrics } = shared;
    let rejected = &metrics.rejected_inputs;
    let busy = &metrics.busy;
    while let Some(event) = events.recv() {
        let (id, data) = match event {
            Event::Input { id, data, .. } => (id, data),
            Event::Stop(_) => break,
            _ => continue,
        };
        let sent = match id.as_str() {
            METRICS_TICK_INPUT => {
                let node_id = lock(node).id().to_string();
                let samples = metrics.snapshot(&node_id, waiting.load(Ordering::SeqCst), capacity);
                send_metrics(node, &samples)?;
                true
            }
            LORA_INPUT => {
                let texts = data
                    .as_array()
                    .as_any()
                    .downcast_ref::<dora_node_api::arrow_v59::array::StringArray>()
                    .map(|a| a.iter().flatten().map(str::to_owned).collect::<Vec<_>>());
                match texts {
                    Some(texts) => texts.iter().all(|text| match lora_control::parse(text) {
                        Ok(command) => work.send(Work::Lora(command)).is_ok(),
                        Err(error) => {
                            reject(rejected, &id, &error);
                            true
                        }
                    }),
                    None => {
                        reject(rejected, &id, &"LoRA commands are Utf8 strings");
                        true
                    }
                }
            }
            // `readings`, `readings_mqtt`, …: one input per source of readings.
            input if input.starts_with(READINGS_INPUT) => match Reading::from_arrow(data.as_array().as_ref()) {
                Ok(readings) => {
                    metrics.readings.fetch_add(readings.len() as u64, Ordering::Relaxed);
                    work.send(Work::Readings(readings)).is_ok()
                }
                Err(error) => {
                    reject(rejected, &id, &error);
                    true
                }
            },
            // `questions`, `questions_http`, …: one input per front door.
            input if input.starts_with(QUESTIONS_INPUT) => match Question::from_arrow(data.as_array().as_ref()) {
                Ok(questions) => {
                    let mut sent = true;
                    // One question is being answered, `capacity` more may wait.
                    // Room is counted once per message: questions that arrive
                    // together find the queue as it was when they arrived, even
                    // if an answer finishes while the busy replies go out (on 2
                    // cores llama.cpp's spinning threads can slow this loop down).
                    let mut room = (capacity + 1).saturating_sub(waiting.load(Ordering::SeqCst));
                    for question in questions {
                        if room == 0 {
                            let count = busy.fetch_add(1, Ordering::SeqCst) + 1;
                            tracing::warn!(id = %question.id, capacity, busy = count, "question queue full; answering busy");
                            let answer = busy_answer(&question);
                            metrics.answered(&answer);
                            send_answer(node, &answer)?;
                        } else {
                            room -= 1;
                            waiting.fetch_add(1, Ordering::SeqCst);
                            sent &= work.send(Work::Question(question)).is_ok();
                        }
                    }
                    sent
                }
                Err(error) => {
                    reject(rejected, &id, &error);
                    true
                }
            },
            other => {
                tracing::warn!(input = other, "unexpected input ignored");
                true
            }
        };
        if !sent {
            break; // the answerer is gone
        }
    }
    Ok(())
}

/// Reads the Linux power-supply and thermal files every `poll_secs` and
/// hands state changes to the answerer, until the node stops.
fn watch_linux_power(poll_secs: u64, hot_above_celsius: f64, work: &mpsc::Sender<Work>, stopping: &AtomicBool) {
    let mut last = None;
    let mut next = Instant::now();
    while !stopping.load(Ordering::SeqCst) {
        if Instant::now() >= next {
            let state = linux_power_state(std::path::Path::new("/sys"), hot_above_celsius);
            if last != Some(state) && work.send(Work::PowerState(state)).is_err() {
                return;
            }
            last = Some(state);
            next = Instant::now() + Duration::from_secs(poll_secs);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn answer_all(
    engine: &mut Engine,
    settings: NodeSettings,
    mut power: Option<PowerSwitch>,
    work: &mpsc::Receiver<Work>,
    shared: Shared<'_>,
) -> Result<u64, dora_node_api::NodeError> {
    let Shared { node, waiting, metrics } = shared;
    let mut state = PlantState::new(settings.state);
    let mut answered = 0u64;
    let mut last_warm: Option<Instant> = None;
    loop {
        let timeout = if power.as_ref().is_some_and(PowerSwitch::is_loading) { SWAP_POLL } else { WARM_INTERVAL };
        let item = match work.recv_timeout(timeout) {
            Ok(item) => Some(item),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        // Between two questions: the only place the engine may change.
        if let Some(model) = power.as_mut().and_then(|p| p.poll(engine)) {
            metrics.swapped_to(&model);
            last_warm = None;
        }
        match item {
            Some(Work::Lora(command)) => {
                let result = match &command {
                    LoraCommand::Off => engine.set_lora(None, 0.0),
                    LoraCommand::On { name, scale } => {
                        let scale = scale.or_else(|| engine.lora_scale(name)).unwrap_or(1.0);
                        engine.set_lora(Some(name), scale)
                    }
                };
                match result {
                    Ok(()) => tracing::info!(?command, active = ?engine.active_lora(), "LoRA switched"),
                    Err(error) => {
                        metrics.rejected_inputs.fetch_add(1, Ordering::SeqCst);
                        tracing::warn!(?command, %error, "LoRA command refused");
                    }
                }
                last_warm = None;
            }
            Some(Work::PowerState(power_state)) => {
                if let Some(switch) = power.as_mut() {
                    switch.on_state(power_state, engine);
                }
            }
            Some(Work::Readings(readings)) => {
                if let Some(switch) = power.as_mut() {
                    let tag = switch.tag().map(str::to_owned);
                    if let Some(reading) = tag.and_then(|tag| readings.iter().rev().find(|r| r.tag == tag)) {
                        let power_state = match &reading.value {
                            shopfloor_core::schema::ReadingValue::Text(text) => text.clone(),
                            shopfloor_core::schema::ReadingValue::Number(n) => n.to_string(),
                        };
                        switch.on_state(&power_state, engine);
                    }
                }
                state.update(readings);
            }
            Some(Work::Question(question)) => {
                let reply = answer(engine, &state, &question, settings.answer, now_ms());
                waiting.fetch_sub(1, Ordering::SeqCst);
                tracing::info!(id = %reply.id, latency_ms = reply.latency_ms, ttft_ms = ?reply.ttft_ms, confidence = ?reply.confidence, "answered");
                metrics.answered(&reply);
                send_answer(node, &reply)?;
                answered += 1;
            }
            None => {}
        }
        let idle = waiting.load(Ordering::SeqCst) == 0;
        if idle && last_warm.is_none_or(|at| at.elapsed() >= WARM_INTERVAL) {
            warm_cache(engine, &state, settings.answer, now_ms());
            last_warm = Some(Instant::now());
        }
    }
    Ok(answered)
}

fn busy_answer(question: &Question) -> Answer {
    let mut answer = Answer::to_question(
        question,
        "The assistant is busy with other questions; please ask again in a moment.".into(),
    );
    answer.error = Some(AnswerError::Busy);
    answer.latency_ms = (now_ms() - question.received_ts_ms).max(0);
    answer
}

/// The node, even if the other thread panicked mid-send: the node itself is
/// still usable.
fn lock(node: &Mutex<DoraNode>) -> std::sync::MutexGuard<'_, DoraNode> {
    node.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn send_answer(node: &Mutex<DoraNode>, answer: &Answer) -> Result<(), dora_node_api::NodeError> {
    let output = DataId::from(ANSWERS_OUTPUT.to_owned());
    lock(node).send_output(output, MetadataParameters::default(), Answer::to_arrow(std::slice::from_ref(answer)))
}

fn send_metrics(node: &Mutex<DoraNode>, samples: &[MetricSample]) -> Result<(), dora_node_api::NodeError> {
    let output = DataId::from(METRICS_OUTPUT.to_owned());
    lock(node).send_output(output, MetadataParameters::default(), MetricSample::to_arrow(samples))
}

fn reject(rejected: &std::sync::atomic::AtomicU64, input: &DataId, error: &dyn std::fmt::Display) {
    let count = rejected.fetch_add(1, Ordering::SeqCst) + 1;
    tracing::warn!(input = %input, %error, rejected = count, "input rejected");
}
