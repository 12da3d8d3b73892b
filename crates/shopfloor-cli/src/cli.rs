//! The `shopfloor` command line: every operator tool as a subcommand.
//! Node binaries take no arguments; everything people run by hand is here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::deploy::DeployCommand;

/// Operator tools of Shopfloor SLM: models, routing, OPC UA, the plant
/// simulator, recordings and replay tests, deployment, test images.
#[derive(Debug, Parser)]
#[command(name = "shopfloor", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Models and hardware profiles: check, quantize, evaluate, tune.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Model tiers of the router (docs/routing.md).
    Router {
        #[command(subcommand)]
        command: RouterCommand,
    },
    /// The site's documents: what the index holds, what a question finds,
    /// how an evaluation set fares (docs/documents.md).
    Docs {
        #[command(subcommand)]
        command: DocsCommand,
    },
    /// OPC UA servers: list their tags.
    Opcua {
        #[command(subcommand)]
        command: OpcuaCommand,
    },
    /// Serve the simulated plant (plant-sim) over OPC UA without dora,
    /// with the same `SIM_*` settings as the node, until the time is up or
    /// Ctrl-C.
    Sim(SimArgs),
    /// Recordings (`.drec`): inspect, convert, capture and publish raw MQTT.
    Record {
        #[command(subcommand)]
        command: RecordCommand,
    },
    /// Run a replay test case: a recording through a dataflow, its
    /// expectations judged, a report written. Exit 0: passed; 1: an
    /// expectation failed; 2: the case could not run.
    Replay(ReplayArgs),
    /// Several machines: the RAM budget check and the supervisor.
    Deploy {
        #[command(subcommand)]
        command: DeployCommand,
    },
    /// Cameras (GigE Vision, RTSP, USB): find them, and save frames from one
    /// (good parts for the defect filter to learn from; docs/vision.md).
    Camera {
        #[command(subcommand)]
        command: CameraCommand,
    },
    /// Test images of machined plates or circuit boards with known defects.
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
    /// Print a shell completion script (e.g. `shopfloor completions bash >
    /// /etc/bash_completion.d/shopfloor`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Dry-run loading a hardware profile on this machine: the profile, its
    /// model files (header, SHA-256), the memory plan, the backend and the
    /// evaluation gate. Exit 1 when the node would refuse to start.
    Check {
        #[arg(value_name = "hw-profiles/NAME.toml")]
        profile: PathBuf,
    },
    /// Quantized variants of a model by llama.cpp's own quantizer, made from
    /// an F16 copy.
    Quantize {
        #[arg(value_name = "SOURCE.gguf")]
        source: PathBuf,
        #[arg(value_name = "OUT_DIR")]
        out_dir: PathBuf,
        /// Quantization types (default: the profile-relevant set, e.g. Q8_0 Q4_K_M Q4_0 TQ1_0).
        #[arg(value_name = "TYPE")]
        types: Vec<String>,
    },
    /// The plant Q&A set and a speed run on each model variant, one
    /// process per variant. Exit 1 when a variant falls below the floor.
    Evaluate(EvaluateArgs),
    /// One variant over the Q&A set, printed as one JSON line: the child
    /// process `evaluate` and `router calibrate` start for each model.
    #[command(hide = true)]
    EvaluateOne {
        profile: PathBuf,
        model: PathBuf,
        qa_set: PathBuf,
        #[arg(value_parser = clap::value_parser!(u64).range(1..))]
        sample_step: u64,
    },
    /// The assistant on generated plants unlike plant-sim (12 kinds, 5
    /// naming conventions, questions in 4 languages), against the naive
    /// peer (every value pasted into the same model's prompt); figures per
    /// class, language and naming convention.
    AnyPlant(AnyPlantArgs),
    /// The fastest engine knobs (threads, flash attention, KV-cache type,
    /// weight repacking) on this machine, against the measured
    /// memory-bandwidth ceiling; `--write` puts them into the profile.
    Tune(TuneArgs),
    /// Fine-tune the nano model for plant questions: training data from the
    /// development plants (the fact engine as teacher), LoRA on this CPU in
    /// the training environment (scripts/train.sh), the adapter as GGUF.
    /// Stopped, the same command resumes from its last checkpoint.
    Train(TrainArgs),
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[arg(value_name = "hw-profiles/NAME.toml")]
    pub profile: PathBuf,
    /// Model files (default: the profile's tier models).
    #[arg(value_name = "MODEL.gguf")]
    pub models: Vec<PathBuf>,
    /// The labelled Q&A set.
    #[arg(long = "qa", default_value = crate::model::evaluate::DEFAULT_QA_SET)]
    pub qa_set: PathBuf,
    /// The share of items a model must get right itself, 0..=1.
    #[arg(long, default_value_t = crate::model::evaluate::DEFAULT_FLOOR, value_parser = share)]
    pub floor: f64,
    /// Every n-th item only.
    #[arg(long = "sample", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub sample_step: u64,
    /// Write the verdicts into the profile (the node's evaluation gate reads them).
    #[arg(long)]
    pub record: bool,
}

