//! Renders a [`PartSpec`]: the product's scene (conveyor, plate, holes,
//! boss, screws; or the board's, in `board`), the defect, then lighting,
//! sensor noise and quantisation to 8-bit RGB.
//!
//! Determinism: every random draw comes from `ChaCha8Rng` seeded with the
//! spec's seed (a portable generator), on separate streams for the scene
//! details, the defect and the noise, so that adding a defect changes
//! nothing else in the image; the arithmetic is plain f32 (see
//! the `canvas` module).

use image::RgbImage;
use rand::RngCore;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::canvas::{coverage, length, rounded_rect_distance, Canvas, PixelRect, Rgb, Turn};
use crate::conditions::sin_cos_small;
use crate::defects::{self, Placed};
use crate::layout::{Layout, BORE_RADIUS, BOSS_RADIUS, CHAMFER_RADIUS, HOLE_RADIUS, SCREW_RADIUS};
use crate::random::{direction, uniform, uniform_int};
use crate::spec::{DefectKind, PartSpec, Product, TruthBox};

/// Smallest and largest image the generator draws.
pub const MIN_SIZE: (u32, u32) = (160, 120);
/// Largest width or height.
pub const MAX_SIDE: u32 = 8192;

const STREAM_DETAILS: u64 = 1;
const STREAM_DEFECT: u64 = 2;
const STREAM_NOISE: u64 = 3;
const STREAM_PLACEMENT: u64 = 4;

const CONVEYOR: Rgb = [56.0, 59.0, 64.0];
const PLATE: Rgb = [182.0, 185.0, 190.0];
const CHAMFER: Rgb = [150.0, 153.0, 158.0];
const HOLE: Rgb = [28.0, 29.0, 32.0];
const BOSS: Rgb = [160.0, 163.0, 168.0];
const SCREW: Rgb = [116.0, 119.0, 126.0];
const SLOT: Rgb = [52.0, 53.0, 57.0];
const TAPPED_HOLE: Rgb = [70.0, 72.0, 76.0];
/// Spacing of the conveyor belt's cleats, at the reference size.
const CLEAT_PITCH: f32 = 48.0;

/// A rendered image and its ground truth.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub image: RgbImage,
    /// The defect drawn and its box, if any.
    pub defect: Option<(DefectKind, TruthBox)>,
}

/// Why a spec cannot be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// The image is too small for the scene or unreasonably large.
    #[error("image size {width}x{height} is out of range (at least {}x{}, at most {MAX_SIDE} a side)", MIN_SIZE.0, MIN_SIZE.1)]
    Size { width: u32, height: u32 },
    /// The lighting gain is outside 0.5..=1.5.
    #[error("lighting {0} is out of range (must be 0.5 to 1.5)")]
    Lighting(f32),
    /// The noise level is negative or above 30.
    #[error("noise {0} is out of range (must be 0 to 30)")]
    Noise(f32),
    /// The part's turn is beyond ±20°.
    #[error("turn {0}° is out of range (at most 20° either way)")]
    Turn(f32),
    /// The offset would push the plate off the image.
    #[error("offset ({0}, {1}) is out of range (at most {2} px each way for this size)")]
    Offset(i32, i32, i32),
    /// A defect position is outside 0..=1.
    #[error("defect position ({0}, {1}) is out of range (fractions 0 to 1)")]
    Position(f32, f32),
}

