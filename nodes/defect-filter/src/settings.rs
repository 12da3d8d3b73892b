//! [`FilterSettings`]: how the filter cuts, aligns and judges frames, and
//! their validation (every bad field reported at once, by name).

use serde::Deserialize;

/// How the filter works. `Default` is tuned for the 640x480 plate images of
/// `part-images` (see docs/vision-stage1.md).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterSettings {
    /// Side of a square cell, in frame pixels; a multiple of `downsample`
    /// and at least twice it. Smaller cells find smaller defects and cost
    /// more variance to learn.
    pub cell: u32,
    /// Frames are averaged over `downsample`×`downsample` blocks before the
    /// features are taken (1 to 8).
    pub downsample: u32,
    /// The cell score at which a frame is flagged; `None` uses the
    /// threshold learned from the good set times `margin`.
    pub threshold: Option<f32>,
    /// Factor on the largest leave-one-out score of the good set, outliers
    /// aside (≥ 1).
    pub margin: f32,
    /// Cells above the threshold one region needs before the frame is
    /// flagged (≥ 1); raise to ignore single-cell specks.
    pub min_cells: usize,
    /// Largest shift, in frame pixels, searched each way when a frame is
    /// aligned to the learned reference (≤ 64).
    pub max_shift: u32,
    /// Most boxes reported per frame, highest score first (≥ 1).
    pub max_boxes: usize,
}

impl Default for FilterSettings {
    fn default() -> Self {
        Self { cell: 16, downsample: 2, threshold: None, margin: 1.5, min_cells: 1, max_shift: 12, max_boxes: 8 }
    }
}

/// One bad setting.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingProblem {
    pub field: &'static str,
    pub value: String,
    pub requirement: &'static str,
}

/// Every bad setting found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("filter settings have {}", describe(.0))]
pub struct InvalidSettings(pub Vec<SettingProblem>);

fn describe(problems: &[SettingProblem]) -> String {
    let parts: Vec<String> =
        problems.iter().map(|p| format!("invalid `{}`: {} (must be {})", p.field, p.value, p.requirement)).collect();
    parts.join("; ")
}

impl FilterSettings {
    /// Checks every field; the error lists each bad one by name.
    pub fn validate(&self) -> Result<(), InvalidSettings> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, field: &'static str, value: String, requirement: &'static str| {
            if !ok {
                problems.push(SettingProblem { field, value, requirement });
            }
        };
        let downsample_ok = (1..=8).contains(&self.downsample);
        check(downsample_ok, "downsample", self.downsample.to_string(), "1 to 8");
        // `cell` depends on `downsample`, so it is judged only against a valid one.
        if downsample_ok {
            let cell_ok =
                self.cell.is_multiple_of(self.downsample) && self.cell >= 2 * self.downsample && self.cell <= 256;
            check(
                cell_ok,
                "cell",
                self.cell.to_string(),
                "a multiple of `downsample`, at least twice it and at most 256",
            );
        }
        if let Some(t) = self.threshold {
            check(t.is_finite() && t > 0.0, "threshold", t.to_string(), "a positive number");
        }
        check(
            self.margin.is_finite() && (1.0..=100.0).contains(&self.margin),
            "margin",
            self.margin.to_string(),
            "1 to 100",
        );
        check(self.min_cells >= 1, "min_cells", self.min_cells.to_string(), "at least 1");
        check(self.max_shift <= 64, "max_shift", self.max_shift.to_string(), "at most 64");
        check(self.max_boxes >= 1, "max_boxes", self.max_boxes.to_string(), "at least 1");
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InvalidSettings(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(FilterSettings::default().validate(), Ok(()));
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: [(FilterSettings, &str); 7] = [
            (FilterSettings { cell: 15, ..Default::default() }, "`cell`"),
            (FilterSettings { downsample: 0, ..Default::default() }, "`downsample`"),
            (FilterSettings { threshold: Some(f32::NAN), ..Default::default() }, "`threshold`"),
            (FilterSettings { margin: 0.5, ..Default::default() }, "`margin`"),
            (FilterSettings { min_cells: 0, ..Default::default() }, "`min_cells`"),
            (FilterSettings { max_shift: 100, ..Default::default() }, "`max_shift`"),
            (FilterSettings { max_boxes: 0, ..Default::default() }, "`max_boxes`"),
        ];
        for (settings, field) in cases {
            let err = settings.validate().unwrap_err();
            assert_eq!(err.0.len(), 1, "{err}");
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn all_bad_fields_are_reported_at_once() {
        let settings = FilterSettings { margin: -1.0, min_cells: 0, ..Default::default() };
        let err = settings.validate().unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|p| p.field).collect();
        assert_eq!(fields, ["margin", "min_cells"]);
    }

    #[test]
    fn settings_read_from_json_reject_unknown_keys() {
        let settings: FilterSettings = serde_json::from_str(r#"{"cell": 8, "threshold": 9.5}"#).unwrap();
        assert_eq!(settings, FilterSettings { cell: 8, threshold: Some(9.5), ..Default::default() });
        assert!(serde_json::from_str::<FilterSettings>(r#"{"cells": 8}"#).is_err());
    }
}
