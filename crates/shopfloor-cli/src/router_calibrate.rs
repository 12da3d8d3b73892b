//! `shopfloor router calibrate <dataflow.yml>`: each model tier of a
//! dataflow's router over the labelled plant Q&A set (one
//! `shopfloor model evaluate-one` child per tier), then the set replayed through the router's own [`Policy`] with
//! each tier's measured answers and answer times. Reports accuracy and
//! latency per tier alone and routed, how well each tier's confidence
//! separates right from wrong, the escalation rate at the configured
//! thresholds, and recommended thresholds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::calibration::{at_threshold, auroc, recommend, ItemOutcome};
use router::config::{ClassTarget, RouterConfig, TierKind};
use serde_norway::Value;
use shopfloor_core::env::EnvVars;
use shopfloor_core::schema::{Answer, AnswerError, HopOutcome, Origin, Question};

use router::policy::{Action, Policy};

use crate::model::evaluate::evaluate_one_in_child;

/// What `router calibrate` was asked.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrateOptions {
    /// The dataflow whose router and tiers are calibrated.
    pub dataflow: PathBuf,
    /// The router node's id.
    pub router: String,
    /// The labelled Q&A set.
    pub qa_set: PathBuf,
    /// Every n-th item only.
    pub sample_step: usize,
}

/// Why calibration could not run.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// The dataflow file is unreadable or not the expected shape.
    #[error("{path}: {reason}")]
    Dataflow { path: String, reason: String },
    /// The router's settings in the dataflow are invalid.
    #[error(transparent)]
    Config(#[from] shopfloor_core::env::ConfigError),
    /// A tier's evaluation failed.
    #[error("tier {tier}: {reason}")]
    Tier { tier: String, reason: String },
}

/// One model tier as the dataflow runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct TierModel {
    pub tier: String,
    /// The slm node serving it.
    pub node: String,
    pub model: PathBuf,
    pub profile: PathBuf,
}

/// The model tiers only: a `kind=docs` tier has no model and no threshold
/// to calibrate, and no model tier escalates to it. A class routed to one
/// is refused in the replay (the Q&A set asks for values, not procedures).
fn without_docs_tiers(config: &mut RouterConfig) {
    let kept: Vec<usize> =
        config.tiers.iter().enumerate().filter(|(_, t)| t.kind != TierKind::Docs).map(|(i, _)| i).collect();
    for target in config.classes.values_mut() {
        if let ClassTarget::Tier(index) = *target {
            *target = kept.iter().position(|k| *k == index).map_or(ClassTarget::Refuse, ClassTarget::Tier);
        }
    }
    config.tiers.retain(|t| t.kind != TierKind::Docs);
}

