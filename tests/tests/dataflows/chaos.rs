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
//! Alerts are raised throughout: a copy of the dataflow gives `limit-alarms`
//! a limit on the spindle speed, which the drive's regulation crosses every
//! few seconds while roughing. At the end every alert `limit-alarms` logged
//! as raised must have arrived on MQTT (counted by id; repeats are counted
//! too).
//!
//! `CHAOS_SERVER_KILLS` (default 2) and `CHAOS_BROKER_KILLS` (default 2) set
//! the counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
/// The shipped limit and one on the spindle speed: the drive regulates
/// 11980..12020 rpm in 10 rpm steps while roughing (half of each two-minute
/// cycle), so alerts (warning, critical, back inside) come every few seconds.
const ALARM_LIMITS: &str = "spindle_temperature=80, spindle_speed=12005";
/// How long after the last kill every raised alert may take to arrive (the
/// sink's outbox drains after Mosquitto's return, `limit-alarms` resends).
const ALERTS_WITHIN: Duration = Duration::from_secs(60);

/// Sets the soft file-size limit of process `pid` (`prlimit`, util-linux):
/// `0` refuses every write to a regular file, `unlimited` lifts it.
fn set_file_size_limit(pid: u32, limit: &str) -> anyhow::Result<()> {
    let status =
        std::process::Command::new("prlimit").arg(format!("--pid={pid}")).arg(format!("--fsize={limit}:")).status()?;
    anyhow::ensure!(status.success(), "prlimit --pid={pid} --fsize={limit}: failed: {status}");
    Ok(())
}

/// `dataflows/plant-assistant.yml` with [`ALARM_LIMITS`], written beside it
/// (its paths are relative to its folder; a node's `env:` wins over `dora run
/// --env`); removed when dropped.
struct DataflowCopy(PathBuf);

