//! Keeping answers to the facts: the prompt's fact sheet, and the check that
//! a model's sentence states the asked value, invents no number, and (for a
//! limit question) says the computed side of the limit.
//!
//! A 135M model copies numbers well but cannot be trusted to; when its text
//! fails the check, the answer is the fact's own sentence and carries no
//! model confidence, so an operator never reads a made-up value.

use crate::facts::{Detail, LimitSide, LimitStatus, TagFact, Trend};

/// Instructions that never change; they come first so that their tokens stay
/// in the KV cache between questions.
pub const SYSTEM_INSTRUCTIONS: &str = "You are the assistant of a CNC machining cell. \
Answer the operator in one short sentence. Use only the plant facts below and \
copy numbers and units exactly as written.";

/// The system turn: instructions, then one line per fact.
pub fn system_prompt(fact_lines: &[String]) -> String {
    let mut text = String::from(SYSTEM_INSTRUCTIONS);
    text.push_str("\n\nPlant facts:");
    for fact in fact_lines {
        text.push_str("\n- ");
        text.push_str(fact);
    }
    text
}

/// Whether `text` is a faithful answer: it states `primary`'s value (when
/// there is a primary fact), every number in it appears in `fact_lines`,
/// when the question asks about limits it names the side of the limit the
/// value is on and not the other, and when it asks about the trend of a
/// moving value it names the direction and not the other.
pub fn is_grounded(text: &str, primary: Option<&TagFact>, fact_lines: &[String], asks: Detail) -> bool {
    let lower = text.to_lowercase();
    if let Some(primary) = primary {
        // Case does not matter for words: "running" states RUNNING.
        let value = primary.value_text().to_lowercase();
        if !contains_value(&lower, &value) {
            return false;
        }
        if asks.limits && !states_limit_side(&lower, primary.limit) {
            return false;
        }
        if asks.trend && !states_trend_direction(&lower, primary.trend) {
            return false;
        }
    }
    states_only_known_numbers(text, fact_lines)
}

/// Whether every number written in `text` appears in `fact_lines`, with
/// its sign: "0.9 °C above its high limit of 18 °C" is not what a fact
/// "0.9 °C above its high limit of -18 °C" says.
pub fn states_only_known_numbers(text: &str, fact_lines: &[String]) -> bool {
    let known: Vec<String> = fact_lines.iter().flat_map(|fact| numbers_in(fact)).collect();
    numbers_in(text).iter().all(|n| known.contains(n))
}

/// Words that say a value rises or falls, in the supported languages. The
/// any-plant evaluation's judge keeps its own list on purpose: a judge that
/// shared the product's words could not catch a wrong one.
const RISING_WORDS: &[&str] = &[
    "rising",
    "increasing",
    "going up",
    "climbing",
    "steigend",
    "steigt",
    "subiendo",
    "aumenta",
    "en hausse",
    "monte",
];
const FALLING_WORDS: &[&str] = &[
    "falling",
    "decreasing",
    "going down",
    "dropping",
    "fallend",
    "fällt",
    "sinkt",
    "bajando",
    "disminuye",
    "en baisse",
    "descend",
];

/// Whether a trend answer says the computed direction and not the
/// opposite (a sentence that copies "rising or falling?" says both).
fn states_trend_direction(lower: &str, trend: Trend) -> bool {
    let (said, opposite) = match trend {
        Trend::Rising { .. } => (RISING_WORDS, FALLING_WORDS),
        Trend::Falling { .. } => (FALLING_WORDS, RISING_WORDS),
        Trend::Stable | Trend::Unknown => return true,
    };
    let has_any = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    has_any(said) && !has_any(opposite)
}

