//! Procedure answers: the steps of the best section, quoted in order, with
//! its document, section and page named, and the live value beside each
//! step that refers to one. A question no section covers is told so, with
//! the closest documents, never an invented procedure.

use shopfloor_vocabulary::language::{self, Language};
use shopfloor_vocabulary::text::words;

use crate::library::{DocsError, Hit, Library};

/// How many sections a question is compared with.
pub const CANDIDATES: usize = 8;
/// Most documents named when none covers the question.
const MAX_CLOSEST: usize = 3;
/// Most characters of prose quoted from a section without steps.
const MAX_PROSE_CHARS: usize = 600;

/// How an answer is found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnswerRules {
    /// Least coverage of the question's words (weighted by their rarity)
    /// that a section must have to answer it (0..=1). These rules were
    /// chosen on the development questions only (`data/docs-eval/dev.jsonl`;
    /// docs/benchmarks.md reports the held-out ones).
    pub min_coverage: f32,
    /// An earlier section of the best one's document within this share of
    /// its rank answers instead (0..=1; 1 turns it off).
    pub near_rank: f32,
    /// How much coverage weighs against BM25 in ranking: rank = BM25 ×
    /// coverage^power.
    pub coverage_power: f32,
}

impl Default for AnswerRules {
    fn default() -> Self {
        AnswerRules {
            min_coverage: DEFAULT_MIN_COVERAGE,
            near_rank: DEFAULT_NEAR_RANK,
            coverage_power: DEFAULT_COVERAGE_POWER,
        }
    }
}

/// The default [`AnswerRules::near_rank`].
pub const DEFAULT_NEAR_RANK: f32 = 0.85;
/// The default [`AnswerRules::coverage_power`].
pub const DEFAULT_COVERAGE_POWER: f32 = 3.0;

/// The default [`AnswerRules::min_coverage`].
pub const DEFAULT_MIN_COVERAGE: f32 = 0.6;

/// A plant value now, for the steps that refer to it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveValue {
    pub tag: String,
    /// The value as shown, with its unit (`84.2 °C`).
    pub shown: String,
}

/// What the library says to a question.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcedureAnswer {
    /// The answer in plain language.
    pub text: String,
    /// The sections quoted (`file § heading (page N)`); empty when none
    /// covers the question.
    pub sources: Vec<String>,
    /// The live values given beside steps (`tag = shown`).
    pub facts: Vec<String>,
    /// Whether a section answered; false: "no procedure found".
    pub found: bool,
    /// The quoted steps (without live values), for the support check.
    pub steps: Vec<String>,
    /// The language of the source, when it differs from the question's.
    pub source_language: Option<Language>,
    /// The section quoted: its document (path below the folder) and heading.
    pub cited: Option<(String, String)>,
    /// Steps of the answer the section does not support (the check of every
    /// answer, like the value check of numbers); 0 for quoted steps.
    pub unsupported_steps: usize,
}

