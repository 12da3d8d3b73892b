//! How well an answer's confidence separates right from wrong answers: the
//! numbers a routing threshold is chosen from. Pure arithmetic over
//! (confidence, right) pairs, and [`ItemOutcome`], the per-question record
//! `shopfloor model evaluate-one` writes and `shopfloor router calibrate` replays.

use serde::{Deserialize, Serialize};

/// How one item went.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ItemOutcome {
    pub id: String,
    /// The set's class of the item.
    pub class: String,
    pub question: String,
    /// The answer was right (the facts' fallback included: what an operator got).
    pub right: bool,
    /// The answer's confidence, when the model wrote it.
    pub confidence: Option<f32>,
    /// The answer's error kind, if any.
    pub error: Option<String>,
    /// Answer time, ms.
    pub latency_ms: f64,
    /// A polite refusal (the router's, for out-of-scope questions) would be right.
    pub refusal_right: bool,
}

/// One threshold's effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdRow {
    /// Answers below it are escalated.
    pub threshold: f32,
    /// Share of answers below it (the escalation rate).
    pub escalated: f64,
    /// Accuracy of the answers kept (at or above it); None if none are.
    pub accuracy_kept: Option<f64>,
    /// Accuracy of the answers escalated; None if none are.
    pub accuracy_escalated: Option<f64>,
}

/// Area under the ROC curve of `confidence` as a score for "right": the
/// chance that a random right answer has a higher confidence than a random
/// wrong one (ties count half). None without both kinds of answer.
pub fn auroc(scored: &[(f32, bool)]) -> Option<f64> {
    let right: Vec<f32> = scored.iter().filter(|(_, ok)| *ok).map(|(c, _)| *c).collect();
    let wrong: Vec<f32> = scored.iter().filter(|(_, ok)| !*ok).map(|(c, _)| *c).collect();
    if right.is_empty() || wrong.is_empty() {
        return None;
    }
    let wins: f64 = right
        .iter()
        .flat_map(|r| {
            wrong.iter().map(move |w| {
                if r > w {
                    1.0
                } else if r == w {
                    0.5
                } else {
                    0.0
                }
            })
        })
        .sum();
    Some(wins / (right.len() * wrong.len()) as f64)
}

/// The effect of escalating everything below `threshold`.
pub fn at_threshold(scored: &[(f32, bool)], threshold: f32) -> ThresholdRow {
    let (kept, escalated): (Vec<_>, Vec<_>) = scored.iter().partition(|(c, _)| *c >= threshold);
    let accuracy = |part: &[&(f32, bool)]| {
        (!part.is_empty()).then(|| part.iter().filter(|(_, ok)| *ok).count() as f64 / part.len() as f64)
    };
    ThresholdRow {
        threshold,
        escalated: escalated.len() as f64 / scored.len().max(1) as f64,
        accuracy_kept: accuracy(&kept),
        accuracy_escalated: accuracy(&escalated),
    }
}

/// The threshold that best separates right from wrong (largest Youden's J:
/// share of wrong answers escalated minus share of right answers
/// escalated), with its J. None without both kinds of answer.
pub fn recommend(scored: &[(f32, bool)]) -> Option<(f32, f64)> {
    let right = scored.iter().filter(|(_, ok)| *ok).count();
    let wrong = scored.len() - right;
    if right == 0 || wrong == 0 {
        return None;
    }
    let mut candidates: Vec<f32> = scored.iter().map(|(c, _)| *c).collect();
    candidates.sort_by(f32::total_cmp);
    candidates.dedup();
    candidates
        .into_iter()
        .map(|t| {
            let wrong_below = scored.iter().filter(|(c, ok)| !*ok && *c < t).count() as f64 / wrong as f64;
            let right_below = scored.iter().filter(|(c, ok)| *ok && *c < t).count() as f64 / right as f64;
            (t, wrong_below - right_below)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confidence_that_separates_perfectly_has_auroc_one_and_is_recommended_between() {
        let scored = [(0.9, true), (0.8, true), (0.3, false), (0.2, false)];
        assert_eq!(auroc(&scored), Some(1.0));
        let (threshold, j) = recommend(&scored).unwrap();
        assert_eq!((threshold, j), (0.8, 1.0));
        let row = at_threshold(&scored, 0.5);
        assert_eq!((row.escalated, row.accuracy_kept, row.accuracy_escalated), (0.5, Some(1.0), Some(0.0)));
    }

    #[test]
    fn an_uninformative_confidence_is_one_half_and_one_kind_only_has_none() {
        assert_eq!(auroc(&[(0.5, true), (0.5, false)]), Some(0.5));
        assert_eq!(auroc(&[(0.9, true), (0.1, false), (0.1, true), (0.9, false)]), Some(0.5));
        assert_eq!(auroc(&[(0.9, true)]), None);
        assert_eq!(recommend(&[(0.2, false)]), None);
        assert_eq!(at_threshold(&[], 0.5).accuracy_kept, None);
    }
}
