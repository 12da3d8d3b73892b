//! The per-frame work, in three passes over the frame's bytes and none per
//! pixel allocation:
//!
//! 1. [`profiles`]: sums of R+G+B per column and per row, normalised to a
//!    mean of 1 (so a brightness gain does not change them);
//!    [`best_shift`] finds the translation that matches them to the
//!    reference's (least absolute difference).
//! 2. [`cell_features`]: the shifted frame averaged over `d`×`d` blocks to
//!    luminance (R+2G+B)/4 and two colour differences (R−B, 2G−R−B), which
//!    are summed per cell on the way.
//! 3. The same function then sums luminance and its gradient magnitude
//!    (|∂x| + |∂y| between neighbouring blocks) per cell.
//!
//! Feature order per cell: [`LUMA`], [`GRADIENT`], [`RED_BLUE`],
//! [`GREEN_MAGENTA`].

use crate::frame::{FilterError, FrameView};
use crate::settings::FilterSettings;

/// Number of features per cell.
pub(crate) const FEATURES: usize = 4;
/// Mean luminance.
pub(crate) const LUMA: usize = 0;
/// Mean gradient magnitude of luminance (edges, scratches, texture).
pub(crate) const GRADIENT: usize = 1;
/// Mean R−B: warm contaminants (oil, rust) against grey metal.
pub(crate) const RED_BLUE: usize = 2;
/// Mean 2G−R−B: green or purple contaminants (coolant).
pub(crate) const GREEN_MAGENTA: usize = 3;

/// The features of one cell.
pub(crate) type CellFeatures = [f32; FEATURES];

/// The cell grid of a frame size. The right and bottom remainders that do
/// not fill a whole cell are not looked at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Geometry {
    pub width: u32,
    pub height: u32,
    pub downsample: usize,
    /// Cell side in downsampled pixels.
    pub cell_blocks: usize,
    pub cells_x: usize,
    pub cells_y: usize,
    pub max_shift: i32,
}

impl Geometry {
    pub fn new(settings: &FilterSettings, width: u32, height: u32) -> Result<Self, FilterError> {
        let cell = settings.cell;
        let min_width = 2 * cell + 2 * settings.max_shift;
        let min_height = min_width;
        if width < min_width || height < min_height {
            return Err(FilterError::FrameTooSmall { width, height, cell, min_width, min_height });
        }
        let downsample = settings.downsample as usize;
        Ok(Self {
            width,
            height,
            downsample,
            cell_blocks: cell as usize / downsample,
            cells_x: (width / cell) as usize,
            cells_y: (height / cell) as usize,
            max_shift: settings.max_shift as i32,
        })
    }

    pub fn cells(&self) -> usize {
        self.cells_x * self.cells_y
    }

    /// Cell side in frame pixels.
    pub fn cell_px(&self) -> u32 {
        (self.cell_blocks * self.downsample) as u32
    }

    fn blocks_x(&self) -> usize {
        self.cells_x * self.cell_blocks
    }

    fn blocks_y(&self) -> usize {
        self.cells_y * self.cell_blocks
    }
}

/// Buffers reused from frame to frame (see [`crate::GoodModel::score_with`]).
#[derive(Debug, Default)]
pub struct Workspace {
    pub(crate) columns: Vec<f32>,
    pub(crate) rows: Vec<f32>,
    column_sums: Vec<u32>,
    /// Byte offset within a row of each source pixel of each block column.
    source_columns: Vec<usize>,
    /// One row of blocks: each block's channel sums.
    blocks: Vec<[f32; 3]>,
    block_sums: Vec<[u32; 3]>,
    /// A turned frame's box sums, for [`turned_cell_features`].
    boxes: BoxSums,
    footing: crate::rotation::Footing,
    luma: Vec<f32>,
    pub(crate) cells: Vec<CellFeatures>,
    pub(crate) scores: Vec<f32>,
    /// Buffers for finding and undoing a turn.
    pub(crate) turn: crate::rotation::TurnBuffers,
    /// Which cells lie on pixels from inside the turned frame.
    pub(crate) inside: Vec<bool>,
    /// The judged cells' scores, reordered to find their median.
    pub(crate) ordered: Vec<f32>,
}

