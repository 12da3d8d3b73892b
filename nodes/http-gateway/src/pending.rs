//! Requests waiting for their answer, by question id.

use std::collections::HashMap;
use std::sync::Mutex;

use shopfloor_core::schema::Answer;
use tokio::sync::oneshot;

/// Waiting requests.
#[derive(Debug, Default)]
pub struct Pending(Mutex<HashMap<String, oneshot::Sender<Answer>>>);

impl Pending {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Answer>>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a question; its answer arrives on the returned receiver.
    pub fn register(&self, id: &str) -> oneshot::Receiver<Answer> {
        let (tx, rx) = oneshot::channel();
        self.map().insert(id.to_owned(), tx);
        rx
    }

    /// Hands an answer to its request; false when nobody waits for it any
    /// more (timed out, client gone) or it was never asked here.
    pub fn resolve(&self, answer: Answer) -> bool {
        match self.map().remove(&answer.id) {
            Some(tx) => tx.send(answer).is_ok(),
            None => false,
        }
    }

    /// Stops waiting for a question (its request timed out).
    pub fn forget(&self, id: &str) {
        self.map().remove(id);
    }

    /// Stops waiting for every question: their requests end at once with
    /// 503 (the dataflow is stopping) instead of running into their timeout.
    pub fn abandon_all(&self) {
        self.map().clear();
    }

    /// Requests waiting now.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// No request waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopfloor_core::schema::{Origin, Question};

    fn answer(id: &str) -> Answer {
        Answer::to_question(&Question::new(id, "t", "o", Origin::Http, 0), "a".into())
    }

    #[test]
    fn an_answer_reaches_its_request_once_and_a_late_one_is_reported() {
        let pending = Pending::default();
        let mut rx = pending.register("q-1");
        assert!(pending.resolve(answer("q-1")));
        assert_eq!(rx.try_recv().map(|a| a.id).ok().as_deref(), Some("q-1"));
        assert!(!pending.resolve(answer("q-1")), "a second answer has nobody waiting");
        assert!(!pending.resolve(answer("never-asked")));
    }

    #[test]
    fn abandoning_ends_every_wait_at_once() {
        let pending = Pending::default();
        let mut rx = pending.register("q-1");
        pending.abandon_all();
        assert!(pending.is_empty());
        assert!(matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed)));
    }
}
