//! The router's event loop. dora events arrive on a receiver thread and
//! off-site replies on their own threads; both feed one channel, so the
//! loop owns the [`Policy`] alone and wakes at least every [`TICK`] to
//! enforce deadlines.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::config::{RouterConfig, TierKind};
use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters};
use shopfloor_core::schema::{Answer, AnswerError, MetricSample, Question, Reading};
use shopfloor_node::clock::now_ms;
use shopfloor_node::metrics::{METRICS_OUTPUT, METRICS_TICK_INPUT};

use crate::http_tier;
use crate::metrics::snapshot;
use crate::policy::{Action, Policy};
use crate::redact::Redactor;

/// Input ids starting with this carry questions (`questions`, `questions_http`, ...).
pub const QUESTIONS_INPUT: &str = "questions";
/// Input ids starting with this carry readings, read only for their tag names
/// (the classifier's site vocabulary).
pub const READINGS_INPUT: &str = "readings";
/// Output id of final answers.
pub const ANSWERS_OUTPUT: &str = "answers";
/// Deadlines are checked at least this often.
pub const TICK: Duration = Duration::from_millis(20);
/// Off-site requests in flight at once; more fail over at once (the
/// endpoint is slow or down, and threads must stay bounded).
const MAX_HTTP_IN_FLIGHT: usize = 8;

enum Incoming {
    Dora(Event),
    /// A reply (or failure) of the off-site tier, as a tier answer.
    Http(usize, Box<Answer>),
    Closed,
}

/// Counts for the final log line.
#[derive(Debug, Default, Clone, Copy)]
pub struct RouterTotals {
    /// Answers sent.
    pub answered: u64,
    /// Inputs that did not decode.
    pub rejected_inputs: u64,
}