/// Column and row profiles of a frame, each normalised to a mean of 1.
pub(crate) fn profiles(frame: &FrameView, ws: &mut Workspace) {
    weighted_sums(frame, [1, 1, 1], &mut ws.column_sums, &mut ws.columns, &mut ws.rows);
    normalise(&mut ws.columns);
    normalise(&mut ws.rows);
}

/// Per column and per row of a frame, the sum of its pixels' channels
/// weighed by `weights` (in the frame's byte order). Inlined, so that
/// [`profiles`]' weights of 1 cost no multiplication on the per-frame path.
#[inline(always)]
fn weighted_sums(
    frame: &FrameView,
    weights: [u32; 3],
    sums: &mut Vec<u32>,
    columns: &mut Vec<f32>,
    rows: &mut Vec<f32>,
) {
    let width = frame.width as usize;
    sums.clear();
    sums.resize(width, 0);
    rows.clear();
    for row in frame.data.chunks_exact(width * 3) {
        let mut row_sum = 0u32;
        for (sum, px) in sums.iter_mut().zip(row.chunks_exact(3)) {
            let s = weights[0] * px[0] as u32 + weights[1] * px[1] as u32 + weights[2] * px[2] as u32;
            *sum += s;
            row_sum += s;
        }
        rows.push(row_sum as f32);
    }
    columns.clear();
    columns.extend(sums.iter().map(|&s| s as f32));
}

pub(crate) fn normalise(profile: &mut [f32]) {
    let mean = profile.iter().sum::<f32>() / profile.len().max(1) as f32;
    let scale = if mean > 0.0 { 1.0 / mean } else { 0.0 };
    profile.iter_mut().for_each(|v| *v *= scale);
}

/// Column and row profiles of a `width` × `height` luminance image (the
/// half-size luminance of a turned frame, turned back), each normalised to
/// a mean of 1.
pub(crate) fn luma_profiles(luma: &[f32], width: usize, height: usize, columns: &mut Vec<f32>, rows: &mut Vec<f32>) {
    columns.clear();
    columns.resize(width, 0.0);
    rows.clear();
    for row in luma.chunks_exact(width.max(1)).take(height) {
        columns.iter_mut().zip(row).for_each(|(sum, v)| *sum += v);
        rows.push(row.iter().sum());
    }
    normalise(columns);
    normalise(rows);
}

/// Column and row sums of a frame's luminance (R+2G+B) at full size, for
/// [`half_phases`].
pub(crate) fn full_luma_profiles(frame: &FrameView, columns: &mut Vec<f32>, rows: &mut Vec<f32>) {
    // Red and blue weigh alike, so the byte order does not matter.
    weighted_sums(frame, [1, 2, 1], &mut Vec::new(), columns, rows);
}

/// What a full-size profile looks like at half size, for a part at an
/// even shift (entry j the sum of entries 2j and 2j + 1) and at an odd one
/// (2j − 1 and 2j), each normalised to a mean of 1.
pub(crate) fn half_phases(full: &[f32]) -> [Vec<f32>; 2] {
    let half = full.len() / 2;
    let at = |i: isize| full[i.clamp(0, full.len() as isize - 1) as usize];
    [0isize, -1].map(|offset| {
        let mut phase: Vec<f32> = (0..half as isize).map(|j| at(2 * j + offset) + at(2 * j + offset + 1)).collect();
        normalise(&mut phase);
        phase
    })
}

