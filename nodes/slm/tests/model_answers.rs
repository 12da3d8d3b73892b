//! The real model (SmolLM2-135M, installed by scripts/setup.sh) answering
//! from a plant state: answers state the asked values and computed facts,
//! whatever the model's wording. Runs in the serial test group (see
//! .config/nextest.toml).

use std::path::PathBuf;

use shopfloor_core::schema::{Answer, AnswerError, Origin, Question, Reading, ReadingValue};
use slm::answering::{answer, AnswerSettings};
use slm::config::ToolMode;
use slm::engine::{Engine, EngineError, GenerateOptions};
use slm::plant_state::PlantState;
use slm::tools;
use slm_engine::profile::HardwareProfile;

const NOW: i64 = 1_764_086_400_000;

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

fn engine() -> Engine {
    let profile = HardwareProfile::load(&repo_path("hw-profiles/generic-x86-2core.toml")).expect("profile");
    let model = repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(model.exists(), "{} is missing: run scripts/test.sh, which installs it", model.display());
    Engine::load(&model, &profile).expect("model loads")
}

fn reading(tag: &str, value: ReadingValue, unit: Option<&str>) -> Reading {
    Reading::good("opc.tcp://127.0.0.1:4840/", tag.into(), value, unit.map(str::to_owned), Some(NOW - 300), NOW - 290)
}

fn cell(temperature: f64) -> PlantState {
    let mut state = PlantState::default();
    state.update(vec![
        reading("spindle_temperature", ReadingValue::Number(temperature), Some("°C")),
        reading("spindle_temperature_high_limit", ReadingValue::Number(80.0), Some("°C")),
        reading("spindle_speed", ReadingValue::Number(1450.0), Some("rpm")),
        reading("vibration", ReadingValue::Number(2.37), Some("mm/s")),
        reading("part_count", ReadingValue::Number(118.0), None),
        reading("machine_state", ReadingValue::Text("RUNNING".into()), None),
    ]);
    state
}

fn ask(engine: &mut Engine, state: &PlantState, id: &str, text: &str) -> Answer {
    ask_with(engine, state, id, text, AnswerSettings::default())
}

fn ask_with(engine: &mut Engine, state: &PlantState, id: &str, text: &str, settings: AnswerSettings) -> Answer {
    answer(engine, state, &Question::new(id, text, "alice", Origin::Mqtt, NOW), settings, NOW)
}

/// Each question about one tag is answered with that tag's value, keeps the
/// question's id, and lists the fact it used.
#[test]
fn model_answers_state_the_asked_values() {
    let mut engine = engine();
    let state = cell(72.4);
    let cases = [
        ("What is the spindle temperature?", "72.4"),
        ("How fast is the spindle turning?", "1450"),
        ("How many parts have been made?", "118"),
        ("What is the vibration level?", "2.37"),
        ("Is the machine running?", "RUNNING"),
    ];
    let mut by_model = 0;
    for (n, (question, value)) in cases.iter().enumerate() {
        let reply = ask(&mut engine, &state, &format!("q-{n}"), question);
        eprintln!("{question} -> {:?} (confidence {:?})", reply.text, reply.confidence);
        assert_eq!(reply.id, format!("q-{n}"));
        assert!(reply.error.is_none(), "{reply:?}");
        // Case-insensitive: "running" states RUNNING.
        let stated = reply.text.to_lowercase().contains(&value.to_lowercase());
        assert!(stated, "{question}: {:?} does not state {value}", reply.text);
        assert!(reply.facts_used.iter().any(|f| f.contains(value)), "{reply:?}");
        by_model += usize::from(reply.confidence.is_some());
    }
    eprintln!("{by_model}/{} sentences written by the model", cases.len());
}

/// When the values change, the next answer states the new value: the cached
/// prompt prefix never leaks an old fact into a new answer.
#[test]
fn model_answers_follow_changing_values() {
    let mut engine = engine();
    for temperature in [61.5, 83.2, 70.0] {
        let reply = ask(&mut engine, &cell(temperature), "t", "What is the spindle temperature?");
        let expected = ReadingValue::Number(temperature).to_string();
        assert!(reply.text.contains(&expected), "{:?} does not state {expected}", reply.text);
    }
}

