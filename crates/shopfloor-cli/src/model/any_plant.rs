//! `shopfloor model any-plant`: the assistant on generated plants unlike
//! plant-sim (`plant-gen`), against the naive peer, in one run.
//!
//! Each question goes the product's way, in this process: an empty one is
//! refused as the sources refuse it, then the router's policy (read-only
//! refusals, out-of-scope refusals), then the `slm` node's answering
//! pipeline on the plant's state. The naive peer is what the product
//! replaces: every value pasted into the prompt of the same model, the
//! model's sentence returned as it is.
//!
//! Judged per question: right or not, who wrote the sentence (the model,
//! or code: composed, or put in place of the model's by the grounding
//! check), and whether it states a number that is in no fact of the plant
//! and not in the question (an invented value).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use plant_gen::{Class, Expect, Plant, Question as GenQuestion, Split, Value};
use shopfloor_core::env::EnvVars;
use shopfloor_core::schema::{Answer, AnswerError, HopOutcome, Origin, Question, Reading, ReadingValue};
use slm::answering::{answer, AnswerSettings};
use slm::generator::Generate;
use slm::plant_state::{PlantState, StateSettings};
use slm_engine::profile::HardwareProfile;
use slm_engine::{ChatTurn, Engine, EngineError, GenerateOptions, Generation};

use crate::calibration;
use crate::model::evaluate::qa_set::contains_value;

/// "Now" for every generated plant (fixed, so runs are identical).
pub const NOW_MS: i64 = 1_764_086_400_000;
/// Readings arrived this long before a question.
const READING_AGE_MS: i64 = 2_000;
/// Most tokens of the naive peer's answer (the product's default too).
const NAIVE_MAX_TOKENS: u32 = 48;

/// Who wrote an answer's sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    /// The model's own sentence.
    Model,
    /// Code: a composed sentence (refusal, no data, stale value) or the
    /// facts' sentence the grounding check put in place of the model's.
    Code,
}

/// One judged answer.
#[derive(Debug, Clone)]
pub struct Judged {
    pub right: bool,
    pub author: Author,
    /// A number in the answer that no fact of the plant and not the
    /// question holds.
    pub invented: Option<String>,
    /// A value question answered with a refusal or "no data".
    pub wrong_refusal: bool,
    /// Written in the question's language.
    pub in_language: bool,
    /// The model's confidence, for model-written answers.
    pub confidence: Option<f32>,
    pub latency_ms: f64,
    pub text: String,
}

/// Counts of one group (a class, a language, a convention, or all).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub items: usize,
    pub right: usize,
    /// Right in a sentence the model wrote.
    pub model_right: usize,
    /// Right in a sentence code wrote.
    pub code_right: usize,
    pub invented: usize,
    pub wrong_refusals: usize,
    /// Answers written in the asker's language.
    pub in_language: usize,
    /// The naive peer on the same items.
    pub naive_right: usize,
    pub naive_invented: usize,
}

impl Tally {
    fn add(&mut self, ours: &Judged, naive: Option<&Judged>) {
        self.items += 1;
        self.right += usize::from(ours.right);
        self.model_right += usize::from(ours.right && ours.author == Author::Model);
        self.code_right += usize::from(ours.right && ours.author == Author::Code);
        self.invented += usize::from(ours.invented.is_some());
        self.wrong_refusals += usize::from(ours.wrong_refusal);
        self.in_language += usize::from(ours.in_language);
        if let Some(naive) = naive {
            self.naive_right += usize::from(naive.right);
            self.naive_invented += usize::from(naive.invented.is_some());
        }
    }

    fn share(count: usize, of: usize) -> f64 {
        count as f64 / of.max(1) as f64
    }

    /// Share answered right.
    pub fn accuracy(&self) -> f64 {
        Self::share(self.right, self.items)
    }

    /// The naive peer's share.
    pub fn naive_accuracy(&self) -> f64 {
        Self::share(self.naive_right, self.items)
    }
}

