//! Turned parts: how far a frame is turned against the learned reference,
//! and the frame turned back.
//!
//! The angle comes from the edges: a histogram of gradient orientations
//! (0° to 180°, weighted by edge strength) turns with the picture, whatever
//! the part's position and the light's level, so the best circular match
//! with the reference's histogram is the frame's turn, refined on the
//! half-size luminance turned back by it. The part's position is then
//! found on that turned-back luminance, and each cell's blocks are taken
//! from where the turn put them (interpolated between pixels), so the rest
//! of the filter sees an upright part without the frame being turned back
//! whole. Cells whose corners come from outside the frame are not judged.

use crate::features::Geometry;
use crate::frame::FrameView;

/// Histogram bins over 180°: half a degree each.
const BINS: usize = 360;
const DEGREES_PER_BIN: f32 = 180.0 / BINS as f32;
/// Side of the blocks whose structure tensor gives one orientation, in
/// half-size pixels.
const BLOCK: usize = 16;
/// A block's orientation counts with its coherence (how much one
/// orientation dominates its structure tensor, 0 to 1) to this power:
/// straight edges count fully, the arcs of rings and dots (whose mean
/// orientation changes with where the block grid cuts them) hardly.
const COHERENCE_POWER: i32 = 4;
/// Turns below this are left alone: too small to move a cell's content.
pub(crate) const MIN_TURN_DEG: f32 = 0.1;
/// How often the turn is refined on the frame turned back by the estimate
/// so far: twice takes the last 0.05-0.1° that once left.
const REFINEMENTS: usize = 2;

/// The orientation histogram of a frame, smoothed over neighbouring bins
/// and normalised to a sum of 1.
///
/// The frame is averaged over 2x2 pixels to luminance, differentiated with
/// Sobel's operator, and each block's structure tensor (the sums of gx²,
/// gy² and gx·gy) gives the block's dominant gradient orientation, weighted
/// by how strongly one orientation dominates: straight edges count, noise
/// and corners hardly. A pixel's own gradient would not do: along an edge
/// turned a few degrees, pixel steps point along the axes.
pub(crate) fn orientation_histogram(frame: &FrameView, luma: &mut Vec<f32>, histogram: &mut Vec<f32>) {
    half_luma(frame, luma);
    luma_histogram(luma, frame.width as usize / 2, frame.height as usize / 2, histogram);
}

/// The frame averaged over 2x2 pixels to luminance (R+2G+B)/4. Each pair
/// of rows is added first, byte by byte, and each pair of pixels then
/// weighed: both loops are vector code.
fn half_luma(frame: &FrameView, luma: &mut Vec<f32>) {
    let (width, height) = (frame.width as usize / 2, frame.height as usize / 2);
    let stride = frame.width as usize * 3;
    let (red, blue) = frame.format.red_blue();
    luma.clear();
    luma.reserve(width * height);
    let mut pairs = vec![0u16; width * 6];
    for y in 0..height {
        let row = |r: usize| frame.data.get(r * stride..r * stride + width * 6);
        let (Some(top), Some(bottom)) = (row(2 * y), row(2 * y + 1)) else {
            break;
        };
        pairs.iter_mut().zip(top.iter().zip(bottom)).for_each(|(sum, (&a, &b))| *sum = a as u16 + b as u16);
        luma.extend(pairs.chunks_exact(6).map(|p| {
            let sum = p[red] + 2 * p[1] + p[blue] + p[3 + red] + 2 * p[4] + p[3 + blue];
            sum as f32 / 16.0
        }));
    }
}

