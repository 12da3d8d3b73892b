//! Messages held by their sender until the receiver says it has taken them.
//!
//! dora drops a message sent to a node that is not running, and its inputs
//! have no acknowledgement. Where a dataflow wires a receiver's `accepted`
//! output (the ids of what it has put on disk) back to the sender, the
//! sender keeps each message in a [`HeldUntilAccepted`] and sends it again
//! every [`RESEND_MS`] until the receiver names it. `mqtt-source` holds its
//! questions for the router, the router its MQTT answers for `mqtt-sink`,
//! `limit-alarms` its alerts. Held in memory: lost only if the sender dies
//! too before the receiver is back.
//!
//! Plain state, time passed in.

use std::collections::HashMap;

use crate::metrics::Snapshot;

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
    /// The give-up time after the first send, or the message's own deadline
    /// if sooner.
    give_up_at: i64,
}

/// What became due at one moment.
#[derive(Debug)]
pub struct Due<T> {
    /// To send again, oldest first.
    pub resend: Vec<T>,
    /// Given up on (logged and counted); the sender may tell someone.
    pub given_up: Vec<T>,
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
    resend_ms: i64,
    give_up_ms: i64,
    /// By id; an id may hold several (a duplicate-id refusal shares the id of
    /// the answer being given), oldest first.
    held: HashMap<String, Vec<Held<T>>>,
    /// Given up to make room ([`MAX_HELD`]); handed back by the next [`due`](Self::due).
    pushed_out: Vec<(i64, String, T)>,
    waiting: usize,
    counts: HeldCounts,
}

impl<T: Clone> HeldUntilAccepted<T> {
    /// Holds `what` (e.g. "answers") until `receiver` (e.g. "mqtt-sink")
    /// accepts them: sent again every [`RESEND_MS`], given up after [`GIVE_UP_MS`].
    pub fn new(what: &'static str, receiver: &'static str) -> Self {
        Self::with_timing(what, receiver, RESEND_MS, GIVE_UP_MS)
    }

    /// Like [`new`](Self::new), with the resend and give-up times (ms).
    pub fn with_timing(what: &'static str, receiver: &'static str, resend_ms: i64, give_up_ms: i64) -> Self {
        Self {
            what,
            receiver,
            resend_ms,
            give_up_ms,
            held: HashMap::new(),
            pushed_out: Vec::new(),
            waiting: 0,
            counts: HeldCounts::default(),
        }
    }

    pub fn counts(&self) -> HeldCounts {
        self.counts
    }

    /// Messages waiting for their acceptance.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Adds `<prefix>_undelivered` (gauge), `<prefix>_resent` and
    /// `<prefix>_given_up` (counters) to `snapshot`, e.g. with prefix
    /// `shopfloor_router_answers`. One shape for every sender, so a panel
    /// watches them all alike.
    pub fn report(&self, snapshot: &mut Snapshot, prefix: &str) {
        let (what, receiver) = (self.what, self.receiver);
        snapshot
            .gauge(
                &format!("{prefix}_undelivered"),
                &format!("{what} sent and not yet journaled by {receiver}"),
                &[],
                self.waiting as f64,
            )
            .counter(
                &format!("{prefix}_resent"),
                &format!("{what} sent again because {receiver} had not journaled them"),
                &[],
                self.counts.resent,
            )
            .counter(
                &format!("{prefix}_given_up"),
                &format!("{what} {receiver} never journaled (10 minutes, or {MAX_HELD} waiting)"),
                &[],
                self.counts.given_up,
            );
    }

    /// `message`, named `id`, was just sent: hold it until accepted.
    pub fn hold(&mut self, id: &str, message: T, now_ms: i64) {
        self.hold_until(id, message, now_ms, None);
    }

    /// Like [`hold`](Self::hold); given up at `deadline_ms` instead when that
    /// comes before the give-up time (a question's own deadline).
    pub fn hold_until(&mut self, id: &str, message: T, now_ms: i64, deadline_ms: Option<i64>) {
        if self.waiting >= MAX_HELD {
            self.give_up_oldest();
        }
        let give_up = now_ms.saturating_add(self.give_up_ms);
        let give_up_at = deadline_ms.map_or(give_up, |deadline| deadline.min(give_up));
        let held = Held { message, sent_ms: now_ms, first_sent_ms: now_ms, give_up_at };
        self.held.entry(id.to_owned()).or_default().push(held);
        self.waiting += 1;
    }