/// The whole run.
#[derive(Debug, Clone, Default)]
pub struct AnyPlantReport {
    pub split: String,
    pub plants: usize,
    pub all: Tally,
    pub by_class: BTreeMap<String, Tally>,
    pub by_language: BTreeMap<String, Tally>,
    pub by_convention: BTreeMap<String, Tally>,
    /// (confidence, right) of every model-written answer.
    pub confidences: Vec<(f32, bool)>,
    /// (confidence, right) of every sentence the model wrote, before the
    /// grounding check kept or replaced it: the model's own answers.
    pub own_sentences: Vec<(f32, bool)>,
    /// The same sentences scored by their token probabilities alone, before
    /// a doubtful reading of the question lowers them.
    pub own_sentences_by_tokens: Vec<(f32, bool)>,
    /// Thresholds to report escalation at (answers below one escalate).
    pub thresholds: Vec<f32>,
    /// Our answer latencies, ms.
    pub latencies_ms: Vec<f64>,
    /// The naive peer was run.
    pub with_naive: bool,
    /// Questions we got wrong: (id, question, answer).
    pub misses: Vec<(String, String, String)>,
}

impl AnyPlantReport {
    /// The report in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "Any-plant evaluation, {} split: {} plants, {} questions.\n\n",
            self.split, self.plants, self.all.items
        );
        let header = "| group | questions | right | model-written right | code-written right | invented values | wrong refusals | in asker's language | naive peer right | naive invented |\n|---|---|---|---|---|---|---|---|---|---|\n";
        let row = |name: &str, t: &Tally| {
            let naive = if self.with_naive {
                (format!("{:.3} ({})", t.naive_accuracy(), t.naive_right), t.naive_invented.to_string())
            } else {
                ("-".to_owned(), "-".to_owned())
            };
            format!(
                "| {name} | {} | {:.3} ({}) | {} | {} | {} | {} | {} | {} | {} |\n",
                t.items,
                t.accuracy(),
                t.right,
                t.model_right,
                t.code_right,
                t.invented,
                t.wrong_refusals,
                t.in_language,
                naive.0,
                naive.1
            )
        };
        for (title, groups) in
            [("class", &self.by_class), ("language", &self.by_language), ("naming convention", &self.by_convention)]
        {
            out.push_str(&format!("By {title}:\n\n{header}"));
            for (name, tally) in groups {
                out.push_str(&row(name, tally));
            }
            out.push_str(&row("**all**", &self.all));
            out.push('\n');
        }
        let auroc = |scored: &[(f32, bool)]| calibration::auroc(scored).map_or("-".to_owned(), |a| format!("{a:.2}"));
        let p50 = shopfloor_node::stats::median(&self.latencies_ms).unwrap_or(0.0);
        out.push_str(&format!(
            "Confidence AUROC over {} model-written answers: {}. Answer time p50 {p50:.0} ms (in process, no transport).\n\n",
            self.confidences.len(),
            auroc(&self.confidences),
        ));
        let own_right = self.own_sentences.iter().filter(|(_, right)| *right).count();
        let recommended = calibration::recommend(&self.own_sentences)
            .map_or("-".to_owned(), |(threshold, j)| format!("{threshold:.3} (J {j:.2})"));
        out.push_str(&format!(
            "The model's own sentences (before the grounding check): {} written, {own_right} right, confidence AUROC {} ({} by token probabilities alone), Youden's J threshold {recommended}.\n\n",
            self.own_sentences.len(),
            auroc(&self.own_sentences),
            auroc(&self.own_sentences_by_tokens),
        ));
        for &threshold in &self.thresholds {
            out.push_str(&format!(
                "\nEscalation below {threshold:.3}:\n\n| | answers | escalated | right kept | right escalated | wrong kept | wrong escalated |\n|---|---|---|---|---|---|---|\n"
            ));
            for (name, scored) in
                [("model-written answers", &self.confidences), ("the model's own sentences", &self.own_sentences)]
            {
                let count = |right: bool, below: bool| {
                    scored.iter().filter(|(c, ok)| *ok == right && (*c < threshold) == below).count()
                };
                let escalated = scored.iter().filter(|(c, _)| *c < threshold).count();
                out.push_str(&format!(
                    "| {name} | {} | {escalated} | {} | {} | {} | {} |\n",
                    scored.len(),
                    count(true, false),
                    count(true, true),
                    count(false, false),
                    count(false, true)
                ));
            }
        }
        out
    }
}

/// The plant's state as the `slm` node would hold it: every tag's current
/// value, after the last minute of samples of the tags that move.
pub fn plant_state(plant: &Plant) -> PlantState {
    let mut state = PlantState::new(StateSettings::default());
    let at = NOW_MS - READING_AGE_MS;
    let mut readings: Vec<Reading> = plant
        .tags
        .iter()
        .flat_map(|tag| {
            let past = plant_gen::history(tag);
            let earlier = past.len().saturating_sub(1);
            past.into_iter()
                .take(earlier)
                .map(|(ago_ms, value)| reading(plant, tag, ReadingValue::Number(value), at - ago_ms))
                .collect::<Vec<_>>()
        })
        .collect();
    readings.sort_by_key(|r| r.received_ts_ms);
    readings.extend(plant.tags.iter().map(|tag| reading(plant, tag, current_value(&tag.value), at)));
    state.update(readings);
    state
}

