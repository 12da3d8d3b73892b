//! Choosing tokens: greedy argmax with its softmax probability, the grammar
//! check that tries the top candidate first, and the answer's confidence.

use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;

/// Logits this far below the maximum are left out of the softmax sum: each
/// adds less than e^-20 (2e-9) of the top token's weight, so even the whole
/// vocabulary changes a probability by less than 1e-4, and skipping their
/// `exp` keeps the per-token cost below llama.cpp's own sampler's.
const NEGLIGIBLE_LOGIT_GAP: f32 = 20.0;

/// The most likely token and its softmax probability.
pub fn greedy(logits: &[f32]) -> (LlamaToken, f32) {
    // Three simple passes (max, its index, the sum) vectorise better than
    // one pass that tracks an index.
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let best = logits.iter().position(|&v| v == max).unwrap_or(0);
    let floor = max - NEGLIGIBLE_LOGIT_GAP;
    let sum: f32 = logits.iter().filter(|&&v| v > floor).map(|&v| (v - max).exp()).sum();
    let probability = if sum > 0.0 { 1.0 / sum } else { 0.0 };
    (LlamaToken(best as i32), probability)
}

/// How a constrained token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrammarPath {
    /// The unconstrained top token was allowed: one grammar check.
    TopAccepted,
    /// It was not, but one of the [`SHORTLIST`] most likely tokens was.
    Shortlist,
    /// None of those: the grammar filtered the whole vocabulary.
    FullVocabulary,
}

/// How many of the most likely tokens are checked before the whole
/// vocabulary (a grammar check per token costs about as much as the whole
/// vocabulary's softmax, so the full filter costs several milliseconds).
pub const SHORTLIST: usize = 64;

/// Greedy choice under a grammar, cheapest check first: the unconstrained
/// argmax alone, then the [`SHORTLIST`] most likely tokens, and only when
/// the grammar allows none of them the whole vocabulary. Returns `None`
/// when the grammar allows no token at all.
///
/// The probability is the softmax over the allowed tokens when the whole
/// vocabulary was filtered; on the cheaper paths it is the unconstrained
/// softmax of the chosen token, a lower bound of the renormalised value
/// (exact renormalisation needs the full filter those paths avoid).
pub fn constrained_greedy(grammar: &mut LlamaSampler, logits: &[f32]) -> Option<(LlamaToken, f32, GrammarPath)> {
    let (top, probability) = greedy(logits);
    let top_logit = logits.get(top.0 as usize).copied().unwrap_or(f32::NEG_INFINITY);
    let mut single = LlamaTokenDataArray::new(vec![LlamaTokenData::new(top, top_logit, 0.0)], false);
    grammar.apply(&mut single);
    if single.data.first().is_some_and(|d| d.logit() > f32::NEG_INFINITY) {
        return Some((top, probability, GrammarPath::TopAccepted));
    }

    let mut ranked: Vec<(usize, f32)> = logits.iter().copied().enumerate().collect();
    let cut = SHORTLIST.min(ranked.len());
    if cut > 0 && cut < ranked.len() {
        ranked.select_nth_unstable_by(cut - 1, |a, b| b.1.total_cmp(&a.1));
    }
    let mut shortlist = LlamaTokenDataArray::from_iter(
        ranked[..cut].iter().map(|&(i, l)| LlamaTokenData::new(LlamaToken(i as i32), l, 0.0)),
        false,
    );
    grammar.apply(&mut shortlist);
    if let Some(best) = best_allowed(&shortlist) {
        let max = top_logit;
        let sum: f32 = logits.iter().filter(|&&v| v > max - 20.0).map(|&v| (v - max).exp()).sum();
        let p = (best.1 - max).exp() / sum.max(f32::MIN_POSITIVE);
        return Some((best.0, p, GrammarPath::Shortlist));
    }

    let mut all = LlamaTokenDataArray::from_iter(
        logits.iter().enumerate().map(|(i, &l)| LlamaTokenData::new(LlamaToken(i as i32), l, 0.0)),
        false,
    );
    grammar.apply(&mut all);
    let (best, max) = best_allowed(&all)?;
    let sum: f64 =
        all.data.iter().filter(|d| d.logit() > f32::NEG_INFINITY).map(|d| f64::from(d.logit() - max).exp()).sum();
    Some((best, (1.0 / sum) as f32, GrammarPath::FullVocabulary))
}

/// The allowed token with the highest logit, and that logit.
fn best_allowed(candidates: &LlamaTokenDataArray) -> Option<(LlamaToken, f32)> {
    candidates
        .data
        .iter()
        .filter(|d| d.logit() > f32::NEG_INFINITY)
        .max_by(|a, b| a.logit().total_cmp(&b.logit()))
        .map(|d| (d.id(), d.logit()))
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
    fn far_lower_logits_do_not_change_the_probability_measurably() {
        let mut logits = vec![-100.0f32; 50_000];
        logits[7] = 5.0;
        logits[8] = 4.0;
        let (token, p) = greedy(&logits);
        assert_eq!(token, LlamaToken(7));
        let exact = 1.0 / (1.0 + (-1.0f64).exp() + 49_998.0 * (-105.0f64).exp());
        assert!((f64::from(p) - exact).abs() < 1e-6, "{p} vs {exact}");
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
