//! Benchmark helper node (`shopfloor-bench echo-answerer`): answers every question at
//! once with a fixed text, so that `shopfloor-bench mqtt-roundtrip` measures what the
//! MQTT nodes and dora add to a question's round trip, without a model.

use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, Event, MetadataParameters};
use shopfloor_core::schema::{Answer, Question};

pub fn run() -> anyhow::Result<()> {
    let (mut node, mut events) = DoraNode::init_from_env()?;
    let answers = DataId::from("answers".to_owned());
    while let Some(event) = events.recv() {
        match event {
            Event::Input { data, .. } => {
                let questions = Question::from_arrow(data.as_array().as_ref())?;
                let replies: Vec<Answer> = questions.iter().map(|q| Answer::to_question(q, "echo".into())).collect();
                node.send_output(answers.clone(), MetadataParameters::default(), Answer::to_arrow(&replies))?;
            }
            Event::Stop(_) => break,
            _ => {}
        }
    }
    Ok(())
}
