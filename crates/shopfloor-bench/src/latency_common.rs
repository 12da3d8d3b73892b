//! What the nodes of `dataflows/bench-distributed.yml` share: the send-time
//! parameter, the wall clock in nanoseconds, their settings and where each
//! writes its results (`$BENCH_OUT_DIR/<node id>.json`, so one `--env`
//! names the files of every node).

// Each of the three node binaries uses a part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use dora_node_api::{get_integer_param, MetadataParameters, Parameter};

/// The metadata parameter holding a message's send time (wall clock, ns
/// since the Unix epoch; the nodes share one host, so their clocks agree).
pub const SENT_NS: &str = "bench_sent_ns";

/// Readings in one batch (an OPC UA source's sampling of 20 tags).
pub const READINGS_PER_BATCH: usize = 20;

/// The folder every node writes its results into.
pub const OUT_DIR_ENV: &str = "BENCH_OUT_DIR";

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// Adds the send time, taken now, to `parameters`.
pub fn stamp(parameters: &mut MetadataParameters) {
    parameters.insert(SENT_NS.into(), Parameter::Integer(now_ns()));
}

/// The send time of a message, if it has one.
pub fn sent_ns(parameters: &MetadataParameters) -> Option<i64> {
    get_integer_param(parameters, SENT_NS)
}

/// A positive count or rate from the environment, with an error naming the
/// variable.
pub fn env_count(key: &str) -> anyhow::Result<u64> {
    let value = std::env::var(key).map_err(|_| anyhow::anyhow!("{key} is not set"))?;
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| anyhow::anyhow!("{key} has invalid value {value:?} (must be a positive integer)"))
}

/// Where node `node_id` writes its results.
pub fn out_path(node_id: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os(OUT_DIR_ENV).ok_or_else(|| anyhow::anyhow!("{OUT_DIR_ENV} is not set"))?;
    Ok(Path::new(&dir).join(format!("{node_id}.json")))
}

/// Writes `value` to `path` whole or not at all (a temporary file renamed),
/// since the driver reads the file as soon as it appears.
pub fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, value.to_string())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", partial.display()))?;
    std::fs::rename(&partial, path).map_err(|e| anyhow::anyhow!("cannot rename to {}: {e}", path.display()))?;
    Ok(())
}
