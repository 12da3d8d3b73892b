//! Recordings of dataflow messages, for regression tests from recorded plant
//! data.
//!
//! - [`drec`]: dora's own `.drec` recording files (crate `dora-recording`,
//!   with dora's event encoding inside), written by the `recorder` node and
//!   played by the `replayer` node, and by the dora CLI's `dora replay`.
//! - [`arrow_file`]: export to and import from an Arrow IPC file, one row per
//!   message, for analysis; lossless both ways.
//! - [`mqtt`]: raw MQTT captured at a broker, and published back.
//! - [`summary`]: what a recording holds, per topic.
//! - [`time_shift`]: recording time to replay time and back.
//!
//! The `recording` binary puts these on the command line; see
//! `docs/recording.md`.

pub mod arrow_file;
pub mod corrupt;
pub mod drec;
pub mod message;
pub mod mqtt;
pub mod output_ref;
pub mod summary;
pub mod time_shift;

pub use drec::{read_file, write_file, DrecError, DrecReader, DrecWriter};
pub use message::RecordedMessage;
