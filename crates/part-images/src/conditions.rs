//! What a real line does to the picture of a part, applied to a rendered
//! image: [`Conditions`] (rotation, sub-pixel shift, brightness and contrast
//! drift, vignetting, motion blur, sensor noise), and [`Condition`], the
//! named kinds a benchmark draws them by.
//!
//! Rotation turns the whole picture about its centre, belt included (a
//! camera or fixture turned against the line); a part turning on a belt
//! that stays put is drawn by the renderer (`PartSpec::turn_deg`, through
//! [`Conditions::on_part`]). Like the scene, everything is plain f32
//! arithmetic from a seeded `ChaCha8Rng`: sine and cosine come from short
//! series, not the platform's maths library.

use image::RgbImage;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::random::{direction, uniform};
use crate::spec::{PartSpec, TruthBox};

/// What the camera saw, beyond the part itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conditions {
    /// Rotation about the image centre, degrees (counter-clockwise on
    /// screen; at most ±20).
    pub rotation_deg: f32,
    /// Shift in pixels, fractions included.
    pub shift: (f32, f32),
    /// Grey levels added.
    pub brightness: f32,
    /// Factor about mid-grey (128).
    pub contrast: f32,
    /// Fraction of the light lost in the corners (0..=0.8), falling off
    /// with the square of the distance from the centre.
    pub vignetting: f32,
    /// Length of the motion blur in pixels (0: none), and its direction.
    pub motion_blur_px: f32,
    pub motion_direction: (f32, f32),
    /// Standard deviation of added sensor noise, grey levels.
    pub noise: f32,
    /// Seeds the noise.
    pub seed: u64,
    /// The part turned on the belt, degrees (the belt does not turn): not
    /// applied to a picture but to the part before it is rendered,
    /// [`Conditions::on_part`].
    pub part_turn_deg: f32,
}

impl Conditions {
    /// The picture as rendered.
    pub const NONE: Conditions = Conditions {
        rotation_deg: 0.0,
        shift: (0.0, 0.0),
        brightness: 0.0,
        contrast: 1.0,
        vignetting: 0.0,
        motion_blur_px: 0.0,
        motion_direction: (1.0, 0.0),
        noise: 0.0,
        seed: 0,
        part_turn_deg: 0.0,
    };

    /// The part as it lies on the belt under these conditions.
    pub fn on_part(&self, spec: PartSpec) -> PartSpec {
        PartSpec { turn_deg: self.part_turn_deg, ..spec }
    }

