//! Deterministic test images for the vision inspection pipeline: a
//! machined plate on a conveyor (or, as a second product, a populated
//! circuit board on an antistatic mat: [`Product`]), good or with one
//! defect, and the defect's ground-truth box.
//!
//! The scene (at 640x480; everything scales with the image size): a dark
//! grey belt with cleats, a light grey brushed plate (384x288, rounded
//! corners) with four bolt holes, a central boss with a bore and four
//! slotted screws. Good parts vary in lighting (±10 %), position (±8 px in
//! x and y) and sensor noise (σ 1 to 3 levels); belt phase and screw slot
//! angles vary too. Defects ([`DefectKind`]) lie on the plate, clear of its
//! edge and features.
//!
//! The same [`PartSpec`] always gives the same bytes: all randomness comes
//! from `ChaCha8Rng` seeded from the spec, and the arithmetic is plain f32.
//!
//! | input | output |
//! |---|---|
//! | [`PartSpec`] | [`Rendered`]: an `RgbImage` and `Option<(DefectKind, TruthBox)>` |
//! | `sample_set(seed, good, defective, w, h)` | `Vec<PartSpec>` |
//! | `shopfloor images generate --out DIR` | images and `truth.json` |
//!
//! # Layout
//! - [`spec`]: what to render, and seeded sets of specs.
//! - [`render`]: painting a spec into an image (the plate's scene).
//! - `board`: the circuit board's scene.
//! - [`output`]: writing a set and its `truth.json`.
//! - [`conditions`]: what a real line does to the picture (rotation,
//!   sub-pixel shift, light drift, vignetting, motion blur, noise).

mod board;
mod canvas;
pub mod conditions;
mod defects;
mod layout;
pub mod output;
mod random;
pub mod render;
pub mod spec;

pub use conditions::{Condition, Conditions};
pub use render::{render, Rendered, SpecError};
pub use spec::{product_set, sample_set, DefectKind, DefectSpec, PartSpec, Product, TruthBox};

#[cfg(test)]
mod tests;
