//! llama.cpp behind a small API: load a GGUF model once, then generate greedy
//! completions that reuse the KV cache of the previous prompt's common prefix.
//!
//! Greedy decoding is done here (argmax over the logits) rather than with a
//! llama.cpp sampler chain: it is deterministic, and the softmax it needs
//! anyway gives each chosen token's probability, from which the answer's
//! confidence is computed ([`sampling`]).
//!
//! The same loop serves the vision node: [`VisionEngine`] adds an image
//! projector (llama.cpp's mtmd library), checked against the model first
//! ([`mmproj`]).
//!
//! # Layout
//! - [`profile`]: hardware profiles (`hw-profiles/*.toml`): threads,
//!   context, memory budget, the model of each tier, evaluation records,
//!   LoRA adapters, power-state variants.
//! - [`memory`], [`model_file`]: the memory plan and the model-file check
//!   that run before llama.cpp opens anything.
//! - [`profile_check`]: a dry run of loading a profile's models.
//! - [`quantize`]: variants by llama.cpp's own quantizer.
//! - [`sampling`]: greedy and grammar-constrained choice with confidence.
//! - [`mmproj`]: the model/projector pair check of the vision path.

pub mod bandwidth;
mod lora;
pub mod memory;
pub mod mmproj;
pub mod model_file;
pub mod profile;
pub mod profile_check;
pub mod quantize;
mod reference;
pub mod sampling;
mod sequences;
mod vision;

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::profile::{available_memory_bytes, FlashAttention, HardwareProfile, KvCacheType, MemoryPlan};
use llama_cpp_2::context::kv_cache::KvCacheConversionError;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::{BatchAddError, LlamaBatch};
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::mtmd::{
    MtmdBitmapError, MtmdContext, MtmdEvalError, MtmdInitError, MtmdInputChunks, MtmdTokenizeError,
};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::{
    ApplyChatTemplateError, ChatTemplateError, DecodeError, GrammarError, LlamaContextLoadError, LlamaCppError,
    LlamaLoraAdapterInitError, LlamaLoraAdapterRemoveError, LlamaLoraAdapterSetError, LlamaModelLoadError,
    NewLlamaChatMessageError,
};

use self::lora::Adapters;
pub use self::model_file::ModelFileError;
use self::sampling::{constrained_greedy, greedy, ConfidenceMeter, GrammarPath};
use self::sequences::Sequences;
pub use self::sequences::Ticket;
pub use self::vision::{VisionEngine, VisionImage};

/// llama.cpp's process-wide backend, initialised on first use and kept for
/// the life of the process (llama-cpp-2 allows one at a time, and a node may
/// hold two models while it swaps variants).
pub fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, Arc<LlamaCppError>>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            LlamaBackend::init()
                .map(|mut backend| {
                    backend.void_logs();
                    backend
                })
                .map_err(Arc::new)
        })
        .as_ref()
        .map_err(|source| EngineError::Backend(Arc::clone(source)))
}

