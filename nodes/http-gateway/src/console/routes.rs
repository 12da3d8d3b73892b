//! The console's HTTP side: the page, login, the live event stream, asking,
//! alarm actions, crops and replay reports (docs/console.md). The page and
//! its API sit outside the bearer-key routes: a browser logs in once with
//! the key and carries a session cookie; every change also needs the
//! session's CSRF token in `X-CSRF-Token`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use shopfloor_core::schema::{AnswerError, Origin, Question};
use shopfloor_node::clock::now_ms;
use subtle::ConstantTimeEq;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;

use super::alarms::AlarmError;
use super::sessions::{operator_name, token_in_cookies, Session, COOKIE};
use super::{reports, ChangeError, Update};
use crate::chat::Refusal;
use crate::server::Gateway;

const PAGE: &str = include_str!("../../console/index.html");
const SCRIPT: &str = include_str!("../../console/console.js");
const STYLE: &str = include_str!("../../console/console.css");

/// The page may load only its own script, style, images and events.
const PAGE_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/// Longest question, in characters: the MQTT intake's limit (the model
/// node may set a lower one and answers `invalid_question` beyond it).
pub const MAX_QUESTION_CHARS: usize = 1_000;
/// Largest crop image served.
const MAX_CROP_BYTES: u64 = 8 * 1024 * 1024;
/// A wrong key waits this long, so that guessing is slow.
const WRONG_KEY_DELAY: Duration = Duration::from_millis(300);

/// A console error: status, machine-readable code, message for people.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    fn login_required() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "login_required", "log in with the gateway's API key")
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "message": self.message, "code": self.code } });
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self { status, code: refusal.code, message: refusal.message }
    }
}

impl From<ChangeError> for ApiError {
    fn from(error: ChangeError) -> Self {
        let status = match &error {
            ChangeError::Alarm(AlarmError::Unknown(_)) => StatusCode::NOT_FOUND,
            ChangeError::Alarm(AlarmError::ShelveMinutes(_)) => StatusCode::BAD_REQUEST,
            ChangeError::Alarm(_) => StatusCode::CONFLICT,
            ChangeError::Journal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let code = match &error {
            ChangeError::Alarm(AlarmError::Unknown(_)) => "unknown_alarm",
            ChangeError::Alarm(AlarmError::NothingToAcknowledge(_)) => "already_acknowledged",
            ChangeError::Alarm(AlarmError::Cleared(_)) => "alarm_cleared",
            ChangeError::Alarm(AlarmError::NotShelved(_)) => "not_shelved",
            ChangeError::Alarm(AlarmError::ShelveMinutes(_)) => "invalid_minutes",
            ChangeError::Journal(_) => "not_recorded",
        };
        let message = match &error {
            ChangeError::Journal(source) => format!("{error}: {}; nothing was changed, try again", source_text(source)),
            _ => error.to_string(),
        };
        Self::new(status, code, message)
    }
}

fn source_text(error: &dyn std::error::Error) -> String {
    error.source().map_or_else(|| error.to_string(), |source| format!("{error}: {source}"))
}

/// Every console route.
pub fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/console", get(page))
        .route("/console/", get(page))
        .route("/console/console.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/console/console.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/console/api/session", get(session))
        .route("/console/api/login", post(login))
        .route("/console/api/logout", post(logout))
        .route("/console/api/events", get(events))
        .route("/console/api/ask", post(ask))
        .route(
            "/console/api/alarms/ack",
            post(|State(gateway): State<Arc<Gateway>>, headers: HeaderMap, body: Body| {
                change_alarm(gateway, headers, body, AlarmAction::Acknowledge)
            }),
        )
        .route(
            "/console/api/alarms/shelve",
            post(|State(gateway): State<Arc<Gateway>>, headers: HeaderMap, body: Body| {
                change_alarm(gateway, headers, body, AlarmAction::Shelve)
            }),
        )
        .route(
            "/console/api/alarms/unshelve",
            post(|State(gateway): State<Arc<Gateway>>, headers: HeaderMap, body: Body| {
                change_alarm(gateway, headers, body, AlarmAction::Unshelve)
            }),
        )
        .route("/console/api/alarms/crop/{alert_id}", get(crop))
        .route("/console/api/reports", get(report_list))
        .route("/console/api/reports/{name}", get(report))
        .route("/console/api/reports/{name}/{file}", get(report_file))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")], body).into_response()
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        PAGE,
    )
        .into_response()
}

/// The session of the request's cookie.
fn session_of(gateway: &Gateway, headers: &HeaderMap) -> Result<Session, ApiError> {
    let token = cookie_token(headers).ok_or_else(ApiError::login_required)?;
    gateway.console.sessions().get(token, now_ms()).cloned().ok_or_else(ApiError::login_required)
}

