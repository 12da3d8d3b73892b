//! The dora CLI as the supervisor uses it: what the coordinator reports, and
//! starting or stopping the dataflow. Each call is bounded in time, so a
//! coordinator that does not answer cannot hang the supervisor.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::supervise::{parse_cluster_status, parse_running, ClusterView};

/// How long one dora CLI call may take.
const CALL_LIMIT: Duration = Duration::from_secs(60);

/// Why a dora CLI call failed.
#[derive(Debug, thiserror::Error)]
pub enum DoraCliError {
    /// The program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The dora CLI.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// It ran past the limit and was killed.
    #[error("`dora {args}` did not finish within {limit:?}")]
    TimedOut {
        /// The arguments.
        args: String,
        /// The limit.
        limit: Duration,
    },
    /// It failed.
    #[error("`dora {args}` failed: {output}")]
    Failed {
        /// The arguments.
        args: String,
        /// What it printed.
        output: String,
    },
}

/// The dora CLI program (its coordinator comes from `DORA_COORDINATOR_ADDR`
/// and `DORA_COORDINATOR_PORT`, as for every dora command).
#[derive(Debug, Clone)]
pub struct DoraCli {
    program: PathBuf,
    /// Set as `DORA_COORDINATOR_ADDR` / `_PORT` for each call when given.
    coordinator_addr: Option<String>,
    coordinator_port: Option<u16>,
}

impl DoraCli {
    /// The CLI at `program` (e.g. `dora` on the PATH).
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self { program: program.into(), coordinator_addr: None, coordinator_port: None }
    }

    /// Aims every call at this coordinator (None: the environment's).
    pub fn with_coordinator(mut self, addr: Option<String>, port: Option<u16>) -> Self {
        self.coordinator_addr = addr;
        self.coordinator_port = port;
        self
    }

    /// The registered daemons and whether dataflow `name` runs.
    pub fn view(&self, name: &str) -> Result<ClusterView, DoraCliError> {
        let status = self.run(&["cluster".into(), "status".into()])?;
        let list = self.run(&["list".into(), "--format".into(), "json".into()])?;
        Ok(ClusterView { daemons: parse_cluster_status(&status), dataflow_running: parse_running(&list, name) })
    }

    /// `dora start DATAFLOW --name NAME --detach --env K=V …`.
    pub fn start(&self, dataflow: &Path, name: &str, envs: &[String]) -> Result<String, DoraCliError> {
        let mut args =
            vec!["start".to_owned(), dataflow.display().to_string(), "--name".into(), name.into(), "--detach".into()];
        for env in envs {
            args.push("--env".into());
            args.push(env.clone());
        }
        self.run(&args)
    }

    /// `dora stop --name NAME`.
    pub fn stop(&self, name: &str, grace: Duration) -> Result<String, DoraCliError> {
        self.run(&[
            "stop".into(),
            "--name".into(),
            name.into(),
            "--grace-duration".into(),
            format!("{}s", grace.as_secs().max(1)),
        ])
    }

    fn run(&self, args: &[String]) -> Result<String, DoraCliError> {
        let shown = args.join(" ");
        let mut command = Command::new(&self.program);
        if let Some(addr) = &self.coordinator_addr {
            command.env("DORA_COORDINATOR_ADDR", addr);
        }
        if let Some(port) = self.coordinator_port {
            command.env("DORA_COORDINATOR_PORT", port.to_string());
        }
        let mut child =
            command
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|source| DoraCliError::Spawn { program: self.program.display().to_string(), source })?;
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(out) = stdout.as_mut() {
                let _ = out.read_to_string(&mut text);
            }
            if let Some(err) = stderr.as_mut() {
                let _ = err.read_to_string(&mut text);
            }
            let status = child.wait();
            let _ = tx.send((status, text));
        });
        match rx.recv_timeout(CALL_LIMIT) {
            Ok((Ok(status), text)) if status.success() => Ok(text),
            Ok((_, text)) => Err(DoraCliError::Failed { args: shown, output: first_lines(&text) }),
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
                Err(DoraCliError::TimedOut { args: shown, limit: CALL_LIMIT })
            }
        }
    }
}

/// The message of a failed call without the backtrace dora prints after it.
fn first_lines(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take_while(|l| !l.starts_with("Location:") && !l.starts_with("Stack backtrace"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_call_reports_dora_s_message_without_the_backtrace() {
        let text = "\n[ERROR]\nno connection for daemon edge\n\nLocation:\n    binaries/cli/src/common.rs:78:48\n\nStack backtrace:\n   0: <unknown>\n";
        assert_eq!(first_lines(text), "[ERROR] no connection for daemon edge");
    }

    #[test]
    fn a_missing_program_is_an_error_not_a_panic() {
        let cli = DoraCli::new("/nonexistent/dora");
        assert!(matches!(cli.view("plant"), Err(DoraCliError::Spawn { .. })));
    }
}
