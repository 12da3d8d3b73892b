//! The operator console's HTTP side against its seam: the router, with an
//! in-process stand-in for the dora loop that answers questions and keeps
//! the alarm events it is handed. Login, cookie, CSRF, asking, the alarm
//! lifecycle and the live stream; the page itself in a real browser is
//! tests/tests/dataflows/console.rs.

use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_gateway::config::GatewayConfig;
use http_gateway::server::{router, Gateway, LinkEvent};
use http_gateway::state::take_input;
use shopfloor_core::env::EnvVars;
use shopfloor_core::schema::{AlarmAction, AlarmEvent, Alert, Answer, Reading, ReadingValue, Severity};
use tower::ServiceExt;

const KEY: &str = "console-test-key";

struct Harness {
    gateway: Arc<Gateway>,
    events: Arc<Mutex<Vec<AlarmEvent>>>,
    _folder: tempfile::TempDir,
}

/// A gateway with a key, a journal and a reports folder in a fresh folder
/// (or `folder`'s).
fn harness_in(folder: tempfile::TempDir) -> Harness {
    let journal = folder.path().join("alarms.jsonl");
    let vars: EnvVars = [
        ("GATEWAY_API_KEY", KEY.to_owned()),
        ("GATEWAY_CONSOLE_JOURNAL", journal.display().to_string()),
        ("GATEWAY_CONSOLE_REPORTS", folder.path().join("replay").display().to_string()),
        ("GATEWAY_TIMEOUT_MS", "2000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = GatewayConfig::from_env(&vars).unwrap();
    let (tx, rx) = sync_channel::<LinkEvent>(64);
    let gateway = Arc::new(Gateway::new(config, "http-gateway".into(), tx, |_| Ok(())).unwrap());
    let events = Arc::new(Mutex::new(Vec::new()));
    let answering = Arc::downgrade(&gateway);
    let kept = events.clone();
    // Ends when the gateway (and with it the channel's sender) is gone.
    std::thread::spawn(move || {
        while let Ok(event) = rx.recv() {
            match event {
                LinkEvent::Question(question) => {
                    let mut answer = Answer::to_question(&question, "The spindle temperature is 61.5 °C.".into());
                    answer.model = Some("stand-in".into());
                    answer.confidence = Some(0.9);
                    answer.facts_used = vec!["spindle temperature: 61.5 °C".into()];
                    if let Some(gateway) = answering.upgrade() {
                        gateway.pending.resolve(answer);
                    }
                }
                LinkEvent::AlarmEvents(events) => kept.lock().unwrap().extend(events),
                LinkEvent::Dora(_) => {}
            }
        }
    });
    Harness { gateway, events, _folder: folder }
}

fn harness() -> Harness {
    harness_in(tempfile::tempdir().unwrap())
}

struct Reply {
    status: StatusCode,
    set_cookie: Option<String>,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn send(gateway: &Arc<Gateway>, request: Request<Body>) -> Reply {
    let response = router(gateway.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let set_cookie = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = axum::body::to_bytes(response.into_body(), 1 << 22).await.unwrap();
    Reply { status, set_cookie, body: String::from_utf8_lossy(&body).into_owned() }
}

fn post(path: &str, body: &str, cookie: Option<&str>, csrf: Option<&str>) -> Request<Body> {
    let mut request = Request::post(path).header("content-type", "application/json");
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.body(Body::empty()).unwrap()
}

/// Logs in as `operator`: (cookie pair, CSRF token).
async fn login(gateway: &Arc<Gateway>, operator: &str) -> (String, String) {
    let body = serde_json::json!({ "operator": operator, "key": KEY }).to_string();
    let reply = send(gateway, post("/console/api/login", &body, None, None)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let cookie = reply.set_cookie.clone().unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    (pair, reply.json()["csrf"].as_str().unwrap().to_owned())
}

fn overheat(id: &str, ts_ms: i64, severity: Severity, kind: &str) -> Alert {
    Alert {
        tag: Some("spindle_temperature".into()),
        ..Alert::new(id, ts_ms, "station1", severity, kind, format!("{kind} at {ts_ms}"), "limit-alarms")
    }
}

fn take_alerts(gateway: &Gateway, alerts: &[Alert]) -> Vec<AlarmEvent> {
    let batch = Alert::to_arrow(alerts);
    take_input(gateway, "alerts", batch.as_ref(), std::time::Instant::now(), 1_000).unwrap()
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy_and_the_api_needs_a_login() {
    let h = harness();
    let response = router(h.gateway.clone()).oneshot(get("/console", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let policy = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe"), "{policy}");
    let page = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains("/console/console.js") && page.contains("id=\"login-form\""));
    for path in ["/console/console.js", "/console/console.css"] {
        assert_eq!(send(&h.gateway, get(path, None)).await.status, StatusCode::OK, "{path}");
    }

    for path in ["/console/api/session", "/console/api/events", "/console/api/reports"] {
        let reply = send(&h.gateway, get(path, None)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(reply.json()["error"]["code"], "login_required", "{path}");
    }
    let forged = send(&h.gateway, get("/console/api/session", Some("shopfloor_console=guessed"))).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_key_is_refused_a_right_one_gets_a_strict_cookie() {
    let h = harness();
    let wrong = send(&h.gateway, post("/console/api/login", r#"{"operator":"anna","key":"nope"}"#, None, None)).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["error"]["code"], "invalid_api_key");
    assert!(wrong.set_cookie.is_none());
    let nameless = serde_json::json!({ "operator": " ", "key": KEY }).to_string();
    let nameless = send(&h.gateway, post("/console/api/login", &nameless, None, None)).await;
    assert_eq!(
        (nameless.status, nameless.json()["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_operator"))
    );

    let body = serde_json::json!({ "operator": "anna", "key": KEY }).to_string();
    let reply = send(&h.gateway, post("/console/api/login", &body, None, None)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let cookie = reply.set_cookie.clone().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "loopback: a browser would drop a Secure cookie over plain HTTP");
    let pair = cookie.split(';').next().unwrap();
    let session = send(&h.gateway, get("/console/api/session", Some(pair))).await;
    assert_eq!(session.json()["operator"], "anna");
    assert_eq!(session.json()["csrf"], reply.json()["csrf"]);
}

#[tokio::test]
async fn a_question_is_answered_with_what_the_mqtt_answer_carries() {
    let h = harness();
    let (cookie, csrf) = login(&h.gateway, "anna").await;
    let body = r#"{"question":"How hot is the spindle?"}"#;
    let without_token = send(&h.gateway, post("/console/api/ask", body, Some(&cookie), None)).await;
    assert_eq!(without_token.status, StatusCode::FORBIDDEN, "a page of another site cannot ask");
    let reply = send(&h.gateway, post("/console/api/ask", body, Some(&cookie), Some(&csrf))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let answer = reply.json();
    assert_eq!(answer["answer"], "The spindle temperature is 61.5 °C.");
    assert_eq!((answer["operator"].as_str(), answer["written_by"].as_str()), (Some("anna"), Some("model")));
    assert_eq!(answer["facts"][0], "spindle temperature: 61.5 °C");
    let empty = send(&h.gateway, post("/console/api/ask", r#"{"question":"  "}"#, Some(&cookie), Some(&csrf))).await;
    assert_eq!(
        (empty.status, empty.json()["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("missing_question"))
    );
    let broken = send(&h.gateway, post("/console/api/ask", "{\"question\":", Some(&cookie), Some(&csrf))).await;
    assert_eq!(
        (broken.status, broken.json()["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_json"))
    );
}

#[tokio::test]
async fn an_acknowledgement_is_recorded_published_and_survives_a_restart() {
    let h = harness();
    let raised = take_alerts(&h.gateway, &[overheat("a1", 1_000, Severity::Warning, "high_limit")]);
    assert_eq!(raised.iter().map(|e| e.action).collect::<Vec<_>>(), [AlarmAction::Raised]);
    let (cookie, csrf) = login(&h.gateway, "anna").await;
    let key = "station1/spindle_temperature";
    let ack = serde_json::json!({ "key": key, "comment": "coolant checked" }).to_string();

    let forged = send(&h.gateway, post("/console/api/alarms/ack", &ack, Some(&cookie), Some("forged"))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let reply = send(&h.gateway, post("/console/api/alarms/ack", &ack, Some(&cookie), Some(&csrf))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["state"], "acknowledged");
    assert_eq!(reply.json()["ack"]["operator"], "anna");
    let again = send(&h.gateway, post("/console/api/alarms/ack", &ack, Some(&cookie), Some(&csrf))).await;
    assert_eq!(
        (again.status, again.json()["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_acknowledged"))
    );
    let unknown = serde_json::json!({ "key": "station9/nothing" }).to_string();
    let unknown = send(&h.gateway, post("/console/api/alarms/ack", &unknown, Some(&cookie), Some(&csrf))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // Handed to the dora loop for mqtt-sink, with who and why.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let published = loop {
        let events = h.events.lock().unwrap().clone();
        if !events.is_empty() || std::time::Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!((published[0].action, published[0].operator.as_deref()), (AlarmAction::Acknowledged, Some("anna")));
    assert_eq!(published[0].comment.as_deref(), Some("coolant checked"));

    // A new gateway on the same journal: the acknowledgement is still there.
    let Harness { gateway, _folder: folder, .. } = h;
    drop(gateway);
    let restarted = harness_in(folder);
    let (cookie, _) = login(&restarted.gateway, "ben").await;
    let events = send_first_event(&restarted.gateway, &cookie).await;
    assert!(events.starts_with("event: snapshot"), "{events}");
    let data: serde_json::Value =
        serde_json::from_str(events.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
    assert_eq!(data["alarms"][0]["state"], "acknowledged");
    assert_eq!(data["alarms"][0]["ack"]["comment"], "coolant checked");
    // The return to normal clears it.
    let returned = take_alerts(&restarted.gateway, &[overheat("a2", 2_000, Severity::Info, "limit_cleared")]);
    assert_eq!(returned[0].state.as_str(), "cleared");
}

/// The first event of the live stream (the snapshot), as text.
async fn send_first_event(gateway: &Arc<Gateway>, cookie: &str) -> String {
    use http_body_util::BodyExt;
    let response = router(gateway.clone()).oneshot(get("/console/api/events", Some(cookie))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut text = String::new();
    while !text.contains("\n\n") {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(30), body.frame())
            .await
            .expect("the snapshot comes at once")
            .expect("the stream stays open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
    text
}

#[tokio::test]
async fn live_values_stream_to_the_page_after_the_snapshot_and_shelving_is_bounded() {
    let h = harness();
    let (cookie, csrf) = login(&h.gateway, "anna").await;
    let reading = |value: f64, ts| {
        Reading::good(
            "opc.tcp://127.0.0.1:4840/",
            "spindle_temperature".into(),
            ReadingValue::Number(value),
            Some("°C".into()),
            None,
            ts,
        )
    };
    let batch = Reading::to_arrow(&[reading(61.5, 1_000)]);
    take_input(&h.gateway, "readings", batch.as_ref(), std::time::Instant::now(), 1_000).unwrap();

    let response = router(h.gateway.clone()).oneshot(get("/console/api/events", Some(&cookie))).await.unwrap();
    let mut body = response.into_body();
    let mut text = String::new();
    while !text.contains("event: snapshot") {
        text.push_str(&next_frame(&mut body).await);
    }
    assert!(text.contains("61.5"), "{text}");
    let batch = Reading::to_arrow(&[reading(62.25, 2_000)]);
    take_input(&h.gateway, "readings", batch.as_ref(), std::time::Instant::now(), 2_000).unwrap();
    let mut update = String::new();
    while !update.contains("event: tags") {
        update.push_str(&next_frame(&mut body).await);
    }
    assert!(update.contains("[2000,62.25]"), "the new point: {update}");

    take_alerts(&h.gateway, &[overheat("a1", 1_000, Severity::Warning, "high_limit")]);
    let shelve = r#"{"key":"station1/spindle_temperature","minutes":2000}"#;
    let reply = send(&h.gateway, post("/console/api/alarms/shelve", shelve, Some(&cookie), Some(&csrf))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let shelve = r#"{"key":"station1/spindle_temperature","minutes":30,"comment":"sensor swap"}"#;
    let reply = send(&h.gateway, post("/console/api/alarms/shelve", shelve, Some(&cookie), Some(&csrf))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["shelved"]["operator"], "anna");
    let mut alarms = String::new();
    while !alarms.contains("event: alarms") || !alarms.contains("sensor swap") {
        alarms.push_str(&next_frame(&mut body).await);
    }
}

/// The next piece of a streamed body, as text.
async fn next_frame(body: &mut Body) -> String {
    use http_body_util::BodyExt;
    let frame = tokio::time::timeout(std::time::Duration::from_secs(30), body.frame())
        .await
        .expect("an event within 30 s")
        .expect("the stream stays open")
        .unwrap();
    String::from_utf8_lossy(&frame.into_data().unwrap_or_default()).into_owned()
}

#[tokio::test]
async fn a_defect_alarm_shows_its_crop_by_alert_id_and_its_regions() {
    let h = harness();
    let crop = h._folder.path().join("cam1-000042.png");
    let png = b"\x89PNG\r\n\x1a\n stand-in pixels";
    std::fs::write(&crop, png).unwrap();
    let defect = Alert {
        frame_id: Some("cam1-000042".into()),
        image_ref: Some(crop.display().to_string()),
        regions: vec![shopfloor_core::schema::Region { x: 256, y: 160, width: 48, height: 32, score: 10.96 }],
        verdict: Some("defect".into()),
        ..Alert::new("alert-cam1-000042", 5_000, "station3", Severity::Warning, "scratch", "Scratch", "vlm-inspector")
    };
    take_alerts(&h.gateway, &[defect]);
    let (cookie, _) = login(&h.gateway, "anna").await;
    let snapshot = send_first_event(&h.gateway, &cookie).await;
    let data: serde_json::Value =
        serde_json::from_str(snapshot.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
    let alarm = &data["alarms"][0];
    assert_eq!(alarm["key"], "station3/alert-cam1-000042");
    assert_eq!(alarm["defect"]["regions"][0]["width"], 48);
    assert_eq!(alarm["defect"]["crop_url"], "/console/api/alarms/crop/alert-cam1-000042");
    assert!(alarm["defect"].get("image_ref").is_none(), "no path on the gateway reaches the page: {alarm}");

    let response = router(h.gateway.clone())
        .oneshot(get("/console/api/alarms/crop/alert-cam1-000042", Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    assert_eq!(&body[..], png);
    let unknown = send(&h.gateway, get("/console/api/alarms/crop/alert-nope", Some(&cookie))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let anonymous = send(&h.gateway, get("/console/api/alarms/crop/alert-cam1-000042", None)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn replay_reports_are_listed_and_rendered_with_their_timeline() {
    let h = harness();
    let report = h._folder.path().join("replay/overheat");
    std::fs::create_dir_all(&report).unwrap();
    std::fs::write(
        report.join("report.md"),
        "# Replay test `overheat`: PASSED\n\n| | expected | found |\n|---|---|---|\n| pass | alert | alert |\n\n![timeline](timeline.svg)\n",
    )
    .unwrap();
    std::fs::write(report.join("timeline.svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    let (cookie, _) = login(&h.gateway, "anna").await;

    let listed = send(&h.gateway, get("/console/api/reports", Some(&cookie))).await.json();
    assert_eq!(listed["reports"][0]["name"], "overheat");
    assert_eq!(listed["reports"][0]["verdict"], "PASSED");
    let rendered = send(&h.gateway, get("/console/api/reports/overheat", Some(&cookie))).await.json();
    let html = rendered["html"].as_str().unwrap();
    assert!(html.contains("<table>") && html.contains("/console/api/reports/overheat/timeline.svg"), "{html}");
    let svg = router(h.gateway.clone())
        .oneshot(get("/console/api/reports/overheat/timeline.svg", Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(svg.status(), StatusCode::OK);
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    for path in [
        "/console/api/reports/..%2F..%2Fetc",
        "/console/api/reports/overheat/..%2Freport.md",
        "/console/api/reports/missing",
    ] {
        assert_eq!(send(&h.gateway, get(path, Some(&cookie))).await.status, StatusCode::NOT_FOUND, "{path}");
    }
}
