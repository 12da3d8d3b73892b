//! llama.cpp behind a small API: load a GGUF model once, then generate greedy
//! completions that reuse the KV cache of the previous prompt's common prefix.
//!
//! Greedy decoding is done here (argmax over the logits) rather than with a
//! llama.cpp sampler chain: it is deterministic, and the softmax it needs
//! anyway gives each chosen token's probability, from which the answer's
//! confidence is computed.

use std::num::NonZeroU32;
use std::path::Path;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::token::LlamaToken;
use shopfloor_core::profile::{HardwareProfile, MemoryPlan};

/// Why the engine could not load or generate.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// llama.cpp could not initialise.
    #[error("cannot initialise llama.cpp: {0}")]
    Backend(String),
    /// The model file's size could not be read.
    #[error("cannot read model file {path}: {source}")]
    ModelFile {
        /// Model path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The model and its KV cache would not fit the profile's memory budget.
    #[error(
        "model {path} needs {needed_mib} MiB with OS and engine reserves and KV cache, \
         but profile `{profile}` allows {budget_mib} MiB (memory.budget_mb)"
    )]
    OverBudget {
        /// Model path.
        path: String,
        /// Profile name.
        profile: String,
        /// Needed MiB.
        needed_mib: u64,
        /// Budget MiB.
        budget_mib: u64,
    },
    /// llama.cpp refused the model.
    #[error("cannot load model {path}: {message}")]
    Load {
        /// Model path.
        path: String,
        /// llama.cpp's reason.
        message: String,
    },
    /// The prompt could not be built with the model's chat template.
    #[error("cannot build the prompt: {0}")]
    Template(String),
    /// The prompt and answer would not fit the context window.
    #[error("prompt of {prompt_tokens} tokens plus {max_tokens} answer tokens exceeds the context of {n_ctx}")]
    PromptTooLong {
        /// Prompt length.
        prompt_tokens: usize,
        /// Answer budget.
        max_tokens: u32,
        /// Context size.
        n_ctx: u32,
    },
    /// llama.cpp failed while evaluating tokens.
    #[error("decoding failed: {0}")]
    Decode(String),
}

/// A finished completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Generated text, trimmed.
    pub text: String,
    /// Mean probability of the generated tokens (0..1).
    pub confidence: f32,
    /// Number of generated tokens.
    pub tokens: usize,
    /// Prompt tokens that had to be evaluated (the rest came from the cache).
    pub prompt_tokens_evaluated: usize,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// From the call to the first generated token, in ms.
    pub ttft_ms: f64,
    /// Whole call, in ms.
    pub total_ms: f64,
}

/// llama.cpp's internal timings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LlamaTimings {
    /// Time in prompt evaluation (ms).
    pub prompt_ms: f64,
    /// Prompt tokens evaluated.
    pub prompt_tokens: u64,
    /// Time in single-token generation steps (ms).
    pub eval_ms: f64,
    /// Tokens generated.
    pub eval_tokens: u64,
}

/// A chat turn.
pub struct ChatTurn<'a> {
    /// `system`, `user` or `assistant`.
    pub role: &'a str,
    /// Text of the turn.
    pub content: &'a str,
}

/// A loaded model with one context.
pub struct Engine {
    // The context borrows the model; the model lives as long as the process
    // (one per node), so it is leaked to give the context a 'static borrow.
    model: &'static LlamaModel,
    context: LlamaContext<'static>,
    _backend: LlamaBackend,
    /// Tokens whose keys and values are in the KV cache (sequence 0).
    cached: Vec<LlamaToken>,
    batch_size: usize,
    /// A readable model name for answers.
    pub model_name: String,
}

