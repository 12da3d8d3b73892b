//! Training data by distillation: the product's own prompts on generated
//! development plants, each paired with the sentence the fact engine writes
//! for it.
//!
//! The teacher is the answering pipeline itself. Every question goes the
//! product's way (the router's policy, then `slm`'s answering) with a
//! [`Teacher`] in place of the model, which records the prompt the pipeline
//! built (and writes a sentence the grounding check rejects). The target is
//! the fact engine's sentence for the asked tag, stating exactly what the
//! prompt's fact line states: the model learns to write what the check
//! would otherwise have to write for it, and never a number it was not
//! given. A question about something the plant does not have is taught
//! the composed "no data" sentence, which names only the tags its prompt
//! lists. Only pairs the any-plant judge calls right are kept; questions
//! the pipeline answers without the model (refusals, ties) give none.
//!
//! Only the first development kinds are used (never a held-out kind nor a
//! later development set's), in several variants with other values and
//! other questions.

use std::collections::BTreeMap;

use plant_gen::{Class, Plant};
use serde::Serialize;
use shopfloor_core::schema::{Origin, Question};
use shopfloor_vocabulary::language::detect as detect_language;
use slm::answering::{answer, AnswerSettings};
use slm::facts::Detail;
use slm::generator::Generate;
use slm::grounding::states_only_known_numbers;
use slm::relevance::{intent, Focus};
use slm_engine::{ChatTurn, Engine, EngineError, GenerateOptions, Generation};

use crate::model::any_plant::{judge, plant_state, NOW_MS};

/// What the teacher answers: a number in no fact, which the grounding check
/// always rejects.
const REJECTED_BY_THE_CHECK: &str = "-987654.321";

/// Who wrote an example's completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The fact engine's sentence for the asked tag, stating what the
    /// prompt's fact line states (`TagFact::sentence_with`).
    FactSentence,
    /// The composed "no data" sentence for a thing the plant does not have,
    /// naming the closest tags the prompt lists (`NoData::text_in`).
    NoDataSentence,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::FactSentence => "fact-sentence",
            Source::NoDataSentence => "no-data-sentence",
        }
    }
}

/// One training example.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Example {
    /// The prompt as the product renders it, ready for the model's reply.
    pub prompt: String,
    /// The sentence the model should write.
    pub completion: String,
    pub source: Source,
    /// Where it came from, for the data report.
    pub plant: String,
    pub class: &'static str,
    pub language: &'static str,
}

/// The pipeline's model, replaced: records prompts, writes nothing usable.
struct Teacher<'e> {
    engine: &'e Engine,
    prompts: Vec<String>,
}

impl Generate for Teacher<'_> {
    fn chat_prompt(&mut self, turns: &[ChatTurn<'_>]) -> Result<String, EngineError> {
        self.engine.chat_prompt(turns)
    }

    fn generate_with(&mut self, prompt: &str, _options: GenerateOptions<'_>) -> Result<Generation, EngineError> {
        self.prompts.push(prompt.to_owned());
        Ok(Generation {
            text: REJECTED_BY_THE_CHECK.to_owned(),
            confidence: 0.0,
            tokens: 0,
            prompt_tokens_evaluated: 0,
            prompt_tokens: 0,
            ttft_ms: 0.0,
            total_ms: 0.0,
            grammar_fallbacks: 0,
            grammar_full_filters: 0,
        })
    }

    fn model_name(&self) -> String {
        "teacher".to_owned()
    }
}

/// What was made, and what was left out and why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataReport {
    pub plants: usize,
    pub questions: usize,
    /// Examples by source.
    pub by_source: BTreeMap<&'static str, usize>,
    /// Examples by question class.
    pub by_class: BTreeMap<&'static str, usize>,
    /// Examples by language.
    pub by_language: BTreeMap<&'static str, usize>,
    /// Questions that made no example, by reason.
    pub skipped: BTreeMap<&'static str, usize>,
}

