//! Test material of the vision dataflow: camera folders rendered with the
//! project's part-image generator, and the tiny random-weight VLM written
//! by tests/python/make_tiny_vlm.py.

use std::path::{Path, PathBuf};
use std::process::Command;

use part_images::{render, DefectKind, PartSpec};

use crate::repo_root;

/// Frame size of the rendered parts.
pub const WIDTH: u32 = 640;
/// Frame size of the rendered parts.
pub const HEIGHT: u32 = 480;

/// Writes `spec` as PNG at `path`.
pub fn write_part(path: &Path, spec: &PartSpec) -> anyhow::Result<()> {
    let rendered = render(spec)?;
    rendered.image.save_with_format(path, image::ImageFormat::Png)?;
    Ok(())
}

/// A folder of `count` good parts to learn from (seeds from `first_seed`).
pub fn good_parts(dir: &Path, count: u64, first_seed: u64) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    for n in 0..count {
        write_part(&dir.join(format!("good-{n:04}.png")), &PartSpec::good(first_seed + n, WIDTH, HEIGHT))?;
    }
    Ok(dir.to_path_buf())
}

/// A defective part of `kind`.
pub fn defective(seed: u64, kind: DefectKind) -> PartSpec {
    PartSpec::defective(seed, WIDTH, HEIGHT, kind)
}

/// The tiny VLM's files (language model and projectors), written once per
/// build tree: the same seed gives the same bytes, so a later test reuses them.
pub fn tiny_vlm() -> anyhow::Result<PathBuf> {
    let dir = repo_root().join("target/test-scratch/tiny-vlm");
    if dir.join("tiny-vlm-mmproj-idefics3.gguf").exists() {
        return Ok(dir);
    }
    // Written beside and renamed, so no test ever sees half a file.
    let partial = dir.with_extension(format!("partial-{}", std::process::id()));
    let status = Command::new(repo_root().join(".venv/bin/python"))
        .arg(repo_root().join("tests/python/make_tiny_vlm.py"))
        .arg(repo_root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf"))
        .arg(&partial)
        .status()?;
    anyhow::ensure!(status.success(), "make_tiny_vlm.py failed (scripts/test.sh installs gguf into .venv)");
    if std::fs::rename(&partial, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    Ok(dir)
}
