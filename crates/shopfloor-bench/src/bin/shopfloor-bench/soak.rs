//! Soak: `dataflows/plant-assistant.yml` under a steady mixed load for a
//! long time (30 minutes by default), sampling every node's memory and open
//! files. The load: operators' questions one after another as fast as the
//! dataflow answers them, MQTT telemetry at 1 kHz, the simulator's readings
//! and the alerts they raise. Prints a markdown section with each node's
//! RSS after warm-up and at the end, and writes an SVG plot of RSS over
//! time. Goal (issue 29): RSS growth under 5 % after warm-up, every question
//! answered or refused as busy.
//!
//! `--dataflow vision`: `dataflows/vision-inspection.yml` instead, its camera
//! playing rendered parts (one in four defective) at 5 Hz in a loop, judged
//! by the tiny test VLM; every alert raised must arrive on MQTT.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::free_port;
use shopfloor_dataflow_tests::mosquitto::Mosquitto;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::process::children_of;

/// Which dataflow is soaked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Soaked {
    /// `dataflows/plant-assistant.yml`: questions, telemetry, readings, alerts.
    Assistant,
    /// `dataflows/vision-inspection.yml`: frames at 5 Hz, defect alerts.
    Vision,
}

#[derive(clap::Args)]
pub struct Args {
    /// The dataflow under load.
    #[arg(long, value_enum, default_value_t = Soaked::Assistant)]
    dataflow: Soaked,
    /// How long the load runs, in minutes.
    #[arg(long, default_value_t = 30)]
    minutes: u64,
    /// Minutes at the start that count as warm-up (growth is measured after).
    #[arg(long, default_value_t = 5)]
    warmup_minutes: u64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10)]
    every_secs: u64,
    /// Where the SVG plot of RSS over time goes (default
    /// `docs/soak-rss.svg`, for the vision dataflow `docs/soak-vision-rss.svg`).
    #[arg(long)]
    plot: Option<PathBuf>,
}

impl Args {
    fn plot_path(&self) -> PathBuf {
        self.plot.clone().unwrap_or_else(|| match self.dataflow {
            Soaked::Assistant => "docs/soak-rss.svg".into(),
            Soaked::Vision => "docs/soak-vision-rss.svg".into(),
        })
    }
}

/// One node process at one moment.
#[derive(Debug, Clone)]
struct NodeSample {
    node: String,
    rss_kib: u64,
    /// Heap and other private memory: what a leak grows. The rest of RSS is
    /// mostly file pages, e.g. model weights mapped from the GGUF file,
    /// which count once touched and grow as new tokens' rows are first read.
    anon_kib: u64,
    open_files: usize,
}

/// Queue gauges from the gateway's `/metrics` at one moment: (series with
/// its labels, value), for the queues a node keeps (`QUEUE_GAUGES`).
type QueueSample = Vec<(String, f64)>;

/// The gauges of what waits inside the nodes: questions in each model's
/// queue, questions the router is answering, messages in the sink's outbox
/// (journaled, not yet acknowledged by the broker).
/// In the vision dataflow: frames the filter flagged and awaits a verdict on,
/// alerts the inspector holds for the sink.
const QUEUE_GAUGES: [&str; 5] = [
    "shopfloor_question_queue_depth",
    "shopfloor_router_in_flight",
    "shopfloor_outbox_depth",
    "shopfloor_filter_awaiting_verdict",
    "shopfloor_vlm_alerts_undelivered",
];

/// The queue gauges of every node, read from the gateway's OpenMetrics text.
fn sample_queues(gateway_port: u16) -> QueueSample {
    let Ok((200, text)) = shopfloor_dataflow_tests::http::get(gateway_port, "/metrics", None) else {
        return Vec::new();
    };
    text.lines()
        .filter(|line| QUEUE_GAUGES.iter().any(|gauge| line.starts_with(gauge)))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The dora node id of `pid` (dora passes the node's config in its
/// environment, the id on a line `node_id: <id>`), else its program name.
fn node_id(pid: u32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let text = String::from_utf8_lossy(&environ);
    let from_config = text.lines().find_map(|line| line.strip_prefix("node_id: ").map(|id| id.trim().to_owned()));
    from_config.or_else(|| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|c| c.trim().to_owned()))
}

/// Every node of the `dora run` with pid `dora`: RSS and open file count.
fn sample_nodes(dora: u32) -> Vec<NodeSample> {
    let mut samples: Vec<NodeSample> = children_of(dora)
        .into_iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let kib = |field: &str| -> Option<u64> {
                status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
            };
            let (rss_kib, anon_kib) = (kib("VmRSS:")?, kib("RssAnon:")?);
            let open_files = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
            Some(NodeSample { node: node_id(pid)?, rss_kib, anon_kib, open_files })
        })
        .collect();
    samples.sort_by(|a, b| a.node.cmp(&b.node));
    samples
}