/// Examples from `plants` with the chat template of `engine`'s model.
pub fn examples(engine: &Engine, plants: &[Plant]) -> (Vec<Example>, DataReport) {
    let mut report = DataReport { plants: plants.len(), ..DataReport::default() };
    let mut out = Vec::new();
    for plant in plants {
        let state = plant_state(plant);
        let facts: String = state.facts(NOW_MS).iter().map(|f| f.fact_line() + "\n").collect();
        let mut policy = crate::model::any_plant::router_policy();
        policy.learn_tags(
            plant.tags.iter().flat_map(|t| std::iter::once(t.name.as_str()).chain(t.description.as_deref())),
        );
        for question in plant_gen::questions(plant) {
            report.questions += 1;
            let skip = |report: &mut DataReport, why| *report.skipped.entry(why).or_default() += 1;
            if question.class == Class::Empty {
                skip(&mut report, "empty question (refused by the sources)");
                continue;
            }
            let asked = Question::new(&question.id, &question.text, "train", Origin::Mqtt, NOW_MS);
            let asked = match policy.on_question(asked, NOW_MS) {
                router::policy::Action::Reply(_) => {
                    skip(&mut report, "answered by the router (refusal)");
                    continue;
                }
                router::policy::Action::Ask { question, .. } => question,
            };
            let mut teacher = Teacher { engine, prompts: Vec::new() };
            let mut reply = answer(&mut teacher, &state, &asked, AnswerSettings::default(), NOW_MS);
            let prompt = match teacher.prompts.as_slice() {
                [] => {
                    skip(&mut report, "answered without the model (ties, stale)");
                    continue;
                }
                [prompt] => prompt.clone(),
                _ => {
                    skip(&mut report, "tool step (not taught yet)");
                    continue;
                }
            };
            if reply.model.is_some() || reply.error.is_some() {
                skip(&mut report, "the check kept the teacher's sentence");
                continue;
            }
            let intent = intent(&asked.text, &state);
            let source = match &intent.focus {
                // The pipeline's fallback is the composed "no data" sentence,
                // which names only what the prompt lists.
                Focus::Unknown { .. } => Source::NoDataSentence,
                // The pipeline's own fallback states every detail of the fact;
                // the target states only what the prompt's line does, so that
                // the model never learns to write a number it was not given.
                Focus::Tags(tags) if tags.len() == 1 => {
                    let Some(fact) = state.fact(&tags[0], NOW_MS) else {
                        skip(&mut report, "not about one tag");
                        continue;
                    };
                    let detail = Detail { limits: intent.asks_limit, trend: intent.asks_trend };
                    reply.text = fact.sentence_with(detect_language(&asked.text), detail);
                    Source::FactSentence
                }
                _ => {
                    skip(&mut report, "not about one tag");
                    continue;
                }
            };
            if !states_only_known_numbers(&reply.text, std::slice::from_ref(&prompt)) {
                skip(&mut report, "the fact's sentence states a number the prompt does not");
                continue;
            }
            if !judge(&question, &reply, &facts).right {
                skip(&mut report, "the facts' sentence is judged wrong");
                continue;
            }
            let example = Example {
                prompt,
                completion: reply.text,
                source,
                plant: plant.id.clone(),
                class: question.class.as_str(),
                language: question.language.as_str(),
            };
            *report.by_source.entry(example.source.as_str()).or_default() += 1;
            *report.by_class.entry(example.class).or_default() += 1;
            *report.by_language.entry(example.language).or_default() += 1;
            out.push(example);
        }
    }
    (out, report)
}

impl DataReport {
    /// The report in Markdown: how much each source, class and language gave.
    pub fn markdown(&self, examples: usize) -> String {
        let mut out = format!(
            "Training data: {examples} examples from {} questions on {} development plants.\n\n",
            self.questions, self.plants
        );
        let share = |n: usize| 100.0 * n as f64 / examples.max(1) as f64;
        for (title, groups) in [("source", &self.by_source), ("class", &self.by_class), ("language", &self.by_language)]
        {
            out.push_str(&format!("| {title} | examples | share |\n|---|---|---|\n"));
            for (name, count) in groups {
                out.push_str(&format!("| {name} | {count} | {:.1} % |\n", share(*count)));
            }
            out.push('\n');
        }
        out.push_str("| left out | questions |\n|---|---|\n");
        for (why, count) in &self.skipped {
            out.push_str(&format!("| {why} | {count} |\n"));
        }
        out
    }
}