/// Answers `question` from the library.
pub fn answer(
    library: &Library,
    question: &str,
    live: &[LiveValue],
    rules: &AnswerRules,
) -> Result<ProcedureAnswer, DocsError> {
    let hits = library.search(question, CANDIDATES)?;
    let best = if library.has_encoder() { choose_by_meaning(question, &hits) } else { choose(question, &hits, rules) };
    let Some(best) = best else {
        return Ok(not_found(&hits));
    };
    let entry = best.entry;
    let section = &entry.section;
    let mut text = String::new();
    let heading = if section.heading.is_empty() { entry.title.as_str() } else { section.heading.as_str() };
    text.push_str(&format!("{heading} (from \"{}\", {}", entry.title, entry.file_name()));
    if let Some(page) = section.page {
        text.push_str(&format!(", page {page}"));
    }
    text.push_str("):");
    let mut facts = Vec::new();
    let mut steps = Vec::new();
    if section.steps.is_empty() {
        text.push(' ');
        text.push_str(&prose_quote(&section.text));
        steps.push(prose_quote(&section.text));
    }
    for (number, step) in section.steps.iter().enumerate() {
        text.push_str(&format!("\n{}. {step}", number + 1));
        let values = values_in(step, live);
        if !values.is_empty() {
            let now: Vec<String> = values.iter().map(|v| format!("{} {}", v.tag.replace('_', " "), v.shown)).collect();
            text.push_str(&format!(" (now: {})", now.join(", ")));
            for value in values {
                let fact = format!("{} = {}", value.tag, value.shown);
                if !facts.contains(&fact) {
                    facts.push(fact);
                }
            }
        }
        steps.push(step.clone());
    }
    let asked = language::detect(question);
    let source_language = (asked != entry.language).then_some(entry.language);
    if let Some(source) = source_language {
        text.push_str(&format!("\n(The source is in {}.)", source.english_name()));
    }
    let unsupported_steps = steps.iter().filter(|step| !library.supports(entry, step)).count();
    Ok(ProcedureAnswer {
        text,
        sources: vec![entry.citation()],
        facts,
        found: true,
        steps,
        source_language,
        cited: Some((entry.document.clone(), section.heading.clone())),
        unsupported_steps,
    })
}

/// What to do about an alarm: the steps of the alarm-response section
/// for `subject` (a tag, `spindle_temperature`, or a defect kind,
/// `scratch`), all of whose words the section must have; `detail` (the
/// alert's message, with its value) picks among several (a section for
/// "above 90 °C" for an alert at 93 °C). `None`: no procedure has them.
pub fn alarm_response(
    library: &Library,
    subject: &str,
    detail: &str,
    rules: &AnswerRules,
) -> Result<Option<AlarmResponse>, DocsError> {
    let subject_words = subject.replace(['_', '.', '-', '/'], " ");
    let query = format!("{subject_words} alarm {detail}");
    let hits = library.search(&query, CANDIDATES)?;
    let about_subject: Vec<Hit<'_>> = hits
        .into_iter()
        .filter(|hit| !hit.entry.section.steps.is_empty() && library.supports(hit.entry, &subject_words))
        .map(|hit| Hit { coverage: 1.0, ..hit })
        .collect();
    let Some(best) = choose(&query, &about_subject, rules) else {
        return Ok(None);
    };
    let steps: Vec<String> =
        best.entry.section.steps.iter().enumerate().map(|(n, step)| format!("{}. {step}", n + 1)).collect();
    Ok(Some(AlarmResponse { text: steps.join("\n"), source: best.entry.citation() }))
}

/// The alarm-response section for an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmResponse {
    /// Its steps, numbered, one per line.
    pub text: String,
    /// `file § heading (page N)`.
    pub source: String,
}

/// The section that answers: of those that cover the question, the best
/// by BM25 and coverage; an earlier section of the same document that ranks
/// nearly as well goes first (a document's first procedure is the one to
/// follow when the question does not tell them apart).
fn choose<'a>(question: &str, hits: &'a [Hit<'a>], rules: &AnswerRules) -> Option<&'a Hit<'a>> {
    let numbers = numbers_in(question);
    let rank = |hit: &Hit<'_>| {
        let passed = passes_threshold(&hit.entry.section.heading, &numbers);
        hit.score * hit.coverage.powf(rules.coverage_power) * if passed { THRESHOLD_BOOST } else { 1.0 }
    };
    let covering = || hits.iter().filter(|hit| hit.coverage >= rules.min_coverage);
    let best = covering().max_by(|a, b| rank(a).total_cmp(&rank(b)))?;
    if best.entry.section.steps.is_empty() {
        return Some(best);
    }
    covering()
        .filter(|hit| {
            hit.entry.document == best.entry.document
                && !hit.entry.section.steps.is_empty()
                && rank(hit) >= rules.near_rank * rank(best)
        })
        .min_by_key(|hit| hit.entry.position)
}

