//! One question to one answer: check the question, find what it is about,
//! optionally let the model call a read-only tool, ask the model to word the
//! computed facts, and check its sentence against them.

use std::time::Instant;

use crate::config::ToolMode;
use shopfloor_core::schema::{Answer, AnswerError, Question};
pub use shopfloor_node::logging::with_causes;

use crate::engine::{ChatTurn, Engine, EngineError, GenerateOptions, Generation};
use crate::facts::{Detail, Freshness, TagFact};
use crate::generator::{Generate, PlantView};
use crate::grounding::{is_grounded, system_prompt};
use crate::json_answer;
use crate::no_data::NoData;
use crate::plant_state::PlantState;
use crate::question_check;
use crate::relevance::{intent, Focus, Intent};
use crate::tools::{self, ToolCall};
use shopfloor_vocabulary::language::{detect as detect_language, Language};

/// Settings that shape answers.
#[derive(Debug, Clone, Copy)]
pub struct AnswerSettings {
    /// Most generated tokens.
    pub max_tokens: u32,
    /// Longest accepted question, in characters.
    pub max_question_chars: usize,
    /// Below this confidence an answer is marked `low_confidence`.
    pub confidence_threshold: f32,
    /// When the model may call tools.
    pub tools: ToolMode,
    /// Up to this many tags the whole fact sheet goes into the prompt (and
    /// stays cached); beyond it (and always at 0) only the facts a question
    /// is about. See docs/decisions.md for when each is faster.
    pub fact_sheet_max_tags: usize,
    /// Most tokens of a JSON answer.
    pub json_max_tokens: u32,
}

impl Default for AnswerSettings {
    fn default() -> Self {
        Self {
            max_tokens: 48,
            max_question_chars: 500,
            confidence_threshold: 0.5,
            tools: ToolMode::Auto,
            fact_sheet_max_tags: 0,
            json_max_tokens: 256,
        }
    }
}

/// A question about nothing in particular gets at most this many facts;
/// with more tags (and tools on `auto`) the model looks up what it needs.
const OVERVIEW_MAX_TAGS: usize = 12;

/// Most tokens of a tool call (the longest call with a long tag name fits).
const TOOL_CALL_MAX_TOKENS: u32 = 40;

/// The facts an answer is built from.
struct Grounding {
    /// Lines of the prompt's fact sheet.
    sheet: Vec<String>,
    /// The facts the question is about (for `facts_used` and fallbacks).
    focused: Vec<TagFact>,
    /// The fact the answer must state, if one.
    primary: Option<TagFact>,
}

