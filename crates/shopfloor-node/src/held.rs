//! Messages held by their sender until the receiver says it has taken them.
//!
//! dora drops a message sent to a node that is not running, and its inputs
//! have no acknowledgement. Where a dataflow wires a receiver's `accepted`
//! output (the ids of what it has put on disk) back to the sender, the
//! sender keeps each message in a [`HeldUntilAccepted`] and sends it again
//! every [`RESEND_MS`] until the receiver names it. The router holds its MQTT
//! answers for `mqtt-sink`, `limit-alarms` its alerts. Held in memory: lost
//! only if the sender dies too before the receiver is back.
//!
//! Plain state, time passed in.

use std::collections::HashMap;

/// A message not accepted this long after it was sent is sent again.
pub const RESEND_MS: i64 = 2_000;
/// A message not accepted this long after it was first sent is given up
/// (logged and counted): the receiver is gone for good.
pub const GIVE_UP_MS: i64 = 600_000;
/// Messages held at once; beyond this the oldest is given up.
pub const MAX_HELD: usize = 4_096;

#[derive(Debug, Clone)]
struct Held<T> {
    message: T,
    sent_ms: i64,
    first_sent_ms: i64,
}

/// What a [`HeldUntilAccepted`] counted since the node started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HeldCounts {
    /// Messages sent again for want of an acceptance.
    pub resent: u64,
    /// Messages given up on (never accepted, or pushed out by newer ones).
    pub given_up: u64,
}

/// The messages of one kind waiting for their receiver's acceptance.
#[derive(Debug)]
pub struct HeldUntilAccepted<T> {
    /// What is held and by whom it must be accepted, for the logs
    /// ("answers", "mqtt-sink").
    what: &'static str,
    receiver: &'static str,
    /// By id; an id may hold several (a duplicate-id refusal shares the id of
    /// the answer being given), oldest first.
    held: HashMap<String, Vec<Held<T>>>,
    waiting: usize,
    counts: HeldCounts,
}

impl<T: Clone> HeldUntilAccepted<T> {
    /// Holds `what` (e.g. "answers") until `receiver` (e.g. "mqtt-sink") accepts them.
    pub fn new(what: &'static str, receiver: &'static str) -> Self {
        Self { what, receiver, held: HashMap::new(), waiting: 0, counts: HeldCounts::default() }
    }

    pub fn counts(&self) -> HeldCounts {
        self.counts
    }

    /// Messages waiting for their acceptance.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// `message`, named `id`, was just sent: hold it until accepted.
    pub fn hold(&mut self, id: &str, message: T, now_ms: i64) {
        if self.waiting >= MAX_HELD {
            self.give_up_oldest();
        }
        let held = Held { message, sent_ms: now_ms, first_sent_ms: now_ms };
        self.held.entry(id.to_owned()).or_default().push(held);
        self.waiting += 1;
    }

    fn give_up_oldest(&mut self) {
        let oldest =
            self.held.iter().filter_map(|(id, held)| held.first().map(|h| (h.first_sent_ms, id.clone()))).min();
        if let Some((_, id)) = oldest {
            self.accepted(&id);
            self.counts.given_up += 1;
            tracing::error!(%id, what = self.what, receiver = self.receiver, waiting = MAX_HELD, "too many wait for their receiver; the oldest is given up");
        }
    }

    /// The receiver took the message `id` (the oldest held under it).
    /// Returns whether one was held.
    pub fn accepted(&mut self, id: &str) -> bool {
        let Some(held) = self.held.get_mut(id) else { return false };
        held.remove(0);
        if held.is_empty() {
            self.held.remove(id);
        }
        self.waiting -= 1;
        true
    }

    /// When the next message is due to be sent again (ms since the epoch).
    pub fn next_due_ms(&self) -> Option<i64> {
        self.held.values().flatten().map(|held| held.sent_ms.saturating_add(RESEND_MS)).min()
    }

    /// The messages to send again at `now_ms`, oldest first; those held past
    /// [`GIVE_UP_MS`] are given up instead.
    pub fn due(&mut self, now_ms: i64) -> Vec<T> {
        let mut resend = Vec::new();
        let mut given_up = 0;
        for (id, held) in self.held.iter_mut() {
            let before = held.len();
            held.retain(|h| now_ms < h.first_sent_ms.saturating_add(GIVE_UP_MS));
            given_up += before - held.len();
            for h in held.iter_mut().filter(|h| now_ms >= h.sent_ms.saturating_add(RESEND_MS)) {
                h.sent_ms = now_ms;
                resend.push((h.first_sent_ms, id.clone(), h.message.clone()));
            }
        }
        self.held.retain(|_, held| !held.is_empty());
        if given_up > 0 {
            self.waiting -= given_up;
            self.counts.given_up += given_up as u64;
            tracing::error!(
                count = given_up,
                what = self.what,
                receiver = self.receiver,
                "never accepted by their receiver; given up"
            );
        }
        if !resend.is_empty() {
            self.counts.resent += resend.len() as u64;
            tracing::warn!(
                count = resend.len(),
                what = self.what,
                receiver = self.receiver,
                "not accepted yet (is the receiver running?); sending them again"
            );
        }
        resend.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        resend.into_iter().map(|(_, _, message)| message).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held() -> HeldUntilAccepted<String> {
        HeldUntilAccepted::new("answers", "mqtt-sink")
    }

    #[test]
    fn a_message_is_sent_again_until_it_is_accepted() {
        let mut held = held();
        held.hold("q-1", "72.4 °C".into(), 1_000);
        assert_eq!(held.next_due_ms(), Some(3_000));
        assert!(held.due(2_999).is_empty());
        assert_eq!(held.due(3_000), ["72.4 °C"]);
        assert_eq!(held.next_due_ms(), Some(5_000));
        assert!(held.accepted("q-1"));
        assert!(!held.accepted("q-1"), "once");
        assert!(held.due(9_000).is_empty());
        assert_eq!((held.waiting(), held.counts().resent), (0, 1));
    }

    #[test]
    fn messages_sharing_an_id_are_accepted_one_by_one_oldest_first() {
        let mut held = held();
        held.hold("q-1", "the answer".into(), 1_000);
        held.hold("q-1", "already being answered".into(), 1_500);
        assert!(held.accepted("q-1"));
        assert_eq!(held.due(4_000), ["already being answered"]);
    }

    #[test]
    fn a_receiver_gone_for_good_costs_bounded_memory_and_messages_are_given_up_counted() {
        let mut held = held();
        held.hold("old", "x".into(), 0);
        assert!(held.due(GIVE_UP_MS).is_empty(), "given up, not sent again");
        assert_eq!((held.waiting(), held.counts().given_up), (0, 1));
        for n in 0..MAX_HELD + 3 {
            held.hold(&format!("q-{n}"), "x".into(), 1_000 + n as i64);
        }
        assert_eq!(held.waiting(), MAX_HELD);
        assert_eq!(held.counts().given_up, 4);
        assert!(!held.accepted("q-0"), "the oldest went first");
        assert!(held.accepted(&format!("q-{}", MAX_HELD + 2)));
    }
}
