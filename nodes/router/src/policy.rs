//! The routing decisions, apart from any I/O (the node wires them to dora
//! and HTTP): which tier a question goes to first, whether a tier's answer
//! is kept or escalated, when a deadline cuts escalation short, and the
//! route every answer carries, and what happens when a tier is unreachable
//! (its liveness input silent: a tier on another machine that went away).
//! Time is passed in, so tests run instantly.

use std::collections::HashMap;

use crate::config::{ClassTarget, OnBusy, RouterConfig, TierKind, TierSpec, DEFAULT_REFUSAL};
use shopfloor_core::schema::{Answer, AnswerError, HopOutcome, Question, RouteHop};
use shopfloor_vocabulary::language::Language;

use crate::classify::{Class, Classifier};
use crate::write_request::write_request;

/// Weight of the newest latency in a tier's expected latency.
const LATENCY_WEIGHT: f64 = 0.3;

/// What the node must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send `question` to tier `tier`; `context` is the facts the answers
    /// so far used (what an off-site tier is told).
    Ask {
        /// Index into the tiers.
        tier: usize,
        /// The question as the tier gets it (deadline set).
        question: Question,
        /// Fact lines for an off-site tier.
        context: Vec<String>,
    },
    /// Send this answer to the asker.
    Reply(Answer),
}

/// What the router has done, for its metrics.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RouteCounts {
    /// Questions per class.
    pub classified: HashMap<&'static str, u64>,
    /// Escalations away from each tier (by tier name).
    pub escalated_from: HashMap<String, u64>,
    /// Final answers per answering tier name (`router` for refusals).
    pub answered_by: HashMap<String, u64>,
    /// Answers returned because the deadline stopped escalation or waiting.
    pub deadline_cut: u64,
    /// Final answers still below their tier's threshold.
    pub low_confidence: u64,
    /// Questions sent off the site.
    pub left_site: u64,
    /// Tier answers that came after the router had answered.
    pub late_answers: u64,
    /// Questions refused as duplicates of one being answered.
    pub duplicates: u64,
    /// Times a tier was skipped or given up on because it was unreachable.
    pub unreachable: u64,
}

struct Pending {
    question: Question,
    class: Class,
    tier: usize,
    asked_at_ms: i64,
    deadline_ms: i64,
    hops: Vec<RouteHop>,
    /// Every tier answer so far, with its tier.
    answers: Vec<(usize, Answer)>,
    left_site: bool,
    /// A tier it needed was unreachable: the answer is marked low-confidence.
    degraded: bool,
}

/// The router's state: questions in flight and each tier's expected latency.
pub struct Policy {
    tiers: Vec<TierSpec>,
    targets: Vec<(Class, ClassTarget)>,
    default_deadline_ms: i64,
    refusal: String,
    classifier: Classifier,
    expected_ms: Vec<f64>,
    pending: HashMap<(&'static str, String), Pending>,
    /// When each watched tier last showed life (ms); None: not watched, always reachable.
    last_alive_ms: Vec<Option<i64>>,
    stale_ms: i64,
    /// What was done so far.
    pub counts: RouteCounts,
}

/// The class of a request to change the plant, refused in the asker's
/// language before classification ([`write_request`]).
pub const WRITE_REQUEST_CLASS: &str = "write_request";

const CLASSES: [Class; 5] = [Class::CurrentValue, Class::Trend, Class::Alarm, Class::Procedure, Class::OutOfScope];

impl Policy {
    /// A policy for `config`.
    pub fn new(config: &RouterConfig) -> Self {
        Self {
            tiers: config.tiers.clone(),
            targets: CLASSES.iter().map(|c| (*c, config.target(c.as_str()))).collect(),
            default_deadline_ms: config.default_deadline.as_millis() as i64,
            refusal: config.refusal.clone(),
            classifier: Classifier::new(config.plant_words.clone()),
            expected_ms: config.tiers.iter().map(|t| t.expect_ms as f64).collect(),
            pending: HashMap::new(),
            last_alive_ms: vec![None; config.tiers.len()],
            stale_ms: config.tier_stale_after.as_millis() as i64,
            counts: RouteCounts::default(),
        }
    }

    /// Watch tier `tier`'s liveness from now on: it is reachable while it
    /// shows life (see [`Policy::on_alive`]) at least every stale interval.
    /// Watching starts as if it had just shown life, to give it time to start.
    pub fn watch_liveness(&mut self, tier: usize, now_ms: i64) {
        if let Some(slot) = self.last_alive_ms.get_mut(tier) {
            *slot = Some(now_ms);
        }
    }