/// Without any reading the node says so instead of guessing.
#[test]
fn model_is_not_asked_without_plant_data() {
    let mut engine = engine();
    let reply = ask(&mut engine, &PlantState::default(), "q", "What is the spindle temperature?");
    assert_eq!(reply.error, Some(AnswerError::NoPlantData));
    assert!(reply.confidence.is_none());
    // In the asker's language.
    let german = ask(&mut engine, &PlantState::default(), "q2", "Wie hoch ist die Spindeltemperatur?");
    assert_eq!(german.error, Some(AnswerError::NoPlantData));
    assert!(german.text.starts_with("Es sind noch keine Anlagendaten eingetroffen"), "{}", german.text);
}

/// "Is it above the limit?" is answered by the computed comparison, both
/// ways, never by the model's own arithmetic.
#[test]
fn model_answers_limit_questions_from_the_computed_fact() {
    let mut engine = engine();
    for (temperature, side, other) in [(87.0, "above", "below"), (72.4, "below", "above")] {
        let reply = ask(&mut engine, &cell(temperature), "l", "Is the spindle temperature above its limit?");
        eprintln!("{temperature} -> {:?} (confidence {:?})", reply.text, reply.confidence);
        let text = reply.text.to_lowercase();
        let value = ReadingValue::Number(temperature).to_string();
        assert!(text.contains(&value), "{text:?} does not state {value}");
        assert!(text.contains(side) && !text.contains(other), "{text:?} should say {side}");
    }
}

/// A tag or machine the plant does not have is answered as unknown (in the
/// model's words or the composed sentence), never with another tag's value.
#[test]
fn model_answers_unknown_tags_as_unknown() {
    let mut engine = engine();
    for question in ["What is the coolant pressure?", "How hot is oven_3?", "What is the temperature of robot 2?"] {
        let reply = ask(&mut engine, &cell(72.4), "u", question);
        eprintln!("{question} -> {:?} (model {:?})", reply.text, reply.model);
        assert!(reply.text.to_lowercase().contains("no data on"), "{question}: {:?}", reply.text);
        assert!(!reply.text.contains("72.4") && !reply.text.contains("1450"), "{:?}", reply.text);
        assert!(reply.error.is_none(), "{reply:?}");
    }
}

/// A value that has not changed for longer than the stale limit is
/// reported with its age, not as current.
#[test]
fn model_answers_report_stale_data_as_stale() {
    let mut engine = engine();
    let mut state = PlantState::default();
    let mut old = reading("spindle_speed", ReadingValue::Number(1450.0), Some("rpm"));
    old.source_ts_ms = Some(NOW - 12 * 60_000);
    state.update(vec![old]);
    let reply = ask(&mut engine, &state, "s", "How fast is the spindle turning?");
    assert!(reply.text.contains("1450 rpm"), "{:?}", reply.text);
    assert!(reply.text.contains("12 min old") && reply.text.contains("stale"), "{:?}", reply.text);
}

/// With tools always on, the model first calls a read-only tool through the
/// grammar, then answers from its result.
#[test]
fn model_calls_a_tool_and_answers_from_its_result() {
    let mut engine = engine();
    let settings = AnswerSettings { tools: ToolMode::Always, ..AnswerSettings::default() };
    let state = cell(72.4);
    for (question, value) in [("How fast is the spindle turning?", "1450"), ("How many parts have been made?", "118")] {
        let reply = ask_with(&mut engine, &state, "t", question, settings);
        eprintln!("{question} -> tools {:?}, {:?}", reply.tools_used, reply.text);
        assert_eq!(reply.tools_used.len(), 1, "{reply:?}");
        let call = &reply.tools_used[0];
        assert!(call.starts_with("get_tag(") || call.starts_with("get_history(") || call == "list_alarms()", "{call}");
        // Whatever the model looked up, the answer states only looked-up facts.
        assert!(reply.error.is_none(), "{reply:?}");
        if call.contains(if value == "1450" { "spindle_speed" } else { "part_count" }) {
            assert!(reply.text.contains(value), "{:?}", reply.text);
        }
        assert!(reply.prompt_tokens.unwrap_or(0) > 0 && reply.completion_tokens.unwrap_or(0) > 0);
    }
}

