//! The gateway on dora: the HTTP server runs on a small tokio runtime; this
//! thread runs the dora loop over one bounded channel that merges dora's
//! events and the handlers' questions. Questions go out through the shared
//! [`Driver`]; inputs are handled by [`crate::state`]. When dora says stop,
//! the waiting requests end at once (503) and the server shuts down.

use std::net::SocketAddr;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dora_node_api::{DoraNode, Event, EventStream};
use shopfloor_core::schema::{Accepted, AlarmEvent, Question};
use shopfloor_node::clock::now_ms;
use shopfloor_node::driver::{forward_dora_events, DoraSide, SendError};
use shopfloor_node::held::HeldUntilAccepted;
use shopfloor_node::{Driver, Emit, Rejected};

use crate::config::GatewayConfig;
use crate::server::{random_request_id, router, Gateway, LinkEvent};
use crate::state::{self, ALARM_EVENTS_OUTPUT, QUESTIONS_OUTPUT};

/// dora's events and the handlers' questions waiting for the loop; a
/// handler whose question finds it full waits (handlers are already bounded
/// by GATEWAY_MAX_CONCURRENT).
const LINK_CHANNEL: usize = 256;

/// mqtt-sink's acceptances (its `alerts_accepted`: the ids of alerts and
/// alarm events once in its outbox journal), where wired: each alarm event
/// is then held until named.
pub const EVENTS_DELIVERED_INPUT: &str = "events_delivered";
/// Alarm events sent again because mqtt-sink had not journaled them.
pub const ALARM_EVENTS_AGAIN_OUTPUT: &str = "alarm_events_again";
/// How often held alarm events are looked at.
const DELIVERY_WAKE: Duration = Duration::from_millis(500);