fn current_value(value: &Value) -> ReadingValue {
    match value {
        Value::Number(n) => ReadingValue::Number(*n),
        Value::Text(t) => ReadingValue::Text(t.clone()),
    }
}

fn reading(plant: &Plant, tag: &plant_gen::Tag, value: ReadingValue, at: i64) -> Reading {
    let mut reading = Reading::good(&plant.id, tag.name.clone(), value, tag.unit.clone(), Some(at), at);
    reading.high_limit = tag.high_limit;
    reading.description = tag.description.clone();
    reading
}

/// The value as answers write it (`72.4`, `RUNNING`).
fn value_text(value: &Value) -> String {
    match value {
        Value::Number(n) => ReadingValue::Number(*n).to_string(),
        Value::Text(t) => t.clone(),
    }
}

/// Words that decline: "no data", or a refusal to change the plant, in the
/// supported languages; lenient, so the naive peer's own wording counts.
const NO_DATA_WORDS: &[&str] = &[
    "no data",
    "don't have",
    "do not have",
    "not available",
    "no information",
    "unknown",
    "not found",
    "keine daten",
    "no tengo",
    "pas de donn",
];
const READ_ONLY_WORDS: &[&str] = &[
    "read-only",
    "read only",
    "cannot change",
    "can't change",
    "cannot set",
    "can't set",
    "unable",
    "not able",
    "nur lesen",
    "solo lectura",
    "lecture seule",
];

/// Words that say which way a value moves, in the supported languages.
const RISING_WORDS: &[&str] =
    &["rising", "increasing", "going up", "climbing", "steig", "subiendo", "aumenta", "en hausse", "monte"];
const FALLING_WORDS: &[&str] = &[
    "falling",
    "decreasing",
    "going down",
    "dropping",
    "fallend",
    "fällt",
    "sinkt",
    "bajando",
    "en baisse",
    "descend",
];

/// Judges `answer` to `question`; `facts` are the plant's fact lines (every
/// number an answer may state comes from them or from the question).
pub fn judge(question: &GenQuestion, answer: &Answer, facts: &str) -> Judged {
    let text = answer.text.to_lowercase();
    let has_any = |words: &[&str]| words.iter().any(|w| text.contains(w));
    let refused = answer.route.iter().any(|hop| hop.outcome == HopOutcome::Refused);
    let declined = refused || has_any(NO_DATA_WORDS) || answer.error.is_some();
    let (right, wrong_refusal) = match &question.expect {
        Expect::Value { value, above_limit, .. } => {
            let stated = contains_value(&text, &value_text(value).to_lowercase());
            let limit_right = match above_limit {
                None => true,
                Some(true) => text.contains("above") || text.contains("exceed"),
                Some(false) => !text.contains("above") && !text.contains("exceed"),
            };
            (answer.error.is_none() && stated && limit_right, declined && !stated)
        }
        Expect::Trend { rising, .. } => {
            let (said, opposite) = if *rising { (RISING_WORDS, FALLING_WORDS) } else { (FALLING_WORDS, RISING_WORDS) };
            let stated = has_any(said) && !has_any(opposite);
            (answer.error.is_none() && stated, declined && !stated)
        }
        Expect::NoData => (has_any(NO_DATA_WORDS) || refused, false),
        Expect::ReadOnly => (has_any(READ_ONLY_WORDS) || refused, false),
        Expect::Invalid => (answer.error == Some(AnswerError::InvalidQuestion) || text.contains("empty"), false),
    };
    Judged {
        right,
        author: if answer.model.is_some() { Author::Model } else { Author::Code },
        invented: invented_number(&answer.text, facts, &question.text),
        wrong_refusal,
        in_language: question.text.trim().is_empty()
            || shopfloor_vocabulary::language::detect(&without_plant_words(&answer.text, facts)).code()
                == question.language.as_str(),
        confidence: answer.confidence,
        latency_ms: answer.latency_ms as f64,
        text: answer.text.clone(),
    }
}