impl Engine {
    /// Loads `model_path` with `profile`'s threads, context and memory budget.
    ///
    /// The weights are checked against the budget before they load, and the
    /// KV cache before the context is allocated.
    pub fn load(model_path: &Path, profile: &HardwareProfile) -> Result<Self, EngineError> {
        let path = model_path.display().to_string();
        let model_bytes = std::fs::metadata(model_path)
            .map_err(|source| EngineError::ModelFile { path: path.clone(), source })?
            .len();
        check_budget(&path, profile, profile.memory_plan(model_bytes, 0))?;

        let mut backend = LlamaBackend::init().map_err(|e| EngineError::Backend(e.to_string()))?;
        backend.void_logs();
        let model_params = LlamaModelParams::default().with_n_gpu_layers(profile.engine.gpu_layers);
        let model = LlamaModel::load_from_file(&backend, model_path, &model_params)
            .map_err(|e| EngineError::Load { path: path.clone(), message: e.to_string() })?;
        let model: &'static LlamaModel = Box::leak(Box::new(model));

        let engine = &profile.engine;
        check_budget(&path, profile, profile.memory_plan(model_bytes, kv_cache_bytes(model, engine.context_size)))?;
        let threads = i32::try_from(engine.threads).unwrap_or(1);
        let threads_batch = i32::try_from(engine.threads_batch).unwrap_or(1);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(engine.context_size))
            .with_n_batch(engine.batch_size)
            .with_n_ubatch(engine.batch_size)
            .with_n_threads(threads)
            .with_n_threads_batch(threads_batch)
            // llama.cpp's own timings cost a clock read per decode; benchmarks compare against them.
            .with_no_perf(false);
        let context = model
            .new_context(&backend, params)
            .map_err(|e| EngineError::Load { path: path.clone(), message: e.to_string() })?;

