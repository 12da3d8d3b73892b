//! Checks a model file before llama.cpp sees it: a missing, non-GGUF or
//! truncated file gets a clear error here instead of a failure (or an abort)
//! deep inside llama.cpp.

use std::ffi::CString;
use std::io::Read;
use std::path::Path;

/// What is wrong with a model file.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file cannot be opened or read.
    #[error("cannot read model file {path}: {source}")]
    Unreadable {
        /// Model path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file does not start with the GGUF magic.
    #[error("{path} is not a GGUF model file (it starts with {found:?}, a GGUF file with \"GGUF\")")]
    NotGguf {
        /// Model path.
        path: String,
        /// The first bytes, shown as text.
        found: String,
    },
    /// The header or tensor table does not parse.
    #[error("{path} has a damaged GGUF header; download or copy the file again")]
    DamagedHeader {
        /// Model path.
        path: String,
    },
    /// The tensor data ends before the header says it should.
    #[error("{path} is truncated: its tensors need {expected} bytes, the file has {actual}; copy it again")]
    Truncated {
        /// Model path.
        path: String,
        /// Bytes the tensor table needs.
        expected: u64,
        /// Bytes the file has.
        actual: u64,
    },
}

/// Verifies that `path` is a complete GGUF file; returns its size in bytes.
pub fn check(path: &Path) -> Result<u64, ModelFileError> {
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
    let expected = tensor_data_end(path).ok_or(ModelFileError::DamagedHeader { path: shown.clone() })?;
    if expected > actual {
        return Err(ModelFileError::Truncated { path: shown, expected, actual });
    }
    Ok(actual)
}

/// Where the last tensor's data ends, from the GGUF header (no data is read).
fn tensor_data_end(path: &Path) -> Option<u64> {
    let c_path = CString::new(path.to_str()?).ok()?;
    let params = llama_cpp_sys_2::gguf_init_params { no_alloc: true, ctx: std::ptr::null_mut() };
    // SAFETY: gguf_init_from_file reads only the header and tensor table
    // (no_alloc) and returns null on any parse error; the context is freed
    // below and no pointer into it outlives this function.
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
        llama_cpp_sys_2::gguf_free(ctx);
        Some(data_offset + end)
    }
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
