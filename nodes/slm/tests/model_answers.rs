//! The real model (SmolLM2-135M, installed by scripts/setup.sh) answering
//! from a plant state: answers state the asked values, whatever the model's
//! wording. Runs in the serial test group (see .config/nextest.toml).

use std::path::PathBuf;

use shopfloor_core::profile::HardwareProfile;
use shopfloor_core::schema::{Origin, Quality, Question, Reading, ReadingValue};
use slm::answering::{answer, AnswerSettings};
use slm::engine::Engine;
use slm::plant_state::PlantState;

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
    Reading {
        source: "opc.tcp://127.0.0.1:4840/".into(),
        tag: tag.into(),
        value,
        unit: unit.map(str::to_owned),
        quality: Quality::Good,
        source_ts_ms: Some(NOW - 300),
        received_ts_ms: NOW - 290,
    }
}

fn cell(temperature: f64) -> PlantState {
    let mut state = PlantState::default();
    state.update(vec![
        reading("spindle_temperature", ReadingValue::Number(temperature), Some("°C")),
        reading("spindle_temperature_limit", ReadingValue::Number(80.0), Some("°C")),
        reading("spindle_speed", ReadingValue::Number(1450.0), Some("rpm")),
        reading("vibration", ReadingValue::Number(2.37), Some("mm/s")),
        reading("part_count", ReadingValue::Number(118.0), None),
        reading("machine_state", ReadingValue::Text("RUNNING".into()), None),
    ]);
    state
}

fn ask(engine: &mut Engine, state: &PlantState, id: &str, text: &str) -> shopfloor_core::schema::Answer {
    let question = Question {
        id: id.into(),
        text: text.into(),
        operator: "alice".into(),
        reply_to: None,
        origin: Origin::Mqtt,
        received_ts_ms: NOW,
        deadline_ms: None,
    };
    let settings = AnswerSettings { max_tokens: 48 };
    answer(engine, state, &question, settings, NOW)
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
        assert!(reply.text.contains(value), "{question}: {:?} does not state {value}", reply.text);
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
    assert_eq!(reply.error, Some(shopfloor_core::schema::AnswerError::NoPlantData));
    assert!(reply.confidence.is_none());
}
