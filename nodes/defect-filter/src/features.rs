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
    blocks: Vec<[u32; 3]>,
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
    let width = frame.width as usize;
    ws.column_sums.clear();
    ws.column_sums.resize(width, 0);
    ws.rows.clear();
    for row in frame.data.chunks_exact(width * 3) {
        let mut row_sum = 0u32;
        for (sum, px) in ws.column_sums.iter_mut().zip(row.chunks_exact(3)) {
            let s = px[0] as u32 + px[1] as u32 + px[2] as u32;
            *sum += s;
            row_sum += s;
        }
        ws.rows.push(row_sum as f32);
    }
    ws.columns.clear();
    ws.columns.extend(ws.column_sums.iter().map(|&s| s as f32));
    normalise(&mut ws.columns);
    normalise(&mut ws.rows);
}

fn normalise(profile: &mut [f32]) {
    let mean = profile.iter().sum::<f32>() / profile.len().max(1) as f32;
    let scale = if mean > 0.0 { 1.0 / mean } else { 0.0 };
    profile.iter_mut().for_each(|v| *v *= scale);
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
    let (bx, by) = (geometry.blocks_x(), geometry.blocks_y());
    let (width, height) = (frame.width as i32, frame.height as i32);
    let stride = frame.width as usize * 3;
    let (red, blue) = frame.format.red_blue();

    ws.source_columns.clear();
    ws.source_columns.extend((0..bx * d).map(|i| (i as i32 + shift.0).clamp(0, width - 1) as usize * 3));
    ws.cells.clear();
    ws.cells.resize(geometry.cells(), [0.0; FEATURES]);
    ws.luma.clear();
    ws.luma.resize(bx * by, 0.0);
    ws.blocks.resize(bx, [0; 3]);

    let block_scale = 1.0 / (d * d) as f32;
    for y in 0..by {
        ws.blocks.iter_mut().for_each(|b| *b = [0; 3]);
        for k in 0..d {
            let sy = ((y * d + k) as i32 + shift.1).clamp(0, height - 1) as usize;
            let row = &frame.data[sy * stride..(sy + 1) * stride];
            for (block, sources) in ws.blocks.iter_mut().zip(ws.source_columns.chunks_exact(d)) {
                for &o in sources {
                    if let Some(px) = row.get(o..o + 3) {
                        block[0] += px[0] as u32;
                        block[1] += px[1] as u32;
                        block[2] += px[2] as u32;
                    }
                }
            }
        }
        let cell_row = (y / geometry.cell_blocks) * geometry.cells_x;
        let luma_row = &mut ws.luma[y * bx..(y + 1) * bx];
        for (cx, (blocks, luma)) in ws
            .blocks
            .chunks_exact(geometry.cell_blocks)
            .zip(luma_row.chunks_exact_mut(geometry.cell_blocks))
            .enumerate()
        {
            let (mut red_blue, mut green_magenta) = (0i32, 0i32);
            for (b, l) in blocks.iter().zip(luma.iter_mut()) {
                let (r, g, bl) = (b[red] as i32, b[1] as i32, b[blue] as i32);
                *l = (r + 2 * g + bl) as f32 * (0.25 * block_scale);
                red_blue += r - bl;
                green_magenta += 2 * g - r - bl;
            }
            let cell = &mut ws.cells[cell_row + cx];
            cell[RED_BLUE] += red_blue as f32 * block_scale;
            cell[GREEN_MAGENTA] += green_magenta as f32 * block_scale;
        }
    }

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
