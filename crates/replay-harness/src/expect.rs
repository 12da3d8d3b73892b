//! Checks a timeline against a case's expectations. Each check says what it
//! looked for and what it found, pass or fail.

use crate::case::{ExpectAlert, ExpectAnswer, Expectations, NoAlertWindow, ReadingEvent};
use crate::outcome::{RaisedAlert, Timeline};

/// One checked expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// What was expected, in words.
    pub expected: String,
    /// What was found, in words.
    pub found: String,
    pub passed: bool,
}

fn contains_all(text: &str, words: &[String]) -> Vec<String> {
    let lower = text.to_lowercase();
    words.iter().filter(|w| !lower.contains(&w.to_lowercase())).cloned().collect()
}

fn check_answer(line: &Timeline, expect: &ExpectAnswer) -> Check {
    let mut expected = format!("an answer to `{}`", expect.question);
    if !expect.contains.is_empty() {
        expected += &format!(" containing {:?}", expect.contains);
    }
    if !expect.excludes.is_empty() {
        expected += &format!(" without {:?}", expect.excludes);
    }
    let Some(answer) = line.answers.iter().find(|a| a.question_id == expect.question) else {
        let asked = line.questions.iter().any(|q| q.id == expect.question);
        let found = if asked { "no answer" } else { "no answer (the question is not in the recording)" };
        return Check { expected, found: found.into(), passed: false };
    };
    let missing = contains_all(&answer.text, &expect.contains);
    let lower = answer.text.to_lowercase();
    let present: Vec<&String> = expect.excludes.iter().filter(|w| lower.contains(&w.to_lowercase())).collect();
    let mut found = format!("\"{}\"", answer.text);
    if !missing.is_empty() {
        found += &format!(" (lacks {missing:?})");
    }
    if !present.is_empty() {
        found += &format!(" (has {present:?})");
    }
    Check { expected, found, passed: missing.is_empty() && present.is_empty() }
}

/// Plant time of the first reading of the event's tag beyond its value.
pub fn event_time(line: &Timeline, event: &ReadingEvent) -> Option<f64> {
    line.series.get(&event.tag)?.iter().find_map(|(t, v)| {
        let beyond = event.above.is_some_and(|a| *v > a) || event.below.is_some_and(|b| *v < b);
        beyond.then_some(*t)
    })
}

fn describe_event(event: &ReadingEvent) -> String {
    match (event.above, event.below) {
        (Some(a), _) => format!("{} first above {a}", event.tag),
        (_, Some(b)) => format!("{} first below {b}", event.tag),
        _ => event.tag.clone(),
    }
}

fn matches(alert: &RaisedAlert, expect: &ExpectAlert) -> bool {
    expect.kind.as_deref().is_none_or(|kind| alert.kind == kind)
        && expect.severity.as_deref().is_none_or(|s| s == alert.severity)
        && contains_all(&alert.message, &expect.contains).is_empty()
}

fn check_alert(line: &Timeline, expect: &ExpectAlert) -> Check {
    let at_least = expect.count_at_least.unwrap_or(1);
    let mut expected = match &expect.kind {
        Some(kind) => format!("{at_least}+ alert(s) of kind `{kind}`"),
        None => format!("{at_least}+ alert(s) of any kind"),
    };
    if let Some(severity) = &expect.severity {
        expected += &format!(", severity {severity}");
    }
    if !expect.contains.is_empty() {
        expected += &format!(", message containing {:?}", expect.contains);
    }
    let event_at = expect.after.as_ref().map(|event| (event, event_time(line, event)));
    if let Some((event, _)) = &event_at {
        expected += &format!(", after {}", describe_event(event));
        if let Some(within) = expect.within_s {
            expected += &format!(" within {within} s");
        }
    }
    let candidates: Vec<&RaisedAlert> = line.alerts.iter().filter(|a| matches(a, expect)).collect();
    match event_at {
        Some((_, None)) => Check { expected, found: "the event never happens in the recording".into(), passed: false },
        Some((_, Some(event_t))) => {
            let window_end = expect.within_s.map_or(f64::INFINITY, |w| event_t + w);
            // Alerts carry the time of their reading; allow a millisecond of rounding.
            let timely: Vec<&&RaisedAlert> =
                candidates.iter().filter(|a| a.t_s >= event_t - 0.001 && a.t_s <= window_end + 0.001).collect();
            let found = match (timely.first(), candidates.first()) {
                (Some(first), _) => {
                    format!(
                        "{} ({:+.3} s after the event at {event_t:.3} s): \"{}\"",
                        timely.len(),
                        first.t_s - event_t,
                        first.message
                    )
                }
                (None, Some(other)) => {
                    format!("none in the window; one at {:.3} s (event at {event_t:.3} s)", other.t_s)
                }
                (None, None) => {
                    format!("no matching alert (event at {event_t:.3} s; {} alerts in all)", line.alerts.len())
                }
            };
            Check { expected, found, passed: timely.len() >= at_least }
        }
        None => Check {
            found: match candidates.first() {
                Some(first) => format!("{} (first at {:.3} s): \"{}\"", candidates.len(), first.t_s, first.message),
                None => format!("none ({} alerts in all)", line.alerts.len()),
            },
            expected,
            passed: candidates.len() >= at_least,
        },
    }
}