/// As [`best_shift`], for half-size profiles, to a fraction of a pixel: the
/// shift `s` in whole frame pixels (`-max_shift..=max_shift`) for which
/// `profile` moved by `s.div_euclid(2)` entries best matches the
/// reference's half-size phase of `s`'s parity ([`half_phases`]), by least
/// absolute difference, then placed between its neighbours by their costs.
/// A turned frame's shift is found this way on its half-size luminance
/// turned back, instead of on the whole frame turned back; its blocks are
/// interpolated anyway, so the fraction costs nothing, and a whole-pixel
/// shift found at half size was a pixel off on many frames where the part
/// lay between two. (Interpolating the profile for odd shifts would blur it
/// for those shifts only, and favour one parity.)
pub(crate) fn best_half_shift(profile: &[f32], phases: &[Vec<f32>; 2], max_shift: i32) -> f32 {
    let len = profile.len().min(phases[0].len()).min(phases[1].len()) as i32;
    let margin = (max_shift / 2 + 1).min(len / 4);
    let (lo, hi) = (margin as usize, (len - margin) as usize);
    let cost = |s: i32| -> f32 {
        let (moved, phase) = (s.div_euclid(2), &phases[s.rem_euclid(2) as usize]);
        let shifted = &profile[(lo as i32 + moved) as usize..(hi as i32 + moved) as usize];
        shifted.iter().zip(&phase[lo..hi]).map(|(a, b)| (a - b).abs()).sum()
    };
    let costs: Vec<f32> = (-max_shift..=max_shift).map(cost).collect();
    let mut best = 0usize;
    for (i, &c) in costs.iter().enumerate() {
        let s = i as i32 - max_shift;
        let b = best as i32 - max_shift;
        if c < costs[best] || (c == costs[best] && s.abs() < b.abs()) {
            best = i;
        }
    }
    let whole = best as i32 - max_shift;
    if best == 0 || best + 1 == costs.len() {
        return whole as f32;
    }
    // Between whole pixels: a sum of absolute differences grows about
    // linearly either side of the best shift, so two lines of equal and
    // opposite slope through the three costs meet at the part's position.
    let (left, centre, right) = (costs[best - 1], costs[best], costs[best + 1]);
    let rise = left.max(right) - centre;
    let fraction = if rise > 0.0 { 0.5 * (left - right) / rise } else { 0.0 };
    whole as f32 + fraction.clamp(-0.5, 0.5)
}

/// The shift `s` in `-max_shift..=max_shift` for which `profile[i + s]`
/// best matches `reference[i]` (least sum of absolute differences over the
/// indices both cover for every shift). Ties go to the smaller shift.
pub(crate) fn best_shift(profile: &[f32], reference: &[f32], max_shift: i32) -> i32 {
    let len = profile.len().min(reference.len()) as i32;
    let margin = max_shift.min(len / 4);
    let mut best = (f32::MAX, 0i32);
    for s in -margin..=margin {
        let lo = margin as usize;
        let hi = (len - margin) as usize;
        let shifted = &profile[(lo as i32 + s) as usize..(hi as i32 + s) as usize];
        let cost: f32 = shifted.iter().zip(&reference[lo..hi]).map(|(a, b)| (a - b).abs()).sum();
        if cost < best.0 || (cost == best.0 && s.abs() < best.1.abs()) {
            best = (cost, s);
        }
    }
    best.1
}

/// Raw (not yet brightness-normalised) features of every cell, with the
/// cell grid placed at `shift` in the frame: block (x, y) averages frame
/// pixels from (shift.0 + x·d, shift.1 + y·d). Pixels beyond the frame's
/// edge repeat the edge.
pub(crate) fn cell_features(frame: &FrameView, geometry: &Geometry, shift: (i32, i32), ws: &mut Workspace) {
    let d = geometry.downsample;
    let bx = geometry.blocks_x();
    let (width, height) = (frame.width as i32, frame.height as i32);
    let stride = frame.width as usize * 3;

    ws.source_columns.clear();
    ws.source_columns.extend((0..bx * d).map(|i| (i as i32 + shift.0).clamp(0, width - 1) as usize * 3));
    start_cells(geometry, ws);
    let mut sums = std::mem::take(&mut ws.block_sums);
    sums.clear();
    sums.resize(bx, [0; 3]);
    for y in 0..geometry.blocks_y() {
        sums.iter_mut().for_each(|b| *b = [0; 3]);
        for k in 0..d {
            let sy = ((y * d + k) as i32 + shift.1).clamp(0, height - 1) as usize;
            let row = &frame.data[sy * stride..(sy + 1) * stride];
            for (block, sources) in sums.iter_mut().zip(ws.source_columns.chunks_exact(d)) {
                for &o in sources {
                    if let Some(px) = row.get(o..o + 3) {
                        block[0] += px[0] as u32;
                        block[1] += px[1] as u32;
                        block[2] += px[2] as u32;
                    }
                }
            }
        }
        // Sums of at most 64 pixels: exact in f32.
        for (block, sum) in ws.blocks.iter_mut().zip(&sums) {
            *block = sum.map(|v| v as f32);
        }
        add_block_row(frame, geometry, y, (d * d) as f32, ws);
    }
    ws.block_sums = sums;
    finish_cells(geometry, ws);
}