/// The orientation histogram of a `width` × `height` luminance image.
fn luma_histogram(luma: &[f32], width: usize, height: usize, histogram: &mut Vec<f32>) {
    histogram.clear();
    histogram.resize(BINS, 0.0);
    if width < 3 || height < 3 || luma.len() < width * height {
        return;
    }
    // Tensor sums (gx², gy², gx·gy) over tiles of half a block; each block
    // is 2x2 tiles and blocks overlap by a tile, so a part that moved by a
    // few pixels is cut into blocks in much the same way. Each row's
    // gradients are taken at once, and each tile keeps a sum per column
    // of its pixels until its last row: both are vector code.
    const TILE: usize = BLOCK / 2;
    let (tiles_x, tiles_y) = ((width - 2) / TILE, (height - 2) / TILE);
    let mut tiles = vec![[0.0f32; 3]; tiles_x * tiles_y];
    let n = tiles_x * TILE;
    let (mut gx, mut gy) = (vec![0.0f32; n], vec![0.0f32; n]);
    let mut columns = vec![[[0.0f32; TILE]; 3]; tiles_x];
    for (ty, tile_row) in tiles.chunks_exact_mut(tiles_x).enumerate() {
        columns.iter_mut().for_each(|sums| *sums = [[0.0; TILE]; 3]);
        for y in 1 + ty * TILE..1 + (ty + 1) * TILE {
            let row = |dy: usize, dx: usize| &luma[(y + dy - 1) * width + dx..][..n];
            let (up_left, up, up_right) = (row(0, 0), row(0, 1), row(0, 2));
            let (left, right) = (row(1, 0), row(1, 2));
            let (down_left, down, down_right) = (row(2, 0), row(2, 1), row(2, 2));
            for i in 0..n {
                gx[i] = (up_right[i] - up_left[i]) + 2.0 * (right[i] - left[i]) + (down_right[i] - down_left[i]);
                gy[i] = (down_left[i] + 2.0 * down[i] + down_right[i]) - (up_left[i] + 2.0 * up[i] + up_right[i]);
            }
            for ((sums, gx), gy) in columns.iter_mut().zip(gx.chunks_exact(TILE)).zip(gy.chunks_exact(TILE)) {
                for k in 0..TILE {
                    sums[0][k] += gx[k] * gx[k];
                    sums[1][k] += gy[k] * gy[k];
                    sums[2][k] += gx[k] * gy[k];
                }
            }
        }
        for (tile, sums) in tile_row.iter_mut().zip(&columns) {
            *tile = sums.map(|lanes| lanes.iter().sum());
        }
    }
    for by in 0..tiles_y.saturating_sub(1) {
        for bx in 0..tiles_x.saturating_sub(1) {
            let at = |dx: usize, dy: usize| tiles[(by + dy) * tiles_x + bx + dx];
            let sum = |k: usize| at(0, 0)[k] + at(1, 0)[k] + at(0, 1)[k] + at(1, 1)[k];
            let (sxx, syy, sxy) = (sum(0), sum(1), sum(2));
            let (diff, cross) = (sxx - syy, 2.0 * sxy);
            let dominance = (diff * diff + cross * cross).sqrt();
            if dominance <= 0.0 {
                continue;
            }
            let mut angle = 0.5 * cross.atan2(diff).to_degrees();
            if angle < 0.0 {
                angle += 180.0;
            }
            // Split between the two nearest bins; the weight grows with the
            // square of the edge's contrast, so the part's strong outline
            // outweighs the weaker texture of a belt that does not turn
            // with it, and with its straightness.
            let coherence = dominance / (sxx + syy);
            let weight = dominance * coherence.powi(COHERENCE_POWER);
            let position = angle / DEGREES_PER_BIN;
            let low = position.floor();
            let fraction = position - low;
            let low = low as usize % BINS;
            histogram[low] += weight * (1.0 - fraction);
            histogram[(low + 1) % BINS] += weight * fraction;
        }
    }
    smooth(histogram);
    let total: f32 = histogram.iter().sum();
    if total > 0.0 {
        histogram.iter_mut().for_each(|v| *v /= total);
    }
}

