//! Placing and painting the four defect kinds, and their ground-truth
//! boxes.
//!
//! Sizes are at the 640x480 reference and scale with the image, but never
//! below what stays visible (a scratch at least 1.5 px wide, 24 px long).
//! A defect is placed on the plate, clear of its edge and of every hole,
//! screw and the boss; a random place is redrawn until it fits.

use rand::RngCore;

use crate::canvas::{coverage, length, Canvas, PixelRect, Rgb};
use crate::layout::{Circle, Layout};
use crate::random::{direction, uniform, uniform_int};
use crate::spec::{DefectKind, DefectSpec, TruthBox};

/// Redraws of a random place before the last one is taken as it is.
const PLACEMENT_TRIES: usize = 200;

/// The colours contamination comes in: oil, coolant, rust, dirt.
const CONTAMINANTS: [Rgb; 4] = [[92.0, 66.0, 34.0], [64.0, 122.0, 112.0], [158.0, 78.0, 40.0], [78.0, 70.0, 60.0]];

/// A defect with its shape fixed.
#[derive(Debug, Clone)]
pub(crate) enum Placed {
    Scratch { from: (f32, f32), to: (f32, f32), width: f32, colour: Rgb },
    Dent { centre: (f32, f32), axes: (f32, f32), major: (f32, f32), amplitude: f32 },
    MissingPart { screw: usize },
    Contamination { blobs: Vec<Circle>, colour: Rgb },
}

/// Fixes a defect's shape and place from `rng`, or from its position.
pub(crate) fn place(spec: DefectSpec, layout: &Layout, rng: &mut impl RngCore) -> Placed {
    let ((left, top), (right, bottom)) = layout.interior();
    let centre = |rng: &mut dyn RngCore| match spec.position {
        Some((fx, fy)) => (left + fx * (right - left), top + fy * (bottom - top)),
        None => (uniform(rng, left, right), uniform(rng, top, bottom)),
    };
    let min_px = |reference: f32, floor: f32| layout.px(reference).max(floor);
    match spec.kind {
        DefectKind::MissingPart => {
            let at = centre(rng);
            let screw = match spec.position {
                Some(_) => nearest(&layout.screws, at),
                None => uniform_int(rng, 0, 3) as usize,
            };
            Placed::MissingPart { screw }
        }
        DefectKind::Scratch => retry(rng, layout, |rng| {
            let length = uniform(rng, min_px(40.0, 24.0), min_px(120.0, 24.0));
            let width = uniform(rng, min_px(2.0, 1.5), min_px(4.0, 1.5));
            let (ux, uy) = direction(rng);
            let c = centre(rng);
            let half = length / 2.0;
            let from = (c.0 - ux * half, c.1 - uy * half);
            let to = (c.0 + ux * half, c.1 + uy * half);
            let colour = if rng.next_u32() % 2 == 0 { [112.0, 114.0, 119.0] } else { [240.0, 241.0, 243.0] };
            Placed::Scratch { from, to, width, colour }
        }),
        DefectKind::Dent => retry(rng, layout, |rng| {
            let a = uniform(rng, min_px(14.0, 7.0), min_px(28.0, 7.0));
            let b = a * uniform(rng, 0.55, 0.9);
            let major = direction(rng);
            let amplitude = uniform(rng, 40.0, 55.0);
            Placed::Dent { centre: centre(rng), axes: (a, b), major, amplitude }
        }),
        DefectKind::Contamination => retry(rng, layout, |rng| {
            let r0 = uniform(rng, min_px(9.0, 4.0), min_px(16.0, 4.0));
            let c = centre(rng);
            let mut blobs = vec![(c, r0)];
            for _ in 0..uniform_int(rng, 2, 5) {
                let (ux, uy) = direction(rng);
                let d = uniform(rng, 0.4, 1.0) * r0;
                blobs.push(((c.0 + ux * d, c.1 + uy * d), r0 * uniform(rng, 0.45, 0.85)));
            }
            let colour = CONTAMINANTS[uniform_int(rng, 0, 3) as usize];
            Placed::Contamination { blobs, colour }
        }),
    }
}

/// Draws shapes until one fits the plate and misses every feature. With a
/// fixed position the draw is not random in place, so a shape that does not
/// fit is taken anyway: the caller asked for that spot.
fn retry<R: RngCore>(rng: &mut R, layout: &Layout, mut draw: impl FnMut(&mut R) -> Placed) -> Placed {
    let mut placed = draw(rng);
    for _ in 1..PLACEMENT_TRIES {
        if fits(&placed, layout) {
            break;
        }
        placed = draw(rng);
    }
    placed
}

fn nearest(points: &[(f32, f32)], at: (f32, f32)) -> usize {
    let distance = |p: &(f32, f32)| length(p.0 - at.0, p.1 - at.1);
    (0..points.len()).fold(0, |best, i| if distance(&points[i]) < distance(&points[best]) { i } else { best })
}

/// The circles that cover a placed shape, for the fit test.
fn outline(placed: &Placed, layout: &Layout) -> Vec<Circle> {
    match placed {
        Placed::Scratch { from, to, width, .. } => {
            let steps = (length(to.0 - from.0, to.1 - from.1) / 4.0).ceil().max(1.0) as usize;
            (0..=steps)
                .map(|i| {
                    let t = i as f32 / steps as f32;
                    ((from.0 + (to.0 - from.0) * t, from.1 + (to.1 - from.1) * t), width / 2.0)
                })
                .collect()
        }
        Placed::Dent { centre, axes, .. } => vec![(*centre, axes.0)],
        Placed::MissingPart { screw } => vec![(layout.screws[*screw], layout.part_reach)],
        Placed::Contamination { blobs, .. } => blobs.clone(),
    }
}

