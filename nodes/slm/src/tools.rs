//! Read-only tools the model may call: `get_tag`, `get_history`,
//! `list_alarms`. The call is generated under a GBNF grammar that lists the
//! plant's tags, so the model can only produce a well-formed call to a tool
//! that exists about a tag that exists. No tool writes anything.

use crate::facts::{age, number, TagFact};
use crate::plant_state::PlantState;

/// A parsed tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolCall {
    /// The latest value and facts of one tag.
    GetTag(String),
    /// The recent history of one tag.
    GetHistory(String),
    /// Every tag in alarm.
    ListAlarms,
}

impl std::fmt::Display for ToolCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolCall::GetTag(tag) => write!(f, "get_tag({tag})"),
            ToolCall::GetHistory(tag) => write!(f, "get_history({tag})"),
            ToolCall::ListAlarms => f.write_str("list_alarms()"),
        }
    }
}

/// Why a tool call could not be used (only possible without the grammar).
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("tool call is not JSON")]
    NotJson(#[source] serde_json::Error),
    /// JSON, but not an object with a `tool` string (the call's start is kept).
    #[error("tool call is not a JSON object with a \"tool\" field: {start}")]
    NoTool { start: String },
    #[error("tool call: {tool} needs a \"tag\"")]
    NoTag { tool: String },
    /// No such tool.
    #[error("unknown tool {0:?}")]
    UnknownTool(String),
    /// The tool needs a tag the plant does not have.
    #[error("unknown tag {0:?}")]
    UnknownTag(String),
}

/// The instructions for the tool step; the tag list follows them.
const TOOL_INSTRUCTIONS: &str = "You look up plant data for the operator's question. \
Reply with one JSON call: {\"tool\":\"get_tag\",\"tag\":\"<tag>\"} for a current value, \
{\"tool\":\"get_history\",\"tag\":\"<tag>\"} for how a value changed, \
{\"tool\":\"list_alarms\"} for active alarms.";

/// The system turn of the tool step.
pub fn tool_prompt(tags: &[&str]) -> String {
    format!("{TOOL_INSTRUCTIONS}\nTags: {}", tags.join(", "))
}

/// The start every call has. It is written into the prompt after the
/// assistant header instead of being generated: forced tokens cost a
/// decode step each, and the grammar would have to push the model into
/// them (a full-vocabulary filter per token).
pub const CALL_PREFIX: &str = "{\"tool\":\"";

/// The GBNF grammar of the rest of a call over `tags`, after [`CALL_PREFIX`]:
/// exactly the JSON forms above.
pub fn grammar(tags: &[&str]) -> String {
    let tag_rule = if tags.is_empty() {
        // No tag can be named: only list_alarms remains possible.
        String::new()
    } else {
        let alternatives: Vec<String> = tags.iter().map(|t| format!("\"\\\"{}\\\"\"", gbnf_escape(t))).collect();
        format!("tag ::= {}\n", alternatives.join(" | "))
    };
    let tag_calls = if tags.is_empty() {
        String::new()
    } else {
        "\"get_tag\\\",\\\"tag\\\":\" tag | \"get_history\\\",\\\"tag\\\":\" tag | ".to_owned()
    };
    format!("root ::= ( {tag_calls}\"list_alarms\\\"\" ) \"}}\"\n{tag_rule}")
}

/// Escapes a tag for a GBNF string literal (inside a JSON string).
fn gbnf_escape(tag: &str) -> String {
    tag.chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '\\', '\\', '"'],
            '\\' => vec!['\\', '\\', '\\', '\\'],
            c => vec![c],
        })
        .collect()
}

/// Parses a call (the text generated after [`CALL_PREFIX`]) and checks its tag.
pub fn parse(generated: &str, state: &PlantState) -> Result<ToolCall, ToolError> {
    let text = format!("{CALL_PREFIX}{}", generated.trim());
    let value: serde_json::Value = serde_json::from_str(&text).map_err(ToolError::NotJson)?;
    let tool = value
        .get("tool")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| ToolError::NoTool { start: text.chars().take(80).collect() })?;
    let tag = || -> Result<String, ToolError> {
        let tag = value
            .get("tag")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| ToolError::NoTag { tool: tool.to_owned() })?;
        if state.tags().contains(&tag) {
            Ok(tag.to_owned())
        } else {
            Err(ToolError::UnknownTag(tag.to_owned()))
        }
    };
    match tool {
        "get_tag" => Ok(ToolCall::GetTag(tag()?)),
        "get_history" => Ok(ToolCall::GetHistory(tag()?)),
        "list_alarms" => Ok(ToolCall::ListAlarms),
        other => Err(ToolError::UnknownTool(other.to_owned())),
    }
}

/// What a tool returned: fact lines for the answer prompt, and the fact the
/// answer must state (none for an empty alarm list).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// Lines for the answer step's fact sheet.
    pub lines: Vec<String>,
    /// The fact the answer is about.
    pub primary: Option<TagFact>,
    /// Every fact the result was built from.
    pub facts: Vec<TagFact>,
}