        let model_name = model_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.clone());
        Ok(Self {
            model,
            context,
            _backend: backend,
            cached: Vec::new(),
            batch_size: engine.batch_size as usize,
            model_name,
        })
    }

    /// Renders chat turns with the model's own chat template, ready for the
    /// assistant's reply.
    pub fn chat_prompt(&self, turns: &[ChatTurn<'_>]) -> Result<String, EngineError> {
        let template = self
            .model
            .chat_template(None)
            .map_err(|e| EngineError::Template(e.to_string()))?;
        let messages = turns
            .iter()
            .map(|t| LlamaChatMessage::new(t.role.to_owned(), t.content.to_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EngineError::Template(e.to_string()))?;
        self.model
            .apply_chat_template(&template, &messages, true)
            .map_err(|e| EngineError::Template(e.to_string()))
    }

    /// Greedy completion of `prompt`, ending at an end-of-generation token,
    /// at the first line break after some text, or after `max_tokens`.
    pub fn generate(&mut self, prompt: &str, max_tokens: u32) -> Result<Generation, EngineError> {
        self.generate_until(prompt, max_tokens, true)
    }

    /// Like [`generate`](Self::generate); `stop_at_line_break: false` runs to
    /// end of turn or `max_tokens` (benchmarks use it for long generations).
    pub fn generate_until(
        &mut self,
        prompt: &str,
        max_tokens: u32,
        stop_at_line_break: bool,
    ) -> Result<Generation, EngineError> {
        let started = Instant::now();
        let vocab = self.model.vocab();
        let tokens = vocab.tokenize(prompt.as_bytes(), true, true);
        let n_ctx = self.context.n_ctx();
        if tokens.is_empty() || tokens.len() + max_tokens as usize > n_ctx as usize {
            return Err(EngineError::PromptTooLong { prompt_tokens: tokens.len(), max_tokens, n_ctx });
        }

        // Reuse the cached prefix; at least the last prompt token is evaluated
        // again, because its logits are needed.
        let common = self.cached.iter().zip(&tokens).take_while(|(a, b)| a == b).count();
        let start = common.min(tokens.len() - 1);
        self.context
            .clear_kv_cache_seq(Some(0), Some(start as u32), None)
            .map_err(|e| EngineError::Decode(e.to_string()))?;
        self.cached.truncate(start);
        let mut logits_index = self.decode(&tokens[start..], start)?;

        let mut text = Vec::<u8>::new();
        let mut probability_sum = 0.0f64;
        let mut generated = 0usize;
        let mut ttft_ms = None;
        while generated < max_tokens as usize {
            let (token, probability) = greedy(self.context.get_logits_ith(logits_index));
            ttft_ms.get_or_insert_with(|| started.elapsed().as_secs_f64() * 1e3);
            if vocab.is_eog(token) {
                break;
            }
            generated += 1;
            probability_sum += f64::from(probability);
            let piece = vocab.token_to_piece(token, false, None);
            let ends_line = stop_at_line_break
                && piece.contains(&b'\n')
                && !String::from_utf8_lossy(&text).trim().is_empty();
            text.extend_from_slice(&piece);
            if ends_line || generated == max_tokens as usize {
                break;
            }
            let position = self.cached.len();
            logits_index = self.decode(&[token], position)?;
        }

        let text = String::from_utf8_lossy(&text).trim().to_owned();
        Ok(Generation {
            text,
            confidence: if generated == 0 { 0.0 } else { (probability_sum / generated as f64) as f32 },
            tokens: generated,
            prompt_tokens_evaluated: tokens.len() - start,
            prompt_tokens: tokens.len(),
            ttft_ms: ttft_ms.unwrap_or(0.0),
            total_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// llama.cpp's own timings since the last reset: prompt and generation
    /// time inside `llama_decode`, without this crate's loop around it.
    pub fn llama_timings(&mut self) -> LlamaTimings {
        let t = self.context.timings();
        LlamaTimings {
            prompt_ms: t.t_p_eval_ms(),
            prompt_tokens: t.n_p_eval().max(0) as u64,
            eval_ms: t.t_eval_ms(),
            eval_tokens: t.n_eval().max(0) as u64,
        }
    }

    /// Resets [`llama_timings`](Self::llama_timings).
    pub fn reset_llama_timings(&mut self) {
        self.context.reset_timings();
    }

    /// Forgets the cached prefix (benchmarks measure cold prompts with it).
    pub fn clear_cache(&mut self) {
        self.context.clear_kv_cache();
        self.cached.clear();
    }

    /// Evaluates `tokens` at positions from `first_position`, in batches;
    /// returns the batch index of the last token's logits.
    fn decode(&mut self, tokens: &[LlamaToken], first_position: usize) -> Result<i32, EngineError> {
        let mut last_index = 0;
        for (chunk_number, chunk) in tokens.chunks(self.batch_size.max(1)).enumerate() {
            let is_last_chunk = (chunk_number + 1) * self.batch_size.max(1) >= tokens.len();
            let mut batch = LlamaBatch::new(chunk.len(), 1);
            for (i, token) in chunk.iter().enumerate() {
                let position = first_position + chunk_number * self.batch_size.max(1) + i;
                let wants_logits = is_last_chunk && i + 1 == chunk.len();
                batch
                    .add(*token, position as i32, &[0], wants_logits)
                    .map_err(|e| EngineError::Decode(e.to_string()))?;
            }
            self.context.decode(&mut batch).map_err(|e| EngineError::Decode(e.to_string()))?;
            self.cached.extend_from_slice(chunk);
            last_index = chunk.len() as i32 - 1;
        }
        Ok(last_index)
    }
}

/// The most likely token and its softmax probability.
pub fn greedy(logits: &[f32]) -> (LlamaToken, f32) {
    let (best, max) = logits
        .iter()
        .enumerate()
        .fold((0usize, f32::NEG_INFINITY), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) });
    let sum: f64 = logits.iter().map(|&v| f64::from(v - max).exp()).sum();
    let probability = if sum > 0.0 { (1.0 / sum) as f32 } else { 0.0 };
    (LlamaToken(best as i32), probability)
}

/// Bytes the KV cache takes for `n_ctx` tokens (f16 keys and values).
fn kv_cache_bytes(model: &LlamaModel, n_ctx: u32) -> u64 {
    let n_head = u64::from(model.n_head().max(1));
    let head_dim = u64::try_from(model.n_embd()).unwrap_or(0) / n_head;
    let kv_width = head_dim * u64::from(model.n_head_kv());
    // keys + values, 2 bytes each, per layer, per token
    2 * 2 * u64::from(model.n_layer()) * kv_width * u64::from(n_ctx)
}

fn check_budget(path: &str, profile: &HardwareProfile, plan: MemoryPlan) -> Result<(), EngineError> {
    const MIB: u64 = 1024 * 1024;
    if plan.fits() {
        tracing::info!(needed_mib = plan.needed_bytes / MIB, budget_mib = plan.budget_bytes / MIB, "memory budget holds");
        Ok(())
    } else {
        Err(EngineError::OverBudget {
            path: path.to_owned(),
            profile: profile.name.clone(),
            needed_mib: plan.needed_bytes.div_ceil(MIB),
            budget_mib: plan.budget_bytes / MIB,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_picks_the_largest_logit_with_its_softmax_probability() {
        let (token, p) = greedy(&[0.0, 2.0, 0.0]);
        assert_eq!(token, LlamaToken(1));
        let expected = 2f32.exp() / (2f32.exp() + 2.0);
        assert!((p - expected).abs() < 1e-6, "{p} vs {expected}");
    }

    #[test]
    fn greedy_on_equal_logits_is_uniform() {
        let (_, p) = greedy(&[1.0; 4]);
        assert!((p - 0.25).abs() < 1e-6);
    }
}
