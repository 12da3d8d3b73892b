//! What each subcommand does: read its arguments, call the libraries,
//! print for people, and say how it ended as an exit status.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::{
    AnyPlantArgs, Cli, Command, EvaluateArgs, GenerateArgs, ImageFormatArg, ImagesCommand, ModelCommand, OpcuaCommand,
    RecordCommand, ReplayArgs, RouterCommand, SimArgs, TrainArgs, TuneArgs,
};
use crate::model::{evaluate, tune};
use crate::router_calibrate::{self, CalibrateOptions};

/// Exit status of a check that found a problem (a model below the floor,
/// a profile that would not load).
const FOUND_A_PROBLEM: u8 = 1;
/// Exit status of a replay case that could not run at all.
const COULD_NOT_RUN: u8 = 2;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Model { command } => model(command),
        Command::Router { command: RouterCommand::Calibrate { dataflow, router, qa_set, sample_step } } => {
            let options = CalibrateOptions { dataflow, router, qa_set, sample_step: to_usize(sample_step) };
            let report = router_calibrate::calibrate(&options, &self_exe()?)?;
            print!("{}", report.markdown());
            Ok(ExitCode::SUCCESS)
        }
        Command::Docs { command } => crate::docs::run(command),
        Command::Opcua { command: OpcuaCommand::Browse { endpoint, timeout_s } } => browse(&endpoint, timeout_s),
        Command::Sim(args) => sim(&args),
        Command::Record { command } => record(command),
        Command::Replay(args) => replay(args),
        Command::Deploy { command } => crate::deploy::run(&command),
        Command::Camera { command } => crate::camera::run(command),
        Command::Images { command: ImagesCommand::Generate(args) } => images(&args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "shopfloor", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn model(command: ModelCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelCommand::Check { profile } => {
            let report = slm_engine::profile_check::check(&profile);
            report.lines.iter().for_each(|line| println!("{line}"));
            Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::from(FOUND_A_PROBLEM) })
        }
        ModelCommand::Quantize { source, out_dir, types } => quantize(&source, &out_dir, &types),
        ModelCommand::Evaluate(args) => evaluate_models(args),
        ModelCommand::EvaluateOne { profile, model, qa_set, sample_step } => {
            println!("{}", evaluate::evaluate_one(&profile, &model, &qa_set, to_usize(sample_step))?);
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::Tune(args) => tune_profile(args),
        ModelCommand::AnyPlant(args) => any_plant(args),
        ModelCommand::Train(args) => train(args),
    }
}

fn train(args: TrainArgs) -> anyhow::Result<ExitCode> {
    use crate::model::train::TrainOptions;
    let options = TrainOptions {
        profile: args.profile,
        model: args.model,
        out: args.out,
        variants: args.variants,
        rank: args.rank,
        alpha: args.alpha,
        targets: args.targets,
        epochs: args.epochs,
        learning_rate: args.learning_rate,
        batch: args.batch,
        seed: args.seed,
        python: args.python,
        data_only: args.data_only,
    };
    let written = crate::model::train::train(&options)?;
    println!("{}", written.display());
    Ok(ExitCode::SUCCESS)
}

