//! The site's documents: how well procedure questions are answered
//! (development and held-out halves of the sample documents), how fast the
//! library indexes and searches 2,000 pages and how much memory that takes,
//! and a whole procedure answer through the plant-assistant dataflow.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use shopfloor_dataflow_tests::assistant::{question, wait_until_ready};
use shopfloor_dataflow_tests::dataflow::RunningDataflow;
use shopfloor_dataflow_tests::mqtt::TestClient;
use shopfloor_dataflow_tests::{copy_sample_documents, free_port, repo_root};
use shopfloor_docs::embed::Encoder;
use shopfloor_docs::eval::{evaluate, read_questions, EvalQuestion};
use shopfloor_docs::{answer, AnswerRules, Library, Limits, ScanReport};

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

/// The evaluation sets: (name, documents folder, questions), below the
/// repository's `data/`. The plant-sim questions are asked of both of its
/// halves' documents, as the demo holds them.
const SETS: [(&str, &str, &str); 5] = [
    ("plant-sim, development (tuned on)", "docs/plant-sim", "docs-eval/dev.jsonl"),
    ("packaging line, development (tuned on)", "docs/packaging-line/dev", "docs-eval/packaging-dev.jsonl"),
    ("bakery line, development", "docs/bakery-line/dev", "docs-eval/bakery-dev.jsonl"),
    ("plant-sim, held-out", "docs/plant-sim", "docs-eval/heldout.jsonl"),
    ("site utilities, held-out", "docs/site-utilities/heldout", "docs-eval/site-utilities-heldout.jsonl"),
];

fn encoder() -> anyhow::Result<Arc<Encoder>> {
    let folder = repo_root().join("models/all-MiniLM-L6-v2");
    Ok(Arc::new(Encoder::load(&folder).with_context(|| format!("{}: run scripts/setup.sh", folder.display()))?))
}

/// A library of `folder`, searching by meaning with `encoder` when given.
fn library_of(folder: &Path, limits: Limits, encoder: Option<&Arc<Encoder>>) -> anyhow::Result<(Library, ScanReport)> {
    library_keeping_vectors(folder, limits, encoder, None)
}

/// As [`library_of`], keeping the sections' vectors in `vector_file`.
fn library_keeping_vectors(
    folder: &Path,
    limits: Limits,
    encoder: Option<&Arc<Encoder>>,
    vector_file: Option<&Path>,
) -> anyhow::Result<(Library, ScanReport)> {
    let mut library = Library::new(folder, limits)?;
    if let Some(encoder) = encoder {
        library.set_encoder(Arc::clone(encoder), vector_file)?;
    }
    let report = library.rescan()?;
    Ok((library, report))
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let rules = AnswerRules::default();
    let encoder = encoder()?;
    let data = repo_root().join("data");

    println!("### The site's documents: procedure answers (`shopfloor-bench docs`)\n");
    println!(
        "Rules chosen on the development sets only; the held-out documents and questions were written apart and not looked at. \
         \"By words\": BM25 and coverage (min coverage {:.2}), as without `DOCS_EMBEDDING_MODEL`; \"by meaning and words\": \
         all-MiniLM-L6-v2 with BM25, as the demo runs.\n",
        rules.min_coverage
    );
    println!("| set | by words | by meaning and words |");
    println!("|---|---|---|");
    let mut all_questions = Vec::new();
    let mut held_out = [(0, 0, 0, 0); 2];
    for (name, folder, questions) in SETS {
        let questions = read_questions(&data.join(questions))?;
        let mut cells = Vec::new();
        for (by_meaning, encoder) in [(false, None), (true, Some(&encoder))] {
            let (library, _) = library_of(&data.join(folder), Limits::default(), encoder)?;
            let report = evaluate(&library, &questions, &rules)?;
            cells.push(report.summary());
            if name.ends_with("held-out") {
                let total = &mut held_out[usize::from(by_meaning)];
                total.0 += report.covered_right;
                total.1 += report.covered;
                total.2 += report.uncovered_right;
                total.3 += report.uncovered;
            }
        }
        println!("| {name} | {} | {} |", cells[0], cells[1]);
        all_questions.extend(questions);
    }
    let cell = |(right, covered, told, uncovered): (usize, usize, usize, usize)| {
        format!(
            "right section {right}/{covered} ({:.0} %); no procedure where none covers {told}/{uncovered}",
            right as f64 * 100.0 / covered.max(1) as f64
        )
    };
    println!("| **held-out, both** | {} | {} |", cell(held_out[0]), cell(held_out[1]));
    println!();

    let corpus = tempfile::tempdir()?;
    let generated = generate_corpus(corpus.path())?;
    copy_sample_documents(&corpus.path().join("samples"))?;
    let limits = Limits { max_files: 10_000, ..Limits::default() };
    for encoder in [None, Some(&encoder)] {
        index_and_search(corpus.path(), generated, limits.clone(), encoder, &all_questions, &rules)?;
    }
    library_rescan_noop(corpus.path())?;

    if !args.no_dataflow {
        let dev = read_questions(&data.join("docs-eval/dev.jsonl"))?;
        through_dataflow(&dev)?;
    }
    Ok(())
}

