//! `frame`: one camera image. Following dora's image convention, the bytes
//! travel as a flat `UInt8` array and everything else in the message's
//! metadata parameters:
//!
//! | key | type | meaning |
//! |---|---|---|
//! | `width`, `height` | Integer | pixels |
//! | `encoding` | String | `rgb8`, `bgr8` (raw, row-major, 3 bytes a pixel), `jpeg` or `png` (a file's bytes) |
//! | `frame_id` | String | unique per frame (`<camera>-<sequence>`) |
//! | `ts_ms` | Integer | when the frame was taken, ms since epoch |
//! | `station`, `line` | String | where the camera looks (one topic level each) |
//!
//! Decoding checks every key and, for raw encodings, that the byte count is
//! `width * height * 3`; each failure has a short [`FrameError::reason`] that
//! nodes count rejected frames by.

use std::sync::Arc;

use dora_node_api::{MetadataParameters, Parameter};

use crate::arrow::array::{Array, ArrayRef, UInt8Array};

/// Largest accepted side, in pixels (a 16K frame); beyond it a frame is
/// refused before any buffer is sized from its metadata.
pub const MAX_FRAME_SIDE: u32 = 16_384;

/// How a frame's bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameEncoding {
    /// Raw red, green, blue bytes, row by row.
    Rgb8,
    /// Raw blue, green, red bytes (OpenCV's order).
    Bgr8,
    /// Raw grey bytes, one per pixel: a monochrome camera's `Mono8`.
    Mono8,
    /// A JPEG file.
    Jpeg,
    /// A PNG file.
    Png,
}

impl FrameEncoding {
    /// The name in the `encoding` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            FrameEncoding::Rgb8 => "rgb8",
            FrameEncoding::Bgr8 => "bgr8",
            FrameEncoding::Mono8 => "mono8",
            FrameEncoding::Jpeg => "jpeg",
            FrameEncoding::Png => "png",
        }
    }

    /// Parses an `encoding` parameter (case-insensitive, as dora's Python
    /// nodes write `RGB8`).
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "rgb8" => Some(FrameEncoding::Rgb8),
            "bgr8" => Some(FrameEncoding::Bgr8),
            "mono8" => Some(FrameEncoding::Mono8),
            "jpeg" | "jpg" => Some(FrameEncoding::Jpeg),
            "png" => Some(FrameEncoding::Png),
            _ => None,
        }
    }

    /// Whether the bytes are pixels (as opposed to a compressed file).
    pub fn is_raw(self) -> bool {
        self.bytes_per_pixel().is_some()
    }

    /// Bytes per pixel of a raw encoding (`None` for compressed ones).
    pub fn bytes_per_pixel(self) -> Option<usize> {
        match self {
            FrameEncoding::Rgb8 | FrameEncoding::Bgr8 => Some(3),
            FrameEncoding::Mono8 => Some(1),
            FrameEncoding::Jpeg | FrameEncoding::Png => None,
        }
    }
}

/// Why a frame was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The data is not a `UInt8` array.
    #[error("frame: expected a UInt8 array, got {found}")]
    NotBytes {
        /// The Arrow type that arrived.
        found: String,
    },
    /// A metadata key is missing or has the wrong type.
    #[error("frame: metadata `{key}` is missing or not {expected}")]
    Metadata {
        key: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// The encoding is not one this project reads.
    #[error("frame: unsupported encoding {0:?} (supported: rgb8, bgr8, mono8, jpeg, png)")]
    UnsupportedEncoding(String),
    /// Width or height is zero or too large.
    #[error("frame: size {width}x{height} is out of range (1..={MAX_FRAME_SIDE} each side)")]
    BadSize {
        /// Width from the metadata.
        width: i64,
        /// Height from the metadata.
        height: i64,
    },
    /// A raw frame's byte count does not match its size.
    #[error("frame: {width}x{height} {encoding} needs {expected} bytes, got {found}")]
    WrongLength {
        width: u32,
        height: u32,
        encoding: &'static str,
        /// Bytes the size needs.
        expected: usize,
        found: usize,
    },
    /// A compressed frame could not be decoded.
    #[error("frame: cannot decode {encoding} image: {message}")]
    Corrupt { encoding: &'static str, message: String },
    /// The frame's size differs from what the consumer was set up for.
    #[error("frame: size {width}x{height} differs from the expected {expected_width}x{expected_height}")]
    UnexpectedSize {
        /// Width of the frame.
        width: u32,
        /// Height of the frame.
        height: u32,
        expected_width: u32,
        expected_height: u32,
    },
}

impl FrameError {
    /// A short, stable label for counting rejections (`reason` in metrics).
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::NotBytes { .. } => "not_bytes",
            FrameError::Metadata { .. } => "bad_metadata",
            FrameError::UnsupportedEncoding(_) => "unsupported_encoding",
            FrameError::BadSize { .. } => "bad_size",
            FrameError::WrongLength { .. } => "wrong_length",
            FrameError::Corrupt { .. } => "corrupt_image",
            FrameError::UnexpectedSize { .. } => "wrong_size",
        }
    }
}