/// The router's config and its model tiers, read from a dataflow.
pub fn read_dataflow(path: &Path, router_id: &str) -> Result<(RouterConfig, Vec<TierModel>), CalibrateError> {
    let bad = |reason: String| CalibrateError::Dataflow { path: path.display().to_string(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let yaml: Value = serde_norway::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let nodes = yaml.get("nodes").and_then(Value::as_sequence).ok_or_else(|| bad("no `nodes:` list".into()))?;
    let id_of = |node: &Value| node.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let router =
        nodes.iter().find(|n| id_of(n) == router_id).ok_or_else(|| bad(format!("no node with id {router_id:?}")))?;
    // dora gives every node the dataflow's env:, then the node's own.
    let shared = env_of(&yaml);
    let with_shared = |node: &Value| -> EnvVars {
        let mut env = shared.clone();
        env.extend(env_of(node));
        env
    };
    let mut config =
        RouterConfig::from_env(&with_shared(router).into_iter().filter(|(k, _)| k.starts_with("ROUTER_")).collect())?;
    without_docs_tiers(&mut config);
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut tiers = Vec::new();
    for spec in config.tiers.iter().filter(|t| t.kind == TierKind::Slm) {
        let wanted = format!("{router_id}/{}", spec.output());
        let node = nodes
            .iter()
            .find(|n| inputs_of(n).contains(&wanted))
            .ok_or_else(|| bad(format!("no node takes {wanted} as an input (tier {})", spec.name)))?;
        let env = with_shared(node);
        let setting = |key: &str| {
            env.get(key).map(|v| folder.join(v)).ok_or_else(|| bad(format!("node {} has no {key}", id_of(node))))
        };
        tiers.push(TierModel {
            tier: spec.name.clone(),
            node: id_of(node),
            model: setting("SLM_MODEL_PATH")?,
            profile: setting("SLM_PROFILE")?,
        });
    }
    Ok((config, tiers))
}

/// The words of every tag in the Q&A set's scenarios.
fn scenario_tag_words(qa_set: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(qa_set).unwrap_or_default();
    let set: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut classifier = router::classify::Classifier::default();
    let tags =
        set["scenarios"].as_array().into_iter().flatten().flat_map(|s| s["readings"].as_array().into_iter().flatten());
    for tag in tags.filter_map(|r| r["tag"].as_str()) {
        classifier.learn_tag(tag);
    }
    classifier.site_words().to_vec()
}

fn env_of(node: &Value) -> EnvVars {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    node.get("env")
        .and_then(Value::as_mapping)
        .map(|map| map.iter().filter_map(|(k, v)| Some((k.as_str()?.to_owned(), scalar(v)?))).collect())
        .unwrap_or_default()
}

fn inputs_of(node: &Value) -> Vec<String> {
    let Some(inputs) = node.get("inputs").and_then(Value::as_mapping) else { return Vec::new() };
    inputs
        .values()
        .filter_map(|v| {
            v.as_str().map(str::to_owned).or_else(|| v.get("source").and_then(Value::as_str).map(str::to_owned))
        })
        .collect()
}

/// One tier's measurements.
#[derive(Debug, Clone)]
pub struct TierRun {
    /// The tier and its model.
    pub tier: TierModel,
    /// Every item's outcome, in the set's order.
    pub outcomes: Vec<ItemOutcome>,
}

/// The routed system over the set at one set of thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    /// Thresholds of the tiers, in order.
    pub thresholds: Vec<f32>,
    /// Share of items answered right.
    pub accuracy: f64,
    /// Answer time, ms: p50 and p95.
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p95_ms: f64,
    /// Per tier: share of all items escalated away from it.
    pub escalated: Vec<f64>,
    /// Share of items refused as out of scope.
    pub refused: f64,
    /// Share of items that would leave the site.
    pub left_site: f64,
    /// Per set class: (items, right).
    pub by_class: BTreeMap<String, (usize, usize)>,
}

/// The whole calibration.
#[derive(Debug, Clone)]
pub struct Report {
    pub qa_set: String,
    pub tiers: Vec<TierRun>,
    /// Routed at the configured thresholds.
    pub configured: Routed,
    /// The thresholds with the best routed accuracy (fewest escalations among equals).
    pub best: Routed,
    /// Router class per set class: counts.
    pub classes: BTreeMap<(String, String), usize>,
}

/// Runs every model tier of the dataflow, then the routing replay.
pub fn calibrate(options: &CalibrateOptions, self_exe: &Path) -> Result<Report, CalibrateError> {
    let (mut config, models) = read_dataflow(&options.dataflow, &options.router)?;
    // The node learns tag words from readings; the replay from the set's scenarios.
    config.plant_words.extend(scenario_tag_words(&options.qa_set));
    let mut tiers = Vec::new();
    for model in models {
        eprintln!("tier {}: evaluating {} …", model.tier, model.model.display());
        let output =
            evaluate_one_in_child(self_exe, &model.profile, &model.model, &options.qa_set, options.sample_step)
                .map_err(|e| CalibrateError::Tier {
                    tier: model.tier.clone(),
                    reason: format!("cannot start {}: {e}", self_exe.display()),
                })?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let parsed = stdout.lines().last().and_then(|line| serde_json::from_str::<serde_json::Value>(line).ok());
        let outcomes = parsed
            .filter(|_| output.status.success())
            .and_then(|v| serde_json::from_value::<Vec<ItemOutcome>>(v.get("outcomes")?.clone()).ok())
            .ok_or_else(|| CalibrateError::Tier {
                tier: model.tier.clone(),
                reason: String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("no result").to_owned(),
            })?;
        tiers.push(TierRun { tier: model, outcomes });
    }
    let items = tiers.first().map_or(0, |t| t.outcomes.len());
    let configured = replay(&config, &tiers);
    let best = sweep(&config, &tiers);
    let classes = class_table(&config, &tiers);
    Ok(Report { qa_set: format!("{} ({items} items)", options.qa_set.display()), tiers, configured, best, classes })
}

/// The set through the router's policy, each tier answering as measured.
pub fn replay(config: &RouterConfig, tiers: &[TierRun]) -> Routed {
    let mut config = config.clone();
    // No deadline in a replay: every escalation the thresholds ask for happens.
    config.default_deadline = std::time::Duration::from_secs(3600);
    let slm_tiers = tiers.len();
    let mut policy = Policy::new(&config);
    let items = tiers.first().map_or(0, |t| t.outcomes.len());
    let (mut right, mut refused, mut left) = (0usize, 0usize, 0usize);
    let mut latencies = Vec::with_capacity(items);
    let mut escalated = vec![0usize; config.tiers.len()];
    let mut by_class: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for index in 0..items {
        let item = &tiers[0].outcomes[index];
        let start = 0i64;
        let question = Question::new(item.id.clone(), item.question.clone(), "calibrate", Origin::Mqtt, start);
        let mut now = start;
        let mut action = Some(policy.on_question(question, now));
        let mut answered_by: Option<usize> = None;
        // None: the policy sent the question off the site (not done in a replay).
        let final_answer = loop {
            match action.take() {
                Some(Action::Reply(answer)) => break Some(answer),
                Some(Action::Ask { tier, question, .. }) if tier < slm_tiers => {
                    let outcome = &tiers[tier].outcomes[index];
                    now += outcome.latency_ms.round() as i64;
                    answered_by = Some(tier);
                    action = policy.on_answer(tier, tier_answer(&question, outcome, &tiers[tier].tier.tier), now);
                }
                Some(Action::Ask { .. }) | None => break None,
            }
        };
        let written_by = final_answer
            .as_ref()
            .and_then(|a| a.model.as_deref())
            .and_then(|m| tiers.iter().position(|t| t.tier.tier == m));
        let route = final_answer.map(|a| a.route).unwrap_or_default();
        let was_refused = route.iter().any(|h| h.outcome == HopOutcome::Refused);
        for hop in route.iter().filter(|h| h.outcome == HopOutcome::Escalated) {
            if let Some(t) = config.tiers.iter().position(|t| t.name == hop.tier) {
                escalated[t] += 1;
            }
        }
        if route.is_empty() {
            // Off-site: the last local answer stands; its tier escalated.
            left += 1;
            if let Some(t) = answered_by {
                escalated[t] += 1;
            }
        }
        let ok = if was_refused {
            refused += 1;
            item.refusal_right
        } else {
            // The replayed answers carry their tier's name as the model.
            written_by.or(answered_by).is_some_and(|t| tiers[t].outcomes[index].right)
        };
        right += usize::from(ok);
        latencies.push((now - start) as f64);
        let entry = by_class.entry(item.class.clone()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(ok);
    }
    let share = |n: usize| n as f64 / items.max(1) as f64;
    Routed {
        thresholds: config.tiers.iter().map(|t| t.threshold).collect(),
        accuracy: share(right),
        p50_ms: percentile(&latencies, 0.5),
        p95_ms: percentile(&latencies, 0.95),
        escalated: escalated.into_iter().map(share).collect(),
        refused: share(refused),
        left_site: share(left),
        by_class,
    }
}

fn tier_answer(question: &Question, outcome: &ItemOutcome, tier: &str) -> Answer {
    let mut answer = Answer::to_question(question, String::new());
    answer.model = Some(tier.to_owned());
    answer.confidence = outcome.confidence;
    answer.error = match outcome.error.as_deref() {
        None => None,
        Some("busy") => Some(AnswerError::Busy),
        Some("no_plant_data") => Some(AnswerError::NoPlantData),
        Some("deadline_exceeded") => Some(AnswerError::DeadlineExceeded),
        Some("invalid_question") => Some(AnswerError::InvalidQuestion),
        Some("invalid_schema") => Some(AnswerError::InvalidSchema),
        Some(_) => Some(AnswerError::GenerationFailed),
    };
    answer
}

/// Thresholds 0.00, 0.05, … 1.00 on every escalating tier (the last keeps
/// its own): the best routed accuracy, fewest escalations among equals.
fn sweep(config: &RouterConfig, tiers: &[TierRun]) -> Routed {
    let steps: Vec<f32> = (0..=20).map(|i| i as f32 * 0.05).collect();
    let escalating = config.tiers.len().saturating_sub(1);
    let mut grid: Vec<Vec<f32>> = vec![Vec::new()];
    for _ in 0..escalating {
        grid = grid
            .into_iter()
            .flat_map(|base| {
                steps.iter().map(move |s| {
                    let mut next = base.clone();
                    next.push(*s);
                    next
                })
            })
            .collect();
    }
    let mut best = replay(config, tiers);
    for candidate in grid {
        let mut trial = config.clone();
        for (tier, threshold) in trial.tiers.iter_mut().zip(&candidate) {
            tier.threshold = *threshold;
        }
        let routed = replay(&trial, tiers);
        let escalations: f64 = routed.escalated.iter().sum();
        let best_escalations: f64 = best.escalated.iter().sum();
        if routed.accuracy > best.accuracy + 1e-9
            || ((routed.accuracy - best.accuracy).abs() < 1e-9 && escalations < best_escalations)
        {
            best = routed;
        }
    }
    best
}

fn class_table(config: &RouterConfig, tiers: &[TierRun]) -> BTreeMap<(String, String), usize> {
    let classifier = router::classify::Classifier::new(config.plant_words.clone());
    let mut table = BTreeMap::new();
    for item in tiers.first().map_or(&[][..], |t| &t.outcomes[..]) {
        *table.entry((item.class.clone(), classifier.classify(&item.question).as_str().to_owned())).or_default() += 1;
    }
    table
}

fn percentile(values: &[f64], q: f64) -> f64 {
    shopfloor_node::stats::percentile(values, q).unwrap_or(0.0)
}

/// A single tier answering everything: accuracy, p50, p95.
pub fn alone(run: &TierRun) -> (f64, f64, f64) {
    let right = run.outcomes.iter().filter(|o| o.right).count() as f64 / run.outcomes.len().max(1) as f64;
    let latencies: Vec<f64> = run.outcomes.iter().map(|o| o.latency_ms).collect();
    (right, percentile(&latencies, 0.5), percentile(&latencies, 0.95))
}

impl Report {
    /// The report in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "Q&A set: {}\n\n| system | accuracy | p50 ms | p95 ms | escalated | refused |\n|---|---|---|---|---|---|\n",
            self.qa_set
        );
        for run in &self.tiers {
            let (accuracy, p50, p95) = alone(run);
            let name = run.tier.model.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            out.push_str(&format!(
                "| tier {} alone ({name}) | {accuracy:.3} | {p50:.0} | {p95:.0} | - | - |\n",
                run.tier.tier
            ));
        }
        for (label, routed) in [("routed, configured", &self.configured), ("routed, recommended", &self.best)] {
            let thresholds: Vec<String> = routed.thresholds.iter().map(|t| format!("{t:.2}")).collect();
            let escalated: Vec<String> = routed.escalated.iter().map(|e| format!("{:.0} %", 100.0 * e)).collect();
            out.push_str(&format!(
                "| {label} (thresholds {}) | {:.3} | {:.0} | {:.0} | {} | {:.0} % |\n",
                thresholds.join(" / "),
                routed.accuracy,
                routed.p50_ms,
                routed.p95_ms,
                escalated.join(" / "),
                100.0 * routed.refused
            ));
        }
        if self.configured.left_site > 0.0 {
            out.push_str(&format!("\nThe off-site tier was not called: {:.0} % of items would have left the site; they count with the last local answer.\n", 100.0 * self.configured.left_site));
        }
        out.push_str("\nConfidence per tier (model-written answers):\n\n| tier | answers | AUROC | escalated at its threshold | accuracy kept / escalated | Youden's J threshold |\n|---|---|---|---|---|---|\n");
        for (run, threshold) in self.tiers.iter().zip(&self.configured.thresholds) {
            let scored: Vec<(f32, bool)> = run.outcomes.iter().filter_map(|o| Some((o.confidence?, o.right))).collect();
            let fmt = |x: Option<f64>| x.map_or("-".to_owned(), |v| format!("{v:.2}"));
            let at = at_threshold(&scored, *threshold);
            out.push_str(&format!(
                "| {} | {} | {} | {:.0} % (at {threshold:.2}) | {} / {} | {} |\n",
                run.tier.tier,
                scored.len(),
                fmt(auroc(&scored)),
                100.0 * at.escalated,
                fmt(at.accuracy_kept),
                fmt(at.accuracy_escalated),
                recommend(&scored).map_or("-".to_owned(), |(t, j)| format!("{t:.2} (J {j:.2})")),
            ));
        }
        out.push_str(
            "\nRouted accuracy by set class (configured thresholds):\n\n| class | items | right |\n|---|---|---|\n",
        );
        for (class, (items, right)) in &self.configured.by_class {
            out.push_str(&format!("| {class} | {items} | {right} |\n"));
        }
        out.push_str("\nRouter classes by set class:\n\n| set class | router class | items |\n|---|---|---|\n");
        for ((set, router), count) in &self.classes {
            out.push_str(&format!("| {set} | {router} | {count} |\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(
        id: &str,
        class: &str,
        question: &str,
        right: bool,
        confidence: Option<f32>,
        latency_ms: f64,
    ) -> ItemOutcome {
        ItemOutcome {
            id: id.into(),
            class: class.into(),
            question: question.into(),
            right,
            confidence,
            error: None,
            latency_ms,
            refusal_right: class == "out_of_scope",
        }
    }

    fn run(tier: &str, outcomes: Vec<ItemOutcome>) -> TierRun {
        TierRun {
            tier: TierModel {
                tier: tier.into(),
                node: tier.into(),
                model: format!("{tier}.gguf").into(),
                profile: "p.toml".into(),
            },
            outcomes,
        }
    }

    fn config(thresholds: [f32; 2]) -> RouterConfig {
        let vars: EnvVars = [(
            "ROUTER_TIERS".to_owned(),
            format!("nano threshold={}\nsmall threshold={}", thresholds[0], thresholds[1]),
        )]
        .into();
        RouterConfig::from_env(&vars).unwrap()
    }

    fn runs() -> Vec<TierRun> {
        let q = "What is the spindle speed?";
        vec![
            run(
                "nano",
                vec![
                    outcome("a", "current_value", q, true, Some(0.9), 100.0),
                    outcome("b", "current_value", q, false, Some(0.2), 100.0),
                    outcome("c", "out_of_scope", "Write a poem.", false, Some(0.8), 100.0),
                    outcome("d", "current_value", q, true, None, 50.0),
                ],
            ),
            run(
                "small",
                vec![
                    outcome("a", "current_value", q, true, Some(0.5), 400.0),
                    outcome("b", "current_value", q, true, Some(0.6), 400.0),
                    outcome("c", "out_of_scope", "Write a poem.", false, Some(0.7), 400.0),
                    outcome("d", "current_value", q, true, None, 300.0),
                ],
            ),
        ]
    }

    #[test]
    fn the_replay_escalates_refuses_and_adds_up_tier_times() {
        let routed = replay(&config([0.5, 0.5]), &runs());
        // a kept at nano; b escalated and right at small; c refused (right); d from facts.
        assert_eq!(routed.accuracy, 1.0);
        assert_eq!(routed.escalated, [0.25, 0.0]);
        assert_eq!(routed.refused, 0.25);
        assert_eq!((routed.p50_ms, routed.p95_ms), (50.0, 500.0));
        assert_eq!(alone(&runs()[0]), (0.5, 100.0, 100.0));
    }

    #[test]
    fn the_recommended_thresholds_are_no_worse_than_the_configured() {
        let configured = replay(&config([0.0, 0.5]), &runs());
        assert_eq!(configured.accuracy, 0.75, "b stays wrong at nano");
        let best = sweep(&config([0.0, 0.5]), &runs());
        assert_eq!(best.accuracy, 1.0);
        assert!(best.thresholds[0] > 0.2 && best.thresholds[0] <= 0.9, "{:?}", best.thresholds);
    }

    #[test]
    fn the_shipped_dataflow_names_its_tiers_models_and_profiles() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dataflows/plant-assistant.yml");
        let (config, tiers) = read_dataflow(&path, "router").unwrap();
        // The docs tier has no model: calibration leaves it out, and its class with it.
        assert_eq!(config.tiers.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["nano", "small"]);
        assert_eq!(config.target("procedure"), ClassTarget::Refuse);
        assert_eq!(tiers.iter().map(|t| t.node.as_str()).collect::<Vec<_>>(), ["slm", "slm-small"]);
        assert!(tiers[1].model.ends_with("models/gemma-3-270m.Q4_K_M.gguf"), "{:?}", tiers[1].model);
        assert!(matches!(read_dataflow(&path, "nope"), Err(CalibrateError::Dataflow { .. })));
    }
}
