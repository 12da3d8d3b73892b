//! A child process in its own process group, stopped with its whole group.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How long a server a test starts may take to listen. Generous: tests run
/// beside model tests whose OpenMP threads spin on both cores, where a
/// start that takes 0.1 s alone has taken over 10 s.
pub const START_DEADLINE: Duration = Duration::from_secs(90);

/// A running process group; dropping it stops the group.
pub struct ProcessGroup {
    child: Child,
    name: String,
}

impl ProcessGroup {
    /// Spawns `command` as the leader of a new process group.
    pub fn spawn(name: &str, mut command: Command) -> std::io::Result<Self> {
        command.process_group(0);
        let child = command.spawn()?;
        Ok(Self { child, name: name.to_owned() })
    }

    /// Process id (also the group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the leader is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `signal` to the group, then waits up to `grace` for the
    /// leader; past that the group is killed.
    pub fn stop(&mut self, signal: Signal, grace: Duration) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            self.signal_group(Signal::SIGKILL);
            return Some(status);
        }
        self.signal_group(signal);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Nodes that ignored the stop must not outlive the test.
                self.signal_group(Signal::SIGKILL);
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} did not stop within {grace:?}; killing its process group", self.name);
        self.signal_group(Signal::SIGKILL);
        self.child.wait().ok()
    }

    /// Waits for the leader to exit by itself, up to `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Waits until something accepts TCP connections on loopback `port`,
    /// up to [`START_DEADLINE`]; fails early if the leader exits. The
    /// error carries `log()`, read when it fails.
    pub fn wait_listening(&mut self, port: u16, log: impl Fn() -> String) -> anyhow::Result<()> {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let waited = started.elapsed();
            anyhow::ensure!(self.is_running(), "{} exited before it listened on port {port}:\n{}", self.name, log());
            anyhow::ensure!(
                waited < START_DEADLINE,
                "{} did not listen on port {port} within {} s:\n{}\n{}",
                self.name,
                waited.as_secs(),
                log(),
                stall_report(self.pid())
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Processes left in the group (the leader excluded once it exited).
    pub fn remaining_members(&self) -> Vec<u32> {
        let group = self.pid().to_string();
        // Without `ps` this check could not fail, so its absence is an error.
        let output = Command::new("ps")
            .args(["-o", "pid=,pgid=,stat=", "-A"])
            .output()
            .unwrap_or_else(|e| panic!("`ps` (Debian package procps) is needed to look for stray processes: {e}"));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| {
                let mut parts = line.split_whitespace();
                let pid = parts.next()?.parse::<u32>().ok()?;
                let pgid = parts.next()?;
                let stat = parts.next().unwrap_or("");
                (pgid == group && !stat.starts_with('Z')).then_some(pid)
            })
            .collect()
    }

    /// The group may be gone already (ESRCH), which is what a stop wants.
    fn signal_group(&self, signal: Signal) {
        if let Ok(pid) = i32::try_from(self.pid()) {
            let _ = killpg(Pid::from_raw(pid), signal);
        }
    }
}

/// The live processes whose parent is `parent` (from /proc; zombies left
/// out). dora starts each node in a process group of its own, so the nodes
/// of a `dora run` are found as its children, not as its group's members.
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
            let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
            let state = fields.next()?;
            let ppid: u32 = fields.next()?.parse().ok()?;
            (ppid == parent && state != "Z").then_some(pid)
        })
        .collect()
}

/// Where process `pid` and the machine stand, for the error of a server
/// that never listened: each thread's state, kernel wait channel and CPU
/// ticks, and the machine's load, memory and pressure. A server that stalls
/// before it logs anything (seen once in CI, 2026-12-07, never here) then
/// says whether it ran at all, in which thread it waited, and on what.
pub fn stall_report(pid: u32) -> String {
    let read = |path: String| std::fs::read_to_string(path).unwrap_or_default();
    let mut report = format!("process {pid}, threads (name, state, kernel wait, user+system ticks):\n");
    let tasks =
        std::fs::read_dir(format!("/proc/{pid}/task")).map(|dir| dir.filter_map(Result::ok).collect::<Vec<_>>());
    for task in tasks.unwrap_or_default() {
        let path = task.path();
        let stat = read(path.join("stat").display().to_string());
        // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
        let (name, rest) = stat
            .rsplit_once(')')
            .map_or(("?", ""), |(head, rest)| (head.split_once('(').map_or("?", |(_, name)| name), rest));
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After ')': state is field 0, utime 11 and stime 12.
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let state = fields.first().copied().unwrap_or("?");
        let wchan = read(path.join("wchan").display().to_string());
        report.push_str(&format!("  {name}: {state}, {wchan}, {}\n", ticks(11) + ticks(12)));
    }
    let memory = read("/proc/meminfo".into());
    let available = memory.lines().find(|line| line.starts_with("MemAvailable")).unwrap_or("MemAvailable: ?");
    report.push_str(&format!("load {}{available}\n", read("/proc/loadavg".into())));
    for kind in ["cpu", "memory", "io"] {
        if let Some(some) = read(format!("/proc/pressure/{kind}")).lines().next() {
            report.push_str(&format!("{kind} pressure: {some}\n"));
        }
    }
    report
}

/// Whether process `pid` is alive (not gone, not a zombie).
pub fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_owned)))
        .is_some_and(|state| state != "Z")
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.stop(Signal::SIGINT, Duration::from_secs(10));
    }
}
