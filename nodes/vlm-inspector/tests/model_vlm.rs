//! The real mtmd path with a tiny random-weight vision-language model
//! (written at test time by tests/python/make_tiny_vlm.py): a flagged image
//! gets a well-formed verdict, and every bad model/projector pair is refused
//! with a message instead of ending the process. Its words are random, so
//! only structure is asserted. Runs in the serial test group.

use std::path::{Path, PathBuf};
use std::process::Command;

use shopfloor_core::schema::{Alert, Inspection, Region};
use shopfloor_node::testing::TestRun;
use slm_engine::profile::HardwareProfile;
use slm_engine::{EngineError, VisionImage};
use vlm_inspector::config::VlmInspectorConfig;
use vlm_inspector::judge::{Judge, Judgement, VlmJudge};
use vlm_inspector::verdict::{DEFECT_TYPES, LOCATIONS};

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

/// The tiny model files, written once per test run (same seed, same bytes).
fn tiny_vlm() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tiny-vlm");
    if dir.join("tiny-vlm-mmproj-idefics3.gguf").exists() {
        return dir;
    }
    // Written beside, then renamed: a test running at the same time never
    // sees half a file.
    let partial = dir.with_extension(format!("partial-{}", std::process::id()));
    let status = Command::new(repo_path(".venv/bin/python"))
        .arg(repo_path("tests/python/make_tiny_vlm.py"))
        .arg(repo_path("models/SmolLM2-135M-Instruct.Q4_1.gguf"))
        .arg(&partial)
        .status()
        .expect("python from .venv (scripts/test.sh installs it with gguf)");
    assert!(status.success(), "make_tiny_vlm.py failed");
    if std::fs::rename(&partial, &dir).is_err() {
        // Another test got there first.
        let _ = std::fs::remove_dir_all(&partial);
    }
    dir
}

fn profile() -> HardwareProfile {
    HardwareProfile::load(&repo_path("hw-profiles/generic-x86-2core.toml")).expect("shipped profile")
}

fn load(projector: &str) -> Result<VlmJudge, EngineError> {
    let dir = tiny_vlm();
    VlmJudge::load(&dir.join("tiny-vlm.gguf"), &dir.join(projector), &profile(), 160)
}

/// A 64x48 image with a dark stripe, as a crop of a flagged frame would be.
fn image() -> Vec<u8> {
    (0..48u32)
        .flat_map(|y| {
            (0..64u32).flat_map(move |x| if (20..24).contains(&y) { [30, 30, 30] } else { [180, (x * 2) as u8, 120] })
        })
        .collect()
}

#[test]
fn model_tiny_vlm_answers_a_well_formed_verdict() {
    let mut judge = load("tiny-vlm-mmproj.gguf").expect("the matching pair loads");
    let rgb = image();
    let frame = VisionImage { width: 64, height: 48, rgb: &rgb };
    let first = judge.judge(frame, "The filter found the strongest anomaly at the center. Is the part defective?");
    let Judgement::Judged { verdict, confidence, model, .. } = &first else {
        panic!("no verdict: {first:?}");
    };
    assert!(DEFECT_TYPES.contains(&verdict.kind.as_str()), "{verdict:?}");
    assert!(LOCATIONS.contains(&verdict.location.as_str()), "{verdict:?}");
    assert!(verdict.description.chars().count() <= 80, "{verdict:?}");
    assert!(*confidence > 0.0 && *confidence <= 1.0, "{confidence}");
    assert_eq!(model, "tiny-vlm");
    // Greedy decoding: the same image and words give the same verdict.
    let second = judge.judge(frame, "The filter found the strongest anomaly at the center. Is the part defective?");
    let Judgement::Judged { verdict: again, .. } = &second else {
        panic!("no verdict the second time: {second:?}");
    };
    assert_eq!(again, verdict);
}

