//! Where the plate and its features sit in an image: pure geometry, shared
//! by the painter, the defect placement and the tests.
//!
//! All sizes are given for the reference image of 640x480 and scaled with
//! the image, so a 320x240 image shows the same scene at half size.

use crate::spec::scale_for;

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
}

impl Layout {
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
        let holes = self.holes.iter().map(|&c| (c, self.px(CHAMFER_RADIUS) + clear));
        let screws = self.screws.iter().map(|&c| (c, self.px(SCREW_RADIUS) + clear));
        holes.chain(screws).chain(std::iter::once((self.boss, self.px(BOSS_RADIUS) + clear))).collect()
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
    fn the_plate_leaves_a_border_of_conveyor() {
        let layout = Layout::new(640, 480, (8, 8));
        assert!(layout.centre.0 + layout.half.0 < 630.0 && layout.centre.1 + layout.half.1 < 470.0);
    }
}