#[derive(Debug, Args)]
pub struct AnyPlantArgs {
    #[arg(value_name = "hw-profiles/NAME.toml")]
    pub profile: PathBuf,
    /// Model file (default: the profile's first tier model).
    #[arg(value_name = "MODEL.gguf")]
    pub model: Option<PathBuf>,
    /// Which plants: `held-out-2` (the reported figures), or `development`,
    /// `development-2` to `development-6` (what rules are developed on;
    /// `development-6` was the held-out split until 2026-12-07; the nano
    /// model is trained on the first only).
    #[arg(
        long,
        default_value = "held-out-2",
        value_parser = [
            "held-out-2",
            "development",
            "development-2",
            "development-3",
            "development-4",
            "development-5",
            "development-6",
        ]
    )]
    pub split: String,
    /// Skip the naive peer (half the time).
    #[arg(long)]
    pub no_naive: bool,
    /// Every n-th question only.
    #[arg(long = "sample", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub sample_step: u64,
    /// Also list every question answered wrong.
    #[arg(long)]
    pub misses: bool,
    /// Evaluate the model with this LoRA adapter on (instead of the profile's).
    #[arg(long, value_name = "ADAPTER.gguf", conflicts_with = "no_lora")]
    pub lora: Option<PathBuf>,
    /// Evaluate the bare model: the profile's LoRA adapters left out.
    #[arg(long)]
    pub no_lora: bool,
    /// Report what escalating model-written answers below this confidence
    /// would do (repeat for several; default: the plant-assistant
    /// dataflow's `nano` threshold).
    #[arg(long = "threshold", value_parser = share, default_values_t = [0.44])]
    pub thresholds: Vec<f64>,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[arg(value_name = "hw-profiles/NAME.toml")]
    pub profile: PathBuf,
    /// Base model (default: the profile's first tier model).
    #[arg(long, value_name = "FILE.gguf")]
    pub model: Option<PathBuf>,
    /// Folder for the data, the checkpoint, the adapter and its record.
    #[arg(long, default_value = "target/train/smollm2-plant-qa")]
    pub out: PathBuf,
    /// Variants of each development plant in the data (other values, other questions).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub variants: u32,
    /// LoRA rank.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub rank: u32,
    /// LoRA alpha (the adapter's output is scaled by alpha / rank).
    #[arg(long, default_value_t = 16.0)]
    pub alpha: f32,
    /// Weights that get an adapter: some of q,k,v,o,gate,up,down.
    #[arg(long, default_value = "q,v")]
    pub targets: String,
    /// Passes over the data (fractions allowed).
    #[arg(long, default_value_t = 1.0)]
    pub epochs: f32,
    /// Peak learning rate (AdamW, warm-up then cosine decay).
    #[arg(long = "lr", default_value_t = 2e-3)]
    pub learning_rate: f32,
    /// Examples per step.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub batch: u32,
    /// Seed of the data order and the adapter's initial weights.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Python of the training environment.
    #[arg(long, default_value = ".venv-train/bin/python")]
    pub python: PathBuf,
    /// Write the training data and its report only.
    #[arg(long)]
    pub data_only: bool,
}