/// Runs until dora says stop.
pub fn run(config: &RouterConfig, mut node: DoraNode, events: EventStream) -> anyhow::Result<RouterTotals> {
    let redactor = Redactor::new(config.http.as_ref().map_or(&[][..], |h| &h.redact))?;
    let mut policy = Policy::new(config);
    // Tiers with a liveness input (`alive_<tier>`) are reachable only while it speaks.
    for (input, _) in node.node_config().inputs.iter() {
        if let Some(tier) = config.tier_of_liveness_input(input.as_str()) {
            tracing::info!(tier = %policy.tiers()[tier].name, %input, "watching the tier's liveness");
            policy.watch_liveness(tier, now_ms());
        }
    }
    let (tx, rx) = mpsc::channel();
    let receiver_tx = tx.clone();
    std::thread::spawn(move || receive(events, receiver_tx));
    let http_in_flight = Arc::new(AtomicUsize::new(0));
    let node_name = node.id().to_string();
    let mut totals = RouterTotals::default();

    loop {
        let incoming = match rx.recv_timeout(TICK) {
            Ok(incoming) => Some(incoming),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut actions = Vec::new();
        match incoming {
            None => {}
            Some(Incoming::Closed) => break,
            Some(Incoming::Http(tier, answer)) => actions.extend(policy.on_answer(tier, *answer, now_ms())),
            Some(Incoming::Dora(Event::Stop(_))) => break,
            Some(Incoming::Dora(Event::Input { id, data, .. })) => {
                let input = id.as_str();
                if input == METRICS_TICK_INPUT {
                    let samples = snapshot(&node_name, &policy, totals.rejected_inputs);
                    send(&mut node, METRICS_OUTPUT, MetricSample::to_arrow(&samples))?;
                } else if input.starts_with(READINGS_INPUT) {
                    match Reading::from_arrow(data.as_array().as_ref()) {
                        Ok(readings) => {
                            let mut tags: Vec<&str> = readings.iter().map(|r| r.tag.as_str()).collect();
                            tags.dedup();
                            policy.learn_tags(tags);
                        }
                        Err(error) => reject(&mut totals, input, &error),
                    }
                } else if input.starts_with(QUESTIONS_INPUT) {
                    match Question::from_arrow(data.as_array().as_ref()) {
                        Ok(questions) => actions.extend(questions.into_iter().map(|q| policy.on_question(q, now_ms()))),
                        Err(error) => reject(&mut totals, input, &error),
                    }
                } else if let Some(tier) = config.tier_of_liveness_input(input) {
                    policy.on_alive(tier, now_ms());
                } else if let Some(tier) = config.tier_of_input(input) {
                    match Answer::from_arrow(data.as_array().as_ref()) {
                        Ok(answers) => {
                            for answer in answers {
                                actions.extend(policy.on_answer(tier, answer, now_ms()));
                            }
                        }
                        Err(error) => reject(&mut totals, input, &error),
                    }
                } else {
                    tracing::debug!(input, "input ignored");
                }
            }
            Some(Incoming::Dora(Event::InputClosed { id })) => {
                tracing::info!(input = %id, "input closed");
                if let Some(tier) = config.tier_of_liveness_input(id.as_str()) {
                    policy.on_gone(tier, now_ms());
                }
            }
            Some(Incoming::Dora(Event::InputRecovered { id })) => {
                tracing::info!(input = %id, "input recovered");
                if let Some(tier) = config.tier_of_liveness_input(id.as_str()) {
                    policy.on_alive(tier, now_ms());
                }
            }
            Some(Incoming::Dora(Event::Error(error))) => tracing::warn!(%error, "dora reported an error"),
            Some(Incoming::Dora(_)) => {}
        }
        actions.extend(policy.on_tick(now_ms()));
        for action in actions {
            match action {
                Action::Reply(answer) => {
                    tracing::info!(
                        id = %answer.id,
                        class = ?answer.class,
                        tiers = answer.route.iter().map(|h| h.tier.as_str()).collect::<Vec<_>>().join(">"),
                        confidence = ?answer.confidence,
                        latency_ms = answer.latency_ms,
                        "answered"
                    );
                    send(&mut node, ANSWERS_OUTPUT, Answer::to_arrow(std::slice::from_ref(&answer)))?;
                    totals.answered += 1;
                }
                Action::Ask { tier, question, context } => {
                    let spec = &policy.tiers()[tier];
                    match (spec.kind, &config.http) {
                        (TierKind::Slm, _) => {
                            send(&mut node, &spec.output(), Question::to_arrow(std::slice::from_ref(&question)))?
                        }
                        (TierKind::Http, Some(http)) => {
                            let body = http_tier::request_body(http, &redactor, &question, &context);
                            ask_off_site(http.clone(), body, question, tier, tx.clone(), http_in_flight.clone());
                        }
                        // The config check refuses an http tier without an endpoint.
                        (TierKind::Http, None) => {}
                    }
                }
            }
        }
    }
    Ok(totals)
}

fn ask_off_site(
    http: crate::config::HttpTierConfig,
    body: serde_json::Value,
    question: Question,
    tier: usize,
    tx: mpsc::Sender<Incoming>,
    in_flight: Arc<AtomicUsize>,
) {
    let failed = |question: &Question, reason: String| {
        let mut answer = Answer::to_question(question, reason);
        answer.error = Some(AnswerError::GenerationFailed);
        answer
    };
    if in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_HTTP_IN_FLIGHT {
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let _ =
            tx.send(Incoming::Http(tier, Box::new(failed(&question, "too many off-site requests in flight".into()))));
        return;
    }
    std::thread::spawn(move || {
        let answer = match http_tier::ask(&http, &body, now_ms()) {
            Ok(reply) => {
                let mut answer = Answer::to_question(&question, reply.text);
                answer.model = Some(reply.model);
                answer.confidence = reply.confidence;
                answer
            }
            Err(error) => {
                tracing::warn!(%error, "off-site tier failed");
                failed(&question, error.to_string())
            }
        };
        in_flight.fetch_sub(1, Ordering::SeqCst);
        // The loop may have stopped; then nobody needs the reply.
        let _ = tx.send(Incoming::Http(tier, Box::new(answer)));
    });
}

fn receive(mut events: EventStream, tx: mpsc::Sender<Incoming>) {
    while let Some(event) = events.recv() {
        let stop = matches!(event, Event::Stop(_));
        if tx.send(Incoming::Dora(event)).is_err() || stop {
            return;
        }
    }
    let _ = tx.send(Incoming::Closed);
}

fn send(node: &mut DoraNode, output: &str, data: shopfloor_core::arrow::array::ArrayRef) -> anyhow::Result<()> {
    node.send_output(DataId::from(output.to_owned()), MetadataParameters::default(), data)?;
    Ok(())
}

fn reject(totals: &mut RouterTotals, input: &str, error: &dyn std::fmt::Display) {
    totals.rejected_inputs += 1;
    tracing::warn!(input, %error, rejected = totals.rejected_inputs, "input rejected");
}
