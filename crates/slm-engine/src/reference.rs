//! llama.cpp's own generation loop, for benchmarks: the yardstick the
//! engine's loop is measured against, on the same model, backend, threads
//! and context settings, in the same process, so runs can alternate.

use std::time::Instant;

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
        let model = self.model()?;
        let params = self.settings.params(self.n_ctx);
        let mut context = model
            .new_context(super::backend()?, params)
            .map_err(|source| EngineError::Context { path: self.path.clone(), source })?;
        let vocab = model.vocab();
        let tokens = vocab.tokenize(prompt.as_bytes(), true, true);
        let mut rate = 0.0;
        // The first pass only warms the fresh context (its KV cache pages);
        // the second is measured.
        for _pass in 0..2 {
            context.clear_kv_cache();
            let mut batch = LlamaBatch::new(tokens.len().max(1), 1);
            for (i, token) in tokens.iter().enumerate() {
                batch.add(*token, i as i32, &[0], i + 1 == tokens.len())?;
            }
            context.decode(&mut batch)?;
            let mut sampler = match grammar {
                Some(grammar) => LlamaSampler::chain_simple([
                    LlamaSampler::grammar(model, grammar, "root").map_err(EngineError::Grammar)?,
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
                batch.add(token, position, &[0], true)?;
                position += 1;
                context.decode(&mut batch)?;
            }
            let seconds = first_at.map_or(0.0, |t: Instant| t.elapsed().as_secs_f64());
            rate = generated.saturating_sub(1) as f64 / seconds;
        }
        Ok(rate)
    }
}
