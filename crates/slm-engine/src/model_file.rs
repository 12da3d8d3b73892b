//! Checks a model file before llama.cpp sees it: a missing, non-GGUF or
//! truncated file gets a clear error here instead of a failure (or an abort)
//! deep inside llama.cpp. The header also gives the model's shape, so the
//! memory budget (KV cache and compute buffer included) is checked before a
//! single weight is loaded.

use std::ffi::{CStr, CString};
use std::io::Read;
use std::path::Path;

/// What is wrong with a model file.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file cannot be opened or read.
    #[error("cannot read model file {path}: {source}")]
    Unreadable { path: String, source: std::io::Error },
    /// The file does not start with the GGUF magic.
    #[error("{path} is not a GGUF model file (it starts with {found:?}, a GGUF file with \"GGUF\")")]
    NotGguf {
        path: String,
        /// The first bytes, shown as text.
        found: String,
    },
    /// The header or tensor table does not parse.
    #[error("{path} has a damaged GGUF header; download or copy the file again")]
    DamagedHeader { path: String },
    /// The tensor data ends before the header says it should.
    #[error("{path} is truncated: its tensors need {expected} bytes, the file has {actual}; copy it again")]
    Truncated {
        path: String,
        /// Bytes the tensor table needs.
        expected: u64,
        /// Bytes the file has.
        actual: u64,
    },
}

/// The sizes that decide how much memory a model needs beyond its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelShape {
    pub n_layer: u64,
    pub n_embd: u64,
    pub n_head: u64,
    /// Key/value heads (grouped-query attention).
    pub n_head_kv: u64,
    /// Width of one attention head's keys and values: `attention.key_length`
    /// where the file says (Gemma 3: 256, not 640 / 4), else width ÷ heads.
    pub head_dim: u64,
    pub n_vocab: u64,
}

/// A checked model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    /// File size in bytes (the weights' memory).
    pub bytes: u64,
    /// The model's shape from the header, when the usual keys are there.
    pub shape: Option<ModelShape>,
    /// llama.cpp's `general.file_type` (its `llama_ftype`: 0 F32, 1 F16,
    /// 32 BF16, else a quantization), when the header has it.
    pub file_type: Option<u32>,
}

/// Verifies that `path` is a complete GGUF file and reads its shape.
pub fn check(path: &Path) -> Result<ModelFile, ModelFileError> {
    let shown = path.display().to_string();
    let unreadable = |source| ModelFileError::Unreadable { path: shown.clone(), source };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let actual = file.metadata().map_err(unreadable)?.len();
    let mut magic = [0u8; 4];
    let read = file.read(&mut magic).map_err(unreadable)?;
    if read < 4 || &magic != b"GGUF" {
        return Err(ModelFileError::NotGguf {
            path: shown,
            found: String::from_utf8_lossy(&magic[..read]).into_owned(),
        });
    }
    let (expected, shape, file_type) =
        read_header(path).ok_or(ModelFileError::DamagedHeader { path: shown.clone() })?;
    if expected > actual {
        return Err(ModelFileError::Truncated { path: shown, expected, actual });
    }
    Ok(ModelFile { bytes: actual, shape, file_type })
}

/// Where the last tensor's data ends, and the model's shape, from the GGUF
/// header (no tensor data is read).
fn read_header(path: &Path) -> Option<(u64, Option<ModelShape>, Option<u32>)> {
    let c_path = CString::new(path.to_str()?).ok()?;
    let params = llama_cpp_sys_2::gguf_init_params { no_alloc: true, ctx: std::ptr::null_mut() };
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call;
    // gguf_init_from_file with `no_alloc` reads only the header and tensor
    // table and returns null on any parse error (checked). Every getter below
    // gets that live, non-null context and an index below `gguf_get_n_tensors`;
    // `shape_of` and `file_type_of` copy what they read. The context is freed
    // exactly once, after its last use, and no pointer into it outlives it.
    unsafe {
        let ctx = llama_cpp_sys_2::gguf_init_from_file(c_path.as_ptr(), params);
        if ctx.is_null() {
            return None;
        }
        let data_offset = llama_cpp_sys_2::gguf_get_data_offset(ctx) as u64;
        let end = (0..llama_cpp_sys_2::gguf_get_n_tensors(ctx))
            .map(|i| {
                llama_cpp_sys_2::gguf_get_tensor_offset(ctx, i) as u64
                    + llama_cpp_sys_2::gguf_get_tensor_size(ctx, i) as u64
            })
            .max()
            .unwrap_or(0);
        let shape = shape_of(ctx);
        let file_type = file_type_of(ctx);
        llama_cpp_sys_2::gguf_free(ctx);
        Some((data_offset + end, shape, file_type))
    }
}

