//! llama.cpp's own generation loop, for benchmarks: the yardstick the
//! engine's loop is measured against, on the same model, backend, threads
//! and context settings, in the same process, so runs can alternate.

use std::num::NonZeroU32;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::sampling::LlamaSampler;

use super::{Engine, EngineError};

impl Engine {
    /// Generates up to `max_tokens` after `prompt` the way llama.cpp's
    /// `simple` example does (a fresh context, llama.cpp's greedy sampler,
    /// optionally behind its grammar sampler in a chain) and returns the
    /// tokens per second after the first token.
    pub fn reference_generation(
        &self,
        prompt: &str,
        max_tokens: usize,
        grammar: Option<&str>,
    ) -> Result<f64, EngineError> {
        let decode_error = |e: &dyn std::fmt::Display| EngineError::Decode(e.to_string());
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(self.context.n_ctx()))
            .with_n_batch(self.batch_size as u32)
            .with_n_ubatch(self.batch_size as u32)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads_batch)
            .with_flash_attention_policy(super::flash_policy(self.flash_attention))
            .with_type_k(super::kv_type(self.kv_cache_type))
            .with_type_v(super::kv_type(self.kv_cache_type));
        let mut context = self.model.new_context(super::backend()?, params).map_err(|e| decode_error(&e))?;
        let vocab = self.model.vocab();
        let tokens = vocab.tokenize(prompt.as_bytes(), true, true);
        let mut rate = 0.0;
        // The first pass only warms the fresh context (its KV cache pages);
        // the second is measured.
        for _pass in 0..2 {
            context.clear_kv_cache();
            let mut batch = LlamaBatch::new(tokens.len().max(1), 1);
            for (i, token) in tokens.iter().enumerate() {
                batch.add(*token, i as i32, &[0], i + 1 == tokens.len()).map_err(|e| decode_error(&e))?;
            }
            context.decode(&mut batch).map_err(|e| decode_error(&e))?;
            let mut sampler = match grammar {
                Some(grammar) => LlamaSampler::chain_simple([
                    LlamaSampler::grammar(&self.model, grammar, "root")
                        .map_err(|e| EngineError::Grammar(e.to_string()))?,
                    LlamaSampler::greedy(),
                ]),
                None => LlamaSampler::greedy(),
            };
            let mut position = tokens.len() as i32;
            let (mut generated, mut first_at, mut text) = (0usize, None, Vec::new());
            while generated < max_tokens {
                let token = sampler.sample(&context, batch.n_tokens() - 1);
                first_at.get_or_insert_with(Instant::now);
                if vocab.is_eog(token) {
                    break;
                }
                text.extend(vocab.token_to_piece(token, false, None));
                generated += 1;
                if grammar.is_some() && text.ends_with(b"}") {
                    break;
                }
                batch.clear();
                batch.add(token, position, &[0], true).map_err(|e| decode_error(&e))?;
                position += 1;
                context.decode(&mut batch).map_err(|e| decode_error(&e))?;
            }
            let seconds = first_at.map_or(0.0, |t: Instant| t.elapsed().as_secs_f64());
            rate = generated.saturating_sub(1) as f64 / seconds;
        }
        Ok(rate)
    }
}