/// Indexing time and memory of the generated library and the sample
/// documents, and search and answer times over `questions`.
fn index_and_search(
    folder: &Path,
    generated: usize,
    limits: Limits,
    encoder: Option<&Arc<Encoder>>,
    questions: &[EvalQuestion],
    rules: &AnswerRules,
) -> anyhow::Result<()> {
    let state = tempfile::tempdir()?;
    let vector_file = encoder.map(|_| state.path().join("section-vectors.bin"));
    let before = rss_kib();
    let started = Instant::now();
    let (library, report) = library_keeping_vectors(folder, limits.clone(), encoder, vector_file.as_deref())?;
    let indexing = started.elapsed().as_secs_f64();
    let after = rss_kib();
    // A second start with the vectors the first one kept (DOCS_VECTOR_FILE).
    let restart = match &vector_file {
        Some(file) => {
            let started = Instant::now();
            let (again, report) = library_keeping_vectors(folder, limits, encoder, Some(file))?;
            let seconds = started.elapsed().as_secs_f64();
            anyhow::ensure!(report.encoded == 0, "{} sections encoded again", report.encoded);
            drop(again);
            Some((seconds, std::fs::metadata(file)?.len()))
        }
        None => None,
    };
    anyhow::ensure!(report.unreadable.is_empty(), "unreadable: {:?}", report.unreadable);
    let stats = library.stats();
    let (mut searches, mut answers) = (Vec::new(), Vec::new());
    for _ in 0..SEARCH_ROUNDS {
        for question in questions {
            let started = Instant::now();
            let hits = library.search(&question.question, shopfloor_docs::answer::CANDIDATES)?;
            searches.push(started.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(hits);
            let started = Instant::now();
            std::hint::black_box(answer(&library, &question.question, &[], rules)?);
            answers.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    searches.sort_by(f64::total_cmp);
    answers.sort_by(f64::total_cmp);
    let how = if encoder.is_some() { "by meaning and words (the model loaded before)" } else { "by words" };
    println!(
        "#### Index and search {how}: {} documents ({} generated PDFs of {PAGES_PER_DOCUMENT} pages and the samples), {} pages, {} sections, {:.1} MB\n",
        stats.documents,
        generated,
        stats.pages,
        stats.sections,
        stats.bytes as f64 / 1e6
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!("| indexing (read, parse, index) | {indexing:.2} s, {:.0} pages/s |", stats.pages as f64 / indexing);
    if let Some((seconds, bytes)) = restart {
        println!(
            "| indexing again, the vectors read back from `DOCS_VECTOR_FILE` | {seconds:.2} s, {:.0} pages/s; file {:.1} MB |",
            stats.pages as f64 / seconds,
            bytes as f64 / 1e6
        );
    }
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
