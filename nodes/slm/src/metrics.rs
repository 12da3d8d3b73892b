//! What the SLM node counts, for its `metrics` snapshots (docs/http.md lists
//! every series). Plain state, kept by the node's front loop: every answer,
//! the busy ones included, goes out through it.

use std::collections::BTreeMap;

use shopfloor_core::schema::Answer;
use shopfloor_node::metrics::{Histogram, Snapshot};

/// Counters of one SLM node.
#[derive(Debug)]
pub struct SlmMetrics {
    /// The model now answering (changes when a power policy swaps variants).
    model: String,
    /// Variant swaps done by the power policy.
    pub model_swaps: u64,
    pub readings: u64,
    /// Older readings of a tag dropped for its newer ones while the model
    /// was busy (the pending readings' bound).
    pub readings_coalesced: u64,
    /// Questions answered "busy" because the queue was full.
    pub busy: u64,
    answers: BTreeMap<(String, &'static str), u64>,
    low_confidence: u64,
    completion_tokens: u64,
    /// Milliseconds spent writing tokens after the first (decode phase).
    decode_ms: u64,
    ttft: Histogram,
    latency: Histogram,
}

impl SlmMetrics {
    /// Counters for a node serving `model`.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            model_swaps: 0,
            readings: 0,
            readings_coalesced: 0,
            busy: 0,
            answers: BTreeMap::new(),
            low_confidence: 0,
            completion_tokens: 0,
            decode_ms: 0,
            ttft: Histogram::latency(),
            latency: Histogram::latency(),
        }
    }

    /// The power policy swapped to `model`.
    pub fn swapped_to(&mut self, model: &str) {
        model.clone_into(&mut self.model);
        self.model_swaps += 1;
    }

    /// Counts one answer sent (busy answers included).
    pub fn answered(&mut self, answer: &Answer) {
        let tier = answer.model.clone().unwrap_or_else(|| "facts".to_owned());
        let outcome = answer.error.map_or("ok", |error| error.as_str());
        *self.answers.entry((tier, outcome)).or_default() += 1;
        if answer.low_confidence {
            self.low_confidence += 1;
        }
        self.latency.observe(answer.latency_ms as f64 / 1e3);
        if let Some(ttft_ms) = answer.ttft_ms {
            self.ttft.observe(ttft_ms as f64 / 1e3);
            if let Some(tokens) = answer.completion_tokens.filter(|t| *t > 1) {
                self.completion_tokens += tokens as u64;
                self.decode_ms += (answer.latency_ms - ttft_ms).max(0) as u64;
            }
        }
    }

    /// Answers sent, over all tiers and outcomes.
    pub fn answers_total(&self) -> u64 {
        self.answers.values().sum()
    }

    /// Adds the node's series to `snapshot`; `waiting` is the question
    /// queue's depth now (rejections and memory are the driver's).
    pub fn fill(&self, snapshot: &mut Snapshot, waiting: usize, capacity: usize) {
        snapshot
            .gauge("shopfloor_model_info", "1 per model this node has loaded", &[("model", &self.model)], 1.0)
            .counter("shopfloor_model_swaps", "Model variants swapped in by the power policy", &[], self.model_swaps)
            .counter("shopfloor_readings_in", "Readings taken into the plant state", &[], self.readings)
            .counter(
                "shopfloor_readings_coalesced",
                "Older readings of a tag dropped for newer ones while the model was busy",
                &[],
                self.readings_coalesced,
            )
            .gauge("shopfloor_question_queue_depth", "Questions waiting or being answered", &[], waiting as f64)
            .gauge("shopfloor_question_queue_capacity", "Questions that may wait before busy", &[], capacity as f64);
        for ((tier, outcome), count) in &self.answers {
            snapshot.counter(
                "shopfloor_answers",
                "Answers sent, by tier (model, or facts when the facts answered) and outcome",
                &[("tier", tier), ("outcome", outcome)],
                *count,
            );
        }
        let decode_seconds = self.decode_ms as f64 / 1e3;
        snapshot
            .counter(
                "shopfloor_answers_low_confidence",
                "Answers below the confidence threshold (candidates for escalation)",
                &[],
                self.low_confidence,
            )
            .histogram("shopfloor_ttft_seconds", "Receipt of a question to the model's first token", &[], &self.ttft)
            .histogram("shopfloor_answer_latency_seconds", "Receipt of a question to its answer", &[], &self.latency)
            .counter("shopfloor_completion_tokens", "Tokens the model wrote", &[], self.completion_tokens)
            .gauge(
                "shopfloor_decode_tokens_per_second",
                "Tokens per second after the first token, over the node's life",
                &[],
                if decode_seconds > 0.0 { self.completion_tokens as f64 / decode_seconds } else { 0.0 },
            );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopfloor_core::schema::{AnswerError, Origin, Question};

    fn answer(model: Option<&str>, error: Option<AnswerError>) -> Answer {
        let mut answer = Answer::to_question(&Question::new("q", "t", "o", Origin::Http, 0), "a".into());
        answer.model = model.map(str::to_owned);
        answer.error = error;
        answer.latency_ms = 300;
        answer.ttft_ms = model.map(|_| 100);
        answer.completion_tokens = model.map(|_| 11);
        answer
    }

    #[test]
    fn answers_are_counted_by_tier_and_outcome() {
        let mut metrics = SlmMetrics::new("SmolLM2");
        metrics.answered(&answer(Some("SmolLM2"), None));
        metrics.answered(&answer(Some("SmolLM2"), None));
        metrics.answered(&answer(None, Some(AnswerError::Busy)));
        let mut snapshot = Snapshot::new("slm");
        metrics.fill(&mut snapshot, 1, 8);
        let samples = snapshot.finish();
        let value = |name: &str, labels: &[(&str, &str)]| {
            samples
                .iter()
                .find(|s| {
                    s.name == name && labels.iter().all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
                })
                .map(|s| s.value)
        };
        assert_eq!(value("shopfloor_answers", &[("tier", "SmolLM2"), ("outcome", "ok")]), Some(2.0));
        assert_eq!(value("shopfloor_answers", &[("tier", "facts"), ("outcome", "busy")]), Some(1.0));
        assert_eq!(value("shopfloor_model_info", &[("model", "SmolLM2")]), Some(1.0));
        // 2 answers x 11 tokens in 2 x 0.2 s after the first token.
        assert_eq!(value("shopfloor_decode_tokens_per_second", &[]), Some(55.0));
        let latency = samples.iter().find(|s| s.name == "shopfloor_answer_latency_seconds").unwrap();
        assert_eq!(latency.count, 3);
    }
}