/// How a library that searches by meaning weighs a section for a
/// question: rank = `meaning` × cosine + `words` × (BM25 / best BM25) ×
/// coverage³ + `coverage` × coverage, plus [`MEANING_THRESHOLD_BONUS`]
/// when its heading's threshold is passed, less [`UNTITLED_PENALTY`] for
/// text before a document's first heading. A best rank under `least`:
/// no section covers the question. Chosen on the development questions
/// only (docs/benchmarks.md, "Procedure search by meaning").
#[derive(Debug, Clone, Copy, PartialEq)]
struct MeaningWeights {
    meaning: f32,
    words: f32,
    coverage: f32,
    least: f32,
}

/// A question in English: the model reads it as asked.
const ENGLISH_WEIGHTS: MeaningWeights = MeaningWeights { meaning: 1.0, words: 0.5, coverage: 0.0, least: 0.5 };
/// A question in another language: the model reads only the words the
/// lexicon put into English, so the words themselves weigh more.
const TRANSLATED_WEIGHTS: MeaningWeights = MeaningWeights { meaning: 0.25, words: 0.5, coverage: 0.5, least: 0.3 };
const MEANING_THRESHOLD_BONUS: f32 = 0.25;
/// A document's text before its first heading (a preamble, a purpose
/// statement) seldom is what a question asks for.
const UNTITLED_PENALTY: f32 = 0.3;

/// How much a section's phase weighs: a section about getting going again
/// ranks this much higher for a question that asks how to go on, and this
/// much lower for one that does not ("spindle overheating, what now?"
/// wants the response, not "Restarting after an overheat", which the model
/// finds as close); a heading that names the question's "before" or
/// "after" gains as much, one that names only the other loses it. Chosen on
/// the development sets (0.25 to 0.4 gave the same answers there).
const PHASE_WEIGHT: f32 = 0.3;

/// Beginnings of words that name getting a machine going again in a
/// heading ("Restarting after an overheat", "Returning the cell to
/// automatic", "Wiederanlauf").
const RESTART_HEADING_WORDS: &[&str] =
    &["restart", "resum", "return", "reactivat", "recommission", "wiederanlauf", "neustart", "reanud", "reprise"];
/// Words after "back" that make it mean the same ("Getting CP-3 back into
/// production", "back to automatic").
const BACK_INTO: &[&str] = &["into", "to", "in", "on", "up"];

/// Whether a heading is about getting a machine going again.
fn is_restart_heading(heading: &str) -> bool {
    let words = words(heading);
    words.iter().any(|w| RESTART_HEADING_WORDS.iter().any(|start| w.starts_with(start)))
        || words.windows(2).any(|pair| pair[0] == "back" && BACK_INTO.contains(&pair[1].as_str()))
}

/// Words by which a question asks how to go on after a stop or a fix
/// ("how do I start it back up?", "done fixing stuff, how do I get it
/// running again?"), in the four languages.
const RESTART_QUESTION_WORDS: &[&str] = &[
    "again",
    "restart",
    "restarting",
    "resume",
    "resuming",
    "done",
    "finished",
    "cleared",
    "fixed",
    "repaired",
    "unjammed",
    "wieder",
    "erneut",
    "neustart",
    "reanudar",
    "reiniciar",
    "redemarrer",
    "relancer",
    "reprendre",
];

/// Whether a question asks how to go on after a stop or a fix.
fn asks_to_restart(question: &str) -> bool {
    let words = words(question);
    words.iter().any(|w| RESTART_QUESTION_WORDS.contains(&w.as_str()))
        || words.windows(2).any(|pair| pair[0] == "back" && ["up", "into"].contains(&pair[1].as_str()))
}

