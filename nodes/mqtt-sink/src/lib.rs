//! `mqtt-sink`: answers from the dataflow out to MQTT subscribers.
//!
//! | | id | payload |
//! |---|---|---|
//! | input | `answers` | `answer` batch (see `docs/messages.md`) |
//!
//! Each answer is published as JSON (QoS `MQTT_QOS`, default 1, persistent
//! session) to the question's `reply_to` topic, or else to
//! `<MQTT_TOPIC_ROOT>/assistant/answer/<operator>`. On stop the node waits a
//! bounded time for the broker to acknowledge what it sent.
//!
//! # Layout
//! - [`payload`]: answer to JSON and topic (pure).
//! - [`node`]: the event loop.

pub mod node;
pub mod payload;
