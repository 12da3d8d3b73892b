//! What every node process shares, beside the message contract of
//! `shopfloor-core`.
//!
//! # Layout
//! - [`driver`]: sends what a node's logic decided, counts refused inputs by
//!   reason, answers the `metrics_tick` timer; [`driver::NodeLogic`] is the
//!   shape of a node's pure state machine.
//! - [`held`]: messages a sender holds until their receiver says it has
//!   them on disk, sent again meanwhile (answers for `mqtt-sink`, alerts).
//! - [`testing`]: a node's real driver run in dora's testing mode, against a
//!   scripted list of events, with its outputs decoded.
//! - [`test_ports`]: loopback ports for the servers a test starts, reserved
//!   across test processes and outside the range dora's own listeners use.
//! - [`metrics`]: the counters and histograms behind a `metric` snapshot.
//! - [`settings`]: a node's environment, and which of its variables the
//!   dataflow set.
//! - [`stats`]: nearest-rank percentiles, the one definition reports use.
//! - [`logging`]: the log subscriber every node binary installs.
//! - [`clock`]: wall-clock milliseconds, the time unit of every message.
//! - [`image_files`]: the image files of a folder, in name order (camera
//!   folders, the defect filter's good parts).

pub mod clock;
pub mod driver;
pub mod held;
pub mod image_files;
pub mod logging;
pub mod metrics;
pub mod settings;
pub mod stats;
pub mod test_ports;
pub mod testing;

pub use driver::{Driver, Emit, Flow, NodeLogic, Rejected, Rejections};

/// Where a node sits in its dataflow: its inputs (with the output each
/// comes from) and its outputs. A driver that looks at them takes them as an
/// argument instead of asking the node: dora's testing mode runs every node
/// as `test-node` with no inputs or outputs (`DoraNode::init_testing`), so
/// `main` passes `node.node_config().clone()` and a driver test passes
/// [`testing::TestRun::wiring`].
pub type Wiring = dora_message::config::NodeRunConfig;