/// Renders one image.
pub fn render(spec: &PartSpec) -> Result<Rendered, SpecError> {
    validate(spec)?;
    let (width, height) = (spec.width, spec.height);
    // A board lands anywhere between pixels, as on a real line; the plate
    // keeps its whole-pixel offsets (its sets stay as they were).
    let fraction = match spec.product {
        Product::Plate => (0.0, 0.0),
        Product::Board => {
            let mut placement = stream(spec.seed, STREAM_PLACEMENT);
            (uniform(&mut placement, -0.5, 0.5), uniform(&mut placement, -0.5, 0.5))
        }
    };
    let layout = Layout::of(spec.product, width, height, spec.offset, fraction);

    let mut details = stream(spec.seed, STREAM_DETAILS);
    let placed = spec.defect.map(|d| defects::place(d, &layout, &mut stream(spec.seed, STREAM_DEFECT)));
    let missing = match placed {
        Some(Placed::MissingPart { screw }) => Some(screw),
        _ => None,
    };

    // A part turned on the belt: everything but the belt is painted turned
    // about the part's centre.
    let turn = (spec.turn_deg != 0.0).then(|| {
        let (sin, cos) = sin_cos_small(spec.turn_deg.to_radians());
        Turn { centre: layout.centre, sin, cos }
    });
    let mut canvas = Canvas::new(width, height);
    match spec.product {
        Product::Plate => paint_plate_scene(&mut canvas, &layout, &mut details, missing, turn),
        Product::Board => crate::board::paint(&mut canvas, &layout, &mut details, missing, turn),
    }
    if let Some(placed) = &placed {
        defects::paint(placed, &mut canvas);
    }
    canvas.set_turn(None);

    let image = finish(&canvas, spec.lighting, spec.noise, &mut stream(spec.seed, STREAM_NOISE));
    let defect = spec.defect.zip(placed.as_ref()).map(|(d, p)| {
        let upright = defects::truth_box(p, &layout, width, height);
        (d.kind, turn.map_or(upright, |turn| turned_box(upright, turn, width, height)))
    });
    Ok(Rendered { image, defect })
}

/// The box around a box turned by `turn`, clipped to the image.
fn turned_box(b: TruthBox, turn: Turn, width: u32, height: u32) -> TruthBox {
    let (x0, y0, x1, y1) = (b.x as f32, b.y as f32, (b.x + b.width) as f32, (b.y + b.height) as f32);
    let corners = [(x0, y0), (x1, y0), (x0, y1), (x1, y1)].map(|p| turn.forward(p));
    let lo = corners.iter().fold((f32::MAX, f32::MAX), |m, c| (m.0.min(c.0), m.1.min(c.1)));
    let hi = corners.iter().fold((f32::MIN, f32::MIN), |m, c| (m.0.max(c.0), m.1.max(c.1)));
    let clip = |v: f32, max: u32| (v.max(0.0) as u32).min(max);
    let (left, top) = (clip(lo.0.floor(), width), clip(lo.1.floor(), height));
    let (right, bottom) = (clip(hi.0.ceil(), width), clip(hi.1.ceil(), height));
    TruthBox { x: left, y: top, width: right - left, height: bottom - top }
}

fn validate(spec: &PartSpec) -> Result<(), SpecError> {
    let (w, h) = (spec.width, spec.height);
    if w < MIN_SIZE.0 || h < MIN_SIZE.1 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(SpecError::Size { width: w, height: h });
    }
    if !(0.5..=1.5).contains(&spec.lighting) {
        return Err(SpecError::Lighting(spec.lighting));
    }
    if !(0.0..=30.0).contains(&spec.noise) {
        return Err(SpecError::Noise(spec.noise));
    }
    if !(-20.0..=20.0).contains(&spec.turn_deg) {
        return Err(SpecError::Turn(spec.turn_deg));
    }
    let limit = 2 * crate::spec::scaled_offset_limit(w, h);
    if spec.offset.0.abs() > limit || spec.offset.1.abs() > limit {
        return Err(SpecError::Offset(spec.offset.0, spec.offset.1, limit));
    }
    if let Some((x, y)) = spec.defect.and_then(|d| d.position) {
        if !(0.0..=1.0).contains(&x) || !(0.0..=1.0).contains(&y) {
            return Err(SpecError::Position(x, y));
        }
    }
    Ok(())
}

fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// The plate's scene: the belt, the plate, its holes, boss and screws (the
/// screw `missing` left out, its tapped hole showing).
fn paint_plate_scene(
    canvas: &mut Canvas,
    layout: &Layout,
    details: &mut impl RngCore,
    missing: Option<usize>,
    turn: Option<Turn>,
) {
    let cleat_phase = uniform_int(details, 0, 1023) as f32 / 1024.0;
    let slots: [(f32, f32); 4] = std::array::from_fn(|_| direction(details));
    paint_conveyor(canvas, layout, cleat_phase);
    canvas.set_turn(turn);
    paint_plate(canvas, layout);
    for &hole in &layout.holes {
        canvas.disc(hole, layout.px(CHAMFER_RADIUS), CHAMFER);
        canvas.disc(hole, layout.px(HOLE_RADIUS), HOLE);
    }
    canvas.disc(layout.boss, layout.px(BOSS_RADIUS), BOSS);
    canvas.disc(layout.boss, layout.px(BORE_RADIUS), HOLE);
    for (i, (&screw, &slot)) in layout.screws.iter().zip(&slots).enumerate() {
        if missing == Some(i) {
            canvas.disc(screw, layout.px(4.0).max(1.5), TAPPED_HOLE);
        } else {
            paint_screw(canvas, layout, screw, slot);
        }
    }
}