    /// Tier `tier` showed life (any message on its liveness input).
    pub fn on_alive(&mut self, tier: usize, now_ms: i64) {
        if let Some(Some(last)) = self.last_alive_ms.get_mut(tier) {
            *last = (*last).max(now_ms);
        }
    }

    /// Tier `tier`'s liveness input closed (dora's `input_timeout` or the
    /// sender's machine went away): unreachable until it shows life again.
    pub fn on_gone(&mut self, tier: usize, now_ms: i64) {
        if let Some(Some(last)) = self.last_alive_ms.get_mut(tier) {
            *last = (*last).min(now_ms - self.stale_ms - 1);
        }
    }

    /// Whether tier `tier` is reachable: unwatched, or alive recently.
    pub fn is_reachable(&self, tier: usize, now_ms: i64) -> bool {
        match self.last_alive_ms.get(tier) {
            Some(Some(last)) => now_ms - last <= self.stale_ms,
            _ => true,
        }
    }

    /// The reachable tier nearest below `tier`, else nearest above it;
    /// never a docs tier, and none for one (a model would invent the
    /// procedure).
    fn fallback_for(&self, tier: usize, now_ms: i64) -> Option<usize> {
        if self.tiers[tier].kind == TierKind::Docs {
            return None;
        }
        (0..tier)
            .rev()
            .chain(tier + 1..self.tiers.len())
            .find(|t| self.tiers[*t].kind != TierKind::Docs && self.is_reachable(*t, now_ms))
    }

    /// The tier an answer of `tier` escalates to: the next model tier.
    fn next_tier(&self, tier: usize) -> Option<usize> {
        if self.tiers[tier].kind == TierKind::Docs {
            return None;
        }
        (tier + 1..self.tiers.len()).find(|t| self.tiers[*t].kind != TierKind::Docs)
    }

    fn unreachable_hop(&mut self, tier: usize, reason: String) -> RouteHop {
        self.counts.unreachable += 1;
        RouteHop {
            tier: self.tiers[tier].name.clone(),
            model: None,
            confidence: None,
            latency_ms: 0,
            outcome: HopOutcome::Unreachable,
            reason,
        }
    }

    fn silence(&self, tier: usize, now_ms: i64) -> String {
        match self.last_alive_ms.get(tier) {
            Some(Some(last)) => format!("no sign of life for {} ms", now_ms - last),
            _ => "unreachable".into(),
        }
    }

    /// The tiers, in escalation order.
    pub fn tiers(&self) -> &[TierSpec] {
        &self.tiers
    }

    /// Questions waiting for a tier.
    /// The questions being answered, as the router got them.
    pub fn pending_questions(&self) -> impl Iterator<Item = &Question> {
        self.pending.values().map(|pending| &pending.question)
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// What a tier is now expected to take, ms.
    pub fn expected_ms(&self, tier: usize) -> f64 {
        self.expected_ms.get(tier).copied().unwrap_or(0.0)
    }

    /// Tags seen in readings: their words make questions about them plant questions.
    pub fn learn_tags<'a>(&mut self, tags: impl IntoIterator<Item = &'a str>) {
        for tag in tags {
            self.classifier.learn_tag(tag);
        }
    }

    /// What an out-of-scope question is told: the site's own sentence
    /// (`ROUTER_REFUSAL`) as set, else the default in the asker's language.
    fn out_of_scope_refusal(&self, question: &str) -> String {
        if self.refusal != DEFAULT_REFUSAL {
            return self.refusal.clone();
        }
        match shopfloor_vocabulary::language::detect(question) {
            Language::English => DEFAULT_REFUSAL,
            Language::German => "Entschuldigung, ich beantworte nur Fragen zu dieser Anlage: aktuelle Werte, Grenzwerte, Trends, Alarme und Abläufe ihrer Maschinen.",
            Language::Spanish => "Lo siento, solo respondo preguntas sobre esta planta: valores actuales, límites, tendencias, alarmas y procedimientos de sus máquinas.",
            Language::French => "Désolé, je ne réponds qu'aux questions sur cette installation : valeurs actuelles, limites, tendances, alarmes et procédures de ses machines.",
        }
        .to_owned()
    }

