//! Dynamic quantization with two real variants: the `slm` node answers
//! questions while a power-state tag goes mains -> battery -> mains; the
//! policy swaps SmolLM2 Q4_1 for a Q8_0 made by `shopfloor model quantize`
//! and back. Every question is answered exactly once and without error, each
//! by a whole model, and the answering model follows the power state. The
//! node runs in dora's testing mode (no daemon), its inputs the project's own
//! Arrow messages.
//!
//! Testing mode replays inputs at fixed times, so the test cannot wait for
//! the node: instead each power state is a phase with a few questions spread
//! over it, many times what they take. The node keeps only the newest power
//! reading, so two changes reaching it between two answers skip a state (as
//! they should on a real gateway): beside two busy loops the node once
//! answered its first question only after 12.9 s, and a new variant answered
//! only from 4-8 s into its phase (about 1 s idle), so the first phase, which holds the model's
//! start, is [`FIRST_PHASE_SECS`], the others [`PHASE_SECS`], and each
//! phase's last question comes 10 s into it.

use shopfloor_core::schema::{Origin, Question, Reading, ReadingValue};
use shopfloor_dataflow_tests::node::{arrow_input, output_rows, TestNode};
use shopfloor_dataflow_tests::{repo_root, scratch_dir, shopfloor};

/// Questions asked in each power phase.
const QUESTIONS_PER_PHASE: usize = 3;
/// When they are asked, seconds into the phase. The new variant loads while
/// the running one answers (about 1 s idle), so the first question of a
/// phase may still get the old one; the last comes well after the load.
const QUESTION_AT: [f64; QUESTIONS_PER_PHASE] = [0.5, 5.0, 10.0];
/// How long the first phase (the started Q4_1, and the model's start) lasts.
const FIRST_PHASE_SECS: f64 = 20.0;
/// How long each later power state lasts.
const PHASE_SECS: f64 = 14.0;
/// No power reading yet (the started Q4_1), mains, battery, mains again.
const PHASES: usize = 4;

/// When phase `phase` starts, seconds after the node's start.
fn phase_start(phase: usize) -> f64 {
    match phase {
        0 => 0.0,
        later => FIRST_PHASE_SECS + (later - 1) as f64 * PHASE_SECS,
    }
}

fn reading(tag: &str, value: ReadingValue, unit: Option<&str>) -> Reading {
    let now = shopfloor_node::clock::now_ms();
    Reading::good("test", tag.into(), value, unit.map(str::to_owned), Some(now), now)
}

fn power(state: &str) -> dora_node_api::arrow_v59::array::ArrayRef {
    Reading::to_arrow(&[reading("gateway_power", ReadingValue::Text(state.into()), None)])
}

#[test]
fn model_power_state_swaps_variants_between_questions_and_loses_none() -> anyhow::Result<()> {
    let dir = scratch_dir("slm-power-swap");
    let q4_1 = repo_root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let quantize = shopfloor()?
        .args(["model", "quantize", &q4_1.display().to_string(), &dir.join("variants").display().to_string(), "Q8_0"])
        .output()?;
    assert!(quantize.status.success(), "{}", String::from_utf8_lossy(&quantize.stderr));
    let q8_0 = dir.join("variants/SmolLM2-135M-Instruct.Q8_0.gguf");

    let profile = dir.join("profile.toml");
    let shipped = std::fs::read_to_string(repo_root().join("hw-profiles/generic-x86-2core.toml"))?;
    std::fs::write(
        &profile,
        format!(
            "{}\n[power]\nsource = \"tag\"\ntag = \"gateway_power\"\n[power.variants]\nmains = \"{}\"\nbattery = \"{}\"\n",
            shipped.replace("../models/", &format!("{}/", repo_root().join("models").display())).replace("\"lora/", &format!("\"{}/", repo_root().join("hw-profiles/lora").display())),
            q8_0.display(),
            q4_1.display()
        ),
    )?;

    let plant = Reading::to_arrow(&[
        reading("spindle_temperature", ReadingValue::Number(72.4), Some("°C")),
        reading("spindle_speed", ReadingValue::Number(1450.0), Some("rpm")),
        reading("part_count", ReadingValue::Number(118.0), None),
    ]);
    // Phase 0 answers with the started Q4_1; mains (-> Q8_0), battery
    // (-> Q4_1) and mains again (-> Q8_0, in another spelling) each start a phase.
    let mut events = arrow_input(
        &dir,
        "readings",
        &[
            (0.2, plant),
            (phase_start(1), power("mains")),
            (phase_start(2), power("battery")),
            (phase_start(3), power("Mains")),
        ],
    )?;
    let now = shopfloor_node::clock::now_ms();
    let questions: Vec<_> = (0..PHASES * QUESTIONS_PER_PHASE)
        .map(|n| {
            let (phase, nth) = (n / QUESTIONS_PER_PHASE, n % QUESTIONS_PER_PHASE);
            let question =
                Question::new(format!("q-{n:02}"), "What is the spindle temperature?", "test", Origin::Mqtt, now);
            (phase_start(phase) + QUESTION_AT[nth], Question::to_arrow(&[question]))
        })
        .collect();
    events.extend(arrow_input(&dir, "questions", &questions)?);
    let envs = [
        ("SLM_MODEL_PATH", q4_1.display().to_string()),
        ("SLM_PROFILE", profile.display().to_string()),
        // The Q8_0 made here has no evaluation record; the gate is tested elsewhere.
        ("SLM_ALLOW_UNEVALUATED", "true".to_owned()),
        ("SLM_QUEUE_CAPACITY", "100".to_owned()),
    ];
    let mut node = TestNode::start_with_events("slm", &envs, events, phase_start(PHASES), &dir)?;
    let outputs = node.outputs();
    let (log, clean) = node.wait()?;
    assert!(clean, "the node did not exit cleanly:\n{log}");

    let answers: Vec<serde_json::Value> =
        output_rows(&outputs).into_iter().filter(|(id, _)| id == "answers").map(|(_, row)| row).collect();
    let mut ids: Vec<&str> = answers.iter().filter_map(|a| a["id"].as_str()).collect();
    ids.sort_unstable();
    let expected: Vec<String> = (0..PHASES * QUESTIONS_PER_PHASE).map(|n| format!("q-{n:02}")).collect();
    assert_eq!(ids, expected.iter().map(String::as_str).collect::<Vec<_>>(), "every question answered exactly once");
    for answer in &answers {
        assert!(answer["error"].is_null(), "{answer}");
        assert!(answer["text"].as_str().is_some_and(|t| t.contains("72.4")), "{answer}");
    }
    // Which model wrote each answer, in answer order (fallback sentences name none).
    let models: Vec<&str> = answers.iter().filter_map(|a| a["model"].as_str()).collect();
    eprintln!("{models:?}");
    let mut runs: Vec<&str> = models.clone();
    runs.dedup();
    assert_eq!(
        runs,
        [
            "SmolLM2-135M-Instruct.Q4_1",
            "SmolLM2-135M-Instruct.Q8_0",
            "SmolLM2-135M-Instruct.Q4_1",
            "SmolLM2-135M-Instruct.Q8_0"
        ],
        "the answering model follows the power state: {models:?}"
    );
    assert_eq!(log.matches("model variant swapped").count(), 3, "{log}");
    Ok(())
}

