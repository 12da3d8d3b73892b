//! The golden output: the deterministic part of a run's outputs as text
//! lines (answers with their model and words, alerts with their plant time,
//! kind and message; no latencies or wall-clock times), stored beside the
//! case, and the diff of a run against it.

use similar::{ChangeTag, TextDiff};

use crate::outcome::Timeline;

/// The run's outputs as golden lines.
pub fn lines(line: &Timeline) -> String {
    let mut out = String::new();
    for answer in &line.answers {
        let confidence = answer.confidence.map_or("-".to_owned(), |c| format!("{c:.2}"));
        out += &format!(
            "answer {} | model {} | confidence {confidence} | route {} | {}\n",
            answer.question_id,
            answer.model.as_deref().unwrap_or("-"),
            if answer.route.is_empty() { "-".to_owned() } else { answer.route.join(">") },
            answer.text.replace('\n', " ")
        );
    }
    for alert in &line.alerts {
        out += &format!(
            "alert {:.3} s | {} | {} | {}\n",
            alert.t_s,
            alert.severity,
            alert.kind,
            alert.message.replace('\n', " ")
        );
    }
    out
}

/// A unified diff from `golden` to `current`; `None` when they are equal.
pub fn diff(golden: &str, current: &str) -> Option<String> {
    if golden == current {
        return None;
    }
    let diff = TextDiff::from_lines(golden, current);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            ChangeTag::Delete => '-',
            ChangeTag::Insert => '+',
            ChangeTag::Equal => ' ',
        };
        out.push(sign);
        out += change.value();
        if !change.value().ends_with('\n') {
            out.push('\n');
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_outputs_have_no_diff_and_changes_are_marked() {
        assert_eq!(diff("a\nb\n", "a\nb\n"), None);
        let text = diff("answer q1 | 80 °C\nalert 12.000 s | x\n", "answer q1 | 80 °C\nalert 14.000 s | x\n").unwrap();
        assert!(text.contains("-alert 12.000 s | x\n"));
        assert!(text.contains("+alert 14.000 s | x\n"));
        assert!(text.contains(" answer q1"));
    }
}
