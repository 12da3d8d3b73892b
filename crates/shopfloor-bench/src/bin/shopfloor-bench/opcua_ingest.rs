//! OPC UA ingest benchmark: an async-opcua server (this binary, hidden `--serve`, in
//! its own process) writes every one of 20 000 Double variables every 100 ms
//! (200 000 changes/s); the changes are received (a) by a bare async-opcua
//! client in this process and (b) through `opcua-source` into Arrow readings
//! counted by a node in `dataflows/bench-opcua-ingest.yml`, one after the
//! other in the same run against the same server. Each variable's value is
//! the tick number, so skipped numbers are lost changes. CPU is the
//! receiver's process time (user + system) over the measuring window. Prints
//! a markdown section; `scripts/bench.sh` appends it to docs/benchmarks.md.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opcua::client::{ClientBuilder, DataChangeCallback, IdentityToken, MonitoredItem};
use opcua::server::address_space::VariableBuilder;
use opcua::server::diagnostics::NamespaceMetadata;
use opcua::server::node_manager::memory::{simple_node_manager, SimpleNodeManager};
use opcua::server::{ServerBuilder, ServerEndpoint, ANONYMOUS_USER_TOKEN_ID};
use opcua::types::{
    DataTypeId, DataValue, DateTime, EndpointDescription, MessageSecurityMode, MonitoredItemCreateRequest,
    MonitoringMode, MonitoringParameters, NodeId, TimestampsToReturn, UserTokenPolicy, VariableTypeId, Variant,
};
use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::process::ProcessGroup;
use shopfloor_dataflow_tests::{free_port, release_binary, scratch_dir};

const VARIABLES: usize = 20_000;
const TICK_MS: u64 = 100;
const NAMESPACE: &str = "urn:shopfloor-slm:bench";
/// Time for connecting, creating 20 000 monitored items and settling.
const WARM_UP: Duration = Duration::from_secs(8);
const MEASURE: Duration = Duration::from_secs(10);
/// Message limits for both receivers and the server (see opcua-source's client).
const MAX_ARRAY_LENGTH: usize = 1_000_000;
const MAX_CHUNK_COUNT: usize = 1024;
const MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// OPC UA ingest: a bare client against opcua-source, on one server.
#[derive(clap::Args)]
pub struct Args {
    /// Internal: serve the benchmark's variables on this port (the
    /// benchmark starts itself with it, so the server has its own process).
    #[arg(long, hide = true, requires = "serve_secs")]
    serve: Option<u16>,
    /// Internal: how long `--serve` serves, in seconds.
    #[arg(long, hide = true)]
    serve_secs: Option<u64>,
    /// Internal: how many variables `--serve` serves (other benchmarks use fewer).
    #[arg(long, hide = true, default_value_t = VARIABLES)]
    serve_variables: usize,
    /// Internal: how often `--serve` writes them, in ms.
    #[arg(long, hide = true, default_value_t = TICK_MS)]
    serve_tick_ms: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let (Some(port), Some(secs)) = (args.serve, args.serve_secs) {
        return serve(port, Duration::from_secs(secs), args.serve_variables, args.serve_tick_ms);
    }
    let port = free_port();
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["opcua-ingest", "--serve", &port.to_string(), "--serve-secs", "180"]);
    let _server = ProcessGroup::spawn("bench-opcua-server", command)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the benchmark server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let endpoint = format!("opc.tcp://127.0.0.1:{port}/");
    let bare = bare_client(&endpoint)?;
    let node = through_node(&endpoint)?;

    println!("### OPC UA ingest ({VARIABLES} Double variables, each written every {TICK_MS} ms; async-opcua server on loopback)\n");
    println!("| receiver | changes/s | lost | CPU (share of one core) | CPU ms per 10k changes |");
    println!("|---|---|---|---|---|");
    let show = |name: &str, run: &Run| {
        println!(
            "| {name} | {:.0} | {} | {:.0}% | {:.1} |",
            run.rate,
            run.lost,
            100.0 * run.cpu_s / run.seconds,
            1000.0 * run.cpu_s / (run.changes as f64 / 10_000.0).max(1e-9)
        )
    };
    show("bare async-opcua client (subscription, counting in the callback)", &bare);
    show("opcua-source → Arrow readings (counted by a dora node)", &node);
    println!("| ratio node / bare | {:.2}x | | | |", node.rate / bare.rate.max(1e-9));
    println!(
        "\nMeasured over {} s after {} s of warm-up; sampling interval 0 (every write reported), publishing interval \
         {TICK_MS} ms. Lost: skipped tick numbers, in the window for the bare client and over the whole run for the \
         node. The node's CPU is the opcua-source process (OPC UA decoding, readings, Arrow, dora send).",
        MEASURE.as_secs(),
        WARM_UP.as_secs()
    );
    Ok(())
}

