//! The report of a run: `report.md` with the verdict, every expectation,
//! the timeline plot (`timeline.svg`), answers, alerts, latency figures and
//! the diff against the golden output; `outputs.txt` holds the run's golden
//! lines.

use std::fmt::Write;
use std::path::Path;

use crate::case::TestCase;
use crate::run::RunOutcome;
use crate::svg;
use shopfloor_node::stats::percentile_of_sorted;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The markdown report.
pub fn markdown(case: &TestCase, outcome: &RunOutcome) -> String {
    let line = &outcome.timeline;
    let mut md = String::new();
    let verdict = if outcome.passed() { "PASSED" } else { "FAILED" };
    let _ = writeln!(md, "# Replay test `{}`: {verdict}\n", case.name);
    if !case.description.is_empty() {
        let _ = writeln!(md, "{}\n", case.description);
    }
    let _ = writeln!(md, "- recording: `{}`", case.recording.display());
    let _ = writeln!(
        md,
        "- dataflow: `{}` (played in place of {:?}; left out: {:?})",
        case.dataflow.display(),
        case.replace,
        case.remove
    );
    let _ = writeln!(
        md,
        "- speed: {} ({}), run {:.1} s",
        case.speed,
        if case.speed == 0.0 { "as fast as the receivers take it" } else { "× recorded timing" },
        outcome.wall_s
    );
    if !outcome.env.is_empty() {
        let settings: Vec<String> = outcome.env.iter().map(|(k, v)| format!("`{k}={v}`")).collect();
        let _ = writeln!(md, "- settings: {}", settings.join(", "));
    }
    let _ = writeln!(md, "- log: `{}`\n", outcome.log.display());

    let _ = writeln!(md, "## Expectations\n\n| | expected | found |\n|---|---|---|");
    for check in &outcome.checks {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            if check.passed { "pass" } else { "**FAIL**" },
            cell(&check.expected),
            cell(&check.found)
        );
    }
    if outcome.checks.is_empty() {
        let _ = writeln!(md, "| | (none) | |");
    }

    let _ = writeln!(md, "\n## Timeline\n\n![timeline](timeline.svg)\n");

    let _ = writeln!(md, "## Answers\n\n| plant s | question | answer | model | confidence | latency ms | route |\n|---|---|---|---|---|---|---|");
    for answer in &line.answers {
        let asked = line
            .questions
            .iter()
            .find(|q| q.id == answer.question_id)
            .map_or(String::new(), |q| format!("{}: {}", q.id, q.text));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            answer.t_s.map_or("-".into(), |t| format!("{t:.1}")),
            cell(&asked),
            cell(&answer.text),
            answer.model.as_deref().unwrap_or("-"),
            answer.confidence.map_or("-".into(), |c| format!("{c:.2}")),
            answer.latency_ms,
            answer.route.join(" > ")
        );
    }
    let unanswered: Vec<&str> = line
        .questions
        .iter()
        .filter(|q| !line.answers.iter().any(|a| a.question_id == q.id))
        .map(|q| q.id.as_str())
        .collect();
    if !unanswered.is_empty() {
        let _ = writeln!(md, "\nNot answered: {unanswered:?}");
    }

    let _ = writeln!(md, "\n## Alerts\n\n| plant s | severity | kind | message |\n|---|---|---|---|");
    for alert in &line.alerts {
        let _ = writeln!(md, "| {:.3} | {} | {} | {} |", alert.t_s, alert.severity, alert.kind, cell(&alert.message));
    }

    let mut latencies: Vec<f64> = line.answers.iter().map(|a| a.latency_ms as f64).collect();
    latencies.sort_by(f64::total_cmp);
    let _ = writeln!(md, "\n## Latency (reported, not judged)\n");
    match (percentile_of_sorted(&latencies, 0.5), percentile_of_sorted(&latencies, 0.95)) {
        (Some(p50), Some(p95)) => {
            let bound = |value: f64, bound: Option<f64>| match bound {
                Some(b) if value <= b => format!(" (bound {b} ms: within)"),
                Some(b) => format!(" (bound {b} ms: **over**)"),
                None => String::new(),
            };
            let bounds = case
                .expect
                .latency
                .clone()
                .unwrap_or(crate::case::LatencyBound { answer_p50_ms: None, answer_p95_ms: None });
            let _ = writeln!(
                md,
                "- answers: {}, p50 {p50} ms{}, p95 {p95} ms{}",
                latencies.len(),
                bound(p50, bounds.answer_p50_ms),
                bound(p95, bounds.answer_p95_ms)
            );
        }
        _ => {
            let _ = writeln!(md, "- no answers");
        }
    }

    let _ = writeln!(md, "\n## Golden output\n");
    match (&case.golden, &outcome.golden_stored) {
        (None, _) => {
            let _ = writeln!(md, "No golden output is set for this case.");
        }
        (Some(path), None) => {
            let _ =
                writeln!(md, "No golden output stored at `{}` yet (write it with `--update-golden`).", path.display());
        }
        (Some(path), Some(_)) => match outcome.golden_diff() {
            None => {
                let _ = writeln!(md, "Same as `{}`.", path.display());
            }
            Some(diff) => {
                let changed = diff.lines().filter(|l| l.starts_with('+') || l.starts_with('-')).count();
                let _ = writeln!(
                    md,
                    "**Differs from `{}`** ({changed} lines; `-` golden, `+` this run):\n\n```diff\n{diff}```",
                    path.display()
                );
            }
        },
    }

    let _ = writeln!(md, "\n## Messages\n\n| topic | recorded | collected |\n|---|---|---|");
    let topics: std::collections::BTreeSet<&String> = line.recorded.keys().chain(line.collected.keys()).collect();
    for topic in topics {
        let _ = writeln!(
            md,
            "| {topic} | {} | {} |",
            line.recorded.get(topic).copied().unwrap_or(0),
            line.collected.get(topic).copied().unwrap_or(0)
        );
    }
    if line.undecodable > 0 {
        let _ = writeln!(md, "\n{} messages did not decode as their output's message type.", line.undecodable);
    }
    md
}

/// Writes `report.md`, `timeline.svg` and `outputs.txt` into `dir`.
pub fn write(dir: &Path, case: &TestCase, outcome: &RunOutcome) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let levels: Vec<svg::Level> = case
        .expect
        .alert
        .iter()
        .filter_map(|alert| alert.after.as_ref())
        .filter_map(|event| {
            let (value, word) = match (event.above, event.below) {
                (Some(above), _) => (above, "above"),
                (_, Some(below)) => (below, "below"),
                _ => return None,
            };
            Some(svg::Level { tag: event.tag.clone(), value, label: format!("event: {word} {value}") })
        })
        .collect();
    let svg =
        svg::render(&outcome.timeline, &case.plot, &levels, &format!("{} — replay at speed {}", case.name, case.speed));
    std::fs::write(dir.join("timeline.svg"), svg)?;
    std::fs::write(dir.join("outputs.txt"), &outcome.golden_lines)?;
    std::fs::write(dir.join("report.md"), markdown(case, outcome))
}
