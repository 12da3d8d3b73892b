//! Continuous batching: several completions decoded together, each in its
//! own sequence of one llama.cpp context.
//!
//! On a CPU a decode step is bound by reading the weights, so one
//! `llama_decode` that carries a token of every running completion costs
//! little more than one that carries a single token. Each step therefore
//! gathers, into one batch:
//!
//! - the last chosen token of every completion that is generating (first,
//!   so a long prompt never holds up answers already being written), then
//! - as many prompt tokens of completions still reading their prompt as the
//!   batch has room for (a long prompt is read over several steps).
//!
//! Completions join between steps ([`Sequences::start`]) and leave when
//! done. A finished sequence keeps its cells (prompt and answer) as a cache,
//! as llama-server's slots (and its prompt cache in RAM) do: a new prompt
//! takes the free sequence whose kept tokens share the longest start with
//! it, and only the rest is read. There are [`KEPT_PER_RUNNING`] sequences
//! per completion that may run, so that the last few kinds of question each
//! keep theirs while others run. Operators ask the same kinds of question
//! again and again, so the next one often differs from a kept prompt only
//! from its first changed value.
//!
//! Sequence 0 belongs to the single-sequence path and holds the prefix
//! cached by `Engine::prefill` (the fact sheet). The context's KV cache is
//! unified, so a new completion whose prompt starts with that prefix gets
//! it by reference (`llama_memory_seq_cp` adds the sequence to the cells'
//! owners) and only its own tokens are evaluated. With one sequence the
//! pool holds one window; should the prefix and the completion not fit
//! together, the prefix gives way (it is only a cache).

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::DecodeError;

use super::{Completion, EngineError, Generation, Next};

/// A completion started with `Engine::start`, named again when
/// `Engine::step` reports it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(u64);

/// Where a running completion is.
enum Phase {
    /// Prompt tokens from this index on are still to be evaluated.
    Prompt { next: usize },
    /// This token was chosen and is evaluated in the next step.
    Generating { token: LlamaToken },
}

struct Running {
    ticket: Ticket,
    prompt: Vec<LlamaToken>,
    /// Generated tokens already in the sequence's cells (after the prompt).
    generated: Vec<LlamaToken>,
    /// The next position of this sequence.
    position: usize,
    phase: Phase,
    completion: Completion,
    /// Index in the step's batch of the token whose logits come next.
    logits_index: Option<i32>,
}

/// Sequences per completion that may run (with more than one): the
/// running ones and those kept as a cache. Kept cells take room in the
/// pool only until it runs out, when they give way.
pub(super) const KEPT_PER_RUNNING: usize = 4;

/// How many llama.cpp sequences the slots of `parallel` completions take,
/// besides sequence 0. One completion at a time (the vision engine, a pool
/// of one window) keeps only its own.
pub(super) fn slot_count(parallel: usize) -> usize {
    let parallel = parallel.max(1);
    if parallel == 1 {
        1
    } else {
        // llama.cpp takes at most 256 sequences, sequence 0 included.
        (parallel * KEPT_PER_RUNNING).min(255)
    }
}

/// The running completions, slot `i` in llama.cpp sequence `i + 1`.
pub(super) struct Sequences {
    slots: Vec<Option<Running>>,
    /// Completions that may run at once.
    parallel: usize,
    /// For each free slot, the tokens its sequence's cells still hold from
    /// its last completion (empty when emptied).
    kept: Vec<Vec<LlamaToken>>,
    /// For each slot, when it was last taken (the least recent kept cache
    /// goes first).
    taken_at: Vec<u64>,
    /// The batch of every step, allocated once.
    batch: LlamaBatch<'static>,
    batch_size: usize,
    next_ticket: u64,
    /// Completions lost to a cleared cache, reported by the next step.
    lost: Vec<Ticket>,
}

impl Sequences {
    pub(super) fn new(parallel: usize, batch_size: usize) -> Self {
        let batch_size = batch_size.max(1);
        Self {
            slots: (0..slot_count(parallel)).map(|_| None).collect(),
            parallel: parallel.max(1),
            kept: vec![Vec::new(); slot_count(parallel)],
            taken_at: vec![0; slot_count(parallel)],
            batch: LlamaBatch::new(batch_size, 1),
            batch_size,
            next_ticket: 0,
            lost: Vec::new(),
        }
    }

