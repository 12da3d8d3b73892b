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
//! The holding itself is [`shopfloor_node::held`]'s, shared with the router
//! and `limit-alarms`; this adds the question's deadline and the `busy`
//! answer to its asker.
//!
//! The MQTT acknowledgement is not held until acceptance: MQTT acknowledges
//! in order, so one held question would stall every message after it
//! (telemetry too) for as long as the router is away. The cost: a question
//! held here is lost if this node dies too before the router takes it.
//!
//! Plain state, time passed in; the node's state calls it.

use shopfloor_core::schema::{Answer, AnswerError, Question};
use shopfloor_node::held::{HeldCounts, HeldUntilAccepted};

use crate::config::HandoverConfig;

/// What became due at one moment.
#[derive(Debug, Default)]
pub struct Due {
    /// Questions to send again, oldest first.
    pub resend: Vec<Question>,
    /// Questions given up on, as `busy` answers to their askers.
    pub given_up: Vec<Answer>,
}

/// The questions waiting for the router's acceptance.
#[derive(Debug)]
pub struct Handover {
    held: HeldUntilAccepted<Question>,
}

impl Handover {
    pub fn new(config: HandoverConfig) -> Self {
        let ms = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        Self {
            held: HeldUntilAccepted::with_timing("questions", "router", ms(config.resend_ms), ms(config.give_up_ms)),
        }
    }

    pub fn counts(&self) -> HeldCounts {
        self.held.counts()
    }

    /// Questions waiting for acceptance.
    pub fn waiting(&self) -> usize {
        self.held.waiting()
    }

    /// `question` was just sent: hold it until accepted, or until its own
    /// deadline if that comes before the give-up time.
    pub fn hold(&mut self, question: &Question, now_ms: i64) {
        self.held.hold_until(&question.id, question.clone(), now_ms, question.deadline_ms);
    }

    /// The router took the question `id`. Returns whether it was held.
    pub fn accepted(&mut self, id: &str) -> bool {
        self.held.accepted(id)
    }

    /// When the next question is due to be sent again or given up (ms since
    /// the epoch); `None` while none waits.
    pub fn next_due_ms(&self) -> Option<i64> {
        self.held.next_due_ms()
    }

    /// The questions due at `now_ms`: sent again, or given up and answered.
    pub fn due(&mut self, now_ms: i64) -> Due {
        let due = self.held.due(now_ms);
        let given_up = due.given_up.iter().map(|question| busy_answer(question, now_ms)).collect();
        Due { resend: due.resend, given_up }
    }
}

/// The answer to a question the router never took.
fn busy_answer(question: &Question, now_ms: i64) -> Answer {
    let waited_ms = (now_ms - question.received_ts_ms).max(0);
    let waited_s = waited_ms as f64 / 1000.0;
    tracing::error!(id = %question.id, waited_s, "the router never took the question; answering busy");
    let mut answer = Answer::to_question(
        question,
        format!("The assistant could not take the question ({waited_s:.0} s without its router). Please ask again."),
    );
    answer.error = Some(AnswerError::Busy);
    answer.latency_ms = waited_ms;
    answer
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
}