    fn give_up_oldest(&mut self) {
        let oldest =
            self.held.iter().filter_map(|(id, held)| held.first().map(|h| (h.first_sent_ms, id.clone()))).min();
        if let Some((first_sent_ms, id)) = oldest {
            let Some(held) = self.held.get_mut(&id) else { return };
            let message = held.remove(0).message;
            if held.is_empty() {
                self.held.remove(&id);
            }
            self.waiting -= 1;
            self.pushed_out.push((first_sent_ms, id.clone(), message));
            self.counts.given_up += 1;
            tracing::error!(
                %id,
                what = self.what,
                receiver = self.receiver,
                waiting = MAX_HELD,
                "too many wait for their receiver; the oldest is given up"
            );
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

    /// When the next message is due to be sent again or given up (ms since
    /// the epoch).
    pub fn next_due_ms(&self) -> Option<i64> {
        if !self.pushed_out.is_empty() {
            return Some(0);
        }
        self.held.values().flatten().map(|held| held.sent_ms.saturating_add(self.resend_ms).min(held.give_up_at)).min()
    }

    /// The messages to send again at `now_ms`, oldest first, and those given
    /// up instead (held past the give-up time or their deadline).
    pub fn due(&mut self, now_ms: i64) -> Due<T> {
        let mut resend = Vec::new();
        let mut given_up = Vec::new();
        for (id, held) in self.held.iter_mut() {
            let (expired, kept): (Vec<_>, Vec<_>) =
                std::mem::take(held).into_iter().partition(|h| now_ms >= h.give_up_at);
            *held = kept;
            given_up.extend(expired.into_iter().map(|h| (h.first_sent_ms, id.clone(), h.message)));
            for h in held.iter_mut().filter(|h| now_ms >= h.sent_ms.saturating_add(self.resend_ms)) {
                h.sent_ms = now_ms;
                resend.push((h.first_sent_ms, id.clone(), h.message.clone()));
            }
        }
        self.held.retain(|_, held| !held.is_empty());
        if !given_up.is_empty() {
            self.waiting -= given_up.len();
            self.counts.given_up += given_up.len() as u64;
            tracing::error!(
                count = given_up.len(),
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
        given_up.append(&mut self.pushed_out);
        Due { resend: oldest_first(resend), given_up: oldest_first(given_up) }
    }
}

/// The messages in the order they were first sent (ties by id).
fn oldest_first<T>(mut messages: Vec<(i64, String, T)>) -> Vec<T> {
    messages.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    messages.into_iter().map(|(_, _, message)| message).collect()
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
        assert!(held.due(2_999).resend.is_empty());
        assert_eq!(held.due(3_000).resend, ["72.4 °C"]);
        assert_eq!(held.next_due_ms(), Some(5_000));
        assert!(held.accepted("q-1"));
        assert!(!held.accepted("q-1"), "once");
        assert!(held.due(9_000).resend.is_empty());
        assert_eq!((held.waiting(), held.counts().resent), (0, 1));
    }

    #[test]
    fn messages_sharing_an_id_are_accepted_one_by_one_oldest_first() {
        let mut held = held();
        held.hold("q-1", "the answer".into(), 1_000);
        held.hold("q-1", "already being answered".into(), 1_500);
        assert!(held.accepted("q-1"));
        assert_eq!(held.due(4_000).resend, ["already being answered"]);
    }

    #[test]
    fn a_message_is_given_up_at_its_own_deadline_or_the_give_up_time_and_handed_back() {
        let mut held = HeldUntilAccepted::with_timing("questions", "router", 200, 1_000);
        held.hold_until("q-1", "hurried".to_owned(), 0, Some(300));
        held.hold("q-2", "patient".to_owned(), 0);
        assert_eq!(held.next_due_ms(), Some(200));
        assert_eq!(held.due(200).resend, ["hurried", "patient"], "oldest first, then by id");
        assert_eq!(held.next_due_ms(), Some(300), "the deadline comes before the next resend");
        let due = held.due(300);
        assert_eq!((due.resend.len(), due.given_up), (0, vec!["hurried".to_owned()]));
        assert_eq!(held.due(1_000).given_up, ["patient"]);
        assert!(!held.accepted("q-1"), "a late acceptance finds nothing");
        assert_eq!((held.waiting(), held.counts().given_up, held.counts().resent), (0, 2, 2));
    }

    #[test]
    fn a_receiver_gone_for_good_costs_bounded_memory_and_messages_are_given_up_counted() {
        let mut held = held();
        held.hold("old", "x".into(), 0);
        let due = held.due(GIVE_UP_MS);
        assert!(due.resend.is_empty(), "given up, not sent again");
        assert_eq!(due.given_up, ["x"]);
        assert_eq!((held.waiting(), held.counts().given_up), (0, 1));
        for n in 0..MAX_HELD + 3 {
            held.hold(&format!("q-{n}"), "x".into(), 1_000 + n as i64);
        }
        assert_eq!(held.waiting(), MAX_HELD);
        assert_eq!(held.counts().given_up, 4);
        assert_eq!(held.next_due_ms(), Some(0), "those pushed out are handed back at once");
        assert_eq!(held.due(1_000 + MAX_HELD as i64 + 3).given_up.len(), 3, "the three pushed out");
        assert!(!held.accepted("q-0"), "the oldest went first");
        assert!(held.accepted(&format!("q-{}", MAX_HELD + 2)));
    }
}
