//! The node's event loop with the real model, driven through dora's testing
//! mode (no daemon): a burst of questions beyond the queue gets "busy"
//! answers at once, the rest are answered. Serial test group.

use std::path::PathBuf;

use dora_node_api::integration_testing::integration_testing_format::{IncomingEvent, InputData, TimedIncomingEvent};
use dora_node_api::integration_testing::{
    drain_outputs, output_channel, IntegrationTestInput, TestingInput, TestingOptions, TestingOutput,
};
use dora_node_api::DoraNode;
use shopfloor_core::arrow::array::{Array, StructArray};
use shopfloor_core::arrow::ipc::writer::FileWriter;
use shopfloor_core::arrow::record_batch::RecordBatch;
use shopfloor_core::schema::{Origin, Question, Reading, ReadingValue};
use shopfloor_node::clock::now_ms;
use slm::answering::AnswerSettings;
use slm::engine::Engine;
use slm::node::{NodeSettings, QUESTIONS_INPUT, READINGS_INPUT};
use slm::plant_state::StateSettings;
use slm_engine::profile::HardwareProfile;

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

/// Writes `array` (a struct array) as a one-batch Arrow IPC file.
fn arrow_file(path: &PathBuf, array: &dyn Array) {
    let batch = RecordBatch::from(array.as_any().downcast_ref::<StructArray>().expect("struct array").clone());
    let file = std::fs::File::create(path).unwrap();
    let mut writer = FileWriter::try_new(file, &batch.schema()).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
}

fn input(at_secs: f64, id: &str, path: PathBuf) -> TimedIncomingEvent {
    TimedIncomingEvent {
        time_offset_secs: at_secs,
        event: IncomingEvent::Input {
            id: id.to_owned().into(),
            metadata: None,
            data: Some(Box::new(InputData::ArrowFile { path, batch_index: 0, column: None })),
        },
    }
}

#[test]
fn model_node_answers_busy_when_the_question_queue_is_full() {
    let profile = HardwareProfile::load(&repo_path("hw-profiles/generic-x86-2core.toml")).unwrap();
    let mut engine = Engine::load(&repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf"), &profile).unwrap();
    let dir = std::env::temp_dir().join(format!("shopfloor-slm-node-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let now = now_ms();
    let readings = [("spindle_speed", 1450.0, "rpm"), ("spindle_temperature", 72.4, "°C")].map(|(tag, v, unit)| {
        Reading::good("test", tag.into(), ReadingValue::Number(v), Some(unit.into()), Some(now), now)
    });
    arrow_file(&dir.join("readings.arrow"), Reading::to_arrow(&readings).as_ref());
    // Six questions in one message: one is answered, one waits (capacity 1),
    // four are told the assistant is busy.
    let questions: Vec<Question> = (0..6)
        .map(|n| Question {
            id: format!("q-{n}"),
            text: "How fast is the spindle turning?".into(),
            operator: "alice".into(),
            reply_to: None,
            origin: Origin::Mqtt,
            received_ts_ms: now,
            deadline_ms: None,
            correlation_data: None,
            response_schema: None,
        })
        .collect();
    arrow_file(&dir.join("questions.arrow"), Question::to_arrow(&questions).as_ref());

    let events = vec![
        input(0.05, READINGS_INPUT, dir.join("readings.arrow")),
        input(0.1, QUESTIONS_INPUT, dir.join("questions.arrow")),
        TimedIncomingEvent { time_offset_secs: 0.5, event: IncomingEvent::Stop },
    ];
    let (tx, mut rx) = output_channel();
    let (node, events) = DoraNode::init_testing(
        TestingInput::Input(IntegrationTestInput::new("slm".parse().unwrap(), events)),
        TestingOutput::ToChannel(tx),
        TestingOptions { skip_output_time_offsets: true },
    )
    .unwrap();
    let settings =
        NodeSettings { answer: AnswerSettings::default(), queue_capacity: 1, state: StateSettings::default() };
    let counts = slm::node::run(&mut engine, settings, None, node, events).unwrap();
    std::fs::remove_dir_all(&dir).ok();

    assert_eq!((counts.answered, counts.busy), (2, 4), "{counts:?}");
    let outputs = drain_outputs(&mut rx);
    let rows: Vec<serde_json::Value> =
        outputs.iter().flat_map(|o| o.get("data").and_then(|d| d.as_array()).cloned().unwrap_or_default()).collect();
    assert_eq!(rows.len(), 6, "{outputs:?}");
    let busy: Vec<&str> = rows.iter().filter(|r| r["error"] == "busy").filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(busy, ["q-2", "q-3", "q-4", "q-5"], "{rows:?}");
    for row in rows.iter().filter(|r| r["error"] != "busy") {
        assert!(row["text"].as_str().unwrap_or_default().contains("1450"), "{row}");
    }
}
