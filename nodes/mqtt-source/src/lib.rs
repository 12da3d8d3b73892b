//! `mqtt-source`: operator questions and plant telemetry from MQTT into the
//! dataflow.
//!
//! | | id | payload |
//! |---|---|---|
//! | output | `questions` | `question` batch (see `docs/messages.md`) |
//! | output | `readings` | `reading` batches from telemetry topics |
//! | output | `metrics` | the node's snapshot, on `metrics_tick` |
//! | output | `refusals` | `answer`s to refused questions, for mqtt-sink |
//! | input | `accepted` | optional: the router's `accepted` acceptances; each question is then sent again until accepted ([`handover`]) |
//! | input | `refusals_accepted` | optional: mqtt-sink's acceptances of refusals; each refusal is then sent again until journaled |
//!
//! Subscribes to `<MQTT_TOPIC_ROOT>/assistant/query/+`. A valid payload
//! becomes a [`Question`](shopfloor_core::schema::Question). Telemetry
//! subscriptions (`TELEMETRY_SUBSCRIPTIONS`, see
//! [`TelemetryConfig`](crate::config::TelemetryConfig)) turn number
//! or JSON payloads into readings, batched. An invalid payload is refused,
//! counted per reason, and republished with the reason to
//! `<site>/shopfloor/deadletter/mqtt-source`. Bad input never stops the node.
//!
//! ```yaml
//! env:
//!   MQTT_BROKER_URL: ""            # empty: the embedded broker
//!   MQTT_TOPIC_ROOT: plant1/assembly/cell1
//!   MQTT_MAX_PAYLOAD_BYTES: "16384"
//! ```
//!
//! # Layout
//! - [`state`]: the node's logic: messages to questions, batches and dead
//!   letters, rebirth throttling, counts (pure, time passed in).
//! - [`driver`]: the loop joining dora and the MQTT connection (I/O).
//! - [`question`]: payload to question (pure).
//! - [`telemetry`]: number and JSON telemetry payloads to readings (pure).
//! - [`sparkplug`]: Sparkplug B births, data, deaths, aliases and sequence checks.
//! - [`rejection`]: reasons, counters, dead letters (pure).
//! - [`handover`]: questions held until the router takes them (pure).

pub mod config;
pub mod driver;
pub mod handover;
pub mod question;
pub mod rejection;
pub mod sparkplug;
pub mod state;
pub mod telemetry;
