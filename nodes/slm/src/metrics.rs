//! What the SLM node counts, for its `metrics` snapshots (docs/http.md lists
//! every series). Both node threads write here; nothing blocks for long.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use shopfloor_core::schema::{Answer, MetricSample};
use shopfloor_node::metrics::{Histogram, Snapshot};

/// Counters of one SLM node.
#[derive(Debug)]
pub struct SlmMetrics {
    /// The model now answering (changes when a power policy swaps variants).
    model: Mutex<String>,
    /// Variant swaps done by the power policy.
    pub model_swaps: AtomicU64,
    /// Readings taken into the plant state.
    pub readings: AtomicU64,
    /// Questions answered "busy" because the queue was full.
    pub busy: AtomicU64,
    /// Inputs that did not decode as their schema.
    pub rejected_inputs: AtomicU64,
    answers: Mutex<BTreeMap<(String, &'static str), u64>>,
    low_confidence: AtomicU64,
    completion_tokens: AtomicU64,
    /// Milliseconds spent writing tokens after the first (decode phase).
    decode_ms: AtomicU64,
    ttft: Histogram,
    latency: Histogram,
}

impl SlmMetrics {
    /// Counters for a node serving `model`.
    pub fn new(model: &str) -> Self {
        Self {
            model: Mutex::new(model.to_owned()),
            model_swaps: AtomicU64::new(0),
            readings: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            rejected_inputs: AtomicU64::new(0),
            answers: Mutex::default(),
            low_confidence: AtomicU64::new(0),
            completion_tokens: AtomicU64::new(0),
            decode_ms: AtomicU64::new(0),
            ttft: Histogram::latency(),
            latency: Histogram::latency(),
        }
    }

    /// The power policy swapped to `model`.
    pub fn swapped_to(&self, model: &str) {
        *self.model.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = model.to_owned();
        self.model_swaps.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one answer sent (busy answers included).
    pub fn answered(&self, answer: &Answer) {
        let tier = answer.model.clone().unwrap_or_else(|| "facts".to_owned());
        let outcome = answer.error.map_or("ok", |error| error.as_str());
        *self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry((tier, outcome)).or_default() +=
            1;
        if answer.low_confidence {
            self.low_confidence.fetch_add(1, Ordering::Relaxed);
        }
        self.latency.observe(answer.latency_ms as f64 / 1e3);
        if let Some(ttft_ms) = answer.ttft_ms {
            self.ttft.observe(ttft_ms as f64 / 1e3);
            if let Some(tokens) = answer.completion_tokens.filter(|t| *t > 1) {
                self.completion_tokens.fetch_add(tokens as u64, Ordering::Relaxed);
                self.decode_ms.fetch_add((answer.latency_ms - ttft_ms).max(0) as u64, Ordering::Relaxed);
            }
        }
    }

    /// The node's snapshot; `waiting` is the question queue's depth now.
    pub fn snapshot(&self, node: &str, waiting: usize, capacity: usize) -> Vec<MetricSample> {
        let mut snapshot = Snapshot::new(node);
        let model = self.model.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        snapshot
            .gauge("shopfloor_model_info", "1 per model this node has loaded", &[("model", &model)], 1.0)
            .counter(
                "shopfloor_model_swaps",
                "Model variants swapped in by the power policy",
                &[],
                self.model_swaps.load(Ordering::Relaxed),
            )
            .counter(
                "shopfloor_readings_in",
                "Readings taken into the plant state",
                &[],
                self.readings.load(Ordering::Relaxed),
            )
            .counter(
                "shopfloor_rejected_inputs",
                "Inputs refused, by reason",
                &[("reason", "schema")],
                self.rejected_inputs.load(Ordering::Relaxed),
            )
            .gauge("shopfloor_question_queue_depth", "Questions waiting or being answered", &[], waiting as f64)
            .gauge("shopfloor_question_queue_capacity", "Questions that may wait before busy", &[], capacity as f64);
        for ((tier, outcome), count) in self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
            snapshot.counter(
                "shopfloor_answers",
                "Answers sent, by tier (model, or facts when the facts answered) and outcome",
                &[("tier", tier), ("outcome", outcome)],
                *count,
            );
        }
        let tokens = self.completion_tokens.load(Ordering::Relaxed);
        let decode_seconds = self.decode_ms.load(Ordering::Relaxed) as f64 / 1e3;
        snapshot
            .counter(
                "shopfloor_answers_low_confidence",
                "Answers below the confidence threshold (candidates for escalation)",
                &[],
                self.low_confidence.load(Ordering::Relaxed),
            )
            .histogram("shopfloor_ttft_seconds", "Receipt of a question to the model's first token", &[], &self.ttft)
            .histogram("shopfloor_answer_latency_seconds", "Receipt of a question to its answer", &[], &self.latency)
            .counter("shopfloor_completion_tokens", "Tokens the model wrote", &[], tokens)
            .gauge(
                "shopfloor_decode_tokens_per_second",
                "Tokens per second after the first token, over the node's life",
                &[],
                if decode_seconds > 0.0 { tokens as f64 / decode_seconds } else { 0.0 },
            )
            .process_memory();
        snapshot.finish()
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
        let metrics = SlmMetrics::new("SmolLM2");
        metrics.answered(&answer(Some("SmolLM2"), None));
        metrics.answered(&answer(Some("SmolLM2"), None));
        metrics.answered(&answer(None, Some(AnswerError::Busy)));
        let samples = metrics.snapshot("slm", 1, 8);
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
