//! `dora run` of a dataflow from `dataflows/`, with settings passed by `--env`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;

use crate::process::ProcessGroup;
use crate::{node_binaries, repo_root, scratch_dir, Scratch};

/// A running dataflow; dropping it stops `dora run` and every node.
pub struct RunningDataflow {
    process: ProcessGroup,
    /// Where `dora run` writes its output.
    pub log: PathBuf,
    /// Holds the log (and whatever the nodes write beside it).
    _dir: Scratch,
    /// dora's folder of per-run logs (`out/` beside the dataflow file).
    runs_dir: PathBuf,
    started: SystemTime,
}

/// The dora CLI: `SHOPFLOOR_DORA_BIN`, else the project's `.venv`.
pub fn dora_binary() -> PathBuf {
    std::env::var_os("SHOPFLOOR_DORA_BIN").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv/bin/dora"))
}

impl RunningDataflow {
    /// Starts `dataflows/<name>` with `envs`; dora itself stops it after
    /// `stop_after` at the latest, so nothing runs on if the test dies.
    pub fn start(name: &str, envs: &[(&str, String)], stop_after: Duration) -> anyhow::Result<Self> {
        Self::start_file(&repo_root().join("dataflows").join(name), envs, stop_after)
    }

    /// Starts the dataflow file at `path` (e.g. a test's edited copy).
    pub fn start_file(path: &std::path::Path, envs: &[(&str, String)], stop_after: Duration) -> anyhow::Result<Self> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let root = repo_root();
        node_binaries()?;
        let dora = dora_binary();
        anyhow::ensure!(dora.exists(), "{} is missing: run scripts/test.sh (it installs the dora CLI)", dora.display());

        let dir = scratch_dir(&format!("dataflow-{}", name.trim_end_matches(".yml")));
        let log = dir.join("dora-run.log");
        let log_file = std::fs::File::create(&log)?;
        let mut command = Command::new(dora);
        command
            .arg("run")
            .arg(path)
            .arg("--stop-after")
            .arg(format!("{}s", stop_after.as_secs()))
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        for (key, value) in envs {
            command.arg("--env").arg(format!("{key}={value}"));
        }
        let runs_dir = path.parent().unwrap_or(&root).join("out");
        let started = SystemTime::now();
        let process = ProcessGroup::spawn("dora run", command)?;
        Ok(Self { process, log, _dir: dir, runs_dir, started })
    }

    /// The pid of `dora run`: the parent of every node it starts (each node
    /// runs in a process group of its own).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Whether `dora run` is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// The log so far, for failure messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Everything node `node` logged in this run, one message per line,
    /// colours removed: dora keeps it in `out/<run id>/log_<node>.jsonl`
    /// beside the dataflow file, all levels (its own output shows less).
    pub fn node_log(&self, node: &str) -> String {
        let file_name = format!("log_{node}.jsonl");
        let newest = std::fs::read_dir(&self.runs_dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|run| run.path().join(&file_name))
            .filter_map(|file| Some((std::fs::metadata(&file).ok()?.modified().ok()?, file)))
            .filter(|(modified, _)| *modified >= self.started)
            .max_by_key(|(modified, _)| *modified);
        let Some(text) = newest.and_then(|(_, file)| std::fs::read_to_string(file).ok()) else { return String::new() };
        crate::node_log_messages(&text).join("\n")
    }

    /// Stops the dataflow like Ctrl-C; returns whether `dora run` exited
    /// successfully, and the processes still alive afterwards: its group's
    /// members and its nodes (each node has a process group of its own, so
    /// they are noted as `dora run`'s children before the stop). Nodes still
    /// alive 10 s after `dora run` exited are killed, so none outlives the test.
    pub fn stop(mut self) -> (bool, Vec<u32>) {
        // With each node's command line: a pid reused by another process is not that node.
        let command_line = |pid: u32| std::fs::read(format!("/proc/{pid}/cmdline")).ok();
        let nodes: Vec<(u32, Option<Vec<u8>>)> =
            crate::process::children_of(self.process.pid()).into_iter().map(|pid| (pid, command_line(pid))).collect();
        let still_there =
            |(pid, line): &(u32, Option<Vec<u8>>)| crate::process::is_alive(*pid) && command_line(*pid) == *line;
        let status = self.process.stop(Signal::SIGINT, Duration::from_secs(30));
        let mut leftovers = self.process.remaining_members();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while nodes.iter().any(still_there) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        for (pid, _) in nodes.iter().filter(|node| still_there(node)) {
            let pid = *pid;
            if let Ok(raw) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), Signal::SIGKILL);
            }
            leftovers.push(pid);
        }
        (status.is_some_and(|s| s.success()), leftovers)
    }
}