/// RSS of every node over time as an SVG line chart (one line per node).
fn plot(series: &[(f64, Vec<NodeSample>)], nodes: &[String]) -> String {
    let (width, height, left, bottom) = (900.0, 420.0, 60.0, 30.0);
    let end = series.last().map_or(1.0, |(t, _)| t.max(1.0));
    let top = series.iter().flat_map(|(_, s)| s.iter().map(|n| n.rss_kib)).max().unwrap_or(1) as f64 / 1024.0 * 1.1;
    let x = |t: f64| left + t / end * (width - left - 10.0);
    let y = |mib: f64| height - bottom - mib / top * (height - bottom - 10.0);
    let colours = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
        "#000000",
    ];
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">\n",
        height + 20.0 * (nodes.len() as f64 / 4.0).ceil()
    );
    svg.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#888\"/><line x1=\"{left}\" y1=\"10\" x2=\"{left}\" y2=\"{0}\" stroke=\"#888\"/>\n",
        height - bottom,
        width - 10.0
    ));
    svg.push_str(&format!(
        "<text x=\"{left}\" y=\"{}\">0</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.0} min</text><text x=\"5\" y=\"20\">{top:.0} MiB</text><text x=\"5\" y=\"{}\">0 MiB</text>\n",
        height - 12.0,
        width - 10.0,
        height - 12.0,
        end / 60.0,
        height - bottom
    ));
    for (index, node) in nodes.iter().enumerate() {
        let colour = colours[index % colours.len()];
        let points: Vec<String> = series
            .iter()
            .filter_map(|(t, samples)| {
                let sample = samples.iter().find(|s| &s.node == node)?;
                Some(format!("{:.1},{:.1}", x(*t), y(sample.rss_kib as f64 / 1024.0)))
            })
            .collect();
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>\n",
            points.join(" ")
        ));
        let (column, row) = (index % 4, index / 4);
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" fill=\"{colour}\">{node}</text>\n",
            left + column as f64 * 210.0,
            height + 14.0 + row as f64 * 18.0
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.dataflow {
        Soaked::Assistant => run_assistant(&args),
        Soaked::Vision => run_vision(&args),
    }
}