/// Answers `question` from `plant` with `engine`. The plant state is read
/// before the model writes and once more after a tool call, never while it
/// writes.
pub fn answer(
    engine: &mut impl Generate,
    plant: &impl PlantView,
    question: &Question,
    settings: AnswerSettings,
    now_ms: i64,
) -> Answer {
    let started = Instant::now();
    let queued_ms = (now_ms - question.received_ts_ms).max(0);
    let mut answer = Answer::to_question(question, String::new());
    let finish = |mut answer: Answer| {
        answer.latency_ms = queued_ms + started.elapsed().as_millis() as i64;
        answer
    };

    // Answers are written in the asker's language (English, German, Spanish, French).
    let language = detect_language(&question.text);
    if question.deadline_ms.is_some_and(|deadline| now_ms > deadline) {
        answer.text = in_language(
            language,
            [
                "The question expired before it could be answered.",
                "Die Frage ist abgelaufen, bevor sie beantwortet werden konnte.",
                "La pregunta caducó antes de poder responderla.",
                "La question a expiré avant de pouvoir recevoir une réponse.",
            ],
        );
        answer.error = Some(AnswerError::DeadlineExceeded);
        return finish(answer);
    }
    if let Err(problem) = question_check::check(&question.text, settings.max_question_chars) {
        answer.text = problem.text_in(language);
        answer.error = Some(AnswerError::InvalidQuestion);
        return finish(answer);
    }
    let state = plant.view();
    if state.is_empty() {
        answer.text = in_language(
            language,
            [
                "No plant data has arrived yet, so I cannot answer from live values.",
                "Es sind noch keine Anlagendaten eingetroffen, daher kann ich nicht aus Live-Werten antworten.",
                "Todavía no han llegado datos de la planta, así que no puedo responder con valores en vivo.",
                "Aucune donnée de l'installation n'est encore arrivée : je ne peux pas répondre avec des valeurs en direct.",
            ],
        );
        answer.error = Some(AnswerError::NoPlantData);
        return finish(answer);
    }

    let intent = intent(&question.text, &state);
    if let Some(schema) = &question.response_schema {
        // JSON answers skip the sentence shortcuts: their text must follow the schema.
        let grounding = fact_sheet(&state, &intent, settings, now_ms);
        drop(state);
        answer.facts_used = grounding.focused.iter().map(TagFact::fact_line).collect();
        json_answer::answer_in_json(engine, &mut answer, &question.text, schema, &grounding.sheet, settings, queued_ms);
        // A doubtful reading lowers a JSON answer's confidence as a sentence's.
        if let Some(confidence) = answer.confidence.map(|c| intent.confidence(c)) {
            answer.confidence = Some(confidence);
            answer.low_confidence |= confidence < settings.confidence_threshold;
        }
        return finish(answer);
    }
    if let Focus::Unknown { asked, closest } = &intent.focus {
        let no_data = NoData::new(asked, closest, &state);
        drop(state);
        let sheet = no_data.prompt_lines();
        let plant_words = no_data.plant_words();
        let wording =
            Wording { sheet: &sheet, plant_words, language, spent: Spent::default(), queued_ms, intent: &intent };
        wording.write(
            engine,
            question,
            settings,
            &mut answer,
            |text| no_data.is_stated_by(text, language),
            || no_data.text_in(language),
        );
        return finish(answer);
    }

    let tags: Vec<String> = state.tags().into_iter().map(str::to_owned).collect();
    let use_tools = match settings.tools {
        ToolMode::Off => false,
        ToolMode::Always => true,
        ToolMode::Auto => {
            intent.focus == Focus::General && tags.len() > OVERVIEW_MAX_TAGS.max(settings.fact_sheet_max_tags)
        }
    };
    let mut spent = Spent::default();
    // Read again when needed: the tool step lets the model write first.
    let read_sheet = || fact_sheet(&plant.view(), &intent, settings, now_ms);
    drop(state);
    let grounding = match use_tools.then(|| call_tool(engine, plant, question, &tags, now_ms)) {
        Some(Ok((call, result, generation))) => {
            spent.add(&generation);
            answer.tools_used.push(call.to_string());
            Grounding { sheet: result.lines, focused: result.facts, primary: result.primary }
        }
        Some(Err(error)) => {
            tracing::warn!(id = %question.id, error = %with_causes(&error), "tool step failed; answering from the fact sheet");
            read_sheet()
        }
        None => read_sheet(),
    };
    answer.facts_used = grounding.focused.iter().map(TagFact::fact_line).collect();

    // Values that must not be presented as current, and "no alarms", are said
    // by the facts themselves; the model adds nothing there.
    if let Some(deterministic) = deterministic_text(&grounding, &intent.focus, tags.len(), language) {
        answer.text = deterministic;
        return finish(answer);
    }

    let detail = Detail { limits: intent.asks_limit, trend: intent.asks_trend };
    let plant_words = grounding
        .focused
        .iter()
        .flat_map(|f| [Some(f.tag.as_str()), f.description.as_deref(), f.unit.as_deref()])
        .flatten()
        .flat_map(plant_words_of)
        .collect();
    let wording = Wording { sheet: &grounding.sheet, plant_words, language, spent, queued_ms, intent: &intent };
    wording.write(
        engine,
        question,
        settings,
        &mut answer,
        |text| is_grounded(text, grounding.primary.as_ref(), &grounding.sheet, detail),
        || fallback_text(&grounding, language),
    );
    finish(answer)
}