/// As [`cell_features`], for a frame turned by `degrees` (about its
/// centre) that is to be scored upright: each block is taken straight from
/// the frame as it came, where the turn put it, instead of from a copy
/// turned back first.
///
/// A block's value is the mean of its `d`×`d` upright pixels, each
/// interpolated between its four source pixels. Taking the block's
/// footprint square to the frame (at 10° its corners move by a tenth of a
/// pixel), that is the frame's `d`×`d` box sums interpolated at the
/// footprint's corner: one interpolation per block, a quarter of those of
/// turning every pixel back (`d` = 2), and box sums are a few vector
/// additions per row.
pub(crate) fn turned_cell_features(
    frame: &FrameView,
    geometry: &Geometry,
    shift: (f32, f32),
    degrees: f32,
    ws: &mut Workspace,
) {
    let d = geometry.downsample;
    let (width, height) = (frame.width as usize, frame.height as usize);
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    start_cells(geometry, ws);
    ws.boxes.start(width, height);
    let to_corner = (d as f32 - 1.0) / 2.0;
    let stride = width * 3;
    for y in 0..geometry.blocks_y() {
        // Block x's centre in the upright frame, about the frame's centre,
        // is (u0 + x·d, v); the turn put it at (cos·u − sin·v, sin·u +
        // cos·v) about the centre of the frame as it came. Its box starts
        // (d − 1) / 2 up and left of there.
        let v = (y * d) as f32 + shift.1 + to_corner + 0.5 - cy;
        let u0 = shift.0 + to_corner + 0.5 - cx;
        let origin = (cos * u0 - sin * v + cx - 0.5 - to_corner, sin * u0 + cos * v + cy - 0.5 - to_corner);
        let step = (cos * d as f32, sin * d as f32);
        ws.footing.place(origin, step, ws.blocks.len(), (width, height));
        let (first, last) = ws.footing.at.iter().fold((u32::MAX, 0), |(lo, hi), &at| (lo.min(at), hi.max(at)));
        for row in first as usize / width..=(last as usize / width + 1).min(height - 1) {
            ws.boxes.prepare(frame, d, row);
        }
        let sums = &ws.boxes.sums;
        let footing = &ws.footing;
        for (((block, &at), &fx), &fy) in ws.blocks.iter_mut().zip(&footing.at).zip(&footing.fx).zip(&footing.fy) {
            // The two box sums side by side in the row of the corner and in
            // the next, each three channels, read as four lanes (the fourth
            // is the next pixel's, and unused) so that the arithmetic is
            // vector code.
            let at = at as usize * 3;
            let (Some(upper), Some(lower)) = (sums.get(at..at + 8), sums.get(at + stride..at + stride + 8)) else {
                continue;
            };
            let lanes = |sums: &[u16], from: usize| -> [f32; 4] { std::array::from_fn(|k| sums[from + k] as f32) };
            let (upper_left, upper_right) = (lanes(upper, 0), lanes(upper, 3));
            let (lower_left, lower_right) = (lanes(lower, 0), lanes(lower, 3));
            let mut value = [0.0f32; 4];
            for k in 0..4 {
                let upper = upper_left[k] + fx * (upper_right[k] - upper_left[k]);
                let lower = lower_left[k] + fx * (lower_right[k] - lower_left[k]);
                value[k] = upper + fy * (lower - upper);
            }
            *block = [value[0], value[1], value[2]];
        }
        add_block_row(frame, geometry, y, (d * d) as f32, ws);
    }
    finish_cells(geometry, ws);
}

/// The `d`×`d` box sums of a frame's channels (at most 64 pixels of 255:
/// they fit a u16), a row at a time as a turned row of blocks first needs
/// it: the sums of a whole frame made at once are larger than the cache,
/// and the turned rows of blocks would read them back from memory.
#[derive(Debug, Default)]
struct BoxSums {
    width: usize,
    height: usize,
    /// Row r, pixel c, channel k at `(r·width + c)·3 + k`: the sum of that
    /// channel over pixels (c..c+d, r..r+d), the frame's edge repeating
    /// beyond it.
    sums: Vec<u16>,
    ready: Vec<bool>,
    /// One row's sums of `d` pixels down, per byte.
    columns: Vec<u16>,
}