/// Most history samples shown; more would only slow the answer step down.
const HISTORY_POINTS: usize = 6;

/// Runs a call against the plant state. Read-only by construction: it only
/// has a shared reference to the state.
pub fn execute(call: &ToolCall, state: &PlantState, now_ms: i64) -> ToolResult {
    match call {
        ToolCall::GetTag(tag) => {
            let fact = state.fact(tag, now_ms);
            ToolResult {
                lines: fact.iter().map(TagFact::prompt_line).collect(),
                primary: fact.clone(),
                facts: fact.into_iter().collect(),
            }
        }
        ToolCall::GetHistory(tag) => {
            let Some(fact) = state.fact(tag, now_ms) else {
                return ToolResult { lines: Vec::new(), primary: None, facts: Vec::new() };
            };
            let history = state.history(tag);
            let step = history.len().div_ceil(HISTORY_POINTS).max(1);
            let unit = fact.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
            let points: Vec<String> = history
                .iter()
                .rev()
                .step_by(step)
                .take(HISTORY_POINTS)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .map(|s| format!("{}{unit} {} ago", number(s.value), age(now_ms - s.ts_ms)))
                .collect();
            let mut lines = vec![fact.prompt_line()];
            if !points.is_empty() {
                lines.push(format!("{} history: {}", fact.name(), points.join(", ")));
            }
            ToolResult { lines, primary: Some(fact.clone()), facts: vec![fact] }
        }
        ToolCall::ListAlarms => {
            let alarms = state.alarms(now_ms);
            let lines = if alarms.is_empty() {
                vec!["no active alarms".to_owned()]
            } else {
                alarms.iter().map(TagFact::prompt_line).collect()
            };
            ToolResult { lines, primary: alarms.first().cloned(), facts: alarms }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopfloor_core::schema::ReadingValue;

    fn state(temperature: f64) -> PlantState {
        let reading = |tag: &str, value: f64, ts: i64| {
            crate::test_support::reading(tag, ReadingValue::Number(value), Some("°C"), ts)
        };
        let mut state = PlantState::default();
        state.update(vec![reading("spindle_temperature_high_limit", 80.0, 0)]);
        for i in 0..10 {
            state.update(vec![reading("spindle_temperature", temperature - 9.0 + i as f64, i * 10_000)]);
        }
        state
    }

    #[test]
    fn the_grammar_lists_tools_and_tags() {
        let g = grammar(&["spindle_temperature", "part_count"]);
        assert_eq!(
            g,
            "root ::= ( \"get_tag\\\",\\\"tag\\\":\" tag | \"get_history\\\",\\\"tag\\\":\" tag | \"list_alarms\\\"\" ) \"}\"\n\
             tag ::= \"\\\"spindle_temperature\\\"\" | \"\\\"part_count\\\"\"\n"
        );
        assert!(!grammar(&[]).contains("tag ::="));
    }

    #[test]
    fn calls_parse_and_unknown_tags_or_tools_are_refused() {
        let s = state(87.0);
        assert_eq!(
            parse(r#"get_tag","tag":"spindle_temperature"}"#, &s).ok(),
            Some(ToolCall::GetTag("spindle_temperature".into()))
        );
        assert_eq!(parse(r#"list_alarms"}"#, &s).ok(), Some(ToolCall::ListAlarms));
        assert!(matches!(parse(r#"get_tag","tag":"oven"}"#, &s), Err(ToolError::UnknownTag(_))));
        assert!(matches!(parse(r#"set_tag","tag":"x"}"#, &s), Err(ToolError::UnknownTool(_))));
        assert!(matches!(parse("get_tag", &s), Err(ToolError::NotJson(_))));
        assert!(matches!(parse("1,2]", &s), Err(ToolError::NotJson(_))));
    }

    #[test]
    fn get_history_shows_a_few_points_and_the_trend() {
        let s = state(87.0);
        let result = execute(&ToolCall::GetHistory("spindle_temperature".into()), &s, 90_000);
        assert!(result.lines[0].contains("rising 6 °C/min"), "{:?}", result.lines);
        let points = result.lines[1].matches(" ago").count();
        assert!((2..=HISTORY_POINTS).contains(&points), "{:?}", result.lines);
        assert!(result.lines[1].ends_with("87 °C 0.0 s ago"), "{:?}", result.lines);
    }

    #[test]
    fn list_alarms_reports_violations_or_none() {
        let result = execute(&ToolCall::ListAlarms, &state(87.0), 90_000);
        assert_eq!(result.primary.map(|f| f.tag), Some("spindle_temperature".into()));
        let calm = execute(&ToolCall::ListAlarms, &state(70.0), 90_000);
        assert_eq!(calm.lines, ["no active alarms"]);
        assert!(calm.primary.is_none());
    }
}
