//! A frame message to raw RGB the filter can score: raw frames are checked
//! against their metadata, PNG and JPEG frames decoded (bounded by the
//! metadata's size, so a forged header cannot make the decoder allocate
//! gigabytes).

use std::borrow::Cow;
use std::io::Cursor;

use shopfloor_core::schema::{FrameEncoding, FrameError, FrameMeta};

/// The frame's pixels as `rgb8` (borrowed when they already are).
pub fn to_rgb<'a>(meta: &FrameMeta, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, FrameError> {
    meta.check_len(bytes)?;
    let format = match meta.encoding {
        FrameEncoding::Rgb8 => return Ok(Cow::Borrowed(bytes)),
        FrameEncoding::Bgr8 => {
            let mut rgb = bytes.to_vec();
            for pixel in rgb.chunks_exact_mut(3) {
                pixel.swap(0, 2);
            }
            return Ok(Cow::Owned(rgb));
        }
        // A monochrome camera: grey becomes three equal channels, so the
        // filter learns and scores grey parts as it does colour ones.
        FrameEncoding::Mono8 => return Ok(Cow::Owned(bytes.iter().flat_map(|&grey| [grey; 3]).collect())),
        FrameEncoding::Png => image::ImageFormat::Png,
        FrameEncoding::Jpeg => image::ImageFormat::Jpeg,
    };
    let corrupt = |message: String| FrameError::Corrupt { encoding: meta.encoding.as_str(), message };
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(meta.width);
    limits.max_image_height = Some(meta.height);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| corrupt(e.to_string()))?.to_rgb8();
    if image.dimensions() != (meta.width, meta.height) {
        let (width, height) = image.dimensions();
        return Err(corrupt(format!(
            "the image is {width}x{height}, the metadata says {}x{}",
            meta.width, meta.height
        )));
    }
    Ok(Cow::Owned(image.into_raw()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(width: u32, height: u32, encoding: FrameEncoding) -> FrameMeta {
        FrameMeta { frame_id: "f".into(), ts_ms: 0, station: "s".into(), line: "l".into(), width, height, encoding }
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, _| image::Rgb([x as u8, 1, 2]));
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
        bytes
    }

    #[test]
    fn raw_frames_pass_and_bgr_is_turned_around() {
        let rgb = to_rgb(&meta(1, 1, FrameEncoding::Rgb8), &[1, 2, 3]).unwrap();
        assert!(matches!(rgb, Cow::Borrowed(_)));
        assert_eq!(&*to_rgb(&meta(1, 1, FrameEncoding::Bgr8), &[1, 2, 3]).unwrap(), &[3, 2, 1]);
        assert_eq!(to_rgb(&meta(2, 1, FrameEncoding::Rgb8), &[1, 2, 3]).unwrap_err().reason(), "wrong_length");
    }

    #[test]
    fn grey_frames_become_three_equal_channels() {
        assert_eq!(&*to_rgb(&meta(2, 1, FrameEncoding::Mono8), &[7, 200]).unwrap(), &[7, 7, 7, 200, 200, 200]);
        assert_eq!(to_rgb(&meta(2, 2, FrameEncoding::Mono8), &[7, 200]).unwrap_err().reason(), "wrong_length");
    }

    #[test]
    fn png_frames_are_decoded_and_checked() {
        assert_eq!(to_rgb(&meta(4, 2, FrameEncoding::Png), &png(4, 2)).unwrap().len(), 24);
        let mut truncated = png(64, 64);
        truncated.truncate(truncated.len() / 2);
        assert_eq!(to_rgb(&meta(64, 64, FrameEncoding::Png), &truncated).unwrap_err().reason(), "corrupt_image");
        // The header says larger than the metadata: refused, not allocated.
        assert_eq!(to_rgb(&meta(4, 2, FrameEncoding::Png), &png(8, 8)).unwrap_err().reason(), "corrupt_image");
        assert_eq!(to_rgb(&meta(4, 2, FrameEncoding::Jpeg), b"garbage").unwrap_err().reason(), "corrupt_image");
    }
}