    /// `image` as the camera sees it under these conditions.
    pub fn apply(&self, image: &RgbImage) -> RgbImage {
        let (width, height) = image.dimensions();
        let (w, h) = (width as f32, height as f32);
        let centre = (w / 2.0, h / 2.0);
        let (sin, cos) = sin_cos_small(self.rotation_deg.clamp(-20.0, 20.0).to_radians());
        // Samples along the blur: one per pixel of its length.
        let taps = (self.motion_blur_px.max(0.0).ceil() as usize).max(1);
        let offsets: Vec<(f32, f32)> = (0..taps)
            .map(|i| {
                let t = if taps == 1 { 0.0 } else { self.motion_blur_px * (i as f32 / (taps - 1) as f32 - 0.5) };
                (t * self.motion_direction.0, t * self.motion_direction.1)
            })
            .collect();
        let max_r2 = centre.0 * centre.0 + centre.1 * centre.1;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut out = RgbImage::new(width, height);
        for (x, y, pixel) in out.enumerate_pixels_mut() {
            let mut sum = [0.0f32; 3];
            for (ox, oy) in &offsets {
                // Where this output pixel comes from: the shift and the
                // rotation undone.
                let (px, py) =
                    (x as f32 + 0.5 + ox - self.shift.0 - centre.0, y as f32 + 0.5 + oy - self.shift.1 - centre.1);
                let (sx, sy) = (cos * px + sin * py + centre.0 - 0.5, -sin * px + cos * py + centre.1 - 0.5);
                let sample = bilinear(image, sx, sy);
                (0..3).for_each(|c| sum[c] += sample[c]);
            }
            let (dx, dy) = (x as f32 + 0.5 - centre.0, y as f32 + 0.5 - centre.1);
            let light = 1.0 - self.vignetting.clamp(0.0, 0.8) * (dx * dx + dy * dy) / max_r2;
            let noise =
                if self.noise > 0.0 { [gaussian(&mut rng), gaussian(&mut rng), gaussian(&mut rng)] } else { [0.0; 3] };
            for c in 0..3 {
                let value = sum[c] / taps as f32;
                let value = (self.contrast * (value - 128.0) + 128.0 + self.brightness) * light + self.noise * noise[c];
                pixel.0[c] = value.round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    /// Where a box of the rendered image lies in the picture: the bounding
    /// box of its turned and shifted corners, widened by the blur, within
    /// the image.
    pub fn map_box(&self, truth: TruthBox, width: u32, height: u32) -> TruthBox {
        let centre = (width as f32 / 2.0, height as f32 / 2.0);
        let (sin, cos) = sin_cos_small(self.rotation_deg.clamp(-20.0, 20.0).to_radians());
        let corners = [
            (truth.x as f32, truth.y as f32),
            ((truth.x + truth.width) as f32, truth.y as f32),
            (truth.x as f32, (truth.y + truth.height) as f32),
            ((truth.x + truth.width) as f32, (truth.y + truth.height) as f32),
        ];
        let moved: Vec<(f32, f32)> = corners
            .iter()
            .map(|(x, y)| {
                let (px, py) = (x - centre.0, y - centre.1);
                (cos * px - sin * py + centre.0 + self.shift.0, sin * px + cos * py + centre.1 + self.shift.1)
            })
            .collect();
        let grow = self.motion_blur_px.max(0.0) / 2.0;
        let min_x = moved.iter().map(|p| p.0).fold(f32::MAX, f32::min) - grow;
        let max_x = moved.iter().map(|p| p.0).fold(f32::MIN, f32::max) + grow;
        let min_y = moved.iter().map(|p| p.1).fold(f32::MAX, f32::min) - grow;
        let max_y = moved.iter().map(|p| p.1).fold(f32::MIN, f32::max) + grow;
        let clamp_x = |v: f32| v.floor().clamp(0.0, width as f32) as u32;
        let clamp_y = |v: f32| v.floor().clamp(0.0, height as f32) as u32;
        let (x, y) = (clamp_x(min_x), clamp_y(min_y));
        TruthBox {
            x,
            y,
            width: clamp_x(max_x.ceil()).saturating_sub(x).max(1),
            height: clamp_y(max_y.ceil()).saturating_sub(y).max(1),
        }
    }
}

/// The named conditions a benchmark draws: each alone at a realistic
/// strength, nominal, and all of them at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Condition {
    /// Nothing beyond the rendered scene's own variation.
    Nominal,
    /// Turned up to ±10°.
    Rotation,
    /// Shifted by up to ±2.5 px, fractions included.
    SubPixelShift,
    /// Brightness drift of ±30 levels.
    Brightness,
    /// Contrast drift of 0.75 to 1.25.
    Contrast,
    /// 10 % to 35 % of the light lost in the corners.
    Vignetting,
    /// Motion blur of 1.5 to 3 px.
    MotionBlur,
    /// Sensor noise σ 3 to 6 levels on top of the scene's own.
    Noise,
    /// Every one of the above at once (the whole picture turned, not the
    /// part on the belt).
    All,
    /// The part turned up to ±10° on a belt that stays put.
    PartTurn,
}

impl Condition {
    pub const EVERY: [Condition; 10] = [
        Self::Nominal,
        Self::Rotation,
        Self::SubPixelShift,
        Self::Brightness,
        Self::Contrast,
        Self::Vignetting,
        Self::MotionBlur,
        Self::Noise,
        Self::All,
        Self::PartTurn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nominal => "nominal",
            Self::Rotation => "rotation ±10°",
            Self::SubPixelShift => "sub-pixel shift",
            Self::Brightness => "brightness ±30",
            Self::Contrast => "contrast 0.75-1.25",
            Self::Vignetting => "vignetting 10-35 %",
            Self::MotionBlur => "motion blur 1.5-3 px",
            Self::Noise => "noise σ 3-6",
            Self::All => "all at once",
            Self::PartTurn => "part turned ±10° on the belt",
        }
    }

    /// Conditions of this kind drawn from `seed`.
    pub fn draw(self, seed: u64) -> Conditions {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut c = Conditions { seed: seed ^ 0x5eed, ..Conditions::NONE };
        let all = self == Self::All;
        if all || self == Self::Rotation {
            c.rotation_deg = uniform(&mut rng, -10.0, 10.0);
        }
        if all || self == Self::SubPixelShift {
            c.shift = (uniform(&mut rng, -2.5, 2.5), uniform(&mut rng, -2.5, 2.5));
        }
        if all || self == Self::Brightness {
            c.brightness = uniform(&mut rng, -30.0, 30.0);
        }
        if all || self == Self::Contrast {
            c.contrast = uniform(&mut rng, 0.75, 1.25);
        }
        if all || self == Self::Vignetting {
            c.vignetting = uniform(&mut rng, 0.10, 0.35);
        }
        if all || self == Self::MotionBlur {
            c.motion_blur_px = uniform(&mut rng, 1.5, 3.0);
            c.motion_direction = direction(&mut rng);
        }
        if all || self == Self::Noise {
            c.noise = uniform(&mut rng, 3.0, 6.0);
        }
        if self == Self::PartTurn {
            c.part_turn_deg = uniform(&mut rng, -10.0, 10.0);
        }
        c
    }
}

/// Sine and cosine of an angle of at most about 0.35 rad (20°), from
/// their series to the 9th and 10th power: within 1e-7 there, and the same
/// bits on every platform.
pub(crate) fn sin_cos_small(angle: f32) -> (f32, f32) {
    let a2 = angle * angle;
    let sin = angle * (1.0 - a2 / 6.0 * (1.0 - a2 / 20.0 * (1.0 - a2 / 42.0 * (1.0 - a2 / 72.0))));
    let cos = 1.0 - a2 / 2.0 * (1.0 - a2 / 12.0 * (1.0 - a2 / 30.0 * (1.0 - a2 / 56.0 * (1.0 - a2 / 90.0))));
    (sin, cos)
}

/// The image at a point between pixels (edges repeat).
fn bilinear(image: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (image.width() as i32, image.height() as i32);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let at = |xi: i32, yi: i32| image.get_pixel(xi.clamp(0, w - 1) as u32, yi.clamp(0, h - 1) as u32).0;
    let (x0, y0) = (x0 as i32, y0 as i32);
    let (a, b, c, d) = (at(x0, y0), at(x0 + 1, y0), at(x0, y0 + 1), at(x0 + 1, y0 + 1));
    std::array::from_fn(|i| {
        let top = a[i] as f32 * (1.0 - fx) + b[i] as f32 * fx;
        let bottom = c[i] as f32 * (1.0 - fx) + d[i] as f32 * fx;
        top * (1.0 - fy) + bottom * fy
    })
}

/// A standard normal draw, near enough for sensor noise: the sum of four
/// uniforms, centred and scaled to unit variance.
fn gaussian(rng: &mut ChaCha8Rng) -> f32 {
    let sum: f32 = (0..4).map(|_| uniform(rng, 0.0, 1.0)).sum();
    (sum - 2.0) * 3.0f32.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene() -> RgbImage {
        RgbImage::from_fn(64, 48, |x, y| {
            if (16..48).contains(&x) && (12..36).contains(&y) {
                image::Rgb([200, 200, 200])
            } else {
                image::Rgb([40, 40, 40])
            }
        })
    }

    #[test]
    fn no_conditions_leave_the_image_as_it_was() {
        assert_eq!(Conditions::NONE.apply(&scene()), scene());
    }

    #[test]
    fn the_series_match_the_library_within_a_tenth_of_a_millionth() {
        for degrees in [-20.0f32, -10.0, -0.5, 0.0, 3.0, 10.0, 20.0] {
            let (sin, cos) = sin_cos_small(degrees.to_radians());
            assert!((sin - degrees.to_radians().sin()).abs() < 1e-7 && (cos - degrees.to_radians().cos()).abs() < 1e-7);
        }
    }

    #[test]
    fn a_shift_moves_the_picture_and_its_box() {
        let shifted = Conditions { shift: (3.0, 2.0), ..Conditions::NONE };
        let image = shifted.apply(&scene());
        assert_eq!(image.get_pixel(18, 13).0, [40, 40, 40]);
        assert_eq!(image.get_pixel(19, 14).0, [200, 200, 200]);
        let truth = TruthBox { x: 16, y: 12, width: 32, height: 24 };
        assert_eq!(shifted.map_box(truth, 64, 48), TruthBox { x: 19, y: 14, width: 32, height: 24 });
    }

    #[test]
    fn a_quarter_turn_box_stays_on_the_turned_part() {
        let turned = Conditions { rotation_deg: 10.0, ..Conditions::NONE };
        let image = turned.apply(&scene());
        let truth = turned.map_box(TruthBox { x: 16, y: 12, width: 32, height: 24 }, 64, 48);
        // The part's centre stays bright; the box grew to hold the turned corners.
        assert_eq!(image.get_pixel(32, 24).0, [200, 200, 200]);
        assert!(truth.width > 32 && truth.height > 24 && truth.contains(32, 24), "{truth:?}");
    }

    #[test]
    fn photometric_drift_changes_levels_not_places() {
        let dim = Conditions { brightness: -20.0, contrast: 0.5, vignetting: 0.5, ..Conditions::NONE };
        let image = dim.apply(&scene());
        // Centre: 0.5·(200−128)+128−20 = 144, barely vignetted.
        assert!((143..=144).contains(&image.get_pixel(32, 24).0[0]), "{:?}", image.get_pixel(32, 24));
        // Corner: 0.5·(40−128)+128−20 = 64, less about half the light.
        assert!(image.get_pixel(0, 0).0[0] < 40, "{:?}", image.get_pixel(0, 0));
    }

    #[test]
    fn blur_softens_edges_and_noise_varies_flat_areas() {
        let blurred = Conditions { motion_blur_px: 4.0, ..Conditions::NONE }.apply(&scene());
        let edge = blurred.get_pixel(16, 24).0[0];
        assert!((60..190).contains(&edge), "{edge}");
        let noisy = Conditions { noise: 5.0, seed: 3, ..Conditions::NONE }.apply(&scene());
        let values: Vec<u8> = (0..10).map(|x| noisy.get_pixel(x, 2).0[0]).collect();
        assert!(values.iter().any(|v| *v != 40), "{values:?}");
        assert_eq!(noisy, Conditions { noise: 5.0, seed: 3, ..Conditions::NONE }.apply(&scene()), "seeded");
    }

    #[test]
    fn each_condition_draws_only_its_own_kind_within_its_range() {
        for seed in 0..50 {
            let turned = Condition::Rotation.draw(seed);
            assert!(turned.rotation_deg.abs() <= 10.0 && turned.brightness == 0.0 && turned.noise == 0.0);
            let all = Condition::All.draw(seed);
            assert!(all.motion_blur_px >= 1.5 && all.vignetting >= 0.1 && all.contrast != 1.0);
        }
        assert_eq!(Condition::Nominal.draw(9), Conditions { seed: 9 ^ 0x5eed, ..Conditions::NONE });
    }
}
