//! The sections' vectors kept on disk between starts, so that a library
//! read again (a restart, a new dataflow run) encodes only the sections
//! whose text changed: encoding 2,000 pages takes minutes on a 2-core
//! gateway, reading their vectors back well under a second.
//!
//! One file holds the vectors of one library, made by one encoder. It is a
//! cache, never the truth: a file that is missing, damaged, of another
//! format or made by another model (its [`Encoder::fingerprint`]) is
//! ignored and replaced at the next save; the library then encodes as it
//! would without it.
//!
//! Format (little-endian): the 8 bytes `SFVECS1\n`, the encoder's 32-byte
//! fingerprint, the vector length (u32), the count (u32), then per vector
//! the SHA-256 of its text and the vector's f32s, and last the SHA-256 of
//! everything before it.
//!
//! [`Encoder::fingerprint`]: crate::embed::Encoder::fingerprint

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"SFVECS1\n";
const HEADER_BYTES: usize = 8 + 32 + 4 + 4;
const CHECKSUM_BYTES: usize = 32;

/// The key of a text's vector: its SHA-256.
pub type TextKey = [u8; 32];

/// The key of `text`.
pub fn text_key(text: &str) -> TextKey {
    Sha256::digest(text.as_bytes()).into()
}

/// Why the vectors file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the section vectors to {path}")]
pub struct SaveError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// What was found in the file at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// No file yet.
    Nothing,
    /// This many vectors, made by this encoder.
    Vectors(usize),
    /// A file not used, and why (it is replaced at the next save).
    Ignored(String),
}

/// The vectors read from the file and not yet claimed by a section.
#[derive(Debug)]
pub struct VectorFile {
    path: PathBuf,
    fingerprint: [u8; 32],
    dimensions: usize,
    unclaimed: HashMap<TextKey, Vec<f32>>,
}

impl VectorFile {
    /// Reads `path`, keeping the vectors only if `fingerprint` and
    /// `dimensions` (the encoder's) made them.
    pub fn open(path: &Path, fingerprint: [u8; 32], dimensions: usize) -> (Self, Found) {
        let mut file = VectorFile { path: path.to_owned(), fingerprint, dimensions, unclaimed: HashMap::new() };
        let found = match std::fs::read(path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Found::Nothing,
            Err(error) => Found::Ignored(format!("cannot be read: {error}")),
            Ok(bytes) => match decode(&bytes, &fingerprint, dimensions) {
                Ok(vectors) => {
                    let count = vectors.len();
                    file.unclaimed = vectors;
                    Found::Vectors(count)
                }
                Err(why) => Found::Ignored(why),
            },
        };
        (file, found)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored vector of the text with `key`, if there is one; each is
    /// handed out once (a second section with the same text is encoded).
    pub fn claim(&mut self, key: &TextKey) -> Option<Vec<f32>> {
        self.unclaimed.remove(key)
    }

    /// Writes `vectors` as the whole file (the library's sections now) and
    /// forgets what was not claimed. Written beside and renamed over, so a
    /// crash leaves the old file or the new one, never half of one.
    pub fn save<'a>(&mut self, vectors: impl IntoIterator<Item = (&'a TextKey, &'a [f32])>) -> Result<(), SaveError> {
        self.unclaimed = HashMap::new();
        let mut body = Vec::with_capacity(HEADER_BYTES);
        body.extend_from_slice(MAGIC);
        body.extend_from_slice(&self.fingerprint);
        body.extend_from_slice(&u32::try_from(self.dimensions).unwrap_or(u32::MAX).to_le_bytes());
        let count_at = body.len();
        body.extend_from_slice(&0u32.to_le_bytes());
        let mut count = 0u32;
        for (key, vector) in vectors {
            if vector.len() != self.dimensions {
                continue;
            }
            body.extend_from_slice(key);
            for value in vector {
                body.extend_from_slice(&value.to_le_bytes());
            }
            count += 1;
        }
        body[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
        let checksum = Sha256::digest(&body);
        body.extend_from_slice(&checksum);
        self.write(&body).map_err(|source| SaveError { path: self.path.clone(), source })
    }

    fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        // The process id in the name: two libraries saving to one file at
        // once (two nodes, two tests) never write into the same partial file.
        let mut partial = self.path.clone().into_os_string();
        partial.push(format!(".{}.part", std::process::id()));
        let partial = PathBuf::from(partial);
        let mut file = std::fs::File::create(&partial)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&partial, &self.path)
    }
}

