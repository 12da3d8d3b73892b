//! [`GoodModel`]: what good parts look like, cell by cell, and how far a
//! frame is from it.
//!
//! Learning aligns every good image to a common reference, removes each
//! one's brightness gain and offset, and keeps the mean and variance of
//! each cell's features. Scoring does the same to a frame and measures each
//! cell's distance from the mean in standard deviations (a diagonal
//! Mahalanobis distance); the frame score is the largest cell score.

use std::cell::RefCell;

use serde::Serialize;

use crate::boxes::{regions, AnomalyBox};
use crate::features::{best_shift, cell_features, profiles, CellFeatures, Geometry, Workspace, FEATURES, LUMA};
use crate::frame::{FilterError, FrameView};
use crate::settings::FilterSettings;

/// Fewest good images a model is learned from: fewer give variances too
/// noisy to set a threshold with.
pub const MIN_LEARN_IMAGES: usize = 8;

/// Standard deviations added (in quadrature) to every learned one, per
/// feature: luminance, gradient, R−B, 2G−R−B, in grey levels. They stand
/// for the variation a small good set does not show, and keep cells that
/// happened to be identical in every good image from scoring noise as a
/// defect.
const SIGMA_FLOOR: CellFeatures = [2.5, 1.0, 1.5, 1.5];

/// The least threshold a model learns. Small good sets (8 to 12 images)
/// underestimate the spread of unseen good parts; on the generated set,
/// good parts scored up to 4.4 against a model of 8 images, defects 6 and
/// more. A configured threshold may go lower.
pub const MIN_LEARNED_THRESHOLD: f32 = 5.0;

/// Gains outside this range are clamped: such a frame is too dark or too
/// bright to normalise, and the clamped gain leaves it far from the model.
const GAIN_RANGE: (f32, f32) = (0.25, 4.0);

/// The result of scoring one frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameScore {
    /// The largest cell score (standard deviations from the good model).
    pub score: f32,
    /// The threshold it was compared with.
    pub threshold: f32,
    /// Whether the frame looks defective: a region with at least
    /// `min_cells` cells at or above the threshold.
    pub flagged: bool,
    /// The anomalous regions of a flagged frame, highest score first.
    pub boxes: Vec<AnomalyBox>,
    /// The frame's shift from the learned reference, in pixels.
    pub shift: (i32, i32),
    /// The brightness gain the frame was divided by.
    pub gain: f32,
}

/// The learned appearance of good parts.
#[derive(Debug)]
pub struct GoodModel {
    settings: FilterSettings,
    geometry: Geometry,
    reference_columns: Vec<f32>,
    reference_rows: Vec<f32>,
    mean: Vec<CellFeatures>,
    mean_luma: Vec<f32>,
    inverse_sigma: Vec<CellFeatures>,
    learned_threshold: f32,
    threshold: f32,
    images: usize,
    /// Buffers for [`GoodModel::score`]; `score_with` takes the caller's.
    workspace: RefCell<Workspace>,
}

impl GoodModel {
    /// Learns from good images, all of one size; at least
    /// [`MIN_LEARN_IMAGES`].
    pub fn learn(frames: &[FrameView], settings: &FilterSettings) -> Result<Self, FilterError> {
        settings.validate()?;
        if frames.len() < MIN_LEARN_IMAGES {
            return Err(FilterError::TooFewImages { need: MIN_LEARN_IMAGES, got: frames.len() });
        }
        let first = frames[0];
        for (index, frame) in frames.iter().enumerate() {
            frame.check()?;
            if (frame.width, frame.height) != (first.width, first.height) {
                return Err(FilterError::MixedSizes {
                    index,
                    width: first.width,
                    height: first.height,
                    got_width: frame.width,
                    got_height: frame.height,
                });
            }
        }
        let geometry = Geometry::new(settings, first.width, first.height)?;
        let mut ws = Workspace::default();

        let (reference_columns, reference_rows) = reference_profiles(frames, geometry.max_shift, &mut ws);

        // Raw features of each image at its shift from the reference.
        let mut raw: Vec<Vec<CellFeatures>> = Vec::with_capacity(frames.len());
        for frame in frames {
            profiles(frame, &mut ws);
            let shift = (
                best_shift(&ws.columns, &reference_columns, geometry.max_shift),
                best_shift(&ws.rows, &reference_rows, geometry.max_shift),
            );
            cell_features(frame, &geometry, shift, &mut ws);
            raw.push(ws.cells.clone());
        }

        // Brightness: each image's gain and offset against the mean
        // luminance, twice, since the mean moves once the gains are out.
        let mut normalised = raw.clone();
        let mut stats = CellStats::of(&normalised);
        for _ in 0..2 {
            let mean_luma: Vec<f32> = stats.mean.iter().map(|c| c[LUMA]).collect();
            for (cells, raw_cells) in normalised.iter_mut().zip(&raw) {
                cells.copy_from_slice(raw_cells);
                let (gain, offset) = fit_brightness(raw_cells, &mean_luma, &mut ws.scores);
                apply_brightness(cells, gain, offset);
            }
            stats = CellStats::of(&normalised);
        }

        let inverse_sigma = stats
            .variance
            .iter()
            .map(|v| std::array::from_fn(|f| 1.0 / (v[f] + SIGMA_FLOOR[f] * SIGMA_FLOOR[f]).sqrt()))
            .collect();
        let learned_threshold = (leave_one_out_max(&normalised, &stats) * settings.margin).max(MIN_LEARNED_THRESHOLD);
        let threshold = settings.threshold.unwrap_or(learned_threshold);
        tracing::debug!(
            images = frames.len(),
            cells = geometry.cells(),
            learned_threshold,
            threshold,
            "learned good model"
        );
        Ok(Self {
            settings: settings.clone(),
            geometry,
            reference_columns,
            reference_rows,
            mean_luma: stats.mean.iter().map(|c| c[LUMA]).collect(),
            mean: stats.mean,
            inverse_sigma,
            learned_threshold,
            threshold,
            images: frames.len(),
            workspace: RefCell::new(Workspace::default()),
        })
    }

