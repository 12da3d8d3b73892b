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

use crate::blur::{self, BlurLevel};
use crate::boxes::{regions, AnomalyBox};
use crate::features::{
    best_half_shift, best_shift, cell_features, full_luma_profiles, half_phases, luma_profiles, profiles,
    turned_cell_features, CellFeatures, Geometry, Workspace, FEATURES, GRADIENT, LUMA,
};
use crate::frame::{FilterError, FrameView};
use crate::rotation::{
    cells_inside, estimate_turn, orientation_histogram, to_frame, turn_back, turn_between, MIN_TURN_DEG,
};
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

/// Good parts the blurred appearances are learned from (each smeared 8
/// ways): enough for their spread, and learning stays under a second.
const BLUR_LEARN_IMAGES: usize = 8;

/// A cell's squared score counts at most this much towards how well a frame
/// fits an appearance: a defect must not decide which one it fits.
const MISFIT_CAP: f32 = 25.0;

/// A blurrier appearance is considered when the frame's sharpness against
/// the milder one is below this.
const BLURRIER: f32 = 0.95;

/// Gradients are scaled up by at most 1 / this: a frame blurred further
/// is unusable anyway.
const MAX_SHARPNESS_CORRECTION: f32 = 0.5;

/// A frame that fits the heavily blurred appearance best is still judged
/// where a region's peak reaches this many times the threshold: a missing
/// part or a deep scratch stands out even against the smeared good parts,
/// and calling such a frame unusable lets the defect through. Fainter
/// regions of such a frame are dropped. Chosen on development seeds 7 and
/// 11 (boards, every condition at once): no good frame came near 2x, and
/// recall rose from 83.5 % to 89.5 % and from 96.0 % to 99.5 %.
const CLEAR_DEFECT_UNDER_HEAVY_BLUR: f32 = 2.0;

/// A frame whose median cell score (its misfit: most cells of a part are
/// not on a defect) is over this many times the largest median of a good
/// part left out of learning has every score divided by the excess. Noise,
/// blur and light at once can raise a whole good frame over the threshold
/// (a box over the whole part); a defect raises a few cells, not the
/// median. Chosen on development seeds 7, 11 and 99 (boards, every
/// condition at once): false alarms 10 → 3 of 600 with no defect lost; at
/// twice, none, but 9 more defects were missed.
const MISFIT_MARGIN: f32 = 3.0;
/// How far a frame's part may be from where the alignment put it, in
/// pixels: whole-pixel shifts leave up to half a pixel, and a turn found to
/// a tenth of a degree moves a plate's edges by a few tenths. Each cell's
/// learned spread grows by what a move this large does to its features
/// (edge cells most, flat ones not at all). Chosen on development seeds 7
/// and 11: 0.3 and 0.4 gave the same results, 0.2 left false alarms on
/// turned and shifted plates, 0.5 raised boards' false alarms all at once.
const ALIGNMENT_PX: f32 = 0.35;

/// A learning image whose left-out score is over this many times the
/// median learning image's does not set the threshold: one odd or not
/// quite good part among the good ones once raised a board's threshold to
/// 12.4 (6.7-9.7 on other sets), and a sixth of the defects were missed.
/// Chosen on development seeds 7, 11 and 99: boards' misses fell from 105
/// to 17 and from 63 to 46 over ten conditions (false alarms 0 → 7 and 0);
/// plates of seed 11 went from 3 false alarms (misfit division at twice)
/// to 13.
const OUTLIER_FACTOR: f32 = 2.0;

/// The largest turn of a part against the learned reference that is
/// searched for, in degrees.
pub const MAX_TURN_DEG: f32 = 12.0;

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
    /// How far the part was turned against the learned reference, degrees
    /// (the frame was turned back before scoring).
    pub turn_deg: f32,
    /// The frame's edge strength against the good parts' (1: as sharp;
    /// blur lowers it). Compressed, since blur spreads an edge's strength
    /// over neighbouring cells rather than removing it; on plates at
    /// 640x480: sharp 0.97 to 1.01, motion blur of 1.5 px 0.86 to 0.90, 3 px
    /// 0.82 to 0.86, 6 px 0.72 to 0.82, 12 px 0.63 to 0.75 (noise σ 5 lowers
    /// each by about 0.03). Whether a frame is too blurred to judge is
    /// decided by the appearance it fits best, not by this number.
    pub sharpness: f32,
    /// The median score of the frame's judged cells: how well the frame as a
    /// whole fits the good parts (see [`MISFIT_MARGIN`]), before any division.
    pub misfit: f32,
    /// Why the frame cannot be judged (too blurred, too dark or bright):
    /// such a frame is neither flagged nor passed.
    pub unusable: Option<Unusable>,
}

