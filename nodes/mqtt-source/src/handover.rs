//! Questions sent to the router and not yet taken by it.
//!
//! dora drops a message sent to a node that is not running, so a question
//! sent while the router is dead (or restarting) would be lost: the MQTT
//! message was acknowledged once handed to dora, and the broker will not send
//! it again. Where the dataflow wires the router's `accepted` output back to
//! this node, each question is kept here until the router says it took it
//! (it is then in the router's pending file, which a restart reads); one not
//! accepted within `QUESTION_RESEND_MS` is sent again, and one still not
//! accepted after `QUESTION_GIVE_UP_MS` (or past its own deadline) is
//! answered `busy` to its asker, never dropped silently. The router answers a
//! copy that arrives while the first is being answered only once.
//!
//! The MQTT acknowledgement is not held until acceptance: MQTT acknowledges
//! in order, so one held question would stall every message after it
//! (telemetry too) for as long as the router is away. The cost: a question
//! held here is lost if this node dies too before the router takes it.
//!
//! Plain state, time passed in; the node's state calls it.

use std::collections::HashMap;

use shopfloor_core::schema::{Answer, AnswerError, Question};

use crate::config::HandoverConfig;

/// Questions held at once; beyond this a question is sent once and not held
/// (the router has been away long enough for the asker to notice).
pub const MAX_HELD: usize = 1_000;

/// A question sent and not yet accepted.
#[derive(Debug, Clone)]
struct Held {
    question: Question,
    /// When it was last sent.
    sent_ms: i64,
    /// When it was first sent (the give-up clock starts here).
    first_sent_ms: i64,
}

/// What became due at one moment.
#[derive(Debug, Default)]
pub struct Due {
    /// Questions to send again.
    pub resend: Vec<Question>,
    /// Questions given up on: answer each asker `busy`.
    pub given_up: Vec<Answer>,
}

/// What the hand-over counted since the node started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HandoverCounts {
    /// Copies sent again for want of an acceptance.
    pub resent: u64,
    /// Questions answered `busy` because the router never took them.
    pub given_up: u64,
    /// Questions not held because [`MAX_HELD`] were already waiting.
    pub not_held: u64,
}

/// The questions waiting for the router's acceptance.
#[derive(Debug)]
pub struct Handover {
    resend_ms: i64,
    give_up_ms: i64,
    held: HashMap<String, Held>,
    counts: HandoverCounts,
}

impl Handover {
    pub fn new(config: HandoverConfig) -> Self {
        Self {
            resend_ms: i64::try_from(config.resend_ms).unwrap_or(i64::MAX),
            give_up_ms: i64::try_from(config.give_up_ms).unwrap_or(i64::MAX),
            held: HashMap::new(),
            counts: HandoverCounts::default(),
        }
    }

    pub fn counts(&self) -> HandoverCounts {
        self.counts
    }

    /// Questions waiting for acceptance.
    pub fn waiting(&self) -> usize {
        self.held.len()
    }

    /// `question` was just sent: hold it until accepted. A second question
    /// with the id of one held is not held (the router refuses or ignores it
    /// by id anyway).
    pub fn hold(&mut self, question: &Question, now_ms: i64) {
        if self.held.contains_key(&question.id) {
            return;
        }
        if self.held.len() >= MAX_HELD {
            self.counts.not_held += 1;
            tracing::warn!(id = %question.id, waiting = self.held.len(), "too many questions wait for the router; this one is not held");
            return;
        }
        let held = Held { question: question.clone(), sent_ms: now_ms, first_sent_ms: now_ms };
        self.held.insert(question.id.clone(), held);
    }

    /// The router took the question `id`. Returns whether it was held.
    pub fn accepted(&mut self, id: &str) -> bool {
        self.held.remove(id).is_some()
    }

    /// When the next question is due to be sent again or given up (ms since
    /// the epoch); `None` while none waits.
    pub fn next_due_ms(&self) -> Option<i64> {
        self.held.values().map(|held| self.due_at(held)).min()
    }

    fn due_at(&self, held: &Held) -> i64 {
        let resend = held.sent_ms.saturating_add(self.resend_ms);
        resend.min(self.give_up_at(held))
    }

    fn give_up_at(&self, held: &Held) -> i64 {
        let give_up = held.first_sent_ms.saturating_add(self.give_up_ms);
        held.question.deadline_ms.map_or(give_up, |deadline| deadline.min(give_up))
    }

