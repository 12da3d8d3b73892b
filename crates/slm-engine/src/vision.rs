//! A language model with an image projector (llama.cpp's mtmd library):
//! one image and a prompt in, a greedy (optionally grammar-constrained)
//! completion with its confidence out.

use std::ffi::{c_char, c_void, CStr};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Instant;

use crate::profile::HardwareProfile;
use llama_cpp_2::mtmd::{mtmd_default_marker, MtmdBitmap, MtmdContext, MtmdContextParams, MtmdInputText};

use super::mmproj::{check_pair, read_projector, ProjectorInfo};
use super::{ChatTurn, Engine, EngineError, GenerateOptions, Generation, LoadedModel};

/// A raw RGB image (`width * height * 3` bytes, row by row).
#[derive(Debug, Clone, Copy)]
pub struct VisionImage<'a> {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// The pixels.
    pub rgb: &'a [u8],
}

/// A vision-language model: language model, projector and one context.
pub struct VisionEngine {
    // Dropped first: the mtmd context points into the model's vocabulary.
    mtmd: MtmdContext,
    engine: Engine,
    projector: ProjectorInfo,
    mmproj_path: PathBuf,
}

impl VisionEngine {
    /// Loads `model_path` and its image projector `mmproj_path` with
    /// `profile`'s threads and budget (model and projector counted together,
    /// before either loads). The pair is checked first ([`super::mmproj`]),
    /// so a projector made for another model is refused with a message
    /// instead of aborting inside llama.cpp.
    pub fn load(model_path: &Path, mmproj_path: &Path, profile: &HardwareProfile) -> Result<Self, EngineError> {
        route_mtmd_logs();
        // The header alone first: a language model given as the projector is
        // refused before anything loads.
        read_projector(mmproj_path)?;
        let mmproj_bytes = std::fs::metadata(mmproj_path)
            .map_err(|source| EngineError::ProjectorFile { path: mmproj_path.to_path_buf(), source })?
            .len();
        // One image at a time: the sequences of `engine.parallel` are the
        // text model's, and their KV cache would only take memory here.
        let mut profile = profile.clone();
        profile.engine.parallel = 1;
        let profile = &profile;
        let loaded = LoadedModel::load_with(model_path, profile, mmproj_bytes)?;
        let engine = Engine::with_model(loaded, profile)?;
        let model = engine.model()?;
        let projector = check_pair(mmproj_path, model, model_path)?;
        let params = MtmdContextParams {
            use_gpu: profile.engine.gpu_layers > 0,
            print_timings: false,
            n_threads: engine.settings.threads_batch,
            ..MtmdContextParams::default()
        };
        let refused =
            |source| EngineError::ProjectorInit { path: mmproj_path.to_path_buf(), n_embd: model.n_embd(), source };
        // The mtmd context keeps a pointer to the model's vocabulary; the
        // model stays where it is (llama.cpp's object) for as long as the
        // engine lives, context rebuilds included, and `mtmd` drops first.
        let mtmd = MtmdContext::init_from_file(&mmproj_path.display().to_string(), model, &params).map_err(refused)?;
        if !mtmd.support_vision() {
            return Err(EngineError::NoVisionEncoder { path: mmproj_path.to_path_buf() });
        }
        Ok(Self { mtmd, engine, projector, mmproj_path: mmproj_path.to_path_buf() })
    }

    /// The projector's header facts.
    pub fn projector(&self) -> &ProjectorInfo {
        &self.projector
    }

    /// The projector file.
    pub fn mmproj_path(&self) -> &Path {
        &self.mmproj_path
    }

    /// The language model's readable name.
    pub fn model_name(&self) -> &str {
        &self.engine.model_name
    }

    /// The user turn `instruction` with `image` in front of it, rendered
    /// with the model's chat template (the image goes where mtmd's marker is).
    pub fn chat_prompt(&self, system: &str, instruction: &str) -> Result<String, EngineError> {
        let user = format!("{}\n{instruction}", mtmd_default_marker());
        let mut turns = Vec::new();
        if !system.is_empty() {
            turns.push(ChatTurn { role: "system", content: system });
        }
        turns.push(ChatTurn { role: "user", content: &user });
        self.engine.chat_prompt(&turns)
    }

    /// Completes `prompt` (which holds mtmd's marker once) with `image` in
    /// the marker's place.
    pub fn generate(
        &mut self,
        prompt: &str,
        image: VisionImage<'_>,
        options: GenerateOptions<'_>,
    ) -> Result<Generation, EngineError> {
        let started = Instant::now();
        let expected = image.width as usize * image.height as usize * 3;
        if image.width == 0 || image.height == 0 || image.rgb.len() != expected {
            return Err(EngineError::ImageSize {
                width: image.width,
                height: image.height,
                expected,
                got: image.rgb.len(),
            });
        }
        let bitmap = MtmdBitmap::from_image_data(image.width, image.height, image.rgb).map_err(EngineError::Bitmap)?;
        let text = MtmdInputText { text: prompt.to_owned(), add_special: true, parse_special: true };
        let chunks = self.mtmd.tokenize(text, &[&bitmap]).map_err(EngineError::ImageTokenize)?;
        self.engine.generate_media(started, &mut self.mtmd, &chunks, options)
    }
}

/// mtmd logs every image it encodes on stdout, past llama.cpp's own log
/// setting: its warnings and errors go to `tracing`, the rest is dropped.
fn route_mtmd_logs() {
    static ONCE: Once = Once::new();
    unsafe extern "C" fn forward(level: llama_cpp_sys_2::ggml_log_level, text: *const c_char, _user: *mut c_void) {
        if text.is_null()
            || !(level == llama_cpp_sys_2::GGML_LOG_LEVEL_WARN || level == llama_cpp_sys_2::GGML_LOG_LEVEL_ERROR)
        {
            return;
        }
        // SAFETY: `text` is not null (checked above), and ggml's log callbacks
        // get a NUL-terminated string valid for the duration of the call; the
        // borrowed message is used only within it.
        let message = unsafe { CStr::from_ptr(text) }.to_string_lossy();
        let message = message.trim();
        if level == llama_cpp_sys_2::GGML_LOG_LEVEL_ERROR {
            tracing::error!(target: "mtmd", "{message}");
        } else {
            tracing::warn!(target: "mtmd", "{message}");
        }
    }
    ONCE.call_once(|| {
        // SAFETY: `forward` has ggml's log callback signature, is a plain
        // function (valid for the whole process), may run on any thread (it
        // only reads its arguments and calls `tracing`), cannot unwind into C
        // (a panic in an `extern "C"` function aborts), and never reads the
        // user data, so null is fine.
        unsafe {
            llama_cpp_sys_2::mtmd_log_set(Some(forward), std::ptr::null_mut());
            llama_cpp_sys_2::mtmd_helper_log_set(Some(forward), std::ptr::null_mut());
        }
    });
}
