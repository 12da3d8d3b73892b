//! The HTTP side: routes, API key, limits, and the wait for each answer.

use std::convert::Infallible;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::GatewayConfig;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use shopfloor_core::schema::{AlarmEvent, Answer, Question};
use shopfloor_node::clock::now_ms;
use shopfloor_node::driver::DoraSide;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::board::Board;
use crate::chat::{self, Refusal, RequestContext};
use crate::console::journal::JournalError;
use crate::console::{Console, ConsoleSettings};
use crate::exposition;
use crate::openai::{ChatRequest, ErrorBody, ErrorDetail, ModelEntry};
use crate::pending::Pending;
use crate::schema_grammar::SchemaError;
use crate::traffic::Traffic;

/// Route of chat completions (also the latency histogram's).
pub const CHAT_ROUTE: &str = "/v1/chat/completions";

/// Turns a JSON Schema into a grammar, or says why not.
pub type SchemaCompiler = fn(&str) -> Result<(), SchemaError>;

/// What the gateway's dora loop receives: dora's events and the questions
/// of the HTTP handlers, on one bounded channel.
#[derive(Debug)]
pub enum LinkEvent {
    Dora(DoraSide),
    Question(Question),
    /// Operators' alarm changes from the console, to publish.
    AlarmEvents(Vec<AlarmEvent>),
}

impl From<DoraSide> for LinkEvent {
    fn from(event: DoraSide) -> Self {
        Self::Dora(event)
    }
}

/// Everything the handlers share.
pub struct Gateway {
    pub config: GatewayConfig,
    /// This node's dataflow id.
    pub node_id: String,
    /// Latest snapshots of every node.
    pub board: Mutex<Board>,
    /// Requests waiting for answers.
    pub pending: Pending,
    /// To the dora loop, which sends the questions on.
    pub questions: SyncSender<LinkEvent>,
    pub traffic: Traffic,
    /// The operator console's state (live values, alarms, sessions).
    pub console: Console,
    permits: Semaphore,
    compile: SchemaCompiler,
    request_id: fn() -> String,
    /// When the gateway started (s since epoch): `created` of the dataflow's model.
    started_s: i64,
}

/// `chatcmpl-<random>`: the id of a request, its question and its completion.
pub fn random_request_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}

impl Gateway {
    /// The shared state; questions go to `questions` as [`LinkEvent::Question`].
    /// Fails when the console's alarm journal cannot be opened.
    pub fn new(
        config: GatewayConfig,
        node_id: String,
        questions: SyncSender<LinkEvent>,
        compile: SchemaCompiler,
    ) -> Result<Self, JournalError> {
        let permits = Semaphore::new(config.max_concurrent);
        let console = Console::open(ConsoleSettings {
            journal: config.console_journal.clone(),
            reports: config.console_reports.clone(),
            stale_after_ms: config.console_stale_ms,
            session_ms: config.console_session_minutes * 60_000,
            secure_cookie: !config.listen.ip().is_loopback(),
        })?;
        Ok(Self {
            console,
            config,
            node_id,
            board: Mutex::default(),
            pending: Pending::default(),
            questions,
            traffic: Traffic::default(),
            permits,
            compile,
            request_id: random_request_id,
            started_s: now_ms() / 1000,
        })
    }

    /// Request ids from `request_id` instead of [`random_request_id`] (a
    /// test that scripts the answer in advance needs to know the id).
    pub fn with_request_ids(mut self, request_id: fn() -> String) -> Self {
        self.request_id = request_id;
        self
    }

    /// A new request id (`chatcmpl-<random>`).
    pub fn new_request_id(&self) -> String {
        (self.request_id)()
    }

    /// Asks a question and waits for its answer, within the concurrency
    /// limit and the timeout (the console's questions; chat requests take
    /// their permit before reading the body).
    pub async fn ask_and_wait(&self, question: Question) -> Result<Answer, Refusal> {
        let _permit = self.permits.try_acquire().map_err(|_| Refusal::too_many(self.config.max_concurrent))?;
        let _in_flight = self.traffic.start();
        self.wait_for_answer(question).await
    }

    async fn wait_for_answer(&self, question: Question) -> Result<Answer, Refusal> {
        let answer = self.pending.register(&question.id);
        // Whatever ends this request (answer, timeout, the client hanging up),
        // its registration goes with it.
        let _registration = ForgetOnDrop { pending: &self.pending, id: question.id.clone() };
        self.ask(question).await?;
        match tokio::time::timeout(Duration::from_millis(self.config.timeout_ms), answer).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(Refusal::unavailable("the dataflow stopped before answering")),
            Err(_) => Err(Refusal::timed_out(self.config.timeout_ms)),
        }
    }

    /// Hands alarm events to the dora loop, to publish.
    pub async fn send_alarm_events(&self, events: Vec<AlarmEvent>) -> Result<(), Refusal> {
        self.to_loop(LinkEvent::AlarmEvents(events)).await
    }

    /// Hands a question to the dora loop; waits (off the async workers)
    /// while the channel is full. Err: the loop is gone.
    async fn ask(&self, question: Question) -> Result<(), Refusal> {
        self.to_loop(LinkEvent::Question(question)).await
    }

    async fn to_loop(&self, event: LinkEvent) -> Result<(), Refusal> {
        let stopping = || Refusal::unavailable("the dataflow is stopping");
        match self.questions.try_send(event) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(_)) => Err(stopping()),
            Err(TrySendError::Full(event)) => {
                let questions = self.questions.clone();
                match tokio::task::spawn_blocking(move || questions.send(event).is_ok()).await {
                    Ok(true) => Ok(()),
                    _ => Err(stopping()),
                }
            }
        }
    }

    /// The board, even after a panic elsewhere (it holds plain data).
    pub fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn model_names(&self) -> Vec<String> {
        let mut names = vec![self.config.model_name.clone()];
        names.extend(self.board().models(Instant::now()).into_iter().map(|(model, _, _)| model));
        names
    }
}

