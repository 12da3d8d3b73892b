//! A real Mosquitto broker on a free loopback port.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::ProcessGroup;
use crate::{free_port, scratch_dir};

/// A running broker; dropping it stops it.
pub struct Mosquitto {
    /// Loopback port it listens on.
    pub port: u16,
    _process: ProcessGroup,
}

impl Mosquitto {
    /// Starts `mosquitto` (Debian package) with a config of our own: loopback
    /// only, anonymous clients, TCP no-delay, no persistence file.
    pub fn start() -> anyhow::Result<Self> {
        let port = free_port();
        let dir = scratch_dir(&format!("mosquitto-{port}"));
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n\
                 persistence false\nlog_dest stderr\n"
            ),
        )?;
        let mut command = Command::new(mosquitto_binary());
        command.arg("-c").arg(&config).stdout(Stdio::null()).stderr(Stdio::null());
        let process = ProcessGroup::spawn("mosquitto", command)
            .map_err(|e| anyhow::anyhow!("cannot start mosquitto (apt package `mosquitto`): {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            anyhow::ensure!(Instant::now() < deadline, "mosquitto did not listen on port {port} within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self { port, _process: process })
    }

    /// URL for `MQTT_BROKER_URL`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

fn mosquitto_binary() -> &'static str {
    // Debian installs the broker in /usr/sbin, which is not on every PATH.
    if std::path::Path::new("/usr/sbin/mosquitto").exists() {
        "/usr/sbin/mosquitto"
    } else {
        "mosquitto"
    }
}
