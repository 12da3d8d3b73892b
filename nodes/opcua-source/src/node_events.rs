//! What the node's main loop does after each wake-up from dora: pure.

use dora_node_api::Event;
use tracing::{debug, warn};

/// The dora output that carries batches of readings.
pub const READINGS_OUTPUT: &str = "readings";
/// The dora output that carries `source_status` changes.
pub const STATUS_OUTPUT: &str = "status";

/// What to do after waking up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send what has gathered and wait again.
    KeepRunning,
    /// Send what has gathered and exit.
    Stop,
}

/// Decides on the event `recv_timeout` returned. Inputs (e.g. a `tick` from a
/// dora timer) only wake the loop; nothing but `Stop` or the end of the stream
/// ends it.
pub fn next_after(event: Option<Event>) -> Next {
    match event {
        None => Next::Stop,
        Some(Event::Stop(cause)) => {
            debug!(?cause, "dora asked the node to stop");
            Next::Stop
        }
        Some(Event::Error(message)) if is_receive_timeout(&message) => Next::KeepRunning,
        Some(Event::Error(message)) => {
            warn!(%message, "dora reported an error");
            Next::KeepRunning
        }
        Some(_) => Next::KeepRunning,
    }
}

/// dora-node-api 1.1 reports an elapsed `recv_timeout` as an `Event::Error`
/// whose text starts like this, not as a distinct event.
fn is_receive_timeout(message: &str) -> bool {
    message.starts_with("Timeout event stream error")
}

#[cfg(test)]
mod tests {
    use super::*;
    use dora_node_api::StopCause;

    #[test]
    fn stop_and_the_end_of_the_stream_end_the_loop() {
        assert_eq!(next_after(Some(Event::Stop(StopCause::Manual))), Next::Stop);
        assert_eq!(next_after(Some(Event::Stop(StopCause::AllInputsClosed))), Next::Stop);
        assert_eq!(next_after(None), Next::Stop);
    }

    #[test]
    fn a_receive_timeout_just_wakes_the_loop() {
        let timeout = Event::Error("Timeout event stream error: Receiver timed out".into());
        assert_eq!(next_after(Some(timeout)), Next::KeepRunning);
    }

    #[test]
    fn other_events_do_not_stop_the_node() {
        assert_eq!(next_after(Some(Event::Error("daemon hiccup".into()))), Next::KeepRunning);
        let closed = Event::InputClosed { id: "tick".to_owned().into() };
        assert_eq!(next_after(Some(closed)), Next::KeepRunning);
    }
}
