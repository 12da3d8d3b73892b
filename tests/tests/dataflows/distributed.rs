//! The distributed dataflow (dataflows/plant-distributed.yml) on three dora
//! daemons with different machine ids, on loopback through one coordinator,
//! started and watched by `shopfloor deploy supervise`, with the real
//! models, the tiny test VLM, rendered parts and a real Mosquitto:
//!
//! 1. questions escalate to the edge server's tier and alerts carry the edge
//!    server's verdicts, across daemons;
//! 2. the edge server's vision node stalls longer than the liveness timeout
//!    and goes on: its frames meanwhile are alerted unconfirmed, and its
//!    verdicts return without a restart;
//! 3. the edge server is taken away mid-run (its daemon and nodes killed, as
//!    a power cut would): the station goes on alerting from stage 1 alone
//!    (verdict `unconfirmed: …`), a question for the edge tier gets the
//!    gateway's answer marked low-confidence, and no flagged frame goes
//!    without an alert;
//! 4. the edge server comes back: the supervisor restarts the dataflow and
//!    verdicts and the edge tier return.
//!
//! Every coordinator, daemon and node the test starts is stopped at the end.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use part_images::{DefectKind, PartSpec};
use shopfloor_dataflow_tests::assistant::{is_answer_to, question};
use shopfloor_dataflow_tests::cluster::LocalCluster;
use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::mqtt::{Received, TestClient};
use shopfloor_dataflow_tests::process::ProcessGroup;
use shopfloor_dataflow_tests::vision::{defective, good_parts, tiny_vlm, write_part, HEIGHT, WIDTH};
use shopfloor_dataflow_tests::{free_port, node_binaries, repo_root, scratch_dir, shopfloor};

const MACHINES: [(&str, &str); 3] =
    [("gateway", "role=gateway"), ("station1", "role=station"), ("edge-server", "role=edge-server,gpu=false")];
const DATAFLOW_NAME: &str = "plant-distributed-test";
/// Frames in the camera folder, played in name order at 2 Hz and looped:
/// sequence numbers 1 and 3 of every 4 are defective parts.
const FRAMES_PER_LOOP: u64 = 4;
const DEFECTIVE_IN_LOOP: [u64; 2] = [1, 3];
/// Start of every model on three daemons sharing two cores.
const READY_WITHIN: Duration = Duration::from_secs(120);
const PHASE_WITHIN: Duration = Duration::from_secs(60);
/// How long stage 2 stalls: twice the liveness input's `input_timeout`, so
/// that dora closes the input and must let it reopen.
const STALL: Duration = Duration::from_secs(6);
const PROCEDURE: &str = "How do I reset the spindle drive?";

/// A defect alert as published: frame id split into its camera run and sequence number.
#[derive(Debug, Clone)]
struct FrameAlert {
    at: Instant,
    run: String,
    sequence: u64,
    source: String,
    verdict: String,
}

impl FrameAlert {
    fn from(message: &Received, at: Instant) -> Option<Self> {
        let frame = message.json["frame_id"].as_str()?;
        // cam1-<camera start, unix seconds>-<sequence>
        let mut parts = frame.rsplitn(3, '-');
        let sequence = parts.next()?.parse().ok()?;
        let run = parts.next()?.to_owned();
        Some(Self {
            at,
            run,
            sequence,
            source: message.json["source"].as_str().unwrap_or("").to_owned(),
            verdict: message.json["verdict"].as_str().unwrap_or("").to_owned(),
        })
    }

    fn unconfirmed(&self) -> bool {
        self.verdict.starts_with("unconfirmed")
    }
}

/// What arrives over MQTT, collected while waiting for something.
struct Observer {
    client: TestClient,
    root: String,
    alerts: Vec<FrameAlert>,
}