/// A [1 2 3 2 1] filter, twice, around the circle: a half-degree error in
/// a turned edge must not miss its bin.
fn smooth(histogram: &mut [f32]) {
    let n = histogram.len();
    for _ in 0..2 {
        let copy = histogram.to_vec();
        for (i, v) in histogram.iter_mut().enumerate() {
            let at = |d: isize| copy[(i as isize + d).rem_euclid(n as isize) as usize];
            *v = (at(-2) + 2.0 * at(-1) + 3.0 * at(0) + 2.0 * at(1) + at(2)) / 9.0;
        }
    }
}

/// How many degrees `histogram` is turned against `reference`, within
/// ±`max_deg`: the best circular correlation, refined between bins by a
/// parabola through the best and its neighbours. 0 when either is empty.
pub(crate) fn turn_between(histogram: &[f32], reference: &[f32], max_deg: f32) -> f32 {
    if histogram.len() != BINS || reference.len() != BINS || histogram.iter().all(|v| *v == 0.0) {
        return 0.0;
    }
    let reach = (max_deg / DEGREES_PER_BIN).round() as isize;
    let correlation = |shift: isize| -> f32 {
        (0..BINS).map(|i| histogram[(i as isize + shift).rem_euclid(BINS as isize) as usize] * reference[i]).sum()
    };
    let scores: Vec<f32> = (-reach - 1..=reach + 1).map(correlation).collect();
    let best = (1..scores.len() - 1).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap_or(1);
    let (left, centre, right) = (scores[best - 1], scores[best], scores[best + 1]);
    let curvature = left - 2.0 * centre + right;
    let refine = if curvature < 0.0 { 0.5 * (left - right) / curvature } else { 0.0 };
    let shift = (best as isize - reach - 1) as f32 + refine.clamp(-0.5, 0.5);
    shift * DEGREES_PER_BIN
}

/// Buffers of [`estimate_turn`], kept from frame to frame.
#[derive(Debug, Default)]
pub(crate) struct TurnBuffers {
    /// The frame's half-size luminance.
    pub(crate) luma: Vec<f32>,
    /// The same turned back by the turn as estimated before its last
    /// refinement (a few hundredths of a degree from the result): what the
    /// shift of a turned frame is found on.
    pub(crate) luma_turned: Vec<f32>,
    /// The last orientation histogram.
    pub(crate) histogram: Vec<f32>,
    footing: Footing,
}

/// How many degrees `frame` is turned against `reference` (an orientation
/// histogram), within ±`max_deg`. Derivatives of sharp edges see a turned
/// edge about a tenth nearer the axes than it is, and edges that do not
/// turn with the part (a belt's) pull towards 0°, so the first estimate is
/// refined [`REFINEMENTS`] times on the frame turned back by it, where the
/// rest is small and so is its error. When the result is at least
/// [`MIN_TURN_DEG`], `buffers.luma_turned` holds the half-size luminance
/// turned back by the estimate before the last refinement.
pub(crate) fn estimate_turn(frame: &FrameView, reference: &[f32], max_deg: f32, buffers: &mut TurnBuffers) -> f32 {
    let TurnBuffers { luma, luma_turned, histogram, footing } = buffers;
    orientation_histogram(frame, luma, histogram);
    let first = turn_between(histogram, reference, max_deg);
    if first.abs() < MIN_TURN_DEG {
        return first;
    }
    // The refinement looks at the half-size luminance turned back: a
    // quarter of the pixels and one channel.
    let (width, height) = (frame.width as usize / 2, frame.height as usize / 2);
    let mut turn = first;
    for _ in 0..REFINEMENTS {
        turn_luma(luma, width, height, turn, luma_turned, footing);
        luma_histogram(luma_turned, width, height, histogram);
        turn = (turn + turn_between(histogram, reference, max_deg)).clamp(-max_deg, max_deg);
    }
    turn
}

