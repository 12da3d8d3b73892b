//! Load on the HTTP gateway of `dataflows/plant-assistant.yml`: 1, 4 and 16
//! clients each sending chat completions back to back for a fixed time.
//! Reports requests/s, latency p50/p95 of the 200s, how many were refused by
//! the bounds (503 busy from the model's queue, 429 from the gateway), and
//! the resident memory of `slm` and `http-gateway` (from `/metrics`) before
//! and after each level. Prints a markdown section for docs/benchmarks.md.

use std::time::{Duration, Instant};

use shopfloor_dataflow_tests::assistant::wait_until_ready_over_http;
use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::{free_port, http};

const LEVELS: [usize; 3] = [1, 4, 16];
const SECONDS_PER_LEVEL: u64 = 20;
const QUESTIONS: &[&str] = &[
    "What is the spindle temperature?",
    "How fast is the spindle turning?",
    "Is the machine running?",
    "What is the vibration level?",
];

fn ask(port: u16, question: &str) -> anyhow::Result<u16> {
    let body = serde_json::json!({"model": "shopfloor-assistant", "messages": [{"role": "user", "content": question}]});
    Ok(http::post_json(port, "/v1/chat/completions", None, &body.to_string())?.0)
}

/// `process_resident_memory_bytes` of each node, from the gateway's page.
fn rss_mib(port: u16, node: &str) -> f64 {
    let Ok((200, page)) = http::get(port, "/metrics", None) else { return f64::NAN };
    let prefix = format!("process_resident_memory_bytes{{node=\"{node}\"}} ");
    page.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map_or(f64::NAN, |bytes| bytes / (1024.0 * 1024.0))
}

/// The router's counters of final answers and escalations, by tier, from
/// the gateway's page (`shopfloor_router_answers_total{node="router",tier="nano"} 12`).
fn router_counts(port: u16) -> std::collections::BTreeMap<String, f64> {
    let Ok((200, page)) = http::get(port, "/metrics", None) else { return Default::default() };
    page.lines()
        .filter(|line| {
            line.starts_with("shopfloor_router_answers_total{")
                || line.starts_with("shopfloor_router_escalations_total{")
        })
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            let kind = if name.starts_with("shopfloor_router_answers") { "answered" } else { "escalated" };
            let tier = name.split("tier=\"").nth(1)?.split('"').next()?;
            Some((format!("{kind} by {tier}"), value.parse().ok()?))
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    shopfloor_node::stats::percentile_of_sorted(sorted, p).unwrap_or(f64::NAN)
}

struct Level {
    clients: usize,
    ok_latencies_ms: Vec<f64>,
    busy: usize,
    too_many: usize,
    other: usize,
    rss_before: (f64, f64),
    rss_after: (f64, f64),
    /// Router answers and escalations by tier during the level.
    by_tier: Vec<(String, f64)>,
}

fn run_level(port: u16, clients: usize) -> Level {
    let rss_before = (rss_mib(port, "slm"), rss_mib(port, "http-gateway"));
    let counts_before = router_counts(port);
    let until = Instant::now() + Duration::from_secs(SECONDS_PER_LEVEL);
    let results: Vec<(u16, f64)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|client| {
                scope.spawn(move || {
                    let mut results = Vec::new();
                    let mut n = client;
                    while Instant::now() < until {
                        let started = Instant::now();
                        let status = ask(port, QUESTIONS[n % QUESTIONS.len()]).unwrap_or(0);
                        results.push((status, started.elapsed().as_secs_f64() * 1e3));
                        n += 1;
                        if status == 429 || status == 503 {
                            // What a client told Retry-After would do, shortened.
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                    results
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_default()).collect()
    });
    // Let the 1 s metric snapshots catch up before reading memory.
    std::thread::sleep(Duration::from_millis(1500));
    let mut ok_latencies_ms: Vec<f64> = results.iter().filter(|(s, _)| *s == 200).map(|(_, ms)| *ms).collect();
    ok_latencies_ms.sort_by(f64::total_cmp);
    Level {
        clients,
        busy: results.iter().filter(|(s, _)| *s == 503).count(),
        too_many: results.iter().filter(|(s, _)| *s == 429).count(),
        other: results.iter().filter(|(s, _)| ![200, 429, 503].contains(s)).count(),
        ok_latencies_ms,
        rss_before,
        rss_after: (rss_mib(port, "slm"), rss_mib(port, "http-gateway")),
        by_tier: router_counts(port)
            .into_iter()
            .map(|(key, after)| {
                let before = counts_before.get(&key).copied().unwrap_or(0.0);
                (key, after - before)
            })
            .filter(|(_, delta)| *delta > 0.0)
            .collect(),
    }
}

pub fn run() -> anyhow::Result<()> {
    let sim_port = free_port();
    let http_port = free_port();
    let mut dataflow = RunningDataflow::start(
        "plant-assistant.yml",
        &[
            ("SIM_PORT", sim_port.to_string()),
            ("OPCUA_ENDPOINT", format!("opc.tcp://127.0.0.1:{sim_port}/")),
            ("MQTT_EMBEDDED_LISTEN", format!("127.0.0.1:{}", free_port())),
            ("MQTT_TOPIC_ROOT", "bench/http/cell1".to_owned()),
            ("GATEWAY_LISTEN", format!("127.0.0.1:{http_port}")),
        ],
        Duration::from_secs(600),
    )?;
    wait_until_ready_over_http(http_port, &mut dataflow, Duration::from_secs(120))?;

    let levels: Vec<Level> = LEVELS.iter().map(|clients| run_level(http_port, *clients)).collect();
    let (success, _) = dataflow.stop();
    anyhow::ensure!(success, "dataflow did not stop cleanly");

    println!("### HTTP gateway under load (plant-assistant.yml, tiers SmolLM2-135M Q4_1 (4 sequences, queue 16) and Gemma 3 270M, GATEWAY_MAX_CONCURRENT 16)\n");
    println!(
        "Each client sends chat completions back to back for {SECONDS_PER_LEVEL} s (100 ms pause after a 503/429).\n"
    );
    println!("| clients | answered (200) | answered/s | p50 / p95 latency of 200s | 503 busy | 429 | other | RSS slm before → after | RSS gateway before → after | router: by tier |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for level in &levels {
        let answered = level.ok_latencies_ms.len();
        println!(
            "| {} | {} | {:.1} | {:.0} / {:.0} ms | {} | {} | {} | {:.0} → {:.0} MiB | {:.1} → {:.1} MiB | {} |",
            level.clients,
            answered,
            answered as f64 / SECONDS_PER_LEVEL as f64,
            percentile(&level.ok_latencies_ms, 0.5),
            percentile(&level.ok_latencies_ms, 0.95),
            level.busy,
            level.too_many,
            level.other,
            level.rss_before.0,
            level.rss_after.0,
            level.rss_before.1,
            level.rss_after.1,
            level.by_tier.iter().map(|(key, n)| format!("{key} {n:.0}")).collect::<Vec<_>>().join(", "),
        );
    }
    Ok(())
}
