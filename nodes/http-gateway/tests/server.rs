//! The HTTP side against its seam: the router with an in-process stand-in for
//! the dora loop (a thread that takes the questions the gateway sends and
//! answers them, or not). The gateway under dora is the driver's test; the
//! whole dataflow with a real model and the official openai client is
//! tests/tests/http_gateway.rs.

use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_gateway::config::GatewayConfig;
use http_gateway::schema_grammar::SchemaError;
use http_gateway::server::{router, Gateway, LinkEvent};
use shopfloor_core::env::EnvVars;
use shopfloor_core::schema::Answer;
use tower::ServiceExt;

fn config(pairs: &[(&str, &str)]) -> GatewayConfig {
    let vars: EnvVars = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    GatewayConfig::from_env(&vars).unwrap()
}

fn compiles(_: &str) -> Result<(), SchemaError> {
    Ok(())
}

/// A gateway whose questions are answered after `delay` (never, with `None`).
fn gateway(config: GatewayConfig, delay: Option<Duration>) -> Arc<Gateway> {
    let (tx, rx) = sync_channel::<LinkEvent>(64);
    let gateway = Arc::new(Gateway::new(config, "http-gateway".into(), tx, compiles).unwrap());
    let answering = Arc::downgrade(&gateway);
    // Ends when the gateway (and with it the channel's sender) is gone.
    std::thread::spawn(move || {
        while let Ok(event) = rx.recv() {
            let (LinkEvent::Question(question), Some(delay)) = (event, delay) else { continue };
            let answering = answering.clone();
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                let mut answer = Answer::to_question(&question, format!("You asked: {}", question.text));
                answer.model = Some("stand-in".into());
                if let Some(gateway) = answering.upgrade() {
                    gateway.pending.resolve(answer);
                }
            });
        }
    });
    gateway
}

fn chat(body: &str, key: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/v1/chat/completions").header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

const QUESTION: &str =
    r#"{"model":"shopfloor-assistant","messages":[{"role":"user","content":"How hot is the spindle?"}]}"#;

async fn send(gateway: &Arc<Gateway>, request: Request<Body>) -> (StatusCode, String) {
    let response = router(gateway.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn an_answer_comes_back_as_a_completion_and_as_a_stream() {
    let gateway = gateway(config(&[]), Some(Duration::from_millis(10)));
    let (status, body) = send(&gateway, chat(QUESTION, None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["choices"][0]["message"]["content"], "You asked: How hot is the spindle?");
    assert_eq!(json["shopfloor"]["tier_path"][0], "stand-in");

    let streamed = QUESTION.replace("\"messages\"", "\"stream\":true,\"messages\"");
    let (status, body) = send(&gateway, chat(&streamed, None)).await;
    assert_eq!(status, StatusCode::OK);
    let events: Vec<&str> = body.lines().filter_map(|line| line.strip_prefix("data: ")).collect();
    assert_eq!(events.len(), 4, "{body}");
    assert_eq!(events[3], "[DONE]");
    assert!(events[1].contains("You asked"), "{body}");
    assert!(gateway.pending.is_empty());
}

#[tokio::test]
async fn no_answer_in_time_is_504_and_the_wait_is_forgotten() {
    let gateway = gateway(config(&[("GATEWAY_TIMEOUT_MS", "150")]), None);
    let (status, body) = send(&gateway, chat(QUESTION, None)).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(body.contains("deadline_exceeded"), "{body}");
    assert!(gateway.pending.is_empty(), "a timed-out request must not stay registered");
}

#[tokio::test]
async fn a_client_that_hangs_up_leaves_no_registration_behind() {
    let gateway = gateway(config(&[]), None);
    let request = send(&gateway, chat(QUESTION, None));
    assert!(tokio::time::timeout(Duration::from_millis(200), request).await.is_err(), "no answer was expected");
    assert!(gateway.pending.is_empty(), "the dropped request must not stay registered");
}

#[tokio::test]
async fn requests_beyond_the_concurrency_bound_get_429_at_once() {
    let gateway = gateway(
        config(&[("GATEWAY_MAX_CONCURRENT", "2"), ("GATEWAY_TIMEOUT_MS", "1000")]),
        Some(Duration::from_millis(400)),
    );
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let gateway = gateway.clone();
            tokio::spawn(async move { send(&gateway, chat(QUESTION, None)).await.0.as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 200, 429]);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_garbage_is_400() {
    let gateway = gateway(config(&[("GATEWAY_MAX_BODY_BYTES", "1024")]), Some(Duration::ZERO));
    let big =
        format!(r#"{{"model":"shopfloor-assistant","messages":[{{"role":"user","content":"{}"}}]}}"#, "x".repeat(2000));
    let (status, body) = send(&gateway, chat(&big, None)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("request_too_large"), "{body}");
    let (status, body) = send(&gateway, chat("{not json", None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("invalid_json"), "{body}");
}

#[tokio::test]
async fn with_a_key_everything_but_health_needs_it() {
    let gateway = gateway(config(&[("GATEWAY_API_KEY", "k-123")]), Some(Duration::ZERO));
    assert_eq!(send(&gateway, chat(QUESTION, None)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&gateway, chat(QUESTION, Some("k-12"))).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&gateway, chat(QUESTION, Some("k-123"))).await.0, StatusCode::OK);
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    assert_eq!(send(&gateway, get("/metrics")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&gateway, get("/healthz")).await.0, StatusCode::OK);
    // Nothing reported yet: not ready.
    assert_eq!(send(&gateway, get("/readyz")).await.0, StatusCode::SERVICE_UNAVAILABLE);
}