impl DataflowCopy {
    fn with_alarm_limits() -> anyhow::Result<Self> {
        let original = repo_root().join("dataflows/plant-assistant.yml");
        let shipped = "ALARMS_HIGH_LIMITS: spindle_temperature=80\n";
        let text = std::fs::read_to_string(&original)?;
        anyhow::ensure!(text.contains(shipped), "{} no longer sets {shipped:?}", original.display());
        let copy = repo_root().join(format!("dataflows/.chaos-{}.yml", std::process::id()));
        std::fs::write(&copy, text.replace(shipped, &format!("ALARMS_HIGH_LIMITS: {ALARM_LIMITS}\n")))?;
        Ok(Self(copy))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for DataflowCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An alert as raised (from `limit-alarms`' log) or as it arrived on MQTT.
#[derive(Debug, Clone, PartialEq)]
struct AlertSeen {
    tag: String,
    ts_ms: i64,
    /// `info` for a value back inside; a raise otherwise.
    severity: String,
}

impl AlertSeen {
    /// From its id, `limit-<tag>-<ts_ms>`.
    fn from_id(id: &str, severity: &str) -> Option<Self> {
        let (tag, ts) = id.strip_prefix("limit-")?.rsplit_once('-')?;
        Some(Self { tag: tag.to_owned(), ts_ms: ts.parse().ok()?, severity: severity.to_owned() })
    }

    fn is_clear(&self) -> bool {
        self.severity == "info"
    }
}

/// Every alert `node` logged as raised in this run, all its processes
/// (`alert id=… severity=…`): id and severity.
fn alerts_logged(dataflow: &RunningDataflow, node: &str) -> BTreeMap<String, String> {
    dataflow
        .node_log(node)
        .lines()
        .filter_map(|line| {
            let fields = line.split_once(" alert id=")?.1;
            let id = fields.split_whitespace().next()?;
            let severity = fields.split_once("severity=")?.1.split_whitespace().next()?;
            Some((id.to_owned(), severity.to_owned()))
        })
        .collect()
}

/// Every alert `limit-alarms` raised in this run, by id.
fn alerts_raised(dataflow: &RunningDataflow) -> BTreeMap<String, AlertSeen> {
    alerts_logged(dataflow, "limit-alarms")
        .into_iter()
        .filter_map(|(id, severity)| Some((id.clone(), AlertSeen::from_id(&id, &severity)?)))
        .collect()
}

/// Takes what arrived on the alert watcher within `within` into `arrived`
/// (id: the alert and how many times it came).
fn take_alerts(watcher: &TestClient, arrived: &mut BTreeMap<String, (AlertSeen, usize)>, within: Duration) {
    watcher.wait_for(within, |message| {
        let (Some(id), Some(severity)) = (message.json["id"].as_str(), message.json["severity"].as_str()) else {
            return false;
        };
        if let Some(seen) = AlertSeen::from_id(id, severity) {
            arrived.entry(id.to_owned()).or_insert((seen, 0)).1 += 1;
        }
        false
    });
}

/// A raised alert that never arrived, but whose excursion did: `limit-alarms`
/// was killed after raising it and before sending it or keeping its state,
/// and the restarted node raised the same change again under a new id (the
/// next alert of its tag that arrived is of the same kind, raise or clear).
fn raised_again(missing: &AlertSeen, arrived: &BTreeMap<String, (AlertSeen, usize)>) -> bool {
    arrived
        .values()
        .map(|(seen, _)| seen)
        .filter(|seen| seen.tag == missing.tag && seen.ts_ms > missing.ts_ms)
        .min_by_key(|seen| seen.ts_ms)
        .is_some_and(|next| next.is_clear() == missing.is_clear())
}

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
    let dataflow_file = DataflowCopy::with_alarm_limits()?;
    let mut dataflow = RunningDataflow::start_file(dataflow_file.path(), &envs, DATAFLOW_LIMIT)?;
    let dora = dataflow.pid();
    let client = TestClient::connect_persistent(broker.port, &[format!("{root}/assistant/answer/#")])?;
    // Sees the answers to the questions in flight while `client` asks others.
    let watcher =
        TestClient::connect_persistent_named(broker.port, &[format!("{root}/assistant/answer/alice")], "watcher")?;
    // Sees the answer to the question asked while the router is dead (its
    // own operator, so neither watcher passes over the other's answers).
    let bob_watcher =
        TestClient::connect_persistent_named(broker.port, &[format!("{root}/assistant/answer/bob")], "bob-watcher")?;
    // Every alert, whichever station or severity.
    let alert_watcher =
        TestClient::connect_persistent_named(broker.port, &[format!("{root}/alerts/#")], "alert-watcher")?;
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
        // Refused while mqtt-sink is dead: dora drops the refusal sent now;
        // mqtt-source sends it again until the restarted sink journals it.
        let refused_while_dead = (node == "mqtt-sink").then(|| format!("refused-while-sink-dead-{}", table.len()));
        if let Some(id) = &refused_while_dead {
            let not_a_question = serde_json::json!({ "id": id, "question": 123 }).to_string();
            client.publish(&format!("{root}/assistant/query/bob"), not_a_question)?;
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
        if let Some(id) = refused_while_dead {
            let fate = in_flight_fate(&bob_watcher, &id, IN_FLIGHT_WAIT.saturating_sub(killed_at.elapsed()));
            table.push(format!("| {label}: a bad question refused while it was dead | | | {fate} |"));
            eprintln!("chaos: {}", table[table.len() - 1]);
            anyhow::ensure!(fate == "answered with an error", "a question refused while mqtt-sink was dead: {fate}");
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
    // The outbox's disk full: the sink may write no byte more to any file
    // (its file-size limit set to 0 from outside, as a quota or a full disk
    // would refuse). Answers and alerts go on through its memory.
    let sink = node_pid(dora, "mqtt-sink").ok_or_else(|| anyhow::anyhow!("mqtt-sink is not running"))?;
    let full_at = Instant::now();
    set_file_size_limit(sink, "0")?;
    let answering = wait_answering(&client, &root, &endpoint, "outbox-disk-full");
    let mut arrived = BTreeMap::new();
    let raised_before = alerts_raised(&dataflow).len();
    let deadline = Instant::now() + RECOVERY_WITHIN;
    while alerts_raised(&dataflow).len() < raised_before + 3 && Instant::now() < deadline {
        take_alerts(&alert_watcher, &mut arrived, Duration::from_secs(1));
    }
    set_file_size_limit(sink, "unlimited")?;
    let answering = answering?;
    anyhow::ensure!(
        dataflow.node_log("mqtt-sink").contains("cannot write the outbox journal"),
        "the sink never met the full disk"
    );
    anyhow::ensure!(node_pid(dora, "mqtt-sink") == Some(sink), "mqtt-sink died of the full disk");
    table.push(format!(
        "| outbox disk full (file-size limit 0 for {:.1} s) | – | {:.1} s | |",
        full_at.elapsed().as_secs_f64(),
        answering.as_secs_f64()
    ));
    eprintln!("chaos: {}", table[table.len() - 1]);
    eprintln!("{}", table.join("\n"));

    // Every alert raised across the kills arrived at least once.
    let deadline = Instant::now() + ALERTS_WITHIN;
    let (raised, missing) = loop {
        take_alerts(&alert_watcher, &mut arrived, Duration::from_secs(1));
        let raised = alerts_raised(&dataflow);
        let missing: Vec<(String, AlertSeen)> =
            raised.iter().filter(|(id, _)| !arrived.contains_key(*id)).map(|(id, s)| (id.clone(), s.clone())).collect();
        if missing.is_empty() || Instant::now() >= deadline {
            break (raised, missing);
        }
    };
    let (again, lost): (Vec<_>, Vec<_>) = missing.into_iter().partition(|(_, seen)| raised_again(seen, &arrived));
    let repeats: usize = arrived.values().map(|(_, times)| times - 1).sum();
    eprintln!(
        "chaos: alerts raised {}, arrived {} ({} more than once, {repeats} repeats), raised again after a kill {}, lost {}",
        raised.len(),
        raised.keys().filter(|id| arrived.contains_key(*id)).count(),
        arrived.values().filter(|(_, times)| *times > 1).count(),
        again.len(),
        lost.len()
    );
    anyhow::ensure!(
        raised.len() >= 10,
        "only {} alerts were raised: the spindle-speed limit no longer fires",
        raised.len()
    );
    anyhow::ensure!(lost.is_empty(), "alerts raised and never delivered: {lost:?}");

    let (success, leftovers) = dataflow.stop();
    assert!(success, "dora run did not exit successfully after Ctrl-C");
    assert!(leftovers.is_empty(), "processes left running: {leftovers:?}");
    Ok(())
}

/// The nodes of `dataflows/vision-inspection.yml` on an alert's way (the
/// embedded broker idles with Mosquitto, which is killed apart).
const VISION_NODES: [&str; 5] = ["camera-source", "defect-filter", "vlm-inspector", "mqtt-sink", "http-gateway"];
/// The filter learns its good parts, the camera starts: the first alert.
const FIRST_ALERT_WITHIN: Duration = Duration::from_secs(180);
/// New alerts after a kill (fresh frames through the restarted node).
const ALERTS_AGAIN_AFTER: usize = 3;

/// Waits for `count` alerts not seen before, recording every arrival in
/// `arrived` (id: times); the time it took.
fn wait_new_alerts(
    watcher: &TestClient,
    arrived: &mut BTreeMap<String, usize>,
    count: usize,
    within: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut new = 0;
    while new < count {
        anyhow::ensure!(started.elapsed() < within, "only {new} new alerts within {within:?}");
        watcher.wait_for(Duration::from_millis(200), |message| {
            if let Some(id) = message.json["id"].as_str() {
                let times = arrived.entry(id.to_owned()).or_insert(0);
                *times += 1;
                if *times == 1 {
                    new += 1;
                }
            }
            false
        });
    }
    Ok(started.elapsed())
}

/// The vision dataflow (camera, filter, inspector, sink, console; no
/// vision-language model, so every flagged frame is alerted at once) with
/// defective parts looping at 5 Hz: each node killed in turn, then Mosquitto
/// twice. Every alert `vlm-inspector` raised must arrive on MQTT: frames in a
/// killed node's inputs are lost (no alert raised), alerts never.
#[test]
fn every_vision_node_killed_in_turn_loses_no_alert() -> anyhow::Result<()> {
    use part_images::DefectKind;
    use shopfloor_dataflow_tests::vision::{defective, good_parts, write_part};

    let broker_kills = count_from_env("CHAOS_BROKER_KILLS", 2);
    let scratch = shopfloor_dataflow_tests::scratch_dir("chaos-vision");
    let good = good_parts(&scratch.join("good"), 16, 100)?;
    let frames = scratch.join("frames");
    std::fs::create_dir_all(&frames)?;
    for n in 0..4u64 {
        write_part(&frames.join(format!("{n:02}-scratch.png")), &defective(300 + n, DefectKind::Scratch))?;
    }
    let mut broker = Mosquitto::start_persistent()?;
    let root = format!("chaos{}/vision/cell1", std::process::id());
    let envs = vec![
        ("MQTT_BROKER_URL", broker.url()),
        ("MQTT_TOPIC_ROOT", root.clone()),
        ("CAMERA_DIR", frames.display().to_string()),
        ("CAMERA_RATE_HZ", "5".to_owned()),
        ("CAMERA_LOOP", "true".to_owned()),
        ("FILTER_GOOD_DIR", good.display().to_string()),
        ("VLM_CROPS_DIR", scratch.join("crops").display().to_string()),
        ("OUTBOX_DIR", scratch.join("outbox").display().to_string()),
        ("GATEWAY_LISTEN", format!("127.0.0.1:{}", free_port())),
        ("GATEWAY_CONSOLE_JOURNAL", scratch.join("alarms.jsonl").display().to_string()),
    ];
    let watcher =
        TestClient::connect_persistent_named(broker.port, &[format!("{root}/alerts/#")], "vision-alert-watcher")?;
    // The console's alarm events (each alert raises an alarm there).
    let event_watcher =
        TestClient::connect_persistent_named(broker.port, &[format!("{root}/alarms/#")], "vision-event-watcher")?;
    let dataflow = RunningDataflow::start("vision-inspection.yml", &envs, DATAFLOW_LIMIT)?;
    let dora = dataflow.pid();
    let mut arrived = BTreeMap::new();
    wait_new_alerts(&watcher, &mut arrived, 1, FIRST_ALERT_WITHIN)
        .map_err(|e| anyhow::anyhow!("{e}:\n{}", dataflow.log_text()))?;

    let mut table = vec!["| killed | restarted after | alerting again after |".to_owned(), "|---|---|---|".to_owned()];
    for node in VISION_NODES {
        let old =
            node_pid(dora, node).ok_or_else(|| anyhow::anyhow!("{node} is not running:\n{}", dataflow.log_text()))?;
        let killed_at = Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(old as i32), Signal::SIGKILL)?;
        wait_restarted(dora, node, old, RECOVERY_WITHIN)?;
        let restarted = killed_at.elapsed();
        wait_new_alerts(&watcher, &mut arrived, ALERTS_AGAIN_AFTER, RECOVERY_WITHIN)?;
        table.push(format!(
            "| {node} | {:.1} s | {:.1} s |",
            restarted.as_secs_f64(),
            killed_at.elapsed().as_secs_f64()
        ));
        eprintln!("chaos: {}", table[table.len() - 1]);
    }
    for n in 1..=broker_kills {
        let killed_at = Instant::now();
        broker.stop(Signal::SIGKILL);
        std::thread::sleep(Duration::from_secs(2));
        broker.restart()?;
        wait_new_alerts(&watcher, &mut arrived, ALERTS_AGAIN_AFTER, RECOVERY_WITHIN)?;
        table.push(format!("| Mosquitto #{n} (down 2 s) | 2.0 s | {:.1} s |", killed_at.elapsed().as_secs_f64()));
        eprintln!("chaos: {}", table[table.len() - 1]);
    }

    // Every alert raised arrived at least once (held ones are resent every 2 s).
    let deadline = Instant::now() + ALERTS_WITHIN;
    let (raised, lost) = loop {
        let _ = wait_new_alerts(&watcher, &mut arrived, usize::MAX, Duration::from_secs(1));
        let raised = alerts_logged(&dataflow, "vlm-inspector");
        let lost: Vec<String> = raised.keys().filter(|id| !arrived.contains_key(*id)).cloned().collect();
        if lost.is_empty() || Instant::now() >= deadline {
            break (raised, lost);
        }
    };
    let repeated = arrived.values().filter(|times| **times > 1).count();
    let mut events = BTreeMap::new();
    let _ = wait_new_alerts(&event_watcher, &mut events, usize::MAX, Duration::from_secs(3));
    let events_repeated = events.values().filter(|times| **times > 1).count();
    eprintln!(
        "chaos: vision alerts raised {}, arrived {} ({repeated} more than once), lost {}; console alarm events arrived {} ({events_repeated} more than once)",
        raised.len(),
        raised.keys().filter(|id| arrived.contains_key(*id)).count(),
        lost.len(),
        events.len()
    );
    eprintln!("{}", table.join("\n"));
    anyhow::ensure!(raised.len() >= 20, "only {} vision alerts were raised", raised.len());
    anyhow::ensure!(lost.is_empty(), "vision alerts raised and never delivered: {lost:?}");
    // The gateway holds each alarm event until the sink names it: were the
    // acceptances not understood, every event would come again every 2 s.
    anyhow::ensure!(!events.is_empty(), "no console alarm event arrived");
    anyhow::ensure!(
        events_repeated * 20 <= events.len(),
        "{events_repeated} of {} alarm events arrived more than once",
        events.len()
    );
    let (success, leftovers) = dataflow.stop();
    assert!(success, "dora run did not exit successfully after Ctrl-C");
    assert!(leftovers.is_empty(), "processes left running: {leftovers:?}");
    Ok(())
}