    /// The questions due at `now_ms`: sent again, or given up and answered.
    pub fn due(&mut self, now_ms: i64) -> Due {
        let mut due = Due::default();
        let mut given_up = Vec::new();
        for (id, held) in &self.held {
            if now_ms >= self.give_up_at(held) {
                given_up.push(id.clone());
            } else if now_ms >= held.sent_ms.saturating_add(self.resend_ms) {
                due.resend.push(held.question.clone());
            }
        }
        for question in &due.resend {
            if let Some(held) = self.held.get_mut(&question.id) {
                held.sent_ms = now_ms;
            }
            self.counts.resent += 1;
            tracing::warn!(id = %question.id, "the router has not taken the question yet (is it running?); sending it again");
        }
        for id in given_up {
            let Some(held) = self.held.remove(&id) else { continue };
            self.counts.given_up += 1;
            let waited_s = (now_ms - held.first_sent_ms) as f64 / 1000.0;
            tracing::error!(%id, waited_s, "the router never took the question; answering busy");
            let mut answer = Answer::to_question(
                &held.question,
                format!(
                    "The assistant could not take the question ({waited_s:.0} s without its router). Please ask again."
                ),
            );
            answer.error = Some(AnswerError::Busy);
            answer.latency_ms = (now_ms - held.question.received_ts_ms).max(0);
            due.given_up.push(answer);
        }
        // Oldest first, so a recovering router sees them in the order asked.
        due.resend.sort_by_key(|q| (q.received_ts_ms, q.id.clone()));
        due
    }
}

#[cfg(test)]
mod tests {
    use shopfloor_core::schema::Origin;

    use super::*;

    fn handover() -> Handover {
        Handover::new(HandoverConfig { resend_ms: 2_000, give_up_ms: 10_000 })
    }

    fn question(id: &str, at: i64) -> Question {
        let mut question = Question::new(id, "What is the spindle temperature?", "alice", Origin::Mqtt, at);
        question.reply_to = Some("plant1/answers/alice".into());
        question
    }

    #[test]
    fn an_accepted_question_is_forgotten_and_never_sent_again() {
        let mut handover = handover();
        handover.hold(&question("q-1", 1_000), 1_000);
        assert_eq!(handover.next_due_ms(), Some(3_000));
        assert!(handover.accepted("q-1"));
        assert!(!handover.accepted("q-1"), "once");
        assert_eq!(handover.next_due_ms(), None);
        let due = handover.due(60_000);
        assert!(due.resend.is_empty() && due.given_up.is_empty());
    }

    #[test]
    fn a_question_not_accepted_is_sent_again_every_resend_interval_until_accepted() {
        let mut handover = handover();
        handover.hold(&question("q-1", 1_000), 1_000);
        handover.hold(&question("q-2", 1_500), 1_500);
        assert!(handover.due(2_999).resend.is_empty(), "not due yet");
        let ids = |due: Due| due.resend.into_iter().map(|q| q.id).collect::<Vec<_>>();
        assert_eq!(ids(handover.due(3_000)), ["q-1"]);
        assert_eq!(ids(handover.due(3_500)), ["q-2"]);
        assert_eq!(handover.next_due_ms(), Some(5_000), "the resend clock starts again");
        assert_eq!(ids(handover.due(5_600)), ["q-1", "q-2"], "oldest first");
        assert!(handover.accepted("q-2"));
        assert_eq!(ids(handover.due(7_600)), ["q-1"]);
        assert_eq!(handover.counts().resent, 5);
    }

    #[test]
    fn a_question_never_accepted_is_answered_busy_to_its_asker_at_the_give_up_time_or_its_deadline() {
        let mut handover = handover();
        handover.hold(&question("q-1", 1_000), 1_000);
        let mut hurried = question("q-2", 1_000);
        hurried.deadline_ms = Some(4_000);
        handover.hold(&hurried, 1_000);
        assert_eq!(handover.due(3_000).resend.len(), 2);
        let due = handover.due(4_000);
        assert!(due.resend.is_empty());
        assert_eq!(due.given_up.len(), 1);
        let answer = &due.given_up[0];
        assert_eq!((answer.id.as_str(), answer.error), ("q-2", Some(AnswerError::Busy)));
        assert_eq!(answer.reply_to.as_deref(), Some("plant1/answers/alice"), "it goes to the asker");
        assert!(answer.text.contains("ask again"), "{}", answer.text);
        let due = handover.due(11_000);
        assert_eq!(due.given_up.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["q-1"]);
        assert_eq!(handover.waiting(), 0);
        assert!(!handover.accepted("q-1"), "a late acceptance finds nothing");
        assert_eq!(handover.counts().given_up, 2);
    }

    #[test]
    fn holding_is_bounded_and_a_repeated_id_is_held_once() {
        let mut handover = handover();
        for n in 0..MAX_HELD + 5 {
            handover.hold(&question(&format!("q-{n}"), 1_000), 1_000);
        }
        handover.hold(&question("q-0", 1_200), 1_200);
        assert_eq!(handover.waiting(), MAX_HELD);
        assert_eq!(handover.counts().not_held, 5);
    }
}