fn run_assistant(args: &Args) -> anyhow::Result<()> {
    let broker = Mosquitto::start()?;
    let sim_port = free_port();
    let root = "soak/assembly/cell1";
    let endpoint = format!("opc.tcp://127.0.0.1:{sim_port}/");
    let scratch = shopfloor_dataflow_tests::scratch_dir("soak");
    let gateway_port = free_port();
    let limit = Duration::from_secs(args.minutes * 60 + 600);
    let mut dataflow = RunningDataflow::start(
        "plant-assistant.yml",
        &[
            ("MQTT_BROKER_URL", broker.url()),
            ("MQTT_TOPIC_ROOT", root.to_owned()),
            ("SIM_PORT", sim_port.to_string()),
            ("OPCUA_ENDPOINT", endpoint),
            ("GATEWAY_LISTEN", format!("127.0.0.1:{gateway_port}")),
            ("ROUTER_AUDIT_DIR", scratch.path().join("audit").display().to_string()),
            ("ROUTER_PENDING_FILE", scratch.path().join("pending.arrow").display().to_string()),
            ("ALARMS_STATE_FILE", scratch.path().join("alarms.json").display().to_string()),
            ("OUTBOX_DIR", scratch.path().join("outbox").display().to_string()),
        ],
        limit,
    )?;
    let dora = dataflow.pid();
    let client = TestClient::connect(broker.port, &[format!("{root}/assistant/answer/#")])?;
    let topic = format!("{root}/assistant/query/soak");
    let ready_by = Instant::now() + Duration::from_secs(180);
    for attempt in 0.. {
        anyhow::ensure!(dataflow.is_running() && Instant::now() < ready_by, "not ready:\n{}", dataflow.log_text());
        let id = format!("warm-{attempt}");
        client.publish(&topic, serde_json::json!({"id": id, "question": "Is the machine running?"}).to_string())?;
        if client
            .wait_for(Duration::from_secs(3), |m| m.json["id"] == id.as_str())
            .is_some_and(|r| r.json["error"] != "no_plant_data")
        {
            break;
        }
    }

    // Telemetry at 1 kHz from its own connection (QoS 0: a sensor's rate, not a queue).
    let stop = Arc::new(AtomicBool::new(false));
    let telemetry_sent = Arc::new(AtomicU64::new(0));
    let telemetry = {
        let (stop, sent) = (stop.clone(), telemetry_sent.clone());
        let mut options =
            rumqttc::MqttOptions::new(format!("soak-telemetry-{}", std::process::id()), "127.0.0.1", broker.port);
        options.set_keep_alive(Duration::from_secs(30));
        let (publisher, mut connection) = rumqttc::Client::new(options, 1024);
        std::thread::spawn(move || for _ in connection.iter() {});
        let topic = format!("{root}/telemetry/coolant");
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut n: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                let due = start + Duration::from_millis(n);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let ts =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
                let payload = format!(
                    "{{\"temperature\": {:.2}, \"flow\": 12.5, \"ts\": {ts}}}",
                    20.0 + (n % 100) as f64 / 100.0
                );
                if publisher.publish(&topic, rumqttc::QoS::AtMostOnce, false, payload).is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
        })
    };

    let started = Instant::now();
    let end = started + Duration::from_secs(args.minutes * 60);
    let mut next_sample = started;
    let mut series: Vec<(f64, Vec<NodeSample>)> = Vec::new();
    let mut queues: Vec<(f64, QueueSample)> = Vec::new();
    let (mut asked, mut answered, mut busy, mut unanswered, mut errors) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let questions = [
        "What is the spindle temperature?",
        "What is the coolant temperature?",
        "How many parts have been made?",
        "Is the spindle temperature above its limit?",
    ];
    while Instant::now() < end {
        if Instant::now() >= next_sample {
            series.push((started.elapsed().as_secs_f64(), sample_nodes(dora)));
            queues.push((started.elapsed().as_secs_f64(), sample_queues(gateway_port)));
            next_sample += Duration::from_secs(args.every_secs);
        }
        anyhow::ensure!(dataflow.is_running(), "the dataflow stopped:\n{}", dataflow.log_text());
        let id = format!("soak-{asked}");
        let question = questions[asked as usize % questions.len()];
        client.publish(&topic, serde_json::json!({"id": id, "question": question}).to_string())?;
        asked += 1;
        match client.wait_for(Duration::from_secs(30), |m| m.json["id"] == id.as_str()) {
            None => unanswered += 1,
            Some(reply) if reply.json["error"] == "busy" => busy += 1,
            Some(reply) if !reply.json["error"].is_null() => errors += 1,
            Some(_) => answered += 1,
        }
    }
    series.push((started.elapsed().as_secs_f64(), sample_nodes(dora)));
    queues.push((started.elapsed().as_secs_f64(), sample_queues(gateway_port)));
    stop.store(true, Ordering::Relaxed);
    let _ = telemetry.join();
    let (success, leftovers) = dataflow.stop();
    let load = format!(
        "questions one after another ({asked} asked: {answered} answered, {busy} busy, {errors} with another error, {unanswered} unanswered within 30 s); MQTT telemetry at 1 kHz ({} sent, QoS 0); plant-sim readings every 500 ms and the alerts they raise",
        telemetry_sent.load(Ordering::Relaxed)
    );
    report(args, "dataflows/plant-assistant.yml", &load, started, &series, &queues, success, leftovers.len())
}

