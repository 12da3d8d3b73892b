//! A dora cluster on one host: a coordinator and one daemon per machine id,
//! all on loopback, wired to each other by explicit zenoh endpoints (no
//! multicast), as docs/deployment.md sets up real machines. A machine can be
//! taken away (its daemon and nodes killed, as when it loses power) and
//! brought back. Dropping the cluster stops its dataflows, daemons, their
//! nodes and the coordinator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::dataflow::dora_binary;
use crate::process::ProcessGroup;
use crate::{free_port, repo_root, scratch_dir, Scratch};

/// What can go wrong with the local cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0} is missing: run scripts/test.sh (it installs the dora CLI)")]
    NoDora(PathBuf),
    #[error("cannot start {what}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`dora {args}` could not run")]
    Cli {
        args: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`dora {args}` failed: {output}")]
    CliFailed { args: String, output: String },
    #[error("nothing listens on 127.0.0.1:{port} after {timeout:?}")]
    NotListening { port: u16, timeout: Duration },
    #[error("machines {ids:?} not all registered within {timeout:?}: {registered:?}")]
    NotRegistered { ids: Vec<String>, timeout: Duration, registered: BTreeMap<String, String> },
    #[error("unknown machine {0}")]
    UnknownMachine(String),
    #[error("machine {0} is already running")]
    AlreadyRunning(String),
    #[error("machine {0} is not running")]
    NotRunning(String),
}

/// One daemon: its machine id, labels and ports (kept across restarts so the
/// other daemons can dial it again).
struct Machine {
    labels: String,
    zenoh_port: u16,
    local_listen_port: u16,
    daemon: Option<ProcessGroup>,
    /// Starts of this machine's daemon so far (for log names).
    starts: u32,
}

/// A running local cluster.
pub struct LocalCluster {
    /// The coordinator's WebSocket port.
    pub coordinator_port: u16,
    coordinator: Option<ProcessGroup>,
    machines: BTreeMap<String, Machine>,
    /// Logs of the coordinator and daemons.
    pub log_dir: Scratch,
    dataflows: Vec<String>,
    /// When the cluster started: node logs older than this are another test's.
    started: std::time::SystemTime,
}

impl LocalCluster {
    /// Starts a coordinator and one daemon per `(machine id, labels)` and
    /// waits until all have registered. Labels are `k=v,k=v` (may be empty).
    pub fn start(name: &str, machines: &[(&str, &str)]) -> Result<Self, ClusterError> {
        let dora = dora_binary();
        if !dora.exists() {
            return Err(ClusterError::NoDora(dora));
        }
        let started = std::time::SystemTime::now();
        let log_dir = scratch_dir(&format!("cluster-{name}"));
        let coordinator_port = free_port();
        let mut command = Command::new(&dora);
        command
            .args(["coordinator", "--interface", "127.0.0.1", "--store", "memory", "--quiet"])
            .arg("--port")
            .arg(coordinator_port.to_string())
            // It writes its own files into its working directory.
            .current_dir(&log_dir)
            .stdin(Stdio::null())
            .stdout(log_file(&log_dir, "coordinator.log")?)
            .stderr(log_file(&log_dir, "coordinator.log")?);
        let coordinator = spawn("dora coordinator", command)?;
        let mut cluster = Self {
            coordinator_port,
            coordinator: Some(coordinator),
            machines: machines
                .iter()
                .map(|(id, labels)| {
                    let machine = Machine {
                        labels: (*labels).to_owned(),
                        zenoh_port: free_port(),
                        local_listen_port: free_port(),
                        daemon: None,
                        starts: 0,
                    };
                    ((*id).to_owned(), machine)
                })
                .collect(),
            log_dir,
            dataflows: Vec::new(),
            started,
        };
        wait_for_port(coordinator_port, Duration::from_secs(20))?;
        let ids: Vec<String> = cluster.machines.keys().cloned().collect();
        for id in &ids {
            cluster.start_machine(id)?;
        }
        cluster.wait_for_machines(&ids, Duration::from_secs(30))?;
        Ok(cluster)
    }

    /// The dora CLI aimed at this cluster's coordinator.
    pub fn dora(&self) -> Command {
        let mut command = Command::new(dora_binary());
        command
            .env("DORA_COORDINATOR_ADDR", "127.0.0.1")
            .env("DORA_COORDINATOR_PORT", self.coordinator_port.to_string());
        command.stdin(Stdio::null());
        command
    }