fn check_quiet(line: &Timeline, window: &NoAlertWindow) -> Check {
    let kind = window.kind.as_deref();
    let expected = format!(
        "no {}alert from {} s to {} s",
        kind.map(|k| format!("`{k}` ")).unwrap_or_default(),
        window.from_s,
        window.to_s
    );
    let inside: Vec<&RaisedAlert> = line
        .alerts
        .iter()
        .filter(|a| a.t_s >= window.from_s && a.t_s <= window.to_s && kind.is_none_or(|k| a.kind == k))
        .collect();
    let found = match inside.first() {
        None => "none".into(),
        Some(first) => format!("{}: first at {:.3} s, \"{}\"", inside.len(), first.t_s, first.message),
    };
    Check { expected, found, passed: inside.is_empty() }
}

/// Every expectation checked, answers first.
pub fn check(line: &Timeline, expect: &Expectations) -> Vec<Check> {
    let mut checks: Vec<Check> = expect.answer.iter().map(|a| check_answer(line, a)).collect();
    checks.extend(expect.alert.iter().map(|a| check_alert(line, a)));
    checks.extend(expect.no_alert.iter().map(|w| check_quiet(line, w)));
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::GivenAnswer;

    fn line() -> Timeline {
        let mut line = Timeline::default();
        line.series.insert("temp".into(), vec![(0.0, 70.0), (10.0, 79.0), (12.0, 80.5), (14.0, 82.0)]);
        line.alerts.push(RaisedAlert {
            t_s: 12.0,
            id: "a1".into(),
            kind: "high_limit".into(),
            severity: "warning".into(),
            message: "temp 80.5 °C above high limit 80 °C".into(),
        });
        line.answers.push(GivenAnswer {
            t_s: Some(13.0),
            question_id: "q1".into(),
            text: "The spindle temperature is 80.5 °C, above its limit.".into(),
            model: Some("m".into()),
            confidence: Some(0.8),
            latency_ms: 250,
            route: vec!["nano".into()],
        });
        line
    }

    fn alert(within: Option<f64>, above: f64) -> ExpectAlert {
        ExpectAlert {
            kind: Some("high_limit".into()),
            contains: vec!["TEMP".into()],
            severity: None,
            after: Some(ReadingEvent { tag: "temp".into(), above: Some(above), below: None }),
            within_s: within,
            count_at_least: None,
        }
    }

    #[test]
    fn an_alert_right_after_its_event_passes_and_a_late_one_fails() {
        let l = line();
        assert!(check_alert(&l, &alert(Some(1.0), 80.0)).passed);
        // Event at 10 s (79 > 78), alert at 12 s: outside a 1 s window.
        let late = check_alert(&l, &alert(Some(1.0), 78.0));
        assert!(!late.passed, "{late:?}");
        assert!(late.found.contains("none in the window"));
        let never = check_alert(&l, &alert(Some(1.0), 100.0));
        assert!(!never.passed && never.found.contains("never happens"));
    }

    #[test]
    fn answers_and_quiet_windows_are_checked() {
        let l = line();
        let good =
            ExpectAnswer { question: "q1".into(), contains: vec!["80.5".into()], excludes: vec!["below".into()] };
        assert!(check_answer(&l, &good).passed);
        let wrong = ExpectAnswer { question: "q1".into(), contains: vec!["90".into()], excludes: vec![] };
        assert!(check_answer(&l, &wrong).found.contains("lacks"));
        let missing = ExpectAnswer { question: "q9".into(), contains: vec![], excludes: vec![] };
        assert!(!check_answer(&l, &missing).passed);
        assert!(check_quiet(&l, &NoAlertWindow { from_s: 0.0, to_s: 11.0, kind: None }).passed);
        assert!(!check_quiet(&l, &NoAlertWindow { from_s: 0.0, to_s: 12.0, kind: None }).passed);
        assert!(check_quiet(&l, &NoAlertWindow { from_s: 0.0, to_s: 20.0, kind: Some("scratch".into()) }).passed);
    }
}
