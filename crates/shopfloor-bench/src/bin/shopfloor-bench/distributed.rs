//! Multi-machine benchmark: what crossing from one dora daemon to another
//! costs a message, against staying in one daemon, in one run of
//! `dataflows/bench-distributed.yml` on a local two-machine cluster
//! (`gateway`, `edge-server`: a coordinator and two daemons on loopback,
//! linked by zenoh over TCP). Reading batches and camera frames from the
//! gateway are timed from send to receive by a probe on each daemon, and a
//! question's round trip to an echo node on each daemon (the escalation path
//! router → tier → router without the model) is timed by the sender. Prints a
//! markdown section; `scripts/bench.sh` appends it to docs/benchmarks.md.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use shopfloor_dataflow_tests::cluster::LocalCluster;
use shopfloor_dataflow_tests::{release_binary, repo_root, scratch_dir};

const MACHINES: [(&str, &str); 2] = [("gateway", ""), ("edge-server", "")];
const DATAFLOW: &str = "dataflows/bench-distributed.yml";
const DATAFLOW_NAME: &str = "bench-distributed";
/// Node ids of the YAML, in the table's order.
const SOURCE: &str = "source";
const PROBES: [(&str, &str); 2] = [("in-daemon", "probe-in-daemon"), ("cross-daemon", "probe-cross-daemon")];
const ROUND_TRIPS: [(&str, &str); 2] = [("in-daemon", "in_daemon"), ("cross-daemon", "cross_daemon")];
/// The run takes about 40 s (30 s of streams, then the round trips).
const RESULTS_WITHIN: Duration = Duration::from_secs(180);

pub fn run() -> anyhow::Result<()> {
    let root = repo_root();
    // The dataflow's nodes are subcommands of this binary.
    release_binary("shopfloor-bench")?;
    let out = scratch_dir("bench-distributed");
    let mut cluster = LocalCluster::start("bench-distributed", &MACHINES)?;
    start(&mut cluster, &root.join(DATAFLOW), &out)?;
    let mut nodes = vec![SOURCE];
    nodes.extend(PROBES.iter().map(|(_, node)| *node));
    let results = wait_for_results(&out, &nodes, RESULTS_WITHIN).map_err(|e| {
        let list = cluster.dora_output(&["list"]).unwrap_or_else(|e| e.to_string());
        anyhow::anyhow!(
            "{e}\n`dora list`:\n{list}\nnode logs: {}/_work/, cluster logs: {}",
            root.display(),
            cluster.log_dir.display()
        )
    })?;
    drop(cluster);
    report(&results[0], &results[1..])
}

/// Starts the benchmark dataflow. Once here (dora 1.1, two cores under
/// load), `dora start` failed with "WS connection closed" just after both
/// daemons had registered, and no dataflow had started; so a failed start
/// is tried once more, unless the coordinator lists the dataflow (then the
/// start went through and only its reply was lost).
fn start(cluster: &mut LocalCluster, file: &Path, out: &Path) -> anyhow::Result<()> {
    let envs = [("BENCH_OUT_DIR", out.display().to_string())];
    let Err(first) = cluster.start_dataflow(file, DATAFLOW_NAME, &envs) else { return Ok(()) };
    eprintln!("`dora start` failed: {first:#}");
    std::thread::sleep(Duration::from_secs(2));
    if cluster.dora_output(&["list"])?.contains(DATAFLOW_NAME) {
        eprintln!("the dataflow runs all the same");
        return Ok(());
    }
    eprintln!("trying once more");
    Ok(cluster.start_dataflow(file, DATAFLOW_NAME, &envs)?)
}