/// `text` without the words that `facts` holds (tag names, descriptions,
/// units as the plant spells them, in any language), so that the words left
/// tell the sentence's language: "Building3 fan1 current a ist 6 A." is German.
/// Kept apart from the product's own (`slm::answering`) on purpose, with its
/// own word list: a judge that shared the product's code could not catch it.
fn without_plant_words(text: &str, facts: &str) -> String {
    let plant_words: std::collections::HashSet<String> =
        facts.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    text.split_whitespace()
        .filter(|token| {
            let word = token.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
            word.is_empty() || !plant_words.contains(&word)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The numbers written in `text` (`72.4`, `-3`, `1200`), signed, a
/// trailing sentence dot removed. A `-` (or `−`) is a minus sign only where
/// no letter or digit comes before it: `TT-1201` and `10-20` are positive.
/// Written apart from the product's grounding check on purpose.
fn numbers(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        if !chars[at].is_ascii_digit() {
            at += 1;
            continue;
        }
        let start = at;
        while at < chars.len() && (chars[at].is_ascii_digit() || chars[at] == '.') {
            at += 1;
        }
        let digits: String = chars[start..at].iter().collect::<String>().trim_end_matches('.').to_owned();
        let sign = start.checked_sub(1).map(|i| chars[i]).filter(|c| matches!(c, '-' | '\u{2212}'));
        let joined = start.checked_sub(2).is_some_and(|i| chars[i].is_alphanumeric());
        found.push(if sign.is_some() && !joined { format!("-{digits}") } else { digits });
    }
    found.retain(|n| n.parse::<f64>().is_ok());
    found
}

/// The first number of `answer` that neither `facts` nor `question` holds.
fn invented_number(answer: &str, facts: &str, question: &str) -> Option<String> {
    let known: Vec<f64> = numbers(facts).into_iter().chain(numbers(question)).filter_map(|n| n.parse().ok()).collect();
    numbers(answer).into_iter().find(|n| {
        let Ok(value) = n.parse::<f64>() else { return false };
        !known.iter().any(|k| (k - value).abs() <= 1e-9 * k.abs().max(1.0))
    })
}

/// The engine, remembering the last sentence it wrote: the model's own
/// answer, before the grounding check keeps or replaces it.
struct Recording<'e> {
    engine: &'e mut Engine,
    last: Option<Generation>,
}

impl Generate for Recording<'_> {
    fn chat_prompt(&mut self, turns: &[ChatTurn<'_>]) -> Result<String, EngineError> {
        self.engine.chat_prompt(turns)
    }

    fn generate_with(&mut self, prompt: &str, options: GenerateOptions<'_>) -> Result<Generation, EngineError> {
        let generation = self.engine.generate_with(prompt, options)?;
        self.last = Some(generation.clone());
        Ok(generation)
    }

    fn model_name(&self) -> String {
        self.engine.model_name.clone()
    }
}

/// The product's way for one question: source check, router, `slm`.
fn ask_product(
    engine: &mut impl Generate,
    policy: &mut router::policy::Policy,
    state: &PlantState,
    question: Question,
) -> Answer {
    let settings = AnswerSettings::default();
    // Empty and unreadable questions are refused by the sources (MQTT and
    // HTTP) with the same check the `slm` node makes.
    if question.text.trim().is_empty() {
        return answer(engine, state, &question, settings, NOW_MS);
    }
    match policy.on_question(question, NOW_MS) {
        router::policy::Action::Reply(reply) => reply,
        router::policy::Action::Ask { question, .. } => {
            let reply = answer(engine, state, &question, settings, NOW_MS);
            match policy.on_answer(0, reply.clone(), NOW_MS) {
                Some(router::policy::Action::Reply(routed)) => routed,
                _ => reply,
            }
        }
    }
}

/// The naive peer: every value pasted into the prompt of the same model.
fn ask_naive(engine: &mut Engine, plant: &Plant, question: &str) -> Result<Answer, EngineError> {
    let mut system = String::from(
        "You are a plant assistant. Answer the operator's question in one sentence from these current plant values:\n",
    );
    for tag in &plant.tags {
        system.push_str(&format!("{}: {}", tag.name, value_text(&tag.value)));
        if let Some(unit) = &tag.unit {
            system.push(' ');
            system.push_str(unit);
        }
        if let Some(limit) = tag.high_limit {
            system.push_str(&format!(" (high limit {limit})"));
        }
        system.push('\n');
    }
    let turns = [ChatTurn { role: "system", content: &system }, ChatTurn { role: "user", content: question }];
    let started = Instant::now();
    let prompt = engine.chat_prompt(&turns)?;
    let generation = engine.generate_with(&prompt, GenerateOptions::line(NAIVE_MAX_TOKENS))?;
    let asked = Question::new("naive", question, "evaluate", Origin::Http, NOW_MS);
    let mut reply = Answer::to_question(&asked, generation.text);
    reply.model = Some(engine.model_name.clone());
    reply.confidence = Some(generation.confidence);
    reply.latency_ms = started.elapsed().as_millis() as i64;
    Ok(reply)
}

/// What to run.
#[derive(Debug, Clone)]
pub struct AnyPlantOptions {
    pub split: Split,
    /// Also run the naive peer.
    pub naive: bool,
    /// Every n-th question only (1: all).
    pub sample_step: usize,
    /// What escalating answers below each of these confidences would do
    /// (reported, not applied).
    pub thresholds: Vec<f32>,
}

/// Runs the evaluation with `model` under `profile`.
pub fn run(model: &Path, profile: &HardwareProfile, options: &AnyPlantOptions) -> Result<AnyPlantReport, EngineError> {
    let mut engine = Engine::load(model, profile)?;
    let plants = plant_gen::plants(options.split);
    let mut report = AnyPlantReport {
        split: options.split.as_str().into(),
        plants: plants.len(),
        with_naive: options.naive,
        thresholds: options.thresholds.clone(),
        ..AnyPlantReport::default()
    };
    let mut index = 0usize;
    for plant in &plants {
        let state = plant_state(plant);
        let facts: String = state.facts(NOW_MS).iter().map(|f| f.fact_line() + "\n").collect::<String>()
            + &plant.tags.iter().map(|t| t.name.clone() + "\n").collect::<String>();
        let mut policy = router_policy();
        // As the router learns them from readings: names and descriptions.
        policy.learn_tags(
            plant.tags.iter().flat_map(|t| std::iter::once(t.name.as_str()).chain(t.description.as_deref())),
        );
        for question in plant_gen::questions(plant) {
            index += 1;
            if !(index - 1).is_multiple_of(options.sample_step.max(1)) {
                continue;
            }
            let asked = Question::new(&question.id, &question.text, "evaluate", Origin::Mqtt, NOW_MS);
            let started = Instant::now();
            let mut recording = Recording { engine: &mut engine, last: None };
            let ours = ask_product(&mut recording, &mut policy, &state, asked);
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            if let Some(own) = recording.last {
                // The model's sentence judged as if it had been the answer.
                let mut unchecked = ours.clone();
                unchecked.text = own.text;
                unchecked.error = None;
                let own_judged = judge(&question, &unchecked, &facts);
                let right = own_judged.right && own_judged.invented.is_none();
                // As `slm` scores it: lowered where the question's reading is in doubt.
                let confidence = slm::relevance::intent(&question.text, &state).confidence(own.confidence);
                report.own_sentences.push((confidence, right));
                report.own_sentences_by_tokens.push((own.confidence, right));
            }
            let mut judged = judge(&question, &ours, &facts);
            judged.latency_ms = latency_ms;
            let naive = if options.naive {
                engine.clear_cache();
                let reply = ask_naive(&mut engine, plant, &question.text)?;
                engine.clear_cache();
                Some(judge(&question, &reply, &facts))
            } else {
                None
            };
            record(&mut report, plant, &question, judged, naive);
        }
    }
    Ok(report)
}

fn record(report: &mut AnyPlantReport, plant: &Plant, question: &GenQuestion, ours: Judged, naive: Option<Judged>) {
    let naive = naive.as_ref();
    report.all.add(&ours, naive);
    report.by_class.entry(question.class.as_str().to_owned()).or_default().add(&ours, naive);
    report.by_language.entry(question.language.as_str().to_owned()).or_default().add(&ours, naive);
    report.by_convention.entry(plant.convention.as_str().to_owned()).or_default().add(&ours, naive);
    if let (Some(confidence), Author::Model) = (ours.confidence, ours.author) {
        report.confidences.push((confidence, ours.right));
    }
    if question.class != Class::Empty {
        report.latencies_ms.push(ours.latency_ms);
    }
    if !ours.right || ours.invented.is_some() {
        tracing::debug!(id = %question.id, question = %question.text, answer = %ours.text, "miss");
        report.misses.push((question.id.clone(), question.text.clone(), ours.text.clone()));
    }
}

/// The router as the plant-assistant dataflow configures it: one tier.
pub(crate) fn router_policy() -> router::policy::Policy {
    let vars = EnvVars::from([("ROUTER_TIERS", "nano")]);
    // A fixed, valid setting: it cannot fail.
    let config = router::config::RouterConfig::from_env(&vars).unwrap_or_else(|_| unreachable!("ROUTER_TIERS=nano"));
    router::policy::Policy::new(&config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(expect: Expect, text: &str) -> GenQuestion {
        GenQuestion {
            id: "p/0".into(),
            text: text.into(),
            language: plant_gen::Language::English,
            class: Class::Value,
            style: "full",
            expect,
        }
    }

    fn reply(text: &str, by_model: bool) -> Answer {
        let mut a = Answer::to_question(&Question::new("q", "?", "op", Origin::Mqtt, 0), text.into());
        a.model = by_model.then(|| "m".to_owned());
        a
    }

    #[test]
    fn values_limits_and_invented_numbers_are_judged() {
        let value = Expect::Value { tag: "t".into(), value: Value::Number(72.4), above_limit: None };
        let facts = "pump 1 temperature: 72.4 °C, 17.6 °C below high limit 90 °C\n";
        let q = question(value.clone(), "What is the temperature of pump 1?");
        let right = judge(&q, &reply("Pump 1 is at 72.4 °C.", true), facts);
        assert!(right.right && right.author == Author::Model && right.invented.is_none());
        assert!(!judge(&q, &reply("Pump 1 is at 172.4 °C.", true), facts).right);
        let invented = judge(&q, &reply("Pump 1 is at 72.4 °C, limit 85 °C.", true), facts);
        assert_eq!(invented.invented.as_deref(), Some("85"));
        assert!(judge(&q, &reply("I have no data on pump here.", false), facts).wrong_refusal);
        let above = Expect::Value { tag: "t".into(), value: Value::Number(93.1), above_limit: Some(true) };
        let q = question(above, "Is the temperature of pump 1 above its limit?");
        assert!(judge(&q, &reply("93.1 °C, 3.1 °C above its high limit (ALARM).", false), "93.1 3.1 90").right);
        assert!(!judge(&q, &reply("93.1 °C, below its limit.", false), "93.1 3.1 90").right);
    }

    /// A sign moved from one number to another is an invented value; a
    /// hyphen inside a tag name or a range is no sign.
    #[test]
    fn a_number_with_the_wrong_sign_is_invented() {
        let cold = Expect::Value { tag: "t".into(), value: Value::Number(-17.1), above_limit: Some(true) };
        let facts = "TT-1201 (Room 2 air temperature): -17.1 °C, 0.9 °C above high limit -18 °C\n";
        let q = question(cold, "Is the temperature of room 2 above its limit?");
        let flipped = judge(&q, &reply("TT-1201 is -17.1 °C, -0.9 °C above its high limit of 18 °C.", true), facts);
        assert_eq!(flipped.invented.as_deref(), Some("-0.9"));
        let faithful = judge(&q, &reply("TT-1201 is -17.1 °C, 0.9 °C above its high limit of -18 °C.", true), facts);
        assert!(faithful.right && faithful.invented.is_none(), "{}", faithful.text);
        assert_eq!(numbers("TT-1201 holds 10-20, now −3."), ["1201", "10", "20", "-3"]);
    }

    #[test]
    fn refusals_and_empty_questions_are_judged() {
        let q = question(Expect::NoData, "What is the humidity of pump 1?");
        assert!(judge(&q, &reply("I have no data on humidity here; closest: x.", false), "").right);
        assert!(!judge(&q, &reply("The humidity is 40 %.", true), "").right);
        let q = question(Expect::ReadOnly, "Set the speed of pump 1 to 50");
        assert!(judge(&q, &reply("I am read-only: I cannot change the plant.", false), "").right);
        assert!(!judge(&q, &reply("50", true), "").right);
        let q = question(Expect::Invalid, "");
        let mut invalid = reply("The question is empty.", false);
        invalid.error = Some(AnswerError::InvalidQuestion);
        assert!(judge(&q, &invalid, "").right);
    }

    /// The rules alone, without a model, on the development plants: the
    /// asked tag is found (alone or among tied ones) and what a plant does
    /// not have is known as such. Fails when a matching rule breaks.
    #[test]
    fn the_matcher_finds_the_asked_tag_on_the_development_plants() {
        use slm::relevance::{intent, Focus};
        let (mut asked, mut found, mut alone, mut absent, mut told) = (0, 0, 0, 0, 0);
        for plant in plant_gen::plants(Split::Development) {
            let state = plant_state(&plant);
            for question in plant_gen::questions(&plant) {
                let focus = intent(&question.text, &state).focus;
                match &question.expect {
                    Expect::Value { tag, .. } => {
                        asked += 1;
                        if let Focus::Tags(tags) = &focus {
                            found += usize::from(tags.contains(tag));
                            alone += usize::from(tags.len() == 1 && tags[0] == *tag);
                        }
                    }
                    Expect::Trend { tag, .. } => {
                        asked += 1;
                        if let Focus::Tags(tags) = &focus {
                            found += usize::from(tags.contains(tag));
                            alone += usize::from(tags.len() == 1 && tags[0] == *tag);
                        }
                    }
                    Expect::NoData => {
                        absent += 1;
                        told += usize::from(matches!(focus, Focus::Unknown { .. }));
                    }
                    Expect::ReadOnly | Expect::Invalid => {}
                }
            }
        }
        // Measured 2026-12-04: found 0.99, alone 0.97, unknown 0.95 (see docs/benchmarks.md).
        assert!(found as f64 >= 0.97 * asked as f64, "asked tag found for {found} of {asked}");
        assert!(alone as f64 >= 0.93 * asked as f64, "asked tag alone for {alone} of {asked}");
        assert!(told as f64 >= 0.90 * absent as f64, "no data told for {told} of {absent}");
    }

    /// How the matcher's doubts fall on one split's readings.
    #[derive(Debug, Default)]
    struct Doubted {
        right: usize,
        doubted_right: Vec<String>,
        wrong: usize,
        doubted_wrong: usize,
        guessed: usize,
        guessed_wrong: Vec<String>,
    }

    fn doubted(split: Split) -> Doubted {
        use shopfloor_vocabulary::tag_match::Doubt;
        use slm::relevance::{intent, Focus};
        let mut seen = Doubted::default();
        for plant in plant_gen::plants(split) {
            let state = plant_state(&plant);
            for question in plant_gen::questions(&plant) {
                let read = intent(&question.text, &state);
                let is_right = match (&question.expect, &read.focus) {
                    (Expect::Value { tag, .. } | Expect::Trend { tag, .. }, Focus::Tags(tags)) => tags.contains(tag),
                    (Expect::Value { .. } | Expect::Trend { .. }, _) => false,
                    (Expect::NoData, focus) => matches!(focus, Focus::Unknown { .. }),
                    (Expect::ReadOnly | Expect::Invalid, _) => continue,
                };
                let guess = matches!(read.focus, Focus::Tags(_))
                    && read.doubts.iter().any(|d| matches!(d, Doubt::NumberedNeighbour(_)));
                if guess {
                    seen.guessed += 1;
                    if !is_right {
                        seen.guessed_wrong.push(question.text.clone());
                    }
                } else if is_right {
                    seen.right += 1;
                    if !read.doubts.is_empty() {
                        seen.doubted_right.push(format!("{} {:?}", question.text, read.doubts));
                    }
                } else {
                    seen.wrong += 1;
                    seen.doubted_wrong += usize::from(!read.doubts.is_empty());
                }
            }
        }
        seen
    }

    /// The matcher's doubts on the development splits: few of its right
    /// readings on each; most of its misreadings on the two splits the
    /// rules were made on (a wrong tag where a word was left over, "no data"
    /// beside a unit the plant names otherwise); a unit guessed from its
    /// number is the asked one. Fails when a doubt rule stops seeing a
    /// misreading, starts doubting ordinary questions, or guesses wrong.
    #[test]
    fn doubts_mark_the_misreadings_and_spare_the_right_readings() {
        let splits = [
            Split::Development,
            Split::SecondDevelopment,
            Split::ThirdDevelopment,
            Split::FourthDevelopment,
            Split::SixthDevelopment,
        ];
        let seen: Vec<Doubted> = splits.into_iter().map(doubted).collect();
        for (split, seen) in splits.iter().zip(&seen) {
            assert!(
                seen.doubted_right.len() * 50 <= seen.right,
                "{}: {} of {} right readings doubted: {:#?}",
                split.as_str(),
                seen.doubted_right.len(),
                seen.right,
                seen.doubted_right
            );
            assert!(seen.guessed_wrong.is_empty(), "{}: wrong guesses {:?}", split.as_str(), seen.guessed_wrong);
        }
        // Measured 2026-12-07: right readings doubted 0 of 398, 0 of 378, 3
        // of 367 ("gas flow" where the tag says `Gasmenge`); misreadings
        // doubted 1 of 1 on the second split, 1 of 13 on the third (mostly
        // words the lexicon lacks); guesses 0, 6 and 15, all right. The
        // fourth split (2026-12-07, later) is held to the same bounds. After
        // the rules for qualified units and unread measures (2026-12-07,
        // evening): the fourth split's misreadings fell from 4 to 2, both
        // doubted, and its guesses rose from 21 to 23, all right.
        let (wrong, doubted_wrong) = (seen[0].wrong + seen[1].wrong, seen[0].doubted_wrong + seen[1].doubted_wrong);
        assert!(doubted_wrong * 2 >= wrong, "{doubted_wrong} of {wrong} misreadings doubted");
        assert_eq!(seen[3].doubted_wrong, seen[3].wrong, "every misreading of the fourth split doubted");
        // The fifth split (2026-12-07, night), much harder: 38 misreadings and
        // 3 wrong guesses as it came, mostly words the lexicon lacks; after
        // the rules made on it (a unit the plant names is the one asked; a
        // unit of unknown kind may be the one asked), 31 misreadings, 15 of
        // them doubted, and the same 3 wrong guesses; after a tag's own
        // words were no longer corrected into lexicon words, 28, 12 doubted
        // (3 doubted "no data" on a steam header became right); after the
        // lexicon broadening of 2026-12-07 (late), 21, 13 doubted; after the
        // plant's near words and the neighbour with the part asked
        // (2026-12-08), 19, 12 doubted. Held to that.
        let fifth = doubted(Split::FifthDevelopment);
        assert!(fifth.wrong <= 19, "{} misreadings on the fifth split", fifth.wrong);
        assert!(fifth.doubted_wrong >= 12, "{} of its misreadings doubted", fifth.doubted_wrong);
        assert!(fifth.guessed_wrong.len() <= 3, "wrong guesses on the fifth split: {:?}", fifth.guessed_wrong);
        assert!(seen[1].guessed >= 6, "{} guesses on the second split", seen[1].guessed);
        // The sixth (the held-out split until 2026-12-07): 7 misreadings, none
        // doubted, all "no data" for `SP1_Spd` and the like, read as
        // setpoints; none once a numbered code before a measure is a unit.
        assert_eq!(seen[4].wrong, 0, "misreadings on the sixth split");
    }

    #[test]
    fn every_generated_plant_becomes_a_state_with_all_its_tags_and_its_trends() {
        use slm::facts::Trend;
        for plant in plant_gen::plants(Split::Development) {
            let state = plant_state(&plant);
            assert_eq!(state.tags().len(), plant.tags.len(), "{}", plant.id);
            for tag in &plant.tags {
                let trend = state.fact(&tag.name, NOW_MS).map(|f| f.trend);
                let expected = match tag.slope_per_minute {
                    Some(slope) if slope > 0.0 => "rising",
                    Some(_) => "falling",
                    None => "unknown",
                };
                let seen = match trend {
                    Some(Trend::Rising { .. }) => "rising",
                    Some(Trend::Falling { .. }) => "falling",
                    _ => "unknown",
                };
                assert_eq!(seen, expected, "{}: {trend:?}", tag.name);
            }
        }
    }

    #[test]
    fn trend_answers_must_name_the_direction() {
        let rising = question(Expect::Trend { tag: "t".into(), rising: true }, "Is the level of tank 1 rising?");
        assert!(judge(&rising, &reply("Tank 1 level is 4.2 m, rising 0.3 m/min.", true), "").right);
        assert!(!judge(&rising, &reply("Tank 1 level is 4.2 m, falling 0.3 m/min.", true), "").right);
        assert!(!judge(&rising, &reply("Tank 1 level is 4.2 m.", true), "").right);
        let falling = question(Expect::Trend { tag: "t".into(), rising: false }, "Steigt oder fällt der Füllstand?");
        assert!(judge(&falling, &reply("Füllstand von Tank 1 ist 4.2 m, fallend 0.3 m/min.", false), "").right);
        // The plant's own spelling says nothing of the answer's language.
        let german = GenQuestion {
            language: plant_gen::Language::German,
            ..question(Expect::NoData, "Wie hoch ist der Strom von Lüfter 1?")
        };
        let facts = "building3_fan1_current_a: 6 A\n";
        assert!(judge(&german, &reply("Building3 fan1 current a ist 6 A.", true), facts).in_language);
        assert!(!judge(&german, &reply("Building3 fan1 current a is 6 A.", true), facts).in_language);
    }
}