    /// Scores a frame of the learned size.
    pub fn score(&self, frame: &FrameView) -> Result<FrameScore, FilterError> {
        let mut ws = self.workspace.borrow_mut();
        self.score_with(frame, &mut ws)
    }

    /// As [`GoodModel::score`], with buffers the caller keeps, for scoring
    /// from several threads with one model.
    pub fn score_with(&self, frame: &FrameView, ws: &mut Workspace) -> Result<FrameScore, FilterError> {
        frame.check()?;
        let g = &self.geometry;
        if (frame.width, frame.height) != (g.width, g.height) {
            return Err(FilterError::SizeMismatch {
                width: g.width,
                height: g.height,
                got_width: frame.width,
                got_height: frame.height,
            });
        }
        profiles(frame, ws);
        let shift = (
            best_shift(&ws.columns, &self.reference_columns, g.max_shift),
            best_shift(&ws.rows, &self.reference_rows, g.max_shift),
        );
        cell_features(frame, g, shift, ws);

        let mut scratch = std::mem::take(&mut ws.scores);
        let (gain, offset) = fit_brightness(&ws.cells, &self.mean_luma, &mut scratch);
        apply_brightness(&mut ws.cells, gain, offset);

        scratch.clear();
        scratch.extend(ws.cells.iter().zip(&self.mean).zip(&self.inverse_sigma).map(|((x, m), s)| cell_score(x, m, s)));
        ws.scores = scratch;
        let score = ws.scores.iter().copied().fold(0.0, f32::max);
        let boxes = regions(&ws.scores, g, self.threshold, self.settings.min_cells, self.settings.max_boxes, shift);
        Ok(FrameScore { score, threshold: self.threshold, flagged: !boxes.is_empty(), boxes, shift, gain })
    }

    /// The threshold in use.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The threshold learned from the good set (its largest leave-one-out
    /// score times the margin, at least [`MIN_LEARNED_THRESHOLD`]), whether
    /// or not it is in use.
    pub fn learned_threshold(&self) -> f32 {
        self.learned_threshold
    }

    /// Uses `threshold`, or the learned one for `None`.
    pub fn set_threshold(&mut self, threshold: Option<f32>) {
        self.threshold = threshold.filter(|t| t.is_finite() && *t > 0.0).unwrap_or(self.learned_threshold);
        self.settings.threshold = threshold;
    }

    /// The frame size the model scores.
    pub fn frame_size(&self) -> (u32, u32) {
        (self.geometry.width, self.geometry.height)
    }

    /// The number of good images it was learned from.
    pub fn learned_from(&self) -> usize {
        self.images
    }

    /// The settings it was learned with.
    pub fn settings(&self) -> &FilterSettings {
        &self.settings
    }
}

/// Profiles of the part at its median position in the good set: every
/// image is aligned to the first (searching twice the usual range, since two
/// parts can be shifted in opposite directions), the reference moved to
/// the median shift, and the aligned profiles averaged.
fn reference_profiles(frames: &[FrameView], max_shift: i32, ws: &mut Workspace) -> (Vec<f32>, Vec<f32>) {
    let (mut columns, mut rows) = (Vec::with_capacity(frames.len()), Vec::with_capacity(frames.len()));
    for frame in frames {
        profiles(frame, ws);
        columns.push(ws.columns.clone());
        rows.push(ws.rows.clone());
    }
    (aligned_average(&columns, 2 * max_shift), aligned_average(&rows, 2 * max_shift))
}

/// The average of `profiles`, each moved onto the first, then the whole
/// moved to the median shift.
fn aligned_average(profiles: &[Vec<f32>], search: i32) -> Vec<f32> {
    let shifts: Vec<i32> = profiles.iter().map(|p| best_shift(p, &profiles[0], search)).collect();
    let mut sorted = shifts.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    let len = profiles[0].len() as i32;
    let mut sum = vec![0.0f32; len as usize];
    for (profile, shift) in profiles.iter().zip(&shifts) {
        let offset = shift - median;
        for (i, v) in sum.iter_mut().enumerate() {
            *v += profile[(i as i32 + offset).clamp(0, len - 1) as usize];
        }
    }
    let n = profiles.len() as f32;
    sum.iter_mut().for_each(|v| *v /= n);
    sum
}

