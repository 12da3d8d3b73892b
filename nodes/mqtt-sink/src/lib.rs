//! `mqtt-sink`: answers and alerts from the dataflow out to MQTT subscribers.
//!
//! | | id | payload |
//! |---|---|---|
//! | input | `answers` | `answer` batch (see `docs/messages.md`) |
//! | input | `answers_refused` | `answer` batch: mqtt-source's refusals (bad or refused questions, `busy`) |
//! | input | `alerts`, `alerts_<source>` | `alert` batch (one input per alert source; `alerts_again`: resent by their sender) |
//! | input | `alarm_events`, `alarm_events_again` | `alarm_event` batch from the operator console |
//! | input | `metrics_tick` | timer: send a `metric` snapshot |
//! | output | `metrics` | `metric` batch |
//! | output | `accepted` | optional: the ids of the router's answers once in the outbox (the router sends an answer again until then) |
//! | output | `alerts_accepted` | optional: the ids of alerts and alarm events once in the outbox (`limit-alarms`, `vlm-inspector` and `http-gateway` send each again until then) |
//! | output | `refusals_accepted` | optional: the ids of mqtt-source's refusals once in the outbox (mqtt-source sends each again until then) |
//!
//! Each answer is published as JSON (QoS `MQTT_QOS`, at least 1) to the
//! question's `reply_to` (or MQTT 5 response) topic, with the question's
//! correlation data, or else to `<MQTT_TOPIC_ROOT>/assistant/answer/<operator>`.
//! Each alert goes to `<MQTT_TOPIC_ROOT>/alerts/<station>/<severity>` and,
//! with `ALERTS_RETAIN_LAST=true`, retained to `.../alerts/<station>/last`;
//! alerts are high priority in the outbox. Store and forward: every
//! message goes through an on-disk outbox (`OUTBOX_DIR`) and leaves it only
//! when the broker acknowledged it; during an outage messages wait there
//! (bounded by `OUTBOX_MAX_MESSAGES`, oldest low-priority dropped first), and
//! after reconnecting they go out in order at up to `OUTBOX_CATCHUP_PER_SEC`.
//! On stop the node drains for a bounded time; what is left is sent on the
//! next start.
//!
//! # Layout
//! - [`config`]: settings from the environment.
//! - [`payload`]: answers and alerts to JSON and topics (pure).
//! - [`outbox`]: the journal of waiting messages (on disk in the node).
//! - [`state`]: inputs to outbox messages, sessions, in-flight bound and
//!   catch-up pacing, counts (pure, time passed in).
//! - [`driver`]: the loop on dora and the MQTT session threads.

pub mod config;
pub mod driver;
pub mod outbox;
pub mod payload;
pub mod state;