/// Why a frame cannot be judged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Unusable {
    /// Edges far softer than on any good part: motion blur or focus.
    /// `sharpness` is the frame's edge strength relative to the good parts'.
    Blurred { sharpness: f32 },
    /// The light is so far off that the brightness fit gave up.
    Exposure { gain: f32 },
}

impl Unusable {
    /// A short label for counting.
    pub fn reason(&self) -> &'static str {
        match self {
            Unusable::Blurred { .. } => "blurred",
            Unusable::Exposure { .. } => "exposure",
        }
    }
}

/// The learned appearance of good parts.
#[derive(Debug)]
pub struct GoodModel {
    settings: FilterSettings,
    geometry: Geometry,
    reference_orientation: Vec<f32>,
    reference_columns: Vec<f32>,
    reference_rows: Vec<f32>,
    /// The same for the half-size luminance a turned frame's shift is
    /// found on, for even and odd shifts (see [`best_half_shift`]).
    reference_half_columns: [Vec<f32>; 2],
    reference_half_rows: [Vec<f32>; 2],
    mean_luma: Vec<f32>,
    /// Good parts as learned.
    sharp: Appearance,
    /// The same parts smeared, see [`BlurLevel`].
    blurred: [(BlurLevel, Appearance); 2],
    learned_threshold: f32,
    threshold: f32,
    /// Frames whose misfit is over this have their scores divided by the
    /// excess: the largest misfit of a good part left out, times
    /// [`MISFIT_MARGIN`].
    misfit_limit: f32,
    /// Each learning image's largest cell score with it left out.
    learning_scores: Vec<f32>,
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

        // Turned parts: each image's turn against the one of median turn,
        // and the turned ones turned upright before anything else is learned.
        let histograms: Vec<Vec<f32>> = frames
            .iter()
            .map(|frame| {
                orientation_histogram(frame, &mut ws.turn.luma, &mut ws.turn.histogram);
                ws.turn.histogram.clone()
            })
            .collect();
        let turns: Vec<f32> = histograms.iter().map(|h| turn_between(h, &histograms[0], MAX_TURN_DEG)).collect();
        let mut order: Vec<usize> = (0..frames.len()).collect();
        order.sort_by(|&a, &b| turns[a].total_cmp(&turns[b]));
        let reference_orientation = histograms[order[frames.len() / 2]].clone();
        let mut wide = Vec::new();
        let uprights: Vec<Option<Vec<u8>>> = frames
            .iter()
            .map(|frame| {
                let turn = estimate_turn(frame, &reference_orientation, MAX_TURN_DEG, &mut ws.turn);
                (turn.abs() >= MIN_TURN_DEG).then(|| {
                    let mut upright = Vec::new();
                    turn_back(frame, turn, &mut wide, &mut upright);
                    upright
                })
            })
            .collect();
        let upright_frames: Vec<FrameView> = frames
            .iter()
            .zip(&uprights)
            .map(|(frame, upright)| match upright {
                Some(data) => FrameView { data, ..*frame },
                None => *frame,
            })
            .collect();
        let frames = &upright_frames[..];

        let (reference_columns, reference_rows) = reference_profiles(frames, geometry.max_shift, &mut ws);

