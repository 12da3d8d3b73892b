//! The site's documents: how well procedure questions are answered
//! (development and held-out halves of the sample documents), how fast the
//! library indexes and searches 2,000 pages and how much memory that takes,
//! and a whole procedure answer through the plant-assistant dataflow.

use std::path::Path;
use std::time::{Duration, Instant};

use shopfloor_dataflow_tests::assistant::{question, wait_until_ready};
use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::{copy_sample_documents, free_port, repo_root};
use shopfloor_docs::eval::{evaluate, read_questions, EvalQuestion};
use shopfloor_docs::{answer, AnswerRules, Library, Limits};

/// Generated PDF documents of the search benchmark, and pages each.
const GENERATED_DOCUMENTS: usize = 500;
const PAGES_PER_DOCUMENT: usize = 4;
/// Times every question is searched.
const SEARCH_ROUNDS: usize = 10;
/// Procedure questions asked through the dataflow.
const DATAFLOW_QUESTIONS: usize = 20;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Skip the whole-dataflow part (models load for a minute).
    #[arg(long)]
    pub no_dataflow: bool,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    shopfloor_node::stats::percentile_of_sorted(sorted, p).unwrap_or(f64::NAN)
}

/// This process's resident memory, KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let samples = repo_root().join("data/docs/plant-sim");
    let rules = AnswerRules::default();
    let dev = read_questions(&repo_root().join("data/docs-eval/dev.jsonl"))?;
    let heldout = read_questions(&repo_root().join("data/docs-eval/heldout.jsonl"))?;

    println!("### The site's documents: procedure answers (`shopfloor-bench docs`)\n");
    println!(
        "Rules chosen on the development half only (min coverage {:.2}, near rank {:.2}, coverage power {:.1}); the held-out half's documents and questions were written apart and not looked at.\n",
        rules.min_coverage, rules.near_rank, rules.coverage_power
    );
    let (library, _) = Library::open(&samples, Limits::default())?;
    for (name, questions) in [("development (tuned on)", &dev), ("held-out", &heldout)] {
        let report = evaluate(&library, questions, &rules)?;
        println!("- {name}: {}", report.summary());
    }
    println!();

    let corpus = tempfile::tempdir()?;
    let generated = generate_corpus(corpus.path())?;
    copy_sample_documents(&corpus.path().join("samples"))?;
    let before = rss_kib();
    let started = Instant::now();
    let (library, report) = Library::open(corpus.path(), Limits { max_files: 10_000, ..Limits::default() })?;
    let indexing = started.elapsed().as_secs_f64();
    let after = rss_kib();
    anyhow::ensure!(report.unreadable.is_empty(), "unreadable: {:?}", report.unreadable);
    let stats = library.stats();
    let questions: Vec<&EvalQuestion> = dev.iter().chain(&heldout).collect();
    let (mut searches, mut answers) = (Vec::new(), Vec::new());
    for _ in 0..SEARCH_ROUNDS {
        for question in &questions {
            let started = Instant::now();
            let hits = library.search(&question.question, 8)?;
            searches.push(started.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(hits);
            let started = Instant::now();
            std::hint::black_box(answer(&library, &question.question, &[], &rules)?);
            answers.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    searches.sort_by(f64::total_cmp);
    answers.sort_by(f64::total_cmp);
    library_rescan_noop(corpus.path())?;
    println!(
        "#### Index and search: {} documents ({} generated PDFs of {PAGES_PER_DOCUMENT} pages and the samples), {} pages, {} sections, {:.1} MB\n",
        stats.documents,
        generated,
        stats.pages,
        stats.sections,
        stats.bytes as f64 / 1e6
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!("| indexing (read, parse, index) | {indexing:.2} s, {:.0} pages/s |", stats.pages as f64 / indexing);
    println!("| resident memory added by the library | {:.1} MiB |", after.saturating_sub(before) as f64 / 1024.0);
    println!("| index segments | {:.1} MiB |", library.index_bytes() as f64 / (1024.0 * 1024.0));
    println!(
        "| search p50 / p95 ({} questions × {SEARCH_ROUNDS}) | {:.2} / {:.2} ms |",
        questions.len(),
        percentile(&searches, 0.5),
        percentile(&searches, 0.95)
    );
    println!(
        "| procedure answer (search and quote) p50 / p95 | {:.2} / {:.2} ms |",
        percentile(&answers, 0.5),
        percentile(&answers, 0.95)
    );
    println!();

    if !args.no_dataflow {
        through_dataflow(&dev)?;
    }
    Ok(())
}

/// A scan of an unchanged folder (what every `DOCS_RESCAN_MS` costs).
fn library_rescan_noop(folder: &Path) -> anyhow::Result<()> {
    let (mut library, _) = Library::open(folder, Limits { max_files: 10_000, ..Limits::default() })?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let report = library.rescan()?;
        anyhow::ensure!(!report.changed(), "the folder changed");
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!("Scan of the unchanged folder (each `DOCS_RESCAN_MS`): {:.1} ms median.\n", percentile(&times, 0.5));
    Ok(())
}

/// Equipment and topics of the generated documents.
const EQUIPMENT: &[&str] = &[
    "press",
    "pump",
    "conveyor",
    "oven",
    "mixer",
    "filler",
    "labeler",
    "palletizer",
    "compressor",
    "boiler",
    "chiller",
    "robot",
    "welder",
    "lathe",
    "grinder",
    "saw",
    "dryer",
    "extruder",
    "sealer",
    "capper",
];
const TOPICS: &[(&str, &[&str])] = &[
    (
        "Start-up",
        &["Check the guards are closed", "Switch on the main supply", "Wait for the ready lamp", "Run one empty cycle"],
    ),
    ("Shutdown", &["Finish the current batch", "Stop the feed", "Switch off the drive", "Clean the work area"]),
    (
        "Cleaning",
        &[
            "Lock out the machine",
            "Remove loose debris",
            "Wipe the surfaces with the approved cleaner",
            "Inspect the seals",
        ],
    ),
    (
        "Fault response",
        &[
            "Read the fault code on the panel",
            "Stop the machine",
            "Call maintenance with the fault code",
            "Record the fault in the log",
        ],
    ),
    (
        "Lubrication",
        &[
            "Stop the machine",
            "Grease the bearings at each nipple",
            "Check the oil level in the sight glass",
            "Wipe off excess grease",
        ],
    ),
];

/// Writes `GENERATED_DOCUMENTS` PDFs of `PAGES_PER_DOCUMENT` pages, each
/// page three sections of numbered steps and some prose.
fn generate_corpus(folder: &Path) -> anyhow::Result<usize> {
    for n in 0..GENERATED_DOCUMENTS {
        let equipment = EQUIPMENT[n % EQUIPMENT.len()];
        let number = n / EQUIPMENT.len() + 1;
        let mut pages = Vec::with_capacity(PAGES_PER_DOCUMENT);
        for page in 0..PAGES_PER_DOCUMENT {
            let mut lines = Vec::new();
            if page == 0 {
                lines.push(format!("Operating Instructions - {equipment} {number}"));
                lines.push(String::new());
            }
            for section in 0..3 {
                let (topic, steps) = TOPICS[(page * 3 + section + n) % TOPICS.len()];
                lines.push(format!("{topic} of the {equipment} {number}, part {}", page * 3 + section + 1));
                lines.push(String::new());
                lines.push(format!(
                    "This section applies to {equipment} {number} in area {}. Follow it in order and report any deviation.",
                    n % 7 + 1
                ));
                for (step, text) in steps.iter().enumerate() {
                    lines.push(format!("{}. {text} of {equipment} {number} and note the time.", step + 1));
                }
                lines.push(String::new());
            }
            pages.push(lines);
        }
        let bytes = shopfloor_docs::pdf::write_pages(&pages)?;
        std::fs::write(folder.join(format!("{equipment}-{number}-{n}.pdf")), bytes)?;
    }
    Ok(GENERATED_DOCUMENTS)
}

/// Procedure questions over the embedded broker through the router to
/// plant-docs and back: the round trip an operator waits.
fn through_dataflow(questions: &[EvalQuestion]) -> anyhow::Result<()> {
    let mqtt_port = free_port();
    let sim_port = free_port();
    let root = "bench/docs/cell1";
    let mut dataflow = RunningDataflow::start(
        "plant-assistant.yml",
        &[
            ("SIM_PORT", sim_port.to_string()),
            ("OPCUA_ENDPOINT", format!("opc.tcp://127.0.0.1:{sim_port}/")),
            ("MQTT_TOPIC_ROOT", root.to_owned()),
            ("MQTT_EMBEDDED_LISTEN", format!("127.0.0.1:{mqtt_port}")),
            ("GATEWAY_LISTEN", format!("127.0.0.1:{}", free_port())),
        ],
        Duration::from_secs(600),
    )?;
    let client = TestClient::connect(mqtt_port, &[format!("{root}/assistant/answer/#")])?;
    wait_until_ready(&client, root, &mut dataflow, Duration::from_secs(120))?;
    let topic = format!("{root}/assistant/query/bench");
    let covered: Vec<&EvalQuestion> = questions.iter().filter(|q| q.expect.is_some()).collect();
    let (mut round_trips, mut by_docs) = (Vec::new(), 0);
    for n in 0..DATAFLOW_QUESTIONS {
        let asked = covered[n % covered.len()];
        let id = format!("docs-{n}");
        let sent = Instant::now();
        client.publish(&topic, question(&id, &asked.question))?;
        let reply = client
            .wait_for(Duration::from_secs(30), |m| m.json["id"] == id.as_str())
            .ok_or_else(|| anyhow::anyhow!("no answer to {id}"))?;
        round_trips.push(sent.elapsed().as_secs_f64() * 1e3);
        if reply.json["route"].as_array().is_some_and(|route| route.iter().any(|hop| hop["tier"] == "docs")) {
            by_docs += 1;
        }
    }
    let (success, _) = dataflow.stop();
    anyhow::ensure!(success, "dataflow did not stop cleanly");
    round_trips.sort_by(f64::total_cmp);
    println!("#### A whole procedure answer: MQTT question to MQTT answer (embedded broker, router, plant-docs)\n");
    println!("| measure | value |");
    println!("|---|---|");
    println!("| questions | {DATAFLOW_QUESTIONS} covered development questions, one after another |");
    println!(
        "| round trip p50 / p95 / max | {:.0} / {:.0} / {:.0} ms |",
        percentile(&round_trips, 0.5),
        percentile(&round_trips, 0.95),
        round_trips.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "| answered by the docs tier (the rest: classed otherwise by the router) | {by_docs} / {DATAFLOW_QUESTIONS} |"
    );
    Ok(())
}
