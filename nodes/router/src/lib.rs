//! The `router` node: sends each operator question to the model tier
//! configured for its class, escalates answers whose confidence is below
//! the tier's threshold to the next tier (another `slm` node, on this or
//! another dora machine, or an OpenAI-compatible endpoint off the site),
//! keeps to the question's deadline, and records the route in every
//! answer. See docs/routing.md.
//!
//! - [`classify`]: question classes by rules over the shared vocabulary.
//! - [`policy`]: the decisions, pure and unit-tested.
//! - [`redact`] and [`http_tier`]: what leaves the site, and how.
//! - [`audit`]: the journal of every answer (records built by the state,
//!   written by the driver).
//! - [`state`]: the node's logic as plain state over the policy;
//!   [`driver`]: it on dora, with the off-site requests on their own threads.

pub mod audit;
pub mod classify;
pub mod config;
pub mod driver;
pub mod http_tier;
pub mod metrics;
pub mod pending;
pub mod policy;
pub mod redact;
pub mod state;
pub mod write_request;
