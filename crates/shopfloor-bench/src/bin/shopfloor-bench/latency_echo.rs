//! Benchmark node (`shopfloor-bench latency-echo`) of `dataflows/bench-distributed.yml`:
//! answers each question at once with an answer the size of a model tier's
//! (text, confidence, model, facts, token counts), so that the source's round
//! trip through it is what asking a tier costs without the model's time.

use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, Event, MetadataParameters};
use shopfloor_core::schema::{Answer, Question};

const QUESTIONS_INPUT: &str = "questions";
const ANSWERS_OUTPUT: &str = "answers";

pub fn run() -> anyhow::Result<()> {
    let (mut node, mut events) = DoraNode::init_from_env()?;
    let answers = DataId::from(ANSWERS_OUTPUT.to_owned());
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, data, .. } if id.as_str() == QUESTIONS_INPUT => {
                let questions = Question::from_arrow(data.as_array().as_ref())?;
                let replies: Vec<Answer> = questions.iter().map(tier_answer).collect();
                node.send_output(answers.clone(), MetadataParameters::default(), Answer::to_arrow(&replies))?;
            }
            Event::Stop(_) => break,
            _ => {}
        }
    }
    Ok(())
}

/// An answer as the `small` tier writes one: a few sentences, grounded in
/// five facts, with the model's figures.
fn tier_answer(question: &Question) -> Answer {
    let mut answer = Answer::to_question(
        question,
        "The spindle temperature of press 3 rose from 61.2 °C to 74.8 °C over the last hour while the spindle \
         speed stayed at 1450 rpm; coolant flow fell from 12.1 to 9.4 l/min over the same time. Check the coolant \
         filter and the pump before the next shift; the high limit is 90 °C."
            .into(),
    );
    answer.confidence = Some(0.62);
    answer.model = Some("gemma-3-270m-it.Q4_K_M".into());
    answer.facts_used = vec![
        "press3_spindle_temperature = 74.8 °C (Good, 2 s ago; limits 10..90)".into(),
        "press3_spindle_temperature 1 h ago = 61.2 °C".into(),
        "press3_spindle_speed = 1450 rpm (Good, 2 s ago)".into(),
        "press3_coolant_flow = 9.4 l/min (Good, 2 s ago; low limit 8)".into(),
        "press3_coolant_flow 1 h ago = 12.1 l/min".into(),
    ];
    answer.prompt_tokens = Some(412);
    answer.completion_tokens = Some(71);
    answer.ttft_ms = Some(180);
    answer.latency_ms = 820;
    answer
}