/// `general.file_type`, when present as an unsigned or signed 32-bit value.
///
/// # Safety
/// `ctx` must be a live context from `gguf_init_from_file`.
unsafe fn file_type_of(ctx: *mut llama_cpp_sys_2::gguf_context) -> Option<u32> {
    let key = CString::new("general.file_type").ok()?;
    // SAFETY: ctx is live (the caller's contract) and `key` is a NUL-terminated
    // string that outlives the call; `id` is used only when gguf_find_key found
    // it (>= 0), and each typed getter only after gguf_get_kv_type confirmed
    // that type (gguf aborts on a type mismatch).
    unsafe {
        let id = llama_cpp_sys_2::gguf_find_key(ctx, key.as_ptr());
        if id < 0 {
            return None;
        }
        match llama_cpp_sys_2::gguf_get_kv_type(ctx, id) {
            llama_cpp_sys_2::GGUF_TYPE_UINT32 => Some(llama_cpp_sys_2::gguf_get_val_u32(ctx, id)),
            llama_cpp_sys_2::GGUF_TYPE_INT32 => u32::try_from(llama_cpp_sys_2::gguf_get_val_i32(ctx, id)).ok(),
            _ => None,
        }
    }
}

/// The shape from the standard keys: `<arch>.block_count`,
/// `<arch>.embedding_length`, `<arch>.attention.head_count(_kv)` and the
/// length of `tokenizer.ggml.tokens`.
///
/// # Safety
/// `ctx` must be a live context from `gguf_init_from_file`.
unsafe fn shape_of(ctx: *mut llama_cpp_sys_2::gguf_context) -> Option<ModelShape> {
    let find = |key: &str| -> Option<i64> {
        let key = CString::new(key).ok()?;
        // SAFETY: ctx is live (the caller's contract) and `key` is a
        // NUL-terminated string that outlives the call; a missing key is -1.
        let id = unsafe { llama_cpp_sys_2::gguf_find_key(ctx, key.as_ptr()) };
        (id >= 0).then_some(id)
    };
    let number = |key: &str| -> Option<u64> {
        let id = find(key)?;
        // SAFETY: ctx is live and `id` was found in it; each typed getter is
        // called only after gguf_get_kv_type confirmed that type.
        unsafe {
            match llama_cpp_sys_2::gguf_get_kv_type(ctx, id) {
                llama_cpp_sys_2::GGUF_TYPE_UINT32 => Some(u64::from(llama_cpp_sys_2::gguf_get_val_u32(ctx, id))),
                llama_cpp_sys_2::GGUF_TYPE_INT32 => u64::try_from(llama_cpp_sys_2::gguf_get_val_i32(ctx, id)).ok(),
                llama_cpp_sys_2::GGUF_TYPE_UINT64 => Some(llama_cpp_sys_2::gguf_get_val_u64(ctx, id)),
                _ => None, // e.g. per-layer arrays: leave the check to after loading
            }
        }
    };
    let arch_id = find("general.architecture")?;
    // SAFETY: ctx is live and `arch_id` was found in it; the value is read as a
    // string only after its type was confirmed STRING, and gguf_get_val_str
    // returns a NUL-terminated string owned by ctx, copied here into a String
    // before this function returns (ctx is freed only by the caller, later).
    let arch = unsafe {
        if llama_cpp_sys_2::gguf_get_kv_type(ctx, arch_id) != llama_cpp_sys_2::GGUF_TYPE_STRING {
            return None;
        }
        CStr::from_ptr(llama_cpp_sys_2::gguf_get_val_str(ctx, arch_id)).to_str().ok()?.to_owned()
    };
    let tokens = find("tokenizer.ggml.tokens")?;
    // SAFETY: ctx is live and `tokens` was found in it; its length is read
    // only after its type was confirmed ARRAY.
    let n_vocab = unsafe {
        if llama_cpp_sys_2::gguf_get_kv_type(ctx, tokens) != llama_cpp_sys_2::GGUF_TYPE_ARRAY {
            return None;
        }
        llama_cpp_sys_2::gguf_get_arr_n(ctx, tokens) as u64
    };
    let n_head = number(&format!("{arch}.attention.head_count"))?;
    let n_embd = number(&format!("{arch}.embedding_length"))?;
    Some(ModelShape {
        n_layer: number(&format!("{arch}.block_count"))?,
        n_embd,
        n_head,
        n_head_kv: number(&format!("{arch}.attention.head_count_kv")).unwrap_or(n_head),
        head_dim: number(&format!("{arch}.attention.key_length")).unwrap_or(n_embd / n_head.max(1)),
        n_vocab,
    })
}

/// SHA-256 of a file, as 64 lowercase hex digits (read in 1 MiB blocks).
pub fn sha256_hex(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("shopfloor-model-file-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn a_missing_file_is_unreadable() {
        let err = check(Path::new("/nonexistent/model.gguf")).unwrap_err();
        assert!(matches!(err, ModelFileError::Unreadable { .. }), "{err}");
    }

    #[test]
    fn a_text_file_is_not_gguf() {
        let path = temp_file("text.gguf", b"<html>not a model</html>");
        let err = check(&path).unwrap_err();
        assert!(err.to_string().contains("is not a GGUF model file"), "{err}");
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn an_empty_file_is_not_gguf() {
        let path = temp_file("empty.gguf", b"");
        assert!(matches!(check(&path).unwrap_err(), ModelFileError::NotGguf { .. }));
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn a_gguf_magic_with_a_garbage_header_is_damaged() {
        let mut bytes = b"GGUF".to_vec();
        bytes.extend_from_slice(&[0xff; 60]);
        let path = temp_file("garbage.gguf", &bytes);
        assert!(matches!(check(&path).unwrap_err(), ModelFileError::DamagedHeader { .. }));
        std::fs::remove_file(path).ok();
    }
}
