//! Wires the `router` library to dora; `router calibrate` runs the tiers of
//! a dataflow over the labelled plant Q&A set (docs/routing.md).

use anyhow::Context;
use shopfloor_core::config::{process_env, RouterConfig};

fn main() -> anyhow::Result<()> {
    shopfloor_core::logging::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("calibrate") => calibrate(&args[1..]),
        Some(other) => anyhow::bail!("unknown command {other:?}; usage: router (as a dora node) | {}", router::calibrate::USAGE),
        None => run_node(),
    }
}

fn run_node() -> anyhow::Result<()> {
    let config = RouterConfig::from_env(&process_env())?;
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let tiers: Vec<&str> = config.tiers.iter().map(|t| t.name.as_str()).collect();
    tracing::info!(?tiers, off_site = config.http.is_some(), "router started");
    let totals = router::node::run(&config, node, events)?;
    tracing::info!(answered = totals.answered, rejected_inputs = totals.rejected_inputs, "router stopped");
    Ok(())
}

fn calibrate(args: &[String]) -> anyhow::Result<()> {
    let options = router::calibrate::CalibrateOptions::parse(args).map_err(anyhow::Error::msg)?;
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let slm = exe.with_file_name("slm");
    let report = router::calibrate::calibrate(&options, &slm)?;
    print!("{}", report.markdown());
    Ok(())
}