/// Tokens and time the model spent on a question before its sentence (the tool step).
#[derive(Debug, Clone, Copy, Default)]
struct Spent {
    prompt_tokens: usize,
    completion_tokens: usize,
    ttft_ms: Option<f64>,
}

impl Spent {
    fn add(&mut self, generation: &Generation) {
        self.prompt_tokens += generation.prompt_tokens;
        self.completion_tokens += generation.tokens;
        self.ttft_ms.get_or_insert(generation.ttft_ms);
    }
}

/// The model's sentence over the fact lines `sheet`, in `language`.
struct Wording<'a> {
    sheet: &'a [String],
    /// Words of the plant's own spelling (tag names, descriptions, units),
    /// left out when telling the sentence's language.
    plant_words: Vec<String>,
    language: Language,
    spent: Spent,
    /// How long the question waited before answering began.
    queued_ms: i64,
    /// What the question was read as (its doubts lower the confidence).
    intent: &'a Intent,
}

impl Wording<'_> {
    /// Asks the model to answer `question` from the sheet and keeps its
    /// sentence if it is in the asker's language and `faithful` accepts
    /// it; otherwise the answer is `composed()` and carries no confidence.
    fn write(
        mut self,
        engine: &mut impl Generate,
        question: &Question,
        settings: AnswerSettings,
        answer: &mut Answer,
        faithful: impl Fn(&str) -> bool,
        composed: impl FnOnce() -> String,
    ) {
        let mut system = system_prompt(self.sheet);
        if self.language != Language::English {
            system.push_str(&format!("\n\nAnswer in {}.", self.language.english_name()));
        }
        let turns = [ChatTurn { role: "system", content: &system }, ChatTurn { role: "user", content: &question.text }];
        let composed = composed();
        let max_tokens = sentence_budget(settings.max_tokens, &composed);
        let generation = engine.chat_completion(&turns, "", GenerateOptions::line(max_tokens));
        match generation {
            Ok(generation) => {
                self.spent.add(&generation);
                answer.ttft_ms = self.spent.ttft_ms.map(|first| self.queued_ms + first.round() as i64);
                answer.prompt_tokens = Some(self.spent.prompt_tokens as i64);
                answer.completion_tokens = Some(self.spent.completion_tokens as i64);
                tracing::debug!(
                    prompt_tokens = generation.prompt_tokens,
                    evaluated = generation.prompt_tokens_evaluated,
                    tokens = generation.tokens,
                    ttft_ms = generation.ttft_ms,
                    total_ms = generation.total_ms,
                    "generated"
                );
                // A faithful sentence in another language than the question's
                // is replaced too: the operator reads the facts in their own.
                let in_language = self.language == Language::English
                    || detect_language(&without_words(&generation.text, &self.plant_words)) == self.language;
                if in_language && faithful(&generation.text) {
                    answer.text = generation.text;
                    let confidence = self.intent.confidence(generation.confidence);
                    answer.confidence = Some(confidence);
                    answer.low_confidence = confidence < settings.confidence_threshold;
                    answer.model = Some(engine.model_name());
                } else {
                    tracing::info!(id = %question.id, model_text = %generation.text, "model answer not grounded; answering from the facts");
                    answer.text = composed;
                }
            }
            Err(error) => {
                let error = with_causes(&error);
                tracing::error!(id = %question.id, %error, "generation failed");
                answer.text = format!("The model failed ({error}); {composed}");
                answer.error = Some(AnswerError::GenerationFailed);
            }
        }
    }
}

