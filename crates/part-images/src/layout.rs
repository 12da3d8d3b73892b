//! Where the plate and its features sit in an image: pure geometry, shared
//! by the painter, the defect placement and the tests.
//!
//! All sizes are given for the reference image of 640x480 and scaled with
//! the image, so a 320x240 image shows the same scene at half size.

use crate::spec::{scale_for, Product};

/// A circle: centre and radius, in image pixels.
pub(crate) type Circle = ((f32, f32), f32);

/// Plate half extents at the reference size: a 384x288 plate.
const PLATE_HALF: (f32, f32) = (192.0, 144.0);
const PLATE_CORNER: f32 = 22.0;
/// Bolt holes sit this far in from the plate's corners.
const HOLE_INSET: f32 = 34.0;
pub(crate) const HOLE_RADIUS: f32 = 11.0;
pub(crate) const CHAMFER_RADIUS: f32 = 13.5;
/// Screws sit at (±108, ±64) from the plate centre.
const SCREW_AT: (f32, f32) = (108.0, 64.0);
pub(crate) const SCREW_RADIUS: f32 = 9.5;
pub(crate) const BOSS_RADIUS: f32 = 30.0;
pub(crate) const BORE_RADIUS: f32 = 12.0;
/// The board (second product): 400x272, mounting holes 18 in from its
/// corners, a 64x64 controller in the middle, four chips at (±112, ±72), an
/// edge connector at the left.
const BOARD_HALF: (f32, f32) = (200.0, 136.0);
const BOARD_CORNER: f32 = 8.0;
const BOARD_HOLE_INSET: f32 = 18.0;
pub(crate) const BOARD_RING_RADIUS: f32 = 9.0;
const CHIP_AT: (f32, f32) = (112.0, 72.0);
/// A chip with its pads fits in this circle.
pub(crate) const CHIP_REACH: f32 = 28.0;
pub(crate) const CONTROLLER_REACH: f32 = 46.0;
pub(crate) const CONNECTOR_AT: (f32, f32) = (-164.0, 0.0);
pub(crate) const CONNECTOR_REACH: f32 = 50.0;
/// Defects stay this far from the plate edge and from every feature.
const DEFECT_CLEARANCE: f32 = 14.0;
const FEATURE_CLEARANCE: f32 = 5.0;

/// The scene of one image.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub scale: f32,
    pub centre: (f32, f32),
    pub half: (f32, f32),
    pub corner: f32,
    pub holes: [(f32, f32); 4],
    pub screws: [(f32, f32); 4],
    pub boss: (f32, f32),
    /// Radii defects keep clear of, in image pixels: around each hole, each
    /// screw (or chip) and the boss (or controller).
    pub hole_reach: f32,
    pub part_reach: f32,
    pub boss_reach: f32,
    /// Further circles defects keep clear of (the board's connector).
    pub others: Vec<Circle>,
}

impl Layout {
    /// The scene of `product`; a board also lies `fraction` of a pixel off
    /// its whole-pixel offset.
    pub fn of(product: Product, width: u32, height: u32, offset: (i32, i32), fraction: (f32, f32)) -> Self {
        match product {
            Product::Plate => Self::new(width, height, offset),
            Product::Board => Self::board(width, height, offset, fraction),
        }
    }