impl BoxSums {
    fn start(&mut self, width: usize, height: usize) {
        (self.width, self.height) = (width, height);
        // Two more: a corner's sums are read eight at a time.
        self.sums.resize(width * height * 3 + 2, 0);
        self.ready.clear();
        self.ready.resize(height, false);
    }

    /// Makes row `row`'s sums, unless made for this frame already. Each
    /// step is one pass over a row's bytes, which the compiler turns into
    /// vector code.
    fn prepare(&mut self, frame: &FrameView, d: usize, row: usize) {
        if self.ready.get(row) != Some(&false) {
            return;
        }
        let stride = self.width * 3;
        self.columns.clear();
        self.columns.resize(stride, 0);
        for j in 0..d {
            let source = (row + j).min(self.height - 1);
            let Some(bytes) = frame.data.get(source * stride..(source + 1) * stride) else { continue };
            self.columns.iter_mut().zip(bytes).for_each(|(sum, &b)| *sum += b as u16);
        }
        let Some(sums) = self.sums.get_mut(row * stride..(row + 1) * stride) else { return };
        sums.fill(0);
        for i in 0..d {
            // Pixel c gets pixel c + i's column; the last pixels, the edge's.
            let reach = (i * 3).min(stride.saturating_sub(3));
            let (inside, beyond) = sums.split_at_mut(stride - reach);
            inside.iter_mut().zip(&self.columns[reach..]).for_each(|(sum, &v)| *sum += v);
            let edge = &self.columns[stride - 3..];
            beyond.chunks_exact_mut(3).for_each(|pixel| pixel.iter_mut().zip(edge).for_each(|(sum, &v)| *sum += v));
        }
        self.ready[row] = true;
    }
}

/// Clears the cells and block buffers for a new frame.
fn start_cells(geometry: &Geometry, ws: &mut Workspace) {
    ws.cells.clear();
    ws.cells.resize(geometry.cells(), [0.0; FEATURES]);
    ws.luma.clear();
    ws.luma.resize(geometry.blocks_x() * geometry.blocks_y(), 0.0);
    ws.blocks.clear();
    ws.blocks.resize(geometry.blocks_x(), [0.0; 3]);
}

/// Block row `y` (its channel sums over `pixels` pixels each, in
/// `ws.blocks`): its luminance kept for the gradients, its colour
/// differences added to its cells.
fn add_block_row(frame: &FrameView, geometry: &Geometry, y: usize, pixels: f32, ws: &mut Workspace) {
    let (red, blue) = frame.format.red_blue();
    let bx = geometry.blocks_x();
    let block_scale = 1.0 / pixels;
    let cell_row = (y / geometry.cell_blocks) * geometry.cells_x;
    let luma_row = &mut ws.luma[y * bx..(y + 1) * bx];
    for (cx, (blocks, luma)) in
        ws.blocks.chunks_exact(geometry.cell_blocks).zip(luma_row.chunks_exact_mut(geometry.cell_blocks)).enumerate()
    {
        let (mut red_blue, mut green_magenta) = (0.0f32, 0.0f32);
        for (b, l) in blocks.iter().zip(luma.iter_mut()) {
            let (r, g, bl) = (b[red], b[1], b[blue]);
            *l = (r + 2.0 * g + bl) * (0.25 * block_scale);
            red_blue += r - bl;
            green_magenta += 2.0 * g - r - bl;
        }
        let cell = &mut ws.cells[cell_row + cx];
        cell[RED_BLUE] += red_blue * block_scale;
        cell[GREEN_MAGENTA] += green_magenta * block_scale;
    }
}

