//! The image files of a folder, in the order a camera would have taken
//! them: by file name (recorders name frames by sequence number or time).
//! The camera source plays such a folder; the defect filter learns from one.

use std::path::{Path, PathBuf};

/// File extensions read as images (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// The image files directly in `dir`, sorted by name; other files and
/// sub-folders are left out.
pub fn image_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && is_image(path))
        .collect();
    files.sort();
    Ok(files)
}

/// Whether the file name has an image extension.
pub fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|known| e.eq_ignore_ascii_case(known)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_images_in_name_order() {
        let dir = std::env::temp_dir().join(format!("camera-folder-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub.png")).unwrap();
        for name in ["b.PNG", "a.jpg", "c.jpeg", "notes.txt", "truth.json"] {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        let names: Vec<String> =
            image_files(&dir).unwrap().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["a.jpg", "b.PNG", "c.jpeg"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