/// Waits until every node in `nodes` has written `<dir>/<node>.json`.
fn wait_for_results(dir: &Path, nodes: &[&str], timeout: Duration) -> anyhow::Result<Vec<Value>> {
    let deadline = Instant::now() + timeout;
    loop {
        let missing: Vec<&str> = nodes.iter().copied().filter(|n| !dir.join(format!("{n}.json")).exists()).collect();
        if missing.is_empty() {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no results from {missing:?} in {} within {timeout:?}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    nodes
        .iter()
        .map(|n| {
            let path = dir.join(format!("{n}.json"));
            let text =
                std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", path.display()))
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    shopfloor_node::stats::percentile_of_sorted(sorted, p).unwrap_or(f64::NAN)
}

/// Sorted milliseconds from a JSON array of nanoseconds.
fn sorted_ms(values: &Value) -> Vec<f64> {
    let mut ms: Vec<f64> =
        values.as_array().into_iter().flatten().filter_map(Value::as_f64).map(|ns| ns / 1e6).collect();
    ms.sort_by(f64::total_cmp);
    ms
}

fn number(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}

fn report(source: &Value, probes: &[Value]) -> anyhow::Result<()> {
    let readings = &source["readings"];
    let frames = &source["frames"];
    let (reading_calls, frame_calls) = (sorted_ms(&readings["send_call_ns"]), sorted_ms(&frames["send_call_ns"]));
    anyhow::ensure!(!reading_calls.is_empty() && !frame_calls.is_empty(), "the source sent nothing");
    println!(
        "### Distributed: cross-daemon vs in-daemon latency (`shopfloor-bench distributed`, two daemons on one host)"
    );
    println!();
    println!(
        "One run of `{DATAFLOW}`: the source on `gateway` sends {} batches of {} readings ({} B of data each) at {} Hz \
         and {} frames ({}x{} rgb8, {} B each) at {} Hz, each between two batches; a probe on `gateway` (same daemon) and one on `edge-server` \
         (the other daemon: zenoh over loopback TCP) take each message's arrival time less its send time (wall clock, one host). \
         Inputs `backpressure`, queue_size 100. Milliseconds; they include the source's `send_output` call, which \
         took p50 {:.3} / p95 {:.3} ms for a reading batch and p50 {:.3} / p95 {:.3} ms for a frame.",
        number(&readings["sent"]),
        number(&readings["per_batch"]),
        number(&readings["bytes"]),
        number(&readings["hz"]),
        number(&frames["sent"]),
        number(&frames["width"]),
        number(&frames["height"]),
        number(&frames["bytes"]),
        number(&frames["hz"]),
        percentile(&reading_calls, 0.5),
        percentile(&reading_calls, 0.95),
        percentile(&frame_calls, 0.5),
        percentile(&frame_calls, 0.95),
    );
    println!();
    println!("| kind | path | received / sent | p50 | p95 | p99 | max |");
    println!("|---|---|---|---|---|---|---|");
    for kind in ["readings", "frames"] {
        for ((path, _), probe) in PROBES.iter().zip(probes) {
            let received = &probe[kind];
            let ms = sorted_ms(&received["latencies_ns"]);
            anyhow::ensure!(!ms.is_empty(), "the {path} probe received no {kind}");
            let malformed = number(&received["malformed"]);
            let malformed = if malformed > 0 { format!(" ({malformed} malformed)") } else { String::new() };
            println!(
                "| {kind} | {path} | {} / {}{malformed} | {:.3} | {:.3} | {:.3} | {:.3} |",
                number(&received["messages"]),
                number(&source[kind]["sent"]),
                percentile(&ms, 0.5),
                percentile(&ms, 0.95),
                percentile(&ms, 0.99),
                ms.last().copied().unwrap_or(0.0),
            );
        }
    }
    println!();
    let trips = &source["round_trips"];
    println!(
        "Escalation: after the streams, a question ({} B of data) to an echo node that answers at once with a \
         tier-sized answer ({} B), on the same daemon and on the other one, alternating, one at a time, {} each \
         (round trip timed by the sender, monotonic clock). Milliseconds.",
        number(&source["question_bytes"]),
        number(&trips["cross_daemon"]["answer_bytes"]),
        number(&trips["in_daemon"]["sent"]),
    );
    println!();
    println!("| question → answer round trip | answered / asked | p50 | p95 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    let mut medians = Vec::new();
    for (label, key) in ROUND_TRIPS {
        let trip = &trips[key];
        let ms = sorted_ms(&trip["rtt_ns"]);
        anyhow::ensure!(!ms.is_empty(), "no {label} round trip was answered");
        println!(
            "| {label} | {} / {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            ms.len(),
            number(&trip["sent"]),
            percentile(&ms, 0.5),
            percentile(&ms, 0.95),
            percentile(&ms, 0.99),
            ms.last().copied().unwrap_or(0.0),
        );
        medians.push((percentile(&ms, 0.5), percentile(&ms, 0.95)));
    }
    let (same, other) = (medians[0], medians[1]);
    println!(
        "| escalation cost (cross-daemon − in-daemon) | | {:+.3} | {:+.3} | | |",
        other.0 - same.0,
        other.1 - same.1
    );
    Ok(())
}
