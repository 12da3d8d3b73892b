//! The node on dora, over bounded channels:
//!
//! - the *front* (the caller's thread) receives dora events and the model
//!   side's results on one channel, runs [`SlmNode`] through the shared
//!   [`Driver`] (which sends, counts rejections and answers the metrics
//!   tick), and sends every answer, so "busy" goes out at once while the
//!   model works;
//! - the *model side* ([`crate::model_side`]): one *worker* per sequence
//!   (the profile's `engine.parallel`, or `SLM_PARALLEL`) answers a question
//!   at a time, and the *engine thread* owns the engine and decodes every
//!   running answer together. Pending readings wait in [`PendingReadings`]
//!   (see [`crate::state`] for the queue policy) until the engine thread
//!   takes them into the plant state. Between questions it keeps the fact
//!   sheet's tokens evaluated in the KV cache, and swaps model variants
//!   for the power policy.
//!
//! On `Stop` the questions already admitted are still answered, and the
//! answers sent, before the node returns.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use dora_node_api::{DoraNode, EventStream};
use shopfloor_node::clock::now_ms;
use shopfloor_node::driver::{forward_dora_events, DoraSide, SendError};
use shopfloor_node::{Driver, Flow, NodeLogic};
use slm_engine::profile::{HardwareProfile, PowerSource, ProfileError};

use crate::answering::AnswerSettings;
use crate::config::SlmConfig;
use crate::engine::{Engine, EngineError, ModelFileError};
use crate::gate::{self, GateError};
use crate::lora_control::LORA_INPUT;
use crate::model_side::{work, EngineSide, QuestionLine, SequenceClient, ToEngine};
use crate::plant_state::{PlantState, StateSettings};
use crate::power::{linux_power_state, PowerSwitch};
use crate::state::{Done, PendingReadings, SlmNode, Work};

/// dora events and model results waiting for the front; a full channel
/// holds dora's event thread back (the front never waits on the model).
const INCOMING_CAPACITY: usize = 64;
/// LoRA commands that may wait for the engine thread.
const LORA_COMMANDS_WAITING: usize = 4;

/// Settings of the node's loop.
#[derive(Debug, Clone, Copy)]
pub struct NodeSettings {
    pub answer: AnswerSettings,
    /// Questions waiting beyond those being answered.
    pub queue_capacity: usize,
    pub state: StateSettings,
}

impl NodeSettings {
    pub fn of(config: &SlmConfig) -> Self {
        Self {
            answer: AnswerSettings {
                max_tokens: config.max_tokens,
                max_question_chars: config.max_question_chars,
                confidence_threshold: config.confidence_threshold,
                tools: config.tools,
                fact_sheet_max_tags: config.fact_sheet_max_tags,
                json_max_tokens: config.json_max_tokens,
            },
            queue_capacity: config.queue_capacity,
            state: StateSettings {
                history_ms: (config.history_secs * 1000) as i64,
                stale_after_ms: (config.stale_after_secs * 1000) as i64,
            },
        }
    }
}

/// Counts for the final log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SlmCounts {
    /// Questions the model thread answered.
    pub answered: u64,
    /// Questions answered "busy" at once.
    pub busy: u64,
    pub rejected_inputs: u64,
}

