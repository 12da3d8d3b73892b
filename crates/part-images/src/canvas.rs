//! A floating-point RGB canvas and the shapes the scene is painted with.
//!
//! Edges are anti-aliased from signed distances (coverage = 0.5 − d,
//! clamped), so shapes at fractional positions look the same at every
//! offset. Only `+ − × ÷` and `sqrt` are used, all exactly rounded by IEEE
//! 754, so every platform paints the same values.

/// An RGB colour in grey levels (0..=255, may leave the range until
/// quantised).
pub(crate) type Rgb = [f32; 3];

/// A rectangle of pixels, `x0..x1` × `y0..y1`, possibly outside the canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PixelRect {
    pub x0: i32,
    pub y0: i32,
    pub x1: i32,
    pub y1: i32,
}

impl PixelRect {
    /// The pixels that a shape spanning `lo..hi` (in continuous
    /// coordinates, pixel centres at +0.5) can touch, with one pixel of
    /// anti-aliasing around it.
    pub fn around(lo: (f32, f32), hi: (f32, f32)) -> Self {
        Self {
            x0: lo.0.floor() as i32 - 1,
            y0: lo.1.floor() as i32 - 1,
            x1: hi.0.ceil() as i32 + 1,
            y1: hi.1.ceil() as i32 + 1,
        }
    }
}

/// A turn about a centre: a point `p` of the part is painted at
/// `centre + R·(p − centre)`, R turning by the angle whose sine and cosine
/// these are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Turn {
    pub centre: (f32, f32),
    pub sin: f32,
    pub cos: f32,
}

impl Turn {
    /// Where the part's point `p` is painted.
    pub fn forward(&self, p: (f32, f32)) -> (f32, f32) {
        let (dx, dy) = (p.0 - self.centre.0, p.1 - self.centre.1);
        (self.centre.0 + self.cos * dx - self.sin * dy, self.centre.1 + self.sin * dx + self.cos * dy)
    }

    /// The part's point painted at `q`.
    fn back(&self, q: (f32, f32)) -> (f32, f32) {
        let (dx, dy) = (q.0 - self.centre.0, q.1 - self.centre.1);
        (self.centre.0 + self.cos * dx + self.sin * dy, self.centre.1 - self.sin * dx + self.cos * dy)
    }
}

/// The image being painted, before lighting, noise and quantisation.
pub(crate) struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<Rgb>,
    /// While set, shapes are painted turned (the part turned on the belt).
    turn: Option<Turn>,
}