#[derive(Debug, Args)]
pub struct TuneArgs {
    #[arg(value_name = "hw-profiles/NAME.toml")]
    pub profile: PathBuf,
    /// Model to measure with (default: the profile's first tier).
    #[arg(long, value_name = "FILE.gguf")]
    pub model: Option<PathBuf>,
    /// Tokens generated per measurement.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(8..=1024))]
    pub tokens: u32,
    /// Passes over all combinations; each combination keeps its best pass,
    /// so a machine whose speed drifts favours none by its place in the order.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub rounds: u32,
    /// Write the fastest settings into the profile.
    #[arg(long)]
    pub write: bool,
}

#[derive(Debug, Subcommand)]
pub enum RouterCommand {
    /// Each model tier of a dataflow's router over the labelled plant Q&A
    /// set, then the set replayed through the router's own policy: accuracy,
    /// latency, escalation rate and recommended thresholds.
    Calibrate {
        #[arg(value_name = "DATAFLOW.yml")]
        dataflow: PathBuf,
        /// The router node's id in the dataflow.
        #[arg(long, default_value = "router")]
        router: String,
        /// The labelled Q&A set.
        #[arg(long = "qa", default_value = crate::model::evaluate::DEFAULT_QA_SET)]
        qa_set: PathBuf,
        /// Every n-th item only.
        #[arg(long = "sample", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        sample_step: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// Read a documents folder as plant-docs does: each document with its
    /// sections (heading, page, steps), what could not be read, the time
    /// taken and the index's size.
    Index {
        #[arg(value_name = "FOLDER")]
        folder: PathBuf,
        #[command(flatten)]
        meaning: ByMeaning,
    },
    /// The sections a question finds (score, coverage, citation) and the
    /// answer plant-docs would give.
    Search {
        #[arg(value_name = "FOLDER")]
        folder: PathBuf,
        question: String,
        /// Sections listed.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
        limit: u64,
        /// Least coverage a section needs to answer (plant-docs' DOCS_MIN_COVERAGE).
        #[arg(long, value_parser = coverage_share)]
        min_coverage: Option<f32>,
        #[command(flatten)]
        meaning: ByMeaning,
    },
    /// Ask every question of a JSON-lines set (`data/docs-eval/*.jsonl`):
    /// the right section cited, "no procedure" where none covers it,
    /// unsupported steps. Exit 1 when a goal is missed (≥ 90 % right
    /// sections, every uncovered question told so, no unsupported step).
    Evaluate {
        #[arg(value_name = "FOLDER")]
        folder: PathBuf,
        #[arg(value_name = "QUESTIONS.jsonl")]
        questions: PathBuf,
        #[arg(long, value_parser = coverage_share)]
        min_coverage: Option<f32>,
        #[command(flatten)]
        meaning: ByMeaning,
        /// Write each question's candidate sections with their scores
        /// (JSON lines), for studying the ranking on a development set.
        #[arg(long, value_name = "FILE")]
        candidates: Option<PathBuf>,
    },
}

/// Search by meaning as well as words, as plant-docs does with
/// DOCS_EMBEDDING_MODEL.
#[derive(Debug, clap::Args)]
pub struct ByMeaning {
    /// A sentence-embedding model's folder (plant-docs' DOCS_EMBEDDING_MODEL):
    /// search by meaning as well as words.
    #[arg(long, value_name = "DIR")]
    pub embedding_model: Option<PathBuf>,
    /// A file where the sections' vectors are kept between runs
    /// (plant-docs' DOCS_VECTOR_FILE): only sections not found there are
    /// encoded. Created if missing.
    #[arg(long, value_name = "FILE", requires = "embedding_model")]
    pub vector_file: Option<PathBuf>,
}

fn coverage_share(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!("{text:?} is not a share in 0..=1")),
    }
}

#[derive(Debug, Subcommand)]
pub enum OpcuaCommand {
    /// Print a server's variables as `OPCUA_TAGS` lines, connecting with the
    /// security settings of the environment (`OPCUA_SECURITY_POLICY`,
    /// `OPCUA_USER`, ... as the node reads them).
    Browse {
        #[arg(value_name = "opc.tcp://HOST:PORT/", value_parser = opc_tcp_url)]
        endpoint: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
        timeout_s: u64,
    },
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Stop after this many seconds (a bound, so a forgotten server ends).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub run_for_secs: u64,
}

