//! The router on dora: one loop over one bounded channel that carries dora's
//! events and the off-site tier's replies (each request runs on its own
//! thread, at most [`MAX_HTTP_IN_FLIGHT`] at once); the shared [`Driver`]
//! sends, counts rejections and answers the metrics tick, and the loop wakes
//! at least every [`TICK`] to enforce deadlines.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::Arc;

use dora_node_api::{DoraNode, EventStream};
use shopfloor_core::schema::{Accepted, Answer, AnswerError, Question};
use shopfloor_node::clock::now_ms;
use shopfloor_node::driver::{forward_dora_events, DoraSide, SendError};
use shopfloor_node::logging::with_causes;
use shopfloor_node::{Driver, Emit, Flow, NodeLogic, Wiring};

use crate::audit::{AuditError, AuditJournal};
use crate::config::{HttpTierConfig, RouterConfig};
use crate::http_tier;
use crate::pending::PendingJournal;
use crate::redact::RedactError;
use crate::state::{OffSiteRequest, RouterNode, ACCEPTED_OUTPUT, TICK};

/// Off-site requests in flight at once; more fail over at once (the
/// endpoint is slow or down, and threads must stay bounded).
const MAX_HTTP_IN_FLIGHT: usize = 8;
/// dora events and off-site replies waiting for the loop.
const INCOMING_CAPACITY: usize = 64;

/// Counts for the final log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RouterTotals {
    pub answered: u64,
    pub rejected_inputs: u64,
}

