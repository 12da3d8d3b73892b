//! The simulated plant served by `shopfloor sim` (no dora) on a loopback
//! port, for tests of the OPC UA client.

use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::process::ProcessGroup;
use crate::{release_binary, scratch_dir, Scratch};

/// A running simulator; dropping it stops it.
pub struct SimServer {
    process: ProcessGroup,
    /// Holds its log until the simulator is gone.
    _dir: Scratch,
}

impl SimServer {
    /// Stops it with `signal` (`SIGKILL`: as a crash would).
    pub fn stop(&mut self, signal: Signal, grace: Duration) {
        self.process.stop(signal, grace);
    }
}

/// Starts `shopfloor sim` on `port` with a 100 ms tick and `envs` (e.g.
/// `SIM_SECURITY`), logging to a scratch folder named after `scratch`;
/// returns once it listens. It ends by itself after 60 s.
pub fn start(port: u16, envs: &[(&str, String)], scratch: &str) -> anyhow::Result<SimServer> {
    let dir = scratch_dir(scratch);
    let log = dir.join("stderr.log");
    let mut command = Command::new(release_binary("shopfloor")?);
    command
        .args(["sim", "--run-for-secs", "60"])
        .env("SIM_PORT", port.to_string())
        .env("SIM_TICK_MS", "100")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stderr(std::fs::File::create(&log)?);
    let mut process = ProcessGroup::spawn("shopfloor sim", command)?;
    process.wait_listening(port, || std::fs::read_to_string(&log).unwrap_or_default())?;
    Ok(SimServer { process, _dir: dir })
}
