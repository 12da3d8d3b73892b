//! `shopfloor deploy`: the multi-machine deployment tools
//! (`docs/deployment.md`).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};

/// Exit status when a machine's budget does not hold.
const DOES_NOT_FIT: u8 = 1;

#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Before anything starts: does each machine's RAM budget hold for the
    /// nodes the dataflow places on it? Exit 0: every machine fits; 1: one
    /// does not; 2: bad input (dataflow, inventory, placement, model files).
    Check(CheckArgs),
    /// Start the dataflow once every machine it pins nodes to has a daemon
    /// registered, and restart it when a machine comes back after going away
    /// (dora 1.1 does not give a returning machine its nodes back;
    /// docs/distributed.md). Runs until stopped.
    Supervise(SuperviseArgs),
}

pub fn run(command: &DeployCommand) -> anyhow::Result<ExitCode> {
    match command {
        DeployCommand::Check(args) => {
            let report = deployment::check::run(&args.into())?;
            let text = match args.format {
                Format::Text => report.text(),
                Format::Json => report.json() + "\n",
            };
            std::io::stdout().write_all(text.as_bytes()).context("cannot write the report")?;
            Ok(if report.fits { ExitCode::SUCCESS } else { ExitCode::from(DOES_NOT_FIT) })
        }
        DeployCommand::Supervise(args) => {
            deployment::watch::watch(&args.options())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `shopfloor deploy supervise --dataflow FILE --name NAME`.
#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The dataflow YAML.
    #[arg(long, value_name = "DATAFLOW.yml")]
    pub dataflow: PathBuf,
    /// The dataflow's name on the coordinator.
    #[arg(long, default_value = "plant")]
    pub name: String,
    /// `KEY=VALUE` passed to `dora start --env` (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = crate::cli::key_value)]
    pub envs: Vec<(String, String)>,
    /// Also watch this machine (nodes placed by labels; repeatable).
    #[arg(long = "machine", value_name = "ID")]
    pub machines: Vec<String>,
    /// The dora CLI.
    #[arg(long, default_value = "dora")]
    pub dora: PathBuf,
    /// The coordinator's address (else `DORA_COORDINATOR_ADDR`, else 127.0.0.1).
    #[arg(long)]
    pub coordinator_addr: Option<String>,
    /// The coordinator's port (else `DORA_COORDINATOR_PORT`, else 6013).
    #[arg(long)]
    pub coordinator_port: Option<u16>,
    /// Between polls of the coordinator, ms.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub poll_ms: u64,
    /// After a machine comes back, before the restart, ms.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub settle_ms: u64,
    /// Given to nodes to stop at a restart, s.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub grace_s: u64,
}

impl SuperviseArgs {
    /// The watch settings.
    pub fn options(&self) -> deployment::watch::WatchOptions {
        deployment::watch::WatchOptions {
            dataflow: self.dataflow.clone(),
            name: self.name.clone(),
            envs: self.envs.iter().map(|(key, value)| format!("{key}={value}")).collect(),
            extra_machines: self.machines.clone(),
            dora: self.dora.clone(),
            coordinator_addr: self.coordinator_addr.clone(),
            coordinator_port: self.coordinator_port,
            poll: std::time::Duration::from_millis(self.poll_ms),
            settle: std::time::Duration::from_millis(self.settle_ms),
            grace: std::time::Duration::from_secs(self.grace_s),
        }
    }
}

/// `shopfloor deploy check DATAFLOW.yml --machines MACHINES.toml`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The dataflow YAML (nodes pinned with `deploy: machine:` or `deploy: labels:`).
    #[arg(value_name = "DATAFLOW.yml")]
    pub dataflow: PathBuf,
    /// The inventory: each machine's id, hardware profile and labels.
    #[arg(long, value_name = "MACHINES.toml")]
    pub machines: PathBuf,
    /// The folder relative paths in the dataflow's `env:` resolve from, as a
    /// node on its machine would open them [default: <dataflow folder>/../_work/x,
    /// i.e. a daemon working in the folder above the dataflow's].
    #[arg(long, value_name = "DIR")]
    pub node_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For scripts.
    Json,
}

impl From<&CheckArgs> for deployment::check::CheckInput {
    fn from(args: &CheckArgs) -> Self {
        Self { dataflow: args.dataflow.clone(), machines: args.machines.clone(), node_dir: args.node_dir.clone() }
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser as _;

    use super::*;

    #[test]
    fn check_takes_the_dataflow_the_inventory_and_options() {
        let cli = Cli::try_parse_from([
            "shopfloor",
            "deploy",
            "check",
            "f.yml",
            "--machines",
            "m.toml",
            "--node-dir",
            "/opt/x",
            "--format",
            "json",
        ])
        .unwrap();
        let Command::Deploy { command: DeployCommand::Check(args) } = cli.command else { panic!("expected check") };
        assert_eq!((args.dataflow.to_str(), args.machines.to_str()), (Some("f.yml"), Some("m.toml")));
        assert_eq!(args.node_dir.as_deref().and_then(|p| p.to_str()), Some("/opt/x"));
        assert_eq!(args.format, Format::Json);
        assert!(Cli::try_parse_from(["shopfloor", "deploy", "check", "f.yml"]).is_err(), "--machines is required");
    }

    #[test]
    fn supervise_takes_the_dataflow_its_name_and_settings() {
        let cli = Cli::try_parse_from([
            "shopfloor",
            "deploy",
            "supervise",
            "--dataflow",
            "d.yml",
            "--name",
            "plant",
            "--env",
            "A=1",
            "--env",
            "B=x=y",
            "--machine",
            "gpu-box",
            "--settle-ms",
            "500",
        ])
        .unwrap();
        let Command::Deploy { command: DeployCommand::Supervise(args) } = cli.command else {
            panic!("expected supervise")
        };
        let options = args.options();
        assert_eq!((options.name.as_str(), options.settle.as_millis()), ("plant", 500));
        assert_eq!(options.envs, ["A=1", "B=x=y"]);
        assert_eq!(options.extra_machines, ["gpu-box"]);
        let bad = Cli::try_parse_from(["shopfloor", "deploy", "supervise", "--dataflow", "d.yml", "--env", "NOVALUE"])
            .unwrap_err();
        assert!(bad.to_string().contains("NOVALUE") && bad.to_string().contains("KEY=VALUE"), "{bad}");
        assert!(
            Cli::try_parse_from(["shopfloor", "deploy", "supervise", "--dataflow", "d.yml", "--poll-ms", "5"]).is_err()
        );
    }
}