/// Why the router stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error(transparent)]
    Redact(#[from] RedactError),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("cannot start the router's dora event thread")]
    Spawn(#[source] std::io::Error),
    #[error("the router's dora event thread panicked")]
    Panicked,
}

enum Incoming {
    Dora(DoraSide),
    /// A reply (or failure) of the off-site tier, as that tier's answer.
    OffSite(usize, Box<Answer>),
}

impl From<DoraSide> for Incoming {
    fn from(side: DoraSide) -> Self {
        Incoming::Dora(side)
    }
}

/// Routes questions until dora says stop.
pub fn run(
    config: &RouterConfig,
    wiring: &Wiring,
    node: DoraNode,
    events: EventStream,
) -> Result<RouterTotals, RouterError> {
    let inputs: Vec<String> = wiring.inputs.keys().map(|input| input.to_string()).collect();
    let mut state = RouterNode::new(config, inputs.iter().map(String::as_str), now_ms())?;
    // A journal that cannot be opened stops the start: better than answers
    // nobody can account for.
    let mut journal = config.audit.as_ref().map(AuditJournal::open).transpose()?;
    let mut pending = PendingJournal::new(&config.pending_file);
    let left_pending = load_pending(&mut pending);
    let mut driver = Driver::new(node);
    let (tx, rx) = mpsc::sync_channel::<Incoming>(INCOMING_CAPACITY);
    let forwarder = forward_dora_events(events, tx.clone()).map_err(RouterError::Spawn)?;
    let in_flight = Arc::new(AtomicUsize::new(0));
    // Acceptances are sent only where the dataflow wires them back (to
    // `mqtt-source`, which holds each question until then).
    let acceptances_wired = wiring.outputs.iter().any(|output| output.as_str() == ACCEPTED_OUTPUT);

    let result = (|| -> Result<(), SendError> {
        if !left_pending.is_empty() {
            tracing::info!(questions = left_pending.len(), "answering the questions a previous run left pending");
            let emits = state.resume(left_pending, now_ms());
            driver.send_all(emits)?;
            // Accepted by the previous run already.
            state.take_accepted();
        }
        loop {
            match rx.recv_timeout(TICK) {
                Ok(Incoming::Dora(DoraSide::Event(event))) => {
                    if driver.step(event, &mut state)? == Flow::Stop {
                        break;
                    }
                }
                Ok(Incoming::Dora(DoraSide::Closed)) => break,
                Ok(Incoming::OffSite(tier, answer)) => {
                    let emits = state.on_off_site_answer(tier, *answer, now_ms());
                    driver.send_all(emits)?;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let emits = state.on_wake(now_ms());
            driver.send_all(emits)?;
            write_audit(&mut journal, &mut state);
            keep_pending(&mut pending, &mut state);
            // After the pending file: a question accepted is one a restart
            // answers.
            let accepted = state.take_accepted();
            if acceptances_wired && !accepted.is_empty() {
                driver.send(Emit::new(ACCEPTED_OUTPUT, Accepted::to_arrow(&accepted)))?;
            }
            for request in state.take_off_site() {
                if let Some(http) = &config.http {
                    ask_off_site(http.clone(), request, tx.clone(), in_flight.clone());
                }
            }
        }
        Ok(())
    })();
    // Replies still on their way find nobody; their threads end.
    drop(rx);
    // After a failure the event thread may still wait on dora: left detached.
    result?;
    forwarder.join().map_err(|_| RouterError::Panicked)?;
    write_audit(&mut journal, &mut state);
    driver.send_metrics(|snapshot| state.metrics(snapshot))?;
    Ok(RouterTotals { answered: state.answered(), rejected_inputs: driver.rejections().total() })
}

/// The questions a previous run left pending. A file that cannot be read is
/// moved aside (kept for a person to look at) and the router starts
/// without them: a damaged file must not keep the node from coming back.
fn load_pending(pending: &mut PendingJournal) -> Vec<Question> {
    match pending.load() {
        Ok(questions) => questions,
        Err(error) => {
            let aside = pending.path().with_extension("arrow.unreadable");
            tracing::error!(error = %with_causes(&error), aside = %aside.display(), "pending questions of the previous run lost");
            if let Err(error) = std::fs::rename(pending.path(), &aside) {
                tracing::warn!(%error, "cannot move the unreadable pending file aside");
            }
            Vec::new()
        }
    }
}

/// Keeps the pending questions on disk. A failure (a full disk) is logged
/// and counted; answering goes on.
fn keep_pending(pending: &mut PendingJournal, state: &mut RouterNode) {
    let result = pending.keep(&state.pending_questions());
    if let Err(error) = result {
        tracing::error!(error = %with_causes(&error), "cannot keep the pending questions on disk");
        state.pending_journal_failed();
    }
}

/// Appends the answers' audit records. A failure (a full disk) is logged and
/// counted; answering goes on.
fn write_audit(journal: &mut Option<AuditJournal>, state: &mut RouterNode) {
    let records = state.take_audit();
    let Some(journal) = journal else { return };
    if let Err(error) = journal.append(&records) {
        tracing::error!(error = %with_causes(&error), records = records.len(), "audit records lost");
        state.audit_failed(records.len());
    }
}

/// Sends `request` off the site on its own thread; its reply (or failure)
/// comes back on `tx` as the tier's answer.
fn ask_off_site(http: HttpTierConfig, request: OffSiteRequest, tx: SyncSender<Incoming>, in_flight: Arc<AtomicUsize>) {
    let OffSiteRequest { tier, question, body } = request;
    let failed = |reason: String| {
        let mut answer = Answer::to_question(&question, reason);
        answer.error = Some(AnswerError::GenerationFailed);
        answer
    };
    if in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_HTTP_IN_FLIGHT {
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let _ = tx.try_send(Incoming::OffSite(tier, Box::new(failed("too many off-site requests in flight".into()))));
        return;
    }
    let spawned = std::thread::Builder::new().name("off-site".into()).spawn({
        let in_flight = in_flight.clone();
        let tx = tx.clone();
        let question = question.clone();
        move || {
            let answer = match http_tier::ask(&http, &body, now_ms()) {
                Ok(reply) => {
                    let mut answer = Answer::to_question(&question, reply.text);
                    answer.model = Some(reply.model);
                    answer.confidence = reply.confidence;
                    answer
                }
                Err(error) => {
                    let reason = with_causes(&error);
                    tracing::warn!(error = %reason, "off-site tier failed");
                    let mut answer = Answer::to_question(&question, reason);
                    answer.error = Some(AnswerError::GenerationFailed);
                    answer
                }
            };
            in_flight.fetch_sub(1, Ordering::SeqCst);
            // The loop may have stopped; then nobody needs the reply.
            let _ = tx.send(Incoming::OffSite(tier, Box::new(answer)));
        }
    });
    if let Err(error) = spawned {
        in_flight.fetch_sub(1, Ordering::SeqCst);
        tracing::warn!(%error, "cannot start an off-site request thread");
        let _ = tx.try_send(Incoming::OffSite(tier, Box::new(failed(format!("cannot start the request: {error}")))));
    }
}

#[cfg(test)]
mod tests {
    use shopfloor_core::env::EnvVars;
    use shopfloor_core::schema::{MetricSample, Origin, Question};

    // The journal's own tests are in `audit`; this one shows it wired.
    use shopfloor_node::testing::TestRun;

    use super::*;

    /// Under dora: a question goes to the small tier, its confident answer
    /// comes back as the final answer; an out-of-scope question is refused by
    /// the router itself; a malformed input is rejected and counted; the
    /// metrics tick and the stop each send a snapshot. The off-site tier is
    /// not exercised here (it needs an HTTP peer: `tests/router_tiers.rs`).
    #[test]
    fn questions_are_routed_answered_and_bad_inputs_counted() {
        let audit_dir = tempfile::tempdir().unwrap();
        let audit_path = audit_dir.path().display().to_string();
        let pending_path = audit_dir.path().join("pending.arrow").display().to_string();
        let vars = [
            ("ROUTER_TIERS", "small threshold=0.5"),
            ("ROUTER_AUDIT_DIR", audit_path.as_str()),
            ("ROUTER_PENDING_FILE", pending_path.as_str()),
        ];
        let config = RouterConfig::from_env(&EnvVars::from(vars)).unwrap();
        let now = now_ms();
        let asked = Question::new("q-1", "What is the spindle temperature?", "alice", Origin::Mqtt, now);
        let mut answer = Answer::to_question(&asked, "72.4 °C".into());
        answer.confidence = Some(0.9);
        answer.model = Some("SmolLM2".into());
        let off_topic = Question::new("q-2", "Who won the football match yesterday?", "alice", Origin::Mqtt, now);
        let not_readings = Question::to_arrow(std::slice::from_ref(&off_topic));
        let (totals, outputs) = TestRun::new("router")
            .declare_output("ask_small")
            .input(0.0, "questions", Question::to_arrow(&[asked]))
            .input(0.05, "answers_small", Answer::to_arrow(&[answer]))
            .input(0.1, "questions", Question::to_arrow(&[off_topic]))
            .input(0.1, "readings", not_readings)
            .tick(0.15, "metrics_tick")
            .stop(0.2)
            .run_wired(|node, events, wiring| run(&config, wiring, node, events))
            .unwrap();
        let totals = totals.unwrap();
        assert_eq!(totals, RouterTotals { answered: 2, rejected_inputs: 1 });
        assert_eq!(outputs.on("ask_small").count(), 1);
        assert_eq!(outputs.on(ACCEPTED_OUTPUT).count(), 0, "acceptances are sent only where wired");
        let answers: Vec<Answer> =
            outputs.on("answers").flat_map(|sent| Answer::from_arrow(sent.data.as_ref()).unwrap()).collect();
        let ids: Vec<&str> = answers.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["q-1", "q-2"]);
        assert_eq!(answers[0].text, "72.4 °C");
        let snapshots: Vec<Vec<MetricSample>> =
            outputs.on("metrics").map(|sent| MetricSample::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(snapshots.len(), 2, "one on the tick, one at stop");
        let rejected = snapshots[1]
            .iter()
            .find(|s| s.name == "shopfloor_rejected_inputs" && s.labels.iter().any(|(_, reason)| reason == "schema"))
            .expect("schema rejections reported");
        assert_eq!(rejected.value, 1.0);
        assert!(snapshots[1].iter().any(|s| s.name == "shopfloor_router_questions"));

        // Both answers are in the audit journal, with their questions.
        let journal = std::fs::read_to_string(audit_dir.path().join(crate::audit::CURRENT_FILE)).unwrap();
        let records: Vec<crate::audit::AuditRecord> =
            journal.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        let asked: Vec<(&str, Option<&str>, &str)> =
            records.iter().map(|r| (r.id.as_str(), r.question.as_deref(), r.operator.as_str())).collect();
        assert_eq!(
            asked,
            [
                ("q-1", Some("What is the spindle temperature?"), "alice"),
                ("q-2", Some("Who won the football match yesterday?"), "alice")
            ]
        );
        assert_eq!(records[0].route.iter().map(|h| h.tier.as_str()).collect::<Vec<_>>(), ["small"]);
        assert_eq!(records[1].class.as_deref(), Some("out_of_scope"));
    }

    /// Under dora, two runs of the router: the first stops (as if killed)
    /// with a question asked of the small tier and no answer yet; the second
    /// finds it in the pending file, asks the tier again at once, and
    /// answers it when the tier does.
    #[test]
    fn a_question_pending_when_the_router_stopped_is_answered_by_the_next_run() {
        let folder = tempfile::tempdir().unwrap();
        let pending_path = folder.path().join("pending.arrow").display().to_string();
        let vars = [
            ("ROUTER_TIERS", "small threshold=0.5"),
            ("ROUTER_AUDIT", "false"),
            ("ROUTER_PENDING_FILE", pending_path.as_str()),
            ("ROUTER_DEADLINE_MS", "600000"),
        ];
        let config = RouterConfig::from_env(&EnvVars::from(vars)).unwrap();
        let mut asked = Question::new("q-1", "What is the spindle temperature?", "alice", Origin::Mqtt, now_ms());
        asked.reply_to = Some("plant1/answers/alice".into());
        let (_, first_run) = TestRun::new("router")
            .declare_output("ask_small")
            .declare_output(ACCEPTED_OUTPUT)
            .input(0.0, "questions", Question::to_arrow(std::slice::from_ref(&asked)))
            .stop(0.2)
            .run_wired(|node, events, wiring| run(&config, wiring, node, events))
            .unwrap();
        assert_eq!(first_run.on("ask_small").count(), 1);
        // Accepted once it is in the pending file: its sender may forget it.
        let accepted: Vec<Accepted> =
            first_run.on(ACCEPTED_OUTPUT).flat_map(|sent| Accepted::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(accepted, [Accepted::of(&asked)]);
        assert_eq!(first_run.on("answers").count(), 0, "no answer yet");
        assert!(std::path::Path::new(&pending_path).exists(), "the question is kept on disk");

        let mut answer = Answer::to_question(&asked, "72.4 °C".into());
        answer.confidence = Some(0.9);
        let (totals, second_run) = TestRun::new("router")
            .declare_output("ask_small")
            .input(0.1, "answers_small", Answer::to_arrow(&[answer]))
            .stop(0.3)
            .run_wired(|node, events, wiring| run(&config, wiring, node, events))
            .unwrap();
        let asked_again: Vec<Question> =
            second_run.on("ask_small").flat_map(|sent| Question::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(asked_again.len(), 1, "asked of the tier again");
        assert_eq!(asked_again[0].reply_to.as_deref(), Some("plant1/answers/alice"));
        let answers: Vec<Answer> =
            second_run.on("answers").flat_map(|sent| Answer::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(answers.iter().map(|a| (a.id.as_str(), a.text.as_str())).collect::<Vec<_>>(), [("q-1", "72.4 °C")]);
        assert_eq!(totals.unwrap().answered, 1);
        assert!(!std::path::Path::new(&pending_path).exists(), "nothing pending any more");
    }
}
