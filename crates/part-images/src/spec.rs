//! What to render: [`PartSpec`] and its parts, and [`sample_set`], the
//! seeded list of specs a data set is made of.

use rand::RngCore;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::random::{uniform, uniform_int};

/// Largest part offset, in pixels at the reference size of 640x480 (scaled
/// with the image).
pub const MAX_OFFSET: i32 = 8;
/// The reference size all part and defect dimensions are given for.
pub const REFERENCE_SIZE: (u32, u32) = (640, 480);

/// The products the generator draws: two different parts, so that stage 1
/// is shown to learn a product from its own good parts rather than to suit
/// one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Product {
    /// A brushed, light grey machined plate with bolt holes, a boss and four
    /// slotted screws, on a dark belt with cleats.
    #[default]
    Plate,
    /// A populated circuit board: green solder mask, copper traces, a
    /// square controller, four chips, passives, a connector, silkscreen
    /// and mounting holes, on a blue-grey antistatic mat. Components sit
    /// within a pick-and-place tolerance that differs from board to board.
    Board,
}

impl Product {
    pub const ALL: [Product; 2] = [Self::Plate, Self::Board];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plate => "plate",
            Self::Board => "board",
        }
    }
}

impl std::str::FromStr for Product {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|product| product.as_str() == text).ok_or(())
    }
}

/// The kinds of defect the generator draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefectKind {
    /// A thin straight line, darker or brighter than the plate.
    Scratch,
    /// An elliptical depression: dark on one side, bright on the other.
    Dent,
    /// One of the four screws is absent; its tapped hole shows (on a board:
    /// one of the four chips, its pads bare).
    MissingPart,
    /// An oil, coolant, rust or dirt blob of another colour.
    Contamination,
}

impl DefectKind {
    /// Every kind, in the order [`sample_set`] cycles through them.
    pub const ALL: [DefectKind; 4] = [Self::Scratch, Self::Dent, Self::MissingPart, Self::Contamination];

    /// The name used in file names and `truth.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scratch => "scratch",
            Self::Dent => "dent",
            Self::MissingPart => "missing_part",
            Self::Contamination => "contamination",
        }
    }
}

impl std::fmt::Display for DefectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A defect to draw and, optionally, where.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DefectSpec {
    pub kind: DefectKind,
    /// Where, as fractions (0..=1) of the plate's free interior, left to
    /// right and top to bottom; `None` draws a place from the seed. A
    /// missing part takes the screw nearest to this point.
    pub position: Option<(f32, f32)>,
}

/// Everything that decides one image. The same spec always renders the
/// same bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartSpec {
    /// What is drawn.
    pub product: Product,
    /// Seeds the details not given here: belt phase, screw slot angles,
    /// defect shape and place, sensor noise.
    pub seed: u64,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Global brightness gain; 1.0 is nominal lighting.
    pub lighting: f32,
    /// The part's offset from the image centre, in pixels.
    pub offset: (i32, i32),
    /// Standard deviation of the per-channel sensor noise, in grey levels.
    pub noise: f32,
    /// The part turned on the belt about its own centre, in degrees
    /// (clockwise on screen; at most ±20); the belt stays as it is.
    pub turn_deg: f32,
    /// The defect, if the part has one.
    pub defect: Option<DefectSpec>,
}