/// Tokens the model may spend on a sentence whose facts read as `composed`
/// (the sentence code writes from them, which the tuned model learned to
/// say): the setting, or more where that sentence is long. A value with its
/// limit clause and its trend runs past 48 tokens, and a sentence cut off
/// there loses its direction and is replaced. About one token per two
/// characters (digits are a token each), a margin, and at most twice the
/// setting, so a model that never stops costs at most that.
fn sentence_budget(max_tokens: u32, composed: &str) -> u32 {
    let needed = u32::try_from(composed.chars().count().div_ceil(2)).unwrap_or(u32::MAX).saturating_add(16);
    needed.clamp(max_tokens, max_tokens.saturating_mul(2))
}

/// Brings the KV cache up to date while no question waits, so that the next
/// question only evaluates its own tokens: the whole fact sheet while the
/// plant is small enough for every prompt to carry it, else the
/// instructions that every prompt starts with (each question then brings
/// only its own facts).
pub fn warm_cache(engine: &mut Engine, state: &PlantState, settings: AnswerSettings, now_ms: i64) {
    if state.is_empty() {
        return;
    }
    let system = if state.tags().len() > settings.fact_sheet_max_tags {
        system_prompt(&[])
    } else {
        let general = Intent { focus: Focus::General, asks_limit: false, asks_trend: false, doubts: Vec::new() };
        system_prompt(&fact_sheet(state, &general, settings, now_ms).sheet)
    };
    let result = engine.chat_prefix(&system).and_then(|prefix| engine.prefill(&prefix));
    match result {
        Ok(evaluated) if evaluated > 0 => tracing::trace!(evaluated, "prompt start cached"),
        Ok(_) => {}
        Err(error) => tracing::warn!(error = %with_causes(&error), "could not cache the prompt's start"),
    }
}

/// The facts for the prompt without a tool: the whole sheet while the plant
/// is small (its prefix stays cached across questions), else the focused tags.
fn fact_sheet(state: &PlantState, intent: &Intent, settings: AnswerSettings, now_ms: i64) -> Grounding {
    let focus = &intent.focus;
    let all = state.facts(now_ms);
    let focused: Vec<TagFact> = match focus {
        Focus::Tags(tags) => tags.iter().filter_map(|t| state.fact(t, now_ms)).collect(),
        Focus::Alarms => all.iter().filter(|f| f.alarm).cloned().collect(),
        Focus::General | Focus::Unknown { .. } => all.iter().take(OVERVIEW_MAX_TAGS).cloned().collect(),
    };
    let primary = match focus {
        // Several tags fit equally ("the temperature" of a plant with five):
        // the answer states each, not the first one as if it were meant.
        Focus::Tags(tags) if tags.len() > 1 => None,
        Focus::Tags(_) | Focus::Alarms => focused.first().cloned(),
        Focus::General | Focus::Unknown { .. } => None,
    };
    let sheet = if all.len() <= settings.fact_sheet_max_tags {
        // The whole sheet, the same for every question, so it stays cached.
        all.iter().map(TagFact::prompt_line).collect()
    } else {
        let detail = Detail { limits: intent.asks_limit, trend: intent.asks_trend };
        focused.iter().map(|f| f.prompt_line_with(detail)).collect()
    };
    Grounding { sheet, focused, primary }
}

/// Why the tool step gave nothing (the answer then comes from the fact sheet).
#[derive(Debug, thiserror::Error)]
enum ToolStepError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Call(#[from] tools::ToolError),
}

/// The tool step: a grammar-constrained call, then its result.
fn call_tool(
    engine: &mut impl Generate,
    plant: &impl PlantView,
    question: &Question,
    tags: &[String],
    now_ms: i64,
) -> Result<(ToolCall, tools::ToolResult, Generation), ToolStepError> {
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    let system = tools::tool_prompt(&tags);
    let grammar = tools::grammar(&tags);
    let turns = [ChatTurn { role: "system", content: &system }, ChatTurn { role: "user", content: &question.text }];
    let options =
        GenerateOptions { max_tokens: TOOL_CALL_MAX_TOKENS, stop_at_line_break: false, grammar: Some(&grammar) };
    let generation = engine.chat_completion(&turns, tools::CALL_PREFIX, options)?;
    let state = plant.view();
    let call = tools::parse(&generation.text, &state)?;
    tracing::debug!(id = %question.id, %call, fallbacks = generation.grammar_fallbacks, "tool called");
    let result = tools::execute(&call, &state, now_ms);
    Ok((call, result, generation))
}

