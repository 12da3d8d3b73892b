//! Wires the `slm` library to dora; see the library docs.

use anyhow::Context;
use shopfloor_core::config::{process_env, SlmConfig};
use shopfloor_core::profile::HardwareProfile;
use slm::answering::AnswerSettings;
use slm::engine::Engine;
use slm::node::NodeSettings;
use slm::plant_state::StateSettings;

fn main() -> anyhow::Result<()> {
    shopfloor_core::logging::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {}
        [command, sub, path] if command == "profile" && sub == "check" => {
            let report = slm::profile_check::check(std::path::Path::new(path));
            report.lines.iter().for_each(|line| println!("{line}"));
            std::process::exit(if report.ok { 0 } else { 1 });
        }
        [command, source, out_dir, types @ ..] if command == "quantize" => {
            let types = if types.is_empty() {
                slm::quantize::DEFAULT_VARIANTS.to_vec()
            } else {
                types
                    .iter()
                    .map(|t| slm::quantize::QuantType::parse(t).ok_or_else(|| anyhow::anyhow!("unknown quantization {t:?}")))
                    .collect::<anyhow::Result<Vec<_>>>()?
            };
            slm::engine::backend().context("cannot initialise llama.cpp")?;
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get() as i32);
            let outcome = slm::quantize::make_variants(source.as_ref(), out_dir.as_ref(), &types, threads)?;
            if let Some(what) = &outcome.source_quantized {
                println!("warning: the source is already quantized ({what}); every variant comes from its F16 dequantization, so accuracy is relative to this source");
            }
            for variant in std::iter::once(&outcome.f16).chain(&outcome.variants) {
                println!("{:<7} {:>5} MiB  {}", variant.quant.name(), variant.bytes / (1024 * 1024), variant.path.display());
            }
            return Ok(());
        }
        [command, rest @ ..] if command == "evaluate" => {
            let options = slm::evaluate::EvaluateOptions::parse(rest).map_err(anyhow::Error::msg)?;
            let exe = std::env::current_exe().context("cannot find the slm executable")?;
            let report = slm::evaluate::evaluate(&options, &exe)?;
            println!("{}", report.table());
            if options.record {
                let today = humantime::format_rfc3339(std::time::SystemTime::now()).to_string();
                let records = report.records(&today[..10]);
                slm::evaluate::record::write_records(&options.profile, &records)?;
                println!("recorded {} evaluation(s) in {}", records.len(), options.profile.display());
            }
            let all_passed = report.rows.iter().all(|row| report.passes(row));
            std::process::exit(if all_passed { 0 } else { 1 });
        }
        [command, rest @ ..] if command == "tune" => {
            let options = slm::tune::TuneOptions::parse(rest).map_err(anyhow::Error::msg)?;
            let report = slm::tune::tune(&options)?;
            println!("{}", report.text());
            if let (true, Some(best), Some(untuned)) = (options.write, report.best(), report.untuned()) {
                let today = humantime::format_rfc3339(std::time::SystemTime::now()).to_string();
                let note = format!(
                    "{}: {:.1} tokens/s generation, {:.0}% of the {:.0} tokens/s bandwidth ceiling (untuned {:.1})",
                    &today[..10],
                    best.generation_tps,
                    100.0 * best.generation_tps / report.ceiling(),
                    report.ceiling(),
                    untuned.generation_tps
                );
                slm::tune::write_knobs(&options.profile, &best.knobs, &note)?;
                println!("wrote {} into {}", best.knobs, options.profile.display());
            }
            return Ok(());
        }
        [command, profile, model, qa_set, step] if command == "evaluate-one" => {
            let step = step.parse().context("the sample step must be a whole number")?;
            println!("{}", slm::evaluate::evaluate_one(profile.as_ref(), model.as_ref(), qa_set.as_ref(), step)?);
            return Ok(());
        }
        _ => anyhow::bail!(
            "usage: slm (as a dora node, no arguments) | slm profile check <hw-profiles/NAME.toml> | slm quantize <source.gguf> <out-dir> [TYPE ...] | {} | {}",
            slm::evaluate::USAGE,
            slm::tune::USAGE
        ),
    }
    let config = SlmConfig::from_env(&process_env())?;
    let profile = HardwareProfile::load(&config.profile_path)?;
    // A damaged file is named as such before the gate hashes it.
    slm::engine::model_file::check(&config.model_path)?;
    let gate = slm::evaluate::gate::check(&config.model_path, &profile, &config.profile_path, config.allow_unevaluated)?;
    tracing::info!(?gate, "evaluation gate");
    let mut engine = Engine::load(&config.model_path, &profile)?;
    tracing::info!(model = %engine.model_name, profile = %profile.name, "model loaded");
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let settings = NodeSettings {
        answer: AnswerSettings {
            max_tokens: config.max_tokens,
            max_question_chars: config.max_question_chars,
            confidence_threshold: config.confidence_threshold,
            tools: config.tools,
            fact_sheet_max_tags: config.fact_sheet_max_tags,
            json_max_tokens: config.json_max_tokens,
        },
        queue_capacity: config.queue_capacity,
        state: StateSettings {
            history_ms: (config.history_secs * 1000) as i64,
            stale_after_ms: (config.stale_after_secs * 1000) as i64,
        },
    };
    let power = slm::power::PowerSwitch::new(&profile, &config.profile_path, config.allow_unevaluated);
    let counts = slm::node::run(&mut engine, settings, power, node, events)?;
    tracing::info!(answered = counts.answered, busy = counts.busy, rejected_inputs = counts.rejected_inputs, "slm stopped");
    Ok(())
}