fn any_plant(args: AnyPlantArgs) -> anyhow::Result<ExitCode> {
    use crate::model::any_plant::{run, AnyPlantOptions};
    let mut profile = slm_engine::profile::HardwareProfile::load(&args.profile)?;
    if args.no_lora || args.lora.is_some() {
        profile.lora.clear();
    }
    if let Some(path) = args.lora {
        let path = std::path::absolute(&path)?;
        profile.lora.push(slm_engine::profile::LoraAdapter {
            name: "evaluated".to_owned(),
            path,
            scale: 1.0,
            at_start: true,
            model: None,
            sha256: None,
        });
    }
    let model = match args.model {
        Some(model) => model,
        None => {
            let first = profile.models.first().context("the profile lists no models; name a model file")?;
            profile.model_path(first)
        }
    };
    let split = plant_gen::Split::named(&args.split).with_context(|| format!("no split named {}", args.split))?;
    let options = AnyPlantOptions {
        split,
        naive: !args.no_naive,
        sample_step: to_usize(args.sample_step),
        thresholds: args.thresholds.iter().map(|&t| t as f32).collect(),
    };
    let report = run(&model, &profile, &options)?;
    println!("{}", report.markdown());
    if args.misses {
        for (id, question, answer) in &report.misses {
            println!("- {id}: {question:?} -> {answer:?}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn quantize(source: &Path, out_dir: &Path, types: &[String]) -> anyhow::Result<ExitCode> {
    use slm_engine::quantize::{make_variants, QuantType, DEFAULT_VARIANTS};
    let types = if types.is_empty() {
        DEFAULT_VARIANTS.to_vec()
    } else {
        types
            .iter()
            .map(|t| QuantType::parse(t).with_context(|| format!("unknown quantization {t:?}")))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    slm_engine::backend().context("cannot initialise llama.cpp")?;
    let threads = std::thread::available_parallelism().map_or(2, |n| i32::try_from(n.get()).unwrap_or(2));
    let outcome = make_variants(source, out_dir, &types, threads)?;
    if let Some(what) = &outcome.source_quantized {
        println!(
            "warning: the source is already quantized ({what}); every variant comes from its F16 dequantization, so accuracy is relative to this source"
        );
    }
    for variant in std::iter::once(&outcome.f16).chain(&outcome.variants) {
        println!("{:<7} {:>5} MiB  {}", variant.quant.name(), variant.bytes / (1024 * 1024), variant.path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn evaluate_models(args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    let options = evaluate::EvaluateOptions {
        profile: args.profile,
        models: args.models,
        qa_set: args.qa_set,
        floor: args.floor,
        sample_step: to_usize(args.sample_step),
        record: args.record,
    };
    let report = evaluate::evaluate(&options, &self_exe()?)?;
    println!("{}", report.table());
    if options.record {
        let profile = slm_engine::profile::HardwareProfile::load(&options.profile)?;
        let records = report.records(&today(), &profile);
        evaluate::record::write_records(&options.profile, &records)?;
        println!("recorded {} evaluation(s) in {}", records.len(), options.profile.display());
    }
    let all_passed = report.rows.iter().all(|row| report.passes(row));
    Ok(if all_passed { ExitCode::SUCCESS } else { ExitCode::from(FOUND_A_PROBLEM) })
}

fn tune_profile(args: TuneArgs) -> anyhow::Result<ExitCode> {
    let options = tune::TuneOptions {
        profile: args.profile,
        model: args.model,
        tokens: args.tokens,
        rounds: args.rounds,
        write: args.write,
    };
    let report = tune::tune(&options)?;
    println!("{}", report.text());
    if let (true, Some(best), Some(untuned)) = (options.write, report.best(), report.untuned()) {
        let note = format!(
            "{}: {:.1} tokens/s generation, {:.0}% of the {:.0} tokens/s bandwidth ceiling (untuned {:.1})",
            today(),
            best.generation_tps,
            100.0 * best.generation_tps / report.ceiling(),
            report.ceiling(),
            untuned.generation_tps
        );
        tune::write_knobs(&options.profile, &best.knobs, &note)?;
        println!("wrote {} into {}", best.knobs, options.profile.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn browse(endpoint: &str, timeout_s: u64) -> anyhow::Result<ExitCode> {
    use opcua_source::client::ClientOptions;
    use opcua_source::config::OpcuaClientSecurity;
    let security = OpcuaClientSecurity::from_env(&shopfloor_core::env::process_env())?;
    let runtime = tokio_runtime()?;
    let timeout = Duration::from_secs(timeout_s);
    let walk = runtime
        .block_on(async {
            tokio::time::timeout(timeout, opcua_source::browse::browse(endpoint, &security, ClientOptions::default()))
                .await
        })
        .map_err(|_| anyhow::anyhow!("browsing {endpoint} took longer than {timeout_s} s"))??;
    print!("{}", opcua_source::browse::tag_lines(endpoint, &walk));
    Ok(ExitCode::SUCCESS)
}

fn sim(args: &SimArgs) -> anyhow::Result<ExitCode> {
    let config = plant_sim::config::PlantSimConfig::from_env(&shopfloor_core::env::process_env())?;
    let run_for = Duration::from_secs(args.run_for_secs);
    let runtime = tokio_runtime()?;
    runtime.block_on(plant_sim::server::run(config, async move {
        tokio::select! {
            () = tokio::time::sleep(run_for) => tracing::info!(run_for_s = run_for.as_secs(), "run time over"),
            result = tokio::signal::ctrl_c() => match result {
                Ok(()) => tracing::info!("Ctrl-C received"),
                // Without a signal handler only the time limit can stop us, which is still bounded.
                Err(err) => {
                    tracing::warn!(%err, "cannot listen for Ctrl-C; running until the time limit");
                    tokio::time::sleep(run_for).await;
                }
            },
        }
    }))?;
    Ok(ExitCode::SUCCESS)
}

fn record(command: RecordCommand) -> anyhow::Result<ExitCode> {
    use recording::{arrow_file, mqtt, summary, DrecWriter};
    match command {
        RecordCommand::Info { file } => {
            let messages = recording::read_file(&file)?;
            print!("{}", summary::render(&messages));
        }
        RecordCommand::Export { file, out } => {
            let messages = recording::read_file(&file)?;
            arrow_file::export(&out, &messages)?;
            println!("exported {} messages to {}", messages.len(), out.display());
        }
        RecordCommand::Import { file, out } => {
            let messages = arrow_file::import(&file)?;
            recording::write_file(&out, "", &messages)?;
            println!("imported {} messages into {}", messages.len(), out.display());
        }
        RecordCommand::CaptureMqtt { broker, topics, duration_s, max_messages, out } => {
            let config = mqtt_config(&broker, 1, "shopfloor-capture")?;
            let mut writer = DrecWriter::create(&out, "")?;
            let captured =
                mqtt::capture(&config, &topics, Duration::from_secs_f64(duration_s), max_messages, &mut writer)?;
            writer.finish()?;
            println!("captured {captured} messages into {}", out.display());
        }
        RecordCommand::PublishMqtt { file, broker, speed, qos } => {
            let config = mqtt_config(&broker, qos, "shopfloor-publish")?;
            let messages = recording::read_file(&file)?;
            let sent = mqtt::publish_recorded(&config, &messages, speed, Duration::from_secs(30))
                .with_context(|| format!("publishing {}", file.display()))?;
            println!("published {sent} messages to {broker}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// MQTT settings as the nodes read them (logins, TLS from `MQTT_*`), with
/// the broker and QoS of the command line.
fn mqtt_config(broker: &str, qos: u8, client_id: &str) -> anyhow::Result<shopfloor_mqtt::config::MqttConfig> {
    let process = shopfloor_core::env::process_env();
    let mut vars: shopfloor_core::env::EnvVars = process.iter().filter(|(key, _)| key.starts_with("MQTT_")).collect();
    vars.insert("MQTT_BROKER_URL", broker);
    vars.insert("MQTT_QOS", qos.to_string());
    if vars.get("MQTT_CLIENT_ID").is_none() {
        vars.insert("MQTT_CLIENT_ID", format!("{client_id}-{}", std::process::id()));
    }
    Ok(shopfloor_mqtt::config::MqttConfig::from_env("shopfloor record", &vars)?)
}

fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    use replay_harness::run::{run_case, RunSettings};
    let case = match replay_harness::case::TestCase::load(&args.case) {
        Ok(case) => case,
        Err(error) => {
            eprintln!("shopfloor replay: {error:#}");
            return Ok(ExitCode::from(COULD_NOT_RUN));
        }
    };
    // The node binaries beside this one (target/release), the dora CLI from the project's venv.
    let binaries = self_exe()?.parent().map(PathBuf::from).context("no folder of the binary")?;
    let repo = binaries.ancestors().nth(2).map(PathBuf::from).unwrap_or_default();
    let dora = std::env::var_os("SHOPFLOOR_DORA_BIN").map(PathBuf::from).unwrap_or_else(|| repo.join(".venv/bin/dora"));
    let out_dir = args.report.unwrap_or_else(|| repo.join("target/replay").join(&case.name));
    let settings = RunSettings { dora, binaries, out_dir: out_dir.clone(), extra_env: args.envs };
    let outcome = match run_case(&case, &settings) {
        Ok(outcome) => outcome,
        Err(error) => {
            eprintln!("shopfloor replay: {error:#}");
            return Ok(ExitCode::from(COULD_NOT_RUN));
        }
    };
    replay_harness::report::write(&out_dir, &case, &outcome)
        .with_context(|| format!("cannot write the report to {}", out_dir.display()))?;
    if args.update_golden {
        let golden = case.golden.as_ref().context("the case has no `golden` file to update")?;
        std::fs::write(golden, &outcome.golden_lines).with_context(|| format!("cannot write {}", golden.display()))?;
        println!("golden output stored in {}", golden.display());
    }
    for check in &outcome.checks {
        println!("{} {} — {}", if check.passed { "pass" } else { "FAIL" }, check.expected, check.found);
    }
    if let Some(diff) = outcome.golden_diff() {
        println!("outputs differ from the golden output:\n{diff}");
    }
    let verdict = if outcome.passed() { "passed" } else { "FAILED" };
    println!("{}: {verdict} (report {})", case.name, out_dir.join("report.md").display());
    Ok(if outcome.passed() { ExitCode::SUCCESS } else { ExitCode::from(FOUND_A_PROBLEM) })
}

fn images(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let format = match args.format {
        ImageFormatArg::Png => part_images::output::ImageFormat::Png,
        ImageFormatArg::Jpeg => part_images::output::ImageFormat::Jpeg,
    };
    let specs = part_images::product_set(
        args.product.into(),
        args.seed,
        to_usize(args.good),
        to_usize(args.defective),
        args.width,
        args.height,
    );
    let truth = part_images::output::write_set(&args.out, &specs, format)
        .with_context(|| format!("cannot write the image set to {}", args.out.display()))?;
    println!("wrote {} images and truth.json to {}", truth.len(), args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// This program, for the child processes it starts of itself.
fn self_exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("cannot find the shopfloor executable")
}

fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// Today's date (UTC) for evaluation records and tuning notes.
fn today() -> String {
    humantime::format_rfc3339(SystemTime::now()).to_string().chars().take(10).collect()
}

/// Counts clap has bounded; on a 32-bit gateway an absurd one saturates.
fn to_usize(count: u64) -> usize {
    usize::try_from(count).unwrap_or(usize::MAX)
}