/// A luminance image turned back by `degrees` about its centre into
/// `out`, interpolated between pixels.
fn turn_luma(luma: &[f32], width: usize, height: usize, degrees: f32, out: &mut Vec<f32>, footing: &mut Footing) {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    out.clear();
    if width < 2 || height < 2 || luma.len() < width * height {
        out.extend_from_slice(luma);
        return;
    }
    out.resize(width * height, 0.0);
    for (y, out_row) in out.chunks_exact_mut(width).enumerate() {
        // Source of this row's first pixel centre, and the step per pixel:
        // the image's content was turned by `degrees`, so each upright
        // pixel is fetched from where the turn put it.
        let (px0, py) = (0.5 - cx, y as f32 + 0.5 - cy);
        let origin = (cos * px0 - sin * py + cx - 0.5, sin * px0 + cos * py + cy - 0.5);
        footing.place(origin, (cos, sin), width, (width, height));
        for (((value, &at), &fx), &fy) in out_row.iter_mut().zip(&footing.at).zip(&footing.fx).zip(&footing.fy) {
            let at = at as usize;
            let (Some(upper), Some(lower)) = (luma.get(at..at + 2), luma.get(at + width..at + width + 2)) else {
                continue;
            };
            let top = upper[0] + fx * (upper[1] - upper[0]);
            let bottom = lower[0] + fx * (lower[1] - lower[0]);
            *value = top + fy * (bottom - top);
        }
    }
}

/// `x.floor() as i32` for 0 ≤ `x` < 2^23: adding 2^23 leaves the whole
/// part in the low bits of the sum's mantissa. Unlike `as`, which checks
/// for values beyond `i32` one at a time, this keeps [`Footing::place`]'s
/// loop vector code.
fn whole(x: f32) -> i32 {
    const TWO_TO_23: f32 = 8_388_608.0;
    ((x.floor() + TWO_TO_23).to_bits() - TWO_TO_23.to_bits()) as i32
}

/// Where points along a line fall on a grid of pixels, for interpolating
/// between the four around each: the upper left one's index (row-major)
/// and the fractions right and down from it. Kept between rows and frames.
///
/// A point beyond the grid takes the nearest edge; points stop one pixel
/// short of the right and bottom edges, so the four pixels always exist
/// (the edge one then weighs 1). Placing all the points of a row first is
/// vector code; the interpolation that follows then only fetches and
/// weighs.
#[derive(Debug, Default)]
pub(crate) struct Footing {
    pub(crate) at: Vec<u32>,
    pub(crate) fx: Vec<f32>,
    pub(crate) fy: Vec<f32>,
}

impl Footing {
    /// `count` points from `origin`, `step` apart, on a `size` (width,
    /// height) grid of at least 2x2 pixels.
    pub(crate) fn place(&mut self, origin: (f32, f32), step: (f32, f32), count: usize, size: (usize, usize)) {
        let (width, height) = size;
        let (max_x, max_y) = ((width - 1) as f32, (height - 1) as f32);
        let (last_left, last_top) = (width.saturating_sub(2) as i32, height.saturating_sub(2) as i32);
        let width = width as i32;
        self.at.resize(count, 0);
        self.fx.resize(count, 0.0);
        self.fy.resize(count, 0.0);
        for (i, ((at, fx), fy)) in self.at.iter_mut().zip(&mut self.fx).zip(&mut self.fy).enumerate() {
            let x = (origin.0 + i as f32 * step.0).clamp(0.0, max_x);
            let y = (origin.1 + i as f32 * step.1).clamp(0.0, max_y);
            let (left, top) = (whole(x).min(last_left), whole(y).min(last_top));
            *fx = x - left as f32;
            *fy = y - top as f32;
            *at = (top * width + left) as u32;
        }
    }
}

