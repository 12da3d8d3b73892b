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

    /// Requests waiting now.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// No request waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