/// Text that needs no model: a stale or bad primary value, no alarms, or
/// several tags that fit the question equally (a small model picks one of
/// them as if it were meant; the facts state each).
fn deterministic_text(grounding: &Grounding, focus: &Focus, tags: usize, language: Language) -> Option<String> {
    if matches!(focus, Focus::Tags(tags) if tags.len() > 1) {
        return Some(fallback_text(grounding, language));
    }
    match &grounding.primary {
        Some(primary) if matches!(primary.freshness, Freshness::Stale | Freshness::Bad) => {
            Some(primary.sentence_in(language))
        }
        Some(_) => None,
        None if *focus == Focus::Alarms || grounding.sheet == ["no active alarms"] => Some(match language {
            Language::English => format!("No active alarms: all {tags} tags are within their limits."),
            Language::German => format!("Keine aktiven Alarme: alle {tags} Tags sind innerhalb ihrer Grenzwerte."),
            Language::Spanish => {
                format!("No hay alarmas activas: las {tags} variables están dentro de sus límites.")
            }
            Language::French => format!("Aucune alarme active : les {tags} variables sont dans leurs limites."),
        }),
        None => None,
    }
}

/// The text of `texts` (English, German, Spanish, French) for `language`.
fn in_language(language: Language, texts: [&str; 4]) -> String {
    let [english, german, spanish, french] = texts;
    match language {
        Language::English => english,
        Language::German => german,
        Language::Spanish => spanish,
        Language::French => french,
    }
    .to_owned()
}

