//! The `plant-sim` binary, standalone on a loopback port, for tests of the
//! OPC UA client binary.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::ProcessGroup;
use crate::{repo_root, scratch_dir};

/// Starts `plant-sim` on `port` with a 100 ms tick and `envs` (e.g.
/// `SIM_SECURITY`), logging to `<scratch>/stderr.log`; returns once it
/// listens. It ends by itself after 60 s.
pub fn start(port: u16, envs: &[(&str, String)], scratch: &str) -> anyhow::Result<ProcessGroup> {
    let log = scratch_dir(scratch).join("stderr.log");
    let mut command = Command::new(repo_root().join("target/release/plant-sim"));
    command
        .args(["--standalone", "--run-for-secs", "60"])
        .env("SIM_PORT", port.to_string())
        .env("SIM_TICK_MS", "100")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stderr(std::fs::File::create(log)?);
    let simulator = ProcessGroup::spawn("plant-sim", command)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "plant-sim did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(simulator)
}