        // Raw features of each image at its shift from the reference.
        let mut raw: Vec<Vec<CellFeatures>> = Vec::with_capacity(frames.len());
        let mut shifts = Vec::with_capacity(frames.len());
        // How much each cell's features change when the part moves by a
        // pixel: the squared differences to the grid one pixel right and
        // one pixel down, summed over the images.
        let mut moved_sq = vec![[0.0f32; FEATURES]; geometry.cells()];
        for frame in frames {
            profiles(frame, &mut ws);
            let shift = (
                best_shift(&ws.columns, &reference_columns, geometry.max_shift),
                best_shift(&ws.rows, &reference_rows, geometry.max_shift),
            );
            cell_features(frame, &geometry, shift, &mut ws);
            let here = ws.cells.clone();
            for step in [(1, 0), (0, 1)] {
                cell_features(frame, &geometry, (shift.0 + step.0, shift.1 + step.1), &mut ws);
                for ((sum, moved), at) in moved_sq.iter_mut().zip(&ws.cells).zip(&here) {
                    for f in 0..FEATURES {
                        sum[f] += (moved[f] - at[f]).powi(2);
                    }
                }
            }
            raw.push(here);
            shifts.push(shift);
        }
        let (reference_half_columns, reference_half_rows) = reference_half_profiles(frames, &shifts);
        // A part aligned to within a fraction of a pixel still moves its
        // edges by that fraction: the spread that adds to each cell, for a
        // residual of ALIGNMENT_PX in any direction (half the squared
        // gradient, averaged over directions).
        let alignment_variance: Vec<CellFeatures> = moved_sq
            .iter()
            .map(|sum| sum.map(|v| ALIGNMENT_PX * ALIGNMENT_PX * v / (2.0 * frames.len() as f32)))
            .collect();

        // Brightness: each image's gain and offset against the mean
        // luminance, twice, since the mean moves once the gains are out.
        let mut normalised = raw.clone();
        let mut stats = CellStats::of(&normalised);
        for _ in 0..2 {
            let mean_luma: Vec<f32> = stats.mean.iter().map(|c| c[LUMA]).collect();
            let mean_gradient: Vec<f32> = stats.mean.iter().map(|c| c[GRADIENT]).collect();
            for (cells, raw_cells) in normalised.iter_mut().zip(&raw) {
                cells.copy_from_slice(raw_cells);
                let light = fit_brightness(raw_cells, &mean_luma, &geometry, &mut ws.scores);
                apply_brightness(cells, &light, &geometry);
                let edges = fit_sharpness(cells, &mean_gradient, &mut ws.scores);
                apply_sharpness(cells, edges);
            }
            stats = CellStats::of(&normalised);
        }

