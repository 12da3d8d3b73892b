//! `shopfloor-deploy`: see `deployment::cli` and docs/deployment.md.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use deployment::cli::{Cli, Command, Format};

/// Exit status when a machine's budget does not hold.
const DOES_NOT_FIT: u8 = 1;
/// Exit status on bad input (clap uses it for a bad command line too).
const BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    shopfloor_core::logging::init();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("shopfloor-deploy: {err:#}");
            ExitCode::from(BAD_INPUT)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Check(args) => {
            let report = deployment::check::run(&args.into())?;
            let text = match args.format {
                Format::Text => report.text(),
                Format::Json => report.json() + "\n",
            };
            std::io::stdout().write_all(text.as_bytes()).context("cannot write the report")?;
            Ok(if report.fits { ExitCode::SUCCESS } else { ExitCode::from(DOES_NOT_FIT) })
        }
        Command::Supervise(args) => {
            let options = args.options().map_err(anyhow::Error::msg)?;
            deployment::watch::watch(&options)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