/// The belt: dark grey, a little lighter at the top, with darker cleats
/// across it at a phase that differs from image to image.
fn paint_conveyor(canvas: &mut Canvas, layout: &Layout, phase: f32) {
    let pitch = layout.px(CLEAT_PITCH);
    let cleat = layout.px(3.0).max(1.0);
    let height = canvas.height() as f32;
    let all = PixelRect { x0: 0, y0: 0, x1: canvas.width() as i32, y1: canvas.height() as i32 };
    canvas.paint(all, |x, y, _| {
        let along = x / pitch + phase;
        let in_cleat = (along - along.floor()) * pitch < cleat;
        let shade = 4.0 - 8.0 * y / height - if in_cleat { 9.0 } else { 0.0 };
        Some(([CONVEYOR[0] + shade, CONVEYOR[1] + shade, CONVEYOR[2] + shade], 1.0))
    });
}

/// The plate: brushed metal, brighter to the right, with faint streaks
/// along the brushing direction fixed to the plate.
fn paint_plate(canvas: &mut Canvas, layout: &Layout) {
    let (c, half) = (layout.centre, layout.half);
    let rect = PixelRect::around((c.0 - half.0, c.1 - half.1), (c.0 + half.0, c.1 + half.1));
    canvas.paint(rect, |x, y, _| {
        let d = rounded_rect_distance(x - c.0, y - c.1, half, layout.corner);
        coverage(d).map(|a| {
            let row = ((y - (c.1 - half.1)) / layout.scale).floor() as i32;
            let shade = 6.0 * (x - c.0) / half.0 + streak(row);
            ([PLATE[0] + shade, PLATE[1] + shade, PLATE[2] + shade], a)
        })
    });
}

/// −3..=3 grey levels for a plate row, from an integer hash.
fn streak(row: i32) -> f32 {
    let mut h = (row as u32).wrapping_mul(0x9E37_79B9);
    h ^= h >> 15;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    (h % 7) as f32 - 3.0
}

/// A round screw head lit from the top left, with a slot at `slot`'s angle.
fn paint_screw(canvas: &mut Canvas, layout: &Layout, centre: (f32, f32), slot: (f32, f32)) {
    let r = layout.px(SCREW_RADIUS);
    let rect = PixelRect::around((centre.0 - r, centre.1 - r), (centre.0 + r, centre.1 + r));
    canvas.paint(rect, |x, y, _| {
        let (dx, dy) = (x - centre.0, y - centre.1);
        coverage(length(dx, dy) - r).map(|a| {
            let shade = -22.0 * (dx + dy) / (r * std::f32::consts::SQRT_2);
            ([SCREW[0] + shade, SCREW[1] + shade, SCREW[2] + shade], a)
        })
    });
    let half = 0.75 * r;
    let from = (centre.0 - slot.0 * half, centre.1 - slot.1 * half);
    let to = (centre.0 + slot.0 * half, centre.1 + slot.1 * half);
    canvas.line(from, to, layout.px(2.2).max(1.0), SLOT, 1.0);
}

/// Lighting gain, then per-channel sensor noise (triangular, from two
/// bytes of one draw each, scaled to standard deviation `noise`), then
/// rounding to 8 bits.
fn finish(canvas: &Canvas, lighting: f32, noise: f32, rng: &mut impl RngCore) -> RgbImage {
    // Two uniform bytes summed: variance 2·(256²−1)/12, about 104² levels².
    let scale = noise / 104.5;
    let mut out = Vec::with_capacity(canvas.pixels().len() * 3);
    for pixel in canvas.pixels() {
        let draw = rng.next_u64().to_le_bytes();
        for c in 0..3 {
            let n = (draw[2 * c] as f32 + draw[2 * c + 1] as f32 - 255.0) * scale;
            let v = (pixel[c] * lighting + n + 0.5).floor().clamp(0.0, 255.0);
            out.push(v as u8);
        }
    }
    RgbImage::from_raw(canvas.width(), canvas.height(), out).expect("one RGB triple per canvas pixel")
}