/// Mean and (sample) variance of each feature of each cell over a set.
struct CellStats {
    mean: Vec<CellFeatures>,
    variance: Vec<CellFeatures>,
    sum: Vec<CellFeatures>,
    sum_sq: Vec<CellFeatures>,
    n: usize,
}

impl CellStats {
    fn of(set: &[Vec<CellFeatures>]) -> Self {
        let cells = set[0].len();
        let mut sum = vec![[0.0f64; FEATURES]; cells];
        let mut sum_sq = vec![[0.0f64; FEATURES]; cells];
        for image in set {
            for ((s, q), x) in sum.iter_mut().zip(&mut sum_sq).zip(image) {
                for f in 0..FEATURES {
                    s[f] += x[f] as f64;
                    q[f] += x[f] as f64 * x[f] as f64;
                }
            }
        }
        let n = set.len() as f64;
        let mean = sum.iter().map(|s| std::array::from_fn(|f| (s[f] / n) as f32)).collect();
        let variance = sum
            .iter()
            .zip(&sum_sq)
            .map(|(s, q)| std::array::from_fn(|f| ((q[f] - s[f] * s[f] / n) / (n - 1.0)).max(0.0) as f32))
            .collect();
        let to_f32 = |v: Vec<[f64; FEATURES]>| v.into_iter().map(|c| c.map(|x| x as f32)).collect();
        Self { mean, variance, sum: to_f32(sum), sum_sq: to_f32(sum_sq), n: set.len() }
    }
}

/// The largest cell score of any good image against the statistics of the
/// others (leave-one-out, from the sums without refitting), which is what
/// an unseen good part scores, unlike its score against a model that
/// includes it.
fn leave_one_out_max(set: &[Vec<CellFeatures>], stats: &CellStats) -> f32 {
    let rest = (stats.n - 1) as f32;
    let mut worst = 0.0f32;
    for image in set {
        for (c, x) in image.iter().enumerate() {
            let mut mean = [0.0; FEATURES];
            let mut inverse_sigma = [0.0; FEATURES];
            for f in 0..FEATURES {
                let m = (stats.sum[c][f] - x[f]) / rest;
                let v = ((stats.sum_sq[c][f] - x[f] * x[f] - rest * m * m) / (rest - 1.0)).max(0.0);
                mean[f] = m;
                inverse_sigma[f] = 1.0 / (v + SIGMA_FLOOR[f] * SIGMA_FLOOR[f]).sqrt();
            }
            worst = worst.max(cell_score(x, &mean, &inverse_sigma));
        }
    }
    worst
}

/// Euclidean length of the cell's z-scores.
fn cell_score(x: &CellFeatures, mean: &CellFeatures, inverse_sigma: &CellFeatures) -> f32 {
    let mut sum = 0.0;
    for f in 0..FEATURES {
        let z = (x[f] - mean[f]) * inverse_sigma[f];
        sum += z * z;
    }
    sum.sqrt()
}

/// Gain and offset with `luma ≈ gain · mean + offset` over all cells, by
/// least squares, refitted once without the cells more than three median
/// residuals off (a defect must not pull the fit). `scratch` is reused.
fn fit_brightness(cells: &[CellFeatures], mean: &[f32], scratch: &mut Vec<f32>) -> (f32, f32) {
    let fit = |keep: &dyn Fn(usize) -> bool| {
        let (mut n, mut sx, mut sy, mut sxx, mut sxy) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (i, (c, &m)) in cells.iter().zip(mean).enumerate() {
            if keep(i) {
                let (x, y) = (m as f64, c[LUMA] as f64);
                n += 1.0;
                sx += x;
                sy += y;
                sxx += x * x;
                sxy += x * y;
            }
        }
        let det = n * sxx - sx * sx;
        if n < 2.0 || det.abs() < 1e-9 {
            return (1.0f32, 0.0f32);
        }
        let gain = (n * sxy - sx * sy) / det;
        let offset = (sy - gain * sx) / n;
        (gain as f32, offset as f32)
    };
    let (gain, offset) = fit(&|_| true);
    let residual = |i: usize| (cells[i][LUMA] - (gain * mean[i] + offset)).abs();
    scratch.clear();
    scratch.extend((0..cells.len()).map(residual));
    let mid = scratch.len() / 2;
    let median = if scratch.is_empty() { 0.0 } else { *scratch.select_nth_unstable_by(mid, f32::total_cmp).1 };
    let limit = 3.0 * median.max(0.5);
    let (gain, offset) = fit(&|i| residual(i) <= limit);
    (gain.clamp(GAIN_RANGE.0, GAIN_RANGE.1), offset)
}

/// Maps a frame's features to the model's brightness: luminance loses the
/// offset, and every feature (all linear in the pixel values) is divided
/// by the gain.
fn apply_brightness(cells: &mut [CellFeatures], gain: f32, offset: f32) {
    let inverse = 1.0 / gain;
    for cell in cells {
        cell[LUMA] -= offset;
        cell.iter_mut().for_each(|v| *v *= inverse);
    }
}
