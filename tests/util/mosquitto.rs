//! A real Mosquitto broker on a free loopback port.

use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::process::ProcessGroup;
use crate::{free_port, scratch_dir, Scratch};

/// A running broker; dropping it stops it.
pub struct Mosquitto {
    /// Loopback port it listens on.
    pub port: u16,
    config: std::path::PathBuf,
    process: Option<ProcessGroup>,
    /// Its configuration, persistence and TLS files.
    dirs: Vec<Scratch>,
}

impl Mosquitto {
    /// Starts `mosquitto` (Debian package) with a config of our own: loopback
    /// only, anonymous clients, TCP no-delay, no persistence file.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with("persistence false\nallow_anonymous true\n")
    }

    /// Like [`start`](Self::start), with persistence to a file saved every
    /// second, so that persistent sessions survive a restart (even a kill,
    /// up to the last second), as a plant's broker would be set up.
    pub fn start_persistent() -> anyhow::Result<Self> {
        Self::start_with("persistence true\nautosave_interval 1\nallow_anonymous true\n")
    }

    /// A broker with a TLS listener (the given PEM certificate and key) that
    /// requires a user name and password (`users`: name and password).
    pub fn start_tls(cert_pem: &str, key_pem: &str, users: &[(&str, &str)]) -> anyhow::Result<Self> {
        let files = scratch_dir("mosquitto-tls-files");
        let scratch = files.to_path_buf();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&scratch, std::fs::Permissions::from_mode(0o777))?;
        let (cert, key, passwords) =
            (scratch.join("server.pem"), scratch.join("server.key"), scratch.join("passwords"));
        std::fs::write(&cert, cert_pem)?;
        std::fs::write(&key, key_pem)?;
        std::fs::write(&passwords, "")?;
        for (user, password) in users {
            let status = Command::new("mosquitto_passwd").arg("-b").arg(&passwords).arg(user).arg(password).status()?;
            anyhow::ensure!(status.success(), "mosquitto_passwd failed");
        }
        for file in [&cert, &key, &passwords] {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644))?;
        }
        let mut broker = Self::start_with(&format!(
            "persistence false\nallow_anonymous false\npassword_file {}\ncertfile {}\nkeyfile {}\n",
            passwords.display(),
            cert.display(),
            key.display()
        ))?;
        broker.dirs.push(files);
        Ok(broker)
    }

    fn start_with(extra: &str) -> anyhow::Result<Self> {
        let port = free_port();
        let dir = scratch_dir(&format!("mosquitto-{port}"));
        // Started as root, Mosquitto switches to user `mosquitto`, which must
        // be able to write its persistence file here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nset_tcp_nodelay true\n\
                 log_dest stderr\npersistence_location {}/\n{extra}",
                dir.display()
            ),
        )?;
        let mut broker = Self { port, config, process: None, dirs: vec![dir] };
        broker.restart()?;
        Ok(broker)
    }

    /// Starts the broker again on the same port with the same files.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new(mosquitto_binary());
        command.arg("-c").arg(&self.config).stdout(Stdio::null()).stderr(Stdio::null());
        let mut process = ProcessGroup::spawn("mosquitto", command)
            .map_err(|e| anyhow::anyhow!("cannot start mosquitto (apt package `mosquitto`): {e}"))?;
        // TLS listeners accept TCP too, so a plain connect shows it is up.
        process.wait_listening(self.port, || {
            "(mosquitto logs nothing here; run it by hand with the test's config)".into()
        })?;
        self.process = Some(process);
        Ok(())
    }

    /// Stops the broker with `signal` (`TERM`: a clean stop that saves its
    /// state; `KILL`: a crash).
    pub fn stop(&mut self, signal: Signal) {
        if let Some(mut process) = self.process.take() {
            process.stop(signal, Duration::from_secs(5));
        }
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