/// Why the node stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SlmError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    ModelFile(#[from] ModelFileError),
    #[error(transparent)]
    Gate(#[from] GateError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error("cannot start the node's {0} thread")]
    Spawn(&'static str, #[source] std::io::Error),
    #[error("the node's {0} thread panicked")]
    Panicked(&'static str),
}

/// What reaches the front.
enum Incoming {
    Dora(DoraSide),
    Done(Done),
}

impl From<DoraSide> for Incoming {
    fn from(side: DoraSide) -> Self {
        Incoming::Dora(side)
    }
}

impl From<Done> for Incoming {
    fn from(done: Done) -> Self {
        Incoming::Done(done)
    }
}

/// Checks the model (file, evaluation gate), loads it with the profile and
/// answers questions until dora says stop.
pub fn run(config: &SlmConfig, node: DoraNode, events: EventStream) -> Result<SlmCounts, SlmError> {
    let mut profile = HardwareProfile::load(&config.profile_path)?;
    if let Some(threads) = config.threads {
        profile = profile.with_threads(threads);
    }
    if let Some(parallel) = config.parallel {
        // Never beyond what one batch carries (the profile checks its own value so).
        profile.engine.parallel = parallel.min(profile.engine.batch_size);
    }
    // A damaged file is named as such before the gate hashes it.
    crate::engine::model_file::check(&config.model_path)?;
    let gate = gate::check(&config.model_path, &profile, &config.profile_path, config.allow_unevaluated)?;
    tracing::info!(?gate, "evaluation gate");
    let mut engine = Engine::load(&config.model_path, &profile)?;
    tracing::info!(model = %engine.model_name, profile = %profile.name, parallel = engine.parallel(), "model loaded");
    let power = PowerSwitch::new(&profile, &config.profile_path, config.allow_unevaluated);
    serve(&mut engine, NodeSettings::of(config), power, node, events)
}

/// Answers with `engine` until dora says stop.
pub fn serve(
    engine: &mut Engine,
    settings: NodeSettings,
    power: Option<PowerSwitch>,
    node: DoraNode,
    events: EventStream,
) -> Result<SlmCounts, SlmError> {
    let slots = engine.parallel();
    let (incoming_tx, incoming) = mpsc::sync_channel::<Incoming>(INCOMING_CAPACITY);
    let forwarder = forward_dora_events(events, incoming_tx.clone()).map_err(|e| SlmError::Spawn("dora events", e))?;
    // Each worker has at most one request waiting, the front a nudge and the LoRA commands.
    let (engine_tx, requests) = mpsc::sync_channel::<ToEngine>(slots + LORA_COMMANDS_WAITING + 1);
    let power_tag = power.as_ref().and_then(|p| p.tag()).map(str::to_owned);
    let pending = Mutex::new(PendingReadings::watching(power_tag));
    let plant = RwLock::new(PlantState::new(settings.state));
    let line = QuestionLine::default();
    let nudged = AtomicBool::new(false);
    let stopping = AtomicBool::new(false);
    let mut driver = Driver::new(node);
    let mut state = SlmNode::new(&engine.model_name, settings.queue_capacity).with_slots(slots);
    let model_name = engine.model_name.clone();

    let outcome = std::thread::scope(|scope| {
        let linux_policy = power.as_ref().map(|p| p.policy().clone()).filter(|p| p.source == PowerSource::Linux);
        let engine_side = EngineSide { pending: &pending, nudged: &nudged, plant: &plant, done: incoming_tx.clone() };
        let engine_thread = std::thread::Builder::new()
            .name("model".into())
            .spawn_scoped(scope, move || engine_side.run(engine, settings.answer, power, &requests))
            .map_err(|e| SlmError::Spawn("model", e))?;
        let mut workers = Vec::with_capacity(slots);
        for slot in 0..slots {
            let client = SequenceClient::new(engine_tx.clone(), model_name.clone());
            let (line, readings, done) = (&line, (&pending, &plant), incoming_tx.clone());
            // Counted before the thread runs, so no question finds the line unattended.
            let enlisted = line.enlist();
            let worker = std::thread::Builder::new()
                .name(format!("answer-{slot}"))
                .spawn_scoped(scope, move || {
                    let _enlisted = enlisted;
                    work(line, readings, client, settings.answer, &done)
                })
                .map_err(|e| {
                    // The workers already started end on a closed line.
                    line.close();
                    SlmError::Spawn("answer", e)
                })?;
            workers.push(worker);
        }
        drop(incoming_tx);

        let watcher = match linux_policy {
            Some(policy) => Some(
                std::thread::Builder::new()
                    .name("power-watch".into())
                    .spawn_scoped(scope, {
                        let (pending, stopping) = (&pending, &stopping);
                        move || watch_linux_power(policy.poll_secs, policy.hot_above_celsius, pending, stopping)
                    })
                    .map_err(|e| {
                        line.close();
                        SlmError::Spawn("power watch", e)
                    })?,
            ),
            None => None,
        };
        let front = Front { pending: &pending, nudged: &nudged, line: &line, engine: engine_tx };
        let result = front.run(&mut driver, &mut state, &incoming);
        stopping.store(true, Ordering::SeqCst);
        // The workers finish the admitted questions; their answers still go
        // out. After a failed send nobody can send them: dropping the
        // channel ends each worker at its next answer.
        line.close();
        let drained = match result {
            Ok(()) => drain(&mut driver, &mut state, incoming),
            Err(error) => {
                drop(incoming);
                Err(error)
            }
        };
        let mut joined = Ok(());
        for worker in workers {
            joined = joined.and(worker.join().map_err(|_| SlmError::Panicked("answer")));
        }
        let engine_joined = engine_thread.join().map_err(|_| SlmError::Panicked("model"));
        let watcher_joined = watcher.map_or(Ok(()), |w| w.join().map_err(|_| SlmError::Panicked("power watch")));
        drained.map_err(SlmError::from).and(joined).and(engine_joined).and(watcher_joined)
    });
    // After a failure the event thread may still wait on dora: left detached.
    outcome?;
    forwarder.join().map_err(|_| SlmError::Panicked("dora events"))?;
    driver.send_metrics(|snapshot| state.metrics(snapshot))?;
    let metrics = state.counts();
    Ok(SlmCounts {
        answered: metrics.answers_total() - metrics.busy,
        busy: metrics.busy,
        rejected_inputs: driver.rejections().total(),
    })
}

/// The front's handles.
struct Front<'a> {
    pending: &'a Mutex<PendingReadings>,
    nudged: &'a AtomicBool,
    line: &'a QuestionLine,
    engine: SyncSender<ToEngine>,
}

impl Front<'_> {
    /// Until dora says stop or its events end. Dropping `self` at the end
    /// lets the engine thread end once the workers are done.
    fn run(self, driver: &mut Driver, state: &mut SlmNode, incoming: &Receiver<Incoming>) -> Result<(), SendError> {
        while let Ok(next) = incoming.recv() {
            match next {
                Incoming::Dora(DoraSide::Event(event)) => {
                    let flow = driver.step(event, state)?;
                    self.hand_over(driver, state)?;
                    if flow == Flow::Stop {
                        break;
                    }
                }
                Incoming::Dora(DoraSide::Closed) => break,
                Incoming::Done(done) => on_done(driver, state, done)?,
            }
        }
        Ok(())
    }

    /// Hands what the state decided to the model side: questions to the
    /// workers' line (the state admitted no more than it holds; with no
    /// worker left they are answered busy), readings and LoRA commands to
    /// the engine thread (a LoRA command it cannot take is refused).
    fn hand_over(&self, driver: &mut Driver, state: &mut SlmNode) -> Result<(), SendError> {
        let (batches, work) = state.take_work();
        if !batches.is_empty() {
            let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let dropped = batches.into_iter().map(|batch| pending.push(batch)).sum();
            drop(pending);
            state.coalesced(dropped);
            if !self.nudged.swap(true, Ordering::SeqCst) && self.engine.try_send(ToEngine::Readings).is_err() {
                self.nudged.store(false, Ordering::SeqCst);
            }
        }
        for item in work {
            let command = match item {
                Work::Question(question) => {
                    for stranded in self.line.push(question).err().unwrap_or_default() {
                        if let Ok(emit) = state.not_taken(Work::Question(stranded), now_ms()) {
                            driver.send(emit)?;
                        }
                    }
                    continue;
                }
                Work::Lora(command) => command,
            };
            let refused = match self.engine.try_send(ToEngine::Lora(command)) {
                Ok(()) => continue,
                Err(
                    TrySendError::Full(ToEngine::Lora(command)) | TrySendError::Disconnected(ToEngine::Lora(command)),
                ) => command,
                Err(_) => continue,
            };
            match state.not_taken(Work::Lora(refused), now_ms()) {
                Ok(emit) => driver.send(emit)?,
                Err(rejected) => driver.reject(LORA_INPUT, &rejected),
            }
        }
        Ok(())
    }
}