/// Words that place a step before or after an event, in the four
/// languages, each with the phase it names.
const PHASE_WORDS: &[(&str, Phase)] = &[
    ("before", Phase::Before),
    ("prior", Phase::Before),
    ("vor", Phase::Before),
    ("bevor", Phase::Before),
    ("antes", Phase::Before),
    ("avant", Phase::Before),
    ("after", Phase::After),
    ("nach", Phase::After),
    ("nachdem", Phase::After),
    ("despues", Phase::After),
    ("apres", Phase::After),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Before,
    After,
}

/// The phases a text names ("before powering on": before).
fn phases_of(text: &str) -> Vec<Phase> {
    let words = words(text);
    let mut phases = Vec::new();
    for (_, phase) in PHASE_WORDS.iter().filter(|(said, _)| words.iter().any(|w| w == said)) {
        if !phases.contains(phase) {
            phases.push(*phase);
        }
    }
    phases
}

/// +1 when a heading names the phase the question asks about ("What do I
/// check before switching on?", "Before powering on"), −1 when it names
/// only the other ("After power on"), 0 otherwise.
fn phase_agreement(heading: &str, asked: &[Phase]) -> f32 {
    let named = phases_of(heading);
    if named.is_empty() || asked.is_empty() {
        0.0
    } else if named.iter().any(|phase| asked.contains(phase)) {
        1.0
    } else {
        -1.0
    }
}

/// The section that answers, by meaning and words together.
fn choose_by_meaning<'a>(question: &str, hits: &'a [Hit<'a>]) -> Option<&'a Hit<'a>> {
    let weights = if language::detect(question) == Language::English { ENGLISH_WEIGHTS } else { TRANSLATED_WEIGHTS };
    let numbers = numbers_in(question);
    let asks_to_restart = asks_to_restart(question);
    let asked_phase = phases_of(question);
    let top_score = hits.iter().map(|hit| hit.score).fold(0.0_f32, f32::max);
    let rank = |hit: &Hit<'_>| {
        let words = if top_score > 0.0 { hit.score / top_score * hit.coverage.powi(3) } else { 0.0 };
        let mut rank = weights.meaning * hit.similarity + weights.words * words + weights.coverage * hit.coverage;
        if passes_threshold(&hit.entry.section.heading, &numbers) {
            rank += MEANING_THRESHOLD_BONUS;
        }
        let heading = &hit.entry.section.heading;
        if heading.is_empty() {
            rank -= UNTITLED_PENALTY;
        }
        rank += PHASE_WEIGHT * phase_agreement(heading, &asked_phase);
        if is_restart_heading(heading) {
            rank += if asks_to_restart { PHASE_WEIGHT } else { -PHASE_WEIGHT };
        }
        rank
    };
    hits.iter()
        .map(|hit| (rank(hit), hit))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(rank, _)| *rank >= weights.least)
        .map(|(_, hit)| hit)
}

/// A section whose heading sets a threshold the question's value passes
/// ("If the temperature passes 90 °C", asked about 93 °C) ranks this much higher.
const THRESHOLD_BOOST: f32 = 2.0;

/// Words of a heading that set an upper threshold.
const ABOVE_WORDS: &[&str] = &["passes", "above", "over", "exceeds", "beyond", "higher", "more", "greater"];

/// The numbers written in a question.
fn numbers_in(text: &str) -> Vec<f64> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .filter_map(|part| part.trim_matches(['.', ',']).replace(',', ".").parse::<f64>().ok())
        .collect()
}

/// Whether `heading` names an upper threshold (`passes 90`) that one of
/// `numbers` is beyond.
fn passes_threshold(heading: &str, numbers: &[f64]) -> bool {
    if numbers.is_empty() {
        return false;
    }
    let words: Vec<String> = words(heading);
    words.windows(2).any(|pair| {
        ABOVE_WORDS.contains(&pair[0].as_str())
            && pair[1].parse::<f64>().is_ok_and(|limit| numbers.iter().any(|n| *n > limit))
    })
}

