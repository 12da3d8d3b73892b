//! Uniform draws written out here rather than taken from `rand`'s
//! distributions, whose exact values may change between `rand` versions:
//! the same seed must give the same image for as long as this crate lives.

use rand::RngCore;

/// A float in `lo..hi`, from the top 24 bits of one `u32` (exact in f32).
pub(crate) fn uniform(rng: &mut (impl RngCore + ?Sized), lo: f32, hi: f32) -> f32 {
    let unit = (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32;
    lo + (hi - lo) * unit
}

/// An integer in `lo..=hi`. The modulo bias (below 2^-24 for the small
/// ranges used here) does not matter for test images.
pub(crate) fn uniform_int(rng: &mut (impl RngCore + ?Sized), lo: i32, hi: i32) -> i32 {
    let span = (hi - lo + 1).max(1) as u32;
    lo + (rng.next_u32() % span) as i32
}

/// A unit vector in a uniformly drawn direction, by rejection from the
/// square, so that no trigonometric function (whose last bit may differ
/// between platforms) is involved.
pub(crate) fn direction(rng: &mut (impl RngCore + ?Sized)) -> (f32, f32) {
    loop {
        let x = uniform(rng, -1.0, 1.0);
        let y = uniform(rng, -1.0, 1.0);
        let norm2 = x * x + y * y;
        if (0.04..=1.0).contains(&norm2) {
            let norm = norm2.sqrt();
            return (x / norm, y / norm);
        }
    }
}
