//! The dora CLI as the supervisor uses it: what the coordinator reports, and
//! starting or stopping the dataflow. Each call is bounded in time, so a
//! coordinator that does not answer cannot hang the supervisor.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::supervise::{parse_cluster_status, parse_running, ClusterView};

/// How long one dora CLI call may take.
const CALL_LIMIT: Duration = Duration::from_secs(60);
/// After SIGTERM, how long a call past its limit has to end before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);
/// How often a running call is looked at.
const POLL: Duration = Duration::from_millis(20);

/// Why a dora CLI call failed.
#[derive(Debug, thiserror::Error)]
pub enum DoraCliError {
    /// The program could not be started.
    #[error("cannot run {}", program.display())]
    Spawn { program: PathBuf, source: std::io::Error },
    /// Its end could not be waited for.
    #[error("cannot wait for `dora {args}`")]
    Wait { args: String, source: std::io::Error },
    /// It ran past the limit and was killed.
    #[error("`dora {args}` did not finish within {limit:?}")]
    TimedOut { args: String, limit: Duration },
    /// It failed.
    #[error("`dora {args}` failed: {output}")]
    Failed { args: String, output: String },
}

/// The dora CLI program (its coordinator comes from `DORA_COORDINATOR_ADDR`
/// and `DORA_COORDINATOR_PORT`, as for every dora command).
#[derive(Debug, Clone)]
pub struct DoraCli {
    program: PathBuf,
    /// Set as `DORA_COORDINATOR_ADDR` / `_PORT` for each call when given.
    coordinator_addr: Option<String>,
    coordinator_port: Option<u16>,
    call_limit: Duration,
}

impl DoraCli {
    /// The CLI at `program` (e.g. `dora` on the PATH).
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self { program: program.into(), coordinator_addr: None, coordinator_port: None, call_limit: CALL_LIMIT }
    }

    /// Aims every call at this coordinator (None: the environment's).
    pub fn with_coordinator(mut self, addr: Option<String>, port: Option<u16>) -> Self {
        self.coordinator_addr = addr;
        self.coordinator_port = port;
        self
    }

    /// How long one call may take before it is stopped (default 60 s).
    pub fn with_call_limit(mut self, limit: Duration) -> Self {
        self.call_limit = limit;
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
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| DoraCliError::Spawn { program: self.program.clone(), source })?;
        // Both pipes are drained at once: a child that fills one while we
        // wait on the other would block forever.
        let (tx, rx) = mpsc::sync_channel(2);
        if let Some(pipe) = child.stdout.take() {
            drain(pipe, Pipe::Stdout, tx.clone());
        }
        if let Some(pipe) = child.stderr.take() {
            drain(pipe, Pipe::Stderr, tx.clone());
        }
        drop(tx);
        let deadline = Instant::now() + self.call_limit;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() >= deadline => {
                    stop(&mut child);
                    return Err(DoraCliError::TimedOut { args: shown, limit: self.call_limit });
                }
                Ok(None) => std::thread::sleep(POLL),
                Err(source) => break Err(source),
            }
        };
        let (mut stdout, mut stderr) = (String::new(), String::new());
        // A grandchild may hold a pipe open past the child's exit; its text is then left out.
        while let Ok((pipe, text)) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()).max(POLL)) {
            match pipe {
                Pipe::Stdout => stdout = text,
                Pipe::Stderr => stderr = text,
            }
        }
        let text = stdout + &stderr;
        match status {
            Ok(status) if status.success() => Ok(text),
            Ok(_) => Err(DoraCliError::Failed { args: shown, output: first_lines(&text) }),
            Err(source) => Err(DoraCliError::Wait { args: shown, source }),
        }
    }
}

/// Stops a call past its limit: SIGTERM (dora's CLI closes its connection to
/// the coordinator), SIGKILL after [`TERM_GRACE`], and reaps it. The child is
/// ours and not yet reaped, so its pid cannot belong to another process.
fn stop(child: &mut std::process::Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
    }
    let deadline = Instant::now() + TERM_GRACE;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(POLL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[derive(Debug, Clone, Copy)]
enum Pipe {
    Stdout,
    Stderr,
}

/// Reads `pipe` to its end on a thread of its own and sends the text.
fn drain(mut pipe: impl Read + Send + 'static, which: Pipe, tx: mpsc::SyncSender<(Pipe, String)>) {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = tx.send((which, String::from_utf8_lossy(&bytes).into_owned()));
    });
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

    /// A stand-in for the dora CLI: a shell script in a temporary folder.
    fn fake_dora(script: &str) -> (tempfile::TempDir, DoraCli) {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("dora");
        std::fs::write(&program, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, DoraCli::new(program).with_call_limit(Duration::from_secs(20)))
    }

    #[test]
    fn output_larger_than_a_pipe_on_both_streams_does_not_block() {
        // 256 KiB on stderr before anything on stdout: read one after the
        // other, the child would block on a full stderr pipe.
        let (_dir, cli) = fake_dora("head -c 262144 /dev/zero | tr '\\0' e >&2; head -c 262144 /dev/zero | tr '\\0' o");
        let started = Instant::now();
        let text = cli.stop("plant", Duration::from_secs(1)).unwrap();
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
        assert_eq!(text.len(), 2 * 262_144);
        assert!(text.starts_with('o') && text.ends_with('e'), "stdout first, then stderr");
    }

    #[test]
    fn a_call_past_its_limit_is_stopped() {
        let (_dir, cli) = fake_dora("sleep 30");
        let cli = cli.with_call_limit(Duration::from_millis(300));
        let started = Instant::now();
        assert!(matches!(cli.view("plant"), Err(DoraCliError::TimedOut { .. })));
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    }

    #[test]
    fn a_failing_call_reports_its_stderr() {
        let (_dir, cli) = fake_dora("echo 'no coordinator' >&2; exit 1");
        let error = cli.stop("plant", Duration::from_secs(1)).unwrap_err();
        assert!(matches!(&error, DoraCliError::Failed { output, .. } if output == "no coordinator"), "{error}");
    }

    #[test]
    fn a_missing_program_is_an_error_not_a_panic() {
        let cli = DoraCli::new("/nonexistent/dora");
        assert!(matches!(cli.view("plant"), Err(DoraCliError::Spawn { .. })));
    }
}
