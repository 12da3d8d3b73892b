//! The router's node logic as plain state: inputs and off-site replies in,
//! answers and tier questions out, off-site requests left for the driver
//! (which owns the threads that make them). No dora, no clock, no HTTP: the
//! driver hands in each input with the time, and wakes it every [`TICK`] to
//! enforce deadlines.

use std::time::Duration;

use dora_node_api::arrow_v59::array::Array;
use dora_node_api::MetadataParameters;
use serde_json::Value;
use shopfloor_core::schema::{Accepted, Answer, Origin, Question, Reading};
use shopfloor_node::metrics::Snapshot;
use shopfloor_node::{Emit, NodeLogic, Rejected};

use std::collections::{HashMap, HashSet, VecDeque};

use crate::audit::AuditRecord;
use crate::config::{RouterConfig, TierKind};
use crate::http_tier;
use crate::metrics;
use crate::policy::{Action, Policy};
use crate::redact::{RedactError, Redactor};
use shopfloor_node::held::HeldUntilAccepted;

/// Input ids starting with this carry questions (`questions`, `questions_http`, ...).
pub const QUESTIONS_INPUT: &str = "questions";
/// Input ids starting with this carry readings, read only for their tag names
/// (the classifier's site vocabulary).
pub const READINGS_INPUT: &str = "readings";
/// Output id of final answers.
pub const ANSWERS_OUTPUT: &str = "answers";
/// Output id of the questions taken (kept in the pending file or answered):
/// the node that handed them in stops sending them again.
pub const ACCEPTED_OUTPUT: &str = "accepted";
/// mqtt-sink's acceptances of answers (where wired; see [`shopfloor_node::held`]).
pub const DELIVERED_INPUT: &str = "delivered";
/// Copies of answered questions remembered (see `RouterNode::answered`).
pub const ANSWERED_REMEMBERED: usize = 4_096;
/// Deadlines are checked at least this often.
pub const TICK: Duration = Duration::from_millis(20);

/// A question for the off-site tier, its request body already redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct OffSiteRequest {
    pub tier: usize,
    pub question: Question,
    pub body: Value,
}

/// The router's state: the policy, and the off-site requests decided since
/// the driver last took them.
pub struct RouterNode {
    config: RouterConfig,
    policy: Policy,
    redactor: Redactor,
    off_site: Vec<OffSiteRequest>,
    answered: u64,
    /// The latest time handed in (the metrics' reachability is judged at it).
    now_ms: i64,
    /// Questions being answered, by (origin, id): what the audit journal
    /// needs that the answer does not carry. An entry lives as long as the
    /// policy's pending question (every one ends in a reply, by its
    /// deadline at the latest).
    asked: HashMap<(String, String), Asked>,
    /// Records for the audit journal since the driver last took them.
    audit: Vec<AuditRecord>,
    /// Records the driver could not write (counted for the metrics).
    audit_failures: u64,
    /// Times the pending questions could not be written to disk.
    pending_journal_failures: u64,
    /// Questions that came again while being answered (same origin, id and
    /// text): an MQTT redelivery after `mqtt-source` restarted. Not answered
    /// twice, not refused.
    repeats: u64,
    /// Questions taken since the driver last took these; it sends them on
    /// [`ACCEPTED_OUTPUT`] once the pending file holds them.
    accepted: Vec<Accepted>,
    /// The last [`ANSWERED_REMEMBERED`] questions answered, by (origin, id,
    /// received time): an exact copy arriving later is one its sender sent
    /// again before it saw the acceptance (the router was killed between
    /// keeping the question and accepting it), not a new question. A client
    /// reusing an id asks at another time, so it is answered.
    answered_copies: HashSet<CopyKey>,
    answered_order: VecDeque<CopyKey>,
    /// MQTT answers not yet journaled by mqtt-sink, where its acceptances
    /// come back on [`DELIVERED_INPUT`].
    delivery: Option<HeldUntilAccepted<Answer>>,
}

