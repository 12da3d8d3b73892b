//! Writes a rendered set to a folder: one image per spec and `truth.json`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::render::{render, SpecError};
use crate::spec::{PartSpec, TruthBox};

/// The file format of the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// Lossless; byte-identical for the same seed.
    Png,
    /// Quality 90, as a camera would send.
    Jpeg,
}

impl ImageFormat {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
        }
    }
}

/// One line of `truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TruthEntry {
    /// The image's file name, relative to the folder.
    pub file: String,
    /// `good` or the defect kind's name.
    pub kind: &'static str,
    /// The defect's box; `null` for a good part.
    #[serde(rename = "box")]
    pub bounding_box: Option<TruthBox>,
    /// The part's seed, to render it again.
    pub seed: u64,
}

/// Why a set could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The output folder could not be created.
    #[error("cannot create {}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    /// A spec was out of range.
    #[error("cannot render {file}")]
    Render {
        /// The image it was for.
        file: String,
        source: SpecError,
    },
    /// An image could not be encoded or written.
    #[error("cannot write {}", path.display())]
    Image { path: PathBuf, source: image::ImageError },
    /// `truth.json` could not be written.
    #[error("cannot write {}", path.display())]
    Truth { path: PathBuf, source: std::io::Error },
}

/// The name of the `index`-th image: `good-0000.png`, `scratch-0001.png`, …
pub fn file_name(spec: &PartSpec, index: usize, format: ImageFormat) -> String {
    format!("{}-{index:04}.{}", spec.label(), format.extension())
}

/// Renders every spec into `dir` (created if needed) and writes
/// `truth.json` beside them; returns the truth entries.
pub fn write_set(dir: &Path, specs: &[PartSpec], format: ImageFormat) -> Result<Vec<TruthEntry>, WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError::CreateDir { path: dir.to_path_buf(), source })?;
    let mut truth = Vec::with_capacity(specs.len());
    for (index, spec) in specs.iter().enumerate() {
        let file = file_name(spec, index, format);
        let rendered = render(spec).map_err(|source| WriteError::Render { file: file.clone(), source })?;
        let path = dir.join(&file);
        save(&rendered.image, &path, format).map_err(|source| WriteError::Image { path: path.clone(), source })?;
        truth.push(TruthEntry {
            file,
            kind: spec.label(),
            bounding_box: rendered.defect.map(|(_, b)| b),
            seed: spec.seed,
        });
    }
    let path = dir.join("truth.json");
    let json =
        serde_json::to_vec_pretty(&truth).map_err(|e| WriteError::Truth { path: path.clone(), source: e.into() })?;
    std::fs::write(&path, json).map_err(|source| WriteError::Truth { path, source })?;
    Ok(truth)
}

fn save(image: &image::RgbImage, path: &Path, format: ImageFormat) -> Result<(), image::ImageError> {
    match format {
        ImageFormat::Png => image.save_with_format(path, image::ImageFormat::Png),
        ImageFormat::Jpeg => {
            let file = std::io::BufWriter::new(std::fs::File::create(path)?);
            let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(file, 90);
            encoder.encode_image(image)
        }
    }
}
