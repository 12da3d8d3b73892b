//! Many askers at once, side by side with llama.cpp's own server, in one run:
//!
//! 1. `dataflows/plant-assistant.yml` answers operators' questions at 1, 4
//!    and 16 concurrent clients, first through the HTTP gateway (OpenAI chat
//!    completions), then over MQTT (each client an operator with its own
//!    answer topic). The router keeps every question on the nano tier
//!    (threshold 0), so that one model serves, as in the peer.
//! 2. The prompts the `slm` node built for those questions are read from
//!    its log (`slm_engine::prompt` at trace level), in order, each with the
//!    plant values of its time, and the dataflow stops.
//! 3. `llama-server` (built by `scripts/build-llama-reference.sh` from
//!    llama.cpp's server source against the llama.cpp that llama-cpp-sys-2
//!    vendors) serves the same model with the profile's threads, batch,
//!    KV cache type and `--parallel`, and the same clients send it those
//!    prompts, in their order, through its OpenAI completions endpoint, greedy, with the same
//!    token limit and the same stop at a line break.
//!
//! Ours checks grounding and computes confidence on top; the peer only
//! generates. Prints a markdown section for docs/benchmarks.md.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use shopfloor_dataflow_tests::assistant::wait_until_ready_over_http;
use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::process::ProcessGroup;
use shopfloor_dataflow_tests::{free_port, http, repo_root};
use slm_engine::profile::HardwareProfile;

const LEVELS: [usize; 3] = [1, 4, 16];
const QUESTIONS: &[&str] = &[
    "What is the spindle temperature?",
    "How fast is the spindle turning?",
    "Is the machine running?",
    "What is the vibration level?",
];
/// Asking before the measured levels, for each system.
const WARM_UP_SECONDS: u64 = 10;
/// Every answer is awaited this long before it counts as lost.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(clap::Args)]
pub struct Args {
    /// Seconds each client level runs, per system.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Rounds of ours then llama-server.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// llama-server binary.
    #[arg(long, default_value = "target/llama-reference/build/bin/llama-server")]
    llama_server: PathBuf,
}

/// How one request ended.
enum Reply {
    /// Answered; whether the model wrote the sentence, and its tokens.
    Answered { model_written: bool, completion_tokens: Option<u64> },
    /// Refused as busy (the queue bound).
    Busy,
    /// Anything else: an error status, no answer within the timeout.
    Failed(String),
}

struct Level {
    latencies_ms: Vec<f64>,
    model_written: usize,
    completion_tokens: u64,
    busy: usize,
    failed: Vec<String>,
}

impl Level {
    fn answered(&self) -> usize {
        self.latencies_ms.len()
    }
}