struct Run {
    changes: u64,
    seconds: f64,
    rate: f64,
    lost: u64,
    cpu_s: f64,
}

/// User + system CPU seconds of process `pid` (`self` for this one).
fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the name; 100 ticks per second.
    Ok((ticks(11) + ticks(12)) / 100.0)
}

fn bare_client(endpoint: &str) -> anyhow::Result<Run> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let received = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let last: Arc<Mutex<HashMap<u32, f64>>> = Arc::new(Mutex::new(HashMap::with_capacity(VARIABLES)));
    let pki = scratch_dir("bench-opcua-bare-pki");
    let (received_cb, lost_cb) = (received.clone(), lost.clone());
    runtime.block_on(async {
        let mut client = ClientBuilder::new()
            .application_name("shopfloor-slm bench")
            .application_uri("urn:shopfloor-slm:bench-client")
            .pki_dir(pki.path())
            .create_sample_keypair(true)
            .trust_server_certs(true)
            .session_retry_limit(3)
            .max_array_length(MAX_ARRAY_LENGTH)
            .max_chunk_count(MAX_CHUNK_COUNT)
            .max_message_size(MAX_MESSAGE_SIZE)
            .client()
            .map_err(|e| anyhow::anyhow!("client config: {}", e.join("; ")))?;
        let description: EndpointDescription =
            (endpoint, "None", MessageSecurityMode::None, UserTokenPolicy::anonymous()).into();
        let (session, event_loop) = client.connect_to_endpoint_directly(description, IdentityToken::Anonymous)?;
        event_loop.spawn();
        anyhow::ensure!(
            tokio::time::timeout(Duration::from_secs(15), session.wait_for_connection()).await.unwrap_or(false),
            "bare client: no connection"
        );
        let callback = DataChangeCallback::new(move |value: DataValue, item: &MonitoredItem| {
            received_cb.fetch_add(1, Ordering::Relaxed);
            if let Some(Variant::Double(tick)) = value.value {
                if let Ok(mut last) = last.lock() {
                    if let Some(previous) = last.insert(item.client_handle(), tick) {
                        lost_cb.fetch_add((tick - previous - 1.0).max(0.0) as u64, Ordering::Relaxed);
                    }
                }
            }
        });
        let subscription =
            session.create_subscription(Duration::from_millis(TICK_MS), 120, 10, 0, 0, true, callback).await?;
        let requests: Vec<MonitoredItemCreateRequest> = (0..VARIABLES)
            .map(|i| {
                MonitoredItemCreateRequest::new(
                    variable(i).into(),
                    MonitoringMode::Reporting,
                    MonitoringParameters {
                        client_handle: i as u32,
                        sampling_interval: 0.0,
                        queue_size: 10,
                        discard_oldest: true,
                        ..Default::default()
                    },
                )
            })
            .collect();
        for chunk in requests.chunks(1000) {
            session.create_monitored_items(subscription, TimestampsToReturn::Both, chunk.to_vec()).await?;
        }
        anyhow::Ok(())
    })?;
    std::thread::sleep(WARM_UP);
    let (count0, lost0, cpu0, t0) =
        (received.load(Ordering::Relaxed), lost.load(Ordering::Relaxed), cpu_seconds("self")?, Instant::now());
    std::thread::sleep(MEASURE);
    let (count1, lost1, cpu1, seconds) = (
        received.load(Ordering::Relaxed),
        lost.load(Ordering::Relaxed),
        cpu_seconds("self")?,
        t0.elapsed().as_secs_f64(),
    );
    runtime.shutdown_timeout(Duration::from_secs(2));
    let changes = count1 - count0;
    Ok(Run { changes, seconds, rate: changes as f64 / seconds, lost: lost1 - lost0, cpu_s: cpu1 - cpu0 })
}

