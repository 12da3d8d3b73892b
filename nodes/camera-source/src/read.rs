//! One image file as a frame's bytes: decoded to raw RGB, or the file's own
//! bytes with the size from its header.

use std::io::Cursor;
use std::path::Path;

use crate::config::FrameOutput;
use shopfloor_core::schema::{FrameEncoding, MAX_FRAME_SIDE};

/// A frame's pixels or file bytes, with its size.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameData {
    pub width: u32,
    pub height: u32,
    /// How `bytes` are laid out.
    pub encoding: FrameEncoding,
    pub bytes: Vec<u8>,
}

/// Why a file was skipped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a PNG or JPEG image (found {found:?})")]
    Format { path: String, found: Option<image::ImageFormat> },
    /// A broken image, or one beyond the largest frame.
    #[error("cannot decode {path}")]
    Decode {
        path: String,
        #[source]
        source: image::ImageError,
    },
}

impl ReadError {
    /// A short label for counting skipped files.
    pub fn reason(&self) -> &'static str {
        match self {
            ReadError::Io { .. } => "unreadable",
            ReadError::Format { .. } | ReadError::Decode { .. } => "undecodable",
        }
    }
}

/// Reads `path` as `output` asks.
pub fn read_frame(path: &Path, output: FrameOutput) -> Result<FrameData, ReadError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io { path: shown.clone(), source })?;
    frame_from_bytes(&shown, bytes, output)
}

/// A frame from a file's `bytes` (`name` is for messages).
pub fn frame_from_bytes(name: &str, bytes: Vec<u8>, output: FrameOutput) -> Result<FrameData, ReadError> {
    let decode_error = |source: image::ImageError| ReadError::Decode { path: name.to_owned(), source };
    let mut reader = image::ImageReader::new(Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|source| ReadError::Io { path: name.to_owned(), source })?;
    let encoding = match reader.format() {
        Some(image::ImageFormat::Png) => FrameEncoding::Png,
        Some(image::ImageFormat::Jpeg) => FrameEncoding::Jpeg,
        found => return Err(ReadError::Format { path: name.to_owned(), found }),
    };
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_FRAME_SIDE);
    limits.max_image_height = Some(MAX_FRAME_SIDE);
    reader.limits(limits);
    match output {
        FrameOutput::AsStored => {
            let (width, height) = reader.into_dimensions().map_err(decode_error)?;
            Ok(FrameData { width, height, encoding, bytes })
        }
        FrameOutput::Rgb8 => {
            let image = reader.decode().map_err(decode_error)?.to_rgb8();
            let (width, height) = image.dimensions();
            Ok(FrameData { width, height, encoding: FrameEncoding::Rgb8, bytes: image.into_raw() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
        bytes
    }

    #[test]
    fn a_png_becomes_raw_rgb_or_stays_as_stored() {
        let raw = frame_from_bytes("a.png", png(4, 3), FrameOutput::Rgb8).unwrap();
        assert_eq!((raw.width, raw.height, raw.encoding, raw.bytes.len()), (4, 3, FrameEncoding::Rgb8, 36));
        assert_eq!(&raw.bytes[3..6], &[1, 0, 7]);
        let stored = frame_from_bytes("a.png", png(4, 3), FrameOutput::AsStored).unwrap();
        assert_eq!((stored.width, stored.height, stored.encoding), (4, 3, FrameEncoding::Png));
        assert_eq!(stored.bytes, png(4, 3));
    }

    #[test]
    fn broken_files_are_refused_with_a_reason() {
        let mut truncated = png(32, 32);
        truncated.truncate(truncated.len() / 2);
        let err = frame_from_bytes("t.png", truncated.clone(), FrameOutput::Rgb8).unwrap_err();
        assert_eq!(err.reason(), "undecodable");
        // As stored, only the header is read: the consumer finds the damage.
        assert!(frame_from_bytes("t.png", truncated, FrameOutput::AsStored).is_ok());
        let err = frame_from_bytes("n.png", b"not an image".to_vec(), FrameOutput::AsStored).unwrap_err();
        assert!(matches!(err, ReadError::Format { .. }), "{err}");
        assert!(err.to_string().contains("n.png"), "{err}");
    }
}