/// The router with every route and limit.
pub fn router(gateway: Arc<Gateway>) -> Router {
    let protected = Router::new()
        .route(CHAT_ROUTE, post(chat_completions))
        .route("/v1/models", get(models))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(gateway.clone(), require_key));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(protected)
        // Its own login: a session cookie and a CSRF token (console::routes).
        .merge(crate::console::routes::routes())
        .layer(DefaultBodyLimit::max(gateway.config.max_body_bytes))
        .layer(middleware::from_fn_with_state(gateway.clone(), count_requests))
        .with_state(gateway)
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: ErrorDetail { message: self.message, kind: self.kind, param: self.param, code: self.code },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

async fn count_requests(State(gateway): State<Arc<Gateway>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |path| path.as_str()).to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    gateway.traffic.request(&route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

async fn require_key(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if let Some(key) = &gateway.config.api_key {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(key.expose().as_bytes())) {
            return Refusal::unauthorized().into_response();
        }
    }
    next.run(request).await
}

async fn readyz(State(gateway): State<Arc<Gateway>>) -> Response {
    let readiness = gateway.board().readiness(Instant::now());
    let status = if readiness.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(readiness)).into_response()
}

async fn models(State(gateway): State<Arc<Gateway>>) -> Response {
    let mut data = vec![ModelEntry {
        id: gateway.config.model_name.clone(),
        object: "model",
        created: gateway.started_s,
        owned_by: "shopfloor".into(),
    }];
    for (model, node, created) in gateway.board().models(Instant::now()) {
        data.push(ModelEntry { id: model, object: "model", created, owned_by: node });
    }
    Json(serde_json::json!({ "object": "list", "data": data })).into_response()
}

async fn metrics(State(gateway): State<Arc<Gateway>>) -> Response {
    let now = Instant::now();
    // The gateway's own series, fresh at every scrape.
    let own = gateway.traffic.snapshot(&gateway.node_id);
    gateway.board().update(own, now, now_ms());
    let mut samples = gateway.board().samples();
    let mut ages = shopfloor_node::metrics::Snapshot::new(gateway.node_id.clone());
    for (node, age) in gateway.board().ages(now) {
        ages.gauge(
            "shopfloor_node_report_age_seconds",
            "Seconds since the node's last metrics snapshot",
            &[("reported_by", &node)],
            age,
        );
    }
    ages.gauge(
        "shopfloor_http_waiting_answers",
        "Questions sent, answer not yet back",
        &[],
        gateway.pending.len() as f64,
    );
    samples.extend(ages.finish());
    ([(header::CONTENT_TYPE, exposition::CONTENT_TYPE)], exposition::render(&samples)).into_response()
}

async fn chat_completions(
    State(gateway): State<Arc<Gateway>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    match answer_request(&gateway, body).await {
        Ok(response) => response,
        Err(refusal) => {
            tracing::info!(status = refusal.status, code = refusal.code, "chat request refused");
            refusal.into_response()
        }
    }
}

async fn answer_request(
    gateway: &Gateway,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Refusal> {
    let body = body.map_err(|rejection| Refusal {
        status: rejection.status().as_u16(),
        kind: "invalid_request_error",
        param: None,
        code: if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE { "request_too_large" } else { "unreadable_body" },
        message: format!("{} (GATEWAY_MAX_BODY_BYTES is {})", rejection.body_text(), gateway.config.max_body_bytes),
    })?;
    // Bounded: beyond GATEWAY_MAX_CONCURRENT the answer is 429 at once.
    let _permit = gateway.permits.try_acquire().map_err(|_| Refusal::too_many(gateway.config.max_concurrent))?;
    let _in_flight = gateway.traffic.start();
    let request: ChatRequest = serde_json::from_slice(&body).map_err(|error| Refusal {
        status: 400,
        kind: "invalid_request_error",
        param: None,
        code: "invalid_json",
        message: format!("the body is not a chat completion request: {error}"),
    })?;
    let models = gateway.model_names();
    let context = RequestContext {
        id: (gateway.request_id)(),
        default_operator: &gateway.config.default_operator,
        now_ms: now_ms(),
        timeout_ms: gateway.config.timeout_ms,
        models: &models,
    };
    let question = chat::to_question(&request, &context, &gateway.compile)?;
    let wants_json = question.response_schema.is_some();
    let answer = gateway.wait_for_answer(question).await?;
    if let Some(refusal) = chat::refusal_of(&answer, wants_json) {
        return Err(refusal);
    }
    let created = context.now_ms / 1000;
    if !request.stream {
        return Ok(Json(chat::completion(&answer, &request.model, created)).into_response());
    }
    let events: Vec<Result<SseEvent, Infallible>> = chat::chunks(&answer, &request.model, created)
        .iter()
        .map(|chunk| serde_json::to_string(chunk).unwrap_or_default())
        .chain(std::iter::once("[DONE]".to_owned()))
        .map(|data| Ok(SseEvent::default().data(data)))
        .collect();
    Ok(Sse::new(tokio_stream::iter(events)).into_response())
}

/// Removes a request's registration when the request ends in any way.
struct ForgetOnDrop<'a> {
    pending: &'a Pending,
    id: String,
}

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        self.pending.forget(&self.id);
    }
}
