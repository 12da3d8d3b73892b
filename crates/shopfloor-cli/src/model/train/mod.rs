//! `shopfloor model train`: a LoRA adapter that teaches the nano model to
//! answer plant questions the way the fact engine does.
//!
//! 1. Training data by distillation ([`data`]): the product's prompts on
//!    generated development plants, each with the fact engine's sentence.
//! 2. LoRA fine-tuning on this CPU by `scripts/train/finetune_lora.py`
//!    (PyTorch and `peft` in `.venv-train`, installed by `scripts/train.sh`),
//!    run as a child process whose JSON progress lines drive a progress bar.
//!    Stopped at any point, the same command resumes from its checkpoint.
//! 3. The adapter as GGUF, the file a hardware profile's `[[lora]]` names.
//!
//! Everything is fixed by the arguments (data from seeded generators,
//! training seeded), and the settings, the data's and the base's SHA-256
//! are written into the adapter and `training.json`.

pub mod data;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use slm_engine::profile::HardwareProfile;
use slm_engine::Engine;

/// What to train and how.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub profile: PathBuf,
    /// Base model (default: the profile's first tier).
    pub model: Option<PathBuf>,
    /// Where data, checkpoint, adapter and record go.
    pub out: PathBuf,
    /// Variants of each development plant (other values, other questions).
    pub variants: u32,
    pub rank: u32,
    pub alpha: f32,
    /// LoRA targets: some of q,k,v,o,gate,up,down.
    pub targets: String,
    pub epochs: f32,
    pub learning_rate: f32,
    pub batch: u32,
    pub seed: u64,
    /// The training environment's Python.
    pub python: PathBuf,
    /// Write the data and its report, do not train.
    pub data_only: bool,
}

/// The training script, found beside the repository's other scripts.
fn script() -> anyhow::Result<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/train/finetune_lora.py");
    let fallback = PathBuf::from("scripts/train/finetune_lora.py");
    [here, fallback]
        .into_iter()
        .find(|p| p.is_file())
        .context("scripts/train/finetune_lora.py not found: run from the repository")
}

/// Runs the whole training; returns the adapter's path.
pub fn train(options: &TrainOptions) -> anyhow::Result<PathBuf> {
    let profile = HardwareProfile::load(&options.profile)?;
    let model = match &options.model {
        Some(model) => model.clone(),
        None => {
            let first = profile.models.first().context("the profile lists no models; name a model file")?;
            profile.model_path(first)
        }
    };
    std::fs::create_dir_all(&options.out).with_context(|| format!("creating {}", options.out.display()))?;

    // The base model only renders the chat template here: no adapter.
    let mut bare = profile.clone();
    bare.lora.clear();
    let engine = Engine::load(&model, &bare)?;
    let plants = plant_gen::training_plants(options.variants);
    let (examples, report) = data::examples(&engine, &plants);
    drop(engine);
    if examples.is_empty() {
        bail!("the teacher made no examples");
    }
    let data_path = options.out.join("train.jsonl");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&data_path).with_context(|| format!("creating {}", data_path.display()))?,
    );
    for example in &examples {
        serde_json::to_writer(&mut file, example)?;
        file.write_all(b"\n")?;
    }
    file.flush()?;
    let markdown = report.markdown(examples.len());
    std::fs::write(options.out.join("data-report.md"), &markdown)?;
    eprintln!("{markdown}");
    if options.data_only {
        return Ok(data_path);
    }

    let mut child = Command::new(&options.python)
        .arg(script()?)
        .arg("--base")
        .arg(&model)
        .arg("--data")
        .arg(&data_path)
        .arg("--out")
        .arg(&options.out)
        .args(["--rank", &options.rank.to_string()])
        .args(["--alpha", &options.alpha.to_string()])
        .args(["--targets", &options.targets])
        .args(["--epochs", &options.epochs.to_string()])
        .args(["--lr", &options.learning_rate.to_string()])
        .args(["--batch", &options.batch.to_string()])
        .args(["--seed", &options.seed.to_string()])
        .args(["--threads", &profile.engine.threads.to_string()])
        // The libraries' own progress bars would mix into ours.
        .env("TQDM_DISABLE", "1")
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!("starting {} (install the training environment with scripts/train.sh)", options.python.display())
        })?;
    let stdout = child.stdout.take().context("the training process has no stdout")?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos}/{len} steps, {elapsed} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("loading the base model");
    bar.enable_steady_tick(Duration::from_millis(500));
    let mut done = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let Ok(event) = serde_json::from_str::<Value>(&line) else {
            bar.println(line);
            continue;
        };
        match event["event"].as_str() {
            Some("start") => {
                bar.set_length(event["steps"].as_u64().unwrap_or(0));
                bar.println(format!(
                    "training {} of {} parameters on {} examples",
                    event["trainable"], event["total"], event["examples"]
                ));
                bar.set_message("training");
            }
            Some("resumed") => {
                let step = event["step"].as_u64().unwrap_or(0);
                bar.println(format!("resumed from the checkpoint at step {step}"));
                bar.set_position(step);
            }
            Some("step") => {
                bar.set_position(event["step"].as_u64().unwrap_or(0));
                bar.set_message(format!("loss {:.3}", event["loss"].as_f64().unwrap_or(f64::NAN)));
            }
            Some("done") => done = Some(event),
            _ => {}
        }
    }
    let status = child.wait()?;
    bar.finish_and_clear();
    if !status.success() {
        bail!("training failed ({status}); run the same command again to resume from the last checkpoint");
    }
    let done = done.context("the training process ended without a result")?;
    let adapter = done["adapter"]["path"].as_str().map(PathBuf::from).context("no adapter path in the result")?;
    eprintln!(
        "adapter {} ({} bytes, SHA-256 {}): {} trainable parameters, final loss {}, {} s, peak RSS {} MiB",
        adapter.display(),
        done["adapter"]["bytes"],
        done["adapter"]["sha256"].as_str().unwrap_or("?"),
        done["trainable_parameters"],
        done["final_loss"],
        done["train_seconds"],
        done["peak_rss_mib"],
    );
    Ok(adapter)
}