    /// A new question.
    pub fn on_question(&mut self, question: Question, now_ms: i64) -> Action {
        // Never configurable to a tier: the assistant is read-only.
        if let Some(language) = write_request(&question.text, self.classifier.is_about_plant(&question.text)) {
            *self.counts.classified.entry(WRITE_REQUEST_CLASS).or_default() += 1;
            let reason = "a request to change the plant: the assistant is read-only".to_owned();
            let text = crate::write_request::read_only_refusal(language).to_owned();
            return Action::Reply(self.refuse(&question, WRITE_REQUEST_CLASS, text, reason, now_ms));
        }
        let class = self.classifier.classify(&question.text);
        *self.counts.classified.entry(class.as_str()).or_default() += 1;
        let key = (question.origin.as_str(), question.id.clone());
        if self.pending.contains_key(&key) {
            self.counts.duplicates += 1;
            let mut answer = Answer::to_question(
                &question,
                format!("A question with id {:?} is already being answered; ask again with a new id.", question.id),
            );
            answer.error = Some(AnswerError::InvalidQuestion);
            answer.latency_ms = (now_ms - question.received_ts_ms).max(0);
            return Action::Reply(answer);
        }
        let target = self.targets.iter().find(|(c, _)| *c == class).map_or(ClassTarget::Tier(0), |(_, t)| t.clone());
        let tier = match target {
            ClassTarget::Refuse => {
                let reason = format!("class {}: refused without asking a model", class.as_str());
                let text = self.out_of_scope_refusal(&question.text);
                return Action::Reply(self.refuse(&question, class.as_str(), text, reason, now_ms));
            }
            ClassTarget::Tier(tier) => tier,
        };
        let deadline_ms = question.deadline_ms.unwrap_or(question.received_ts_ms + self.default_deadline_ms);
        let mut pending = Pending {
            question,
            class,
            tier,
            asked_at_ms: now_ms,
            deadline_ms,
            hops: Vec::new(),
            answers: Vec::new(),
            left_site: false,
            degraded: false,
        };
        if now_ms >= deadline_ms {
            return Action::Reply(self.finish(pending, now_ms, true));
        }
        let mut tier = tier;
        if !self.is_reachable(tier, now_ms) {
            let Some(fallback) = self.fallback_for(tier, now_ms) else {
                let why = if self.tiers[tier].kind == TierKind::Docs {
                    "procedures are not asked of a model"
                } else {
                    "no other tier reachable"
                };
                let hop = self.unreachable_hop(tier, format!("{}; {why}", self.silence(tier, now_ms)));
                pending.hops.push(hop);
                pending.degraded = true;
                return Action::Reply(self.finish(pending, now_ms, false));
            };
            let reason = format!("{}; asked {} instead", self.silence(tier, now_ms), self.tiers[fallback].name);
            let hop = self.unreachable_hop(tier, reason);
            pending.hops.push(hop);
            pending.degraded = true;
            tier = fallback;
        }
        let action = self.ask(&mut pending, tier, now_ms);
        self.pending.insert(key, pending);
        action
    }

    /// Tier `tier` answered; None when the answer is late or unknown.
    pub fn on_answer(&mut self, tier: usize, answer: Answer, now_ms: i64) -> Option<Action> {
        let key = (answer.origin.as_str(), answer.id.clone());
        if self.pending.get(&key).is_none_or(|p| p.tier != tier) {
            self.counts.late_answers += 1;
            return None;
        }
        let mut pending = self.pending.remove(&key)?;
        let spec = self.tiers[tier].clone();
        let latency_ms = (now_ms - pending.asked_at_ms).max(0);
        // A busy answer comes at once: it says nothing of how long answers take.
        if answer.error != Some(AnswerError::Busy) {
            let expected = &mut self.expected_ms[tier];
            *expected = (1.0 - LATENCY_WEIGHT) * *expected + LATENCY_WEIGHT * latency_ms as f64;
        }

        let (wants_more, reason) = if spec.kind == TierKind::Docs {
            (false, "quoted from the site's documents: final".to_owned())
        } else {
            judge(&answer, &spec)
        };
        let mut hop = RouteHop {
            tier: spec.name.clone(),
            model: answer.model.clone(),
            confidence: answer.confidence,
            latency_ms,
            outcome: HopOutcome::Accepted,
            reason,
        };
        let tier_gave_up = answer.error == Some(AnswerError::DeadlineExceeded);
        pending.answers.push((tier, answer));
        let next = self.next_tier(tier);
        if tier_gave_up {
            hop.outcome = HopOutcome::Deadline;
            pending.hops.push(hop);
            return Some(Action::Reply(self.finish(pending, now_ms, true)));
        }
        if !wants_more {
            pending.hops.push(hop);
            return Some(Action::Reply(self.finish(pending, now_ms, false)));
        }
        let Some(next) = next else {
            hop.outcome = HopOutcome::Kept;
            hop.reason.push_str("; no higher tier");
            pending.hops.push(hop);
            return Some(Action::Reply(self.finish(pending, now_ms, false)));
        };
        if !self.is_reachable(next, now_ms) {
            // The best local answer, marked low-confidence (finish does).
            hop.outcome = HopOutcome::Kept;
            hop.reason.push_str(&format!("; tier {} unreachable", self.tiers[next].name));
            pending.hops.push(hop);
            let unreachable = self.unreachable_hop(next, self.silence(next, now_ms));
            pending.hops.push(unreachable);
            pending.degraded = true;
            return Some(Action::Reply(self.finish(pending, now_ms, false)));
        }
        let left_ms = pending.deadline_ms - now_ms;
        let expected_next = self.expected_ms[next].round() as i64;
        if expected_next > left_ms {
            hop.outcome = HopOutcome::Deadline;
            hop.reason
                .push_str(&format!("; tier {} takes ~{expected_next} ms, {left_ms} ms left", self.tiers[next].name));
            pending.hops.push(hop);
            return Some(Action::Reply(self.finish(pending, now_ms, true)));
        }
        hop.outcome = HopOutcome::Escalated;
        *self.counts.escalated_from.entry(spec.name.clone()).or_default() += 1;
        pending.hops.push(hop);
        let action = self.ask(&mut pending, next, now_ms);
        self.pending.insert(key, pending);
        Some(action)
    }