/// LoRA commands on the node's `lora` input switch the profile's adapter
/// on and off between questions; a command naming no profile adapter, or
/// trying to load a file, is refused and counted; every question is answered.
#[test]
fn model_lora_commands_switch_adapters_between_questions() -> anyhow::Result<()> {
    let dir = scratch_dir("slm-lora-commands");
    let model = repo_root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let adapter = dir.join("random-lora.gguf");
    let made = std::process::Command::new(repo_root().join(".venv/bin/python"))
        .arg(repo_root().join("tests/python/make_lora_adapter.py"))
        .arg(&model)
        .arg(&adapter)
        .output()?;
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let profile = dir.join("profile.toml");
    let shipped = std::fs::read_to_string(repo_root().join("hw-profiles/generic-x86-2core.toml"))?;
    std::fs::write(
        &profile,
        format!(
            "{shipped}\n[[lora]]\nname = \"random\"\npath = \"{}\"\nscale = 0.8\nat_start = false\n",
            adapter.display()
        ),
    )?;

    let plant = Reading::to_arrow(&[reading("spindle_temperature", ReadingValue::Number(72.4), Some("°C"))]);
    let mut events = arrow_input(&dir, "readings", &[(0.2, plant)])?;
    let now = shopfloor_node::clock::now_ms();
    let questions: Vec<_> = (0..12)
        .map(|n| {
            (
                0.5 + n as f64 * 0.3,
                Question::to_arrow(&[Question::new(
                    format!("l-{n:02}"),
                    "What is the spindle temperature?",
                    "test",
                    Origin::Mqtt,
                    now,
                )]),
            )
        })
        .collect();
    events.extend(arrow_input(&dir, "questions", &questions)?);
    for (at, command) in
        [(1.4, "random"), (2.2, "load /etc/passwd"), (2.6, "nonexistent=1"), (3.0, "random=0.3"), (3.6, "off")]
    {
        events.push(serde_json::json!({"time_offset_secs": at, "type": "Input", "id": "lora", "data": [command]}));
    }
    let envs = [
        ("SLM_MODEL_PATH", model.display().to_string()),
        ("SLM_PROFILE", profile.display().to_string()),
        ("SLM_QUEUE_CAPACITY", "100".to_owned()),
    ];
    let mut node = TestNode::start_with_events("slm", &envs, events, 7.0, &dir)?;
    let outputs = node.outputs();
    let (log, clean) = node.wait()?;
    assert!(clean, "{log}");
    let answered =
        output_rows(&outputs).into_iter().filter(|(id, row)| id == "answers" && row["error"].is_null()).count();
    assert_eq!(answered, 12, "{log}");
    let switched: Vec<&str> = log.lines().filter(|l| l.contains("LoRA switched")).collect();
    assert_eq!(switched.len(), 3, "{switched:#?}");
    assert!(
        switched[0].contains("Some((\"random\", 0.8))") && switched[1].contains("0.3") && switched[2].contains("None"),
        "{switched:#?}"
    );
    assert!(log.contains("expected `off`, `NAME` or `NAME=SCALE`") && log.contains("no adapter of that name"), "{log}");
    Ok(())
}