/// `frame` turned back by `degrees` about its centre into `out` (same size
/// and byte order), each pixel interpolated between its four source
/// pixels: a nearest-pixel turn leaves steps along every edge, which the
/// filter would read as texture. Pixels from beyond the frame repeat its
/// edge. `wide` holds the frame's pixels spread one per `u64`. Learning
/// turns its good images back with this; scoring takes the blocks it needs
/// straight from the turned frame ([`crate::features::turned_cell_features`]).
pub(crate) fn turn_back(frame: &FrameView, degrees: f32, wide: &mut Vec<u64>, out: &mut Vec<u8>) {
    let (width, height) = (frame.width as usize, frame.height as usize);
    out.clear();
    out.resize(width * height * 3, 0);
    if width < 2 || height < 2 || frame.data.len() < out.len() {
        let n = out.len().min(frame.data.len());
        out[..n].copy_from_slice(&frame.data[..n]);
        return;
    }
    // Each pixel's three channels in 16-bit lanes of one u64, so one
    // multiplication weighs all three: a channel times a weight of at most
    // 256 stays below 2^16.
    wide.clear();
    wide.extend(frame.data.chunks_exact(3).map(|p| p[0] as u64 | (p[1] as u64) << 16 | (p[2] as u64) << 32));
    const LANES: u64 = 0x00ff_00ff_00ff;
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    // Fixed point, 16 fractional bits: the inner loop is integer work.
    // Positions stop one pixel short of the right and bottom edges, so the
    // four source pixels always exist (the edge pixel gets the full weight).
    const ONE: f32 = 65_536.0;
    let (step_x, step_y) = ((cos * ONE) as i64, (sin * ONE) as i64);
    let (max_x, max_y) = ((((width - 1) as i64) << 16) - 1, (((height - 1) as i64) << 16) - 1);
    for (y, row) in out.chunks_exact_mut(width * 3).enumerate() {
        let (px0, py) = (0.5 - cx, y as f32 + 0.5 - cy);
        // Source of this row's first pixel centre, and the step per pixel:
        // the frame's content was turned by `degrees`, so each upright
        // pixel is fetched from where the turn put it.
        let mut sx = ((cos * px0 - sin * py + cx - 0.5) * ONE) as i64;
        let mut sy = ((sin * px0 + cos * py + cy - 0.5) * ONE) as i64;
        for pixel in row.chunks_exact_mut(3) {
            let (x, y) = (sx.clamp(0, max_x), sy.clamp(0, max_y));
            let at = (y >> 16) as usize * width + (x >> 16) as usize;
            // 8-bit weights: plenty for 8-bit pixels.
            let (fx, fy) = (((x >> 8) & 0xff) as u64, ((y >> 8) & 0xff) as u64);
            let (Some(upper), Some(lower)) = (wide.get(at..at + 2), wide.get(at + width..at + width + 2)) else {
                continue;
            };
            let top = ((upper[0] * (256 - fx) + upper[1] * fx + 0x0080_0080_0080) >> 8) & LANES;
            let bottom = ((lower[0] * (256 - fx) + lower[1] * fx + 0x0080_0080_0080) >> 8) & LANES;
            let value = ((top * (256 - fy) + bottom * fy + 0x0080_0080_0080) >> 8) & LANES;
            pixel[0] = value as u8;
            pixel[1] = (value >> 16) as u8;
            pixel[2] = (value >> 32) as u8;
            sx += step_x;
            sy += step_y;
        }
    }
}

/// Which cells of the grid (placed at `shift` in the turned-back frame)
/// lie wholly on pixels that came from inside the frame.
pub(crate) fn cells_inside(geometry: &Geometry, shift: (i32, i32), degrees: f32, inside: &mut Vec<bool>) {
    let (width, height) = (geometry.width as f32, geometry.height as f32);
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (width / 2.0, height / 2.0);
    let cell = geometry.cell_px() as f32;
    let source_inside = |x: f32, y: f32| {
        let (px, py) = (x - cx, y - cy);
        let (sx, sy) = (cos * px - sin * py + cx, sin * px + cos * py + cy);
        (0.0..=width).contains(&sx) && (0.0..=height).contains(&sy)
    };
    inside.clear();
    for row in 0..geometry.cells_y {
        for column in 0..geometry.cells_x {
            let x0 = column as f32 * cell + shift.0 as f32;
            let y0 = row as f32 * cell + shift.1 as f32;
            let corners = [(x0, y0), (x0 + cell, y0), (x0, y0 + cell), (x0 + cell, y0 + cell)];
            inside.push(corners.iter().all(|&(x, y)| source_inside(x, y)));
        }
    }
}