/// Writes the plot and prints the markdown section: the load, every node's
/// memory and open files after warm-up and at the end, the queues.
#[allow(clippy::too_many_arguments)]
fn report(
    args: &Args,
    dataflow: &str,
    load: &str,
    started: Instant,
    series: &[(f64, Vec<NodeSample>)],
    queues: &[(f64, QueueSample)],
    success: bool,
    leftovers: usize,
) -> anyhow::Result<()> {
    let plot_path = args.plot_path();
    let mut nodes: Vec<String> = series.iter().flat_map(|(_, s)| s.iter().map(|n| n.node.clone())).collect();
    nodes.sort();
    nodes.dedup();
    if let Some(parent) = plot_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&plot_path, plot(series, &nodes))?;

    let warm = args.warmup_minutes as f64 * 60.0;
    let after_warmup = series.iter().find(|(t, _)| *t >= warm).map(|(_, s)| s.clone()).unwrap_or_default();
    let last = series.last().map(|(_, s)| s.clone()).unwrap_or_default();
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let soaked = match args.dataflow {
        Soaked::Assistant => "assistant",
        Soaked::Vision => "vision",
    };
    println!(
        "### Soak: `{dataflow}`, {minutes:.1} min of load (`shopfloor-bench soak --dataflow {soaked} --minutes {}`)\n",
        args.minutes
    );
    println!(
        "Load: {load}. Sampled every {} s; warm-up {} min. Plot: `{}`. Dataflow stopped cleanly: {success}; processes left: {leftovers}.\n",
        args.every_secs,
        args.warmup_minutes,
        plot_path.display(),
    );
    println!(
        "| node | RSS after warm-up | RSS at the end | growth | anonymous (heap) after warm-up / at the end | growth | open files after warm-up / at the end |"
    );
    println!("|---|---|---|---|---|---|---|");
    let growth = |from: u64, to: u64| (to as f64 - from as f64) / from.max(1) as f64 * 100.0;
    for node in &nodes {
        let find = |samples: &[NodeSample]| samples.iter().find(|s| &s.node == node).cloned();
        match (find(&after_warmup), find(&last)) {
            (Some(a), Some(b)) => println!(
                "| {node} | {:.1} MiB | {:.1} MiB | {:+.1} % | {:.1} / {:.1} MiB | {:+.1} % | {} / {} |",
                a.rss_kib as f64 / 1024.0,
                b.rss_kib as f64 / 1024.0,
                growth(a.rss_kib, b.rss_kib),
                a.anon_kib as f64 / 1024.0,
                b.anon_kib as f64 / 1024.0,
                growth(a.anon_kib, b.anon_kib),
                a.open_files,
                b.open_files
            ),
            _ => println!("| {node} | – | – | not running at both samples (restarted?) | – | – | – |"),
        }
    }
    print_queues(queues, warm);
    Ok(())
}

/// Each queue gauge: its largest value before and after warm-up and its last.
fn print_queues(queues: &[(f64, QueueSample)], warm: f64) {
    let mut names: Vec<&str> = queues.iter().flat_map(|(_, s)| s.iter().map(|(name, _)| name.as_str())).collect();
    names.sort();
    names.dedup();
    let with_metrics = queues.iter().filter(|(_, s)| !s.is_empty()).count();
    println!("\nQueues (from the gateway's `/metrics`, {with_metrics} of {} samples with metrics):\n", queues.len());
    println!("| gauge | largest in warm-up | largest after warm-up | last |");
    println!("|---|---|---|---|");
    for name in names {
        let values = |keep: &dyn Fn(f64) -> bool| {
            queues
                .iter()
                .filter(|(t, _)| keep(*t))
                .flat_map(|(_, s)| s.iter().filter(|(n, _)| n == name).map(|(_, v)| *v))
                .fold(None, |most: Option<f64>, v| Some(most.map_or(v, |m| m.max(v))))
        };
        let last = queues.iter().rev().find_map(|(_, s)| s.iter().find(|(n, _)| n == name).map(|(_, v)| *v));
        let show = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v}"));
        println!("| `{name}` | {} | {} | {} |", show(values(&|t| t < warm)), show(values(&|t| t >= warm)), show(last));
    }
}