fn on_done(driver: &mut Driver, state: &mut SlmNode, done: Done) -> Result<(), SendError> {
    match state.on_done(done) {
        Ok(Some(emit)) => driver.send(emit),
        Ok(None) => Ok(()),
        Err(rejected) => {
            driver.reject(LORA_INPUT, &rejected);
            Ok(())
        }
    }
}

/// After stop: sends the model side's last answers until it is done.
fn drain(driver: &mut Driver, state: &mut SlmNode, incoming: Receiver<Incoming>) -> Result<(), SendError> {
    for next in incoming {
        if let Incoming::Done(done) = next {
            on_done(driver, state, done)?;
        }
    }
    Ok(())
}

/// Reads the Linux power-supply and thermal files every `poll_secs` and
/// leaves state changes for the engine thread, until the node stops.
fn watch_linux_power(poll_secs: u64, hot_above_celsius: f64, pending: &Mutex<PendingReadings>, stopping: &AtomicBool) {
    let mut last = None;
    let mut next = Instant::now();
    while !stopping.load(Ordering::SeqCst) {
        if Instant::now() >= next {
            let state = linux_power_state(std::path::Path::new("/sys"), hot_above_celsius);
            if last != Some(state) {
                pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).set_power_state(state);
            }
            last = Some(state);
            next = Instant::now() + Duration::from_secs(poll_secs);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use shopfloor_core::schema::{Answer, AnswerError, MetricSample, Origin, Question, Reading, ReadingValue};
    use shopfloor_node::testing::TestRun;

    use super::*;
    use crate::config::ToolMode;

    fn repo_path(relative: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
    }

    fn config() -> SlmConfig {
        SlmConfig {
            model_path: repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf"),
            profile_path: repo_path("hw-profiles/generic-x86-2core.toml"),
            max_tokens: 48,
            queue_capacity: 1,
            max_question_chars: 500,
            confidence_threshold: 0.5,
            tools: ToolMode::Off,
            history_secs: 600,
            stale_after_secs: 300,
            fact_sheet_max_tags: 0,
            json_max_tokens: 256,
            allow_unevaluated: false,
            threads: None,
            parallel: Some(1),
        }
    }

    /// Under dora with the real SmolLM2-135M: of three questions in one
    /// message (queue capacity 1) two are answered from the readings and one
    /// is answered busy at once; a malformed input and a bad LoRA command are
    /// refused and counted; the metrics tick and the stop each send a
    /// snapshot. Model test: run serially.
    #[test]
    fn model_questions_are_answered_or_busy_and_bad_inputs_are_counted() {
        let now = now_ms();
        let readings = [("spindle_speed", 1450.0, "rpm"), ("spindle_temperature", 72.4, "°C")].map(|(tag, v, unit)| {
            Reading::good("test", tag.into(), ReadingValue::Number(v), Some(unit.into()), Some(now), now)
        });
        let questions: Vec<Question> = (0..3)
            .map(|n| Question::new(format!("q-{n}"), "How fast is the spindle turning?", "alice", Origin::Mqtt, now))
            .collect();
        let bad_command: dora_node_api::arrow_v59::array::ArrayRef =
            std::sync::Arc::new(dora_node_api::arrow_v59::array::StringArray::from(vec!["load /etc/passwd"]));
        let (counts, outputs) = TestRun::new("slm")
            .input(0.0, "readings", Reading::to_arrow(&readings))
            .input(0.05, "questions", Question::to_arrow(&questions))
            .input(0.1, "readings", Question::to_arrow(&questions[..1]))
            .input(0.1, "lora", bad_command)
            .tick(0.15, "metrics_tick")
            .stop(0.3)
            .run(|node, events| run(&config(), node, events))
            .unwrap();
        let counts = counts.unwrap();
        assert_eq!(counts, SlmCounts { answered: 2, busy: 1, rejected_inputs: 2 });

        let answers: Vec<Answer> =
            outputs.on("answers").flat_map(|sent| Answer::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(answers.len(), 3, "{answers:?}");
        assert_eq!((answers[0].id.as_str(), answers[0].error), ("q-2", Some(AnswerError::Busy)), "busy goes first");
        for answer in &answers[1..] {
            assert_eq!(answer.error, None, "{answer:?}");
            assert!(answer.text.contains("1450"), "{answer:?}");
        }
        let snapshots: Vec<Vec<MetricSample>> =
            outputs.on("metrics").map(|sent| MetricSample::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(snapshots.len(), 2, "one on the tick, one at stop");
        let last = &snapshots[1];
        let rejected: Vec<(&str, f64)> = last
            .iter()
            .filter(|s| s.name == "shopfloor_rejected_inputs")
            .map(|s| (s.labels[0].1.as_str(), s.value))
            .collect();
        assert_eq!(rejected, [("lora_command", 1.0), ("schema", 1.0)]);
        let busy = last.iter().find(|s| s.name == "shopfloor_answers" && s.labels.iter().any(|(_, v)| v == "busy"));
        assert_eq!(busy.map(|s| s.value), Some(1.0));
    }

    /// Under dora with three sequences (the real SmolLM2-135M): of five
    /// questions in one message, three are written at once (a free answer
    /// beside a JSON answer under its grammar), the fourth waits for the
    /// first sequence to come free, the fifth is answered busy; each answer
    /// states the value it was asked for and has its own confidence. Model
    /// test: run serially.
    #[test]
    fn model_three_sequences_answer_together_and_a_freed_one_takes_the_next_question() {
        let now = now_ms();
        let readings = [("spindle_speed", 1450.0, "rpm"), ("spindle_temperature", 72.4, "°C")].map(|(tag, v, unit)| {
            Reading::good("test", tag.into(), ReadingValue::Number(v), Some(unit.into()), Some(now), now)
        });
        let ask = |id: &str, text: &str| Question::new(id, text, "alice", Origin::Mqtt, now);
        let mut json = ask("json", "What is the spindle speed?");
        json.response_schema =
            Some(r#"{"type":"object","properties":{"rpm":{"type":"number"}},"required":["rpm"]}"#.into());
        let questions = vec![
            ask("speed", "How fast is the spindle turning?"),
            ask("temperature", "What is the spindle temperature?"),
            json,
            ask("waits", "How fast is the spindle turning?"),
            ask("busy", "How fast is the spindle turning?"),
        ];
        let config = SlmConfig { parallel: Some(3), ..config() };
        let (counts, outputs) = TestRun::new("slm")
            .input(0.0, "readings", Reading::to_arrow(&readings))
            .input(0.05, "questions", Question::to_arrow(&questions))
            .stop(0.3)
            .run(|node, events| run(&config, node, events))
            .unwrap();
        assert_eq!(counts.unwrap(), SlmCounts { answered: 4, busy: 1, rejected_inputs: 0 });

        let answers: std::collections::BTreeMap<String, Answer> = outputs
            .on("answers")
            .flat_map(|sent| Answer::from_arrow(sent.data.as_ref()).unwrap())
            .map(|answer| (answer.id.clone(), answer))
            .collect();
        assert_eq!(answers["busy"].error, Some(AnswerError::Busy));
        for (id, value) in [("speed", "1450"), ("temperature", "72.4"), ("waits", "1450"), ("json", "1450")] {
            let answer = &answers[id];
            assert_eq!(answer.error, None, "{answer:?}");
            assert!(answer.text.contains(value), "{answer:?}");
        }
        let json: serde_json::Value = serde_json::from_str(&answers["json"].text).expect("the grammar's JSON");
        assert!(json.get("rpm").is_some_and(serde_json::Value::is_number), "{json}");

        // Written together: each of the first three had its first token
        // before any of them was finished.
        let together = ["speed", "temperature", "json"].map(|id| &answers[id]);
        let first_tokens = together.iter().map(|a| a.ttft_ms.expect("model-written")).max().unwrap();
        let first_done = together.iter().map(|a| a.latency_ms).min().unwrap();
        assert!(first_tokens < first_done, "answered one after another: {together:?}");
        // The fourth could only start in a sequence one of them had left.
        let waited = answers["waits"].ttft_ms.expect("model-written");
        assert!(waited >= first_done, "the fourth question started before a sequence came free: {answers:?}");
        let confidences: Vec<f32> = ["speed", "temperature"].iter().filter_map(|id| answers[*id].confidence).collect();
        if let [speed, temperature] = confidences[..] {
            assert_ne!(speed, temperature, "each sequence measures its own tokens");
        }
    }

    /// A question is answered from every reading that reached the node
    /// before it, even when a worker takes it at once (the engine thread,
    /// not the worker, takes readings in). Model test: run serially.
    #[test]
    fn model_a_question_right_after_the_first_readings_is_answered_from_them() {
        let now = now_ms();
        let readings = [Reading::good(
            "test",
            "spindle_speed".into(),
            ReadingValue::Number(1450.0),
            Some("rpm".into()),
            Some(now),
            now,
        )];
        let question = Question::new("q", "How fast is the spindle turning?", "alice", Origin::Mqtt, now);
        let config = SlmConfig { parallel: Some(2), ..config() };
        let (counts, outputs) = TestRun::new("slm")
            .input(0.0, "readings", Reading::to_arrow(&readings))
            .input(0.0, "questions", Question::to_arrow(std::slice::from_ref(&question)))
            .stop(0.2)
            .run(|node, events| run(&config, node, events))
            .unwrap();
        assert_eq!(counts.unwrap().answered, 1);
        let answers: Vec<Answer> =
            outputs.on("answers").flat_map(|sent| Answer::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(answers[0].error, None, "{answers:?}");
        assert!(answers[0].text.contains("1450"), "{answers:?}");
    }

    #[test]
    fn a_model_that_does_not_pass_the_gate_stops_the_node_before_dora_sees_anything() {
        let mut config = config();
        config.model_path = repo_path("Cargo.toml");
        let (result, outputs) = TestRun::new("slm").stop(0.1).run(|node, events| run(&config, node, events)).unwrap();
        assert!(matches!(result, Err(SlmError::ModelFile(_))), "{result:?}");
        assert!(outputs.0.is_empty());
    }
}
