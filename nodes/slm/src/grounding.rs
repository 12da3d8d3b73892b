//! Keeping answers to the facts: the prompt's fact sheet, and the check that
//! a model's sentence states the asked value and invents no number.
//!
//! A 135M model copies numbers well but cannot be trusted to; when its text
//! fails the check, the answer is composed from the fact itself and carries
//! no model confidence, so an operator never reads a made-up value.

use shopfloor_core::schema::Reading;

use crate::plant_state::{fact_line, prompt_fact, value_text};

/// Instructions that never change; they come first so that their tokens stay
/// in the KV cache between questions.
pub const SYSTEM_INSTRUCTIONS: &str = "You are the assistant of a CNC machining cell. \
Answer the operator in one short sentence. Use only the plant facts below and \
copy numbers and units exactly as written.";

/// The system turn: instructions, then one line per fact.
pub fn system_prompt(facts: &[String]) -> String {
    let mut text = String::from(SYSTEM_INSTRUCTIONS);
    text.push_str("\n\nPlant facts:");
    for fact in facts {
        text.push_str("\n- ");
        text.push_str(fact);
    }
    text
}

/// Fact lines for an answer's `facts_used` (value, quality, time since change).
pub fn facts(readings: &[&Reading], now_ms: i64) -> Vec<String> {
    readings.iter().map(|r| fact_line(r, now_ms)).collect()
}

/// Fact lines for the prompt (value and unit; quality only when doubtful).
pub fn prompt_facts(readings: &[&Reading]) -> Vec<String> {
    readings.iter().map(|r| prompt_fact(r)).collect()
}

/// Whether `text` states the value of `primary` and every number in it
/// appears somewhere in `facts`.
pub fn is_grounded(text: &str, primary: &Reading, facts: &[String]) -> bool {
    // Case does not matter for words: "running" states RUNNING.
    let value = value_text(primary).to_lowercase();
    if !contains_value(&text.to_lowercase(), &value) {
        return false;
    }
    numbers_in(text)
        .iter()
        .all(|n| facts.iter().any(|fact| contains_value(fact, n)))
}

/// A sentence made from the fact alone, used when the model's is not grounded.
pub fn fact_sentence(primary: &Reading, now_ms: i64) -> String {
    let line = fact_line(primary, now_ms);
    match line.split_once(": ") {
        Some((name, rest)) => {
            let mut name = name.to_owned();
            if let Some(first) = name.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            format!("{name} is {rest}.")
        }
        None => line,
    }
}

/// Whether `value` occurs in `text` as a whole token (so `2.4` is not found in `72.4`).
fn contains_value(text: &str, value: &str) -> bool {
    text.match_indices(value).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + value.len()..].chars().next();
        let is_part_of_number = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
        let decimal_continues = text[at + value.len()..]
            .strip_prefix('.')
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
        !is_part_of_number(before) && !is_part_of_number(after) && !decimal_continues
            && before != Some('.')
    })
}

/// Numbers written in `text` (`72.4`, `1200`), without signs.
fn numbers_in(text: &str) -> Vec<String> {
    let mut numbers = Vec::new();
    let mut current = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() || (c == '.' && !current.is_empty() && !current.contains('.')) {
            current.push(c);
        } else if !current.is_empty() {
            numbers.push(current.trim_end_matches('.').to_owned());
            current.clear();
        }
    }
    numbers
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopfloor_core::schema::{Quality, ReadingValue};

    fn temperature() -> Reading {
        Reading {
            source: "t".into(),
            tag: "spindle_temperature".into(),
            value: ReadingValue::Number(72.4),
            unit: Some("°C".into()),
            quality: Quality::Good,
            source_ts_ms: Some(1000),
            received_ts_ms: 1000,
        }
    }

    fn sheet() -> Vec<String> {
        facts(&[&temperature()], 1400)
    }

    #[test]
    fn a_sentence_with_the_value_is_grounded() {
        assert!(is_grounded("The spindle temperature is 72.4 °C.", &temperature(), &sheet()));
    }

    #[test]
    fn a_sentence_without_the_value_is_not() {
        assert!(!is_grounded("The spindle is warm.", &temperature(), &sheet()));
        assert!(!is_grounded("It is 172.4 °C.", &temperature(), &sheet()));
        assert!(!is_grounded("It is 72.45 °C.", &temperature(), &sheet()));
    }

    #[test]
    fn a_text_value_may_be_stated_in_any_case() {
        let state = Reading {
            tag: "machine_state".into(),
            value: ReadingValue::Text("RUNNING".into()),
            unit: None,
            ..temperature()
        };
        let sheet = facts(&[&state], 1400);
        assert!(is_grounded("Yes, the machine is running.", &state, &sheet));
        assert!(!is_grounded("The machine is idle.", &state, &sheet));
    }

    #[test]
    fn an_invented_number_makes_a_sentence_ungrounded() {
        assert!(!is_grounded("It is 72.4 °C, limit 95 °C.", &temperature(), &sheet()));
    }

    #[test]
    fn the_fact_sentence_states_value_and_unit() {
        assert_eq!(
            fact_sentence(&temperature(), 1400),
            "Spindle temperature is 72.4 °C (quality good, changed 0.4 s ago)."
        );
    }

    #[test]
    fn the_system_prompt_starts_with_the_fixed_instructions() {
        let prompt = system_prompt(&prompt_facts(&[&temperature()]));
        assert!(prompt.starts_with(SYSTEM_INSTRUCTIONS));
        assert!(prompt.ends_with("- spindle temperature: 72.4 °C"));
    }
}
