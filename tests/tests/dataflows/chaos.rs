//! Chaos over the running plant-assistant dataflow (`dataflows/plant-assistant.yml`,
//! real dora, Mosquitto, plant-sim and models): every node process is killed
//! with SIGKILL in turn while a question is in flight, the OPC UA server
//! (the plant-sim node) several times, and Mosquitto several times. dora's
//! restart policies bring the nodes back; after each kill the assistant must
//! again answer with a value the simulator serves now. What happened to the
//! question in flight, and how long each recovery took, is printed as a table
//! (docs/reliability.md states what is promised; `scripts/chaos.sh` runs
//! this with more kills).
//!
//! `CHAOS_SERVER_KILLS` (default 2) and `CHAOS_BROKER_KILLS` (default 2) set
//! the counts.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use shopfloor_dataflow_tests::assistant::{is_answer_to, question, wait_until_ready};
use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::{free_port, repo_root};

use crate::plant_assistant::{ask_about_temperature, assert_states_a_served_value, base_envs};

/// Every node process of the dataflow that holds state or a connection.
/// `mqtt-broker` idles with an external broker; Mosquitto is killed apart.
const NODES: [&str; 9] = [
    "opcua-source",
    "mqtt-source",
    "router",
    "slm",
    "slm-small",
    "limit-alarms",
    "mqtt-sink",
    "http-gateway",
    "plant-sim",
];
const DATAFLOW_LIMIT: Duration = Duration::from_secs(1500);
const READY_WITHIN: Duration = Duration::from_secs(180);
/// A node restarted by dora and answering again (a model loads, the OPC UA
/// client reconnects with its backoff): generous, the figure is printed.
const RECOVERY_WITHIN: Duration = Duration::from_secs(180);
/// How long after a kill the question in flight then is waited for: the
/// router's deadline (20 s in the dataflow) and some.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(30);
/// Nodes whose death loses the question or answer they hold (documented in
/// docs/reliability.md "When a node dies"); every other kill must leave the
/// question in flight answered. `mqtt-sink` was one until the router held
/// each answer until the sink had journaled it.
const LOSES_IN_FLIGHT: [&str; 0] = [];
/// How long the router may take to have the question in flight in its
/// pending file (it is killed once it does).
const PENDING_WITHIN: Duration = Duration::from_secs(30);

fn count_from_env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The pid of dataflow node `node` among the children of `dora run`
/// (`parent`), read from /proc: its program's file name, and for the two
/// `slm` instances the node id dora hands it in its environment.
fn node_pid(parent: u32, node: &str) -> Option<u32> {
    let binary = if node.starts_with("slm") { "slm" } else { node };
    let entries = std::fs::read_dir("/proc").ok()?;
    entries.filter_map(Result::ok).find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
        let after_comm = stat.rsplit_once(')')?.1;
        let ppid: u32 = after_comm.split_whitespace().nth(1)?.parse().ok()?;
        if ppid != parent {
            return None;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        let program = cmdline.split(|&b| b == 0).next()?;
        let name = std::path::Path::new(std::str::from_utf8(program).ok()?).file_name()?.to_str()?.to_owned();
        if name != binary {
            return None;
        }
        if binary == "slm" {
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            let wanted = format!("node_id: {node}\n");
            if !environ.windows(wanted.len()).any(|w| w == wanted.as_bytes()) {
                return None;
            }
        }
        Some(pid)
    })
}

