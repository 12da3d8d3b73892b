//! The crop around a flagged frame's anomalous regions: what the model is
//! shown (small defects stay visible after the projector shrinks the image
//! to its input size) and what is stored for people to look at.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use shopfloor_core::schema::Region;

/// A rectangle of a frame, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    /// Width (≥ 1).
    pub width: u32,
    /// Height (≥ 1).
    pub height: u32,
}

/// The smallest rectangle holding every region, grown by `margin` on each
/// side and kept inside the frame; the whole frame when there is no region.
pub fn crop_rect(regions: &[Region], margin: u32, width: u32, height: u32) -> Rect {
    let inside: Vec<&Region> = regions.iter().filter(|r| r.x < width && r.y < height).collect();
    if inside.is_empty() || width == 0 || height == 0 {
        return Rect { x: 0, y: 0, width: width.max(1), height: height.max(1) };
    }
    let left = inside.iter().map(|r| r.x).min().unwrap_or(0).saturating_sub(margin);
    let top = inside.iter().map(|r| r.y).min().unwrap_or(0).saturating_sub(margin);
    let right =
        inside.iter().map(|r| r.x.saturating_add(r.width)).max().unwrap_or(width).saturating_add(margin).min(width);
    let bottom =
        inside.iter().map(|r| r.y.saturating_add(r.height)).max().unwrap_or(height).saturating_add(margin).min(height);
    Rect { x: left, y: top, width: (right - left).max(1), height: (bottom - top).max(1) }
}

/// The pixels of `rect` from a raw RGB frame (`frame_width` pixels across).
pub fn crop_rgb(rgb: &[u8], frame_width: u32, rect: Rect) -> Vec<u8> {
    let row_bytes = frame_width as usize * 3;
    let mut out = Vec::with_capacity(rect.width as usize * rect.height as usize * 3);
    for row in rect.y..rect.y + rect.height {
        let start = row as usize * row_bytes + rect.x as usize * 3;
        let end = start + rect.width as usize * 3;
        if let Some(line) = rgb.get(start..end) {
            out.extend_from_slice(line);
        }
    }
    out
}

/// A file name for a frame's crop: the frame id with anything but letters,
/// digits, `-` and `_` replaced, so no id can name a path elsewhere.
pub fn crop_file_name(frame_id: &str) -> String {
    let safe: String = frame_id
        .chars()
        .take(120)
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    format!("{}.png", if safe.is_empty() { "frame" } else { &safe })
}

/// Why a crop could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum CropError {
    #[error("cannot create the crops folder {path}")]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the crop {path} has {found} bytes, not {width}x{height} pixels")]
    Size { path: PathBuf, width: u32, height: u32, found: usize },
    #[error("cannot write the crop {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
}

/// Writes a crop as PNG under `dir`; returns its path.
pub fn store_crop(dir: &Path, frame_id: &str, rgb: Vec<u8>, rect: Rect) -> Result<PathBuf, CropError> {
    let path = dir.join(crop_file_name(frame_id));
    std::fs::create_dir_all(dir).map_err(|source| CropError::Folder { path: dir.to_owned(), source })?;
    let found = rgb.len();
    let image = image::RgbImage::from_raw(rect.width, rect.height, rgb).ok_or_else(|| CropError::Size {
        path: path.clone(),
        width: rect.width,
        height: rect.height,
        found,
    })?;
    image
        .save_with_format(&path, image::ImageFormat::Png)
        .map_err(|source| CropError::Write { path: path.clone(), source })?;
    Ok(path)
}

/// The crops on disk, oldest first, at most `keep` of them: a gateway that
/// runs for months must not fill its disk with pictures. Plain state: it
/// names the files to remove, the driver removes them.
#[derive(Debug)]
pub struct CropRetention {
    keep: usize,
    files: VecDeque<PathBuf>,
}

impl CropRetention {
    /// Keeps at most `keep` (≥ 1) crops, starting from `existing`, oldest first.
    pub fn new(keep: usize, existing: Vec<PathBuf>) -> Self {
        Self { keep: keep.max(1), files: existing.into() }
    }

