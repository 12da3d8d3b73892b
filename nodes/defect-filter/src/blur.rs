//! Motion blur, applied to the good parts while learning, so the model
//! knows what a blurred good part looks like.
//!
//! Blur moves edge strength: it takes most of a fine texture's, little of
//! a step edge's, and carries some of it across cell borders into the
//! neighbouring cell. A model learned from sharp parts alone reads that
//! as defects along every straight edge. So the filter also learns two
//! blurred appearances from the same good parts, each smeared along four
//! directions: [`BlurLevel::Mild`] (2 to 3 px, what a moving line gives a
//! camera with a short exposure, still judged) and [`BlurLevel::Heavy`]
//! (7 to 11 px, too smeared to judge). A frame is judged against the
//! appearance it fits best; one that fits the heavy one best is unusable,
//! unless a region stands out from it by twice the threshold.

use crate::frame::FrameView;

/// A blurred appearance the model learns besides the sharp one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlurLevel {
    /// Judged against the mildly blurred appearance.
    Mild,
    /// Too blurred to judge.
    Heavy,
}

impl BlurLevel {
    pub(crate) const ALL: [BlurLevel; 2] = [BlurLevel::Mild, BlurLevel::Heavy];

    /// The smears this appearance is learned from: each kernel along each
    /// of four directions (along the rows, the columns and both
    /// diagonals, where a step is √2 px long).
    pub(crate) fn smears(self) -> impl Iterator<Item = Smear> {
        let kernels: &'static [&'static [f32]] = match self {
            // A 2 px box (as a tent over three pixels), 3 and 5 px boxes.
            BlurLevel::Mild => &[&[0.25, 0.5, 0.25], &[1.0 / 3.0; 3], &[0.2; 5]],
            BlurLevel::Heavy => &[&[1.0 / 8.0; 8], &[1.0 / 12.0; 12]],
        };
        const DIRECTIONS: [(isize, isize); 4] = [(1, 0), (0, 1), (1, 1), (1, -1)];
        kernels.iter().flat_map(|&weights| DIRECTIONS.into_iter().map(move |step| Smear { step, weights }))
    }
}

/// A straight smear: pixel (x, y) becomes the weighted sum of the pixels
/// at (x, y) + (k − mid)·step, k over the weights.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Smear {
    pub step: (isize, isize),
    pub weights: &'static [f32],
}

/// `frame` smeared into `out` (same size and byte order); pixels beyond
/// the frame repeat its edge.
pub(crate) fn smear(frame: &FrameView, smear: Smear, out: &mut Vec<u8>) {
    let (width, height) = (frame.width as isize, frame.height as isize);
    out.clear();
    out.resize(frame.data.len(), 0);
    if width == 0 || height == 0 || frame.data.len() < (width * height * 3) as usize {
        return;
    }
    let mid = (smear.weights.len() / 2) as isize;
    let row_bytes = (width * 3) as usize;
    // One output row at a time: each tap adds a whole source row, moved
    // along by its column offset, which is a loop over contiguous bytes
    // the compiler turns into vector code; only the few pixels whose source
    // lies beyond the left or right edge take the slow way.
    let mut sums = vec![0.0f32; row_bytes];
    for (y, out_row) in out.chunks_exact_mut(row_bytes).enumerate() {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for (k, &w) in smear.weights.iter().enumerate() {
            let (dx, dy) = ((k as isize - mid) * smear.step.0, (k as isize - mid) * smear.step.1);
            let source_y = (y as isize + dy).clamp(0, height - 1) as usize;
            let source = &frame.data[source_y * row_bytes..(source_y + 1) * row_bytes];
            let (first, last) = ((-dx).clamp(0, width) as usize, (width - dx).clamp(0, width) as usize);
            if first < last {
                let from = (first as isize + dx) as usize * 3;
                let len = (last - first) * 3;
                let inside = &mut sums[first * 3..last * 3];
                inside.iter_mut().zip(&source[from..from + len]).for_each(|(s, &v)| *s += w * v as f32);
            }
            for x in (0..first).chain(last.max(first)..width as usize) {
                let source_x = (x as isize + dx).clamp(0, width - 1) as usize;
                for c in 0..3 {
                    sums[x * 3 + c] += w * source[source_x * 3 + c] as f32;
                }
            }
        }
        out_row.iter_mut().zip(&sums).for_each(|(o, s)| *o = s.round().clamp(0.0, 255.0) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_smear_spreads_an_edge_along_its_direction_only() {
        // A vertical edge: dark left half, bright right half.
        let (w, h) = (8u32, 4u32);
        let data: Vec<u8> = (0..w * h).flat_map(|i| [if i % w < 4 { 0u8 } else { 210 }; 3]).collect();
        let frame = FrameView::rgb8(w, h, &data);
        let mut out = Vec::new();
        smear(&frame, Smear { step: (1, 0), weights: &[1.0 / 3.0; 3] }, &mut out);
        let row: Vec<u8> = out[..(w * 3) as usize].chunks(3).map(|p| p[0]).collect();
        assert_eq!(row, [0, 0, 0, 70, 140, 210, 210, 210]);
        // Along the edge nothing changes.
        smear(&frame, Smear { step: (0, 1), weights: &[1.0 / 3.0; 3] }, &mut out);
        assert_eq!(out, data);
    }
}