/// (origin, id, received time) of one question as its sender made it.
type CopyKey = (&'static str, String, i64);

fn copy_key(question: &Question) -> CopyKey {
    (question.origin.as_str(), question.id.clone(), question.received_ts_ms)
}

/// What the journal records about a question besides its answer.
struct Asked {
    text: String,
    /// When its sender received it (part of what makes a copy a copy).
    received_ts_ms: i64,
    /// Each off-site request's messages, as sent.
    sent_off_site: Vec<Value>,
}

impl RouterNode {
    /// A router for `config`; tiers whose liveness input (`alive_<tier>`) is
    /// among `inputs` are reachable only while it speaks.
    pub fn new<'a>(
        config: &RouterConfig,
        inputs: impl IntoIterator<Item = &'a str>,
        now_ms: i64,
    ) -> Result<Self, RedactError> {
        let redactor = Redactor::new(config.http.as_ref().map_or(&[][..], |h| &h.redact))?;
        let mut policy = Policy::new(config);
        let mut delivery = None;
        for input in inputs {
            if input == DELIVERED_INPUT {
                tracing::info!("MQTT answers are held until mqtt-sink has journaled them");
                delivery = Some(HeldUntilAccepted::new("answers", "mqtt-sink"));
            }
            if let Some(tier) = config.tier_of_liveness_input(input) {
                tracing::info!(tier = %policy.tiers()[tier].name, %input, "watching the tier's liveness");
                policy.watch_liveness(tier, now_ms);
            }
        }
        Ok(Self {
            config: config.clone(),
            policy,
            redactor,
            off_site: Vec::new(),
            answered: 0,
            now_ms,
            asked: HashMap::new(),
            audit: Vec::new(),
            audit_failures: 0,
            repeats: 0,
            pending_journal_failures: 0,
            accepted: Vec::new(),
            answered_copies: HashSet::new(),
            answered_order: VecDeque::new(),
            delivery,
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Final answers sent.
    pub fn answered(&self) -> u64 {
        self.answered
    }

    /// The audit records of the answers sent since the last call.
    pub fn take_audit(&mut self) -> Vec<AuditRecord> {
        std::mem::take(&mut self.audit)
    }

    /// The driver could not write `records` audit records.
    pub fn audit_failed(&mut self, records: usize) {
        self.audit_failures += records as u64;
    }

    /// The off-site requests decided since the last call.
    pub fn take_off_site(&mut self) -> Vec<OffSiteRequest> {
        std::mem::take(&mut self.off_site)
    }

    /// The off-site tier's answer (or its failure, as an answer with an error).
    pub fn on_off_site_answer(&mut self, tier: usize, answer: Answer, now_ms: i64) -> Vec<Emit> {
        self.now_ms = now_ms;
        let actions = self.policy.on_answer(tier, answer, now_ms);
        self.perform(actions)
    }

    /// The questions taken since the last call: each is pending (the driver
    /// writes the pending file before sending these) or already answered.
    pub fn take_accepted(&mut self) -> Vec<Accepted> {
        std::mem::take(&mut self.accepted)
    }

    /// The pending journal could not be written (counted for the metrics).
    pub fn pending_journal_failed(&mut self) {
        self.pending_journal_failures += 1;
    }

    /// The questions being answered, for the pending journal.
    pub fn pending_questions(&self) -> Vec<&Question> {
        self.policy.pending_questions().collect()
    }

    /// Questions a previous run of the router left pending: handled as new
    /// ones (their deadlines are their own), so each gets its answer.
    pub fn resume(&mut self, questions: Vec<Question>, now_ms: i64) -> Vec<Emit> {
        self.now_ms = now_ms;
        self.on_questions(questions, now_ms)
    }

    fn on_questions(&mut self, questions: Vec<Question>, now_ms: i64) -> Vec<Emit> {
        let mut emits = Vec::new();
        for question in questions {
            // Taken whatever comes of it: a repeat is being answered, a
            // refusal at once is answered.
            self.accepted.push(Accepted::of(&question));
            let key = (question.origin.as_str().to_owned(), question.id.clone());
            if self.asked.get(&key).is_some_and(|asked| asked.text == question.text) {
                // The answer to the first one reaches the asker.
                tracing::info!(id = %question.id, "question delivered again while being answered; ignored");
                self.repeats += 1;
                continue;
            }
            if self.answered_copies.contains(&copy_key(&question)) {
                tracing::info!(id = %question.id, "a copy of a question already answered; ignored");
                self.repeats += 1;
                continue;
            }
            let text = question.text.clone();
            let copy = copy_key(&question);
            let action = self.policy.on_question(question, now_ms);
            match &action {
                Action::Reply(_) => {
                    self.remember_answered(copy);
                    emits.extend(self.perform_one(action, Some(text)))
                }
                Action::Ask { .. } => {
                    self.asked.insert(key, Asked { text, received_ts_ms: copy.2, sent_off_site: Vec::new() });
                    emits.extend(self.perform_one(action, None));
                }
            }
        }
        emits
    }

    fn remember_answered(&mut self, copy: CopyKey) {
        if self.answered_order.len() >= ANSWERED_REMEMBERED {
            if let Some(oldest) = self.answered_order.pop_front() {
                self.answered_copies.remove(&oldest);
            }
        }
        if self.answered_copies.insert(copy.clone()) {
            self.answered_order.push_back(copy);
        }
    }

    fn perform(&mut self, actions: impl IntoIterator<Item = Action>) -> Vec<Emit> {
        actions.into_iter().flat_map(|action| self.perform_one(action, None)).collect()
    }

    /// Performs `action`; `replied_at_once` is the question's text when the
    /// policy replied to a new question straight away (it was never pending).
    fn perform_one(&mut self, action: Action, replied_at_once: Option<String>) -> Vec<Emit> {
        let mut emits = Vec::new();
        match action {
            Action::Reply(answer) => {
                let key = (answer.origin.as_str().to_owned(), answer.id.clone());
                let (text, sent_off_site) = match replied_at_once {
                    Some(text) => (Some(text), Vec::new()),
                    None => match self.asked.remove(&key) {
                        Some(asked) => {
                            self.remember_answered((answer.origin.as_str(), answer.id.clone(), asked.received_ts_ms));
                            (Some(asked.text), asked.sent_off_site)
                        }
                        None => (None, Vec::new()),
                    },
                };
                self.audit.push(AuditRecord::new(&answer, text, sent_off_site, self.now_ms));
                tracing::info!(
                    id = %answer.id,
                    class = ?answer.class,
                    tiers = answer.route.iter().map(|h| h.tier.as_str()).collect::<Vec<_>>().join(">"),
                    confidence = ?answer.confidence,
                    latency_ms = answer.latency_ms,
                    "answered"
                );
                self.answered += 1;
                if let Some(delivery) = self.delivery.as_mut().filter(|_| answer.origin == Origin::Mqtt) {
                    delivery.hold(&answer.id, answer.clone(), self.now_ms);
                }
                emits.push(Emit::new(ANSWERS_OUTPUT, Answer::to_arrow(std::slice::from_ref(&answer))));
            }
            Action::Ask { tier, question, context } => {
                let spec = &self.policy.tiers()[tier];
                match (spec.kind, &self.config.http) {
                    (TierKind::Slm | TierKind::Docs, _) => {
                        emits.push(Emit::new(spec.output(), Question::to_arrow(std::slice::from_ref(&question))))
                    }
                    (TierKind::Http, Some(http)) => {
                        let body = http_tier::request_body(http, &self.redactor, &question, &context);
                        let key = (question.origin.as_str().to_owned(), question.id.clone());
                        if let Some(asked) = self.asked.get_mut(&key) {
                            asked.sent_off_site.push(body["messages"].clone());
                        }
                        self.off_site.push(OffSiteRequest { tier, question, body });
                    }
                    // The config check refuses an http tier without an endpoint.
                    (TierKind::Http, None) => {}
                }
            }
        }
        emits
    }
}

impl NodeLogic for RouterNode {
    fn on_input(
        &mut self,
        input: &str,
        data: &dyn Array,
        _parameters: &MetadataParameters,
        now_ms: i64,
    ) -> Result<Vec<Emit>, Rejected> {
        self.now_ms = now_ms;
        if input == DELIVERED_INPUT {
            let accepted = Accepted::from_arrow(data).map_err(Rejected::schema)?;
            if let Some(delivery) = &mut self.delivery {
                for accepted in accepted.iter().filter(|a| a.origin == Origin::Mqtt) {
                    delivery.accepted(&accepted.id);
                }
            }
            Ok(Vec::new())
        } else if input.starts_with(READINGS_INPUT) {
            let readings = Reading::from_arrow(data).map_err(Rejected::schema)?;
            // A tag's description names it too ("Reactor jacket temperature"
            // for TT_4711).
            let mut tags: Vec<&str> =
                readings.iter().flat_map(|r| std::iter::once(r.tag.as_str()).chain(r.description.as_deref())).collect();
            tags.dedup();
            self.policy.learn_tags(tags);
            Ok(Vec::new())
        } else if input.starts_with(QUESTIONS_INPUT) {
            let questions = Question::from_arrow(data).map_err(Rejected::schema)?;
            Ok(self.on_questions(questions, now_ms))
        } else if let Some(tier) = self.config.tier_of_liveness_input(input) {
            // Any message shows life, whatever it holds.
            self.policy.on_alive(tier, now_ms);
            Ok(Vec::new())
        } else if let Some(tier) = self.config.tier_of_input(input) {
            let answers = Answer::from_arrow(data).map_err(Rejected::schema)?;
            let mut actions = Vec::new();
            for answer in answers {
                actions.extend(self.policy.on_answer(tier, answer, now_ms));
            }
            Ok(self.perform(actions))
        } else {
            Err(Rejected::unknown_input(input))
        }
    }

    fn on_input_closed(&mut self, input: &str, now_ms: i64) -> Vec<Emit> {
        self.now_ms = now_ms;
        if let Some(tier) = self.config.tier_of_liveness_input(input) {
            self.policy.on_gone(tier, now_ms);
        }
        Vec::new()
    }

    fn on_input_recovered(&mut self, input: &str, now_ms: i64) -> Vec<Emit> {
        self.now_ms = now_ms;
        if let Some(tier) = self.config.tier_of_liveness_input(input) {
            self.policy.on_alive(tier, now_ms);
        }
        Vec::new()
    }

    fn wake_interval(&self) -> Option<Duration> {
        Some(TICK)
    }

    fn on_wake(&mut self, now_ms: i64) -> Vec<Emit> {
        self.now_ms = now_ms;
        let actions = self.policy.on_tick(now_ms);
        let mut emits = self.perform(actions);
        if let Some(delivery) = &mut self.delivery {
            // Not audited again: the journal has them already.
            let again = delivery.due(now_ms).resend;
            if !again.is_empty() {
                emits.push(Emit::new(ANSWERS_OUTPUT, Answer::to_arrow(&again)));
            }
        }
        emits
    }

    fn metrics(&self, snapshot: &mut Snapshot) {
        metrics::fill(snapshot, &self.policy, self.now_ms);
        snapshot
            .counter(
                "shopfloor_router_audit_failures",
                "Answers whose audit record could not be written",
                &[],
                self.audit_failures,
            )
            .counter(
                "shopfloor_router_repeats",
                "Questions delivered again while being answered, or copies of one answered, ignored",
                &[],
                self.repeats,
            )
            .counter(
                "shopfloor_router_pending_journal_failures",
                "Times the questions being answered could not be kept on disk",
                &[],
                self.pending_journal_failures,
            );
        if let Some(delivery) = &self.delivery {
            delivery.report(snapshot, "shopfloor_router_answers");
        }
    }
}

#[cfg(test)]
mod tests {
    use shopfloor_core::env::EnvVars;
    use shopfloor_core::schema::{AnswerError, Origin};

    use super::*;

    fn config(tiers: &str, extra: &[(&str, &str)]) -> RouterConfig {
        let mut vars = vec![("ROUTER_TIERS", tiers)];
        vars.extend_from_slice(extra);
        RouterConfig::from_env(&EnvVars::from_iter(vars)).unwrap()
    }

    fn input(node: &mut RouterNode, input: &str, data: &dyn Array, now_ms: i64) -> Result<Vec<Emit>, Rejected> {
        node.on_input(input, data, &MetadataParameters::default(), now_ms)
    }

    fn question(id: &str, text: &str) -> Question {
        Question::new(id, text, "alice", Origin::Mqtt, 1_000)
    }

    #[test]
    fn a_question_goes_to_its_tier_and_a_confident_answer_comes_back() {
        let mut node = RouterNode::new(&config("small threshold=0.5", &[]), ["questions"], 1_000).unwrap();
        let asked = Question::to_arrow(&[question("q-1", "What is the spindle temperature?")]);
        let emits = input(&mut node, "questions", asked.as_ref(), 1_000).unwrap();
        assert_eq!(emits.iter().map(|e| e.output.as_str()).collect::<Vec<_>>(), ["ask_small"]);
        let sent = Question::from_arrow(emits[0].data.as_ref()).unwrap();
        assert_eq!(sent[0].id, "q-1");

        let mut answer = Answer::to_question(&sent[0], "72.4 °C".into());
        answer.confidence = Some(0.9);
        answer.model = Some("SmolLM2".into());
        let emits = input(&mut node, "answers_small", Answer::to_arrow(&[answer]).as_ref(), 1_400).unwrap();
        assert_eq!(emits.iter().map(|e| e.output.as_str()).collect::<Vec<_>>(), [ANSWERS_OUTPUT]);
        let reply = &Answer::from_arrow(emits[0].data.as_ref()).unwrap()[0];
        assert_eq!((reply.id.as_str(), reply.text.as_str()), ("q-1", "72.4 °C"));
        assert_eq!(reply.route.len(), 1);
        assert_eq!(node.answered(), 1);
    }

    #[test]
    fn a_low_confidence_answer_escalates_off_site_as_a_request_for_the_driver() {
        let config = config(
            "small threshold=0.8\nbig kind=http",
            &[("ROUTER_HTTP_URL", "http://127.0.0.1:9/v1"), ("ROUTER_HTTP_MODEL", "big")],
        );
        let mut node = RouterNode::new(&config, ["questions"], 1_000).unwrap();
        let asked = Question::to_arrow(&[question("q-2", "What is the spindle temperature?")]);
        let sent = input(&mut node, "questions", asked.as_ref(), 1_000).unwrap();
        let question = Question::from_arrow(sent[0].data.as_ref()).unwrap().remove(0);
        let mut weak = Answer::to_question(&question, "maybe 70".into());
        weak.confidence = Some(0.2);
        assert!(input(&mut node, "answers_small", Answer::to_arrow(&[weak]).as_ref(), 1_300).unwrap().is_empty());
        let requests = node.take_off_site();
        assert_eq!(requests.len(), 1);
        assert_eq!((requests[0].tier, requests[0].question.id.as_str()), (1, "q-2"));
        assert!(requests[0].body["messages"].is_array());
        assert!(node.take_off_site().is_empty(), "taken once");

        // The driver's thread failed: the failure is an answer of that tier.
        let mut failed = Answer::to_question(&requests[0].question, "request failed".into());
        failed.error = Some(AnswerError::GenerationFailed);
        let emits = node.on_off_site_answer(1, failed, 1_500);
        assert_eq!(emits.iter().map(|e| e.output.as_str()).collect::<Vec<_>>(), [ANSWERS_OUTPUT]);
        assert_eq!(node.policy().counts.left_site, 1);

        // The audit record says what was sent off the site, as sent.
        let records = node.take_audit();
        assert_eq!(records.len(), 1);
        assert!(records[0].left_site);
        assert_eq!(records[0].question.as_deref(), Some("What is the spindle temperature?"));
        let sent = &records[0].sent_off_site;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0][1]["content"], "What is the spindle temperature?");
        assert_eq!(records[0].route.iter().map(|h| h.outcome.as_str()).collect::<Vec<_>>(), ["escalated", "kept"]);
    }

    #[test]
    fn a_question_delivered_again_while_being_answered_is_asked_and_answered_once() {
        let mut node = RouterNode::new(&config("small threshold=0.5", &[]), ["questions"], 1_000).unwrap();
        let asked = Question::to_arrow(&[question("q-7", "What is the spindle temperature?")]);
        assert_eq!(input(&mut node, "questions", asked.as_ref(), 1_000).unwrap().len(), 1);
        // The broker sends it again (mqtt-source restarted before acknowledging),
        // or mqtt-source does (no acceptance reached it in time).
        assert!(input(&mut node, "questions", asked.as_ref(), 1_200).unwrap().is_empty());
        assert_eq!(node.repeats, 1);
        // Both copies are accepted, so the sender stops sending it.
        let accepted: Vec<String> = node.take_accepted().into_iter().map(|a| a.id).collect();
        assert_eq!(accepted, ["q-7", "q-7"]);
        assert_eq!(node.policy().counts.duplicates, 0, "not refused as a reused id");

        let mut answer = Answer::to_question(&question("q-7", "What is the spindle temperature?"), "72.4 °C".into());
        answer.confidence = Some(0.9);
        let emits = input(&mut node, "answers_small", Answer::to_arrow(&[answer]).as_ref(), 1_400).unwrap();
        assert_eq!(emits.len(), 1);
        assert_eq!(node.answered(), 1);

        // A copy arriving after the answer (sent again before the acceptance
        // reached its sender) is not answered again, but accepted.
        node.take_accepted();
        assert!(input(&mut node, "questions", asked.as_ref(), 3_000).unwrap().is_empty());
        assert_eq!((node.repeats, node.answered()), (2, 1));
        assert_eq!(node.take_accepted().len(), 1);
        // The same id and words asked anew (another time of receipt) are a new question.
        let mut anew = question("q-7", "What is the spindle temperature?");
        anew.received_ts_ms = 3_000;
        let sent = input(&mut node, "questions", Question::to_arrow(&[anew]).as_ref(), 3_000).unwrap();
        assert_eq!(sent.iter().map(|e| e.output.as_str()).collect::<Vec<_>>(), ["ask_small"]);
    }

    #[test]
    fn with_the_sinks_acceptances_wired_an_mqtt_answer_is_sent_again_until_journaled() {
        let mut node = RouterNode::new(&config("small threshold=0.5", &[]), ["questions", DELIVERED_INPUT], 0).unwrap();
        let write = Question::to_arrow(&[question("q-6", "Set the spindle speed to 5000 rpm")]);
        let refused = input(&mut node, "questions", write.as_ref(), 1_000).unwrap();
        assert_eq!(refused[0].output, ANSWERS_OUTPUT);
        assert!(node.on_wake(2_999).is_empty(), "not due yet");
        let again = node.on_wake(3_000);
        assert_eq!(again.len(), 1);
        let resent = Answer::from_arrow(again[0].data.as_ref()).unwrap();
        assert_eq!((again[0].output.as_str(), resent[0].id.as_str()), (ANSWERS_OUTPUT, "q-6"));
        assert_eq!(node.answered(), 1, "sent again, not answered again");
        assert_eq!(node.take_audit().len(), 1, "journaled once");
        let journaled = Accepted::to_arrow(&[Accepted { id: "q-6".into(), origin: Origin::Mqtt }]);
        assert!(input(&mut node, DELIVERED_INPUT, journaled.as_ref(), 3_100).unwrap().is_empty());
        assert!(node.on_wake(60_000).is_empty(), "journaled: never sent again");
        // Garbage on the input is rejected, not fatal.
        let garbage = dora_node_api::arrow_v59::array::Int64Array::from(vec![1]);
        assert!(input(&mut node, DELIVERED_INPUT, &garbage, 60_001).is_err());
    }

    #[test]
    fn without_the_sinks_acceptances_answers_are_sent_once() {
        let mut node = RouterNode::new(&config("small", &[]), ["questions"], 0).unwrap();
        let write = Question::to_arrow(&[question("q-6", "Set the spindle speed to 5000 rpm")]);
        assert_eq!(input(&mut node, "questions", write.as_ref(), 1_000).unwrap().len(), 1);
        assert!(node.on_wake(60_000).is_empty());
    }

    #[test]
    fn a_copy_of_a_question_refused_at_once_is_not_refused_again_and_memory_is_bounded() {
        let mut node = RouterNode::new(&config("small", &[]), ["questions"], 0).unwrap();
        let write = Question::to_arrow(&[question("q-6", "Set the spindle speed to 5000 rpm")]);
        assert_eq!(input(&mut node, "questions", write.as_ref(), 1_000).unwrap().len(), 1);
        assert!(input(&mut node, "questions", write.as_ref(), 1_100).unwrap().is_empty());
        for n in 0..ANSWERED_REMEMBERED + 10 {
            let refused = Question::to_arrow(&[question(&format!("w-{n}"), "Set the spindle speed to 5000 rpm")]);
            input(&mut node, "questions", refused.as_ref(), 2_000).unwrap();
        }
        assert_eq!(node.answered_copies.len(), ANSWERED_REMEMBERED);
        assert_eq!(node.answered_order.len(), ANSWERED_REMEMBERED);
        // The oldest are forgotten first: q-6 is a new question again.
        assert_eq!(input(&mut node, "questions", write.as_ref(), 3_000).unwrap().len(), 1);
    }

    #[test]
    fn a_refusal_at_once_and_a_duplicate_id_are_audited_with_their_own_words() {
        let mut node = RouterNode::new(&config("small", &[]), ["questions"], 0).unwrap();
        let first = Question::to_arrow(&[question("q-5", "What is the spindle temperature?")]);
        input(&mut node, "questions", first.as_ref(), 1_000).unwrap();
        let again = Question::to_arrow(&[question("q-5", "And the spindle speed?")]);
        input(&mut node, "questions", again.as_ref(), 1_010).unwrap();
        let write = Question::to_arrow(&[question("q-6", "Set the spindle speed to 5000 rpm")]);
        input(&mut node, "questions", write.as_ref(), 1_020).unwrap();
        let records = node.take_audit();
        let asked: Vec<(&str, Option<&str>)> = records.iter().map(|r| (r.id.as_str(), r.question.as_deref())).collect();
        assert_eq!(
            asked,
            [("q-5", Some("And the spindle speed?")), ("q-6", Some("Set the spindle speed to 5000 rpm"))]
        );
        assert_eq!(records[1].class.as_deref(), Some("write_request"));

        // The first q-5 is still pending, its text kept for its own record.
        let sent = Question::from_arrow(Question::to_arrow(&[question("q-5", "x")]).as_ref()).unwrap();
        let mut answer = Answer::to_question(&sent[0], "72.4 °C".into());
        answer.confidence = Some(0.9);
        input(&mut node, "answers_small", Answer::to_arrow(&[answer]).as_ref(), 1_400).unwrap();
        let records = node.take_audit();
        assert_eq!(records[0].question.as_deref(), Some("What is the spindle temperature?"));
    }

    #[test]
    fn the_deadline_answers_on_a_wake_without_any_input() {
        let mut node = RouterNode::new(&config("small", &[("ROUTER_DEADLINE_MS", "500")]), ["questions"], 0).unwrap();
        let asked = Question::to_arrow(&[question("q-3", "What is the spindle temperature?")]);
        input(&mut node, "questions", asked.as_ref(), 1_000).unwrap();
        assert!(node.on_wake(1_100).is_empty());
        let emits = node.on_wake(1_600);
        assert_eq!(emits.len(), 1, "the deadline passed: the router answers itself");
        assert_eq!(node.policy().counts.deadline_cut, 1);
    }

    #[test]
    fn malformed_and_unknown_inputs_are_rejected() {
        let mut node = RouterNode::new(&config("small", &[]), ["questions"], 0).unwrap();
        let readings = Reading::to_arrow(&[Reading::good(
            "test",
            "spindle_speed".into(),
            shopfloor_core::schema::ReadingValue::Number(1.0),
            None,
            Some(0),
            0,
        )]);
        assert_eq!(input(&mut node, "questions", readings.as_ref(), 0).unwrap_err().reason, "schema");
        let asked = Question::to_arrow(&[question("q-4", "x")]);
        assert_eq!(input(&mut node, "readings", asked.as_ref(), 0).unwrap_err().reason, "schema");
        assert_eq!(input(&mut node, "answers_small", asked.as_ref(), 0).unwrap_err().reason, "schema");
        assert_eq!(input(&mut node, "frames", asked.as_ref(), 0).unwrap_err().reason, "unknown_input");
    }

    #[test]
    fn a_watched_tier_is_unreachable_after_its_input_closes() {
        let mut node = RouterNode::new(&config("small", &[]), ["questions", "alive_small"], 0).unwrap();
        assert!(node.policy().is_reachable(0, 10));
        node.on_input_closed("alive_small", 20);
        assert!(!node.policy().is_reachable(0, 30));
        node.on_input_recovered("alive_small", 40);
        assert!(node.policy().is_reachable(0, 50));
    }
}
