//! [`FrameView`]: a borrowed 8-bit colour frame, and the errors of the
//! filter.

use crate::settings::InvalidSettings;

/// Byte order of a pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Red, green, blue.
    Rgb8,
    /// Blue, green, red (OpenCV's order).
    Bgr8,
}

impl PixelFormat {
    /// Byte offsets of red and blue within a pixel.
    pub(crate) fn red_blue(self) -> (usize, usize) {
        match self {
            Self::Rgb8 => (0, 2),
            Self::Bgr8 => (2, 0),
        }
    }
}

/// A frame: `width` × `height` interleaved 3-byte pixels, rows packed
/// without padding.
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels, `width * height * 3` bytes.
    pub data: &'a [u8],
    pub format: PixelFormat,
}

impl<'a> FrameView<'a> {
    /// An RGB8 frame.
    pub fn rgb8(width: u32, height: u32, data: &'a [u8]) -> Self {
        Self { width, height, data, format: PixelFormat::Rgb8 }
    }

    /// A BGR8 frame.
    pub fn bgr8(width: u32, height: u32, data: &'a [u8]) -> Self {
        Self { width, height, data, format: PixelFormat::Bgr8 }
    }

    /// The number of bytes this frame's size needs.
    pub fn expected_len(&self) -> usize {
        self.width as usize * self.height as usize * 3
    }

    /// Checks that the frame is non-empty and that the buffer holds exactly
    /// its pixels.
    pub(crate) fn check(&self) -> Result<(), FilterError> {
        if self.width == 0 || self.height == 0 {
            return Err(FilterError::EmptyFrame { width: self.width, height: self.height });
        }
        if self.data.len() != self.expected_len() {
            return Err(FilterError::BufferSize {
                width: self.width,
                height: self.height,
                expected: self.expected_len(),
                got: self.data.len(),
            });
        }
        Ok(())
    }
}

/// Why the filter could not learn or score.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    /// One or more settings are out of range.
    #[error(transparent)]
    Settings(#[from] InvalidSettings),
    /// A frame with no pixels.
    #[error("frame is empty ({width}x{height})")]
    EmptyFrame { width: u32, height: u32 },
    /// The buffer does not hold exactly `width * height * 3` bytes.
    #[error("frame buffer has {got} bytes; a {width}x{height} frame needs exactly {expected}")]
    BufferSize { width: u32, height: u32, expected: usize, got: usize },
    /// A frame whose size differs from the size the model learned.
    #[error("frame is {got_width}x{got_height}; the model was learned at {width}x{height}")]
    SizeMismatch { width: u32, height: u32, got_width: u32, got_height: u32 },
    /// A good image in the learning set whose size differs from the first.
    #[error("good image {index} is {got_width}x{got_height}; the first is {width}x{height}")]
    MixedSizes {
        /// Its position in the set.
        index: usize,
        /// The first image's width.
        width: u32,
        /// The first image's height.
        height: u32,
        got_width: u32,
        got_height: u32,
    },
    /// The frame cannot hold two cells each way beyond the shift margin.
    #[error("frames of {width}x{height} are too small for cells of {cell} px (at least {min_width}x{min_height})")]
    FrameTooSmall {
        width: u32,
        height: u32,
        cell: u32,
        /// The least width.
        min_width: u32,
        /// The least height.
        min_height: u32,
    },
    /// Too few good images to learn their spread.
    #[error("learning needs at least {need} good images, got {got}")]
    TooFewImages { need: usize, got: usize },
}
