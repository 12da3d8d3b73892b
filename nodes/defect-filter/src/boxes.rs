//! Anomalous cells to boxes: cells at or above the threshold seed a region,
//! which grows through 8-connected neighbours scoring at least
//! [`GROW_FRACTION`] of the threshold (hysteresis, so that a defect's
//! fainter edge cells widen its box without starting boxes of their own).

use serde::Serialize;

use crate::features::Geometry;

/// Neighbours join a region from this fraction of the threshold up.
pub const GROW_FRACTION: f32 = 0.5;

/// An anomalous region, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AnomalyBox {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// The region's largest cell score.
    pub score: f32,
}

impl AnomalyBox {
    /// Whether two boxes share at least one pixel.
    pub fn overlaps(&self, x: u32, y: u32, width: u32, height: u32) -> bool {
        self.x < x + width && x < self.x + self.width && self.y < y + height && y < self.y + self.height
    }
}

/// The regions with at least `min_cells` cells at or above `threshold`,
/// highest score first, at most `max_boxes`; `shift` places the cell grid
/// in the frame.
pub(crate) fn regions(
    scores: &[f32],
    geometry: &Geometry,
    threshold: f32,
    min_cells: usize,
    max_boxes: usize,
    shift: (i32, i32),
) -> Vec<AnomalyBox> {
    if !scores.iter().any(|&s| s >= threshold) {
        return Vec::new();
    }
    let (cols, rows) = (geometry.cells_x, geometry.cells_y);
    let grow = threshold * GROW_FRACTION;
    let mut seen = vec![false; scores.len()];
    let mut stack = Vec::new();
    let mut boxes = Vec::new();
    for start in 0..scores.len() {
        if seen[start] || scores[start] < threshold {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (cols, rows, 0, 0);
        let (mut seeds, mut best) = (0, 0.0f32);
        while let Some(i) = stack.pop() {
            let (cx, cy) = (i % cols, i / cols);
            (x0, y0, x1, y1) = (x0.min(cx), y0.min(cy), x1.max(cx), y1.max(cy));
            seeds += usize::from(scores[i] >= threshold);
            best = best.max(scores[i]);
            for ny in cy.saturating_sub(1)..=(cy + 1).min(rows - 1) {
                for nx in cx.saturating_sub(1)..=(cx + 1).min(cols - 1) {
                    let n = ny * cols + nx;
                    if !seen[n] && scores[n] >= grow {
                        seen[n] = true;
                        stack.push(n);
                    }
                }
            }
        }
        if seeds >= min_cells {
            boxes.push(to_pixels((x0, y0, x1, y1), geometry, shift, best));
        }
    }
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    boxes.truncate(max_boxes);
    boxes
}

fn to_pixels(cells: (usize, usize, usize, usize), geometry: &Geometry, shift: (i32, i32), score: f32) -> AnomalyBox {
    let cell = geometry.cell_px() as i32;
    let place = |c: usize, s: i32, limit: u32| (c as i32 * cell + s).clamp(0, limit as i32) as u32;
    let x = place(cells.0, shift.0, geometry.width);
    let y = place(cells.1, shift.1, geometry.height);
    let right = place(cells.2 + 1, shift.0, geometry.width);
    let bottom = place(cells.3 + 1, shift.1, geometry.height);
    AnomalyBox { x, y, width: right - x, height: bottom - y, score }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::FilterSettings;

    fn geometry() -> Geometry {
        Geometry::new(&FilterSettings::default(), 128, 96).unwrap()
    }

    #[test]
    fn neighbouring_cells_merge_and_faint_edges_widen_the_box() {
        let g = geometry();
        assert_eq!((g.cells_x, g.cells_y), (8, 6));
        let mut scores = vec![0.0; 48];
        scores[8 + 2] = 10.0;
        scores[16 + 3] = 12.0;
        scores[16 + 4] = 6.0;
        scores[40 + 7] = 11.0;
        let boxes = regions(&scores, &g, 10.0, 1, 8, (4, -2));
        assert_eq!(boxes.len(), 2);
        assert_eq!(boxes[0], AnomalyBox { x: 36, y: 14, width: 48, height: 32, score: 12.0 });
        assert_eq!(boxes[1], AnomalyBox { x: 116, y: 78, width: 12, height: 16, score: 11.0 });
    }

    #[test]
    fn regions_with_too_few_cells_are_dropped_and_the_count_is_capped() {
        let g = geometry();
        let mut scores = vec![0.0; 48];
        for i in [0, 3, 6, 24, 27, 30] {
            scores[i] = 20.0 + i as f32;
        }
        assert!(regions(&scores, &g, 10.0, 2, 8, (0, 0)).is_empty());
        let boxes = regions(&scores, &g, 10.0, 1, 4, (0, 0));
        let best: Vec<f32> = boxes.iter().map(|b| b.score).collect();
        assert_eq!(best, [50.0, 47.0, 44.0, 26.0]);
    }
}