/// A point of the turned-back frame where it lies in the frame as it came.
pub(crate) fn to_frame(x: f32, y: f32, width: u32, height: u32, degrees: f32) -> (f32, f32) {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let (px, py) = (x - cx, y - cy);
    (cos * px - sin * py + cx, sin * px + cos * py + cy)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bright rectangle on dark, turned by `degrees`, each pixel the
    /// average of 4x4 samples as a camera's pixel integrates its area.
    fn turned_rectangle(degrees: f32) -> Vec<u8> {
        let (w, h) = (320usize, 240usize);
        let (sin, cos) = degrees.to_radians().sin_cos();
        let mut data = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let mut covered = 0.0f32;
                for (sx, sy) in (0..16).map(|i| ((i % 4) as f32 * 0.25 + 0.125, (i / 4) as f32 * 0.25 + 0.125)) {
                    let (px, py) = (x as f32 + sx - 160.0, y as f32 + sy - 120.0);
                    // Undo the turn to test against the upright rectangle.
                    let (ux, uy) = (cos * px + sin * py, -sin * px + cos * py);
                    covered += f32::from(u8::from(ux.abs() < 90.0 && uy.abs() < 60.0)) / 16.0;
                }
                let level = (40.0 + 160.0 * covered).round() as u8;
                data.extend_from_slice(&[level; 3]);
            }
        }
        data
    }

    #[test]
    fn the_turn_is_found_from_the_edges() {
        let (mut reference, mut luma) = (Vec::new(), Vec::new());
        let upright = turned_rectangle(0.0);
        orientation_histogram(&FrameView::rgb8(320, 240, &upright), &mut luma, &mut reference);
        let mut buffers = TurnBuffers::default();
        for degrees in [-9.0f32, -2.5, 4.0, 10.0] {
            let frame = turned_rectangle(degrees);
            let found = estimate_turn(&FrameView::rgb8(320, 240, &frame), &reference, 12.0, &mut buffers);
            assert!((found - degrees).abs() < 0.3, "{degrees}° turned, {found}° found");
        }
        assert_eq!(turn_between(&vec![0.0; BINS], &reference, 12.0), 0.0);
    }

    #[test]
    fn whole_parts_and_footings() {
        for x in [0.0f32, 0.25, 1.0, 1.99, 638.5, 8_000_000.7] {
            assert_eq!(whole(x), x.floor() as i32, "{x}");
        }
        // Points beyond the grid take its edge; the last pixel is reached as
        // the one before it with a fraction of 1.
        let mut footing = Footing::default();
        footing.place((-3.0, 1.25), (3.0, 0.5), 4, (6, 4));
        assert_eq!(footing.at, vec![6, 6, 12 + 3, 12 + 4]);
        assert_eq!(footing.fx, vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(footing.fy, vec![0.25, 0.75, 0.25, 0.75]);
    }

    #[test]
    fn turning_back_makes_the_part_upright() {
        let frame = turned_rectangle(8.0);
        let mut upright = Vec::new();
        turn_back(&FrameView::rgb8(320, 240, &frame), 8.0, &mut Vec::new(), &mut upright);
        let expected = turned_rectangle(0.0);
        let differing = upright.chunks_exact(3).zip(expected.chunks_exact(3)).filter(|(a, b)| a != b).count();
        // Only pixels along the rectangle's outline may differ (nearest pixel).
        assert!(differing < 1_400, "{differing} of {} pixels differ", 320 * 240);
        // The turned-back point lies where the turn put it.
        let (x, y) = to_frame(160.0 + 90.0, 120.0, 320, 240, 8.0);
        assert!((x - (160.0 + 90.0 * 8f32.to_radians().cos())).abs() < 1e-3 && y > 120.0, "({x}, {y})");
    }
}