    pub(super) fn running(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Starts `prompt` in a free sequence, when fewer than `parallel` run.
    /// Its start, as far as the best kept sequence or `shared` (sequence
    /// 0's cached tokens) holds it, is not read again; at least the last
    /// prompt token is evaluated for its logits.
    pub(super) fn start(
        &mut self,
        context: &mut LlamaContext<'_>,
        shared: &[LlamaToken],
        prompt: Vec<LlamaToken>,
        mut completion: Completion,
    ) -> Result<Ticket, EngineError> {
        let parallel = self.parallel;
        if self.running() >= parallel {
            return Err(EngineError::NoFreeSequence { parallel });
        }
        let most = prompt.len() - 1;
        let from_shared = common_start(shared, &prompt).min(most);
        let free = || (0..self.slots.len()).filter(|index| self.slots[*index].is_none());
        let (best_kept, from_kept) = free()
            .map(|index| (index, common_start(&self.kept[index], &prompt).min(most)))
            .max_by_key(|(_, common)| *common)
            .ok_or(EngineError::NoFreeSequence { parallel })?;
        // The start comes from the kept sequence that shares most, else
        // from sequence 0; it is given by reference to the free sequence
        // keeping the least (an empty one, else the least recently taken),
        // so the kept cache stays for the next prompt like it. Only when that
        // is the one free sequence is it cut back in place.
        let source = (from_kept > from_shared).then_some(best_kept);
        let index = free()
            .filter(|index| Some(*index) != source)
            .min_by_key(|index| (!self.kept[*index].is_empty(), self.taken_at[*index]))
            .unwrap_or(best_kept);
        let sequence = sequence_id(index);
        let cut_in_place =
            source == Some(index) && context.clear_kv_cache_seq(Some(sequence), Some(from_kept as u32), None)?;
        let common = if cut_in_place {
            from_kept
        } else {
            context.clear_kv_cache_seq(Some(sequence), None, None)?;
            let (from, common) = match source.filter(|source| *source != index) {
                Some(source) => (sequence_id(source), from_kept),
                None => (0, from_shared),
            };
            if common > 0 {
                context.copy_kv_cache_seq(from as i32, sequence as i32, Some(0), Some(common as u32))?;
            }
            common
        };
        if let Some(source) = source {
            // A kept cache that was used stays longer.
            self.taken_at[source] = self.next_ticket + 1;
        }
        self.kept[index].clear();
        completion.prompt_tokens_evaluated = prompt.len() - common;
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        self.taken_at[index] = self.next_ticket;
        self.slots[index] = Some(Running {
            ticket,
            prompt,
            generated: Vec::new(),
            position: common,
            phase: Phase::Prompt { next: common },
            completion,
            logits_index: None,
        });
        Ok(ticket)
    }

    /// Every running completion dropped (its cells are gone with a cleared
    /// cache, and so are the kept ones); reported as lost by the next step.
    pub(super) fn lose_all(&mut self) {
        for running in self.slots.iter_mut().filter_map(Option::take) {
            self.lost.push(running.ticket);
        }
        self.kept.iter_mut().for_each(Vec::clear);
    }

    /// Empties the sequences of free slots that keep tokens, to make room
    /// in the cells; returns whether any did.
    pub(super) fn release_kept(&mut self, context: &mut LlamaContext<'_>) -> bool {
        let mut released = false;
        for index in 0..self.slots.len() {
            if self.slots[index].is_none() && !self.kept[index].is_empty() {
                let _ = context.clear_kv_cache_seq(Some(sequence_id(index)), None, None);
                self.kept[index].clear();
                released = true;
            }
        }
        released
    }

    pub(super) fn take_lost(&mut self) -> Vec<(Ticket, Result<Generation, EngineError>)> {
        self.lost.drain(..).map(|ticket| (ticket, Err(EngineError::SequenceLost))).collect()
    }

    /// One decode of every running completion; returns those that finished.
    /// `shared` is sequence 0's cached prefix: when the cells run out, it
    /// gives up those only it holds, and the step is tried once more.
    pub(super) fn step(
        &mut self,
        model: &LlamaModel,
        context: &mut LlamaContext<'_>,
        shared: &mut Vec<LlamaToken>,
    ) -> Vec<(Ticket, Result<Generation, EngineError>)> {
        let mut finished = self.take_lost();
        if let Err(error) = self.fill_batch() {
            self.fail_all(context, &mut finished, || error_copy(&error));
            return finished;
        }
        if self.batch.n_tokens() == 0 {
            return finished;
        }
        let mut decoded = context.decode(&mut self.batch);
        // A batch within one micro-batch changes nothing when it finds no
        // cells; kept sequences and the prefix are only caches.
        if matches!(decoded, Err(DecodeError::NoKvCacheSlot)) && self.release_kept(context) {
            decoded = context.decode(&mut self.batch);
        }
        if matches!(decoded, Err(DecodeError::NoKvCacheSlot)) && !shared.is_empty() {
            let _ = context.clear_kv_cache_seq(Some(0), None, None);
            shared.clear();
            decoded = context.decode(&mut self.batch);
        }
        if let Err(error) = decoded {
            self.fail_all(context, &mut finished, || EngineError::Decode(decode_error_copy(&error)));
            return finished;
        }
        for index in 0..self.slots.len() {
            let Some(running) = self.slots[index].as_mut() else { continue };
            let Some(logits_index) = running.logits_index.take() else { continue };
            match running.completion.choose(model, context.get_logits_ith(logits_index)) {
                Ok(Next::Token(token)) => running.phase = Phase::Generating { token },
                Ok(Next::Done) => {
                    if let Some(mut done) = self.slots[index].take() {
                        // Its cells stay, as a cache for a prompt like it.
                        let mut kept = std::mem::take(&mut done.prompt);
                        kept.append(&mut done.generated);
                        self.kept[index] = kept;
                        finished.push((done.ticket, Ok(done.completion.finish())));
                    }
                }
                Err(error) => {
                    if let Some(done) = self.free(context, index) {
                        finished.push((done.ticket, Err(error)));
                    }
                }
            }
        }
        finished
    }

    /// The step's batch: generating completions first, then prompt chunks.
    fn fill_batch(&mut self) -> Result<(), llama_cpp_2::llama_batch::BatchAddError> {
        self.batch.clear();
        let mut room = self.batch_size;
        for (index, running) in self.slots.iter_mut().enumerate() {
            let Some(running) = running else { continue };
            if let Phase::Generating { token } = running.phase {
                running.logits_index = Some(self.batch.n_tokens());
                self.batch.add(token, running.position as i32, &[sequence_id(index) as i32], true)?;
                running.generated.push(token);
                running.position += 1;
                // The profile keeps `parallel` within `batch_size`.
                room = room.saturating_sub(1);
            }
        }
        for (index, running) in self.slots.iter_mut().enumerate() {
            let Some(running) = running else { continue };
            let Phase::Prompt { next } = running.phase else { continue };
            if room == 0 {
                break;
            }
            let end = (next + room).min(running.prompt.len());
            for (offset, token) in running.prompt[next..end].iter().enumerate() {
                let last = next + offset + 1 == running.prompt.len();
                if last {
                    running.logits_index = Some(self.batch.n_tokens());
                }
                self.batch.add(*token, running.position as i32, &[sequence_id(index) as i32], last)?;
                running.position += 1;
            }
            room -= end - next;
            running.phase = Phase::Prompt { next: end };
        }
        Ok(())
    }

    /// Empties slot `index` and its sequence's cells (a failed completion's
    /// cells are not worth keeping).
    fn free(&mut self, context: &mut LlamaContext<'_>, index: usize) -> Option<Running> {
        let running = self.slots[index].take()?;
        // Removing a whole sequence always succeeds; shared cells stay with sequence 0.
        let _ = context.clear_kv_cache_seq(Some(sequence_id(index)), None, None);
        self.kept[index].clear();
        Some(running)
    }

    /// A step that could not run fails every running completion: what it
    /// had evaluated is no longer consistent.
    fn fail_all(
        &mut self,
        context: &mut LlamaContext<'_>,
        finished: &mut Vec<(Ticket, Result<Generation, EngineError>)>,
        error: impl Fn() -> EngineError,
    ) {
        for index in 0..self.slots.len() {
            if let Some(running) = self.free(context, index) {
                finished.push((running.ticket, Err(error())));
            }
        }
    }
}

/// How many tokens `a` and `b` have in common from the start.
fn common_start(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Slot `index` runs in llama.cpp sequence `index + 1` (0 is the cached prefix's).
fn sequence_id(index: usize) -> u32 {
    index as u32 + 1
}

fn decode_error_copy(error: &DecodeError) -> DecodeError {
    match error {
        DecodeError::NoKvCacheSlot => DecodeError::NoKvCacheSlot,
        DecodeError::NTokensZero => DecodeError::NTokensZero,
        DecodeError::Unknown(code) => DecodeError::Unknown(*code),
    }
}

fn error_copy(error: &llama_cpp_2::llama_batch::BatchAddError) -> EngineError {
    use llama_cpp_2::llama_batch::BatchAddError;
    match error {
        BatchAddError::InsufficientSpace(n) => EngineError::Batch(BatchAddError::InsufficientSpace(*n)),
        BatchAddError::EmptyBuffer => EngineError::Batch(BatchAddError::EmptyBuffer),
    }
}
