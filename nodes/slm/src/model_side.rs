//! The node's model side: one thread that owns the engine and decodes every
//! running answer together, and one worker per sequence that runs the
//! answering pipeline for one question at a time.
//!
//! A worker takes the next question from the [`QuestionLine`] (in turn per
//! origin), reads the plant state, and asks the engine thread for each
//! completion it needs through a [`SequenceClient`]; the engine thread
//! starts it in a free sequence and advances all of them with one
//! `llama_decode` per step (`slm_engine::Engine::step`). A worker waits
//! only for its own completion, so a short answer leaves while a long one
//! is still being written, and the next question takes its sequence.
//!
//! Changing the model (a power-state variant swap, a LoRA command) waits
//! until no completion runs: no new one is started while a change waits.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Condvar, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use shopfloor_core::schema::Question;
use shopfloor_node::clock::now_ms;

use crate::answering::{answer, warm_cache, with_causes, AnswerSettings};
use crate::engine::{ChatTurn, Engine, EngineError, GenerateOptions, Generation, Ticket};
use crate::generator::Generate;
use crate::lora_control::LoraCommand;
use crate::plant_state::PlantState;
use crate::power::PowerSwitch;
use crate::state::{Done, FairQueue, PendingReadings};

/// The cache is warmed at most this often (each warm-up evaluates the fact
/// sheet's changed tail; more often would only burn CPU).
const WARM_INTERVAL: Duration = Duration::from_millis(1000);
/// How often the engine thread looks for a finished variant load while one runs.
const SWAP_POLL: Duration = Duration::from_millis(20);

/// What reaches the engine thread.
pub enum ToEngine {
    /// Readings are pending (at most one such nudge waits at a time).
    Readings,
    Lora(LoraCommand),
    /// A worker's request.
    Request(Request),
}

/// A worker's request; the answer goes back on the worker's own channel.
pub enum Request {
    ChatPrompt { turns: Vec<(String, String)>, reply: SyncSender<Reply> },
    Complete(Completion),
}

/// What a completion starts from.
enum Prompt {
    Text(String),
    /// Chat turns the engine thread renders with the model's template (in
    /// the same pass as it starts the completion: one wait for the worker),
    /// followed by the start of the reply.
    Chat {
        turns: Vec<(String, String)>,
        continuation: String,
    },
}

/// A completion a worker waits for.
pub struct Completion {
    prompt: Prompt,
    max_tokens: u32,
    stop_at_line_break: bool,
    grammar: Option<String>,
    started: Instant,
    reply: SyncSender<Reply>,
}

/// The engine thread's reply.
pub enum Reply {
    Prompt(Result<String, EngineError>),
    /// The completion, and the model that wrote it.
    Completed(Result<Generation, EngineError>, String),
}

/// A worker's handle on the engine thread.
pub struct SequenceClient {
    engine: SyncSender<ToEngine>,
    reply_tx: SyncSender<Reply>,
    replies: Receiver<Reply>,
    /// The model of the last completion.
    model: String,
}

impl SequenceClient {
    pub fn new(engine: SyncSender<ToEngine>, model: String) -> Self {
        // One request at a time per worker: one reply waits at most.
        let (reply_tx, replies) = mpsc::sync_channel(1);
        Self { engine, reply_tx, replies, model }
    }

    fn ask(&self, request: Request) -> Result<Reply, EngineError> {
        self.engine.send(ToEngine::Request(request)).map_err(|_| EngineError::EngineStopped)?;
        self.replies.recv().map_err(|_| EngineError::EngineStopped)
    }

    fn complete(&mut self, prompt: Prompt, options: GenerateOptions<'_>) -> Result<Generation, EngineError> {
        let completion = Completion {
            prompt,
            max_tokens: options.max_tokens,
            stop_at_line_break: options.stop_at_line_break,
            grammar: options.grammar.map(str::to_owned),
            started: Instant::now(),
            reply: self.reply_tx.clone(),
        };
        match self.ask(Request::Complete(completion))? {
            Reply::Completed(generation, model) => {
                self.model = model;
                generation
            }
            Reply::Prompt(_) => Err(EngineError::EngineStopped),
        }
    }
}