    /// Runs a dora CLI command to its end; its output, or an error with it.
    pub fn dora_output(&self, args: &[&str]) -> Result<String, ClusterError> {
        let output = self
            .dora()
            .args(args)
            .current_dir(repo_root())
            .output()
            .map_err(|source| ClusterError::Cli { args: args.join(" "), source })?;
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        if !output.status.success() {
            return Err(ClusterError::CliFailed { args: args.join(" "), output: crate::strip_ansi(&text) });
        }
        Ok(text)
    }

    /// What node `node` logged in every run of this cluster's dataflows,
    /// oldest run first, one message per line, colours removed, at most the
    /// last `lines` lines of each run. Dora keeps a node's log in
    /// `<root>/_work/<session>/out/<run id>/log_<node>.jsonl`; dora's own
    /// per-send diagnostics are left out.
    pub fn node_log(&self, node: &str, lines: usize) -> String {
        let file_name = format!("log_{node}.jsonl");
        let mut runs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(repo_root().join("_work"))
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|session| std::fs::read_dir(session.path().join("out")).into_iter().flatten().flatten())
            .map(|run| run.path().join(&file_name))
            .filter_map(|file| Some((std::fs::metadata(&file).ok()?.modified().ok()?, file)))
            .filter(|(modified, _)| *modified >= self.started)
            .collect();
        runs.sort();
        let mut out = String::new();
        for (_, file) in runs {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let messages: Vec<String> = crate::node_log_messages(&text)
                .into_iter()
                .filter(|message| !message.contains("dora-rs/dora#2742 diagnostic"))
                .collect();
            out.push_str(&format!("--- {} ({} lines, last {lines}):\n", file.display(), messages.len()));
            for message in &messages[messages.len().saturating_sub(lines)..] {
                out.push_str(message.trim_end());
                out.push('\n');
            }
        }
        out
    }

    /// `dora start FILE --name NAME --detach` with `--env` settings.
    pub fn start_dataflow(&mut self, file: &Path, name: &str, envs: &[(&str, String)]) -> Result<(), ClusterError> {
        let mut args =
            vec!["start".to_owned(), file.display().to_string(), "--name".into(), name.into(), "--detach".into()];
        for (key, value) in envs {
            args.push("--env".into());
            args.push(format!("{key}={value}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.dataflows.push(name.to_owned());
        self.dora_output(&args)?;
        Ok(())
    }

    /// The machine ids whose daemons the coordinator now lists, with each
    /// daemon's id (`<machine>-<uuid>`; the uuid changes when a daemon restarts).
    pub fn registered(&self) -> Result<BTreeMap<String, String>, ClusterError> {
        Ok(deployment::supervise::parse_cluster_status(&self.dora_output(&["cluster", "status"])?))
    }

    /// Waits until every machine in `ids` is registered.
    pub fn wait_for_machines(&self, ids: &[String], timeout: Duration) -> Result<(), ClusterError> {
        let deadline = Instant::now() + timeout;
        loop {
            let registered = self.registered().unwrap_or_default();
            if ids.iter().all(|id| registered.contains_key(id)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::NotRegistered { ids: ids.to_vec(), timeout, registered });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Starts (or restarts) the daemon of machine `id`, in the repository
    /// root: nodes run in `<root>/_work/<session>/`, where the distributed
    /// dataflow's `../../` paths lead back to the root.
    pub fn start_machine(&mut self, id: &str) -> Result<(), ClusterError> {
        let coordinator_port = self.coordinator_port;
        let peers: Vec<String> = self
            .machines
            .iter()
            .filter(|(other, _)| other.as_str() != id)
            .map(|(_, m)| format!("tcp/127.0.0.1:{}", m.zenoh_port))
            .collect();
        let log_dir = self.log_dir.to_path_buf();
        let machine = self.machines.get_mut(id).ok_or_else(|| ClusterError::UnknownMachine(id.to_owned()))?;
        if machine.daemon.is_some() {
            return Err(ClusterError::AlreadyRunning(id.to_owned()));
        }
        machine.starts += 1;
        let log_name = format!("daemon-{id}-{}.log", machine.starts);
        let mut command = Command::new(dora_binary());
        command
            .args(["daemon", "--machine-id", id, "--coordinator-addr", "127.0.0.1", "--zenoh-no-multicast", "--quiet"])
            .arg("--coordinator-port")
            .arg(coordinator_port.to_string())
            .arg("--local-listen-port")
            .arg(machine.local_listen_port.to_string())
            .arg("--zenoh-listen")
            .arg(format!("127.0.0.1:{}", machine.zenoh_port));
        for peer in &peers {
            command.arg("--zenoh-connect").arg(peer);
        }
        if !machine.labels.is_empty() {
            command.arg("--labels").arg(&machine.labels);
        }
        command
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(log_file(&log_dir, &log_name)?)
            .stderr(log_file(&log_dir, &log_name)?);
        machine.daemon = Some(spawn(&format!("dora daemon {id}"), command)?);
        Ok(())
    }

    /// Takes machine `id` away as a power cut would: its daemon and every
    /// node it spawned are killed at once (dora 1.1 leaves a killed daemon's
    /// nodes running otherwise).
    pub fn kill_machine(&mut self, id: &str) -> Result<(), ClusterError> {
        let machine = self.machines.get_mut(id).ok_or_else(|| ClusterError::UnknownMachine(id.to_owned()))?;
        let mut daemon = machine.daemon.take().ok_or_else(|| ClusterError::NotRunning(id.to_owned()))?;
        stop_daemon_and_nodes(&mut daemon, Signal::SIGKILL);
        Ok(())
    }

    /// The pids of the node processes a machine's daemon runs now.
    pub fn node_pids(&self, id: &str) -> Vec<u32> {
        self.machines.get(id).and_then(|m| m.daemon.as_ref()).map(|d| children_of(d.pid())).unwrap_or_default()
    }

    /// `dora stop --name NAME`, waiting up to `grace` for the nodes to finish.
    pub fn stop_dataflow(&mut self, name: &str, grace: Duration) -> Result<(), ClusterError> {
        self.dataflows.retain(|d| d != name);
        let grace = format!("{}s", grace.as_secs().max(1));
        self.dora_output(&["stop", "--name", name, "--grace-duration", &grace])?;
        Ok(())
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for name in std::mem::take(&mut self.dataflows) {
            let _ = self.dora().args(["stop", "--name", &name, "--grace-duration", "10s"]).output();
        }
        for machine in self.machines.values_mut() {
            if let Some(mut daemon) = machine.daemon.take() {
                stop_daemon_and_nodes(&mut daemon, Signal::SIGTERM);
            }
        }
        if let Some(mut coordinator) = self.coordinator.take() {
            coordinator.stop(Signal::SIGTERM, Duration::from_secs(10));
        }
    }
}

fn spawn(what: &str, command: Command) -> Result<ProcessGroup, ClusterError> {
    ProcessGroup::spawn(what, command).map_err(|source| ClusterError::Spawn { what: what.to_owned(), source })
}

fn log_file(dir: &Path, name: &str) -> Result<std::fs::File, ClusterError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .map_err(|source| ClusterError::Spawn { what: format!("a log file {name}"), source })
}

fn wait_for_port(port: u16, timeout: Duration) -> Result<(), ClusterError> {
    let deadline = Instant::now() + timeout;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() >= deadline {
            return Err(ClusterError::NotListening { port, timeout });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Direct children of `pid` (a daemon's nodes; each has its own process group).
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(output) = Command::new("ps").args(["-o", "pid=,ppid=", "-A"]).output() else { return Vec::new() };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let child = parts.next()?.parse::<u32>().ok()?;
            let parent = parts.next()?.parse::<u32>().ok()?;
            (parent == pid).then_some(child)
        })
        .collect()
}

/// Stops a daemon with `signal`, then kills the nodes it had spawned (they
/// are in process groups of their own, so stopping the daemon's group
/// leaves them running).
fn stop_daemon_and_nodes(daemon: &mut ProcessGroup, signal: Signal) {
    let nodes = children_of(daemon.pid());
    daemon.stop(signal, Duration::from_secs(10));
    kill_all(&nodes);
}

/// A node may have ended already (ESRCH), which is what is wanted.
fn kill_all(pids: &[u32]) {
    for pid in pids {
        if let Ok(pid) = i32::try_from(*pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}