    /// The PNG files already in `dir`, oldest first (by modification time),
    /// so a restarted node goes on from what its predecessor stored.
    pub fn existing_crops(dir: &Path) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut crops: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "png"))
            .filter_map(|path| Some((std::fs::metadata(&path).ok()?.modified().ok()?, path)))
            .collect();
        crops.sort();
        crops.into_iter().map(|(_, path)| path).collect()
    }

    /// `path` was just written (a frame id seen again overwrote its crop:
    /// it is now the newest); returns the oldest crops beyond the limit, to
    /// be removed.
    pub fn stored(&mut self, path: PathBuf) -> Vec<PathBuf> {
        if let Some(at) = self.files.iter().position(|file| *file == path) {
            self.files.remove(at);
        }
        self.files.push_back(path);
        let over = self.files.len().saturating_sub(self.keep);
        self.files.drain(..over).collect()
    }

    /// Crops kept now.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(x: u32, y: u32, width: u32, height: u32) -> Region {
        Region { x, y, width, height, score: 1.0 }
    }

    #[test]
    fn the_crop_holds_every_region_plus_margin_inside_the_frame() {
        let rect = crop_rect(&[region(10, 20, 5, 5), region(40, 30, 10, 10)], 8, 100, 50);
        assert_eq!(rect, Rect { x: 2, y: 12, width: 56, height: 36 });
        let edge = crop_rect(&[region(95, 45, 20, 20)], 8, 100, 50);
        assert_eq!(edge, Rect { x: 87, y: 37, width: 13, height: 13 });
        assert_eq!(crop_rect(&[], 8, 100, 50), Rect { x: 0, y: 0, width: 100, height: 50 });
    }

    #[test]
    fn crops_copy_the_right_pixels_and_store_as_png() {
        let (width, height) = (4u32, 3u32);
        let rgb: Vec<u8> = (0..width * height * 3).map(|i| i as u8).collect();
        let rect = Rect { x: 1, y: 1, width: 2, height: 2 };
        let crop = crop_rgb(&rgb, width, rect);
        assert_eq!(crop, vec![15, 16, 17, 18, 19, 20, 27, 28, 29, 30, 31, 32]);
        let dir = std::env::temp_dir().join(format!("vlm-crop-test-{}", std::process::id()));
        let path = store_crop(&dir, "../cam1/000042", crop, rect).unwrap();
        assert_eq!(path.file_name().unwrap(), "___cam1_000042.png");
        assert_eq!(image::open(&path).unwrap().to_rgb8().dimensions(), (2, 2));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn beyond_the_limit_the_oldest_crops_are_named_for_removal() {
        let path = |name: &str| PathBuf::from(format!("crops/{name}.png"));
        let mut kept = CropRetention::new(3, vec![path("a"), path("b")]);
        assert!(kept.stored(path("c")).is_empty());
        assert_eq!(kept.stored(path("d")), [path("a")]);
        // A frame id seen again overwrote its crop: it is the newest now.
        assert!(kept.stored(path("b")).is_empty());
        assert_eq!(kept.stored(path("e")), [path("c")]);
        assert_eq!(kept.len(), 3);
        assert_eq!(CropRetention::new(0, Vec::new()).stored(path("x")), Vec::<PathBuf>::new(), "at least one is kept");
    }

    #[test]
    fn existing_crops_are_found_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        for (name, age_secs) in [("new.png", 10), ("old.png", 100), ("notes.txt", 1000)] {
            let file = std::fs::File::create(dir.path().join(name)).unwrap();
            let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age_secs);
            file.set_modified(when).unwrap();
        }
        let found = CropRetention::existing_crops(dir.path());
        assert_eq!(found, [dir.path().join("old.png"), dir.path().join("new.png")]);
        assert!(CropRetention::existing_crops(&dir.path().join("missing")).is_empty());
    }
}
