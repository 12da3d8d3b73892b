//! `shopfloor docs index|search|evaluate`: the site's documents as the
//! plant-docs node reads them, for the person who keeps them.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use shopfloor_docs::embed::Encoder;
use shopfloor_docs::eval::{evaluate, read_questions, EvalQuestion};
use shopfloor_docs::vectors::Found;
use shopfloor_docs::{answer, AnswerRules, Library, Limits};

use crate::cli::{ByMeaning, DocsCommand};

/// Exit status when an evaluation misses a goal.
const MISSED_A_GOAL: u8 = 1;
/// The goals of docs/benchmarks.md.
const RIGHT_SECTION_GOAL: f64 = 0.9;

pub fn run(command: DocsCommand) -> anyhow::Result<ExitCode> {
    match command {
        DocsCommand::Index { folder, meaning } => index(&folder, &meaning),
        DocsCommand::Search { folder, question, limit, min_coverage, meaning } => {
            search(&folder, &meaning, &question, usize::try_from(limit).unwrap_or(usize::MAX), rules(min_coverage))
        }
        DocsCommand::Evaluate { folder, questions, min_coverage, meaning, candidates } => {
            evaluate_set(&folder, &meaning, &questions, rules(min_coverage), candidates.as_deref())
        }
    }
}

fn rules(min_coverage: Option<f32>) -> AnswerRules {
    let rules = AnswerRules::default();
    AnswerRules { min_coverage: min_coverage.unwrap_or(rules.min_coverage), ..rules }
}

fn open(folder: &Path, meaning: &ByMeaning) -> anyhow::Result<(Library, f64)> {
    let started = Instant::now();
    let mut library = Library::new(folder, Limits::default())?;
    if let Some(model) = &meaning.embedding_model {
        let encoder =
            Encoder::load(model).with_context(|| format!("cannot load the embedding model in {}", model.display()))?;
        let found = library.set_encoder(Arc::new(encoder), meaning.vector_file.as_deref())?;
        if let (Some(Found::Ignored(why)), Some(file)) = (found, &meaning.vector_file) {
            println!("not used: {}: {why}", file.display());
        }
    }
    let report = library.rescan().with_context(|| format!("cannot read the documents in {}", folder.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    if library.has_encoder() {
        println!("sections encoded: {}; read back from the vector file: {}", report.encoded, report.reused);
    }
    for (document, why) in &report.unreadable {
        println!("unreadable: {document}: {why}");
    }
    for (document, why) in &report.skipped {
        println!("left out: {document}: {why}");
    }
    Ok((library, seconds))
}

fn index(folder: &Path, meaning: &ByMeaning) -> anyhow::Result<ExitCode> {
    let (library, seconds) = open(folder, meaning)?;
    let stats = library.stats();
    let mut documents: Vec<String> = Vec::new();
    for section in library.sections() {
        if !documents.contains(&section.document) {
            documents.push(section.document.clone());
        }
    }
    documents.sort();
    for document in &documents {
        let sections = library.sections_of(document);
        let Some(first) = sections.first() else { continue };
        println!("{document}: \"{}\" ({})", first.title, first.language.english_name());
        for entry in sections {
            let heading =
                if entry.section.heading.is_empty() { "(before the first heading)" } else { &entry.section.heading };
            let page = entry.section.page.map(|p| format!(", page {p}")).unwrap_or_default();
            println!("  § {heading}{page}: {} steps", entry.section.steps.len());
        }
    }
    println!(
        "{} documents, {} sections, {} pages, {} bytes read in {:.3} s; index {} bytes",
        stats.documents,
        stats.sections,
        stats.pages,
        stats.bytes,
        seconds,
        library.index_bytes()
    );
    Ok(ExitCode::SUCCESS)
}

fn search(
    folder: &Path,
    meaning: &ByMeaning,
    question: &str,
    limit: usize,
    rules: AnswerRules,
) -> anyhow::Result<ExitCode> {
    let (library, _) = open(folder, meaning)?;
    let started = Instant::now();
    let hits = library.search(question, limit)?;
    let search_ms = started.elapsed().as_secs_f64() * 1000.0;
    for hit in &hits {
        println!(
            "{:7.2}  coverage {:.2}  meaning {:.2}  {}",
            hit.score,
            hit.coverage,
            hit.similarity,
            hit.entry.citation()
        );
    }
    let reply = answer(&library, question, &[], &rules)?;
    println!("\n{}", reply.text);
    println!("\n(search {search_ms:.2} ms; min coverage {:.2})", rules.min_coverage);
    Ok(ExitCode::SUCCESS)
}

fn evaluate_set(
    folder: &Path,
    meaning: &ByMeaning,
    questions: &Path,
    rules: AnswerRules,
    candidates: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let (library, _) = open(folder, meaning)?;
    let questions = read_questions(questions)?;
    if let Some(path) = candidates {
        write_candidates(&library, &questions, path)?;
    }
    let report = evaluate(&library, &questions, &rules)?;
    for outcome in report.outcomes.iter().filter(|o| !o.right) {
        println!(
            "miss {}: {:?}\n  expected {}\n  got      {}",
            outcome.id, outcome.question, outcome.expected, outcome.got
        );
    }
    println!("{}", report.summary());
    let met = report.right_section_share() >= RIGHT_SECTION_GOAL
        && report.uncovered_right == report.uncovered
        && report.unsupported_steps == 0;
    Ok(if met { ExitCode::SUCCESS } else { ExitCode::from(MISSED_A_GOAL) })
}

/// Each question's candidates with what ranks them, one JSON line per
/// question.
fn write_candidates(library: &Library, questions: &[EvalQuestion], path: &Path) -> anyhow::Result<()> {
    let mut lines = String::new();
    for question in questions {
        let hits = library.search(&question.question, shopfloor_docs::answer::CANDIDATES)?;
        let hits: Vec<serde_json::Value> = hits
            .iter()
            .map(|hit| {
                serde_json::json!({
                    "document": hit.entry.file_name(),
                    "section": hit.entry.section.heading,
                    "position": hit.entry.position,
                    "steps": hit.entry.section.steps.len(),
                    "score": hit.score,
                    "coverage": hit.coverage,
                    "similarity": hit.similarity,
                })
            })
            .collect();
        let expected =
            question.expect.as_ref().map(|e| serde_json::json!({"document": e.document, "section": e.section}));
        let line =
            serde_json::json!({"id": question.id, "question": question.question, "expect": expected, "hits": hits});
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    std::fs::write(path, lines).with_context(|| format!("cannot write {}", path.display()))
}