#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Messages per node and output, with times and sizes.
    Info {
        #[arg(value_name = "FILE.drec")]
        file: PathBuf,
    },
    /// A recording as an Arrow IPC file, one row per message.
    Export {
        #[arg(value_name = "FILE.drec")]
        file: PathBuf,
        #[arg(long, value_name = "FILE.arrow")]
        out: PathBuf,
    },
    /// An Arrow IPC file (as `export` writes it) back into a recording.
    Import {
        #[arg(value_name = "FILE.arrow")]
        file: PathBuf,
        #[arg(long, value_name = "FILE.drec")]
        out: PathBuf,
    },
    /// Raw MQTT messages from a broker into a recording (logins and TLS from
    /// the nodes' `MQTT_*` variables).
    CaptureMqtt {
        #[arg(long, value_name = "mqtt://HOST:PORT")]
        broker: String,
        /// Topic filter (repeatable).
        #[arg(long = "topic", value_name = "FILTER", required = true)]
        topics: Vec<String>,
        #[arg(long, value_parser = positive_seconds)]
        duration_s: f64,
        /// Stop after this many messages.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        max_messages: Option<u64>,
        #[arg(long, value_name = "FILE.drec")]
        out: PathBuf,
    },
    /// A recording's captured MQTT messages back to a broker, waiting for
    /// its acknowledgements.
    PublishMqtt {
        #[arg(value_name = "FILE.drec")]
        file: PathBuf,
        #[arg(long, value_name = "mqtt://HOST:PORT")]
        broker: String,
        /// Timing factor: 1 keeps the recorded timing, 0 sends at once.
        #[arg(long, default_value_t = 1.0, value_parser = speed)]
        speed: f64,
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
        qos: u8,
    },
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[arg(value_name = "CASE.toml")]
    pub case: PathBuf,
    /// Where report.md, timeline.svg and the run's files go (default
    /// target/replay/<case>).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// A dataflow setting for this run (repeatable), e.g. another model.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = key_value)]
    pub envs: Vec<(String, String)>,
    /// Store this run's outputs as the case's golden output.
    #[arg(long)]
    pub update_golden: bool,
}

#[derive(Debug, Subcommand)]
pub enum CameraCommand {
    /// The cameras Aravis finds on every network interface (and USB3
    /// Vision): the id to put in `CAMERA_DEVICE`, vendor, model, address.
    /// USB (UVC) cameras are listed as their device files.
    List,
    /// Frames from one camera (GigE, RTSP or USB) saved as PNG files, with
    /// the settings the camera-source node would use.
    Grab(Box<GrabArgs>),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("camera").required(true).args(["device", "url", "usb"])))]
pub struct GrabArgs {
    /// A GigE Vision camera: id (`shopfloor camera list`), serial number or
    /// IP address.
    #[arg(long)]
    pub device: Option<String>,
    /// An IP camera's `rtsp://` address (no account in it: `--user` and
    /// `--password-file`).
    #[arg(long)]
    pub url: Option<String>,
    /// A USB camera's device file, as `/dev/video0`.
    #[arg(long, value_name = "DEVICE_FILE")]
    pub usb: Option<PathBuf>,
    /// The IP camera's account.
    #[arg(long, requires = "password_file")]
    pub user: Option<String>,
    /// A file whose first line is the IP camera's password.
    #[arg(long, requires = "user", value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Folder for the PNG files (`frame-000000.png`, ...); made if missing.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub count: u64,
    /// Frames per second of a free-running GigE camera (a stream keeps its own).
    #[arg(long, default_value_t = 5.0)]
    pub rate_hz: f64,
    /// `mono8` or `rgb8`.
    #[arg(long, default_value = "mono8")]
    pub pixel_format: String,
    /// `x,y,width,height` in pixels (default: the camera's setting; GigE only).
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long)]
    pub exposure_us: Option<f64>,
    #[arg(long)]
    pub gain_db: Option<f64>,
    /// Give up when no frame came for this long.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// A seeded set of part images and its `truth.json` (defect kinds and boxes).
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Good parts.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub good: u64,
    /// Defective parts, cycling through the defect kinds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub defective: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 640, value_parser = clap::value_parser!(u32).range(160..=8192))]
    pub width: u32,
    #[arg(long, default_value_t = 480, value_parser = clap::value_parser!(u32).range(120..=8192))]
    pub height: u32,
    #[arg(long, value_enum, default_value_t = ImageFormatArg::Png)]
    pub format: ImageFormatArg,
    /// What is on the line: `plate` (a machined plate) or `board` (a
    /// populated circuit board).
    #[arg(long, value_enum, default_value_t = ProductArg::Plate)]
    pub product: ProductArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProductArg {
    Plate,
    Board,
}