    /// Questions whose deadline passed while a tier was still working:
    /// answered with the best answer so far. Questions held by a tier that
    /// became unreachable: the best answer so far, or a reachable tier asked.
    pub fn on_tick(&mut self, now_ms: i64) -> Vec<Action> {
        let mut actions = self.leave_unreachable_tiers(now_ms);
        let expired: Vec<_> =
            self.pending.iter().filter(|(_, p)| now_ms >= p.deadline_ms).map(|(k, _)| k.clone()).collect();
        for key in expired {
            let Some(mut pending) = self.pending.remove(&key) else { continue };
            pending.hops.push(RouteHop {
                tier: self.tiers[pending.tier].name.clone(),
                model: None,
                confidence: None,
                latency_ms: (now_ms - pending.asked_at_ms).max(0),
                outcome: HopOutcome::NoAnswer,
                reason: "no answer before the deadline".into(),
            });
            actions.push(Action::Reply(self.finish(pending, now_ms, true)));
        }
        actions
    }

    fn leave_unreachable_tiers(&mut self, now_ms: i64) -> Vec<Action> {
        let stranded: Vec<_> = self
            .pending
            .iter()
            .filter(|(_, p)| now_ms < p.deadline_ms && !self.is_reachable(p.tier, now_ms))
            .map(|(k, _)| k.clone())
            .collect();
        let mut actions = Vec::new();
        for key in stranded {
            let Some(mut pending) = self.pending.remove(&key) else { continue };
            let hop =
                self.unreachable_hop(pending.tier, format!("{} while answering", self.silence(pending.tier, now_ms)));
            pending.hops.push(hop);
            pending.degraded = true;
            let asked: Vec<usize> = pending.answers.iter().map(|(t, _)| *t).collect();
            let from_docs = self.tiers[pending.tier].kind == TierKind::Docs;
            let fallback = (0..self.tiers.len())
                .rev()
                .filter(|t| *t != pending.tier && !asked.contains(t) && self.tiers[*t].kind != TierKind::Docs)
                .find(|t| !from_docs && self.is_reachable(*t, now_ms) && *t < pending.tier);
            match (best(&pending.answers).is_some(), fallback) {
                (false, Some(tier)) => {
                    let action = self.ask(&mut pending, tier, now_ms);
                    self.pending.insert(key, pending);
                    actions.push(action);
                }
                _ => actions.push(Action::Reply(self.finish(pending, now_ms, false))),
            }
        }
        actions
    }

    fn ask(&mut self, pending: &mut Pending, tier: usize, now_ms: i64) -> Action {
        pending.tier = tier;
        pending.asked_at_ms = now_ms;
        if self.tiers[tier].kind == TierKind::Http {
            pending.left_site = true;
            self.counts.left_site += 1;
        }
        let mut question = pending.question.clone();
        question.deadline_ms = Some(pending.deadline_ms);
        // The tier's own latency then counts from here, not from the first ask.
        question.received_ts_ms = now_ms;
        let mut context: Vec<String> = Vec::new();
        for fact in pending.answers.iter().flat_map(|(_, a)| &a.facts_used) {
            if !context.contains(fact) {
                context.push(fact.clone());
            }
        }
        Action::Ask { tier, question, context }
    }

