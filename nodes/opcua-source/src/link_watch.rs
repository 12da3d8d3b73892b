//! What the node tells the dataflow when the link to the server changes:
//! pure, no I/O.
//!
//! Every change of state or reason becomes a `source_status` message. When
//! the link is lost, every tag's last value is sent once more with `bad`
//! quality, so downstream nodes stop treating it as live (an operator asking
//! during the outage hears that the value is not current). The values come
//! back with the next data change after the reconnect.

use std::collections::BTreeMap;

use shopfloor_core::schema::{LinkState, Quality, Reading, SourceStatus};

use crate::client::LinkStatus;

/// The last value of every tag, and the last state reported.
#[derive(Debug, Default)]
pub struct LinkWatch {
    last_values: BTreeMap<String, Reading>,
    reported: Option<(LinkState, Option<String>)>,
}

/// What to send after a status change.
#[derive(Debug, Default, PartialEq)]
pub struct LinkChange {
    /// The status message, when state or reason changed.
    pub status: Option<SourceStatus>,
    /// Last values marked bad, when the link was just lost.
    pub stale_readings: Vec<Reading>,
}

impl LinkWatch {
    /// Remembers the latest value of each tag in `readings`.
    pub fn record(&mut self, readings: &[Reading]) {
        for reading in readings {
            self.last_values.insert(reading.tag.clone(), reading.clone());
        }
    }

    /// The messages for a new link status seen at `now_ms`.
    pub fn update(&mut self, source: &str, link: &LinkStatus, now_ms: i64) -> LinkChange {
        let current = (link.state, link.reason.clone());
        if self.reported.as_ref() == Some(&current) {
            return LinkChange::default();
        }
        let was_connected = self.reported.as_ref().is_some_and(|(state, _)| *state == LinkState::Connected);
        self.reported = Some(current);
        let stale_readings = if was_connected && link.state != LinkState::Connected {
            self.last_values
                .values()
                .filter(|reading| reading.quality != Quality::Bad)
                .map(|reading| Reading { quality: Quality::Bad, received_ts_ms: now_ms, ..reading.clone() })
                .collect()
        } else {
            Vec::new()
        };
        LinkChange {
            status: Some(SourceStatus {
                source: source.to_owned(),
                state: link.state,
                reason: link.reason.clone(),
                ts_ms: now_ms,
                connects: i64::try_from(link.connects).unwrap_or(i64::MAX),
                failed_connects: i64::try_from(link.failed_connects).unwrap_or(i64::MAX),
            }),
            stale_readings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopfloor_core::schema::ReadingValue;

    fn reading(tag: &str, value: f64) -> Reading {
        Reading {
            source: "opc.tcp://plc:4840/".into(),
            tag: tag.into(),
            value: ReadingValue::Number(value),
            unit: Some("°C".into()),
            quality: Quality::Good,
            source_ts_ms: Some(1_000),
            received_ts_ms: 1_001,
            low_limit: None,
            high_limit: Some(80.0),
            server_ts_ms: None,
            value_type: None,
            status_code: None,
            eu_low: None,
            eu_high: None,
            description: None,
        }
    }

    fn link(state: LinkState, reason: Option<&str>) -> LinkStatus {
        LinkStatus {
            state,
            reason: reason.map(str::to_owned),
            connected: state == LinkState::Connected,
            ..LinkStatus::default()
        }
    }

    #[test]
    fn losing_the_link_resends_each_tags_last_value_once_marked_bad() {
        let mut watch = LinkWatch::default();
        watch.update("s", &link(LinkState::Connected, None), 0);
        watch.record(&[reading("t1", 1.0), reading("t2", 2.0), reading("t1", 1.5)]);
        let lost = watch.update("s", &link(LinkState::Disconnected, Some("BadConnectionClosed")), 5_000);
        assert_eq!(lost.status.as_ref().map(|s| s.state), Some(LinkState::Disconnected));
        assert_eq!(lost.stale_readings.len(), 2);
        let t1 = &lost.stale_readings[0];
        assert_eq!((t1.tag.as_str(), &t1.value, t1.quality), ("t1", &ReadingValue::Number(1.5), Quality::Bad));
        assert_eq!((t1.source_ts_ms, t1.received_ts_ms, t1.high_limit), (Some(1_000), 5_000, Some(80.0)));

        let failing = watch.update("s", &link(LinkState::Reconnecting, Some("BadTimeout")), 6_000);
        assert!(failing.status.is_some() && failing.stale_readings.is_empty(), "stale values go out once");
    }

    #[test]
    fn only_changes_are_reported() {
        let mut watch = LinkWatch::default();
        let first = watch.update("s", &link(LinkState::Connecting, None), 0);
        assert_eq!(first.status.map(|s| s.state), Some(LinkState::Connecting));
        let retry = link(LinkState::Connecting, Some("BadTimeout"));
        assert!(watch.update("s", &retry, 1).status.is_some());
        assert_eq!(watch.update("s", &LinkStatus { failed_connects: 9, ..retry }, 2), LinkChange::default());
        let up = watch.update("s", &link(LinkState::Connected, None), 3);
        assert!(up.stale_readings.is_empty(), "nothing was connected before");
    }
}