/// The vision dataflow under frames at 5 Hz for `args.minutes`; every alert
/// `vlm-inspector` raised must have arrived on MQTT.
fn run_vision(args: &Args) -> anyhow::Result<()> {
    use part_images::{DefectKind, PartSpec};
    use shopfloor_dataflow_tests::vision::{defective, good_parts, tiny_vlm, write_part, HEIGHT, WIDTH};

    let broker = Mosquitto::start()?;
    let scratch = shopfloor_dataflow_tests::scratch_dir("soak-vision");
    let good = good_parts(&scratch.join("good"), 16, 100)?;
    let frames = scratch.join("frames");
    std::fs::create_dir_all(&frames)?;
    let kinds = [DefectKind::Scratch, DefectKind::Dent, DefectKind::MissingPart, DefectKind::Contamination];
    for n in 0..20u64 {
        let spec = if n % 4 == 0 {
            defective(400 + n, kinds[(n / 4) as usize % kinds.len()])
        } else {
            PartSpec::good(400 + n, WIDTH, HEIGHT)
        };
        write_part(&frames.join(format!("{n:02}.png")), &spec)?;
    }
    let vlm = tiny_vlm()?;
    let root = "soak/vision/cell1";
    let gateway_port = free_port();
    let limit = Duration::from_secs(args.minutes * 60 + 600);
    let dataflow = RunningDataflow::start(
        "vision-inspection.yml",
        &[
            ("MQTT_BROKER_URL", broker.url()),
            ("MQTT_TOPIC_ROOT", root.to_owned()),
            ("CAMERA_DIR", frames.display().to_string()),
            ("CAMERA_RATE_HZ", "5".to_owned()),
            ("CAMERA_LOOP", "true".to_owned()),
            ("FILTER_GOOD_DIR", good.display().to_string()),
            ("VLM_MODEL_PATH", vlm.join("tiny-vlm.gguf").display().to_string()),
            ("VLM_MMPROJ_PATH", vlm.join("tiny-vlm-mmproj.gguf").display().to_string()),
            ("VLM_CROPS_DIR", scratch.join("crops").display().to_string()),
            ("OUTBOX_DIR", scratch.join("outbox").display().to_string()),
            ("GATEWAY_LISTEN", format!("127.0.0.1:{gateway_port}")),
            ("GATEWAY_CONSOLE_JOURNAL", scratch.join("alarms.jsonl").display().to_string()),
        ],
        limit,
    )?;
    let dora = dataflow.pid();
    let client = TestClient::connect(broker.port, &[format!("{root}/alerts/#")])?;
    let mut arrived: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let ready_by = Instant::now() + Duration::from_secs(180);
    while arrived.is_empty() {
        anyhow::ensure!(Instant::now() < ready_by, "no alert within 180 s:\n{}", dataflow.log_text());
        take_alerts(&client, &mut arrived, Duration::from_secs(1));
    }

    let started = Instant::now();
    let end = started + Duration::from_secs(args.minutes * 60);
    let mut next_sample = started;
    let mut series: Vec<(f64, Vec<NodeSample>)> = Vec::new();
    let mut queues: Vec<(f64, QueueSample)> = Vec::new();
    while Instant::now() < end {
        if Instant::now() >= next_sample {
            series.push((started.elapsed().as_secs_f64(), sample_nodes(dora)));
            queues.push((started.elapsed().as_secs_f64(), sample_queues(gateway_port)));
            next_sample += Duration::from_secs(args.every_secs);
        }
        anyhow::ensure!(dataflow.pid() == dora, "the dataflow was replaced");
        take_alerts(&client, &mut arrived, Duration::from_secs(1));
    }
    series.push((started.elapsed().as_secs_f64(), sample_nodes(dora)));
    queues.push((started.elapsed().as_secs_f64(), sample_queues(gateway_port)));
    // Held alerts are sent again every 2 s: the last ones arrive within a few.
    take_alerts(&client, &mut arrived, Duration::from_secs(10));
    let log = dataflow.node_log("vlm-inspector");
    let alert_lines: Vec<&str> = log.lines().filter(|line| line.contains(" alert id=")).collect();
    let raised: Vec<String> = alert_lines
        .iter()
        .filter_map(|line| Some(line.split_once(" alert id=")?.1.split_whitespace().next()?.to_owned()))
        .collect();
    let not_arrived = raised.iter().filter(|id| !arrived.contains_key(*id)).count();
    let busy = alert_lines.iter().filter(|line| line.contains("not_judged")).count();
    let repeated = arrived.values().filter(|times| **times > 1).count();
    let (success, leftovers) = dataflow.stop();
    let load = format!(
        "rendered parts (one in four defective) at 5 Hz in a loop through the filter and the tiny test VLM; {} alerts raised ({busy} not judged: the model's queue was full), {} arrived on MQTT ({repeated} more than once), {not_arrived} raised and never arrived",
        raised.len(),
        arrived.len()
    );
    report(args, "dataflows/vision-inspection.yml", &load, started, &series, &queues, success, leftovers.len())
}

/// Counts every alert that arrives within `within` into `arrived` (id: times).
fn take_alerts(client: &TestClient, arrived: &mut std::collections::BTreeMap<String, u64>, within: Duration) {
    client.wait_for(within, |message| {
        if let Some(id) = message.json["id"].as_str() {
            *arrived.entry(id.to_owned()).or_default() += 1;
        }
        false
    });
}