/// The session of the request's cookie, for a change: the CSRF token must match.
fn changing_session(gateway: &Gateway, headers: &HeaderMap) -> Result<Session, ApiError> {
    let token = cookie_token(headers).ok_or_else(ApiError::login_required)?;
    let csrf = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let sessions = gateway.console.sessions();
    if sessions.get(token, now_ms()).is_none() {
        return Err(ApiError::login_required());
    }
    sessions.get_checked(token, csrf, now_ms()).cloned().ok_or_else(|| {
        ApiError::new(StatusCode::FORBIDDEN, "csrf_token_invalid", "the request lacks the page's X-CSRF-Token")
    })
}

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers.get_all(header::COOKIE).iter().filter_map(|value| value.to_str().ok()).find_map(token_in_cookies)
}

fn session_json(gateway: &Gateway, session: &Session) -> serde_json::Value {
    json!({
        "operator": session.operator,
        "csrf": session.csrf,
        "login_required": gateway.config.api_key.is_some(),
        "ask": gateway.config.console_ask,
    })
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn session(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let session = session_of(&gateway, &headers)?;
    Ok(no_store(Json(session_json(&gateway, &session)).into_response()))
}

fn json_body<T: for<'de> Deserialize<'de>>(
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| ApiError::new(rejection.status(), "unreadable_body", rejection.body_text()))?;
    serde_json::from_slice(&body).map_err(|error| ApiError::bad_request("invalid_json", error.to_string()))
}

#[derive(Deserialize)]
struct LoginRequest {
    operator: String,
    #[serde(default)]
    key: String,
}

async fn login(
    State(gateway): State<Arc<Gateway>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let request: LoginRequest = json_body(body)?;
    if let Some(key) = &gateway.config.api_key {
        if !bool::from(request.key.as_bytes().ct_eq(key.expose().as_bytes())) {
            tokio::time::sleep(WRONG_KEY_DELAY).await;
            tracing::warn!("console login refused: wrong API key");
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_api_key", "wrong API key"));
        }
    }
    let operator = operator_name(&request.operator).map_err(|why| ApiError::bad_request("invalid_operator", why))?;
    let (token, session) = gateway.console.sessions().start(operator, now_ms());
    tracing::info!(operator = %session.operator, "console login");
    let mut cookie = format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
        gateway.console.settings.session_ms / 1000
    );
    if gateway.console.settings.secure_cookie {
        cookie.push_str("; Secure");
    }
    let mut response = no_store(Json(session_json(&gateway, &session)).into_response());
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

async fn logout(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Result<Response, ApiError> {
    changing_session(&gateway, &headers)?;
    if let Some(token) = cookie_token(&headers) {
        gateway.console.sessions().end(token);
    }
    let expired = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    let mut response = no_store(Json(json!({ "logged_out": true })).into_response());
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

fn sse_event(update: &Update) -> Result<SseEvent, Infallible> {
    Ok(SseEvent::default().event(update.event).data(update.data.as_str()))
}

/// The live stream: a snapshot, then every change; a page that fell
/// behind gets a fresh snapshot; the stream ends when the gateway stops.
async fn events(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Result<Response, ApiError> {
    session_of(&gateway, &headers)?;
    let permit = gateway.console.stream_permit().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too_many_pages", "too many console pages are open")
    })?;
    let updates = gateway.console.subscribe();
    let first = gateway.console.snapshot(now_ms());
    let console = gateway.clone();
    let later = BroadcastStream::new(updates)
        .map(move |update| match update {
            Ok(update) => (*update).clone(),
            Err(BroadcastStreamRecvError::Lagged(_)) => console.console.snapshot(now_ms()),
        })
        .take_while(|update| update.event != super::CLOSING_EVENT)
        .map(move |update| {
            // The page's share of the stream limit lasts as long as the stream.
            let _held = &permit;
            sse_event(&update)
        });
    let stream = tokio_stream::once(sse_event(&first)).chain(later);
    Ok(no_store(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()))
}

#[derive(Deserialize)]
struct AskRequest {
    question: String,
}

async fn ask(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let session = changing_session(&gateway, &headers)?;
    if !gateway.config.console_ask {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_assistant",
            "no assistant answers questions in this dataflow (GATEWAY_CONSOLE_ASK=false)",
        ));
    }
    let request: AskRequest = json_body(body)?;
    let text = request.question.trim();
    if text.is_empty() {
        return Err(ApiError::bad_request("missing_question", "type a question about the plant"));
    }
    if text.chars().count() > MAX_QUESTION_CHARS {
        return Err(ApiError::bad_request(
            "question_too_long",
            format!("a question is at most {MAX_QUESTION_CHARS} characters"),
        ));
    }
    let now = now_ms();
    let question = Question {
        deadline_ms: Some(now + gateway.config.timeout_ms as i64),
        ..Question::new(gateway.new_request_id(), text, session.operator.as_str(), Origin::Http, now)
    };
    let answer = gateway.ask_and_wait(question).await?;
    let mut json = answer.to_json();
    // Quoted from the site's documents (or told that none covers it), a
    // model's sentence, or a sentence the code composed from the facts.
    json["written_by"] = match (&answer.error, &answer.model, answer.confidence) {
        (Some(AnswerError::NoProcedure), _, _) => json!("documents"),
        (Some(_), _, _) => serde_json::Value::Null,
        (None, _, _) if !answer.sources.is_empty() => json!("documents"),
        (None, Some(_), Some(_)) => json!("model"),
        (None, _, _) => json!("composed"),
    };
    Ok(no_store(Json(json).into_response()))
}

