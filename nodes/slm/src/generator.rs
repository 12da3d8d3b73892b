//! What answering needs of the model and of the plant state, so that the
//! same pipeline runs on an engine it owns (the evaluation tools: one
//! question at a time) and in the node, where several answers are written
//! at once: each by its own worker, whose completions are decoded together
//! by the thread that owns the engine ([`crate::driver`]).

use std::ops::Deref;
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use crate::engine::{ChatTurn, Engine, EngineError, GenerateOptions, Generation};
use crate::plant_state::PlantState;

/// A model that writes completions.
pub trait Generate {
    /// `turns` rendered with the model's chat template, ready for its reply.
    fn chat_prompt(&mut self, turns: &[ChatTurn<'_>]) -> Result<String, EngineError>;
    /// A completion of `prompt` under `options`.
    fn generate_with(&mut self, prompt: &str, options: GenerateOptions<'_>) -> Result<Generation, EngineError>;
    /// A completion of `turns` rendered with the chat template, the reply
    /// starting with `continuation`. One call, so that a worker of the
    /// node waits for the engine thread once, not twice.
    fn chat_completion(
        &mut self,
        turns: &[ChatTurn<'_>],
        continuation: &str,
        options: GenerateOptions<'_>,
    ) -> Result<Generation, EngineError> {
        let prompt = self.chat_prompt(turns)? + continuation;
        self.generate_with(&prompt, options)
    }
    /// The model's name, for answers.
    fn model_name(&self) -> String;
}

impl Generate for Engine {
    fn chat_prompt(&mut self, turns: &[ChatTurn<'_>]) -> Result<String, EngineError> {
        Engine::chat_prompt(self, turns)
    }

    fn generate_with(&mut self, prompt: &str, options: GenerateOptions<'_>) -> Result<Generation, EngineError> {
        Engine::generate_with(self, prompt, options)
    }

    fn model_name(&self) -> String {
        self.model_name.clone()
    }
}

/// The plant state, read in short sections: never held while the model
/// writes, so that readings keep arriving while answers are generated.
pub trait PlantView {
    type Guard<'a>: Deref<Target = PlantState>
    where
        Self: 'a;
    fn view(&self) -> Self::Guard<'_>;
}

impl PlantView for PlantState {
    type Guard<'a> = &'a PlantState;
    fn view(&self) -> &PlantState {
        self
    }
}

impl PlantView for RwLock<PlantState> {
    type Guard<'a> = RwLockReadGuard<'a, PlantState>;
    fn view(&self) -> RwLockReadGuard<'_, PlantState> {
        // A reader that panicked changed nothing.
        self.read().unwrap_or_else(PoisonError::into_inner)
    }
}