impl PartSpec {
    /// A good part whose lighting (±10 %), offset (up to ±8 px at 640x480)
    /// and noise (σ 1 to 3 levels) are drawn from `seed`.
    pub fn good(seed: u64, width: u32, height: u32) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Stream 0 draws the variant; `render` uses other streams, so the
        // variant and the details stay independent.
        let max_offset = scaled_offset_limit(width, height);
        let lighting = uniform(&mut rng, 0.9, 1.1);
        let dx = uniform_int(&mut rng, -max_offset, max_offset);
        let dy = uniform_int(&mut rng, -max_offset, max_offset);
        let noise = uniform(&mut rng, 1.0, 3.0);
        Self {
            product: Product::Plate,
            seed,
            width,
            height,
            lighting,
            offset: (dx, dy),
            noise,
            turn_deg: 0.0,
            defect: None,
        }
    }

    /// The same part and variation, of `product`.
    pub fn of(self, product: Product) -> Self {
        Self { product, ..self }
    }

    /// A part like [`PartSpec::good`] with a defect of `kind` at a place
    /// drawn from `seed`.
    pub fn defective(seed: u64, width: u32, height: u32, kind: DefectKind) -> Self {
        Self { defect: Some(DefectSpec { kind, position: None }), ..Self::good(seed, width, height) }
    }

    /// The `kind` field of `truth.json`: `good` or the defect's name.
    pub fn label(&self) -> &'static str {
        self.defect.map_or("good", |d| d.kind.as_str())
    }
}

/// The offset limit for an image size: [`MAX_OFFSET`] scaled like the part.
pub fn scaled_offset_limit(width: u32, height: u32) -> i32 {
    let scale = scale_for(width, height);
    ((MAX_OFFSET as f32 * scale + 0.5).floor() as i32).max(1)
}

/// How much smaller or larger than the reference size the scene is drawn.
pub(crate) fn scale_for(width: u32, height: u32) -> f32 {
    let sx = width as f32 / REFERENCE_SIZE.0 as f32;
    let sy = height as f32 / REFERENCE_SIZE.1 as f32;
    sx.min(sy)
}

/// A ground-truth box in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TruthBox {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl TruthBox {
    /// Whether the pixel (`px`, `py`) lies inside.
    pub fn contains(&self, px: u32, py: u32) -> bool {
        px >= self.x && py >= self.y && px < self.x + self.width && py < self.y + self.height
    }
}

/// `good` good parts followed by `defective` defective ones, which cycle
/// through [`DefectKind::ALL`]. Each part's seed is drawn from `seed`, so a
/// set is reproducible and two sets with different seeds share no part.
pub fn sample_set(seed: u64, good: usize, defective: usize, width: u32, height: u32) -> Vec<PartSpec> {
    product_set(Product::Plate, seed, good, defective, width, height)
}

/// [`sample_set`] of `product`: the same seeds, lighting, offsets and noise.
pub fn product_set(
    product: Product,
    seed: u64,
    good: usize,
    defective: usize,
    width: u32,
    height: u32,
) -> Vec<PartSpec> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut specs = Vec::with_capacity(good + defective);
    for _ in 0..good {
        specs.push(PartSpec::good(rng.next_u64(), width, height).of(product));
    }
    for i in 0..defective {
        let kind = DefectKind::ALL[i % DefectKind::ALL.len()];
        specs.push(PartSpec::defective(rng.next_u64(), width, height, kind).of(product));
    }
    specs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_set_cycles_through_the_defect_kinds_after_the_good_parts() {
        let specs = sample_set(7, 3, 6, 320, 240);
        let labels: Vec<&str> = specs.iter().map(PartSpec::label).collect();
        assert_eq!(
            labels,
            ["good", "good", "good", "scratch", "dent", "missing_part", "contamination", "scratch", "dent"]
        );
    }

    #[test]
    fn good_variants_stay_within_their_bounds() {
        for spec in sample_set(11, 200, 0, 640, 480) {
            assert!((0.9..=1.1).contains(&spec.lighting), "{spec:?}");
            assert!(spec.offset.0.abs() <= MAX_OFFSET && spec.offset.1.abs() <= MAX_OFFSET, "{spec:?}");
            assert!((1.0..=3.0).contains(&spec.noise), "{spec:?}");
        }
    }

    #[test]
    fn offsets_scale_with_the_image() {
        assert_eq!(scaled_offset_limit(640, 480), 8);
        assert_eq!(scaled_offset_limit(320, 240), 4);
        assert_eq!(scaled_offset_limit(1280, 960), 16);
    }
}