/// Waits until `node` runs under a pid other than `old`.
fn wait_restarted(parent: u32, node: &str, old: u32, within: Duration) -> anyhow::Result<u32> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(pid) = node_pid(parent, node).filter(|&pid| pid != old) {
            return Ok(pid);
        }
        anyhow::ensure!(Instant::now() < deadline, "{node} was not restarted within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asks until an answer states a temperature the simulator serves now; the
/// time it took.
fn wait_answering(client: &TestClient, root: &str, endpoint: &str, tag: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let deadline = started + RECOVERY_WITHIN;
    for attempt in 0.. {
        anyhow::ensure!(Instant::now() < deadline, "no answer from live data within {RECOVERY_WITHIN:?} after {tag}");
        let id = format!("after-{tag}-{attempt}");
        // Fails while the simulator is down, and while answers lack a served value.
        if let Ok((answer, served)) =
            ask_about_temperature(client, root, endpoint, &id, "What is the spindle temperature?")
        {
            let text = answer.json["answer"].as_str().unwrap_or_default();
            if answer.json["error"].is_null() && served.iter().any(|value| text.contains(value.as_str())) {
                assert_states_a_served_value(&answer, &served);
                return Ok(started.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    unreachable!("the loop only ends by returning")
}

/// What became of the question asked just before a kill, as the watching
/// client saw it (answers to it within `within`).
fn in_flight_fate(watcher: &TestClient, id: &str, within: Duration) -> &'static str {
    let first = watcher.wait_for(within, |m| is_answer_to(m, id));
    match first {
        None => "lost",
        Some(answer) if !answer.json["error"].is_null() => "answered with an error",
        Some(_) => {
            if watcher.wait_for(Duration::from_secs(2), |m| is_answer_to(m, id)).is_some() {
                "answered twice"
            } else {
                "answered"
            }
        }
    }
}

#[test]
fn every_part_killed_in_turn_comes_back_and_the_assistant_answers_again() -> anyhow::Result<()> {
    let server_kills = count_from_env("CHAOS_SERVER_KILLS", 2);
    let broker_kills = count_from_env("CHAOS_BROKER_KILLS", 2);
    let mut broker = Mosquitto::start_persistent()?;
    let sim_port = free_port();
    let root = format!("chaos{}/assembly/cell1", std::process::id());
    let endpoint = format!("opc.tcp://127.0.0.1:{sim_port}/");
    let mut envs = base_envs(sim_port, &root);
    envs.push(("MQTT_BROKER_URL", broker.url()));
    let audit = shopfloor_dataflow_tests::scratch_dir("chaos-audit");
    envs.push(("ROUTER_AUDIT_DIR", audit.path().display().to_string()));
    // The sink's outbox of its own, so no earlier run's leftovers are sent.
    let outbox = shopfloor_dataflow_tests::scratch_dir("chaos-outbox");
    envs.push(("OUTBOX_DIR", outbox.path().display().to_string()));
    let pending = shopfloor_dataflow_tests::scratch_dir("chaos-pending");
    let pending_file = pending.path().join("pending.arrow");
    envs.push(("ROUTER_PENDING_FILE", pending_file.display().to_string()));
    let mut dataflow =
        RunningDataflow::start_file(&repo_root().join("dataflows/plant-assistant.yml"), &envs, DATAFLOW_LIMIT)?;
    let dora = dataflow.pid();
    let client = TestClient::connect_persistent(broker.port, &[format!("{root}/assistant/answer/#")])?;
    // Sees the answers to the questions in flight while `client` asks others.
    let watcher =
        TestClient::connect_persistent_named(broker.port, &[format!("{root}/assistant/answer/alice")], "watcher")?;
    // Sees the answer to the question asked while the router is dead (its
    // own operator, so neither watcher passes over the other's answers).
    let bob_watcher =
        TestClient::connect_persistent_named(broker.port, &[format!("{root}/assistant/answer/bob")], "bob-watcher")?;
    wait_until_ready(&client, &root, &mut dataflow, READY_WITHIN)?;

    let mut table = vec!["| killed | restarted after | answering again after | question in flight |".to_owned()];
    table.push("|---|---|---|---|".to_owned());
    let mut kills: Vec<(String, &str)> = NODES.iter().map(|node| ((*node).to_owned(), *node)).collect();
    kills.extend((2..=server_kills).map(|n| (format!("plant-sim (OPC UA server) #{n}"), "plant-sim")));
    for (label, node) in kills {
        let old =
            node_pid(dora, node).ok_or_else(|| anyhow::anyhow!("{node} is not running:\n{}", dataflow.log_text()))?;
        let in_flight = format!("in-flight-{node}-{}", table.len());
        client.publish(
            &format!("{root}/assistant/query/alice"),
            question(&in_flight, "What is the spindle temperature?"),
        )?;
        if node == "router" {
            // Killed with the question among its pending ones (a question
            // still on its way to a dead router is dropped by dora).
            let deadline = Instant::now() + PENDING_WITHIN;
            while !pending_file.exists() {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "the router kept no pending question within {PENDING_WITHIN:?}"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let killed_at = Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(old as i32), Signal::SIGKILL)?;
        // Asked while the router is dead (dora restarts it after 1 s): dora
        // drops the copy sent now; mqtt-source sends it again until the
        // restarted router accepts it.
        let while_dead = (node == "router").then(|| format!("while-router-dead-{}", table.len()));
        if let Some(id) = &while_dead {
            client.publish(&format!("{root}/assistant/query/bob"), question(id, "What is the spindle temperature?"))?;
        }
        wait_restarted(dora, node, old, RECOVERY_WITHIN)?;
        let restarted = killed_at.elapsed();
        wait_answering(&client, &root, &endpoint, node)?;
        let answering = killed_at.elapsed();
        let fate = in_flight_fate(&watcher, &in_flight, IN_FLIGHT_WAIT.saturating_sub(killed_at.elapsed()));
        table.push(format!(
            "| {label} | {:.1} s | {:.1} s | {fate} |",
            restarted.as_secs_f64(),
            answering.as_secs_f64()
        ));
        eprintln!("chaos: {}", table[table.len() - 1]);
        if let Some(id) = while_dead {
            let fate = in_flight_fate(&bob_watcher, &id, IN_FLIGHT_WAIT.saturating_sub(killed_at.elapsed()));
            table.push(format!("| {label}: a question asked while it was dead | | | {fate} |"));
            eprintln!("chaos: {}", table[table.len() - 1]);
            anyhow::ensure!(fate == "answered", "a question asked while the router was dead: {fate}");
        }
        anyhow::ensure!(
            dataflow.is_running(),
            "the dataflow stopped after {label} was killed:\n{}",
            dataflow.log_text()
        );
        anyhow::ensure!(
            LOSES_IN_FLIGHT.contains(&node) || fate.starts_with("answered"),
            "the question in flight when {label} was killed: {fate}"
        );
    }

    // Mosquitto dies with a question waiting in the asker's client: it is
    // sent when the broker is back, and answered.
    for n in 1..=broker_kills {
        let killed_at = Instant::now();
        broker.stop(Signal::SIGKILL);
        let asked = format!("during-broker-outage-{n}");
        client
            .publish(&format!("{root}/assistant/query/alice"), question(&asked, "What is the spindle temperature?"))?;
        std::thread::sleep(Duration::from_secs(2));
        broker.restart()?;
        wait_answering(&client, &root, &endpoint, &format!("broker-{n}"))?;
        let answering = killed_at.elapsed();
        let fate = in_flight_fate(&watcher, &asked, IN_FLIGHT_WAIT.saturating_sub(killed_at.elapsed()));
        table.push(format!("| Mosquitto #{n} (down 2 s) | {:.1} s | {:.1} s | {fate} |", 2.0, answering.as_secs_f64()));
        eprintln!("chaos: {}", table[table.len() - 1]);
        anyhow::ensure!(fate.starts_with("answered"), "a question asked while the broker was down: {fate}");
    }
    eprintln!("{}", table.join("\n"));

    let (success, leftovers) = dataflow.stop();
    assert!(success, "dora run did not exit successfully after Ctrl-C");
    assert!(leftovers.is_empty(), "processes left running: {leftovers:?}");
    Ok(())
}