fn through_node(endpoint: &str) -> anyhow::Result<Run> {
    let dir = scratch_dir("bench-opcua-ingest");
    let tags = dir.join("tags.txt");
    let lines: Vec<String> = (0..VARIABLES).map(|i| format!("v{i} {}", variable(i))).collect();
    std::fs::write(&tags, lines.join("\n"))?;
    let out = dir.join("count.json");
    let dataflow = RunningDataflow::start(
        "bench-opcua-ingest.yml",
        &[
            ("OPCUA_ENDPOINT", endpoint.to_owned()),
            ("OPCUA_TAGS_FILE", tags.display().to_string()),
            ("COUNTER_OUT", out.display().to_string()),
        ],
        Duration::from_secs(120),
    )?;
    let node_exe = release_binary("opcua-source")?.canonicalize()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let pid = loop {
        // dora's daemon may start nodes outside the group of `dora run`: look at every process.
        let pid = std::fs::read_dir("/proc")?
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .find(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == node_exe));
        if let Some(pid) = pid {
            break pid.to_string();
        }
        anyhow::ensure!(Instant::now() < deadline, "opcua-source did not start:\n{}", dataflow.log_text());
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(WARM_UP);
    let (cpu0, from_ms) = (cpu_seconds(&pid)?, now_ms());
    std::thread::sleep(MEASURE);
    let (cpu1, to_ms) = (cpu_seconds(&pid)?, now_ms());
    let (success, _) = dataflow.stop();
    anyhow::ensure!(success, "the benchmark dataflow did not stop cleanly");
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
    let changes: u64 = summary["arrivals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|arrival| arrival[0].as_i64().is_some_and(|ms| (from_ms..to_ms).contains(&ms)))
        .filter_map(|arrival| arrival[1].as_u64())
        .sum();
    let seconds = (to_ms - from_ms) as f64 / 1e3;
    Ok(Run {
        changes,
        seconds,
        rate: changes as f64 / seconds,
        // Over the whole run: the counter does not split it by time.
        lost: summary["lost"].as_u64().unwrap_or(0),
        cpu_s: cpu1 - cpu0,
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The node id of the benchmark server's variable `index` (`ns=2;s=V<index>`).
pub fn variable(index: usize) -> NodeId {
    NodeId::new(2, format!("V{index}"))
}

/// The benchmark server: `variables` Doubles under `Objects/Bench`, all set
/// to the tick number every `tick_ms`, for `run_for`.
fn serve(port: u16, run_for: Duration, variables: usize, tick_ms: u64) -> anyhow::Result<()> {
    let server_pki = scratch_dir("bench-opcua-server-pki");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let mut builder = ServerBuilder::new()
            .application_name("shopfloor-slm bench server")
            .application_uri("urn:shopfloor-slm:bench-server")
            .product_uri(NAMESPACE)
            .host("127.0.0.1")
            .port(port)
            .discovery_urls(vec![format!("opc.tcp://127.0.0.1:{port}/")])
            .pki_dir(server_pki.path())
            .create_sample_keypair(true)
            .max_array_length(MAX_ARRAY_LENGTH)
            .max_chunk_count(MAX_CHUNK_COUNT)
            .max_message_size(MAX_MESSAGE_SIZE)
            .add_endpoint("none", ServerEndpoint::new_none("/", &[ANONYMOUS_USER_TOKEN_ID.to_owned()]))
            .with_node_manager(simple_node_manager(
                NamespaceMetadata { namespace_uri: NAMESPACE.to_owned(), ..Default::default() },
                "bench",
            ));
        builder.limits_mut().subscriptions.max_monitored_items_per_sub = 0;
        let (server, handle) = builder.build().map_err(|e| anyhow::anyhow!("server config: {e}"))?;
        let manager = handle
            .node_managers()
            .get_of_type::<SimpleNodeManager>()
            .ok_or_else(|| anyhow::anyhow!("no node manager"))?;
        {
            let mut space = manager.address_space().write();
            let folder = NodeId::new(2, "Bench");
            space.add_folder(&folder, "Bench", "Bench", &NodeId::objects_folder_id());
            for i in 0..variables {
                VariableBuilder::new(&variable(i), format!("V{i}"), format!("V{i}"))
                    .data_type(DataTypeId::Double)
                    .value(Variant::Double(0.0))
                    .has_type_definition(VariableTypeId::BaseDataVariableType)
                    .organized_by(folder.clone())
                    .insert(&mut *space);
            }
        }
        let ids: Vec<NodeId> = (0..variables).map(variable).collect();
        let subscriptions = handle.subscriptions().clone();
        let ticking = async {
            let mut interval = tokio::time::interval(Duration::from_millis(tick_ms));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for tick in 1u64.. {
                interval.tick().await;
                let now = DateTime::now();
                let updates = ids.iter().map(|id| (id, None, DataValue::new_at(Variant::Double(tick as f64), now)));
                let _ = manager.set_values(&subscriptions, updates);
            }
        };
        tokio::select! {
            result = server.run_with(listener) => result.map_err(|e| anyhow::anyhow!("server: {e}"))?,
            () = ticking => {}
            () = tokio::time::sleep(run_for) => handle.cancel(),
        }
        anyhow::Ok(())
    })
}
