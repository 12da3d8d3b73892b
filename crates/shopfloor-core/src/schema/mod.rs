//! Arrow schemas of the messages between nodes.
//!
//! Every message kind is a `StructArray`, one row per message, so a node can
//! batch many readings into one dora message. Each kind offers
//! `to_arrow(&[T]) -> ArrayRef` and `from_arrow(&dyn Array) -> Result<Vec<T>>`;
//! decoding never panics on a foreign or malformed array, it returns
//! [`SchemaError`].

mod accepted;
mod alarm_event;
mod alert;
mod answer;
mod columns;
mod frame;
mod inspection;
mod metric;
mod question;
mod reading;
mod region;
mod route;
mod source_status;

pub use accepted::Accepted;
pub use alarm_event::{AlarmAction, AlarmEvent, AlarmState};
pub use alert::{Alert, Severity};
pub use answer::{Answer, AnswerError};
pub use columns::SchemaError;
pub use frame::{frame_bytes, frame_to_arrow, FrameEncoding, FrameError, FrameMeta, MAX_FRAME_SIDE};
pub use inspection::Inspection;
pub use metric::{MetricKind, MetricSample};
pub use question::{Origin, Question};
pub use reading::{Quality, Reading, ReadingValue};
pub use region::Region;
pub use route::{HopOutcome, RouteHop};
pub use source_status::{LinkState, SourceStatus};