/// Whatever the prompt asks for, constrained output is a valid tool call.
#[test]
fn model_tool_calls_cannot_escape_the_grammar() {
    let mut engine = engine();
    let state = cell(72.4);
    let tags = state.tags();
    let grammar = tools::grammar(&tags);
    for request in ["Write a poem about spring.", "Set the spindle speed to 9000 rpm!", "{\"tool\": \"set_tag\"}"] {
        let prompt = engine
            .chat_prompt(&[
                slm::engine::ChatTurn { role: "system", content: &tools::tool_prompt(&tags) },
                slm::engine::ChatTurn { role: "user", content: request },
            ])
            .unwrap()
            + tools::CALL_PREFIX;
        let options = GenerateOptions { max_tokens: 40, stop_at_line_break: false, grammar: Some(&grammar) };
        let generation = engine.generate_with(&prompt, options).unwrap();
        eprintln!("{request} -> {:?} ({} grammar fallbacks)", generation.text, generation.grammar_fallbacks);
        assert!(tools::parse(&generation.text, &state).is_ok(), "{:?}", generation.text);
    }
}

/// Empty, oversized and undecodable questions get an error answer.
#[test]
fn model_is_not_asked_invalid_questions() {
    let mut engine = engine();
    let state = cell(72.4);
    let lossy = String::from_utf8_lossy(b"temp\xff?").into_owned();
    for text in [String::new(), "x".repeat(501), lossy] {
        let reply = ask(&mut engine, &state, "bad", &text);
        assert_eq!(reply.error, Some(AnswerError::InvalidQuestion), "{reply:?}");
        assert!(reply.text.starts_with("The question"), "{:?}", reply.text);
    }
}

/// Every answer from the model carries its confidence and token counts;
/// a threshold above any confidence marks the answer for escalation.
#[test]
fn model_answers_carry_confidence_and_token_counts() {
    let mut engine = engine();
    let state = cell(72.4);
    let strict = AnswerSettings { confidence_threshold: 1.0, ..AnswerSettings::default() };
    // Ask until the model writes an answer itself (most questions do).
    let reply = ["What is the spindle temperature?", "How many parts have been made?", "What is the vibration level?"]
        .iter()
        .map(|q| ask_with(&mut engine, &state, "c", q, strict))
        .find(|r| r.model.is_some())
        .expect("the model wrote none of the answers");
    let confidence = reply.confidence.expect("model answers carry a confidence");
    assert!((0.0..=1.0).contains(&confidence));
    assert!(reply.low_confidence);
    assert!(reply.completion_tokens.unwrap_or(0) > 0);
    assert!(reply.ttft_ms.is_some());
}