    /// The router's own answer `text` to a question it asks no model about.
    fn refuse(&mut self, question: &Question, class: &str, text: String, reason: String, now_ms: i64) -> Answer {
        let mut answer = Answer::to_question(question, text);
        answer.class = Some(class.to_owned());
        answer.route = vec![RouteHop::refused(reason)];
        answer.latency_ms = (now_ms - question.received_ts_ms).max(0);
        *self.counts.answered_by.entry("router".into()).or_default() += 1;
        answer
    }

    /// The answer to return: the last answer when escalation ran its course,
    /// else (deadline) the best so far.
    fn finish(&mut self, pending: Pending, now_ms: i64, deadline_reached: bool) -> Answer {
        let chosen = if deadline_reached { best(&pending.answers) } else { last_useful(&pending.answers) };
        let (mut answer, tier) = match chosen {
            Some((tier, answer)) => (answer.clone(), Some(tier)),
            None if pending.degraded && !deadline_reached => {
                let text = if self.tiers[pending.tier].kind == TierKind::Docs {
                    "The site's documents cannot be searched now; ask again later."
                } else {
                    "No model tier is reachable now; ask again later."
                };
                let mut answer = Answer::to_question(&pending.question, text.into());
                answer.error = Some(AnswerError::GenerationFailed);
                (answer, None)
            }
            None => {
                let mut answer =
                    Answer::to_question(&pending.question, "No model tier answered before the deadline.".into());
                answer.error = Some(AnswerError::DeadlineExceeded);
                (answer, None)
            }
        };
        answer.class = Some(pending.class.as_str().to_owned());
        answer.route = pending.hops;
        answer.left_site = pending.left_site;
        answer.deadline_reached = deadline_reached;
        answer.latency_ms = (now_ms - pending.question.received_ts_ms).max(0);
        answer.low_confidence = pending.degraded
            || match (tier, answer.confidence) {
                (Some(tier), Some(c)) => c < self.tiers[tier].threshold,
                _ => false,
            };
        let by = tier.map_or_else(|| "none".to_owned(), |t| self.tiers[t].name.clone());
        *self.counts.answered_by.entry(by).or_default() += 1;
        self.counts.deadline_cut += u64::from(deadline_reached);
        self.counts.low_confidence += u64::from(answer.low_confidence);
        answer
    }
}

/// Whether a tier's answer should go further up, and why.
fn judge(answer: &Answer, spec: &TierSpec) -> (bool, String) {
    match (answer.error, answer.confidence) {
        (Some(AnswerError::Busy), _) => match spec.on_busy {
            OnBusy::Escalate => (true, "tier busy (on_busy=escalate)".into()),
            OnBusy::Answer => (false, "tier busy: the asker is told to ask again (on_busy=answer)".into()),
        },
        (Some(AnswerError::GenerationFailed), _) => (true, "tier failed: generation_failed".into()),
        (Some(AnswerError::DeadlineExceeded), _) => (false, "the tier saw the deadline pass".into()),
        (Some(error), _) => (false, format!("answered {} (a higher tier has the same data)", error.as_str())),
        (None, None) => (false, "written from the facts, not by a model".into()),
        (None, Some(c)) if c >= spec.threshold => {
            (false, format!("confidence {c:.2} at or above threshold {:.2}", spec.threshold))
        }
        (None, Some(c)) => (true, format!("confidence {c:.2} below threshold {:.2}", spec.threshold)),
    }
}

/// Confidence for ranking: facts-written answers rank as sure.
fn rank(answer: &Answer) -> f32 {
    answer.confidence.unwrap_or(1.0)
}

/// The most confident answer without an error.
fn best(answers: &[(usize, Answer)]) -> Option<(usize, &Answer)> {
    answers
        .iter()
        .filter(|(_, a)| a.error.is_none())
        .max_by(|a, b| rank(&a.1).total_cmp(&rank(&b.1)))
        .map(|(t, a)| (*t, a))
}

/// The last answer, unless it is a failure and an earlier one is usable.
fn last_useful(answers: &[(usize, Answer)]) -> Option<(usize, &Answer)> {
    let (tier, last) = answers.last()?;
    if matches!(last.error, Some(AnswerError::Busy | AnswerError::GenerationFailed)) {
        if let Some(found) = best(answers) {
            return Some(found);
        }
    }
    Some((*tier, last))
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
