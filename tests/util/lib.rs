//! Shared harness of the whole-dataflow tests and the benchmarks: real
//! Mosquitto, the real `dora` CLI, the real node binaries (checked to be
//! newer than their sources), free loopback ports, temporary folders, and
//! guards that stop every process they started (whole process groups, so no
//! node outlives a test).

pub mod assistant;
pub mod browser;
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
pub mod process;
/// Port reservation, shared with the node crates' driver tests.
pub use shopfloor_node::test_ports as ports;
pub mod replay;
pub mod vision;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

/// Copies the sample documents of plant-sim (`data/docs/plant-sim`, both
/// halves) into `to`, for a test or benchmark that edits or adds to them.
pub fn copy_sample_documents(to: &Path) -> anyhow::Result<()> {
    let from = repo_root().join("data/docs/plant-sim");
    for half in ["dev", "heldout"] {
        std::fs::create_dir_all(to.join(half))?;
        for entry in std::fs::read_dir(from.join(half))? {
            let path = entry?.path();
            if let Some(name) = path.file_name() {
                std::fs::copy(&path, to.join(half).join(name))?;
            }
        }
    }
    Ok(())
}

/// A loopback TCP port nobody listens on, reserved for this test process (see [`ports`]).
pub fn free_port() -> u16 {
    ports::reserve()
}

/// A binary of the workspace this test may start.
#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    #[error("{0} is missing: run `cargo build --release --workspace --bins`")]
    Missing(PathBuf),
    #[error("{binary} is older than {source_file}; run `cargo build --release --workspace --bins`")]
    Stale { binary: PathBuf, source_file: PathBuf },
    #[error("cannot read the modification time of {path}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `target/release/<name>`, once it exists and is newer than every source
/// file under the workspace's `crates/` and `nodes/` it was built from (its
/// `.d` file beside it lists them, exactly the files whose change makes
/// cargo relink it): a test of an old binary would pass or fail for code
/// that is no longer there. Without a usable `.d` file every `.rs` and
/// `Cargo.toml` there counts.
pub fn release_binary(name: &str) -> Result<PathBuf, BinaryError> {
    let binary = repo_root().join("target/release").join(name);
    let built = match std::fs::metadata(&binary).and_then(|m| m.modified()) {
        Ok(built) => built,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(BinaryError::Missing(binary)),
        Err(source) => return Err(BinaryError::Unreadable { path: binary, source }),
    };
    let newest = match sources_of(&binary) {
        Some(sources) => newest_of(sources),
        None => newest_source().cloned(),
    };
    match newest {
        Some((changed, source_file)) if changed > built => Err(BinaryError::Stale { binary, source_file }),
        _ => Ok(binary),
    }
}

/// The workspace sources (under `crates/` and `nodes/`) cargo's dep-info
/// file lists for `binary`; `None` when there is no such file or it was
/// written for another checkout. Manifests are left out: cargo relinks on a
/// changed dependency or feature (its fingerprint), not on a touched
/// `Cargo.toml`, so their times would report fresh binaries as stale.
fn sources_of(binary: &Path) -> Option<Vec<PathBuf>> {
    let text = std::fs::read_to_string(binary.with_extension("d")).ok()?;
    let (_, deps) = text.lines().next()?.split_once(": ")?;
    let root = repo_root();
    let (crates, nodes) = (root.join("crates"), root.join("nodes"));
    let files: Vec<PathBuf> = deps
        .split_whitespace()
        .map(PathBuf::from)
        .filter(|path| path.starts_with(&crates) || path.starts_with(&nodes))
        .collect();
    if files.is_empty() {
        return None;
    }
    Some(files)
}

fn newest_of(files: Vec<PathBuf>) -> Option<(SystemTime, PathBuf)> {
    files
        .into_iter()
        .filter_map(|path| std::fs::metadata(&path).and_then(|m| m.modified()).ok().map(|time| (time, path)))
        .max_by_key(|(time, _)| *time)
}

/// Checks every node binary the dataflows in `dataflows/` and the replay
/// harness start, as [`release_binary`] does.
pub fn node_binaries() -> Result<(), BinaryError> {
    const NODES: [&str; 14] = [
        "plant-sim",
        "opcua-source",
        "mqtt-broker",
        "mqtt-source",
        "mqtt-sink",
        "limit-alarms",
        "slm",
        "http-gateway",
        "router",
        "camera-source",
        "defect-filter",
        "vlm-inspector",
        "replayer",
        "recorder",
    ];
    NODES.iter().try_for_each(|name| release_binary(name).map(drop))
}

/// The `shopfloor` operator CLI, checked like [`release_binary`].
pub fn shopfloor() -> Result<std::process::Command, BinaryError> {
    Ok(std::process::Command::new(release_binary("shopfloor")?))
}

/// The newest `.rs` or `Cargo.toml` under `crates/` and `nodes/`, looked up
/// once per test process (the sources do not change while tests run).
fn newest_source() -> Option<&'static (SystemTime, PathBuf)> {
    static NEWEST: OnceLock<Option<(SystemTime, PathBuf)>> = OnceLock::new();
    NEWEST
        .get_or_init(|| {
            let root = repo_root();
            let mut newest = None;
            for dir in ["crates", "nodes"] {
                newest_under(&root.join(dir), &mut newest);
            }
            newest
        })
        .as_ref()
}

fn newest_under(dir: &Path, newest: &mut Option<(SystemTime, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            newest_under(&path, newest);
            continue;
        }
        let source = path.extension().is_some_and(|e| e == "rs") || path.file_name().is_some_and(|n| n == "Cargo.toml");
        if !source {
            continue;
        }
        if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
            if newest.as_ref().is_none_or(|(time, _)| modified > *time) {
                *newest = Some((modified, path));
            }
        }
    }
}

/// A temporary folder under `target/test-scratch`, removed when dropped,
/// except while a test panics: then it stays for the post-mortem and its
/// path is printed.
pub struct Scratch(Option<tempfile::TempDir>);

impl Scratch {
    pub fn path(&self) -> &Path {
        self.0.as_ref().map_or(Path::new(""), tempfile::TempDir::path)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.path()
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

/// Set to keep every test's scratch folder, also of a test that failed by
/// returning an error (only a panic keeps it otherwise).
pub const KEEP_SCRATCH_ENV: &str = "SHOPFLOOR_KEEP_TEST_FILES";

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os(KEEP_SCRATCH_ENV).is_some() {
            if let Some(dir) = self.0.take() {
                eprintln!("files of the failed test kept in {}", dir.keep().display());
            }
        }
    }
}

/// A fresh [`Scratch`] folder named after `name`.
pub fn scratch_dir(name: &str) -> Scratch {
    let parent = repo_root().join("target").join("test-scratch");
    let made = std::fs::create_dir_all(&parent)
        .and_then(|()| tempfile::Builder::new().prefix(&format!("{name}-")).tempdir_in(&parent));
    match made {
        Ok(dir) => Scratch(Some(dir)),
        Err(e) => panic!("cannot create a folder under {}: {e}", parent.display()),
    }
}

/// The messages of a node's log as dora keeps it (`log_<node>.jsonl`: one
/// JSON object per line, the message under `msg`), colours removed.
pub fn node_log_messages(jsonl: &str) -> Vec<String> {
    jsonl
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|entry| entry["msg"].as_str().map(strip_ansi))
        .collect()
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