fn not_found(hits: &[Hit<'_>]) -> ProcedureAnswer {
    let mut closest: Vec<String> = Vec::new();
    for hit in hits {
        let named = format!("\"{}\" ({})", hit.entry.title, hit.entry.file_name());
        if !closest.contains(&named) && closest.len() < MAX_CLOSEST {
            closest.push(named);
        }
    }
    let mut text = "No procedure for this was found in the site's documents.".to_owned();
    if !closest.is_empty() {
        text.push_str(&format!(" Closest documents: {}.", closest.join(", ")));
    }
    ProcedureAnswer {
        text,
        sources: Vec::new(),
        facts: Vec::new(),
        found: false,
        steps: Vec::new(),
        source_language: None,
        cited: None,
        unsupported_steps: 0,
    }
}

/// Up to the end of the sentence that passes [`MAX_PROSE_CHARS`].
fn prose_quote(text: &str) -> String {
    if text.chars().count() <= MAX_PROSE_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX_PROSE_CHARS).collect();
    match cut.rfind(". ") {
        Some(end) => cut[..=end].to_owned(),
        None => format!("{cut}…"),
    }
}

/// The live values a step refers to: each tag whose words all appear in
/// the step, unless a longer such tag holds its words (`coolant
/// temperature` is not also `temperature`).
pub fn values_in<'a>(step: &str, live: &'a [LiveValue]) -> Vec<&'a LiveValue> {
    let step_words: Vec<String> = words(step).into_iter().flat_map(|w| split_tag(&w)).collect();
    let has = |word: &String| step_words.iter().any(|w| w == word || w.strip_suffix('s') == Some(word.as_str()));
    let matching: Vec<(&LiveValue, Vec<String>)> = live
        .iter()
        .map(|value| (value, split_tag(&value.tag)))
        .filter(|(_, tag_words)| !tag_words.is_empty() && tag_words.iter().all(has))
        .collect();
    matching
        .iter()
        .filter(|(_, tag_words)| {
            !matching
                .iter()
                .any(|(_, other)| other.len() > tag_words.len() && tag_words.iter().all(|w| other.contains(w)))
        })
        .map(|(value, _)| *value)
        .collect()
}