    fn board(width: u32, height: u32, offset: (i32, i32), fraction: (f32, f32)) -> Self {
        let scale = scale_for(width, height);
        let centre =
            (width as f32 / 2.0 + offset.0 as f32 + fraction.0, height as f32 / 2.0 + offset.1 as f32 + fraction.1);
        let half = (BOARD_HALF.0 * scale, BOARD_HALF.1 * scale);
        let at = |sx: f32, sy: f32, (x, y): (f32, f32)| (centre.0 + sx * x, centre.1 + sy * y);
        let hole = (half.0 - BOARD_HOLE_INSET * scale, half.1 - BOARD_HOLE_INSET * scale);
        let chip = (CHIP_AT.0 * scale, CHIP_AT.1 * scale);
        let corners = [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)];
        let connector = at(1.0, 1.0, (CONNECTOR_AT.0 * scale, CONNECTOR_AT.1 * scale));
        Self {
            scale,
            centre,
            half,
            corner: BOARD_CORNER * scale,
            holes: corners.map(|(sx, sy)| at(sx, sy, hole)),
            screws: corners.map(|(sx, sy)| at(sx, sy, chip)),
            boss: centre,
            hole_reach: BOARD_RING_RADIUS * scale,
            part_reach: CHIP_REACH * scale,
            boss_reach: CONTROLLER_REACH * scale,
            others: vec![(connector, CONNECTOR_REACH * scale)],
        }
    }

    /// The plate's scene.
    pub fn new(width: u32, height: u32, offset: (i32, i32)) -> Self {
        let scale = scale_for(width, height);
        let centre = (width as f32 / 2.0 + offset.0 as f32, height as f32 / 2.0 + offset.1 as f32);
        let half = (PLATE_HALF.0 * scale, PLATE_HALF.1 * scale);
        let at = |sx: f32, sy: f32, (x, y): (f32, f32)| (centre.0 + sx * x, centre.1 + sy * y);
        let hole = (half.0 - HOLE_INSET * scale, half.1 - HOLE_INSET * scale);
        let screw = (SCREW_AT.0 * scale, SCREW_AT.1 * scale);
        let corners = [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)];
        Self {
            scale,
            centre,
            half,
            corner: PLATE_CORNER * scale,
            holes: corners.map(|(sx, sy)| at(sx, sy, hole)),
            screws: corners.map(|(sx, sy)| at(sx, sy, screw)),
            boss: centre,
            hole_reach: CHAMFER_RADIUS * scale,
            part_reach: SCREW_RADIUS * scale,
            boss_reach: BOSS_RADIUS * scale,
            others: Vec::new(),
        }
    }

    /// A length at the reference size, in this image's pixels.
    pub fn px(&self, reference: f32) -> f32 {
        reference * self.scale
    }

    /// The rectangle defect centres are drawn from: the plate less the
    /// edge clearance, as (left, top) and (right, bottom).
    pub fn interior(&self) -> ((f32, f32), (f32, f32)) {
        let inset = self.px(DEFECT_CLEARANCE);
        (
            (self.centre.0 - self.half.0 + inset, self.centre.1 - self.half.1 + inset),
            (self.centre.0 + self.half.0 - inset, self.centre.1 + self.half.1 - inset),
        )
    }

    /// Whether a point lies on the plate, at least `margin` pixels inside
    /// its rounded edge.
    pub fn on_plate(&self, p: (f32, f32), margin: f32) -> bool {
        crate::canvas::rounded_rect_distance(p.0 - self.centre.0, p.1 - self.centre.1, self.half, self.corner)
            <= -margin
    }

    /// Whether a point lies inside the defect area: on the plate with the
    /// edge clearance.
    pub fn in_defect_area(&self, p: (f32, f32)) -> bool {
        self.on_plate(p, self.px(DEFECT_CLEARANCE))
    }

    /// The circles a defect must keep out of, so that it is never hidden in
    /// a hole or under a screw.
    pub fn keep_outs(&self) -> Vec<Circle> {
        let clear = self.px(FEATURE_CLEARANCE);
        let holes = self.holes.iter().map(|&c| (c, self.hole_reach + clear));
        let screws = self.screws.iter().map(|&c| (c, self.part_reach + clear));
        let others = self.others.iter().map(|&(c, r)| (c, r + clear));
        holes.chain(screws).chain(std::iter::once((self.boss, self.boss_reach + clear))).chain(others).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_lie_on_the_plate_at_every_offset() {
        for offset in [(-8, -8), (0, 0), (8, 8)] {
            let layout = Layout::new(640, 480, offset);
            for &(centre, radius) in &layout.keep_outs() {
                assert!(layout.on_plate(centre, radius - layout.px(FEATURE_CLEARANCE)), "{centre:?}");
            }
        }
    }

    #[test]
    fn board_features_lie_on_the_board_at_every_offset() {
        for offset in [(-8, -8), (0, 0), (8, 8)] {
            let layout = Layout::of(Product::Board, 640, 480, offset, (0.25, -0.5));
            for &(centre, radius) in &layout.keep_outs() {
                assert!(layout.on_plate(centre, 0.0) && radius > 0.0, "{centre:?}");
            }
            assert!(layout.centre.0 + layout.half.0 < 630.0 && layout.centre.1 + layout.half.1 < 470.0);
        }
    }

    #[test]
    fn the_plate_leaves_a_border_of_conveyor() {
        let layout = Layout::new(640, 480, (8, 8));
        assert!(layout.centre.0 + layout.half.0 < 630.0 && layout.centre.1 + layout.half.1 < 470.0);
    }
}