/// Luminance and gradient per cell from the blocks' luminance, then every
/// feature divided by the blocks per cell.
fn finish_cells(geometry: &Geometry, ws: &mut Workspace) {
    let (bx, by) = (geometry.blocks_x(), geometry.blocks_y());
    for y in 0..by {
        let row = &ws.luma[y * bx..(y + 1) * bx];
        let below = if y + 1 < by { &ws.luma[(y + 1) * bx..(y + 2) * bx] } else { row };
        let cell_row = (y / geometry.cell_blocks) * geometry.cells_x;
        for (cx, x0) in (0..bx).step_by(geometry.cell_blocks).enumerate() {
            let (mut luma, mut gradient) = (0.0f32, 0.0f32);
            for x in x0..x0 + geometry.cell_blocks {
                let here = row[x];
                let right = if x + 1 < bx { row[x + 1] } else { here };
                luma += here;
                gradient += (right - here).abs() + (below[x] - here).abs();
            }
            let cell = &mut ws.cells[cell_row + cx];
            cell[LUMA] += luma;
            cell[GRADIENT] += gradient;
        }
    }

    let per_cell = 1.0 / (geometry.cell_blocks * geometry.cell_blocks) as f32;
    for cell in &mut ws.cells {
        cell.iter_mut().for_each(|v| *v *= per_cell);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_shift_finds_a_step_moved_by_five() {
        let reference: Vec<f32> = (0..100).map(|i| if (30..60).contains(&i) { 2.0 } else { 0.5 }).collect();
        let moved: Vec<f32> = (0..100).map(|i| if (35..65).contains(&i) { 2.0 } else { 0.5 }).collect();
        assert_eq!(best_shift(&moved, &reference, 8), 5);
        assert_eq!(best_shift(&reference, &moved, 8), -5);
        assert_eq!(best_shift(&reference, &reference, 8), 0);
    }

    #[test]
    fn half_profiles_find_odd_and_even_shifts() {
        // A step profile at full size, and its half-size bins (pairs
        // summed), for the part moved by each shift.
        let full = |moved: i32| -> Vec<f32> {
            (0..200).map(|i| if (60 + moved..130 + moved).contains(&i) { 2.0 } else { 0.5 }).collect()
        };
        let half = |profile: Vec<f32>| -> Vec<f32> {
            let mut half: Vec<f32> = profile.chunks_exact(2).map(|p| p[0] + p[1]).collect();
            normalise(&mut half);
            half
        };
        let phases = half_phases(&full(0));
        for moved in [-12, -7, -2, -1, 0, 1, 4, 5, 9, 12] {
            assert_eq!(best_half_shift(&half(full(moved)), &phases, 12), moved as f32, "moved by {moved}");
        }
        // A soft edge moved by a fraction of a pixel is found to a fraction.
        let soft = |moved: f32| -> Vec<f32> {
            (0..200)
                .map(|i| 1.5 + ((i as f32 - 80.0 - moved) / 3.0).tanh() - ((i as f32 - 140.0 - moved) / 3.0).tanh())
                .collect()
        };
        let phases = half_phases(&soft(0.0));
        for moved in [-6.5f32, -2.3, 0.4, 1.5, 3.8, 7.2] {
            let found = best_half_shift(&half(soft(moved)), &phases, 12);
            assert!((found - moved).abs() < 0.2, "moved by {moved}, found {found}");
        }
        // The odd phase pairs each entry with the one before (the first
        // with itself).
        let [even, odd] = half_phases(&[1.0, 3.0, 5.0, 7.0]);
        assert_eq!((even, odd), (vec![0.5, 1.5], vec![0.4, 1.6]));
    }

    /// A frame of smooth colour waves (each channel its own), so that
    /// interpolation errors stay small against what is compared.
    fn waves(w: u32, h: u32) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                let wave = |a: f32, b: f32, phase: f32| (128.0 + 90.0 * (a * x + b * y + phase).sin()) as u8;
                [wave(0.11, 0.05, 0.0), wave(-0.04, 0.09, 1.0), wave(0.07, 0.13, 2.0)]
            })
            .collect()
    }

    #[test]
    fn turned_blocks_at_no_turn_are_the_blocks() {
        // Taken where a turn of 0° puts them, the blocks are the plain
        // blocks: the interpolation falls on whole pixels. (Not in the
        // outer cells when the shift reaches beyond the frame: there a
        // plain block repeats the edge pixel, a turned one the edge box.)
        let (w, h) = (96u32, 64u32);
        let data = waves(w, h);
        let frame = FrameView::rgb8(w, h, &data);
        for downsample in [1, 2, 4] {
            let settings = FilterSettings { downsample, ..FilterSettings::default() };
            let geometry = Geometry::new(&settings, w, h).unwrap();
            let mut ws = Workspace::default();
            for shift in [(0, 0), (2, 1), (-3, 5), (7, -6)] {
                cell_features(&frame, &geometry, shift, &mut ws);
                let plain = ws.cells.clone();
                turned_cell_features(&frame, &geometry, (shift.0 as f32, shift.1 as f32), 0.0, &mut ws);
                let (columns, rows) = (geometry.cells_x, geometry.cells_y);
                let outer = |cell: usize| {
                    let (column, row) = (cell % columns, cell / columns);
                    column == 0 || row == 0 || column == columns - 1 || row == rows - 1
                };
                for (cell, (turned, plain)) in ws.cells.iter().zip(&plain).enumerate() {
                    if shift != (0, 0) && outer(cell) {
                        continue;
                    }
                    for (a, b) in turned.iter().zip(plain) {
                        assert!((a - b).abs() < 1e-3, "d {downsample}, shift {shift:?}: {turned:?} against {plain:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn turned_blocks_are_the_blocks_of_the_frame_turned_back() {
        // The blocks taken where a turn put them match the blocks of the
        // frame turned back whole (as learning does), away from the edges
        // the turn brings in: a wrong sign or centre would move them by
        // pixels.
        let (w, h) = (160u32, 128u32);
        let data = waves(w, h);
        let frame = FrameView::rgb8(w, h, &data);
        let geometry = Geometry::new(&FilterSettings::default(), w, h).unwrap();
        let mut ws = Workspace::default();
        let (mut wide, mut upright) = (Vec::new(), Vec::new());
        for degrees in [0.3f32, -9.5, -3.0, 2.2, 7.0] {
            crate::rotation::turn_back(&frame, degrees, &mut wide, &mut upright);
            cell_features(&FrameView::rgb8(w, h, &upright), &geometry, (3, -2), &mut ws);
            let whole = ws.cells.clone();
            turned_cell_features(&frame, &geometry, (3.0, -2.0), degrees, &mut ws);
            // Cells the turn brought in from beyond the frame are not
            // judged; nor are the outer ones, whose pixels the shift takes
            // from beyond the turned-back copy (where it repeats its edge,
            // and the frame as it came may still have the part).
            let mut inside = Vec::new();
            crate::rotation::cells_inside(&geometry, (3, -2), degrees, &mut inside);
            let (columns, rows) = (geometry.cells_x, geometry.cells_y);
            let inner =
                |cell: usize| (1..columns - 1).contains(&(cell % columns)) && (1..rows - 1).contains(&(cell / columns));
            let mut compared = 0;
            for (cell, (turned, whole)) in ws.cells.iter().zip(&whole).enumerate() {
                if !inside[cell] || !inner(cell) {
                    continue;
                }
                // Within rounding (the copy is 8-bit) and interpolation; a
                // block a quarter pixel off would differ by about 3 levels.
                for (feature, tolerance) in [0.5, 0.3, 1.0, 1.5].into_iter().enumerate() {
                    let difference = (turned[feature] - whole[feature]).abs();
                    assert!(difference < tolerance, "{degrees}°, cell {cell}: {turned:?} against {whole:?}");
                }
                compared += 1;
            }
            assert!(compared >= geometry.cells() / 4, "{degrees}°: only {compared} cells compared");
        }
    }

    #[test]
    fn cell_features_of_a_uniform_frame_are_its_colour() {
        let settings = FilterSettings::default();
        let (w, h) = (64u32, 64u32);
        let data: Vec<u8> = (0..w * h).flat_map(|_| [120u8, 100, 80]).collect();
        let geometry = Geometry::new(&settings, w, h).unwrap();
        let mut ws = Workspace::default();
        cell_features(&FrameView::rgb8(w, h, &data), &geometry, (3, -2), &mut ws);
        assert_eq!(ws.cells.len(), 16);
        for cell in &ws.cells {
            assert_eq!(*cell, [100.0, 0.0, 40.0, 0.0]);
        }
        let bgr: Vec<u8> = (0..w * h).flat_map(|_| [80u8, 100, 120]).collect();
        cell_features(&FrameView::bgr8(w, h, &bgr), &geometry, (0, 0), &mut ws);
        assert_eq!(ws.cells[5], [100.0, 0.0, 40.0, 0.0]);
    }
}
