//! Checks an image projector (`mmproj` GGUF) against the language model it
//! is to feed, before llama.cpp's multimodal library sees the pair.
//!
//! Some mismatches are refused cleanly by mtmd itself (an unknown projector
//! type, a projector whose output width differs from the model's embedding
//! width), but a projector that frames images with special tokens
//! (idefics3, MiniCPM-V, …) carries on with token id -1 when the model's
//! vocabulary lacks one, and such a pair is known to abort the process
//! inside llama.cpp. So the projector's header is read here (metadata only,
//! no weights) and the pair refused with a message that names what is wrong.

use std::path::{Path, PathBuf};

use llama_cpp_2::gguf::GgufContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

/// What a projector file says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectorInfo {
    /// `clip.projector_type` (or `clip.vision.projector_type`), e.g. `mlp`, `idefics3`.
    pub projector: String,
    /// Side of the square image the encoder sees, in pixels.
    pub image_size: u32,
    /// Side of one patch, in pixels.
    pub patch_size: u32,
}

/// Why a model/projector pair is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairError {
    /// The file is missing or not GGUF.
    #[error("image projector {path}: not a readable GGUF file")]
    NotGguf { path: PathBuf },
    /// A GGUF file, but not an image projector (a language model given as
    /// `mmproj`, say).
    #[error(
        "image projector {path}: general.architecture is {architecture:?}, not \"clip\" (is it the language model?)"
    )]
    NotAProjector { path: PathBuf, architecture: String },
    /// A projector without an image encoder (audio only), or with its
    /// vision header incomplete.
    #[error("image projector {path}: no vision encoder ({missing} missing)")]
    NoVisionEncoder {
        path: PathBuf,
        /// The first key that is missing.
        missing: &'static str,
    },
    /// The projector frames images with special tokens the language model
    /// does not have: it was made for another model.
    #[error(
        "image projector {path} ({projector}) needs the special tokens {missing:?}, which the language model {model} \
         does not have: the projector was made for another model family"
    )]
    MissingTokens {
        path: PathBuf,
        projector: String,
        /// The language model file.
        model: PathBuf,
        /// Tokens the model lacks.
        missing: Vec<String>,
    },
}

/// Special tokens mtmd looks up in the language model's vocabulary for each
/// projector type (from llama.cpp's `mtmd.cpp`); a missing one is decoded
/// as token -1, which aborts. Types not listed frame images with plain
/// text or with nothing.
pub fn required_tokens(projector: &str) -> &'static [&'static str] {
    match projector {
        "idefics3" => &["<fake_token_around_image>", "<global-img>"],
        "minicpmv" => &["<image>", "</image>", "<slice>", "</slice>"],
        "step3vl" => &["<im_start>", "<im_end>", "<patch_start>", "<patch_end>", "<patch_newline>"],
        "lfm2" => &["<|img_thumbnail|>"],
        _ => &[],
    }
}

/// Reads a projector's header (no weights).
pub fn read_projector(path: &Path) -> Result<ProjectorInfo, PairError> {
    let gguf = GgufContext::from_file(path).ok_or_else(|| PairError::NotGguf { path: path.to_path_buf() })?;
    // llama.cpp aborts on a value read with the wrong type: check it first.
    let string = |key: &str| {
        let index = gguf.find_key(key);
        (index >= 0 && gguf.kv_type(index) == llama_cpp_sys_2::GGUF_TYPE_STRING)
            .then(|| gguf.val_str(index).map(str::to_owned))
            .flatten()
    };
    let unsigned = |key: &str| {
        let index = gguf.find_key(key);
        (index >= 0 && gguf.kv_type(index) == llama_cpp_sys_2::GGUF_TYPE_UINT32).then(|| gguf.val_u32(index))
    };
    let architecture = string("general.architecture").unwrap_or_default();
    if architecture != "clip" {
        return Err(PairError::NotAProjector { path: path.to_path_buf(), architecture });
    }
    let missing = |key: &'static str| PairError::NoVisionEncoder { path: path.to_path_buf(), missing: key };
    let projector = string("clip.projector_type")
        .or_else(|| string("clip.vision.projector_type"))
        .ok_or_else(|| missing("clip.projector_type"))?;
    let image_size = unsigned("clip.vision.image_size").ok_or_else(|| missing("clip.vision.image_size"))?;
    let patch_size = unsigned("clip.vision.patch_size").ok_or_else(|| missing("clip.vision.patch_size"))?;
    Ok(ProjectorInfo { projector, image_size, patch_size })
}

/// The tokens of `wanted` that `model`'s vocabulary lacks (compared by the
/// token's own text, as mtmd looks them up).
pub fn missing_tokens(model: &LlamaModel, wanted: &[&str]) -> Vec<String> {
    if wanted.is_empty() {
        return Vec::new();
    }
    let vocab = model.vocab();
    let mut found = vec![false; wanted.len()];
    for id in 0..vocab.n_tokens() {
        if let Some(text) = vocab.text(LlamaToken::new(id)) {
            if let Some(i) = wanted.iter().position(|w| w.as_bytes() == text.to_bytes()) {
                found[i] = true;
            }
        }
    }
    wanted.iter().zip(found).filter(|(_, ok)| !ok).map(|(w, _)| (*w).to_owned()).collect()
}

/// Checks `mmproj` against the loaded language model `model` (from
/// `model_path`, for the message).
pub fn check_pair(mmproj: &Path, model: &LlamaModel, model_path: &Path) -> Result<ProjectorInfo, PairError> {
    let info = read_projector(mmproj)?;
    let missing = missing_tokens(model, required_tokens(&info.projector));
    if !missing.is_empty() {
        return Err(PairError::MissingTokens {
            path: mmproj.to_path_buf(),
            projector: info.projector,
            model: model_path.to_path_buf(),
            missing,
        });
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projectors_that_frame_images_with_tokens_name_them() {
        assert!(required_tokens("idefics3").contains(&"<global-img>"));
        assert!(required_tokens("mlp").is_empty());
    }

    #[test]
    fn a_file_that_is_not_gguf_is_refused_by_name() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let err = read_projector(&path).unwrap_err();
        assert!(matches!(err, PairError::NotGguf { .. }), "{err}");
        assert!(err.to_string().contains("Cargo.toml"), "{err}");
    }
}
