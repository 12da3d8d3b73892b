//! `http-gateway`: an OpenAI-compatible HTTP API over the dataflow.
//!
//! `POST /v1/chat/completions` turns a request into a `question` (so the
//! dataflow's grounding, routing and confidence apply) and waits for its
//! `answer`; `GET /v1/models`, `/healthz`, `/readyz` and `/metrics` read the
//! metric snapshots every node sends. docs/http.md has the API.
//!
//! - [`config`]: settings from the environment
//! - [`chat`]: request → question, answer → completion (pure logic)
//! - [`openai`]: the wire format
//! - [`board`]: latest snapshot per node; models and readiness
//! - [`exposition`]: the Prometheus/OpenMetrics page
//! - [`server`]: routes, API key, limits, the state the handlers share
//! - [`state`]: what each dora input does to that state (pure, time passed in)
//! - [`driver`]: the HTTP server's runtime and the dora loop
//! - [`console`]: the operator console under `/console` (docs/console.md)

pub mod board;
pub mod chat;
pub mod config;
pub mod console;
pub mod driver;
pub mod exposition;
pub mod openai;
pub mod pending;
pub mod schema_grammar;
pub mod server;
pub mod state;
pub mod traffic;