/// The vectors of a file's bytes, or why they are not used.
fn decode(bytes: &[u8], fingerprint: &[u8; 32], dimensions: usize) -> Result<HashMap<TextKey, Vec<f32>>, String> {
    if bytes.len() < HEADER_BYTES + CHECKSUM_BYTES || &bytes[..8] != MAGIC {
        return Err("not a section vectors file of this version".into());
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
    if Sha256::digest(body).as_slice() != checksum {
        return Err("damaged (its checksum does not match)".into());
    }
    if &body[8..40] != fingerprint {
        return Err("made by another embedding model".into());
    }
    let word = |at: usize| u32::from_le_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]) as usize;
    if word(40) != dimensions {
        return Err(format!("vectors of {} values, the model makes {dimensions}", word(40)));
    }
    let count = word(44);
    let record = 32 + 4 * dimensions;
    if body.len() != HEADER_BYTES + count * record {
        return Err("its length does not match its count".into());
    }
    let mut vectors = HashMap::with_capacity(count);
    for chunk in body[HEADER_BYTES..].chunks_exact(record) {
        let (key, values) = chunk.split_at(32);
        let mut text_key = [0u8; 32];
        text_key.copy_from_slice(key);
        let vector = values.chunks_exact(4).map(|v| f32::from_le_bytes([v[0], v[1], v[2], v[3]])).collect::<Vec<f32>>();
        vectors.insert(text_key, vector);
    }
    Ok(vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: [u8; 32] = [7; 32];

    fn saved(path: &Path, texts: &[(&str, Vec<f32>)]) {
        let (mut file, _) = VectorFile::open(path, MODEL, 3);
        let keys: Vec<TextKey> = texts.iter().map(|(text, _)| text_key(text)).collect();
        file.save(keys.iter().zip(texts.iter().map(|(_, v)| v.as_slice()))).expect("saves");
    }

    #[test]
    fn vectors_saved_are_found_again_by_their_text_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cache/vectors.bin");
        let (_, found) = VectorFile::open(&path, MODEL, 3);
        assert_eq!(found, Found::Nothing);
        saved(&path, &[("clear the jam", vec![1.0, 0.0, 0.0]), ("lock out", vec![0.0, 0.6, 0.8])]);
        let (mut file, found) = VectorFile::open(&path, MODEL, 3);
        assert_eq!(found, Found::Vectors(2));
        assert_eq!(file.claim(&text_key("lock out")), Some(vec![0.0, 0.6, 0.8]));
        assert_eq!(file.claim(&text_key("lock out")), None, "handed out once");
        assert_eq!(file.claim(&text_key("lock out the press")), None, "another text");
    }

    #[test]
    fn a_save_keeps_only_what_it_is_given() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("vectors.bin");
        saved(&path, &[("old text", vec![1.0, 0.0, 0.0]), ("kept", vec![0.0, 1.0, 0.0])]);
        saved(&path, &[("kept", vec![0.0, 1.0, 0.0])]);
        let (mut file, found) = VectorFile::open(&path, MODEL, 3);
        assert_eq!(found, Found::Vectors(1));
        assert_eq!(file.claim(&text_key("old text")), None);
    }

    #[test]
    fn another_model_or_a_damaged_file_is_ignored_not_trusted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("vectors.bin");
        saved(&path, &[("clear the jam", vec![1.0, 0.0, 0.0])]);
        let (mut other_model, found) = VectorFile::open(&path, [8; 32], 3);
        assert!(matches!(&found, Found::Ignored(why) if why.contains("another embedding model")), "{found:?}");
        assert_eq!(other_model.claim(&text_key("clear the jam")), None);
        let (_, found) = VectorFile::open(&path, MODEL, 4);
        assert!(matches!(&found, Found::Ignored(why) if why.contains("values")), "{found:?}");

        let mut bytes = std::fs::read(&path).expect("reads");
        let middle = HEADER_BYTES + 40;
        bytes[middle] ^= 0x10;
        std::fs::write(&path, &bytes).expect("writes");
        let (_, found) = VectorFile::open(&path, MODEL, 3);
        assert!(matches!(&found, Found::Ignored(why) if why.contains("checksum")), "{found:?}");

        for length in [0, 7, HEADER_BYTES, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..length]).expect("writes");
            let (_, found) = VectorFile::open(&path, MODEL, 3);
            assert!(matches!(found, Found::Ignored(_)), "{length} bytes: {found:?}");
        }
    }

    #[test]
    fn a_file_that_cannot_be_written_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A folder where the file should be: the rename fails.
        let path = dir.path().join("vectors.bin");
        std::fs::create_dir(&path).expect("folder");
        std::fs::write(path.join("keep"), b"x").expect("writes");
        let (mut file, found) = VectorFile::open(&path, MODEL, 3);
        assert!(matches!(found, Found::Ignored(_)), "{found:?}");
        let error = file.save([(&text_key("a"), &[1.0f32, 0.0, 0.0][..])]).expect_err("a folder is in the way");
        assert!(error.to_string().contains("vectors.bin"), "{error}");
    }
}
