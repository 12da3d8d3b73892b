//! Operator console benchmark: the page's weight, and how long a browser
//! takes to show the live table of 1,000 tags with full histories, while
//! every tag changes four times a second. An async-opcua server (this
//! binary, `opcua-ingest --serve`) writes 1,000 Doubles every 250 ms;
//! `dataflows/bench-console.yml` carries them through opcua-source into the
//! gateway; Debian's headless Chromium logs in and reloads the page.
//!
//! First paint: from the page's navigation start to the User Timing mark
//! `shopfloor-table-painted`, which the page sets after the frame that drew
//! its first table (console.js, `markTablePainted`). Long tasks: script or
//! layout work over 50 ms on the page's main thread (PerformanceObserver
//! `longtask`), counted over 10 s of live updates. Prints a markdown
//! section for docs/benchmarks.md.

use std::process::Command;
use std::time::{Duration, Instant};

use shopfloor_dataflow_tests::browser::{chromium, js_value};
use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::process::ProcessGroup;
use shopfloor_dataflow_tests::{free_port, http, scratch_dir};

use crate::opcua_ingest::variable;

/// Waits for the page (two minutes at most).
fn wait_js(
    tab: &headless_chrome::Tab,
    what: &str,
    expression: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> anyhow::Result<serde_json::Value> {
    shopfloor_dataflow_tests::browser::wait_js(tab, what, expression, Duration::from_secs(120), done)
}

const KEY: &str = "bench-console-key";
const TICK_MS: u64 = 250;
/// Long enough for every tag's history to fill (120 points at 4 Hz is 30 s).
const FILL: Duration = Duration::from_secs(35);
const LOADS: usize = 5;
const WATCH: Duration = Duration::from_secs(10);

#[derive(clap::Args)]
pub struct Args {
    /// Tags on the page.
    #[arg(long, default_value_t = 1_000)]
    tags: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let opcua_port = free_port();
    let http_port = free_port();
    let mut server = Command::new(std::env::current_exe()?);
    server.args(["opcua-ingest", "--serve", &opcua_port.to_string(), "--serve-secs", "400"]);
    server.args(["--serve-variables", &args.tags.to_string(), "--serve-tick-ms", &TICK_MS.to_string()]);
    let _server = ProcessGroup::spawn("bench-opcua-server", server)?;
    wait_until(Duration::from_secs(30), "the OPC UA server to listen", || {
        Ok(std::net::TcpStream::connect(("127.0.0.1", opcua_port)).is_ok())
    })?;

    let dir = scratch_dir("bench-console");
    let tags = dir.join("tags.txt");
    let lines: Vec<String> = (0..args.tags).map(|i| format!("v{i:05} {}", variable(i))).collect();
    std::fs::write(&tags, lines.join("\n"))?;
    let envs = [
        ("OPCUA_ENDPOINT", format!("opc.tcp://127.0.0.1:{opcua_port}/")),
        ("OPCUA_TAGS_FILE", tags.display().to_string()),
        ("GATEWAY_LISTEN", format!("127.0.0.1:{http_port}")),
        ("GATEWAY_API_KEY", KEY.to_owned()),
    ];
    let dataflow = RunningDataflow::start("bench-console.yml", &envs, Duration::from_secs(360))?;
    wait_until(Duration::from_secs(60), "the gateway to listen", || {
        Ok(http::get(http_port, "/healthz", None).is_ok_and(|(status, _)| status == 200))
    })?;
    let page_bytes = ["/console", "/console/console.js", "/console/console.css"]
        .iter()
        .map(|path| http::get(http_port, path, None).map(|(_, body)| body.len()))
        .sum::<anyhow::Result<usize>>()?;

    let browser = chromium()?;
    let tab = browser.new_tab()?;
    let url = format!("http://127.0.0.1:{http_port}/console");
    tab.navigate_to(&url)?.wait_until_navigated()?;
    wait_js(&tab, "the login form", "!document.getElementById('login').hidden", |v| v == true)?;
    tab.evaluate(
        &format!(
            "document.getElementById('login-operator').value = 'bench'; \
             document.getElementById('login-key').value = '{KEY}'; \
             document.getElementById('login-form').requestSubmit();"
        ),
        false,
    )?;
    let rows = "document.querySelectorAll('#tags-table tbody tr').length";
    wait_js(&tab, "every tag on the page", rows, |v| v.as_u64() == Some(args.tags as u64))?;
    std::thread::sleep(FILL);

    let mut paints = Vec::new();
    let mut snapshot_chars = 0;
    for _ in 0..LOADS {
        tab.reload(true, None)?.wait_until_navigated()?;
        let mark = "(() => { const m = performance.getEntriesByName('shopfloor-table-painted')[0]; \
                    return m ? { startTime: m.startTime, detail: m.detail } : null; })()";
        let painted = wait_js(&tab, "the painted table", mark, |v| v.is_object())?;
        anyhow::ensure!(painted["detail"]["tags"].as_u64() == Some(args.tags as u64), "a partial table: {painted}");
        paints.push(painted["startTime"].as_f64().unwrap_or(f64::NAN));
        snapshot_chars = painted["detail"]["snapshot_chars"].as_u64().unwrap_or(0);
    }
    tab.evaluate(
        "window.__longTasks = []; new PerformanceObserver((list) => { \
         for (const e of list.getEntries()) window.__longTasks.push(e.duration); }).observe({ type: 'longtask' });",
        false,
    )?;
    std::thread::sleep(WATCH);
    let long_tasks: Vec<f64> = serde_json::from_value(js_value(&tab, "window.__longTasks")?).unwrap_or_default();
    let (stopped, _) = dataflow.stop();
    anyhow::ensure!(stopped, "the benchmark dataflow did not stop cleanly");

    paints.sort_by(f64::total_cmp);
    let median = paints[paints.len() / 2];
    println!(
        "### Operator console ({} tags, each changing every {TICK_MS} ms, 120-point histories; headless Chromium)\n",
        args.tags
    );
    println!("| measure | value |\n|---|---|");
    println!("| page weight (HTML + JS + CSS, uncompressed) | {:.1} KiB |", page_bytes as f64 / 1024.0);
    println!("| first live snapshot (characters of JSON) | {:.0} KiB |", snapshot_chars as f64 / 1024.0);
    println!(
        "| first paint of the live table, median of {LOADS} reloads (min–max) | {median:.0} ms ({:.0}–{:.0}) |",
        paints[0],
        paints[paints.len() - 1]
    );
    println!(
        "| long tasks (> 50 ms) during {} s of live updates | {} (longest {:.0} ms) |",
        WATCH.as_secs(),
        long_tasks.len(),
        long_tasks.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "\nFirst paint: from navigation start (session cookie already set) to the page's `shopfloor-table-painted` \
         mark, set after the frame that drew the table. {} tags × 4 updates/s reach the page as server-sent events.",
        args.tags
    );
    Ok(())
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> anyhow::Result<bool>) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done()? {
        anyhow::ensure!(Instant::now() < deadline, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