fn owned_turns(turns: &[ChatTurn<'_>]) -> Vec<(String, String)> {
    turns.iter().map(|t| (t.role.to_owned(), t.content.to_owned())).collect()
}

impl Generate for SequenceClient {
    fn chat_prompt(&mut self, turns: &[ChatTurn<'_>]) -> Result<String, EngineError> {
        match self.ask(Request::ChatPrompt { turns: owned_turns(turns), reply: self.reply_tx.clone() })? {
            Reply::Prompt(prompt) => prompt,
            Reply::Completed(..) => Err(EngineError::EngineStopped),
        }
    }

    fn generate_with(&mut self, prompt: &str, options: GenerateOptions<'_>) -> Result<Generation, EngineError> {
        self.complete(Prompt::Text(prompt.to_owned()), options)
    }

    fn chat_completion(
        &mut self,
        turns: &[ChatTurn<'_>],
        continuation: &str,
        options: GenerateOptions<'_>,
    ) -> Result<Generation, EngineError> {
        self.complete(Prompt::Chat { turns: owned_turns(turns), continuation: continuation.to_owned() }, options)
    }

    fn model_name(&self) -> String {
        self.model.clone()
    }
}

/// Admitted questions waiting for a worker; closed when the node stops
/// (the workers then finish what is in it).
#[derive(Default)]
pub struct QuestionLine {
    queue: Mutex<(FairQueue, bool)>,
    ready: Condvar,
    /// Workers alive (a worker that panicked has left).
    workers: AtomicUsize,
}

/// A worker's place at the line; leaving it (also by a panic) is counted.
pub struct Enlisted<'a>(&'a QuestionLine);

impl Drop for Enlisted<'_> {
    fn drop(&mut self) {
        self.0.workers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl QuestionLine {
    /// Counts a worker in until the returned place is dropped.
    pub fn enlist(&self) -> Enlisted<'_> {
        self.workers.fetch_add(1, Ordering::SeqCst);
        Enlisted(self)
    }

    /// Queues `question` for a worker. With no worker left to answer, it is
    /// handed back with any question still waiting, to be answered busy.
    pub fn push(&self, question: Question) -> Result<(), Vec<Question>> {
        let mut guard = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if self.workers.load(Ordering::SeqCst) == 0 {
            let mut stranded: Vec<Question> = std::iter::from_fn(|| guard.0.pop()).collect();
            stranded.push(question);
            return Err(stranded);
        }
        guard.0.push(question);
        drop(guard);
        self.ready.notify_one();
        Ok(())
    }

    pub fn close(&self) {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
        self.ready.notify_all();
    }

    /// The next question; None once closed and empty.
    fn next(&self) -> Option<Question> {
        let mut guard = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let (queue, closed) = &mut *guard;
            if let Some(question) = queue.pop() {
                return Some(question);
            }
            if *closed {
                return None;
            }
            guard = self.ready.wait(guard).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A worker: answers questions from `line` until it is closed and empty, or
/// until the front stops listening.
pub fn work<T: From<Done>>(
    line: &QuestionLine,
    readings: (&Mutex<PendingReadings>, &RwLock<PlantState>),
    mut client: SequenceClient,
    settings: AnswerSettings,
    done: &SyncSender<T>,
) {
    let (pending, plant) = readings;
    while let Some(question) = line.next() {
        // The readings that reached the node before the question (the front
        // hands them over first) are in what it is answered from. Taken in
        // here rather than by the engine thread, which would answer only
        // between two decode steps.
        apply_pending(pending, plant);
        let reply = answer(&mut client, plant, &question, settings, now_ms());
        if done.send(T::from(Done::Answered(Box::new(reply)))).is_err() {
            return;
        }
    }
}

/// Takes the pending readings into the plant state. The pending lock is
/// held until they are in, so that readings taken by two threads one after
/// the other are applied in that order.
pub fn apply_pending(pending: &Mutex<PendingReadings>, plant: &RwLock<PlantState>) {
    let mut pending = pending.lock().unwrap_or_else(PoisonError::into_inner);
    let readings = pending.take_readings();
    if !readings.is_empty() {
        // Workers read in short sections (never while the model writes),
        // so this waits for microseconds, not for an answer.
        plant.write().unwrap_or_else(PoisonError::into_inner).update(readings);
    }
}

/// The engine thread's handles.
pub struct EngineSide<'a, T> {
    pub pending: &'a Mutex<PendingReadings>,
    pub nudged: &'a AtomicBool,
    pub plant: &'a RwLock<PlantState>,
    /// Where swaps and refused LoRA commands are reported (the front).
    pub done: SyncSender<T>,
}

impl<T: From<Done>> EngineSide<'_, T> {
    /// Serves the workers' requests and the front's commands until every
    /// sender is gone and nothing runs.
    pub fn run(
        self,
        engine: &mut Engine,
        settings: AnswerSettings,
        mut power: Option<PowerSwitch>,
        requests: &Receiver<ToEngine>,
    ) {
        // Completions with their rendered prompts, in arrival order.
        let mut waiting: VecDeque<(String, Completion)> = VecDeque::new();
        let mut running: HashMap<Ticket, SyncSender<Reply>> = HashMap::new();
        let mut lora: VecDeque<LoraCommand> = VecDeque::new();
        let mut last_warm: Option<Instant> = None;
        let mut senders_gone = false;
        loop {
            // Wait for work only while nothing runs; between steps just look.
            let idle = engine.sequences_running() == 0 && waiting.is_empty() && lora.is_empty();
            let mut received = Vec::new();
            if idle && !senders_gone {
                let timeout =
                    if power.as_ref().is_some_and(PowerSwitch::is_loading) { SWAP_POLL } else { WARM_INTERVAL };
                match requests.recv_timeout(timeout) {
                    Ok(item) => received.push(item),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => senders_gone = true,
                }
            }
            loop {
                match requests.try_recv() {
                    Ok(item) => received.push(item),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        senders_gone = true;
                        break;
                    }
                }
            }
            if senders_gone && idle && received.is_empty() {
                break;
            }
            for item in received {
                match item {
                    ToEngine::Readings => self.nudged.store(false, Ordering::SeqCst),
                    ToEngine::Lora(command) => lora.push_back(command),
                    ToEngine::Request(Request::ChatPrompt { turns, reply }) => {
                        let _ = reply.send(Reply::Prompt(render(engine, &turns)));
                    }
                    ToEngine::Request(Request::Complete(completion)) => {
                        let prompt = match &completion.prompt {
                            Prompt::Text(text) => Ok(text.clone()),
                            Prompt::Chat { turns, continuation } => render(engine, turns).map(|p| p + continuation),
                        };
                        match prompt {
                            Ok(prompt) => waiting.push_back((prompt, completion)),
                            Err(error) => {
                                let _ = completion.reply.send(Reply::Completed(Err(error), engine.model_name.clone()));
                            }
                        }
                    }
                }
            }
            self.take_readings(power.as_mut(), engine);

            // The model changes only while no completion runs.
            let change_waiting = !lora.is_empty() || power.as_mut().is_some_and(PowerSwitch::swap_waiting);
            if engine.sequences_running() == 0 {
                if let Some(model) = power.as_mut().and_then(|p| p.poll(engine)) {
                    last_warm = None;
                    if self.done.send(T::from(Done::Swapped(model))).is_err() {
                        break;
                    }
                }
                for command in lora.drain(..) {
                    last_warm = None;
                    if let Some(refused) = switch_lora(engine, command) {
                        let _ = self.done.send(T::from(refused));
                    }
                }
            }
            if !change_waiting {
                while engine.sequences_running() < engine.parallel() {
                    let Some((prompt, completion)) = waiting.pop_front() else { break };
                    let options = GenerateOptions {
                        max_tokens: completion.max_tokens,
                        stop_at_line_break: completion.stop_at_line_break,
                        grammar: completion.grammar.as_deref(),
                    };
                    match engine.start(&prompt, options, completion.started) {
                        Ok(ticket) => {
                            running.insert(ticket, completion.reply);
                        }
                        Err(error) => {
                            let _ = completion.reply.send(Reply::Completed(Err(error), engine.model_name.clone()));
                        }
                    }
                }
            }
            if engine.sequences_running() > 0 {
                for (ticket, result) in engine.step() {
                    if let Some(reply) = running.remove(&ticket) {
                        let _ = reply.send(Reply::Completed(result, engine.model_name.clone()));
                    }
                }
            } else if waiting.is_empty() && last_warm.is_none_or(|at| at.elapsed() >= WARM_INTERVAL) {
                // Nothing runs: bring the cached start of the prompts up to date
                // (at most once a second; nothing to evaluate when it is current).
                let plant = self.plant.read().unwrap_or_else(PoisonError::into_inner);
                warm_cache(engine, &plant, settings, now_ms());
                last_warm = Some(Instant::now());
            }
        }
    }

    /// Takes the pending readings into the plant state; a power state (from
    /// the Linux files or the policy's tag) may start loading a variant.
    fn take_readings(&self, power: Option<&mut PowerSwitch>, engine: &Engine) {
        let (linux_state, tagged_state) =
            self.pending.lock().unwrap_or_else(PoisonError::into_inner).take_power_states();
        if let Some(switch) = power {
            if let Some(state) = linux_state {
                switch.on_state(state, engine);
            }
            if let Some(state) = tagged_state {
                switch.on_state(&state, engine);
            }
        }
        apply_pending(self.pending, self.plant);
    }
}

fn render(engine: &Engine, turns: &[(String, String)]) -> Result<String, EngineError> {
    let turns: Vec<ChatTurn<'_>> = turns.iter().map(|(role, content)| ChatTurn { role, content }).collect();
    engine.chat_prompt(&turns)
}

fn switch_lora(engine: &mut Engine, command: LoraCommand) -> Option<Done> {
    let result = match &command {
        LoraCommand::Off => engine.set_lora(None, 0.0),
        LoraCommand::On { name, scale } => {
            let scale = scale.or_else(|| engine.lora_scale(name)).unwrap_or(1.0);
            engine.set_lora(Some(name), scale)
        }
    };
    match result {
        Ok(()) => {
            tracing::info!(?command, active = ?engine.active_lora(), "LoRA switched");
            None
        }
        Err(error) => {
            tracing::warn!(?command, %error, "LoRA command refused");
            Some(Done::LoraRefused { command, reason: with_causes(&error) })
        }
    }
}

#[cfg(test)]
mod tests {
    use shopfloor_core::schema::Origin;

    use super::*;

    fn asked(id: &str) -> Question {
        Question::new(id, "How fast is the spindle?", "alice", Origin::Mqtt, 1_000)
    }

    #[test]
    fn a_line_without_workers_hands_its_questions_back_to_be_answered_busy() {
        let line = QuestionLine::default();
        let ids = |questions: Vec<Question>| questions.into_iter().map(|q| q.id).collect::<Vec<_>>();
        assert_eq!(line.push(asked("q-0")).map_err(ids), Err(vec!["q-0".to_owned()]));

        let worker = line.enlist();
        assert_eq!(line.push(asked("q-1")).map_err(ids), Ok(()));
        // The worker leaves (a panic unwinds the same way) before taking q-1.
        drop(worker);
        assert_eq!(line.push(asked("q-2")).map_err(ids), Err(vec!["q-1".to_owned(), "q-2".to_owned()]));
    }
}