/// Whether a limit answer says the computed side and not the opposite.
fn states_limit_side(lower: &str, limit: LimitStatus) -> bool {
    let has_any = |words: &[&str]| lower.split(|c: char| !c.is_alphanumeric()).any(|w| words.contains(&w));
    let (said, contradicting): (&[&str], &[&str]) = match limit {
        LimitStatus::NoLimit => return true,
        LimitStatus::Beyond { side: LimitSide::High, .. } => {
            (&["above", "exceeds", "exceeded", "over", "alarm"], &["below", "within", "under"])
        }
        LimitStatus::Beyond { side: LimitSide::Low, .. } => {
            (&["below", "under", "alarm"], &["above", "within", "over"])
        }
        // Within: on the safe side of the nearest limit, and never "above"
        // a high one ("the humidity above its limit is 55.1 %").
        LimitStatus::Within { side: LimitSide::High, .. } => {
            (&["below", "within", "under", "normal"], &["exceeds", "exceeded", "alarm", "over", "above"])
        }
        LimitStatus::Within { side: LimitSide::Low, .. } => {
            (&["above", "within", "over", "normal"], &["exceeds", "exceeded", "alarm", "under", "below"])
        }
    };
    has_any(said) && !has_any(contradicting)
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
        !is_part_of_number(before) && !is_part_of_number(after) && !decimal_continues && before != Some('.')
    })
}

