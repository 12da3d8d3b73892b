//! `shopfloor model evaluate`: the plant Q&A set and a speed run on each
//! model variant, one table, and a verdict against an accuracy floor;
//! `--record` writes the verdicts into the profile, where the `slm` node's
//! gate (`slm::gate`) reads them.
//!
//! Accuracy is the model's own: of the answers the model was asked to
//! write, the share that is right in the model's own sentence (one the
//! grounding check replaced with the facts' sentence is a miss: the
//! replacement hides a damaged model). Answers code wrote are counted
//! apart, never as the model's.

pub mod qa_set;
pub mod record;
pub mod run;

use std::path::{Path, PathBuf};
use std::process::Command;

use slm_engine::profile::{EvaluationRecord, HardwareProfile};

use crate::calibration;

use self::qa_set::{QaSet, QaSetError};
use self::run::VariantResult;
use slm_engine::EngineError;

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    /// The profile is unusable.
    #[error(transparent)]
    Profile(#[from] slm_engine::profile::ProfileError),
    /// The Q&A set is unusable.
    #[error(transparent)]
    QaSet(#[from] QaSetError),
    /// The model could not load or run.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Nothing to evaluate.
    #[error("no models: name model files or list [[models]] in {}", .0.display())]
    NoModels(PathBuf),
    /// The child process could not start.
    #[error("cannot start {}", exe.display())]
    Spawn { exe: PathBuf, source: std::io::Error },
    /// The result could not be written as JSON.
    #[error("cannot encode the result: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The floor when none is given: the share of items a model must get right itself.
pub const DEFAULT_FLOOR: f64 = 0.5;
/// The set when none is given (relative to the working directory).
pub const DEFAULT_QA_SET: &str = "tests/fixtures/plant-qa.json";

/// What `shopfloor model evaluate` was asked.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluateOptions {
    /// Hardware profile the models run with.
    pub profile: PathBuf,
    /// Model files (empty: the profile's tier models).
    pub models: Vec<PathBuf>,
    /// The Q&A set.
    pub qa_set: PathBuf,
    /// Accuracy floor, 0..=1.
    pub floor: f64,
    /// Every n-th item only (1: all).
    pub sample_step: usize,
    /// Write the verdicts into the profile.
    pub record: bool,
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub model: PathBuf,
    /// Its measurements, or why it could not be evaluated.
    pub outcome: Result<VariantResult, VariantFailed>,
}

/// A variant's child process ended without a result: its last line on
/// stderr (the error it printed) and its exit status.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{last_words} ({status})")]
pub struct VariantFailed {
    pub last_words: String,
    pub status: std::process::ExitStatus,
}

/// The whole evaluation.
#[derive(Debug, Clone)]
pub struct Report {
    /// Set name and size, e.g. `plant-qa v1 (218 items)`.
    pub qa_set: String,
    pub floor: f64,
    /// One row per model, in the order asked.
    pub rows: Vec<Row>,
}

impl Report {
    /// Best accuracy of any row.
    pub fn best_accuracy(&self) -> f64 {
        self.rows.iter().filter_map(|r| r.outcome.as_ref().ok()).map(VariantResult::accuracy).fold(0.0, f64::max)
    }

    /// Whether `row` passes the floor.
    pub fn passes(&self, row: &Row) -> bool {
        row.outcome.as_ref().is_ok_and(|r| r.accuracy() >= self.floor)
    }

    /// The table, in Markdown.
    pub fn table(&self) -> String {
        let best = self.best_accuracy();
        let mut out = format!(
            "Q&A set: {}; accuracy floor {:.2}\n\n| variant | size MiB | peak RSS MiB | prompt tok/s | gen tok/s | p50 answer ms | model accuracy (right / asked to write) | right, all items | of which model-written / code-written | drop vs best | verdict |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
            self.qa_set, self.floor
        );
        for row in &self.rows {
            let name = row
                .model
                .file_stem()
                .map_or_else(|| row.model.display().to_string(), |s| s.to_string_lossy().into_owned());
            match &row.outcome {
                Ok(r) => out.push_str(&format!(
                    "| {name} | {:.1} | {:.0} | {:.0} | {:.1} | {:.0} | {:.3} ({}/{}) | {:.3} | {} / {} | {:+.3} | {} |\n",
                    r.bytes as f64 / MIB,
                    r.peak_rss_bytes as f64 / MIB,
                    r.prompt_tps,
                    r.generation_tps,
                    r.p50_latency_ms,
                    r.accuracy(),
                    r.model_correct,
                    r.model_asked,
                    r.system_accuracy(),
                    r.model_correct,
                    r.code_correct,
                    r.accuracy() - best,
                    if self.passes(row) { "pass".to_owned() } else { format!("REJECTED (below {:.2})", self.floor) },
                )),
                Err(error) => out.push_str(&format!("| {name} | | | | | | | | | REJECTED: {error} |\n")),
            }
        }
        out.push_str(&self.calibration());
        out
    }

    /// How well each variant's confidence separates its right and wrong
    /// model-written answers, the escalation rate at `threshold`, and the
    /// threshold that separates them best.
    pub fn calibration(&self) -> String {
        let mut out = String::from("\nConfidence of model-written answers (routing escalates below a threshold):\n\n| variant | answers | AUROC | at 0.5: escalated, accuracy kept / escalated | recommended threshold (Youden's J) |\n|---|---|---|---|---|\n");
        for row in &self.rows {
            let Ok(result) = &row.outcome else { continue };
            let name = row.model.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            let scored = &result.confidences;
            let share = |x: Option<f64>| x.map_or("-".to_owned(), |v| format!("{v:.2}"));
            let at = calibration::at_threshold(scored, 0.5);
            out.push_str(&format!(
                "| {name} | {} | {} | {:.0} %, {} / {} | {} |\n",
                scored.len(),
                share(calibration::auroc(scored)),
                100.0 * at.escalated,
                share(at.accuracy_kept),
                share(at.accuracy_escalated),
                calibration::recommend(scored).map_or("-".to_owned(), |(t, j)| format!("{t:.2} (J {j:.2})")),
            ));
        }
        out
    }

    /// Records for `profile`, one per evaluated file, each naming the
    /// adapter the profile switched on for it (the evaluation ran with it).
    pub fn records(&self, date: &str, profile: &HardwareProfile) -> Vec<EvaluationRecord> {
        self.rows
            .iter()
            .filter_map(|row| {
                let result = row.outcome.as_ref().ok()?;
                let sha256 = slm_engine::model_file::sha256_hex(&row.model).ok()?;
                let adapter_sha256 = profile.adapter_sha256_at_start(&row.model).ok()?;
                Some(EvaluationRecord {
                    sha256,
                    model: row.model.file_stem()?.to_string_lossy().into_owned(),
                    qa_set: self.qa_set.clone(),
                    accuracy: (result.accuracy() * 1000.0).round() / 1000.0,
                    floor: self.floor,
                    passed: self.passes(row),
                    generation_tps: Some(result.generation_tps),
                    date: date.to_owned(),
                    adapter_sha256,
                })
            })
            .collect()
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// Runs the evaluation: each model in a child process of this program
/// (`shopfloor model evaluate-one`), so that one variant's crash, memory or
/// threads cannot touch the next one's figures.
pub fn evaluate(options: &EvaluateOptions, self_exe: &Path) -> Result<Report, EvaluateError> {
    let profile = HardwareProfile::load(&options.profile)?;
    let set = QaSet::load(&options.qa_set)?;
    let models: Vec<PathBuf> = if options.models.is_empty() {
        profile.models.iter().map(|m| profile.model_path(m)).collect()
    } else {
        options.models.clone()
    };
    if models.is_empty() {
        return Err(EvaluateError::NoModels(options.profile.clone()));
    }
    let sampled = set.sample(options.sample_step).len();
    let qa_set = format!("{} v{} ({sampled} of {} items)", set.name, set.version, set.items.len());
    let mut rows = Vec::new();
    for model in models {
        eprintln!("evaluating {} …", model.display());
        let output = evaluate_one_in_child(self_exe, &options.profile, &model, &options.qa_set, options.sample_step)
            .map_err(|source| EvaluateError::Spawn { exe: self_exe.to_path_buf(), source })?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let outcome = match stdout.lines().last().map(serde_json::from_str::<VariantResult>) {
            Some(Ok(result)) if output.status.success() => Ok(result),
            _ => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let last_words =
                    stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").trim().to_owned();
                Err(VariantFailed { last_words, status: output.status })
            }
        };
        rows.push(Row { model, outcome });
    }
    Ok(Report { qa_set, floor: options.floor, rows })
}

/// Runs `shopfloor model evaluate-one` for one model in a child process of
/// `self_exe` (this program) and waits for its output; the last line of its
/// standard output is the [`VariantResult`] as JSON.
pub fn evaluate_one_in_child(
    self_exe: &Path,
    profile: &Path,
    model: &Path,
    qa_set: &Path,
    sample_step: usize,
) -> std::io::Result<std::process::Output> {
    Command::new(self_exe)
        .args(["model", "evaluate-one"])
        .arg(profile)
        .arg(model)
        .arg(qa_set)
        .arg(sample_step.to_string())
        .output()
}

/// The child's side: one model, printed as one JSON line.
pub fn evaluate_one(profile: &Path, model: &Path, qa_set: &Path, sample_step: usize) -> Result<String, EvaluateError> {
    let profile = HardwareProfile::load(profile)?;
    let set = QaSet::load(qa_set)?;
    let items = set.sample(sample_step);
    let result = run::evaluate_model(model, &profile, &set, &items)?;
    Ok(serde_json::to_string(&result)?)
}
