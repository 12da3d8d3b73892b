//! Answers in JSON: the question's JSON Schema is compiled into a llama.cpp
//! grammar and the model writes under it, from the same fact sheet as a
//! sentence answer. A schema that does not compile gets `invalid_schema` and
//! no generation at all: never an unconstrained answer.
//!
//! A JSON answer cannot be replaced by a fact sentence without breaking the
//! schema, so the grounding check only judges it: a number not in the facts
//! marks the answer `low_confidence` (and is logged).

use shopfloor_core::schema::{Answer, AnswerError};

use crate::answering::AnswerSettings;
use crate::engine::{ChatTurn, GenerateOptions};
use crate::generator::Generate;
use crate::grounding::{states_only_known_numbers, system_prompt};

/// Added to the system turn of a JSON answer.
const JSON_INSTRUCTION: &str =
    "Reply with one JSON object only. Take tag names, values and units from the plant facts, written as there.";

/// Longest string the model may write where the schema sets no bound: a
/// small model can repeat a character until the token limit, which would cut
/// the JSON off. Any answer within the bound also follows the asker's schema.
pub const STRING_MAX_CHARS: u64 = 48;

/// Why a response schema cannot become a grammar.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("not JSON")]
    NotJson(#[source] serde_json::Error),
    #[error("llama.cpp's converter refused it")]
    Unsupported(#[source] llama_cpp_2::LlamaCppError),
}

/// Most decimals a number in a JSON answer may have: as many as the facts
/// write ([`crate::facts::number`]).
pub const NUMBER_MAX_DECIMALS: usize = 3;

/// The grammar for `schema`, by llama.cpp's converter, with unbounded
/// strings bounded to [`STRING_MAX_CHARS`] and numbers written as the facts
/// write them (see [`as_facts_write_numbers`]).
pub fn grammar_for(schema: &str) -> Result<String, SchemaError> {
    let mut value: serde_json::Value = serde_json::from_str(schema).map_err(SchemaError::NotJson)?;
    bound_strings(&mut value);
    let grammar = llama_cpp_2::json_schema_to_grammar(&value.to_string()).map_err(SchemaError::Unsupported)?;
    Ok(as_facts_write_numbers(&grammar))
}

/// llama.cpp's number rule allows 16 decimals and an exponent. The facts
/// have at most [`NUMBER_MAX_DECIMALS`] and no exponent, so any more is a
/// digit the model made up: a small model under that rule was seen to run on
/// after a value's last digit (`63.9555555555555556` for the fact 63.95),
/// each made-up digit a decode step (the answer took 92 s on a loaded
/// machine). The rules are rewritten where the converter wrote them; a
/// converter that names them otherwise fails the unit test below.
fn as_facts_write_numbers(grammar: &str) -> String {
    grammar
        .lines()
        .map(|line| {
            if line.starts_with("decimal-part ::= ") {
                format!("decimal-part ::= [0-9]{{1,{NUMBER_MAX_DECIMALS}}}")
            } else if line.starts_with("number ::= ") {
                line.replace(" ([eE] [-+]? integral-part)?", "")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Adds `maxLength` to every string schema that has no length, pattern,
/// format, enum or const of its own.
fn bound_strings(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(map) => {
            let is_string = match map.get("type") {
                Some(serde_json::Value::String(kind)) => kind == "string",
                Some(serde_json::Value::Array(kinds)) => kinds.iter().any(|k| k == "string"),
                _ => false,
            };
            let bounded = ["maxLength", "pattern", "format", "enum", "const"].iter().any(|key| map.contains_key(*key));
            if is_string && !bounded {
                map.insert("maxLength".into(), STRING_MAX_CHARS.into());
            }
            map.values_mut().for_each(bound_strings);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(bound_strings),
        _ => {}
    }
}

/// Fills `answer` with a JSON answer to `question_text` from `sheet`.
pub fn answer_in_json(
    engine: &mut impl Generate,
    answer: &mut Answer,
    question_text: &str,
    schema: &str,
    sheet: &[String],
    settings: AnswerSettings,
    queued_ms: i64,
) {
    let grammar = match grammar_for(schema) {
        Ok(grammar) => grammar,
        Err(why) => {
            let why = crate::answering::with_causes(&why);
            answer.text =
                format!("The response schema cannot be turned into a grammar ({why}); nothing was generated.");
            answer.error = Some(AnswerError::InvalidSchema);
            return;
        }
    };
    let system = format!("{}\n\n{JSON_INSTRUCTION}", system_prompt(sheet));
    let turns = [ChatTurn { role: "system", content: &system }, ChatTurn { role: "user", content: question_text }];
    let options =
        GenerateOptions { max_tokens: settings.json_max_tokens, stop_at_line_break: false, grammar: Some(&grammar) };
    let generation = engine.chat_completion(&turns, "", options);
    let generation = match generation {
        Ok(generation) => generation,
        Err(error) => {
            // A grammar llama.cpp's sampler refuses is the schema's fault, not the model's.
            let schema_fault =
                matches!(error, crate::engine::EngineError::Grammar(_) | crate::engine::EngineError::GrammarDeadEnd);
            let error = crate::answering::with_causes(&error);
            tracing::error!(id = %answer.id, %error, "JSON generation failed");
            answer.text = format!("The model could not write the JSON answer ({error}).");
            answer.error = Some(if schema_fault { AnswerError::InvalidSchema } else { AnswerError::GenerationFailed });
            return;
        }
    };
    answer.prompt_tokens = Some(generation.prompt_tokens as i64);
    answer.completion_tokens = Some(generation.tokens as i64);
    answer.ttft_ms = Some(queued_ms + generation.ttft_ms.round() as i64);
    if serde_json::from_str::<serde_json::Value>(&generation.text).is_err() {
        // The grammar only allows valid JSON, so this is a cut-off at the token limit.
        tracing::warn!(id = %answer.id, tokens = generation.tokens, text = %generation.text, "JSON answer incomplete at SLM_JSON_MAX_TOKENS");
        answer.text =
            format!("The JSON answer did not fit in {} tokens (SLM_JSON_MAX_TOKENS).", settings.json_max_tokens);
        answer.error = Some(AnswerError::GenerationFailed);
        return;
    }
    let grounded = states_only_known_numbers(&generation.text, sheet);
    if !grounded {
        tracing::info!(id = %answer.id, text = %generation.text, "JSON answer states a number that is not in the facts");
    }
    answer.confidence = Some(generation.confidence);
    answer.low_confidence = !grounded || generation.confidence < settings.confidence_threshold;
    answer.model = Some(engine.model_name());
    answer.text = generation.text;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbounded_strings_get_a_bound_and_bounded_ones_keep_theirs() {
        let mut schema = serde_json::json!({"type": "object", "properties": {
            "tag": {"type": "string"},
            "unit": {"type": "string", "maxLength": 8},
            "state": {"type": "string", "enum": ["RUNNING", "STOPPED"]},
            "notes": {"type": "array", "items": {"type": ["string", "null"]}}
        }});
        bound_strings(&mut schema);
        let properties = &schema["properties"];
        assert_eq!(properties["tag"]["maxLength"], STRING_MAX_CHARS);
        assert_eq!(properties["unit"]["maxLength"], 8);
        assert!(properties["state"].get("maxLength").is_none());
        assert_eq!(properties["notes"]["items"]["maxLength"], STRING_MAX_CHARS);
    }

    #[test]
    fn a_schema_compiles_to_a_grammar_with_a_root_rule() {
        let grammar =
            grammar_for(r#"{"type":"object","properties":{"value":{"type":"number"}},"required":["value"]}"#).unwrap();
        assert!(grammar.contains("root ::="), "{grammar}");
        assert!(matches!(grammar_for(r#"{"type":"nonsense"}"#), Err(SchemaError::Unsupported(_))));
        assert!(matches!(grammar_for("{"), Err(SchemaError::NotJson(_))));
    }

    #[test]
    fn numbers_are_written_with_at_most_the_facts_decimals_and_no_exponent() {
        let grammar =
            grammar_for(r#"{"type":"object","properties":{"value":{"type":"number"}},"required":["value"]}"#).unwrap();
        assert!(grammar.lines().any(|l| l == "decimal-part ::= [0-9]{1,3}"), "{grammar}");
        let number = grammar.lines().find(|l| l.starts_with("number ::= ")).unwrap_or_default();
        assert!(number.contains("decimal-part") && !number.contains("[eE]"), "{grammar}");
        assert_eq!(crate::facts::number(63.950_000_000_000_01), "63.95");
        assert_eq!(crate::facts::number(0.123_456), "0.123", "facts write at most {NUMBER_MAX_DECIMALS} decimals");
    }
}
