//! The gateway on dora: the HTTP server runs on a small tokio runtime; this
//! thread runs the dora loop over one bounded channel that merges dora's
//! events and the handlers' questions. Questions go out through the shared
//! [`Driver`]; inputs are handled by [`crate::state`]. When dora says stop,
//! the waiting requests end at once (503) and the server shuts down.

use std::net::SocketAddr;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::Instant;

use dora_node_api::{DoraNode, Event, EventStream};
use shopfloor_core::schema::{AlarmEvent, Question};
use shopfloor_node::clock::now_ms;
use shopfloor_node::driver::{forward_dora_events, DoraSide, SendError};
use shopfloor_node::{Driver, Emit};

use crate::config::GatewayConfig;
use crate::server::{random_request_id, router, Gateway, LinkEvent};
use crate::state::{self, ALARM_EVENTS_OUTPUT, QUESTIONS_OUTPUT};

/// dora's events and the handlers' questions waiting for the loop; a
/// handler whose question finds it full waits (handlers are already bounded
/// by GATEWAY_MAX_CONCURRENT).
const LINK_CHANNEL: usize = 256;

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
pub fn run(config: GatewayConfig, node: DoraNode, events: EventStream) -> Result<(), GatewayError> {
    serve(config, node, events, random_request_id)
}

fn serve(
    config: GatewayConfig,
    node: DoraNode,
    events: EventStream,
    request_id: fn() -> String,
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
    let link = relay(&mut driver, &gateway, &rx);
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

/// The dora loop: until dora says stop or its event stream ends.
fn relay(driver: &mut Driver, gateway: &Gateway, rx: &Receiver<LinkEvent>) -> Result<(), SendError> {
    // The gateway holds a sender, so the channel never closes under the loop.
    while let Ok(event) = rx.recv() {
        match event {
            LinkEvent::Question(question) => {
                tracing::debug!(id = %question.id, "question sent");
                driver.send(Emit::new(QUESTIONS_OUTPUT, Question::to_arrow(std::slice::from_ref(&question))))?;
            }
            LinkEvent::AlarmEvents(events) => send_alarm_events(driver, &events)?,
            LinkEvent::Dora(DoraSide::Closed) => break,
            LinkEvent::Dora(DoraSide::Event(event)) => match event {
                Event::Input { id, data, .. } => {
                    let taken =
                        state::take_input(gateway, id.as_str(), data.as_array().as_ref(), Instant::now(), now_ms());
                    match taken {
                        Ok(events) => send_alarm_events(driver, &events)?,
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
    }
    Ok(())
}

fn send_alarm_events(driver: &mut Driver, events: &[AlarmEvent]) -> Result<(), SendError> {
    if events.is_empty() {
        return Ok(());
    }
    driver.send(Emit::new(ALARM_EVENTS_OUTPUT, AlarmEvent::to_arrow(events)))
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
            .run(|node, events| serve(config, node, events, request_id))
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
}