        let mean_luma: Vec<f32> = stats.mean.iter().map(|c| c[LUMA]).collect();
        let blur_set = frames.len().min(BLUR_LEARN_IMAGES);
        let blurred = BlurLevel::ALL.map(|level| {
            let set = blurred_set(level, &frames[..blur_set], &shifts, &geometry, &mean_luma, &mut ws);
            (level, Appearance::of(&CellStats::of(&set), &alignment_variance))
        });
        // The threshold comes from the learning images as they are, without
        // the alignment spread: they were all aligned alike, and the spread
        // would lower ordinary images' scores more than an odd one's (the
        // outlier rule below would then take a good image for odd).
        let left_out = leave_one_out(&normalised, &stats, &mut ws.ordered);
        let (basis, outliers) = threshold_basis(&left_out.image_max, &mut ws.ordered);
        if !outliers.is_empty() {
            tracing::warn!(
                ?outliers,
                basis,
                "learning images far above the rest (index, score against the others) do not set the threshold; \
                 check that they are good parts"
            );
        }
        let learned_threshold = (basis * settings.margin).max(MIN_LEARNED_THRESHOLD);
        let misfit_limit = left_out.max_misfit * MISFIT_MARGIN;
        let threshold = settings.threshold.unwrap_or(learned_threshold);
        tracing::debug!(
            images = frames.len(),
            cells = geometry.cells(),
            learned_threshold,
            threshold,
            misfit_limit,
            "learned good model"
        );
        Ok(Self {
            settings: settings.clone(),
            geometry,
            reference_orientation,
            reference_columns,
            reference_rows,
            reference_half_columns,
            reference_half_rows,
            mean_luma,
            sharp: Appearance::of(&stats, &alignment_variance),
            blurred,
            learned_threshold,
            threshold,
            misfit_limit,
            learning_scores: left_out.image_max,
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
        let turn = estimate_turn(frame, &self.reference_orientation, MAX_TURN_DEG, &mut ws.turn);
        let turned = turn.abs() >= MIN_TURN_DEG;
        let shift = if turned {
            // Found on the half-size luminance the turn was refined on, to a
            // fraction of a pixel (the nearest whole one is reported), and
            // the blocks taken from where the turn put them: the frame is
            // not turned back whole.
            let (width, height) = (g.width as usize / 2, g.height as usize / 2);
            luma_profiles(&ws.turn.luma_turned, width, height, &mut ws.columns, &mut ws.rows);
            let found = (
                best_half_shift(&ws.columns, &self.reference_half_columns, g.max_shift),
                best_half_shift(&ws.rows, &self.reference_half_rows, g.max_shift),
            );
            let shift = (found.0.round() as i32, found.1.round() as i32);
            turned_cell_features(frame, g, found, turn, ws);
            shift
        } else {
            profiles(frame, ws);
            let shift = (
                best_shift(&ws.columns, &self.reference_columns, g.max_shift),
                best_shift(&ws.rows, &self.reference_rows, g.max_shift),
            );
            cell_features(frame, g, shift, ws);
            shift
        };

        let mut scratch = std::mem::take(&mut ws.scores);
        let light = fit_brightness(&ws.cells, &self.mean_luma, g, &mut scratch);
        apply_brightness(&mut ws.cells, &light, g);
        let gain = light.centre_gain();
        // The appearance the frame fits best (sharp, mildly or heavily
        // blurred), by the sum of its cells' squared scores, each capped so
        // a defect weighs the same against all three.
        let fit = |appearance: &Appearance, scratch: &mut Vec<f32>| {
            let edges = fit_sharpness(&ws.cells, &appearance.mean_gradient, scratch);
            scratch.clear();
            scratch.extend((0..ws.cells.len().min(appearance.mean.len())).map(|i| {
                let mut cell = ws.cells[i];
                cell[GRADIENT] = explained_gradient(cell[GRADIENT], appearance.mean_gradient[i], edges);
                cell_score(&cell, &appearance.mean[i], &appearance.inverse_sigma[i]).powi(2).min(MISFIT_CAP)
            }));
            (scratch.iter().sum::<f32>() + appearance.log_spread, edges)
        };
        let (mut best_misfit, sharp_edges) = fit(&self.sharp, &mut scratch);
        let mut edges = sharp_edges;
        let mut best: (Option<BlurLevel>, &Appearance) = (None, &self.sharp);
        // A blurrier appearance is only considered for a frame whose edges
        // are weaker than the milder one's: blur only takes edge strength
        // away, and a defect that fits a blurred appearance better (bare
        // pads where a chip should be) must not make a sharp frame unusable.
        let mut milder = sharp_edges;
        for (level, appearance) in &self.blurred {
            let (misfit, level_edges) = fit(appearance, &mut scratch);
            if milder.sharpness() < BLURRIER && misfit < best_misfit {
                (best_misfit, edges, best) = (misfit, level_edges, (Some(*level), appearance));
            }
            milder = level_edges;
        }
        let (level, appearance) = best;
        explain_by_blur(&mut ws.cells, &appearance.mean_gradient, edges);
        scratch.clear();
        scratch.extend(
            ws.cells.iter().zip(&appearance.mean).zip(&appearance.inverse_sigma).map(|((x, m), s)| cell_score(x, m, s)),
        );
        // Cells on pixels the shift or the turn brought in from beyond the
        // frame are not judged: the repeated edge pixels are no part of the
        // part, and under sensor noise their blocks look unlike any learned.
        cells_inside(g, shift, if turned { turn } else { 0.0 }, &mut ws.inside);
        scratch.iter_mut().zip(&ws.inside).filter(|(_, inside)| !**inside).for_each(|(score, _)| *score = 0.0);
        ws.scores = scratch;
        let misfit = median_judged(&ws.scores, &mut ws.ordered);
        if misfit > self.misfit_limit {
            let excess = self.misfit_limit / misfit;
            ws.scores.iter_mut().for_each(|score| *score *= excess);
        }
        let score = ws.scores.iter().copied().fold(0.0, f32::max);
        let mut boxes = regions(&ws.scores, g, self.threshold, self.settings.min_cells, self.settings.max_boxes, shift);
        if turned {
            boxes.iter_mut().for_each(|b| *b = turned_box(b, g, turn));
        }
        let unusable = if !(GAIN_RANGE.0..=GAIN_RANGE.1).contains(&gain) {
            Some(Unusable::Exposure { gain })
        } else if level == Some(BlurLevel::Heavy) {
            boxes.retain(|b| b.score >= CLEAR_DEFECT_UNDER_HEAVY_BLUR * self.threshold);
            boxes.is_empty().then_some(Unusable::Blurred { sharpness: sharp_edges.sharpness() })
        } else {
            None
        };
        if unusable.is_some() {
            // Neither passed nor flagged: the caller counts it apart.
            boxes.clear();
        }
        Ok(FrameScore {
            score,
            threshold: self.threshold,
            flagged: !boxes.is_empty(),
            boxes,
            shift,
            gain,
            turn_deg: if turned { turn } else { 0.0 },
            sharpness: sharp_edges.sharpness(),
            misfit,
            unusable,
        })
    }

    /// Each learning image's largest cell score against the others, in the
    /// order given: a part far above the rest may not be good.
    pub fn learning_scores(&self) -> &[f32] {
        &self.learning_scores
    }

    /// The threshold in use.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The threshold learned from the good set (its largest leave-one-out
    /// score not over [`OUTLIER_FACTOR`] times the median one, times the
    /// margin, at least [`MIN_LEARNED_THRESHOLD`]), whether or not it is in
    /// use.
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

/// A box of the upright frame where it lies in the frame as it came: the
/// bounding box of its turned corners.
fn turned_box(upright: &AnomalyBox, g: &Geometry, turn: f32) -> AnomalyBox {
    let (x0, y0) = (upright.x as f32, upright.y as f32);
    let (x1, y1) = (x0 + upright.width as f32, y0 + upright.height as f32);
    let corners = [(x0, y0), (x1, y0), (x0, y1), (x1, y1)].map(|(x, y)| to_frame(x, y, g.width, g.height, turn));
    let clamp = |v: f32, side: u32| v.clamp(0.0, side as f32);
    let left = clamp(corners.iter().map(|c| c.0).fold(f32::MAX, f32::min), g.width).floor();
    let right = clamp(corners.iter().map(|c| c.0).fold(f32::MIN, f32::max), g.width).ceil();
    let top = clamp(corners.iter().map(|c| c.1).fold(f32::MAX, f32::min), g.height).floor();
    let bottom = clamp(corners.iter().map(|c| c.1).fold(f32::MIN, f32::max), g.height).ceil();
    AnomalyBox {
        x: left as u32,
        y: top as u32,
        width: ((right - left) as u32).max(1),
        height: ((bottom - top) as u32).max(1),
        score: upright.score,
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

/// The half-size luminance profiles of the part where
/// [`reference_profiles`] put it, for even and odd shifts: each image's
/// full-size luminance profiles moved by its own shift, averaged, and
/// summed in pairs both ways ([`half_phases`]).
fn reference_half_profiles(frames: &[FrameView], shifts: &[(i32, i32)]) -> ([Vec<f32>; 2], [Vec<f32>; 2]) {
    let (mut columns, mut rows) = (Vec::new(), Vec::new());
    let (mut sum_columns, mut sum_rows): (Vec<f32>, Vec<f32>) = (Vec::new(), Vec::new());
    for (frame, shift) in frames.iter().zip(shifts) {
        full_luma_profiles(frame, &mut columns, &mut rows);
        for (sum, profile, moved) in [(&mut sum_columns, &columns, shift.0), (&mut sum_rows, &rows, shift.1)] {
            sum.resize(profile.len(), 0.0);
            let last = profile.len() as i32 - 1;
            for (i, v) in sum.iter_mut().enumerate() {
                *v += profile[(i as i32 + moved).clamp(0, last.max(0)) as usize];
            }
        }
    }
    (half_phases(&sum_columns), half_phases(&sum_rows))
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

/// What the good parts score when each is left out of learning.
struct LeftOut {
    /// Each part's largest cell score, in learning order.
    image_max: Vec<f32>,
    /// The largest median cell score of one part.
    max_misfit: f32,
}

/// Each good part's cells scored against the statistics of the others
/// (from the sums, without refitting): what an unseen good part scores,
/// unlike its score against a model that includes it.
fn leave_one_out(set: &[Vec<CellFeatures>], stats: &CellStats, ordered: &mut Vec<f32>) -> LeftOut {
    let rest = (stats.n - 1) as f32;
    let mut left_out = LeftOut { image_max: Vec::with_capacity(set.len()), max_misfit: 0.0 };
    let mut scores = Vec::new();
    for image in set {
        scores.clear();
        for (c, x) in image.iter().enumerate() {
            let mut mean = [0.0; FEATURES];
            let mut inverse_sigma = [0.0; FEATURES];
            for f in 0..FEATURES {
                let m = (stats.sum[c][f] - x[f]) / rest;
                let v = ((stats.sum_sq[c][f] - x[f] * x[f] - rest * m * m) / (rest - 1.0)).max(0.0);
                mean[f] = m;
                inverse_sigma[f] = 1.0 / (v + SIGMA_FLOOR[f] * SIGMA_FLOOR[f]).sqrt();
            }
            scores.push(cell_score(x, &mean, &inverse_sigma));
        }
        let image_max = scores.iter().copied().fold(0.0, f32::max);
        left_out.image_max.push(image_max);
        left_out.max_misfit = left_out.max_misfit.max(median_judged(&scores, ordered));
    }
    left_out
}

/// The largest learning image score not over [`OUTLIER_FACTOR`] times the
/// median one, and the images above that (index, score).
fn threshold_basis(image_max: &[f32], ordered: &mut Vec<f32>) -> (f32, Vec<(usize, f32)>) {
    let limit = median_judged(image_max, ordered) * OUTLIER_FACTOR;
    let basis = image_max.iter().copied().filter(|&score| score <= limit).fold(0.0, f32::max);
    let outliers = image_max.iter().copied().enumerate().filter(|&(_, score)| score > limit).collect();
    (basis, outliers)
}

/// The median of the judged cells' scores (cells not judged score 0).
fn median_judged(scores: &[f32], ordered: &mut Vec<f32>) -> f32 {
    ordered.clear();
    ordered.extend(scores.iter().copied().filter(|&score| score > 0.0));
    if ordered.is_empty() {
        return 0.0;
    }
    let middle = ordered.len() / 2;
    *ordered.select_nth_unstable_by(middle, f32::total_cmp).1
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

/// The light on a frame against the model: `luma ≈ offset + gain(x, y) ·
/// mean` per cell, where the gain is a quadratic surface over the frame
/// (x and y from −1 to 1). A single gain would take vignetting, or a lamp
/// to one side, for defects in the corners.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Light {
    offset: f32,
    /// Gain at the centre, then its x, y, x², y² and x·y terms.
    gain: [f32; 6],
}

impl Light {
    /// The gain at a cell of a `cells_x` × `cells_y` grid, clamped.
    fn gain_at(&self, cell: usize, cells_x: usize, cells_y: usize) -> f32 {
        let terms = surface_terms(cell, cells_x, cells_y);
        let gain: f32 = self.gain.iter().zip(terms).map(|(a, t)| a * t).sum();
        gain.clamp(GAIN_RANGE.0, GAIN_RANGE.1)
    }

    /// The gain at the frame's centre, unclamped: how far the light is off.
    pub(crate) fn centre_gain(&self) -> f32 {
        self.gain[0]
    }
}

/// 1, x, y, x², y², x·y of a cell's centre.
fn surface_terms(cell: usize, cells_x: usize, cells_y: usize) -> [f32; 6] {
    let x = 2.0 * ((cell % cells_x) as f32 + 0.5) / cells_x as f32 - 1.0;
    let y = 2.0 * ((cell / cells_x) as f32 + 0.5) / cells_y as f32 - 1.0;
    [1.0, x, y, x * x, y * y, x * y]
}

/// Fits [`Light`] by least squares over all cells, then once more without
/// the cells more than three median residuals off (a defect must not pull
/// the fit). `scratch` is reused.
fn fit_brightness(cells: &[CellFeatures], mean: &[f32], geometry: &Geometry, scratch: &mut Vec<f32>) -> Light {
    const N: usize = 7;
    let (cells_x, cells_y) = (geometry.cells_x, geometry.cells_y);
    let row = |i: usize| -> [f64; N] {
        let t = surface_terms(i, cells_x, cells_y);
        let m = mean[i] as f64;
        [1.0, m * t[0] as f64, m * t[1] as f64, m * t[2] as f64, m * t[3] as f64, m * t[4] as f64, m * t[5] as f64]
    };
    let fit = |keep: &dyn Fn(usize) -> bool| -> Option<Light> {
        let mut normal = [[0.0f64; N + 1]; N];
        for (i, c) in cells.iter().enumerate().take(mean.len()) {
            if !keep(i) {
                continue;
            }
            let r = row(i);
            let y = c[LUMA] as f64;
            for j in 0..N {
                for k in 0..N {
                    normal[j][k] += r[j] * r[k];
                }
                normal[j][N] += r[j] * y;
            }
        }
        let solution = solve(normal)?;
        Some(Light { offset: solution[0] as f32, gain: std::array::from_fn(|k| solution[k + 1] as f32) })
    };
    let flat = Light { offset: 0.0, gain: [1.0, 0.0, 0.0, 0.0, 0.0, 0.0] };
    let first = fit(&|_| true).unwrap_or(flat);
    let predicted = |light: &Light, i: usize| -> f32 {
        let terms = surface_terms(i, cells_x, cells_y);
        light.offset + mean[i] * light.gain.iter().zip(terms).map(|(a, t)| a * t).sum::<f32>()
    };
    let residual = |i: usize| (cells[i][LUMA] - predicted(&first, i)).abs();
    let limit = outlier_limit((0..cells.len().min(mean.len())).map(residual), 0.5, scratch);
    fit(&|i| residual(i) <= limit).unwrap_or(first)
}

/// How the edges of a frame compare with the model's: `gradient ≈ floor +
/// sharpness · mean` per cell. Blur lowers the sharpness (edges spread
/// out), sensor noise raises the floor (flat areas get a gradient).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Edges {
    floor: f32,
    sharpness: f32,
}

impl Edges {
    pub(crate) fn sharpness(&self) -> f32 {
        self.sharpness
    }
}

/// Fits [`Edges`] by least squares, then once more without the cells more
/// than three median residuals off (a scratch must not pull the fit).
fn fit_sharpness(cells: &[CellFeatures], mean: &[f32], scratch: &mut Vec<f32>) -> Edges {
    let fit = |keep: &dyn Fn(usize) -> bool| {
        let (mut n, mut sx, mut sy, mut sxx, mut sxy) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (i, (c, &m)) in cells.iter().zip(mean).enumerate() {
            if keep(i) {
                let (x, y) = (m as f64, c[GRADIENT] as f64);
                n += 1.0;
                sx += x;
                sy += y;
                sxx += x * x;
                sxy += x * y;
            }
        }
        let det = n * sxx - sx * sx;
        if n < 2.0 || det.abs() < 1e-9 {
            return Edges { floor: 0.0, sharpness: 1.0 };
        }
        let sharpness = (n * sxy - sx * sy) / det;
        Edges { floor: ((sy - sharpness * sx) / n) as f32, sharpness: sharpness as f32 }
    };
    let first = fit(&|_| true);
    let residual = |i: usize| (cells[i][GRADIENT] - (first.floor + first.sharpness * mean[i])).abs();
    let limit = outlier_limit((0..cells.len().min(mean.len())).map(residual), 0.1, scratch);
    fit(&|i| residual(i) <= limit)
}

/// Maps a frame's gradients to the model's sharpness (within reason: a
/// frame sharper than the model keeps its extra edges).
fn apply_sharpness(cells: &mut [CellFeatures], edges: Edges) {
    let scale = 1.0 / edges.sharpness.clamp(MAX_SHARPNESS_CORRECTION, 1.0);
    for cell in cells {
        cell[GRADIENT] = (cell[GRADIENT] - edges.floor) * scale;
    }
}

/// Blur takes a different share of each cell's edge strength: most of a
/// fine texture's, hardly any of a step edge's whose spread stays within
/// the cell. The fitted sharpness is an average over all cells, so scaling
/// every cell by it would turn the step edges of a blurred frame into
/// false alarms. Each cell's gradient is taken as anything between its
/// value as seen (no loss) and its value scaled by the sharpness (the
/// average loss), whichever lies nearest the model's mean.
fn explain_by_blur(cells: &mut [CellFeatures], mean_gradient: &[f32], edges: Edges) {
    for (cell, &mean) in cells.iter_mut().zip(mean_gradient) {
        cell[GRADIENT] = explained_gradient(cell[GRADIENT], mean, edges);
    }
}

/// One cell's gradient as [`explain_by_blur`] takes it.
fn explained_gradient(gradient: f32, mean: f32, edges: Edges) -> f32 {
    let seen = gradient - edges.floor;
    let restored = seen / edges.sharpness.clamp(MAX_SHARPNESS_CORRECTION, 1.0);
    // Not `clamp`: below the floor `restored` is the smaller, and
    // `min`/`max` pass a NaN through instead of panicking.
    mean.max(seen.min(restored)).min(seen.max(restored))
}

/// Cell features of `frames` (upright, at `shifts`) smeared as `level`
/// says, each brightness-normalised against `mean_luma`.
fn blurred_set(
    level: BlurLevel,
    frames: &[FrameView],
    shifts: &[(i32, i32)],
    geometry: &Geometry,
    mean_luma: &[f32],
    ws: &mut Workspace,
) -> Vec<Vec<CellFeatures>> {
    let mut set = Vec::new();
    let mut smeared = Vec::new();
    for (frame, &shift) in frames.iter().zip(shifts) {
        for smear in level.smears() {
            blur::smear(frame, smear, &mut smeared);
            cell_features(&FrameView { data: &smeared, ..*frame }, geometry, shift, ws);
            let mut cells = ws.cells.clone();
            let light = fit_brightness(&cells, mean_luma, geometry, &mut ws.scores);
            apply_brightness(&mut cells, &light, geometry);
            set.push(cells);
        }
    }
    set
}

/// What good parts look like at one sharpness: each cell's mean features,
/// and the inverse of their spread.
#[derive(Debug)]
struct Appearance {
    mean: Vec<CellFeatures>,
    mean_gradient: Vec<f32>,
    inverse_sigma: Vec<CellFeatures>,
    /// Twice the sum of the logarithms of every cell's spreads: a
    /// Gaussian's misfit is the squared scores plus this, so a broad
    /// appearance (a blurred one) is not preferred for being broad.
    log_spread: f32,
}

impl Appearance {
    fn of(stats: &CellStats, alignment_variance: &[CellFeatures]) -> Self {
        let inverse_sigma: Vec<CellFeatures> = stats
            .variance
            .iter()
            .zip(alignment_variance)
            .map(|(v, a)| std::array::from_fn(|f| 1.0 / (v[f] + a[f] + SIGMA_FLOOR[f] * SIGMA_FLOOR[f]).sqrt()))
            .collect();
        let log_spread = -2.0 * inverse_sigma.iter().flatten().map(|s| s.ln()).sum::<f32>();
        Self {
            mean: stats.mean.clone(),
            mean_gradient: stats.mean.iter().map(|c| c[GRADIENT]).collect(),
            inverse_sigma,
            log_spread,
        }
    }
}

/// The residual beyond which a cell is left out of a refit: three times the
/// median residual, and at least three times `least`. `scratch` is reused.
fn outlier_limit(residuals: impl Iterator<Item = f32>, least: f32, scratch: &mut Vec<f32>) -> f32 {
    scratch.clear();
    scratch.extend(residuals);
    let mid = scratch.len() / 2;
    let median = if scratch.is_empty() { 0.0 } else { *scratch.select_nth_unstable_by(mid, f32::total_cmp).1 };
    3.0 * median.max(least)
}

/// Solves the 7 normal equations (augmented matrix) by Gaussian
/// elimination with partial pivoting; `None` when they are singular (a
/// flat model, a frame of one level).
fn solve(mut m: [[f64; 8]; 7]) -> Option<[f64; 7]> {
    const N: usize = 7;
    for col in 0..N {
        let pivot = (col..N).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[pivot][col].abs() < 1e-9 {
            return None;
        }
        m.swap(col, pivot);
        let pivot_row = m[col];
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let factor = row[col] / pivot_row[col];
                row.iter_mut().zip(&pivot_row).skip(col).for_each(|(v, p)| *v -= factor * p);
            }
        }
    }
    Some(std::array::from_fn(|i| m[i][N] / m[i][i]))
}

/// Maps a frame's features to the model's light: luminance loses the
/// offset, and every feature (all linear in the pixel values) is divided
/// by the cell's gain.
fn apply_brightness(cells: &mut [CellFeatures], light: &Light, geometry: &Geometry) {
    for (i, cell) in cells.iter_mut().enumerate() {
        let inverse = 1.0 / light.gain_at(i, geometry.cells_x, geometry.cells_y);
        cell[LUMA] -= light.offset;
        cell.iter_mut().for_each(|v| *v *= inverse);
    }
}