impl Canvas {
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height, pixels: vec![[0.0; 3]; width as usize * height as usize], turn: None }
    }

    /// Paints what follows turned by `turn` (or upright, for `None`).
    pub fn set_turn(&mut self, turn: Option<Turn>) {
        self.turn = turn;
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn pixels(&self) -> &[Rgb] {
        &self.pixels
    }

    /// Calls `shade` at the centre of every pixel of `rect` that lies on
    /// the canvas; a returned `(colour, alpha)` is blended over the pixel.
    /// `shade` also gets the pixel's current colour, for effects that
    /// darken or brighten what is there.
    pub fn paint(&mut self, rect: PixelRect, mut shade: impl FnMut(f32, f32, Rgb) -> Option<(Rgb, f32)>) {
        if let Some(turn) = self.turn {
            return self.paint_turned(rect, turn, shade);
        }
        let x0 = rect.x0.max(0) as u32;
        let y0 = rect.y0.max(0) as u32;
        let x1 = (rect.x1.max(0) as u32).min(self.width);
        let y1 = (rect.y1.max(0) as u32).min(self.height);
        for y in y0..y1 {
            let row = y as usize * self.width as usize;
            for x in x0..x1 {
                let pixel = &mut self.pixels[row + x as usize];
                if let Some((colour, alpha)) = shade(x as f32 + 0.5, y as f32 + 0.5, *pixel) {
                    let alpha = alpha.clamp(0.0, 1.0);
                    for c in 0..3 {
                        pixel[c] += (colour[c] - pixel[c]) * alpha;
                    }
                }
            }
        }
    }

    /// [`Canvas::paint`] with the shape turned: each pixel the turned `rect`
    /// covers is shaded at the point of the upright shape it shows.
    fn paint_turned(
        &mut self,
        rect: PixelRect,
        turn: Turn,
        mut shade: impl FnMut(f32, f32, Rgb) -> Option<(Rgb, f32)>,
    ) {
        let corners = [(rect.x0, rect.y0), (rect.x1, rect.y0), (rect.x0, rect.y1), (rect.x1, rect.y1)]
            .map(|(x, y)| turn.forward((x as f32, y as f32)));
        let lo = corners.iter().fold((f32::MAX, f32::MAX), |m, c| (m.0.min(c.0), m.1.min(c.1)));
        let hi = corners.iter().fold((f32::MIN, f32::MIN), |m, c| (m.0.max(c.0), m.1.max(c.1)));
        let x0 = (lo.0.floor().max(0.0) as u32).min(self.width);
        let y0 = (lo.1.floor().max(0.0) as u32).min(self.height);
        let x1 = (hi.0.ceil().max(0.0) as u32).min(self.width);
        let y1 = (hi.1.ceil().max(0.0) as u32).min(self.height);
        let (left, top, right, bottom) = (rect.x0 as f32, rect.y0 as f32, rect.x1 as f32, rect.y1 as f32);
        for y in y0..y1 {
            let row = y as usize * self.width as usize;
            for x in x0..x1 {
                let (px, py) = turn.back((x as f32 + 0.5, y as f32 + 0.5));
                if px < left || px >= right || py < top || py >= bottom {
                    continue;
                }
                let pixel = &mut self.pixels[row + x as usize];
                if let Some((colour, alpha)) = shade(px, py, *pixel) {
                    let alpha = alpha.clamp(0.0, 1.0);
                    for c in 0..3 {
                        pixel[c] += (colour[c] - pixel[c]) * alpha;
                    }
                }
            }
        }
    }

    /// A filled disc of `colour`.
    pub fn disc(&mut self, centre: (f32, f32), radius: f32, colour: Rgb) {
        let rect = PixelRect::around((centre.0 - radius, centre.1 - radius), (centre.0 + radius, centre.1 + radius));
        self.paint(rect, |x, y, _| {
            let d = length(x - centre.0, y - centre.1) - radius;
            coverage(d).map(|a| (colour, a))
        });
    }

    /// A line `from`-`to`, `width` wide with round ends, blended with
    /// `opacity`.
    pub fn line(&mut self, from: (f32, f32), to: (f32, f32), width: f32, colour: Rgb, opacity: f32) {
        let half = width / 2.0;
        let rect = PixelRect::around(
            (from.0.min(to.0) - half, from.1.min(to.1) - half),
            (from.0.max(to.0) + half, from.1.max(to.1) + half),
        );
        self.paint(rect, |x, y, _| {
            let d = segment_distance((x, y), from, to) - half;
            coverage(d).map(|a| (colour, a * opacity))
        });
    }
}

/// Anti-aliased coverage of a pixel whose centre is `d` pixels outside a
/// shape's edge (negative inside); `None` when the pixel is untouched.
pub(crate) fn coverage(d: f32) -> Option<f32> {
    let a = (0.5 - d).clamp(0.0, 1.0);
    (a > 0.0).then_some(a)
}

pub(crate) fn length(x: f32, y: f32) -> f32 {
    (x * x + y * y).sqrt()
}

/// Distance from `p` to the segment `a`-`b`.
pub(crate) fn segment_distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (abx, aby) = (b.0 - a.0, b.1 - a.1);
    let (apx, apy) = (p.0 - a.0, p.1 - a.1);
    let len2 = abx * abx + aby * aby;
    let t = if len2 > 0.0 { ((apx * abx + apy * aby) / len2).clamp(0.0, 1.0) } else { 0.0 };
    length(apx - t * abx, apy - t * aby)
}

/// Signed distance to a rounded rectangle of half extents `half` and
/// corner radius `radius`, centred at the origin.
pub(crate) fn rounded_rect_distance(px: f32, py: f32, half: (f32, f32), radius: f32) -> f32 {
    let qx = px.abs() - (half.0 - radius);
    let qy = py.abs() - (half.1 - radius);
    let outside = length(qx.max(0.0), qy.max(0.0));
    let inside = qx.max(qy).min(0.0);
    outside + inside - radius
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounded_rect_distance_is_negative_inside_and_zero_on_the_edge() {
        assert!(rounded_rect_distance(0.0, 0.0, (10.0, 5.0), 2.0) < 0.0);
        assert!((rounded_rect_distance(10.0, 0.0, (10.0, 5.0), 2.0)).abs() < 1e-6);
        assert!(rounded_rect_distance(10.0, 5.0, (10.0, 5.0), 2.0) > 0.5);
    }

    #[test]
    fn segment_distance_measures_to_the_nearest_point() {
        assert_eq!(segment_distance((5.0, 3.0), (0.0, 0.0), (10.0, 0.0)), 3.0);
        assert_eq!(segment_distance((13.0, 4.0), (0.0, 0.0), (10.0, 0.0)), 5.0);
    }
}