#[derive(Deserialize)]
struct AlarmRequest {
    key: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    minutes: Option<u32>,
}

/// What an operator does to an alarm.
#[derive(Debug, Clone, Copy)]
enum AlarmAction {
    Acknowledge,
    Shelve,
    Unshelve,
}

type Body = Result<Bytes, axum::extract::rejection::BytesRejection>;

/// `POST /console/api/alarms/<action>`: the change, made once journaled.
async fn change_alarm(
    gateway: Arc<Gateway>,
    headers: HeaderMap,
    body: Body,
    action: AlarmAction,
) -> Result<Response, ApiError> {
    let session = changing_session(&gateway, &headers)?;
    let request: AlarmRequest = json_body(body)?;
    let (key, operator, comment) = (request.key.as_str(), session.operator.as_str(), request.comment.as_str());
    let now = now_ms();
    let changed = match action {
        AlarmAction::Acknowledge => {
            gateway.console.operator_change(now, |board| board.acknowledge(key, operator, comment, now))
        }
        AlarmAction::Shelve => {
            let minutes =
                request.minutes.ok_or_else(|| ApiError::bad_request("invalid_minutes", "say for how many minutes"))?;
            gateway.console.operator_change(now, |board| board.shelve(key, operator, minutes, comment, now))
        }
        AlarmAction::Unshelve => gateway.console.operator_change(now, |board| board.unshelve(key, operator, now)),
    };
    finish_change(&gateway, changed).await
}

/// Sends the event on to MQTT (through the dora loop) and answers with the alarm.
async fn finish_change(
    gateway: &Gateway,
    changed: Result<(super::alarms::Alarm, shopfloor_core::schema::AlarmEvent), ChangeError>,
) -> Result<Response, ApiError> {
    let (alarm, event) = changed?;
    tracing::info!(key = %event.key, action = event.action.as_str(), operator = ?event.operator, "alarm changed by an operator");
    // Journaled already; a change made while the dataflow stops is kept on
    // disk and shown, but not published (docs/console.md).
    if let Err(refusal) = gateway.send_alarm_events(vec![event]).await {
        tracing::warn!(message = %refusal.message, "alarm event not sent on");
    }
    Ok(no_store(Json(super::alarm_view(&alarm)).into_response()))
}

async fn crop(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(alert_id): Path<String>,
) -> Result<Response, ApiError> {
    session_of(&gateway, &headers)?;
    let path = gateway.console.crop_of(&alert_id).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "no_crop", format!("no stored crop for alert {alert_id:?}"))
    })?;
    let bytes = read_file_limited(std::path::Path::new(&path), MAX_CROP_BYTES).map_err(|error| {
        ApiError::new(StatusCode::NOT_FOUND, "no_crop", format!("the crop {path} cannot be read: {error}"))
    })?;
    let content_type = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        "image/jpeg"
    } else {
        "application/octet-stream"
    };
    Ok(([(header::CONTENT_TYPE, content_type), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")], bytes).into_response())
}

fn read_file_limited(path: &std::path::Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn reports_folder(gateway: &Gateway) -> Result<&std::path::Path, ApiError> {
    gateway.console.settings.reports.as_deref().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "no_reports", "no reports folder is set (GATEWAY_CONSOLE_REPORTS)")
    })
}

async fn report_list(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Result<Response, ApiError> {
    session_of(&gateway, &headers)?;
    let listed = match gateway.console.settings.reports.as_deref() {
        Some(folder) => reports::list(folder).map_err(|error| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "reports_unreadable", error.to_string())
        })?,
        None => Vec::new(),
    };
    Ok(no_store(Json(json!({ "reports": listed })).into_response()))
}

async fn report(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    session_of(&gateway, &headers)?;
    let folder = reports_folder(&gateway)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "no_report", format!("no report {name:?}"));
    let path = reports::file_path(folder, &name, "report.md").ok_or_else(not_found)?;
    let markdown = reports::read_limited(&path).map_err(|_| not_found())?;
    Ok(no_store(Json(json!({ "name": name, "html": reports::render(&name, &markdown) })).into_response()))
}

async fn report_file(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path((name, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    session_of(&gateway, &headers)?;
    let folder = reports_folder(&gateway)?;
    let not_found =
        || ApiError::new(StatusCode::NOT_FOUND, "no_report_file", format!("no file {file:?} in report {name:?}"));
    let path = reports::file_path(folder, &name, &file).ok_or_else(not_found)?;
    let bytes = read_file_limited(&path, reports::MAX_REPORT_BYTES).map_err(|_| not_found())?;
    let content_type = match file.rsplit('.').next() {
        Some("svg") => "image/svg+xml",
        Some("md" | "txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    // An SVG opened on its own may not run script.
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'"),
        ],
        bytes,
    )
        .into_response())
}
