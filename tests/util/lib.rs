//! Shared harness of the whole-dataflow tests: real Mosquitto, the real `dora`
//! CLI, the real node binaries, free loopback ports, and guards that stop
//! every process they started (whole process groups, so no node outlives a
//! test).

pub mod assistant;
pub mod certs;
pub mod cluster;
pub mod dataflow;
pub mod http;
pub mod mosquitto;
pub mod mqtt;
pub mod mqtt5;
pub mod node;
pub mod opcua;
pub mod plant_sim;
pub mod ports;
pub mod process;
pub mod replay;
pub mod vision;

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

/// A loopback TCP port nobody listens on, reserved for this test process (see [`ports`]).
pub fn free_port() -> u16 {
    ports::reserve()
}

/// A fresh scratch directory under the target dir (kept for post-mortems).
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = repo_root().join("target").join("test-scratch").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// `text` without terminal colour codes (node logs are coloured).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for end in chars.by_ref() {
                if end.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