/// Why the gateway stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot listen on GATEWAY_LISTEN={listen}")]
    Listen {
        listen: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the thread of dora's events")]
    DoraEvents(#[source] std::io::Error),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error("the HTTP server failed")]
    Server(#[source] std::io::Error),
    #[error("the HTTP server's task failed")]
    ServerTask(#[source] tokio::task::JoinError),
    #[error("cannot open the console's alarm journal (GATEWAY_CONSOLE_JOURNAL)")]
    Journal(#[source] crate::console::journal::JournalError),
}

/// Serves HTTP and relays questions and answers until dora says stop.
/// Alarm events are held until mqtt-sink has journaled them where the
/// dataflow wires its `alerts_accepted` to this node's `events_delivered`.
pub fn run(config: GatewayConfig, node: DoraNode, events: EventStream) -> Result<(), GatewayError> {
    let hold_events = node.node_config().inputs.keys().any(|input| input.as_str() == EVENTS_DELIVERED_INPUT);
    serve(config, node, events, random_request_id, hold_events)
}

fn serve(
    config: GatewayConfig,
    node: DoraNode,
    events: EventStream,
    request_id: fn() -> String,
    hold_events: bool,
) -> Result<(), GatewayError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(GatewayError::Runtime)?;
    let listen = config.listen;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .map_err(|source| GatewayError::Listen { listen, source })?;
    let (tx, rx) = sync_channel::<LinkEvent>(LINK_CHANNEL);
    let mut driver = Driver::new(node);
    let gateway = Arc::new(
        Gateway::new(config, driver.node_id().to_owned(), tx.clone(), crate::schema_grammar::compile)
            .map_err(GatewayError::Journal)?
            .with_request_ids(request_id),
    );
    forward_dora_events(events, tx).map_err(GatewayError::DoraEvents)?;
    tracing::info!(%listen, api_key = gateway.config.api_key.is_some(), "http-gateway listening");

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router(gateway.clone())).with_graceful_shutdown(async {
        let _ = stop_rx.await;
    });
    let server = runtime.spawn(async move { server.await });
    let mut held = hold_events.then(|| HeldUntilAccepted::new("alarm events", "mqtt-sink"));
    let link = relay(&mut driver, &gateway, &rx, held.as_mut());
    // Nobody reads the channel any more: a handler handing something over
    // now is told the dataflow is stopping instead of waiting for ever.
    drop(rx);
    // No answer can come any more: waiting requests and live pages end
    // now, then the server.
    gateway.pending.abandon_all();
    gateway.console.close();
    let _ = stop_tx.send(());
    let served = runtime.block_on(server);
    link?;
    served.map_err(GatewayError::ServerTask)?.map_err(GatewayError::Server)
}

/// The dora loop: until dora says stop or its event stream ends. With
/// `held`, each alarm event is kept until mqtt-sink names it and sent again
/// on [`ALARM_EVENTS_AGAIN_OUTPUT`] meanwhile.
fn relay(
    driver: &mut Driver,
    gateway: &Gateway,
    rx: &Receiver<LinkEvent>,
    mut held: Option<&mut HeldUntilAccepted<AlarmEvent>>,
) -> Result<(), SendError> {
    // The gateway holds a sender, so the channel never closes under the loop.
    loop {
        let event = if held.is_some() {
            match rx.recv_timeout(DELIVERY_WAKE) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout) => {
                    resend_due(driver, held.as_deref_mut())?;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(event) => event,
                Err(_) => break,
            }
        };
        match event {
            LinkEvent::Question(question) => {
                tracing::debug!(id = %question.id, "question sent");
                driver.send(Emit::new(QUESTIONS_OUTPUT, Question::to_arrow(std::slice::from_ref(&question))))?;
            }
            LinkEvent::AlarmEvents(events) => send_alarm_events(driver, held.as_deref_mut(), events)?,
            LinkEvent::Dora(DoraSide::Closed) => break,
            LinkEvent::Dora(DoraSide::Event(event)) => match event {
                Event::Input { id, data, .. } if id.as_str() == EVENTS_DELIVERED_INPUT && held.is_some() => {
                    match Accepted::from_arrow(data.as_array().as_ref()) {
                        Ok(accepted) => {
                            if let Some(held) = held.as_deref_mut() {
                                for accepted in &accepted {
                                    // Alerts' ids come on the same input: not ours, no-ops.
                                    held.accepted(&accepted.id);
                                }
                            }
                        }
                        Err(error) => gateway.traffic.reject(id.as_str(), &Rejected::schema(error)),
                    }
                }
                Event::Input { id, data, .. } => {
                    let taken =
                        state::take_input(gateway, id.as_str(), data.as_array().as_ref(), Instant::now(), now_ms());
                    match taken {
                        Ok(events) => send_alarm_events(driver, held.as_deref_mut(), events)?,
                        Err(rejected) => gateway.traffic.reject(id.as_str(), &rejected),
                    }
                }
                Event::Stop(cause) => {
                    tracing::info!(?cause, "dora asked the node to stop");
                    break;
                }
                Event::InputClosed { id } => tracing::info!(input = %id, "input closed"),
                Event::Error(message) => tracing::warn!(%message, "dora reported an error"),
                _ => {}
            },
        }
        // Held events come due whether or not the channel is quiet.
        resend_due(driver, held.as_deref_mut())?;
    }
    Ok(())
}

fn send_alarm_events(
    driver: &mut Driver,
    held: Option<&mut HeldUntilAccepted<AlarmEvent>>,
    events: Vec<AlarmEvent>,
) -> Result<(), SendError> {
    if events.is_empty() {
        return Ok(());
    }
    if let Some(held) = held {
        let now = now_ms();
        for event in &events {
            held.hold(&event.id, event.clone(), now);
        }
    }
    driver.send(Emit::new(ALARM_EVENTS_OUTPUT, AlarmEvent::to_arrow(&events)))
}

/// Sends again the held alarm events mqtt-sink has not named in time.
fn resend_due(driver: &mut Driver, held: Option<&mut HeldUntilAccepted<AlarmEvent>>) -> Result<(), SendError> {
    let Some(held) = held else { return Ok(()) };
    let again = held.due(now_ms()).resend;
    if again.is_empty() {
        return Ok(());
    }
    driver.send(Emit::new(ALARM_EVENTS_AGAIN_OUTPUT, AlarmEvent::to_arrow(&again)))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use shopfloor_core::env::EnvVars;
    use shopfloor_core::schema::{Alert, Answer, Origin, Severity};
    use shopfloor_node::testing::TestRun;

    use super::*;

    const KEY: &str = "k-test";
    const REQUEST_ID: &str = "chatcmpl-test-1";

    fn request_id() -> String {
        REQUEST_ID.to_owned()
    }

    /// One HTTP/1.1 exchange over a plain TCP connection, retried until the
    /// server listens: (status, body).
    fn exchange(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut stream = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(stream) => break stream,
                Err(error) => {
                    assert!(Instant::now() < deadline, "the gateway did not listen: {error}");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
        (status, body)
    }

    /// Under dora: a chat request POSTed over loopback goes out on
    /// `questions`, the scripted answer comes back as its HTTP response; an
    /// input that is no answer batch and an unknown input are refused and
    /// counted on `/metrics`.
    #[test]
    fn a_posted_question_goes_out_and_its_answer_comes_back_over_http() {
        let port = shopfloor_node::test_ports::reserve();
        let listen = format!("127.0.0.1:{port}");
        let config =
            GatewayConfig::from_env(&EnvVars::from([("GATEWAY_LISTEN", listen.as_str()), ("GATEWAY_API_KEY", KEY)]))
                .unwrap();
        let client = std::thread::spawn(move || {
            let question =
                r#"{"model":"shopfloor-assistant","messages":[{"role":"user","content":"How hot is the spindle?"}]}"#;
            let chat = exchange(port, "POST", "/v1/chat/completions", question);
            let metrics = exchange(port, "GET", "/metrics", "");
            (chat, metrics)
        });
        let mut answer = Answer::to_question(
            &Question::new(REQUEST_ID, "How hot is the spindle?", "http", Origin::Http, 0),
            "The spindle is at 61 °C.".into(),
        );
        answer.model = Some("stand-in".into());
        let not_an_answer = Alert::to_arrow(&[Alert::new("a", 1, "s", Severity::Info, "k", "m", "n")]);
        let (served, outputs) = TestRun::new("http-gateway")
            .declare_output(QUESTIONS_OUTPUT)
            .input(0.2, "answers", not_an_answer.clone())
            .input(0.2, "frames", not_an_answer)
            .input(1.5, "answers", Answer::to_arrow(&[answer]))
            .stop(3.0)
            .run(|node, events| serve(config, node, events, request_id, false))
            .unwrap();
        served.unwrap();
        let ((status, body), (metrics_status, page)) = client.join().unwrap();

        assert_eq!(status, 200, "{body}");
        let completion: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(completion["id"], REQUEST_ID);
        assert_eq!(completion["choices"][0]["message"]["content"], "The spindle is at 61 °C.");
        let questions: Vec<Question> =
            outputs.on(QUESTIONS_OUTPUT).flat_map(|sent| Question::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(questions.len(), 1);
        assert_eq!((questions[0].id.as_str(), questions[0].origin), (REQUEST_ID, Origin::Http));
        assert_eq!(questions[0].text, "How hot is the spindle?");

        assert_eq!(metrics_status, 200, "{page}");
        // The node label is dora's id for the node (testing mode has its own).
        for reason in ["bad_answers", "unknown_input"] {
            let label = format!("reason=\"{reason}\"}}");
            let count = page
                .lines()
                .find(|line| line.starts_with("shopfloor_rejected_inputs_total{") && line.contains(&label))
                .and_then(|line| line.rsplit(' ').next())
                .and_then(|value| value.parse::<f64>().ok());
            assert_eq!(count, Some(1.0), "{reason}:\n{page}");
        }
    }

    /// With mqtt-sink's acceptances wired, an alarm event it has not named
    /// is sent again, same id, on `alarm_events_again`; the alerts' ids that
    /// come on the same input change nothing.
    #[test]
    fn an_alarm_event_the_sink_has_not_journaled_is_sent_again() {
        use shopfloor_core::schema::AlarmEvent;
        let port = shopfloor_node::test_ports::reserve();
        let listen = format!("127.0.0.1:{port}");
        let config =
            GatewayConfig::from_env(&EnvVars::from([("GATEWAY_LISTEN", listen.as_str()), ("GATEWAY_API_KEY", KEY)]))
                .unwrap();
        let alert =
            Alert::new("limit-spindle-1", 1, "station1", Severity::Warning, "high_limit", "hot", "limit-alarms");
        let not_ours = Accepted { id: alert.id.clone(), origin: Origin::Mqtt };
        let (served, outputs) = TestRun::new("http-gateway")
            .declare_output(ALARM_EVENTS_OUTPUT)
            .declare_output(ALARM_EVENTS_AGAIN_OUTPUT)
            .input(0.0, "alerts", Alert::to_arrow(&[alert]))
            .input(0.3, EVENTS_DELIVERED_INPUT, Accepted::to_arrow(&[not_ours]))
            // Keeps the node's sends flowing (dora's testing daemon holds
            // them while it waits for the next scripted event).
            .ticks(0.2, 2.6, "metrics_tick")
            .stop(2.8)
            .run(|node, events| serve(config, node, events, request_id, true))
            .unwrap();
        served.unwrap();
        let ids = |output: &str| -> Vec<String> {
            outputs
                .on(output)
                .flat_map(|sent| AlarmEvent::from_arrow(sent.data.as_ref()).unwrap())
                .map(|event| event.id)
                .collect()
        };
        let raised = ids(ALARM_EVENTS_OUTPUT);
        assert_eq!(raised.len(), 1, "the alert raised one alarm: {raised:?}");
        assert_eq!(ids(ALARM_EVENTS_AGAIN_OUTPUT), raised, "sent again, same id, once within 2.8 s");
    }
}