impl From<ProductArg> for part_images::Product {
    fn from(product: ProductArg) -> Self {
        match product {
            ProductArg::Plate => part_images::Product::Plate,
            ProductArg::Board => part_images::Product::Board,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImageFormatArg {
    /// Lossless; byte-identical for the same seed.
    Png,
    /// Quality 90, as a camera would send.
    #[value(alias = "jpg")]
    Jpeg,
}

/// A command-line value clap's own parsers do not check; clap shows the
/// message after the argument's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadValue {
    #[error("must be between 0 and 1")]
    Share,
    #[error("must be a factor >= 0")]
    Speed,
    #[error("must be seconds > 0")]
    Seconds,
    #[error("must be KEY=VALUE")]
    KeyValue,
    #[error("must start with opc.tcp://")]
    OpcTcpUrl,
}

fn share(text: &str) -> Result<f64, BadValue> {
    text.parse::<f64>().ok().filter(|f| (0.0..=1.0).contains(f)).ok_or(BadValue::Share)
}

fn speed(text: &str) -> Result<f64, BadValue> {
    text.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).ok_or(BadValue::Speed)
}

fn positive_seconds(text: &str) -> Result<f64, BadValue> {
    text.parse::<f64>().ok().filter(|s| *s > 0.0 && *s < 1e7).ok_or(BadValue::Seconds)
}

/// `KEY=VALUE` (the value may be empty or hold `=`).
pub fn key_value(text: &str) -> Result<(String, String), BadValue> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(BadValue::KeyValue),
    }
}

fn opc_tcp_url(text: &str) -> Result<String, BadValue> {
    if text.starts_with("opc.tcp://") {
        Ok(text.to_owned())
    } else {
        Err(BadValue::OpcTcpUrl)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_operator_tool_is_listed_in_the_help() {
        let help = Cli::command().render_long_help().to_string();
        for tool in ["model", "router", "opcua", "sim", "record", "replay", "deploy", "images", "completions"] {
            assert!(help.contains(tool), "{tool} missing from:\n{help}");
        }
        assert!(!help.contains("evaluate-one"), "the child-process command stays hidden");
    }

    #[test]
    fn mistakes_name_the_argument() {
        let err = Cli::try_parse_from(["shopfloor", "model", "evaluate", "p.toml", "--floor", "2"]).unwrap_err();
        assert!(err.to_string().contains("--floor"), "{err}");
        let err = Cli::try_parse_from(["shopfloor", "opcua", "browse", "http://x"]).unwrap_err();
        assert!(err.to_string().contains("opc.tcp://"), "{err}");
        let err = Cli::try_parse_from(["shopfloor", "replay", "c.toml", "--env", "NOVALUE"]).unwrap_err();
        assert!(err.to_string().contains("KEY=VALUE"), "{err}");
        assert!(Cli::try_parse_from([
            "shopfloor",
            "record",
            "capture-mqtt",
            "--broker",
            "mqtt://h:1",
            "--duration-s",
            "1",
            "--out",
            "x"
        ])
        .is_err());
    }

    #[test]
    fn arguments_reach_their_fields() {
        let cli = Cli::try_parse_from([
            "shopfloor",
            "model",
            "evaluate",
            "p.toml",
            "a.gguf",
            "b.gguf",
            "--sample",
            "3",
            "--record",
        ])
        .unwrap();
        let Command::Model { command: ModelCommand::Evaluate(args) } = cli.command else { panic!("expected evaluate") };
        assert_eq!((args.models.len(), args.sample_step, args.record), (2, 3, true));
        let cli =
            Cli::try_parse_from(["shopfloor", "images", "generate", "--out", "x", "--format", "jpg", "--good", "3"])
                .unwrap();
        let Command::Images { command: ImagesCommand::Generate(args) } = cli.command else {
            panic!("expected generate")
        };
        assert_eq!((args.format, args.good), (ImageFormatArg::Jpeg, 3));
    }
}