/// Why the engine could not load or generate.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot initialise llama.cpp")]
    Backend(#[source] Arc<LlamaCppError>),
    /// The model file is missing, not GGUF, or truncated.
    #[error(transparent)]
    ModelFile(#[from] ModelFileError),
    /// The model, KV cache and buffers would not fit the profile's budget or
    /// the machine's free memory.
    #[error(
        "not loading {path}: it does not fit profile `{profile}` (memory.budget_mb) or the free memory: {arithmetic}"
    )]
    OverBudget {
        path: String,
        profile: String,
        /// The sum, part by part.
        arithmetic: String,
    },
    /// llama.cpp's grammar parser refused the grammar.
    #[error("grammar: llama.cpp refused it")]
    Grammar(#[source] GrammarError),
    /// The grammar allowed no token at some point of the output.
    #[error("grammar: no token is allowed")]
    GrammarDeadEnd,
    #[error("cannot load model {}", .path.display())]
    Load {
        path: PathBuf,
        #[source]
        source: LlamaModelLoadError,
    },
    #[error("cannot give model {} a context", .path.display())]
    Context {
        path: PathBuf,
        #[source]
        source: LlamaContextLoadError,
    },
    /// An earlier failure left the engine without its model (only possible
    /// if building a context failed and the model was lost with it).
    #[error("the engine of {} has no model any more", .path.display())]
    NoModel { path: PathBuf },
    /// The model file has no chat template and llama.cpp has no built-in one
    /// for its architecture.
    #[error("cannot build the prompt: no built-in chat template for architecture {architecture:?}")]
    NoChatTemplate {
        architecture: String,
        #[source]
        source: ChatTemplateError,
    },
    #[error("cannot build the prompt: the built-in chat template's name")]
    TemplateName(#[source] std::ffi::NulError),
    #[error("cannot build the prompt: a chat turn")]
    ChatTurn(#[source] NewLlamaChatMessageError),
    #[error("cannot build the prompt: applying the chat template")]
    ApplyTemplate(#[source] ApplyChatTemplateError),
    /// The prompt and answer would not fit the context window.
    #[error("prompt of {prompt_tokens} tokens plus {max_tokens} answer tokens exceeds the context of {n_ctx}")]
    PromptTooLong { prompt_tokens: usize, max_tokens: u32, n_ctx: u32 },
    #[error("decoding failed")]
    Decode(#[from] DecodeError),
    #[error("decoding failed: a token does not fit the batch")]
    Batch(#[from] BatchAddError),
    #[error("decoding failed: the KV cache could not be trimmed")]
    KvCache(#[from] KvCacheConversionError),
    #[error("decoding failed: mtmd could not evaluate the text and image")]
    MediaDecode(#[source] MtmdEvalError),
    /// Every sequence of [`Engine::start`] is in use.
    #[error("all {parallel} sequences are in use")]
    NoFreeSequence { parallel: usize },
    /// The cache was cleared or the context rebuilt while the sequence ran.
    #[error("the sequence was lost: its KV cache was cleared while it ran")]
    SequenceLost,
    /// A node's worker asked for a completion after the thread that owns
    /// the engine had stopped.
    #[error("the model thread has stopped")]
    EngineStopped,
    /// Changing the weights (a LoRA adapter) would change them under
    /// sequences that are still generating.
    #[error("{running} sequences are still generating")]
    SequencesRunning { running: usize },
    #[error("LoRA adapter {name}: {} does not exist", .path.display())]
    LoraMissing { name: String, path: PathBuf },
    /// llama.cpp checks the adapter's architecture and every tensor's shape
    /// against the model.
    #[error("LoRA adapter {name}: cannot load {} for this model", .path.display())]
    LoraLoad {
        name: String,
        path: PathBuf,
        #[source]
        source: LlamaLoraAdapterInitError,
    },
    #[error("LoRA adapter {name}: {} has SHA-256 {actual}, the profile expects {expected}", .path.display())]
    LoraChecksum { name: String, path: PathBuf, expected: String, actual: String },
    #[error("LoRA adapter {name}: cannot read {}", .path.display())]
    LoraRead {
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("LoRA adapter {name}: no adapter of that name is loaded")]
    LoraUnknown { name: String },
    #[error("LoRA adapter {name}: llama.cpp would not switch it on")]
    LoraSet {
        name: String,
        #[source]
        source: LlamaLoraAdapterSetError,
    },
    #[error("LoRA adapters: llama.cpp would not switch them off")]
    LoraOff(#[source] LlamaLoraAdapterRemoveError),
    /// The image projector does not suit the language model.
    #[error(transparent)]
    ProjectorPair(#[from] mmproj::PairError),
    #[error("cannot read the projector {}", .path.display())]
    ProjectorFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Most often the projector was made for another model: its output width
    /// must equal the language model's embedding width.
    #[error(
        "llama.cpp's multimodal library refused the projector {}; most often it was made for another model: \
         its output width must equal the language model's embedding width ({n_embd})",
        .path.display()
    )]
    ProjectorInit {
        path: PathBuf,
        n_embd: i32,
        #[source]
        source: MtmdInitError,
    },
    #[error("the projector {} has no vision encoder", .path.display())]
    NoVisionEncoder { path: PathBuf },
    #[error("image: {width}x{height} needs {expected} RGB bytes, got {got}")]
    ImageSize { width: u32, height: u32, expected: usize, got: usize },
    #[error("image: mtmd refused the bitmap")]
    Bitmap(#[source] MtmdBitmapError),
    #[error("image: mtmd could not tokenize the prompt with the image")]
    ImageTokenize(#[source] MtmdTokenizeError),
}

/// A finished completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Generated text, trimmed.
    pub text: String,
    /// Geometric mean probability of the content tokens (0..1), see
    /// [`sampling::ConfidenceMeter`].
    pub confidence: f32,
    /// Number of generated tokens.
    pub tokens: usize,
    /// Prompt tokens that had to be evaluated (the rest came from the cache).
    pub prompt_tokens_evaluated: usize,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// From the call to the first generated token, in ms.
    pub ttft_ms: f64,
    /// Whole call, in ms.
    pub total_ms: f64,
    /// Constrained tokens whose top candidate the grammar rejected (found
    /// in the shortlist or, rarely, by filtering the whole vocabulary).
    pub grammar_fallbacks: usize,
    /// Of those, the ones that needed the whole vocabulary filtered.
    pub grammar_full_filters: usize,
}

/// How a completion is produced.
#[derive(Debug, Clone, Copy)]
pub struct GenerateOptions<'a> {
    /// Most generated tokens.
    pub max_tokens: u32,
    /// Stop at the first line break after some text.
    pub stop_at_line_break: bool,
    /// A GBNF grammar (root rule `root`) the output must follow.
    pub grammar: Option<&'a str>,
}

/// Logs the text a completion starts from, at trace level under the target
/// `slm_engine::prompt` (off unless `RUST_LOG` names it): what to look at
/// when an answer is odd, and what `shopfloor-bench serving` feeds
/// llama-server. JSON-quoted so that a prompt stays on one log line. It
/// holds plant values: the log stays on the gateway like the audit journal.
fn trace_prompt(prompt: &str, options: &GenerateOptions<'_>) {
    tracing::trace!(
        target: "slm_engine::prompt",
        prompt = %serde_json::Value::from(prompt),
        max_tokens = options.max_tokens,
        stop_at_line_break = options.stop_at_line_break,
        grammar = options.grammar.is_some(),
        "completion"
    );
}

impl GenerateOptions<'_> {
    /// One line of free text.
    pub fn line(max_tokens: u32) -> Self {
        Self { max_tokens, stop_at_line_break: true, grammar: None }
    }
}

/// llama.cpp's internal timings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LlamaTimings {
    /// Time in prompt evaluation (ms).
    pub prompt_ms: f64,
    pub prompt_tokens: u64,
    /// Time in single-token generation steps (ms).
    pub eval_ms: f64,
    pub eval_tokens: u64,
}

/// A chat turn.
pub struct ChatTurn<'a> {
    /// `system`, `user` or `assistant`.
    pub role: &'a str,
    /// Text of the turn.
    pub content: &'a str,
}

/// Model weights loaded and checked against the budget, not yet given a
/// context: what a background thread hands over when a node swaps variants.
pub struct LoadedModel {
    model: LlamaModel,
    path: PathBuf,
    name: String,
}

impl LoadedModel {
    /// Checks `model_path` (file, header, memory plan) and loads its weights
    /// with `profile`'s GPU layers and weight layout.
    ///
    /// The weights are checked against the budget before they load, and the
    /// KV cache and compute buffer too when the header has the model's shape.
    pub fn load(model_path: &Path, profile: &HardwareProfile) -> Result<Self, EngineError> {
        Self::load_with(model_path, profile, 0)
    }

    /// Like [`load`](Self::load), with `extra_bytes` of other weights that
    /// load beside the model (an image projector) counted in the budget.
    pub fn load_with(model_path: &Path, profile: &HardwareProfile, extra_bytes: u64) -> Result<Self, EngineError> {
        let path = model_path.display().to_string();
        let file = model_file::check(model_path)?;
        let engine = &profile.engine;
        let plan_for = |shape: Option<&model_file::ModelShape>| {
            profile.memory_plan(
                file.bytes + extra_bytes,
                shape.map_or(0, |s| memory::kv_cache_bytes(s, engine)),
                shape.map_or(0, |s| memory::compute_bytes_estimate(s, engine)),
                available_memory_bytes(),
            )
        };
        // The whole plan before any weight is read; a header without the
        // usual shape keys gets the weights checked now, the rest after loading.
        check_budget(&path, profile, plan_for(file.shape.as_ref()))?;

        let params = LlamaModelParams::default().with_n_gpu_layers(engine.gpu_layers);
        let mut params = std::pin::pin!(params);
        if !engine.weight_repack {
            // Every tensor in a plain CPU buffer: llama.cpp repacks only
            // tensors it may place in its CPU "extra" (repack) buffer.
            params.as_mut().add_cpu_buft_override(c".");
        }
        let model = LlamaModel::load_from_file(backend()?, model_path, &params)
            .map_err(|source| EngineError::Load { path: model_path.to_path_buf(), source })?;
        if file.shape.is_none() {
            check_budget(&path, profile, plan_for(Some(&memory::shape_of(&model))))?;
        }
        let name = model_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| path.clone());
        Ok(Self { model, path: model_path.to_path_buf(), name })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

self_cell::self_cell!(
    /// The model and the one context that borrows it, in one allocation:
    /// the borrow checker sees the context's borrow of the model, the
    /// context always drops first, and the model can only be had back (for
    /// `&mut` work such as loading a LoRA adapter) by dropping the context.
    struct ModelContext {
        owner: LlamaModel,
        #[not_covariant]
        dependent: LlamaContext,
    }
);

/// Where the model is: with its context (the normal state), alone (while an
/// adapter loads, or after a context could not be built: the next call that
/// needs one tries again), or nowhere (only between the two, inside a method).
enum Slot {
    Ready(ModelContext),
    Bare(LlamaModel),
    Empty,
}

impl Slot {
    fn model(&self) -> Option<&LlamaModel> {
        match self {
            Slot::Ready(cell) => Some(cell.borrow_owner()),
            Slot::Bare(model) => Some(model),
            Slot::Empty => None,
        }
    }

    /// The model alone; the context, if any, is dropped.
    fn take_model(&mut self) -> Option<LlamaModel> {
        match std::mem::replace(self, Slot::Empty) {
            Slot::Ready(cell) => Some(cell.into_owner()),
            Slot::Bare(model) => Some(model),
            Slot::Empty => None,
        }
    }
}

/// The profile's context settings, kept to build the context again.
#[derive(Debug, Clone, Copy)]
struct ContextSettings {
    context_size: u32,
    /// Sequences decoded together (1: the single-sequence path only).
    parallel: u32,
    /// KV cells of the whole context ([`profile::EngineProfile::kv_cells`]).
    kv_cells: u32,
    batch_size: u32,
    threads: i32,
    threads_batch: i32,
    flash_attention: FlashAttention,
    kv_cache_type: KvCacheType,
}

impl ContextSettings {
    fn of(profile: &HardwareProfile) -> Self {
        let engine = &profile.engine;
        Self {
            context_size: engine.context_size,
            parallel: engine.parallel.max(1),
            kv_cells: engine.kv_cells(),
            batch_size: engine.batch_size,
            threads: i32::try_from(engine.threads).unwrap_or(1),
            threads_batch: i32::try_from(engine.threads_batch).unwrap_or(1),
            flash_attention: engine.flash_attention,
            kv_cache_type: engine.kv_cache_type,
        }
    }

    /// `n_ctx` 0 keeps the profile's context size (times the sequences).
    fn params(&self, n_ctx: u32) -> LlamaContextParams {
        let n_ctx = if n_ctx == 0 { self.kv_cells } else { n_ctx };
        // Sequence 0 (the cached prefix) and the completions' sequences
        // (running or kept as a cache) share one pool of cells (unified KV
        // cache), so a cached prefix is shared by reference, not copied.
        let sequences = sequences::slot_count(self.parallel as usize) as u32 + 1;
        LlamaContextParams::default()
            .with_n_seq_max(sequences)
            .with_kv_unified(true)
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(self.batch_size)
            .with_n_ubatch(self.batch_size)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads_batch)
            .with_flash_attention_policy(flash_policy(self.flash_attention))
            .with_type_k(kv_type(self.kv_cache_type))
            .with_type_v(kv_type(self.kv_cache_type))
    }
}

/// What the engine knows about the KV cache, and the buffers of decoding.
struct Cache {
    /// Tokens whose keys and values are in the KV cache (sequence 0).
    cached: Vec<LlamaToken>,
    /// The one-token batch of every generation step, allocated once.
    step: LlamaBatch<'static>,
    batch_size: usize,
    /// Completions decoded together in sequences 1..=parallel.
    sequences: Sequences,
}

/// A loaded model with one context.
pub struct Engine {
    slot: Slot,
    cache: Cache,
    adapters: Adapters,
    settings: ContextSettings,
    /// The context size llama.cpp gave the first context.
    n_ctx: u32,
    path: PathBuf,
    /// A readable model name for answers.
    pub model_name: String,
}

impl Engine {
    /// Loads `model_path` with `profile`'s threads, context, memory budget
    /// and LoRA adapters.
    pub fn load(model_path: &Path, profile: &HardwareProfile) -> Result<Self, EngineError> {
        Self::with_model(LoadedModel::load(model_path, profile)?, profile)
    }

    /// Gives loaded weights a context with `profile`'s settings and loads
    /// the profile's LoRA adapters (those marked `at_start` switched on).
    pub fn with_model(loaded: LoadedModel, profile: &HardwareProfile) -> Result<Self, EngineError> {
        let LoadedModel { mut model, path, name } = loaded;
        // Adapters first: loading one registers it with the model (`&mut`).
        let adapters = Adapters::load(&mut model, &path, profile)?;
        let settings = ContextSettings::of(profile);
        let cell = ModelContext::try_new(model, |model| new_context(model, &settings, 0, &path))?;
        let n_ctx = cell.with_dependent(|_, context| context.n_ctx());
        let mut engine = Self {
            slot: Slot::Ready(cell),
            cache: Cache {
                cached: Vec::new(),
                step: LlamaBatch::new(1, 1),
                batch_size: settings.batch_size as usize,
                sequences: Sequences::new(settings.parallel as usize, settings.batch_size as usize),
            },
            adapters,
            settings,
            n_ctx,
            path,
            model_name: name,
        };
        engine.apply_adapters()?;
        Ok(engine)
    }

    /// The model, whatever became of its context.
    fn model(&self) -> Result<&LlamaModel, EngineError> {
        self.slot.model().ok_or_else(|| EngineError::NoModel { path: self.path.clone() })
    }

    /// Builds the context again (a new one has no KV cache and no adapter
    /// set: the active adapter is applied again). On failure the model stays,
    /// without a context, and the next call that needs one tries again.
    fn rebuild_context(&mut self) -> Result<(), EngineError> {
        let model = self.slot.take_model().ok_or_else(|| EngineError::NoModel { path: self.path.clone() })?;
        self.cache.cached.clear();
        self.cache.sequences.lose_all();
        let (settings, n_ctx, path) = (self.settings, self.n_ctx, &self.path);
        match ModelContext::try_new_or_recover(model, |model| new_context(model, &settings, n_ctx, path)) {
            Ok(cell) => {
                self.slot = Slot::Ready(cell);
                self.apply_adapters()
            }
            Err((model, error)) => {
                self.slot = Slot::Bare(model);
                Err(error)
            }
        }
    }

    /// Runs `f` with the model, its context (built again first if it was
    /// lost) and the cache bookkeeping.
    fn with_context<R>(
        &mut self,
        f: impl FnOnce(&LlamaModel, &mut LlamaContext<'_>, &mut Cache) -> Result<R, EngineError>,
    ) -> Result<R, EngineError> {
        if !matches!(self.slot, Slot::Ready(_)) {
            self.rebuild_context()?;
        }
        let Self { slot, cache, path, .. } = self;
        match slot {
            Slot::Ready(cell) => cell.with_dependent_mut(|model, context| f(model, context, cache)),
            Slot::Bare(_) | Slot::Empty => Err(EngineError::NoModel { path: path.clone() }),
        }
    }

    /// The model file this engine runs.
    pub fn model_path(&self) -> &Path {
        &self.path
    }

    /// Renders chat turns with the model's own chat template, ready for the
    /// assistant's reply.
    pub fn chat_prompt(&self, turns: &[ChatTurn<'_>]) -> Result<String, EngineError> {
        let model = self.model()?;
        let template = match model.chat_template(None) {
            Ok(template) => template,
            // A base model's file may carry no template (Gemma 3 270M):
            // llama.cpp's built-in one for its family, where there is one.
            Err(missing) => {
                let architecture = model.meta_val_str("general.architecture").unwrap_or_default();
                let Some(name) = builtin_template(&architecture) else {
                    return Err(EngineError::NoChatTemplate { architecture, source: missing });
                };
                LlamaChatTemplate::new(name).map_err(EngineError::TemplateName)?
            }
        };
        let messages = turns
            .iter()
            .map(|t| LlamaChatMessage::new(t.role.to_owned(), t.content.to_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(EngineError::ChatTurn)?;
        model.apply_chat_template(&template, &messages, true).map_err(EngineError::ApplyTemplate)
    }

    /// The start of every prompt that has `system` as its system turn: the
    /// rendered chat up to where the user's text begins (the user turn's
    /// header included), for [`prefill`](Self::prefill).
    pub fn chat_prefix(&self, system: &str) -> Result<String, EngineError> {
        // A private-use character cannot occur in a template's own text.
        const MARKER: &str = "\u{E000}";
        let rendered = self
            .chat_prompt(&[ChatTurn { role: "system", content: system }, ChatTurn { role: "user", content: MARKER }])?;
        let end = rendered.find(MARKER).unwrap_or(rendered.len());
        Ok(rendered[..end].to_owned())
    }

    /// Greedy completion of `prompt`, ending at an end-of-generation token,
    /// at the first line break after some text, or after `max_tokens`.
    pub fn generate(&mut self, prompt: &str, max_tokens: u32) -> Result<Generation, EngineError> {
        self.generate_with(prompt, GenerateOptions::line(max_tokens))
    }

    /// Like [`generate`](Self::generate); `stop_at_line_break: false` runs to
    /// end of turn or `max_tokens` (benchmarks use it for long generations).
    pub fn generate_until(
        &mut self,
        prompt: &str,
        max_tokens: u32,
        stop_at_line_break: bool,
    ) -> Result<Generation, EngineError> {
        self.generate_with(prompt, GenerateOptions { max_tokens, stop_at_line_break, grammar: None })
    }

    /// Greedy completion under `options`. With a grammar, generation ends
    /// when the output is a complete JSON value or the grammar allows only
    /// the end of text.
    pub fn generate_with(&mut self, prompt: &str, options: GenerateOptions<'_>) -> Result<Generation, EngineError> {
        let started = Instant::now();
        trace_prompt(prompt, &options);
        self.with_context(|model, context, cache| {
            let grammar = grammar_sampler(model, options.grammar)?;
            let tokens = model.vocab().tokenize(prompt.as_bytes(), true, true);
            let evaluated = cache.evaluate_prompt(context, &tokens, options.max_tokens)?;
            cache.complete(model, context, started, grammar, options, evaluated, tokens.len())
        })
    }

    /// Evaluates text-and-image chunks from a cold cache and completes them
    /// (the vision path).
    fn generate_media(
        &mut self,
        started: Instant,
        mtmd: &mut MtmdContext,
        chunks: &MtmdInputChunks,
        options: GenerateOptions<'_>,
    ) -> Result<Generation, EngineError> {
        self.with_context(|model, context, cache| {
            let grammar = grammar_sampler(model, options.grammar)?;
            let positions = cache.evaluate_media(context, mtmd, chunks, options.max_tokens)?;
            cache.complete(model, context, started, grammar, options, positions, positions)
        })
    }

    /// Brings the KV cache to `prompt`'s tokens without generating, so that a
    /// later prompt starting the same way only evaluates what follows.
    pub fn prefill(&mut self, prompt: &str) -> Result<usize, EngineError> {
        self.with_context(|model, context, cache| {
            let tokens = model.vocab().tokenize(prompt.as_bytes(), true, true);
            if cache.cached.starts_with(&tokens) {
                return Ok(0);
            }
            cache.evaluate_prompt(context, &tokens, 0)
        })
    }

    /// The probability of every vocabulary token coming next after `prompt`
    /// (softmax of the logits), from a cold cache: what tests and `evaluate`
    /// compare between adapters and variants.
    pub fn next_token_probabilities(&mut self, prompt: &str) -> Result<Vec<f32>, EngineError> {
        self.with_context(|model, context, cache| {
            let tokens = model.vocab().tokenize(prompt.as_bytes(), true, true);
            cache.clear(context);
            cache.evaluate_prompt(context, &tokens, 0)?;
            let logits = context.get_logits_ith(-1);
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exp: Vec<f32> = logits.iter().map(|&v| (v - max).exp()).collect();
            let sum: f32 = exp.iter().sum();
            Ok(exp.into_iter().map(|v| v / sum).collect())
        })
    }

    /// The model's tokens for `text` (benchmarks size prompts with it); 0
    /// if the engine lost its model.
    pub fn token_count(&self, text: &str) -> usize {
        self.slot.model().map_or(0, |model| model.vocab().tokenize(text.as_bytes(), true, true).len())
    }

    /// llama.cpp's own timings since the last reset: prompt and generation
    /// time inside `llama_decode`, without this crate's loop around it.
    /// Zero while the engine has no context.
    pub fn llama_timings(&mut self) -> LlamaTimings {
        let Slot::Ready(cell) = &mut self.slot else {
            return LlamaTimings { prompt_ms: 0.0, prompt_tokens: 0, eval_ms: 0.0, eval_tokens: 0 };
        };
        cell.with_dependent_mut(|_, context| {
            let t = context.timings();
            LlamaTimings {
                prompt_ms: t.t_p_eval_ms(),
                prompt_tokens: t.n_p_eval().max(0) as u64,
                eval_ms: t.t_eval_ms(),
                eval_tokens: t.n_eval().max(0) as u64,
            }
        })
    }

    /// Resets [`llama_timings`](Self::llama_timings).
    pub fn reset_llama_timings(&mut self) {
        if let Slot::Ready(cell) = &mut self.slot {
            cell.with_dependent_mut(|_, context| context.reset_timings());
        }
    }

    /// Forgets the cached prefix (benchmarks measure cold prompts with it).
    pub fn clear_cache(&mut self) {
        let Self { slot, cache, .. } = self;
        match slot {
            Slot::Ready(cell) => cell.with_dependent_mut(|_, context| cache.clear(context)),
            Slot::Bare(_) | Slot::Empty => {
                cache.cached.clear();
                cache.sequences.lose_all();
            }
        }
    }

    /// How many completions [`start`](Self::start) may run at once (the
    /// profile's `engine.parallel`).
    pub fn parallel(&self) -> usize {
        self.settings.parallel as usize
    }

    /// Completions started and not yet reported by [`step`](Self::step).
    pub fn sequences_running(&self) -> usize {
        self.cache.sequences.running()
    }

    /// Starts a completion of `prompt` in a free sequence, to be advanced by
    /// [`step`](Self::step) together with the others. Nothing is decoded
    /// yet; the prompt's start that sequence 0 holds (the prefix that
    /// [`prefill`](Self::prefill) cached) is shared, not evaluated again.
    /// `started` is when the caller began, for the time to first token.
    pub fn start(
        &mut self,
        prompt: &str,
        options: GenerateOptions<'_>,
        started: Instant,
    ) -> Result<Ticket, EngineError> {
        let window = self.settings.context_size;
        trace_prompt(prompt, &options);
        self.with_context(|model, context, cache| {
            let grammar = grammar_sampler(model, options.grammar)?;
            let tokens = model.vocab().tokenize(prompt.as_bytes(), true, true);
            if tokens.is_empty() || tokens.len() + options.max_tokens as usize > window as usize {
                return Err(EngineError::PromptTooLong {
                    prompt_tokens: tokens.len(),
                    max_tokens: options.max_tokens,
                    n_ctx: window,
                });
            }
            let completion = Completion::new(grammar, options, started, tokens.len());
            cache.sequences.start(context, &cache.cached, tokens, completion)
        })
    }

    /// One `llama_decode` for every running completion: each generating
    /// one advances by a token, and prompts still being read by as many
    /// tokens as the batch has room for. Returns the completions that
    /// finished (or failed) in this step; an empty list while none runs.
    pub fn step(&mut self) -> Vec<(Ticket, Result<Generation, EngineError>)> {
        if self.cache.sequences.running() == 0 {
            return self.cache.sequences.take_lost();
        }
        let outcome =
            self.with_context(|model, context, cache| Ok(cache.sequences.step(model, context, &mut cache.cached)));
        match outcome {
            Ok(finished) => finished,
            // No context could be had: every running completion is lost.
            Err(_) => {
                self.cache.sequences.lose_all();
                self.cache.sequences.take_lost()
            }
        }
    }
}

/// A context for `model` with `settings` (`n_ctx` 0: the profile's size).
fn new_context<'m>(
    model: &'m LlamaModel,
    settings: &ContextSettings,
    n_ctx: u32,
    path: &Path,
) -> Result<LlamaContext<'m>, EngineError> {
    // llama.cpp's own timings cost a clock read per decode; benchmarks compare against them.
    let params = settings.params(n_ctx).with_no_perf(false);
    model.new_context(backend()?, params).map_err(|source| EngineError::Context { path: path.to_path_buf(), source })
}

/// A grammar sampler for `text` (root rule `root`), if any.
fn grammar_sampler(model: &LlamaModel, text: Option<&str>) -> Result<Option<LlamaSampler>, EngineError> {
    text.map(|text| LlamaSampler::grammar(model, text, "root").map_err(EngineError::Grammar)).transpose()
}

impl Cache {
    fn clear(&mut self, context: &mut LlamaContext<'_>) {
        context.clear_kv_cache();
        self.cached.clear();
        self.sequences.lose_all();
    }

    /// The generation loop after the prompt is in the KV cache (sequence
    /// 0), its last logits ready.
    #[allow(clippy::too_many_arguments)]
    fn complete(
        &mut self,
        model: &LlamaModel,
        context: &mut LlamaContext<'_>,
        started: Instant,
        grammar: Option<LlamaSampler>,
        options: GenerateOptions<'_>,
        prompt_tokens_evaluated: usize,
        prompt_tokens: usize,
    ) -> Result<Generation, EngineError> {
        let mut completion = Completion::new(grammar, options, started, prompt_tokens);
        completion.prompt_tokens_evaluated = prompt_tokens_evaluated;
        let mut logits_index = -1;
        while let Next::Token(token) = completion.choose(model, context.get_logits_ith(logits_index))? {
            let position = self.cached.len();
            logits_index = self.decode(context, &[token], position)?;
        }
        Ok(completion.finish())
    }

    /// Evaluates text-and-image chunks from a cold cache (mtmd encodes the
    /// images and decodes everything into sequence 0); returns the number
    /// of positions used. The cache then holds no text prefix worth reusing.
    fn evaluate_media(
        &mut self,
        context: &mut LlamaContext<'_>,
        mtmd: &mut MtmdContext,
        chunks: &MtmdInputChunks,
        max_tokens: u32,
    ) -> Result<usize, EngineError> {
        let n_ctx = context.n_ctx();
        let positions = usize::try_from(chunks.total_positions()).unwrap_or(0);
        if positions == 0 || positions + max_tokens as usize > n_ctx as usize {
            return Err(EngineError::PromptTooLong { prompt_tokens: positions, max_tokens, n_ctx });
        }
        self.clear(context);
        let batch = i32::try_from(self.batch_size).unwrap_or(512);
        let n_past = chunks.eval_chunks(mtmd, context, 0, 0, batch, true).map_err(EngineError::MediaDecode)?;
        let n_past = usize::try_from(n_past).unwrap_or(0);
        // Placeholders (id -1 matches no real token): generation continues at
        // position `n_past`, and the next text prompt finds no common prefix.
        self.cached = vec![LlamaToken::new(-1); n_past];
        Ok(n_past)
    }

    /// Evaluates the part of `tokens` that is not cached yet; returns how
    /// many tokens that was. At least the last token is evaluated again,
    /// because its logits are needed.
    fn evaluate_prompt(
        &mut self,
        context: &mut LlamaContext<'_>,
        tokens: &[LlamaToken],
        max_tokens: u32,
    ) -> Result<usize, EngineError> {
        let n_ctx = context.n_ctx();
        if tokens.is_empty() || tokens.len() + max_tokens as usize > n_ctx as usize {
            return Err(EngineError::PromptTooLong { prompt_tokens: tokens.len(), max_tokens, n_ctx });
        }
        let common = self.cached.iter().zip(tokens).take_while(|(a, b)| a == b).count();
        let start = common.min(tokens.len() - 1);
        context.clear_kv_cache_seq(Some(0), Some(start as u32), None)?;
        self.cached.truncate(start);
        self.decode(context, &tokens[start..], start)?;
        Ok(tokens.len() - start)
    }

    /// Evaluates `tokens` at positions from `first_position`, in batches;
    /// returns the batch index of the last token's logits.
    fn decode(
        &mut self,
        context: &mut LlamaContext<'_>,
        tokens: &[LlamaToken],
        first_position: usize,
    ) -> Result<i32, EngineError> {
        if let [token] = tokens {
            self.step.clear();
            self.step.add(*token, first_position as i32, &[0], true)?;
            decode_making_room(context, &mut self.sequences, &mut self.step)?;
            self.cached.push(*token);
            return Ok(0);
        }
        let batch_size = self.batch_size.max(1);
        let mut last_index = 0;
        for (chunk_number, chunk) in tokens.chunks(batch_size).enumerate() {
            let is_last_chunk = (chunk_number + 1) * batch_size >= tokens.len();
            let mut batch = LlamaBatch::new(chunk.len(), 1);
            for (i, token) in chunk.iter().enumerate() {
                let position = first_position + chunk_number * batch_size + i;
                let wants_logits = is_last_chunk && i + 1 == chunk.len();
                batch.add(*token, position as i32, &[0], wants_logits)?;
            }
            decode_making_room(context, &mut self.sequences, &mut batch)?;
            self.cached.extend_from_slice(chunk);
            last_index = chunk.len() as i32 - 1;
        }
        Ok(last_index)
    }
}

/// `context.decode(batch)`; when the cells are full, the sequences kept as
/// a cache give way and it is tried once more (a batch within one
/// micro-batch changes nothing when it finds no cells).
fn decode_making_room(
    context: &mut LlamaContext<'_>,
    sequences: &mut Sequences,
    batch: &mut LlamaBatch<'_>,
) -> Result<(), llama_cpp_2::DecodeError> {
    match context.decode(batch) {
        Err(llama_cpp_2::DecodeError::NoKvCacheSlot) if sequences.release_kept(context) => context.decode(batch),
        other => other,
    }
}

/// What [`Completion::choose`] decided.
enum Next {
    /// Evaluate this token, then choose again from its logits.
    Token(LlamaToken),
    /// The completion is finished.
    Done,
}

/// One completion in progress: the tokens chosen so far, their
/// probabilities, and when to stop. The same for the single-sequence loop
/// and the batched one.
struct Completion {
    grammar: Option<LlamaSampler>,
    max_tokens: usize,
    stop_at_line_break: bool,
    started: Instant,
    text: Vec<u8>,
    meter: ConfidenceMeter,
    generated: usize,
    grammar_fallbacks: usize,
    grammar_full_filters: usize,
    ttft_ms: Option<f64>,
    prompt_tokens_evaluated: usize,
    prompt_tokens: usize,
}

impl Completion {
    fn new(
        grammar: Option<LlamaSampler>,
        options: GenerateOptions<'_>,
        started: Instant,
        prompt_tokens: usize,
    ) -> Self {
        Self {
            grammar,
            max_tokens: options.max_tokens as usize,
            stop_at_line_break: options.stop_at_line_break,
            started,
            text: Vec::new(),
            meter: ConfidenceMeter::default(),
            generated: 0,
            grammar_fallbacks: 0,
            grammar_full_filters: 0,
            ttft_ms: None,
            prompt_tokens_evaluated: prompt_tokens,
            prompt_tokens,
        }
    }

    /// Chooses the next token from `logits` (greedy, or the grammar's
    /// best): done at the end of the turn, a line break after some text, a
    /// complete JSON value, or `max_tokens`.
    fn choose(&mut self, model: &LlamaModel, logits: &[f32]) -> Result<Next, EngineError> {
        if self.generated >= self.max_tokens {
            return Ok(Next::Done);
        }
        let vocab = model.vocab();
        let (token, probability) = match self.grammar.as_mut() {
            None => greedy(logits),
            Some(grammar) => {
                let (token, probability, path) =
                    constrained_greedy(grammar, logits).ok_or(EngineError::GrammarDeadEnd)?;
                self.grammar_fallbacks += usize::from(path != GrammarPath::TopAccepted);
                self.grammar_full_filters += usize::from(path == GrammarPath::FullVocabulary);
                (token, probability)
            }
        };
        self.ttft_ms.get_or_insert_with(|| self.started.elapsed().as_secs_f64() * 1e3);
        if vocab.is_eog(token) {
            return Ok(Next::Done);
        }
        if let Some(grammar) = self.grammar.as_mut() {
            grammar.accept(token);
        }
        self.generated += 1;
        let piece = vocab.token_to_piece(token, false, None);
        self.meter.record(&piece, probability);
        let ends_line =
            self.stop_at_line_break && piece.contains(&b'\n') && !String::from_utf8_lossy(&self.text).trim().is_empty();
        self.text.extend_from_slice(&piece);
        // A grammar's output here is the rest of a JSON object: done at its last brace.
        let json_done = self.grammar.is_some() && self.text.ends_with(b"}") && is_json_end(&self.text);
        if ends_line || json_done || self.generated == self.max_tokens {
            Ok(Next::Done)
        } else {
            Ok(Next::Token(token))
        }
    }

    fn finish(self) -> Generation {
        Generation {
            text: String::from_utf8_lossy(&self.text).trim().to_owned(),
            confidence: self.meter.confidence(),
            tokens: self.generated,
            prompt_tokens_evaluated: self.prompt_tokens_evaluated,
            prompt_tokens: self.prompt_tokens,
            ttft_ms: self.ttft_ms.unwrap_or(0.0),
            total_ms: self.started.elapsed().as_secs_f64() * 1e3,
            grammar_fallbacks: self.grammar_fallbacks,
            grammar_full_filters: self.grammar_full_filters,
        }
    }
}

/// llama.cpp's built-in chat template for a model family whose files may
/// lack one.
fn builtin_template(architecture: &str) -> Option<&'static str> {
    match architecture {
        "gemma" | "gemma2" | "gemma3" => Some("gemma"),
        _ => None,
    }
}

fn flash_policy(setting: FlashAttention) -> llama_cpp_sys_2::llama_flash_attn_type {
    match setting {
        FlashAttention::Auto => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_AUTO,
        FlashAttention::On => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED,
        FlashAttention::Off => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED,
    }
}

fn kv_type(kind: KvCacheType) -> llama_cpp_2::context::params::KvCacheType {
    use llama_cpp_2::context::params::KvCacheType as Llama;
    match kind {
        KvCacheType::F16 => Llama::F16,
        KvCacheType::Q8_0 => Llama::Q8_0,
        KvCacheType::Q4_0 => Llama::Q4_0,
    }
}

/// Whether `text` closes the JSON object it continues: its braces outside
/// strings close one more than they open.
fn is_json_end(text: &[u8]) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0i32, false, false);
    for &b in text {
        match b {
            _ if escaped => escaped = false,
            b'\\' if in_string => escaped = true,
            b'"' => in_string = !in_string,
            b'{' if !in_string => depth += 1,
            b'}' if !in_string => depth -= 1,
            _ => {}
        }
    }
    depth < 0
}

fn check_budget(path: &str, profile: &HardwareProfile, plan: MemoryPlan) -> Result<(), EngineError> {
    if plan.fits() {
        tracing::info!(plan = %plan.arithmetic(), "memory budget holds");
        Ok(())
    } else {
        Err(EngineError::OverBudget {
            path: path.to_owned(),
            profile: profile.name.clone(),
            arithmetic: plan.arithmetic(),
        })
    }
}