/// Numbers written in `text` (`72.4`, `1200`, `-18`). A `-` or `−` right
/// before a digit is a minus sign unless a letter or digit comes before it,
/// where it joins words: `TT-1201` and `10-20` hold no negative number.
fn numbers_in(text: &str) -> Vec<String> {
    let mut numbers = Vec::new();
    let mut current = String::new();
    let mut before: [Option<char>; 2] = [None, None];
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() || (c == '.' && !current.is_empty() && !current.contains('.')) {
            if current.is_empty() {
                let minus = matches!(before[1], Some('-' | '\u{2212}'));
                if minus && !before[0].is_some_and(char::is_alphanumeric) {
                    current.push('-');
                }
            }
            current.push(c);
        } else if !current.is_empty() {
            numbers.push(current.trim_end_matches('.').to_owned());
            current.clear();
        }
        before = [before[1], Some(c)];
    }
    numbers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Freshness;
    use shopfloor_core::schema::ReadingValue;

    /// A question about limits.
    const LIMITS: Detail = Detail { limits: true, trend: false };

    #[test]
    fn a_trend_answer_must_name_the_computed_direction() {
        let trend = Detail { limits: false, trend: true };
        let mut t = temperature(72.4);
        t.trend = Trend::Rising { per_minute: 1.2 };
        assert!(is_grounded("Spindle temperature is 72.4 °C, rising 1.2 °C/min.", Some(&t), &sheet(&t), trend));
        assert!(is_grounded("Spindeltemperatur ist 72.4 °C, steigend 1.2 °C/min.", Some(&t), &sheet(&t), trend));
        assert!(!is_grounded("Spindle temperature is 72.4 °C.", Some(&t), &sheet(&t), trend));
        assert!(!is_grounded("Spindle temperature is 72.4 °C, falling 1.2 °C/min.", Some(&t), &sheet(&t), trend));
        // The question copied back says both directions.
        assert!(!is_grounded("Steigt oder fällt die Temperatur (72.4 °C)?", Some(&t), &sheet(&t), trend));
        // A value question does not need the direction.
        assert!(is_grounded("Spindle temperature is 72.4 °C.", Some(&t), &sheet(&t), Detail::VALUE));
    }

    fn temperature(value: f64) -> TagFact {
        let limit = LimitStatus::of(value, None, Some(80.0));
        TagFact {
            tag: "spindle_temperature".into(),
            value: ReadingValue::Number(value),
            unit: Some("°C".into()),
            limit,
            trend: Trend::Stable,
            freshness: Freshness::Fresh,
            age_ms: 400,
            alarm: limit.is_alarm(),
            description: None,
        }
    }

    fn sheet(fact: &TagFact) -> Vec<String> {
        vec![fact.prompt_line()]
    }

    #[test]
    fn a_sentence_with_the_value_is_grounded() {
        let t = temperature(72.4);
        assert!(is_grounded("The spindle temperature is 72.4 °C.", Some(&t), &sheet(&t), Detail::VALUE));
    }

    #[test]
    fn a_sentence_without_the_value_is_not() {
        let t = temperature(72.4);
        assert!(!is_grounded("The spindle is warm.", Some(&t), &sheet(&t), Detail::VALUE));
        assert!(!is_grounded("It is 172.4 °C.", Some(&t), &sheet(&t), Detail::VALUE));
        assert!(!is_grounded("It is 72.45 °C.", Some(&t), &sheet(&t), Detail::VALUE));
    }

    #[test]
    fn a_text_value_may_be_stated_in_any_case() {
        let state = TagFact {
            tag: "machine_state".into(),
            value: ReadingValue::Text("RUNNING".into()),
            unit: None,
            limit: LimitStatus::NoLimit,
            trend: Trend::Unknown,
            ..temperature(1.0)
        };
        assert!(is_grounded("Yes, the machine is running.", Some(&state), &sheet(&state), Detail::VALUE));
        assert!(!is_grounded("The machine is idle.", Some(&state), &sheet(&state), Detail::VALUE));
    }

    #[test]
    fn an_invented_number_makes_a_sentence_ungrounded() {
        let t = temperature(72.4);
        assert!(!is_grounded("It is 72.4 °C, limit 95 °C.", Some(&t), &sheet(&t), Detail::VALUE));
        // Computed numbers from the sheet may be copied.
        assert!(is_grounded("It is 72.4 °C, 7.6 °C below the limit of 80 °C.", Some(&t), &sheet(&t), LIMITS));
    }

    /// A cold room at -17.1 °C over its -18 °C limit (seen on a generated
    /// cold store, 2026-12-07): the model moved the minus sign from the
    /// limit to the margin, every digit copied right.
    #[test]
    fn a_number_with_the_wrong_sign_makes_a_sentence_ungrounded() {
        let limit = LimitStatus::of(-17.1, None, Some(-18.0));
        let room = TagFact { tag: "TT-1201".into(), limit, alarm: limit.is_alarm(), ..temperature(-17.1) };
        let facts = sheet(&room);
        assert!(facts[0].contains("-18"), "{facts:?}");
        let flipped = "TT-1201 is -17.1 °C, -0.9 °C above its high limit of 18 °C (ALARM).";
        assert!(!is_grounded(flipped, Some(&room), &facts, LIMITS));
        let faithful = "TT-1201 is -17.1 °C, 0.9 °C above its high limit of -18 °C (ALARM).";
        assert!(is_grounded(faithful, Some(&room), &facts, LIMITS), "{facts:?}");
        // A hyphen between letters or digits is no minus sign.
        assert!(states_only_known_numbers("TT-1201 reads 10-20", &["TT 1201 range 10 to 20".to_owned()]));
        assert!(states_only_known_numbers("It is −18 °C.", &["limit -18 °C".to_owned()]));
    }

    #[test]
    fn a_limit_answer_must_say_the_computed_side() {
        let hot = temperature(87.0);
        assert!(is_grounded("Yes, 87 °C is above the 80 °C limit.", Some(&hot), &sheet(&hot), LIMITS));
        assert!(!is_grounded("The spindle temperature is 87 °C.", Some(&hot), &sheet(&hot), LIMITS));
        assert!(!is_grounded("87 °C is below the limit.", Some(&hot), &sheet(&hot), LIMITS));
        let fine = temperature(72.4);
        assert!(!is_grounded("72.4 °C exceeds the limit.", Some(&fine), &sheet(&fine), LIMITS));
        assert!(is_grounded("No, 72.4 °C is below the limit.", Some(&fine), &sheet(&fine), LIMITS));
    }

    #[test]
    fn the_system_prompt_starts_with_the_fixed_instructions() {
        let t = temperature(72.4);
        let prompt = system_prompt(&sheet(&t));
        assert!(prompt.starts_with(SYSTEM_INSTRUCTIONS));
        assert!(prompt.ends_with("- spindle temperature: 72.4 °C, 7.6 °C below high limit 80 °C, stable"));
    }
}