impl Observer {
    /// Receives until `done` holds (true) or `within` passes (false).
    fn until(&mut self, within: Duration, mut done: impl FnMut(&[FrameAlert]) -> bool) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if done(&self.alerts) {
                return true;
            }
            let alerts = &mut self.alerts;
            self.client.wait_for(Duration::from_millis(200), |message| {
                if let Some(alert) = FrameAlert::from(message, Instant::now()) {
                    alerts.push(alert);
                }
                false
            });
        }
        done(&self.alerts)
    }

    /// Receives until `done` holds; after `within`, fails saying `what` did
    /// not happen, with every alert so far and `context()`.
    fn expect(
        &mut self,
        within: Duration,
        what: &str,
        context: impl FnOnce() -> String,
        done: impl FnMut(&[FrameAlert]) -> bool,
    ) -> anyhow::Result<()> {
        if self.until(within, done) {
            return Ok(());
        }
        anyhow::bail!("{what}:\n{}\n{}", summary(&self.alerts), context())
    }

    /// Asks `text` and returns the answer JSON (collecting alerts meanwhile).
    fn ask(&mut self, id: &str, text: &str, within: Duration) -> anyhow::Result<serde_json::Value> {
        self.client.publish(&format!("{}/assistant/query/tester", self.root), question(id, text))?;
        let alerts = &mut self.alerts;
        let answer = self.client.wait_for(within, |message| {
            if let Some(alert) = FrameAlert::from(message, Instant::now()) {
                alerts.push(alert);
            }
            is_answer_to(message, id)
        });
        answer.map(|a| a.json).ok_or_else(|| anyhow::anyhow!("no answer to {id} ({text:?}) within {within:?}"))
    }

    /// Asks `text` until tier `tier` answers it (it is the route's first hop
    /// and was reachable): a model tier counts as reachable from its first
    /// metrics on, which come after its model has loaded. Returns that answer.
    fn ask_until_answered_by(
        &mut self,
        id: &str,
        tier: &str,
        text: &str,
        within: Duration,
    ) -> anyhow::Result<serde_json::Value> {
        let deadline = Instant::now() + within;
        let mut last = serde_json::Value::Null;
        for attempt in 0.. {
            anyhow::ensure!(Instant::now() < deadline, "tier {tier} did not answer {text:?} within {within:?}: {last}");
            let answer = self.ask(&format!("{id}-{attempt}"), text, Duration::from_secs(30))?;
            let first = hops(&answer).into_iter().next();
            if first.is_some_and(|(name, outcome)| name == tier && outcome != "unreachable") {
                return Ok(answer);
            }
            last = answer;
            // Not yet: give the tier a moment (alerts are collected meanwhile).
            self.until(Duration::from_secs(1), |_| false);
        }
        unreachable!("the loop only ends by returning")
    }

    /// Asks until the assistant answers from live plant data.
    fn wait_until_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        for attempt in 0.. {
            anyhow::ensure!(Instant::now() < deadline, "no answer from live plant data within {within:?}");
            if let Ok(answer) =
                self.ask(&format!("warm-up-{attempt}"), "Is the machine running?", Duration::from_secs(5))
            {
                if answer["error"] != "no_plant_data" {
                    return Ok(());
                }
            }
        }
        unreachable!("the loop only ends by returning")
    }
}