fn split_tag(tag: &str) -> Vec<String> {
    tag.split(['_', '.', '-', '/', ' ']).filter(|w| !w.is_empty()).map(shopfloor_vocabulary::text::fold).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::Limits;

    const OVERHEAT: &str = "# Spindle overheat response\n\n## Responding to a spindle temperature alarm\n\n1. Press feed hold.\n2. Check the coolant flow and the coolant temperature.\n3. Watch the spindle temperature until it is below 75 °C.\n\n## Restarting after an overheat\n\n1. Warm up the spindle at 2000 rpm.\n";

    fn library() -> (tempfile::TempDir, Library) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("overheat.md"), OVERHEAT).unwrap();
        let (library, _) = Library::open(dir.path(), Limits::default()).unwrap();
        (dir, library)
    }

    fn live(tag: &str, shown: &str) -> LiveValue {
        LiveValue { tag: tag.into(), shown: shown.into() }
    }

    #[test]
    fn the_steps_are_quoted_in_order_with_their_source_and_live_values() {
        let (_dir, library) = library();
        let values = [
            live("spindle_temperature", "84.2 °C"),
            live("coolant_flow", "11.5 l/min"),
            live("coolant_temperature", "24.0 °C"),
            live("temperature", "1 °C"),
        ];
        let answer =
            answer(&library, "The spindle temperature alarm is on, what do I do?", &values, &AnswerRules::default())
                .unwrap();
        assert!(answer.found);
        assert_eq!(answer.sources, ["overheat.md § Responding to a spindle temperature alarm"]);
        let lines: Vec<&str> = answer.text.lines().collect();
        assert_eq!(
            lines[0],
            "Responding to a spindle temperature alarm (from \"Spindle overheat response\", overheat.md):"
        );
        assert_eq!(lines[1], "1. Press feed hold.");
        assert_eq!(
            lines[2],
            "2. Check the coolant flow and the coolant temperature. (now: coolant flow 11.5 l/min, coolant temperature 24.0 °C)"
        );
        assert!(lines[3].ends_with("(now: spindle temperature 84.2 °C)"), "{}", lines[3]);
        assert_eq!(
            answer.facts,
            ["coolant_flow = 11.5 l/min", "coolant_temperature = 24.0 °C", "spindle_temperature = 84.2 °C"]
        );
        assert_eq!(answer.unsupported_steps, 0);
        assert_eq!(answer.source_language, None);
    }

    #[test]
    fn a_question_no_section_covers_gets_no_procedure_and_the_closest_documents() {
        let (_dir, library) = library();
        let answer = answer(&library, "How do I replace the spindle belt?", &[], &AnswerRules::default()).unwrap();
        assert!(!answer.found);
        assert!(answer.sources.is_empty() && answer.steps.is_empty());
        assert_eq!(
            answer.text,
            "No procedure for this was found in the site's documents. Closest documents: \"Spindle overheat response\" (overheat.md)."
        );
    }

    #[test]
    fn an_alarm_gets_the_response_section_of_its_tag_and_value() {
        let (_dir, library) = library();
        let rules = AnswerRules::default();
        let response = alarm_response(&library, "spindle_temperature", "spindle_temperature 84.0 °C above 80", &rules)
            .unwrap()
            .unwrap();
        assert_eq!(response.source, "overheat.md § Responding to a spindle temperature alarm");
        assert!(response.text.starts_with("1. Press feed hold.\n2. Check the coolant flow"), "{}", response.text);
        let none = alarm_response(&library, "hydraulic_pressure", "hydraulic_pressure 200 bar above 180", &rules);
        assert_eq!(none.unwrap(), None, "no section has the tag's words");
    }

    #[test]
    fn a_german_question_finds_the_english_procedure_and_says_its_language() {
        let (_dir, library) = library();
        let answer =
            answer(&library, "Was mache ich, wenn die Spindel überhitzt?", &[], &AnswerRules::default()).unwrap();
        assert!(answer.found, "{}", answer.text);
        assert_eq!(answer.source_language, Some(Language::English));
        assert!(answer.text.ends_with("(The source is in English.)"), "{}", answer.text);
    }

    #[test]
    fn a_restart_section_is_told_apart_and_so_is_a_question_that_asks_to_go_on() {
        for heading in
            ["Restarting after an overheat", "Getting CP-3 back into production", "5.2 Returning the cell to automatic"]
        {
            assert!(is_restart_heading(heading), "{heading}");
        }
        for heading in ["Responding to a spindle temperature alarm", "After clearing", "4.2 Clearing a film break"] {
            assert!(!is_restart_heading(heading), "{heading}");
        }
        for question in [
            "The conveyor is unjammed now, how do I start it back up?",
            "done fixing stuff inside the palletiser cage, how do i get it runing again?",
            "Wann darf ich die Spindel wieder starten?",
        ] {
            assert!(asks_to_restart(question), "{question}");
        }
        for question in [
            "spindle overheating, what now?",
            "Stretch film snapped halfway up the pallet. Once I've tied it back on, do I pick new cycle or continue?",
        ] {
            assert!(!asks_to_restart(question), "{question}");
        }
    }

    #[test]
    fn a_heading_that_names_the_asked_phase_agrees_and_the_other_phase_disagrees() {
        let asked = phases_of("What do I have to check before switching the machine on?");
        assert_eq!(asked, [Phase::Before]);
        assert_eq!(phase_agreement("Before powering on", &asked), 1.0);
        assert_eq!(phase_agreement("After power on", &asked), -1.0);
        assert_eq!(phase_agreement("First part check", &asked), 0.0);
        assert_eq!(phase_agreement("After power on", &phases_of("How long do I warm up the spindle?")), 0.0);
        assert_eq!(phases_of("Was muss ich nach dem Einschalten prüfen?"), [Phase::After]);
    }
}