/// A truncated or non-GGUF model file is refused with a clear error before
/// llama.cpp reads it.
#[test]
fn model_files_that_are_damaged_are_refused_clearly() {
    let profile = HardwareProfile::load(&repo_path("hw-profiles/generic-x86-2core.toml")).unwrap();
    let dir = std::env::temp_dir().join(format!("shopfloor-model-damage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let original = std::fs::read(repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    let truncated = dir.join("truncated.gguf");
    std::fs::write(&truncated, &original[..original.len() / 2]).unwrap();
    let text = dir.join("text.gguf");
    std::fs::write(&text, "version https://git-lfs.github.com/spec/v1\n").unwrap();
    match Engine::load(&truncated, &profile) {
        Err(EngineError::ModelFile(e)) => assert!(e.to_string().contains("is truncated"), "{e}"),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a truncated model loaded"),
    }
    match Engine::load(&text, &profile) {
        Err(EngineError::ModelFile(e)) => assert!(e.to_string().contains("not a GGUF model file"), "{e}"),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a text file loaded"),
    }
    std::fs::remove_dir_all(dir).ok();
}

/// A profile whose budget cannot hold the model refuses it and shows the sum.
#[test]
fn model_over_the_memory_budget_is_refused_with_the_arithmetic() {
    let text = std::fs::read_to_string(repo_path("hw-profiles/generic-x86-2core.toml")).unwrap();
    // One sequence: the KV cache is one 2048-token window (the shipped profile's four take five).
    let tight = text.replace("budget_mb = 2048", "budget_mb = 700").replace("parallel = 4", "parallel = 1");
    let profile = HardwareProfile::parse("tight.toml", &tight).unwrap();
    match Engine::load(&repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf"), &profile) {
        Err(error @ EngineError::OverBudget { .. }) => {
            let message = error.to_string();
            // The KV cache and compute buffer are in the sum before any weight is loaded.
            for part in
                ["model 94 MiB", "KV cache 45 MiB", "compute buffer 114 MiB", "OS reserve 512 MiB", "of budget 700 MiB"]
            {
                assert!(message.contains(part), "{part:?} missing in {message}");
            }
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("loaded beyond the budget"),
    }
}

/// The header gives the same shape llama.cpp loads, so the memory plan made
/// before loading is the real one.
#[test]
fn model_file_header_shape_matches_the_loaded_model() {
    let path = repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let file = slm::engine::model_file::check(&path).unwrap();
    let shape = file.shape.expect("SmolLM2's header has the shape keys");
    assert_eq!((shape.n_layer, shape.n_embd, shape.n_head, shape.n_head_kv, shape.n_vocab), (30, 576, 9, 3, 49152));
}

fn ask_json(engine: &mut Engine, state: &PlantState, id: &str, text: &str, schema: &str) -> Answer {
    let question =
        Question { response_schema: Some(schema.into()), ..Question::new(id, text, "alice", Origin::Http, NOW) };
    answer(engine, state, &question, AnswerSettings::default(), NOW)
}

/// A question with a JSON Schema is answered with JSON that follows it,
/// whatever the model's wording; a schema that cannot become a grammar is
/// refused without generating.
#[test]
fn model_answers_in_json_that_follows_the_schema() {
    let mut engine = engine();
    let state = cell(72.4);
    let schema = r#"{"type":"object","properties":{"tag":{"type":"string"},"value":{"type":"number"},"unit":{"type":"string"}},"required":["tag","value","unit"],"additionalProperties":false}"#;
    for (id, text) in [("j-1", "What is the spindle temperature?"), ("j-2", "How fast is the spindle turning?")] {
        let answer = ask_json(&mut engine, &state, id, text, schema);
        eprintln!("{text} -> {:?} ({:?}, low confidence {})", answer.text, answer.error, answer.low_confidence);
        assert_eq!(answer.error, None, "{}", answer.text);
        let json: serde_json::Value = serde_json::from_str(&answer.text).expect("valid JSON");
        assert!(json["tag"].is_string() && json["value"].is_number() && json["unit"].is_string(), "{json}");
        assert_eq!(json.as_object().map(|o| o.len()), Some(3), "{json}");
        assert!(answer.confidence.is_some() && answer.model.is_some());
    }
    let refused = ask_json(&mut engine, &state, "j-3", "What is the spindle temperature?", r##"{"$ref":"#/nowhere"}"##);
    assert_eq!(refused.error, Some(AnswerError::InvalidSchema), "{}", refused.text);
    assert_eq!(refused.completion_tokens, None, "nothing may be generated for a refused schema");
}

/// Where each question brings its own facts (the focused layout), the
/// instructions every prompt starts with are cached while the node is idle,
/// and a question's completion then reads only what follows them.
#[test]
fn model_idle_warm_up_caches_the_instructions_every_focused_prompt_starts_with() {
    use slm::engine::ChatTurn;
    use slm::grounding::system_prompt;
    use std::time::Instant;

    let mut engine = engine();
    let state = cell(72.4);
    let settings = AnswerSettings::default();
    assert_eq!(settings.fact_sheet_max_tags, 0, "the focused layout");
    slm::answering::warm_cache(&mut engine, &state, settings, NOW);

    let system = system_prompt(&["spindle temperature: 72.4 °C".to_owned()]);
    let turns = [ChatTurn { role: "system", content: &system }, ChatTurn { role: "user", content: "How warm is it?" }];
    let prompt = engine.chat_prompt(&turns).unwrap();
    engine.start(&prompt, GenerateOptions::line(8), Instant::now()).unwrap();
    let mut steps = 0;
    let generation = loop {
        if let Some((_, result)) = engine.step().pop() {
            break result.unwrap();
        }
        steps += 1;
        assert!(steps < 100, "an 8-token completion never finished");
    };
    let shared = generation.prompt_tokens - generation.prompt_tokens_evaluated;
    assert!(shared >= 30, "{shared} of {} prompt tokens came from the cache: {generation:?}", generation.prompt_tokens);
}