/// Everything about a frame except its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameMeta {
    /// Unique per frame.
    pub frame_id: String,
    /// When it was taken (ms since epoch).
    pub ts_ms: i64,
    /// Station the camera watches.
    pub station: String,
    /// Production line of the station.
    pub line: String,
    pub width: u32,
    pub height: u32,
    /// Layout of the bytes.
    pub encoding: FrameEncoding,
}

impl FrameMeta {
    /// The metadata parameters of a frame message.
    pub fn to_parameters(&self) -> MetadataParameters {
        let mut parameters = MetadataParameters::new();
        parameters.insert("width".into(), Parameter::Integer(i64::from(self.width)));
        parameters.insert("height".into(), Parameter::Integer(i64::from(self.height)));
        parameters.insert("encoding".into(), Parameter::String(self.encoding.as_str().into()));
        parameters.insert("frame_id".into(), Parameter::String(self.frame_id.clone()));
        parameters.insert("ts_ms".into(), Parameter::Integer(self.ts_ms));
        parameters.insert("station".into(), Parameter::String(self.station.clone()));
        parameters.insert("line".into(), Parameter::String(self.line.clone()));
        parameters
    }

    /// Reads a frame's metadata; `width`, `height` and `encoding` are
    /// required, the rest default (`frame_id` empty, `ts_ms` 0, `station`
    /// and `line` empty) so that frames from other dora camera nodes work.
    pub fn from_parameters(parameters: &MetadataParameters) -> Result<Self, FrameError> {
        let integer = |key: &'static str| match parameters.get(key) {
            Some(Parameter::Integer(value)) => Ok(Some(*value)),
            None => Ok(None),
            Some(_) => Err(FrameError::Metadata { key, expected: "an integer" }),
        };
        let string = |key: &'static str| match parameters.get(key) {
            Some(Parameter::String(value)) => Ok(Some(value.clone())),
            None => Ok(None),
            Some(_) => Err(FrameError::Metadata { key, expected: "a string" }),
        };
        let width = integer("width")?.ok_or(FrameError::Metadata { key: "width", expected: "an integer" })?;
        let height = integer("height")?.ok_or(FrameError::Metadata { key: "height", expected: "an integer" })?;
        let side = |value: i64| u32::try_from(value).ok().filter(|v| (1..=MAX_FRAME_SIDE).contains(v));
        let (Some(w), Some(h)) = (side(width), side(height)) else {
            return Err(FrameError::BadSize { width, height });
        };
        let encoding_text =
            string("encoding")?.ok_or(FrameError::Metadata { key: "encoding", expected: "a string" })?;
        let encoding = FrameEncoding::parse(&encoding_text).ok_or(FrameError::UnsupportedEncoding(encoding_text))?;
        Ok(Self {
            frame_id: string("frame_id")?.unwrap_or_default(),
            ts_ms: integer("ts_ms")?.unwrap_or(0),
            station: string("station")?.unwrap_or_default(),
            line: string("line")?.unwrap_or_default(),
            width: w,
            height: h,
            encoding,
        })
    }

    /// Bytes a raw frame of this size has (`None` for compressed ones).
    pub fn raw_len(&self) -> Option<usize> {
        self.encoding.bytes_per_pixel().map(|bytes| self.width as usize * self.height as usize * bytes)
    }

    /// Checks that `bytes` fit the metadata (raw frames only; compressed
    /// ones are checked when decoded).
    pub fn check_len(&self, bytes: &[u8]) -> Result<(), FrameError> {
        match self.raw_len() {
            Some(expected) if expected != bytes.len() => Err(FrameError::WrongLength {
                width: self.width,
                height: self.height,
                encoding: self.encoding.as_str(),
                expected,
                found: bytes.len(),
            }),
            _ => Ok(()),
        }
    }
}

