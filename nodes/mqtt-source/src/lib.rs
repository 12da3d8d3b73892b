//! `mqtt-source`: operator questions from MQTT into the dataflow.
//!
//! | | id | payload |
//! |---|---|---|
//! | output | `questions` | `question` batch (see `docs/messages.md`) |
//!
//! Subscribes to `<MQTT_TOPIC_ROOT>/assistant/query/+`. A valid payload
//! becomes a [`Question`](shopfloor_core::schema::Question); an invalid one is
//! refused, counted per reason, and republished with the reason to
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
//! - [`question`]: payload to question (pure).
//! - [`rejection`]: reasons, counters, dead letters (pure).
//! - [`node`]: the event loop joining dora and the MQTT connection.

pub mod node;
pub mod question;
pub mod rejection;
