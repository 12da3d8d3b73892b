//! Choosing tokens: greedy argmax with its softmax probability, the grammar
//! check that tries the top candidate first, and the answer's confidence.

use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;

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

/// How a constrained token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrammarPath {
    /// The unconstrained top token was allowed: one grammar check.
    TopAccepted,
    /// It was not: the grammar filtered the whole vocabulary.
    FullVocabulary,
}

/// Greedy choice under a grammar: the unconstrained argmax is checked alone
/// first (one grammar step instead of one per vocabulary entry), and only
/// when the grammar rejects it are all tokens filtered. Returns `None` when
/// the grammar allows no token at all.
///
/// The probability is the softmax over the allowed tokens when the full
/// vocabulary was filtered; when the top token was accepted it is the
/// unconstrained softmax, a lower bound of the renormalised value (exact
/// renormalisation would need the full filter the fast path avoids).
pub fn constrained_greedy(grammar: &mut LlamaSampler, logits: &[f32]) -> Option<(LlamaToken, f32, GrammarPath)> {
    let (top, probability) = greedy(logits);
    let top_logit = logits.get(top.0 as usize).copied().unwrap_or(f32::NEG_INFINITY);
    let mut single = LlamaTokenDataArray::new(vec![LlamaTokenData::new(top, top_logit, 0.0)], false);
    grammar.apply(&mut single);
    if single.data.first().is_some_and(|d| d.logit() > f32::NEG_INFINITY) {
        return Some((top, probability, GrammarPath::TopAccepted));
    }
    let mut all = LlamaTokenDataArray::from_iter(
        logits.iter().enumerate().map(|(i, &l)| LlamaTokenData::new(LlamaToken(i as i32), l, 0.0)),
        false,
    );
    grammar.apply(&mut all);
    let allowed: Vec<(LlamaToken, f32)> = all
        .data
        .iter()
        .filter(|d| d.logit() > f32::NEG_INFINITY)
        .map(|d| (d.id(), d.logit()))
        .collect();
    let (best, max) = allowed.iter().copied().fold(None, |acc: Option<(LlamaToken, f32)>, (t, l)| match acc {
        Some((_, bl)) if bl >= l => acc,
        _ => Some((t, l)),
    })?;
    let sum: f64 = allowed.iter().map(|&(_, l)| f64::from(l - max).exp()).sum();
    Some((best, (1.0 / sum) as f32, GrammarPath::FullVocabulary))
}

/// The confidence of an answer: the geometric mean of the probabilities of
/// its content tokens (those with a letter or digit; spaces and punctuation
/// say little about what the model knew), i.e. `exp(mean(ln p))`. Without
/// any content token, all tokens count; without tokens, 0.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConfidenceMeter {
    content_log_sum: f64,
    content_tokens: usize,
    all_log_sum: f64,
    all_tokens: usize,
}

impl ConfidenceMeter {
    /// Records one generated token's text and probability.
    pub fn record(&mut self, piece: &[u8], probability: f32) {
        let log_p = f64::from(probability.max(f32::MIN_POSITIVE)).ln();
        self.all_log_sum += log_p;
        self.all_tokens += 1;
        if piece.iter().any(u8::is_ascii_alphanumeric) || piece.iter().any(|b| *b >= 0x80) {
            self.content_log_sum += log_p;
            self.content_tokens += 1;
        }
    }

    /// The confidence in 0..=1.
    pub fn confidence(&self) -> f32 {
        let (sum, n) = if self.content_tokens > 0 {
            (self.content_log_sum, self.content_tokens)
        } else {
            (self.all_log_sum, self.all_tokens)
        };
        if n == 0 {
            0.0
        } else {
            (sum / n as f64).exp() as f32
        }
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

    #[test]
    fn confidence_is_the_geometric_mean_over_content_tokens() {
        let mut meter = ConfidenceMeter::default();
        meter.record(b"72", 0.9);
        meter.record(b".", 0.01); // punctuation does not count
        meter.record(b"4", 0.4);
        assert!((meter.confidence() - 0.6).abs() < 1e-6, "{}", meter.confidence());
    }

    #[test]
    fn confidence_without_content_tokens_uses_all_and_without_tokens_is_zero() {
        assert_eq!(ConfidenceMeter::default().confidence(), 0.0);
        let mut meter = ConfidenceMeter::default();
        meter.record(b" ", 0.25);
        assert!((meter.confidence() - 0.25).abs() < 1e-6);
    }

    #[test]
    fn one_unsure_token_pulls_the_confidence_down() {
        let mut meter = ConfidenceMeter::default();
        for _ in 0..8 {
            meter.record(b"ok", 0.99);
        }
        meter.record(b"87", 0.01);
        assert!(meter.confidence() < 0.62, "{}", meter.confidence());
    }
}
