//! `opcua-source`: a dora node that subscribes to nodes of an OPC UA server and
//! emits what it receives as batches of readings.
//!
//! # Inputs and outputs
//!
//! - Inputs: none needed. Any input (e.g. `tick: dora/timer/millis/250`) just
//!   wakes the node early; only dora's `Stop` (or the end of the event stream)
//!   ends it.
//! - Output `readings`: one `shopfloor_core::schema::Reading` struct array per
//!   wake-up with everything received since the previous one (oldest first);
//!   nothing is sent when nothing arrived. `source` is the endpoint URL, `tag`
//!   and `unit` come from `OPCUA_TAGS`, `quality` from the OPC UA status code,
//!   `source_ts_ms` from the server's source timestamp.
//! - Output `status`: one `shopfloor_core::schema::SourceStatus` per change of
//!   the link (`connecting`, `connected`, `disconnected`, `reconnecting`, with
//!   the reason). When the link is lost, every tag's last value is sent once
//!   more on `readings` with `bad` quality.
//!
//! The node wakes at least every `OPCUA_PUBLISH_INTERVAL_MS`, which is also the
//! subscription's publishing interval. It connects with the configured
//! security policy, mode and login (default: None, anonymous; see
//! [`security`] for the PKI folder and trust), and keeps reconnecting (backoff up to
//! `OPCUA_RECONNECT_MAX_MS`) while the server is absent or after it went away;
//! the subscription survives reconnects.
//!
//! # Dataflow configuration
//!
//! ```yaml
//! - id: opcua-source
//!   path: ../target/release/opcua-source
//!   outputs: [readings]
//!   env:
//!     OPCUA_ENDPOINT: opc.tcp://127.0.0.1:4840/
//!     OPCUA_TAGS: |
//!       spindle_temperature ns=2;s=Cell1.SpindleTemperature °C deadband=0.2
//!       spindle_speed ns=2;s=Cell1.SpindleSpeed rpm sampling=100
//!       vibration ns=2;s=Cell1.Vibration mm/s
//!       part_count ns=2;s=Cell1.PartCount
//!       machine_state ns=2;s=Cell1.MachineState
//!     OPCUA_PUBLISH_INTERVAL_MS: "250"   # default
//!     OPCUA_RECONNECT_MAX_MS: "5000"     # default
//!     OPCUA_SAMPLING_MS: "250"           # default: the publishing interval
//!     OPCUA_QUEUE_SIZE: "10"             # default
//!     OPCUA_BATCH_MAX: "1000"            # default: readings per dora message
//!     OPCUA_DEADBAND: "0.5"              # default: none; `2%` = percent of EURange
//!     OPCUA_SECURITY_POLICY: Basic256Sha256   # default None; or Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss
//!     OPCUA_SECURITY_MODE: SignAndEncrypt     # default under a policy; or Sign
//!     OPCUA_PKI_DIR: /var/lib/shopfloor/opcua-pki   # required under a policy
//!     OPCUA_TRUST_UNKNOWN_SERVER: "false"     # default
//!     OPCUA_USER: operator                    # default: anonymous
//!     OPCUA_PASSWORD_FILE: /run/secrets/opcua # or OPCUA_PASSWORD; never logged
//! ```
//!
//! # Modules
//!
//! - [`client`]: the OPC UA session, reconnects, and the reading channel (I/O).
//! - [`subscription`]: the subscription and its data-change callback (I/O).
//! - [`poll`]: polling mode for tags with `poll=<ms>` (I/O, with a pure change filter).
//! - [`convert`]: `DataValue` → `Reading` (pure).
//! - [`tags`]: node id parsing and monitored-item handles (pure).
//! - [`state`]: the node's logic: batches, link changes, counts (pure).
//! - [`driver`]: the client's channels and dora's events, one loop (I/O).
//! - [`batch`]: readings gathered between two sends (pure).
//! - [`link_watch`]: status messages and stale values on link changes (pure).
//! - [`properties`]: units, EURange and descriptions from the server, re-read on a model change.
//! - [`security`]: endpoint choice, server certificate trust, advice on refusals (pure, plus the PKI folder).
//! - [`browse`]: the server's variables as `OPCUA_TAGS` lines (`shopfloor browse`).

pub mod batch;
pub mod browse;
pub mod client;
pub mod config;
pub mod convert;
pub mod driver;
pub mod link_watch;
pub mod poll;
pub mod properties;
pub mod security;
pub mod state;
pub mod subscription;
pub mod tags;

// The client against the real plant simulator, in the library's test
// binary: a separate integration-test binary would compile the OPC UA client
// and server a second time (about a minute of a cold build).
#[cfg(test)]
mod against_plant_sim;