/// The lowercase words of a name as the plant spells it (`Building3_fan1_current_a`:
/// `building3`, `fan1`, `current`, `a`). Tag names stay as the plant spells
/// them in every language, so they say nothing of the sentence's language.
pub(crate) fn plant_words_of(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// `text` without the tokens that are one of `plant_words` (punctuation kept).
fn without_words(text: &str, plant_words: &[String]) -> String {
    text.split_whitespace()
        .filter(|token| {
            let word = token.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
            word.is_empty() || !plant_words.contains(&word)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The answer made from the facts alone, in `language`.
fn fallback_text(grounding: &Grounding, language: Language) -> String {
    match &grounding.primary {
        Some(primary) => primary.sentence_in(language),
        None => grounding.focused.iter().take(6).map(|f| f.sentence_in(language)).collect::<Vec<_>>().join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long sentence of facts gets the tokens it needs, up to twice the
    /// setting; a short one keeps the setting.
    #[test]
    fn a_long_sentence_of_facts_gets_the_tokens_it_needs() {
        assert_eq!(sentence_budget(48, "Pump 1 pressure is 4.2 bar."), 48);
        // Cut off at 48 tokens on the development split, in its limit clause.
        let trend = "WTP Pumpe1 Druck (Druck Pumpe 1) is 10.91 bar, 0.91 bar above its high limit of 10 bar \
                     (ALARM), falling 0.05 bar/min.";
        assert!(sentence_budget(48, trend) > 48 + 8, "{}", sentence_budget(48, trend));
        assert_eq!(sentence_budget(48, &"x".repeat(1000)), 96);
        assert_eq!(sentence_budget(1, "a longer sentence than one token"), 2);
    }

    /// What the engine is asked for, and a sentence that is not grounded.
    struct Recorder(Vec<u32>);

    impl Generate for Recorder {
        fn chat_prompt(&mut self, _turns: &[ChatTurn<'_>]) -> Result<String, EngineError> {
            Ok(String::new())
        }
        fn generate_with(&mut self, _prompt: &str, options: GenerateOptions<'_>) -> Result<Generation, EngineError> {
            self.0.push(options.max_tokens);
            Ok(Generation {
                text: "Something else entirely.".to_owned(),
                confidence: 0.9,
                tokens: 4,
                prompt_tokens_evaluated: 0,
                prompt_tokens: 0,
                ttft_ms: 1.0,
                total_ms: 2.0,
                grammar_fallbacks: 0,
                grammar_full_filters: 0,
            })
        }
        fn model_name(&self) -> String {
            "recorder".to_owned()
        }
    }

    /// The model is given the budget of the sentence it replaces, and the
    /// sentence it failed to write is the answer.
    #[test]
    fn the_model_gets_the_budget_of_the_composed_sentence() {
        let question = Question::new("q1", "Is pump 1 pressure rising?", "op", shopfloor_core::schema::Origin::Mqtt, 0);
        let long = "Pump 1 pressure is 10.91 bar, 0.91 bar above its high limit of 10 bar (ALARM), \
                    falling 0.05 bar/min over the last 10 minutes."
            .to_owned();
        let mut engine = Recorder(Vec::new());
        let mut answer = Answer::to_question(&question, String::new());
        let intent = sure_intent();
        let wording = english_wording(&intent);
        let settings = AnswerSettings::default();
        wording.write(&mut engine, &question, settings, &mut answer, |_| false, || long.clone());
        assert_eq!(engine.0, vec![sentence_budget(settings.max_tokens, &long)]);
        assert!(engine.0[0] > settings.max_tokens);
        assert_eq!((answer.text.as_str(), answer.confidence), (long.as_str(), None));
    }

    /// An English sentence over no fact lines, read as `intent`.
    fn english_wording(intent: &Intent) -> Wording<'_> {
        Wording {
            sheet: &[],
            plant_words: Vec::new(),
            language: Language::English,
            spent: Spent::default(),
            queued_ms: 0,
            intent,
        }
    }

    fn sure_intent() -> Intent {
        Intent {
            focus: Focus::Tags(vec!["pump1_pressure".into()]),
            asks_limit: false,
            asks_trend: false,
            doubts: Vec::new(),
        }
    }

    /// A kept sentence carries the model's confidence, lowered under the
    /// threshold where the question's reading is in doubt.
    #[test]
    fn a_doubtful_reading_lowers_a_kept_sentences_confidence() {
        let question = Question::new("q1", "speed of sierra 1?", "op", shopfloor_core::schema::Origin::Mqtt, 0);
        let settings = AnswerSettings { confidence_threshold: 0.44, ..AnswerSettings::default() };
        let doubtful = Intent {
            doubts: vec![shopfloor_vocabulary::tag_match::Doubt::Unexplained("sierra".into())],
            ..sure_intent()
        };
        let mut confidences = Vec::new();
        for intent in [sure_intent(), doubtful] {
            let mut answer = Answer::to_question(&question, String::new());
            english_wording(&intent).write(
                &mut Recorder(Vec::new()),
                &question,
                settings,
                &mut answer,
                |_| true,
                String::new,
            );
            confidences.push((answer.confidence, answer.low_confidence));
        }
        assert_eq!(confidences, [(Some(0.9), false), (Some(0.9 * crate::relevance::DOUBTED_SHARE), true)]);
    }

    /// A German sentence about an English-named tag reads as German once the
    /// tag's own words (and its unit `A`, the French "a") are left out.
    #[test]
    fn the_plants_own_words_do_not_decide_the_sentences_language() {
        let sentence = "Building3 fan1 current a ist 6 A.";
        assert_ne!(detect_language(sentence), Language::German);
        let plant_words: Vec<String> = ["Building3_fan1_current_a", "A"].into_iter().flat_map(plant_words_of).collect();
        assert_eq!(detect_language(&without_words(sentence, &plant_words)), Language::German);
        // An English sentence stays English.
        let english = "Building3 fan1 current a is 6 A.";
        assert_eq!(detect_language(&without_words(english, &plant_words)), Language::English);
    }
}
