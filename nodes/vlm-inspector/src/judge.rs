//! Stage 2 proper: a judge looks at one image and gives a verdict. The
//! vision-language model is one judge; tests of the queueing around it use
//! others.

use std::path::Path;
use std::time::Instant;

use slm_engine::profile::HardwareProfile;
use slm_engine::{EngineError, GenerateOptions, VisionEngine, VisionImage};

use crate::prompt;
use crate::verdict::{self, Verdict, VerdictError};

/// What came of asking the judge.
#[derive(Debug)]
pub enum Judgement {
    /// The model answered with a verdict.
    Judged {
        verdict: Verdict,
        /// Geometric mean probability of the answer's content tokens.
        confidence: f32,
        model: String,
        /// How long it took.
        latency_ms: u64,
    },
    NotJudged(NotJudged),
}

/// Why a flagged frame has no verdict; alerts say it as `not_judged: <why>`.
#[derive(Debug, thiserror::Error)]
pub enum NotJudged {
    /// The model's queue was full.
    #[error("busy")]
    Busy,
    #[error("no model configured")]
    NoModel,
    #[error("model error: {0}")]
    Model(#[source] EngineError),
    #[error("invalid answer: {0}")]
    InvalidAnswer(#[source] VerdictError),
}

/// Something that judges images.
pub trait Judge: Send {
    /// Judges `image` (raw RGB) given the filter's `instruction`.
    fn judge(&mut self, image: VisionImage<'_>, instruction: &str) -> Judgement;
}

/// The vision-language model as a judge.
pub struct VlmJudge {
    engine: VisionEngine,
    grammar: String,
    system: String,
    max_tokens: u32,
}

impl VlmJudge {
    /// Loads the model pair (checked, within `profile`'s budget).
    pub fn load(model: &Path, mmproj: &Path, profile: &HardwareProfile, max_tokens: u32) -> Result<Self, EngineError> {
        let engine = VisionEngine::load(model, mmproj, profile)?;
        Ok(Self { engine, grammar: verdict::grammar(), system: prompt::system_prompt(), max_tokens })
    }

    /// The language model's name.
    pub fn model_name(&self) -> &str {
        self.engine.model_name()
    }
}

impl Judge for VlmJudge {
    fn judge(&mut self, image: VisionImage<'_>, instruction: &str) -> Judgement {
        let started = Instant::now();
        let prompt = match self.engine.chat_prompt(&self.system, instruction) {
            Ok(prompt) => prompt,
            Err(error) => return Judgement::NotJudged(NotJudged::Model(error)),
        };
        let options =
            GenerateOptions { max_tokens: self.max_tokens, stop_at_line_break: false, grammar: Some(&self.grammar) };
        match self.engine.generate(&prompt, image, options) {
            Ok(generation) => match Verdict::parse(&generation.text) {
                Ok(verdict) => Judgement::Judged {
                    verdict,
                    confidence: generation.confidence,
                    model: self.engine.model_name().to_owned(),
                    latency_ms: started.elapsed().as_millis() as u64,
                },
                Err(error) => Judgement::NotJudged(NotJudged::InvalidAnswer(error)),
            },
            Err(error) => Judgement::NotJudged(NotJudged::Model(error)),
        }
    }
}