#[test]
fn model_tiny_vlm_refuses_an_image_of_the_wrong_size() {
    let mut judge = load("tiny-vlm-mmproj.gguf").expect("the matching pair loads");
    let judgement = judge.judge(VisionImage { width: 64, height: 48, rgb: &[0; 10] }, "?");
    let Judgement::NotJudged(why) = judgement else {
        panic!("a short buffer was judged");
    };
    assert!(why.to_string().contains("9216"), "{why}");
}

#[test]
fn model_projector_of_another_width_is_refused() {
    let Err(error) = load("tiny-vlm-mmproj-wrong-width.gguf") else {
        panic!("a projector to width 96 loaded with a width-64 model");
    };
    let message = error.to_string();
    assert!(message.contains("embedding width (64)"), "{message}");
}

#[test]
fn model_projector_needing_tokens_the_model_lacks_is_refused_before_mtmd() {
    let Err(error) = load("tiny-vlm-mmproj-idefics3.gguf") else {
        panic!("an idefics3 projector loaded with a model without its image tokens");
    };
    let message = error.to_string();
    assert!(matches!(error, EngineError::ProjectorPair(_)), "{message}");
    assert!(message.contains("idefics3") && message.contains("<global-img>"), "{message}");
}

#[test]
fn model_language_model_given_as_projector_is_refused() {
    let dir = tiny_vlm();
    let Err(error) = VlmJudge::load(&dir.join("tiny-vlm.gguf"), &dir.join("tiny-vlm.gguf"), &profile(), 160) else {
        panic!("a language model was taken for a projector");
    };
    let message = error.to_string();
    assert!(message.contains("\"llama\"") && message.contains("not \"clip\""), "{message}");
}

/// The node's driver under dora's testing mode with the real model: one
/// flagged frame, one judged alert with its stored crop, sent before the
/// node ends although dora's stop comes while the model is still at work.
#[test]
fn model_tiny_vlm_judges_a_flagged_frame_under_dora() {
    let judge = load("tiny-vlm-mmproj.gguf").expect("the matching pair loads");
    let crops = tempfile::tempdir().expect("a temporary folder");
    let config = VlmInspectorConfig {
        profile_path: repo_path("hw-profiles/generic-x86-2core.toml"),
        model_path: None,
        mmproj_path: None,
        max_tokens: 160,
        queue_capacity: 2,
        crops_dir: crops.path().to_owned(),
        crops_keep: 10_000,
        crop_margin: 8,
        send_crop: true,
        threads: None,
        docs_dir: None,
        docs_rescan: std::time::Duration::from_secs(5),
    };
    let flagged = Inspection {
        frame_id: "cam1-000042".into(),
        ts_ms: 1_764_000_000_000,
        station: "station3".into(),
        line: "line1".into(),
        width: 64,
        height: 48,
        score: 9.0,
        threshold: 4.0,
        regions: vec![Region { x: 0, y: 16, width: 64, height: 12, score: 9.0 }],
        rgb: image(),
    };
    let (summary, outputs) = TestRun::new("vlm-inspector")
        .input(0.0, "inspections", Inspection::to_arrow(&[flagged]))
        .stop(0.05)
        .run(|node, events| vlm_inspector::driver::run(&config, Some(Box::new(judge)), node, events))
        .expect("the test run starts");
    assert_eq!(summary.expect("the node ends cleanly").alerts, 1);
    let alerts: Vec<Alert> =
        outputs.on("alerts").flat_map(|sent| Alert::from_arrow(sent.data.as_ref()).expect("alerts")).collect();
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(alert.model.as_deref(), Some("tiny-vlm"), "{alert:?}");
    assert!(matches!(alert.verdict.as_deref(), Some("defect" | "no_defect")), "{alert:?}");
    let crop = PathBuf::from(alert.image_ref.as_deref().expect("a stored crop"));
    assert!(crop.starts_with(crops.path()) && crop.exists(), "{crop:?}");
}