/// A frame's bytes as the message data.
pub fn frame_to_arrow(bytes: Vec<u8>) -> ArrayRef {
    Arc::new(UInt8Array::from(bytes))
}

/// The bytes of a frame message (no copy).
pub fn frame_bytes(array: &dyn Array) -> Result<&[u8], FrameError> {
    let bytes = array
        .as_any()
        .downcast_ref::<UInt8Array>()
        .ok_or_else(|| FrameError::NotBytes { found: array.data_type().to_string() })?;
    Ok(bytes.values().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> FrameMeta {
        FrameMeta {
            frame_id: "cam1-000001".into(),
            ts_ms: 1_764_000_000_000,
            station: "station3".into(),
            line: "line1".into(),
            width: 4,
            height: 2,
            encoding: FrameEncoding::Rgb8,
        }
    }

    #[test]
    fn metadata_survives_a_round_trip() {
        assert_eq!(FrameMeta::from_parameters(&meta().to_parameters()).unwrap(), meta());
    }

    #[test]
    fn foreign_frames_need_only_size_and_encoding() {
        let mut parameters = MetadataParameters::new();
        parameters.insert("width".into(), Parameter::Integer(640));
        parameters.insert("height".into(), Parameter::Integer(480));
        parameters.insert("encoding".into(), Parameter::String("BGR8".into()));
        let meta = FrameMeta::from_parameters(&parameters).unwrap();
        assert_eq!((meta.width, meta.height, meta.encoding), (640, 480, FrameEncoding::Bgr8));
        assert_eq!(meta.raw_len(), Some(640 * 480 * 3));
    }

    #[test]
    fn each_bad_frame_has_its_reason() {
        let mut parameters = meta().to_parameters();
        parameters.insert("encoding".into(), Parameter::String("yuv420".into()));
        assert_eq!(FrameMeta::from_parameters(&parameters).unwrap_err().reason(), "unsupported_encoding");
        parameters.insert("encoding".into(), Parameter::Integer(3));
        let err = FrameMeta::from_parameters(&parameters).unwrap_err();
        assert!(err.to_string().contains("encoding"), "{err}");
        let mut parameters = meta().to_parameters();
        parameters.insert("width".into(), Parameter::Integer(0));
        assert_eq!(FrameMeta::from_parameters(&parameters).unwrap_err().reason(), "bad_size");
        parameters.insert("width".into(), Parameter::Integer(1 << 40));
        assert_eq!(FrameMeta::from_parameters(&parameters).unwrap_err().reason(), "bad_size");
        parameters.remove("width");
        assert_eq!(FrameMeta::from_parameters(&parameters).unwrap_err().reason(), "bad_metadata");
        assert_eq!(meta().check_len(&[0; 23]).unwrap_err().reason(), "wrong_length");
        assert!(meta().check_len(&[0; 24]).is_ok());
    }

    #[test]
    fn a_monochrome_frame_has_one_byte_a_pixel() {
        let mono = FrameMeta { encoding: FrameEncoding::Mono8, ..meta() };
        assert_eq!(FrameMeta::from_parameters(&mono.to_parameters()).unwrap(), mono);
        assert_eq!(mono.raw_len(), Some(8));
        assert_eq!(mono.check_len(&[0; 24]).unwrap_err().reason(), "wrong_length");
    }

    #[test]
    fn only_uint8_arrays_are_frames() {
        let bytes = frame_to_arrow(vec![1, 2, 3]);
        assert_eq!(frame_bytes(bytes.as_ref()).unwrap(), &[1, 2, 3]);
        let other: ArrayRef = Arc::new(crate::arrow::array::Int32Array::from(vec![1]));
        assert_eq!(frame_bytes(other.as_ref()).unwrap_err().reason(), "not_bytes");
    }
}