/// One line per alert, for failure messages.
fn summary(alerts: &[FrameAlert]) -> String {
    let Some(first) = alerts.first() else { return "no alerts".to_owned() };
    alerts
        .iter()
        .map(|a| {
            let at = a.at.saturating_duration_since(first.at).as_secs_f64();
            format!("+{at:6.1} s run {} #{} {}: {}", a.run, a.sequence, a.source, a.verdict)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn hops(answer: &serde_json::Value) -> Vec<(String, String)> {
    answer["route"]
        .as_array()
        .map(|route| {
            route
                .iter()
                .map(|hop| {
                    (hop["tier"].as_str().unwrap_or("").to_owned(), hop["outcome"].as_str().unwrap_or("").to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn frames(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_part(&dir.join("00-good.png"), &PartSpec::good(300, WIDTH, HEIGHT))?;
    write_part(&dir.join("01-scratch.png"), &defective(301, DefectKind::Scratch))?;
    write_part(&dir.join("02-good.png"), &PartSpec::good(302, WIDTH, HEIGHT))?;
    write_part(&dir.join("03-contamination.png"), &defective(303, DefectKind::Contamination))?;
    Ok(())
}

fn supervisor(cluster: &LocalCluster, envs: &[(&str, String)], log: &Path) -> anyhow::Result<ProcessGroup> {
    let mut command = shopfloor()?;
    command
        .args(["deploy", "supervise", "--name", DATAFLOW_NAME, "--settle-ms", "2000", "--poll-ms", "500"])
        .arg("--dataflow")
        .arg(repo_root().join("dataflows/plant-distributed.yml"))
        .arg("--dora")
        .arg(shopfloor_dataflow_tests::dataflow::dora_binary())
        .env("DORA_COORDINATOR_ADDR", "127.0.0.1")
        .env("DORA_COORDINATOR_PORT", cluster.coordinator_port.to_string())
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log)?)
        .stderr(std::fs::OpenOptions::new().append(true).open(log)?);
    for (key, value) in envs {
        command.arg("--env").arg(format!("{key}={value}"));
    }
    Ok(ProcessGroup::spawn("shopfloor deploy supervise", command)?)
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()))
        .is_some_and(|state| state != 'Z')
}

#[test]
fn distributed_dataflow_degrades_without_the_edge_server_and_recovers() -> anyhow::Result<()> {
    node_binaries()?;
    let scratch = scratch_dir("distributed");
    let good = good_parts(&scratch.join("good"), 16, 100)?;
    frames(&scratch.join("frames"))?;
    let vlm = tiny_vlm()?;
    let broker = Mosquitto::start()?;
    let root = "test/distributed/cell1".to_owned();
    let client = TestClient::connect(broker.port, &[format!("{root}/alerts/#"), format!("{root}/assistant/answer/#")])?;
    let sim_port = free_port();
    let envs = [
        ("MQTT_BROKER_URL", broker.url()),
        ("MQTT_TOPIC_ROOT", root.clone()),
        ("SIM_PORT", sim_port.to_string()),
        ("OPCUA_ENDPOINT", format!("opc.tcp://127.0.0.1:{sim_port}/")),
        ("CAMERA_DIR", scratch.join("frames").display().to_string()),
        ("FILTER_GOOD_DIR", good.display().to_string()),
        ("VLM_MODEL_PATH", vlm.join("tiny-vlm.gguf").display().to_string()),
        ("VLM_MMPROJ_PATH", vlm.join("tiny-vlm-mmproj.gguf").display().to_string()),
        ("VLM_CROPS_DIR", scratch.join("crops").display().to_string()),
        // Three machines' model processes share this test's cores: with the
        // profile's two threads each, their OpenMP barriers wait for time
        // slices and the nano tier took 7-25 s per answer (READY_WITHIN
        // passed unanswered); one thread each, as on a 1-core share.
        ("SLM_THREADS", "1".to_owned()),
        ("VLM_THREADS", "1".to_owned()),
    ];
    let mut cluster = LocalCluster::start("distributed", &MACHINES)?;
    let supervisor_log = cluster.log_dir.join("supervisor.log");
    let mut supervisor = supervisor(&cluster, &envs, &supervisor_log)?;
    // What a failure shows: the supervisor, dora's node list and the two
    // ends of stage 2's link (the CI log keeps only the end of a message).
    let context = |cluster: &LocalCluster| {
        let nodes = cluster.dora_output(&["node", "list"]).unwrap_or_default();
        format!(
            "supervisor:\n{}\nnodes:\n{nodes}\ndefect-filter:\n{}\nvlm-inspector:\n{}\nlogs in {}",
            std::fs::read_to_string(&supervisor_log).unwrap_or_default(),
            cluster.node_log("defect-filter", 40),
            cluster.node_log("vlm-inspector", 40),
            cluster.log_dir.display()
        )
    };
    let mut observer = Observer { client, root: root.clone(), alerts: Vec::new() };

    // 1. Across daemons: the edge server's verdicts and its tier.
    observer.wait_until_ready(READY_WITHIN).map_err(|e| anyhow::anyhow!("{e}\n{}", context(&cluster)))?;
    observer.expect(
        PHASE_WITHIN,
        "no verdicts from the edge server",
        || context(&cluster),
        |alerts| alerts.iter().filter(|a| a.source == "vlm-inspector").count() >= 2,
    )?;
    let first_run = observer.alerts[0].run.clone();
    let answer = observer
        .ask_until_answered_by("procedure-1", "small", PROCEDURE, READY_WITHIN)
        .map_err(|e| anyhow::anyhow!("{e}\n{}", context(&cluster)))?;
    assert_eq!(hops(&answer).first().map(|h| h.0.as_str()), Some("small"), "{answer}");
    assert!(hops(&answer).iter().all(|h| h.1 != "unreachable"), "{answer}");
    assert!(answer["error"].is_null(), "{answer}");
    eprintln!("escalated across daemons: answered by small in {} ms", answer["latency_ms"]);

    // 2. The edge server stalls (its vision node paused longer than the
    // liveness timeout, as a machine swapping or a paused VM would) and goes
    // on: flagged frames meanwhile are alerted unconfirmed, and verdicts
    // return without a restart, in the same camera run.
    let vision_node = cluster.node_pids("edge-server").into_iter().find(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|line| line.split(|b| *b == 0).next().is_some_and(|program| program.ends_with(b"vlm-inspector")))
    });
    let vision_node = vision_node.ok_or_else(|| anyhow::anyhow!("no vlm-inspector process\n{}", context(&cluster)))?;
    let vision_node = nix::unistd::Pid::from_raw(i32::try_from(vision_node)?);
    nix::sys::signal::kill(vision_node, nix::sys::signal::Signal::SIGSTOP)?;
    let stalled_at = Instant::now();
    let stalled = observer.expect(
        PHASE_WITHIN,
        "no unconfirmed alerts while stage 2 stalled",
        || context(&cluster),
        |alerts| {
            stalled_at.elapsed() >= STALL && alerts.iter().filter(|a| a.at > stalled_at && a.unconfirmed()).count() >= 2
        },
    );
    nix::sys::signal::kill(vision_node, nix::sys::signal::Signal::SIGCONT)?;
    let resumed_at = Instant::now();
    stalled?;
    observer.expect(
        PHASE_WITHIN,
        "no verdicts after stage 2 resumed",
        || context(&cluster),
        |alerts| alerts.iter().any(|a| a.at > resumed_at && a.run == first_run && a.source == "vlm-inspector"),
    )?;
    let first_verdict_again =
        observer.alerts.iter().find(|a| a.at > resumed_at && a.source == "vlm-inspector").map(|a| a.at - resumed_at);
    eprintln!(
        "stage 2 stalled for {:?}: first verdict {first_verdict_again:?} after it resumed",
        resumed_at - stalled_at
    );

    // 3. The edge server goes away.
    let edge_nodes = cluster.node_pids("edge-server");
    assert_eq!(edge_nodes.len(), 2, "vlm-inspector and slm-small run on the edge server: {edge_nodes:?}");
    cluster.kill_machine("edge-server")?;
    let killed_at = Instant::now();
    observer.expect(
        PHASE_WITHIN,
        "no unconfirmed stage-1 alerts after the edge server went",
        || context(&cluster),
        |alerts| alerts.iter().filter(|a| a.at > killed_at && a.unconfirmed()).count() >= 4,
    )?;
    let answer = observer.ask("procedure-2", PROCEDURE, Duration::from_secs(30))?;
    let route = hops(&answer);
    assert_eq!(route.first(), Some(&("small".to_owned(), "unreachable".to_owned())), "{answer}");
    assert_eq!(route.get(1).map(|h| h.0.as_str()), Some("nano"), "the gateway's tier answered: {answer}");
    assert_eq!((answer["low_confidence"].as_bool(), answer["error"].is_null()), (Some(true), true), "{answer}");
    let first_unconfirmed =
        observer.alerts.iter().find(|a| a.at > killed_at && a.unconfirmed()).map(|a| a.at - killed_at);
    eprintln!(
        "edge server gone: first unconfirmed alert after {first_unconfirmed:?}; local answer in {} ms",
        answer["latency_ms"]
    );
    let unconfirmed_alert = observer.alerts.iter().rev().find(|a| a.unconfirmed()).cloned();
    assert_eq!(unconfirmed_alert.map(|a| a.source), Some("defect-filter".to_owned()));

    // 4. It comes back: the supervisor restarts the dataflow on it.
    cluster.start_machine("edge-server")?;
    let back_at = Instant::now();
    observer.expect(
        PHASE_WITHIN * 2,
        "no verdicts after the edge server came back",
        || context(&cluster),
        |alerts| alerts.iter().any(|a| a.at > back_at && a.run != first_run && a.source == "vlm-inspector"),
    )?;
    let first_verdict =
        observer.alerts.iter().find(|a| a.at > back_at && a.source == "vlm-inspector").map(|a| a.at - back_at);
    observer.wait_until_ready(READY_WITHIN).map_err(|e| anyhow::anyhow!("{e}\n{}", context(&cluster)))?;
    eprintln!(
        "edge server back: first verdict after {first_verdict:?}, questions answered again after {:?}",
        back_at.elapsed()
    );
    let answer = observer
        .ask_until_answered_by("procedure-3", "small", PROCEDURE, READY_WITHIN)
        .map_err(|e| anyhow::anyhow!("{e}\n{}", context(&cluster)))?;
    assert_eq!(hops(&answer).first().map(|h| h.0.as_str()), Some("small"), "{answer}");
    assert!(hops(&answer).iter().all(|h| h.1 != "unreachable"), "{answer}");

    // No flagged frame of the first run went without an alert, before,
    // during or after the outage; and only defective frames were flagged.
    let first: Vec<&FrameAlert> = observer.alerts.iter().filter(|a| a.run == first_run).collect();
    let alerted: BTreeSet<u64> = first.iter().map(|a| a.sequence).collect();
    let (Some(&low), Some(&high)) = (alerted.first(), alerted.last()) else { anyhow::bail!("no alerts") };
    let expected: BTreeSet<u64> = (low..=high).filter(|s| DEFECTIVE_IN_LOOP.contains(&(s % FRAMES_PER_LOOP))).collect();
    assert_eq!(alerted, expected, "alerts of run {first_run}: {first:#?}");
    assert!(
        first.iter().any(|a| a.at < killed_at && !a.unconfirmed())
            && first.iter().any(|a| a.at > killed_at && a.unconfirmed())
    );

    let filter_log = cluster.node_log("defect-filter", usize::MAX);
    eprintln!(
        "the filter saw stage 2's liveness input closed {} times and reopened {} times",
        filter_log.matches("liveness input closed").count(),
        filter_log.matches("stage 2 is back").count()
    );

    // Clean up: the supervisor first (it would restart the dataflow), then
    // the dataflow, daemons, nodes and coordinator.
    supervisor.stop(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(10));
    let mut nodes = Vec::new();
    for (machine, _) in MACHINES {
        nodes.extend(cluster.node_pids(machine));
    }
    assert!(nodes.len() >= 12, "every node runs again: {nodes:?}");
    cluster.stop_dataflow(DATAFLOW_NAME, Duration::from_secs(20))?;
    drop(cluster);
    let alive: Vec<u32> = nodes.into_iter().chain(edge_nodes).filter(|pid| running(*pid)).collect();
    assert!(alive.is_empty(), "node processes left running: {alive:?}");
    Ok(())
}