fn fits(placed: &Placed, layout: &Layout) -> bool {
    let keep_outs = layout.keep_outs();
    outline(placed, layout).iter().all(|&(c, r)| {
        layout.in_defect_area(c)
            && layout.on_plate(c, r + layout.px(4.0))
            && keep_outs.iter().all(|&(k, kr)| length(c.0 - k.0, c.1 - k.1) > r + kr)
    })
}

/// The ground-truth box: the shape's extent, rounded outwards and clipped
/// to the image.
pub(crate) fn truth_box(placed: &Placed, layout: &Layout, width: u32, height: u32) -> TruthBox {
    let (lo, hi) = match placed {
        Placed::Scratch { from, to, width, .. } => {
            let h = width / 2.0;
            ((from.0.min(to.0) - h, from.1.min(to.1) - h), (from.0.max(to.0) + h, from.1.max(to.1) + h))
        }
        Placed::Dent { centre, axes, major, .. } => {
            let (hx, hy) = ellipse_half_extent(*axes, *major);
            ((centre.0 - hx, centre.1 - hy), (centre.0 + hx, centre.1 + hy))
        }
        Placed::MissingPart { .. } | Placed::Contamination { .. } => {
            let circles = outline(placed, layout);
            let lo = circles.iter().fold((f32::MAX, f32::MAX), |m, &(c, r)| (m.0.min(c.0 - r), m.1.min(c.1 - r)));
            let hi = circles.iter().fold((f32::MIN, f32::MIN), |m, &(c, r)| (m.0.max(c.0 + r), m.1.max(c.1 + r)));
            (lo, hi)
        }
    };
    let x0 = (lo.0.floor().max(0.0) as u32).min(width);
    let y0 = (lo.1.floor().max(0.0) as u32).min(height);
    let x1 = (hi.0.ceil().max(0.0) as u32).min(width);
    let y1 = (hi.1.ceil().max(0.0) as u32).min(height);
    TruthBox { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }
}

/// Half the width and height of the box around an ellipse with semi-axes
/// `axes` whose major axis points along `major`.
fn ellipse_half_extent(axes: (f32, f32), major: (f32, f32)) -> (f32, f32) {
    let (a, b) = axes;
    let (ux, uy) = major;
    ((a * a * ux * ux + b * b * uy * uy).sqrt(), (a * a * uy * uy + b * b * ux * ux).sqrt())
}

/// Paints a defect that lies on top of the plate (a missing part is left
/// out while the screws are painted instead).
pub(crate) fn paint(placed: &Placed, canvas: &mut Canvas) {
    match placed {
        Placed::Scratch { from, to, width, colour } => canvas.line(*from, *to, *width, *colour, 0.9),
        Placed::Dent { centre, axes, major, amplitude } => paint_dent(canvas, *centre, *axes, *major, *amplitude),
        Placed::MissingPart { .. } => {}
        Placed::Contamination { blobs, colour } => paint_blob(canvas, blobs, *colour),
    }
}

/// A depression lit from the top left: in ellipse coordinates (e, f) with
/// k² = e² + f² < 1, the shading is −2·A·(e·lx + f·ly)·(1 − k²), up to
/// ±0.77·A, plus a slight darkening towards the middle.
fn paint_dent(canvas: &mut Canvas, centre: (f32, f32), axes: (f32, f32), major: (f32, f32), amplitude: f32) {
    let (hx, hy) = ellipse_half_extent(axes, major);
    let rect = PixelRect::around((centre.0 - hx, centre.1 - hy), (centre.0 + hx, centre.1 + hy));
    let (ux, uy) = major;
    // The light direction (−1, −1)/√2 expressed in the ellipse's own axes.
    let light = (-(ux + uy) * std::f32::consts::FRAC_1_SQRT_2, -(-uy + ux) * std::f32::consts::FRAC_1_SQRT_2);
    canvas.paint(rect, |x, y, current| {
        let (dx, dy) = (x - centre.0, y - centre.1);
        let e = (dx * ux + dy * uy) / axes.0;
        let f = (-dx * uy + dy * ux) / axes.1;
        let k2 = e * e + f * f;
        if k2 >= 1.0 {
            return None;
        }
        let depth = 1.0 - k2;
        let shade = -2.0 * amplitude * (e * light.0 + f * light.1) * depth - 12.0 * depth;
        Some(([current[0] + shade, current[1] + shade, current[2] + shade], 1.0))
    });
}

/// A blob: the union of discs, 85 % opaque, with soft edges.
fn paint_blob(canvas: &mut Canvas, blobs: &[Circle], colour: Rgb) {
    let lo = blobs.iter().fold((f32::MAX, f32::MAX), |m, &(c, r)| (m.0.min(c.0 - r), m.1.min(c.1 - r)));
    let hi = blobs.iter().fold((f32::MIN, f32::MIN), |m, &(c, r)| (m.0.max(c.0 + r), m.1.max(c.1 + r)));
    canvas.paint(PixelRect::around(lo, hi), |x, y, _| {
        let d = blobs.iter().map(|&(c, r)| length(x - c.0, y - c.1) - r).fold(f32::MAX, f32::min);
        coverage(d).map(|a| (colour, 0.85 * a))
    });
}