/// One thread per asker, each asking back to back for `seconds`;
/// `ask(n)` asks that client's `n`th question.
fn run_level<A: FnMut(usize) -> Reply + Send>(seconds: u64, askers: Vec<A>) -> Level {
    let until = Instant::now() + Duration::from_secs(seconds);
    let results: Vec<(Reply, f64)> = std::thread::scope(|scope| {
        let workers: Vec<_> = askers
            .into_iter()
            .enumerate()
            .map(|(client, mut ask)| {
                scope.spawn(move || {
                    let mut results = Vec::new();
                    let mut n = client;
                    while Instant::now() < until {
                        let started = Instant::now();
                        let reply = ask(n);
                        let busy = matches!(reply, Reply::Busy);
                        results.push((reply, started.elapsed().as_secs_f64() * 1e3));
                        n += 1;
                        if busy {
                            // What a client told to retry would do, shortened.
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                    results
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_default()).collect()
    });
    let mut level =
        Level { latencies_ms: Vec::new(), model_written: 0, completion_tokens: 0, busy: 0, failed: Vec::new() };
    for (reply, ms) in results {
        match reply {
            Reply::Answered { model_written, completion_tokens } => {
                level.latencies_ms.push(ms);
                level.model_written += usize::from(model_written);
                level.completion_tokens += completion_tokens.unwrap_or(0);
            }
            Reply::Busy => level.busy += 1,
            Reply::Failed(why) => level.failed.push(why),
        }
    }
    level.latencies_ms.sort_by(f64::total_cmp);
    level
}

fn ask_gateway(port: u16, question: &str) -> Reply {
    let body = serde_json::json!({"model": "shopfloor-assistant", "messages": [{"role": "user", "content": question}]});
    match http::post_json(port, "/v1/chat/completions", None, &body.to_string()) {
        Ok((200, text)) => {
            let reply: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            Reply::Answered {
                model_written: !reply["shopfloor"]["confidence"].is_null(),
                completion_tokens: reply["usage"]["completion_tokens"].as_u64(),
            }
        }
        Ok((503, _)) => Reply::Busy,
        Ok((status, text)) => Reply::Failed(format!("HTTP {status}: {}", text.chars().take(200).collect::<String>())),
        Err(error) => Reply::Failed(error.to_string()),
    }
}

fn ask_mqtt(client: &TestClient, root: &str, operator: &str, id: &str, question: &str) -> Reply {
    let payload = serde_json::json!({"id": id, "question": question}).to_string();
    if let Err(error) = client.publish(&format!("{root}/assistant/query/{operator}"), payload) {
        return Reply::Failed(error.to_string());
    }
    match client.wait_for(ANSWER_TIMEOUT, |m| m.json["id"] == id) {
        Some(answer) if answer.json["error"] == "busy" => Reply::Busy,
        Some(answer) if answer.json["error"].is_null() => Reply::Answered {
            model_written: !answer.json["confidence"].is_null(),
            completion_tokens: answer.json["completion_tokens"].as_u64(),
        },
        Some(answer) => Reply::Failed(format!("error {}", answer.json["error"])),
        None => Reply::Failed(format!("no answer to {id} within {ANSWER_TIMEOUT:?}")),
    }
}

/// A prompt the `slm` node built, as its trace line logged it.
#[derive(Debug)]
struct LoggedPrompt {
    text: String,
    max_tokens: u64,
    stop_at_line_break: bool,
}

/// Every prompt logged for one of the questions, in order, from
/// `slm_engine::prompt` trace lines (`prompt="<json string>" max_tokens=48 ...`):
/// the fact values in them are those the plant had at the time.
fn prompts_from_log(log: &str) -> Vec<LoggedPrompt> {
    let mut found = Vec::new();
    for line in log.lines().filter(|line| line.contains("slm_engine::prompt")) {
        let Some((_, rest)) = line.split_once(" prompt=") else { continue };
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<String>();
        let Some(Ok(text)) = values.next() else { continue };
        let after = &rest[values.byte_offset()..];
        let field = |name: &str| {
            after.split_whitespace().find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')).map(str::to_owned)
        };
        let Some(max_tokens) = field("max_tokens").and_then(|v| v.parse().ok()) else { continue };
        let stop_at_line_break = field("stop_at_line_break").as_deref() == Some("true");
        if field("grammar").as_deref() != Some("true") && QUESTIONS.iter().any(|q| text.contains(q)) {
            found.push(LoggedPrompt { text, max_tokens, stop_at_line_break });
        }
    }
    found
}

fn ask_llama_server(port: u16, prompt: &LoggedPrompt) -> Reply {
    let stop: &[&str] = if prompt.stop_at_line_break { &["\n"] } else { &[] };
    let body = serde_json::json!({
        "prompt": prompt.text, "max_tokens": prompt.max_tokens, "temperature": 0.0, "stop": stop, "cache_prompt": true,
    });
    match http::post_json(port, "/v1/completions", None, &body.to_string()) {
        Ok((200, text)) => {
            let reply: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            Reply::Answered { model_written: true, completion_tokens: reply["usage"]["completion_tokens"].as_u64() }
        }
        Ok((503, _)) => Reply::Busy,
        Ok((status, text)) => Reply::Failed(format!("HTTP {status}: {}", text.chars().take(200).collect::<String>())),
        Err(error) => Reply::Failed(error.to_string()),
    }
}

fn start_llama_server(
    binary: &Path,
    model: &Path,
    profile: &HardwareProfile,
    port: u16,
) -> anyhow::Result<ProcessGroup> {
    let engine = &profile.engine;
    let flash = format!("{:?}", engine.flash_attention).to_lowercase();
    let mut command = Command::new(binary);
    command
        .arg("-m")
        .arg(model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["-t", &engine.threads.to_string(), "-tb", &engine.threads_batch.to_string()])
        // One window per sequence in one unified cache, as the slm node has it.
        .args(["-c", &(engine.context_size * engine.parallel).to_string(), "--kv-unified"])
        .args(["-np", &engine.parallel.to_string()])
        .args(["-b", &engine.batch_size.to_string(), "-ub", &engine.batch_size.to_string()])
        .args(["-fa", &flash, "-ctk", engine.kv_cache_type.as_str(), "-ctv", engine.kv_cache_type.as_str()])
        .args(["-ngl", &engine.gpu_layers.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut server = ProcessGroup::spawn("llama-server", command)?;
    let ready_by = Instant::now() + Duration::from_secs(120);
    loop {
        anyhow::ensure!(server.is_running(), "llama-server exited while starting");
        anyhow::ensure!(Instant::now() < ready_by, "llama-server not ready within 120 s");
        if matches!(http::get(port, "/health", None), Ok((200, _))) {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    shopfloor_node::stats::percentile_of_sorted(sorted, p).unwrap_or(f64::NAN)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = repo_root();
    let llama_server = root.join(&args.llama_server);
    anyhow::ensure!(
        llama_server.exists(),
        "{} is missing: run scripts/build-llama-reference.sh",
        llama_server.display()
    );
    let profile = HardwareProfile::load(&root.join("hw-profiles/generic-x86-2core.toml"))?;
    let model = root.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");

    // Ours, then the peer, then again: the machine's speed drifts over minutes.
    let (mut gateway, mut mqtt, mut peer) = (Vec::new(), Vec::new(), Vec::new());
    let (mut prompt_count, mut max_tokens) = (0, 0);
    for _ in 0..args.rounds {
        let (http_levels, mqtt_levels, prompts) = measure_ours(args.seconds)?;
        peer.push(measure_peer(args.seconds, &llama_server, &model, &profile, &prompts)?);
        gateway.push(http_levels);
        mqtt.push(mqtt_levels);
        prompt_count += prompts.len();
        max_tokens = prompts.iter().map(|p| p.max_tokens).fold(max_tokens, u64::max);
    }
    print_report(&args, &profile, (prompt_count, max_tokens), &gateway, &mqtt, &peer);
    Ok(())
}

/// One round of the dataflow: warm-up, then HTTP and MQTT taking turns at
/// each level; returns their levels and the prompts the `slm` node logged.
fn measure_ours(seconds: u64) -> anyhow::Result<(Vec<Level>, Vec<Level>, Vec<LoggedPrompt>)> {
    // The nodes inherit `dora run`'s environment: the slm node logs its
    // prompts, which dora keeps in the node's log file.
    std::env::set_var("RUST_LOG", "info,slm_engine::prompt=trace");
    let topic_root = "bench/serving/cell1";
    let sim_port = free_port();
    let http_port = free_port();
    let broker_port = free_port();
    let mut dataflow = RunningDataflow::start(
        "plant-assistant.yml",
        &[
            ("SIM_PORT", sim_port.to_string()),
            ("OPCUA_ENDPOINT", format!("opc.tcp://127.0.0.1:{sim_port}/")),
            ("MQTT_EMBEDDED_LISTEN", format!("127.0.0.1:{broker_port}")),
            ("MQTT_TOPIC_ROOT", topic_root.to_owned()),
            ("GATEWAY_LISTEN", format!("127.0.0.1:{http_port}")),
            // Every answer from the nano tier: one model serves, as in the peer.
            (
                "ROUTER_TIERS",
                "nano threshold=0 expect_ms=400\nsmall threshold=0.5 expect_ms=900\ndocs kind=docs".to_owned(),
            ),
        ],
        Duration::from_secs(1200),
    )?;
    wait_until_ready_over_http(http_port, &mut dataflow, Duration::from_secs(120))?;

    let gateway_askers = |clients: usize| -> Vec<_> {
        (0..clients).map(|_| |n: usize| ask_gateway(http_port, QUESTIONS[n % QUESTIONS.len()])).collect()
    };
    let mqtt_askers = |level: usize, clients: usize| -> anyhow::Result<Vec<_>> {
        let mut askers = Vec::new();
        for client in 0..clients {
            let operator = format!("op{level}x{client}");
            let filter = format!("{topic_root}/assistant/answer/{operator}");
            let connection = TestClient::connect_named(broker_port, &[filter], &operator)?;
            askers.push(move |n: usize| {
                let id = format!("{operator}-{n}");
                ask_mqtt(&connection, topic_root, &operator, &id, QUESTIONS[n % QUESTIONS.len()])
            });
        }
        Ok(askers)
    };
    // Not measured: the first answers, and whatever the other nodes still do after starting.
    run_level(WARM_UP_SECONDS, gateway_askers(4));
    let (mut gateway, mut mqtt) = (Vec::new(), Vec::new());
    for (level, &clients) in LEVELS.iter().enumerate() {
        gateway.push(run_level(seconds, gateway_askers(clients)));
        mqtt.push(run_level(seconds, mqtt_askers(level, clients)?));
    }

    let prompts = prompts_from_log(&dataflow.node_log("slm"));
    let (success, _) = dataflow.stop();
    anyhow::ensure!(success, "dataflow did not stop cleanly");
    anyhow::ensure!(!prompts.is_empty(), "no prompt of the slm node found in the log (slm_engine::prompt)");
    Ok((gateway, mqtt, prompts))
}

/// One round of llama-server: the same warm-up, then each level, fed
/// `prompts` in their order (as the plant's values changed).
fn measure_peer(
    seconds: u64,
    binary: &Path,
    model: &Path,
    profile: &HardwareProfile,
    prompts: &[LoggedPrompt],
) -> anyhow::Result<Vec<Level>> {
    let server_port = free_port();
    let server = start_llama_server(binary, model, profile, server_port)?;
    let next_prompt = AtomicUsize::new(0);
    let askers = |clients: usize| -> Vec<_> {
        let next_prompt = &next_prompt;
        (0..clients)
            .map(|_| {
                move |_: usize| {
                    let n = next_prompt.fetch_add(1, Ordering::Relaxed);
                    ask_llama_server(server_port, &prompts[n % prompts.len()])
                }
            })
            .collect()
    };
    run_level(WARM_UP_SECONDS, askers(4));
    next_prompt.store(0, Ordering::Relaxed);
    let levels = LEVELS.iter().map(|&clients| run_level(seconds, askers(clients))).collect();
    drop(server); // stops its process group
    Ok(levels)
}

/// `rounds[r][level]` pooled over the rounds: answered/s of each round, and
/// the rest summed.
struct Pooled {
    rates: Vec<f64>,
    latencies_ms: Vec<f64>,
    answered: usize,
    model_written: usize,
    completion_tokens: u64,
    busy: usize,
    failed: Vec<String>,
}

fn pooled(rounds: &[Vec<Level>], level: usize, seconds: u64) -> Pooled {
    let mut pooled = Pooled {
        rates: Vec::new(),
        latencies_ms: Vec::new(),
        answered: 0,
        model_written: 0,
        completion_tokens: 0,
        busy: 0,
        failed: Vec::new(),
    };
    for round in rounds {
        let level = &round[level];
        pooled.rates.push(level.answered() as f64 / seconds as f64);
        pooled.latencies_ms.extend(&level.latencies_ms);
        pooled.answered += level.answered();
        pooled.model_written += level.model_written;
        pooled.completion_tokens += level.completion_tokens;
        pooled.busy += level.busy;
        pooled.failed.extend(level.failed.iter().cloned());
    }
    pooled.latencies_ms.sort_by(f64::total_cmp);
    pooled
}

fn print_report(
    args: &Args,
    profile: &HardwareProfile,
    (prompt_count, max_tokens): (usize, u64),
    gateway: &[Vec<Level>],
    mqtt: &[Vec<Level>],
    peer: &[Vec<Level>],
) {
    let engine = &profile.engine;
    println!(
        "### Many askers at once: our HTTP gateway and MQTT path against llama-server (SmolLM2-135M Q4_1, {} sequences)\n",
        engine.parallel
    );
    println!(
        "{} rounds, each: plant-assistant.yml started, every answer from the nano tier, 10 s of 4 clients not counted, \
         then at each level HTTP and MQTT in turn; the dataflow stopped; llama-server started (`-t {} -tb {} -c {} --kv-unified \
         -np {} -b {} -ub {} -ctk {}`), the same 10 s, then each level, fed the prompts the slm node built in that round, in order \
         ({prompt_count} in all; `/v1/completions`, greedy, max {} tokens, stop at a line break). Each client asks back to \
         back for {} s per level (100 ms pause after a busy answer).\n",
        args.rounds,
        engine.threads,
        engine.threads_batch,
        engine.context_size * engine.parallel,
        engine.parallel,
        engine.batch_size,
        engine.batch_size,
        engine.kv_cache_type.as_str(),
        max_tokens,
        args.seconds,
    );
    println!("| clients | path | answered | answered/s (each round) | ours ÷ llama-server | p50 / p95 latency | busy | failed | model-written | tokens per answer |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let seconds = args.seconds * args.rounds as u64;
    for (index, clients) in LEVELS.iter().enumerate() {
        let peer_rate = pooled(peer, index, args.seconds).answered as f64 / seconds as f64;
        for (path, rounds) in [("our HTTP gateway", gateway), ("our MQTT", mqtt), ("llama-server", peer)] {
            let level = pooled(rounds, index, args.seconds);
            let rate = level.answered as f64 / seconds as f64;
            let ratio = if path == "llama-server" { "-".to_owned() } else { format!("{:.2}x", rate / peer_rate) };
            let each = level.rates.iter().map(|r| format!("{r:.1}")).collect::<Vec<_>>().join(", ");
            println!(
                "| {clients} | {path} | {} | {rate:.2} ({each}) | {ratio} | {:.0} / {:.0} ms | {} | {} | {} of {} | {:.1} |",
                level.answered,
                percentile(&level.latencies_ms, 0.5),
                percentile(&level.latencies_ms, 0.95),
                level.busy,
                level.failed.len(),
                level.model_written,
                level.answered,
                level.completion_tokens as f64 / level.answered.max(1) as f64,
            );
            if let Some(first) = level.failed.first() {
                eprintln!("{path}, {clients} clients, first failure: {first}");
            }
        }
    }
}
