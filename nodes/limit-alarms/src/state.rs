//! The node's logic as plain state: reading batches in, alert batches out,
//! counted. No dora, no clock: [`LimitAlarmsNode`] implements
//! [`NodeLogic`], and the driver hands it each input.

use std::collections::BTreeMap;

use dora_node_api::arrow_v59::array::Array;
use dora_node_api::MetadataParameters;
use shopfloor_core::schema::{Accepted, Alert, Reading};
use shopfloor_node::held::HeldUntilAccepted;
use shopfloor_node::metrics::Snapshot;
use shopfloor_node::{Emit, NodeLogic, Rejected};

use crate::alarms::{ActiveAlarm, Alarms};
use crate::config::LimitAlarmsConfig;
use shopfloor_docs::AlertResponses;

/// Input ids starting with this carry `reading` batches (`readings`,
/// `readings_mqtt`, …).
pub const READINGS_INPUT: &str = "readings";
pub const ALERTS_OUTPUT: &str = "alerts";
/// Alerts sent again because mqtt-sink had not journaled them (wired to the
/// sink only: the console has them from `alerts`).
pub const ALERTS_AGAIN_OUTPUT: &str = "alerts_again";
/// mqtt-sink's acceptances of alerts (its `alerts_accepted`), where wired.
pub const DELIVERED_INPUT: &str = "delivered";
/// How often held alerts are looked at.
const DELIVERY_WAKE: std::time::Duration = std::time::Duration::from_millis(500);

/// What the node counted.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    /// Readings by what became of them ([`crate::Outcome::as_str`]).
    pub readings: BTreeMap<&'static str, u64>,
    /// Alerts sent, by severity and kind.
    pub alerts: BTreeMap<(&'static str, String), u64>,
    /// Tags beyond a limit now.
    pub active: usize,
}

impl Counts {
    pub fn alerts_total(&self) -> u64 {
        self.alerts.values().sum()
    }
}

/// Every tag's alarm state and the node's counts.
pub struct LimitAlarmsNode {
    alarms: Alarms,
    counts: Counts,
    responses: Option<AlertResponses>,
    /// Alerts not yet journaled by mqtt-sink, where its acceptances come back.
    delivery: Option<HeldUntilAccepted<Alert>>,
}

impl LimitAlarmsNode {
    /// `source` names the alerts' origin (the node's id).
    pub fn new(config: &LimitAlarmsConfig, source: &str) -> Self {
        Self { alarms: Alarms::new(config, source), counts: Counts::default(), responses: None, delivery: None }
    }

    /// Holds each alert until mqtt-sink says its outbox has it, sending it
    /// again on [`ALERTS_AGAIN_OUTPUT`] meanwhile (the dataflow wires the
    /// sink's `alerts_accepted` to [`DELIVERED_INPUT`]).
    pub fn with_delivery(mut self) -> Self {
        self.delivery = Some(HeldUntilAccepted::new("alerts", "mqtt-sink"));
        self
    }

    /// Alerts carry their response section from these documents.
    pub fn with_responses(mut self, responses: AlertResponses) -> Self {
        self.responses = Some(responses);
        self
    }

    pub fn responses_mut(&mut self) -> Option<&mut AlertResponses> {
        self.responses.as_mut()
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Every tag beyond a limit now: what a restarted node needs. It changes
    /// only with an alert, so [`Counts::alerts_total`] tells when to keep it again.
    pub fn active_alarms(&self) -> BTreeMap<String, ActiveAlarm> {
        self.alarms.active_alarms()
    }

    /// Takes back what a previous run kept; returns the tags that could not be read.
    pub fn restore(&mut self, active: BTreeMap<String, ActiveAlarm>) -> Vec<String> {
        let unreadable = self.alarms.restore(active);
        self.counts.active = self.alarms.active();
        unreadable
    }

    /// Takes one `reading` batch, in order: the alerts it raises, counted.
    pub fn take_batch(&mut self, readings: &[Reading]) -> Vec<Alert> {
        let mut alerts = Vec::new();
        for reading in readings {
            *self.counts.readings.entry(self.alarms.observe(reading, &mut alerts).as_str()).or_default() += 1;
        }
        for alert in &alerts {
            *self.counts.alerts.entry((alert.severity.as_str(), alert.kind.clone())).or_default() += 1;
        }
        if let Some(responses) = self.responses.as_mut() {
            responses.attach(&mut alerts);
        }
        self.counts.active = self.alarms.active();
        alerts
    }
}

impl NodeLogic for LimitAlarmsNode {
    fn on_input(
        &mut self,
        input: &str,
        data: &dyn Array,
        _parameters: &MetadataParameters,
        now_ms: i64,
    ) -> Result<Vec<Emit>, Rejected> {
        if input == DELIVERED_INPUT && self.delivery.is_some() {
            let accepted = Accepted::from_arrow(data).map_err(Rejected::schema)?;
            if let Some(delivery) = &mut self.delivery {
                for accepted in &accepted {
                    delivery.accepted(&accepted.id);
                }
            }
            return Ok(Vec::new());
        }
        if !input.starts_with(READINGS_INPUT) {
            return Err(Rejected::unknown_input(input));
        }
        let readings = Reading::from_arrow(data).map_err(Rejected::schema)?;
        let alerts = self.take_batch(&readings);
        for alert in &alerts {
            let severity = alert.severity.as_str();
            tracing::info!(id = %alert.id, %severity, kind = %alert.kind, text = %alert.message, "alert");
            if let Some(delivery) = &mut self.delivery {
                delivery.hold(&alert.id, alert.clone(), now_ms);
            }
        }
        Ok(if alerts.is_empty() { Vec::new() } else { vec![Emit::new(ALERTS_OUTPUT, Alert::to_arrow(&alerts))] })
    }

    fn wake_interval(&self) -> Option<std::time::Duration> {
        self.delivery.as_ref().map(|_| DELIVERY_WAKE)
    }

    fn on_wake(&mut self, now_ms: i64) -> Vec<Emit> {
        let Some(delivery) = &mut self.delivery else { return Vec::new() };
        let again = delivery.due(now_ms).resend;
        if again.is_empty() {
            Vec::new()
        } else {
            vec![Emit::new(ALERTS_AGAIN_OUTPUT, Alert::to_arrow(&again))]
        }
    }

    fn metrics(&self, snapshot: &mut Snapshot) {
        if let Some(delivery) = &self.delivery {
            delivery.report(snapshot, "shopfloor_alarms_alerts");
        }
        for (outcome, count) in &self.counts.readings {
            snapshot.counter(
                "shopfloor_alarms_readings",
                "Readings taken, by outcome",
                &[("outcome", outcome)],
                *count,
            );
        }
        for ((severity, kind), count) in &self.counts.alerts {
            snapshot.counter(
                "shopfloor_alarms_alerts",
                "Alerts sent, by severity and kind",
                &[("severity", severity), ("kind", kind)],
                *count,
            );
        }
        snapshot.gauge("shopfloor_alarms_active", "Tags beyond an alarm limit now", &[], self.counts.active as f64);
        if let Some(responses) = &self.responses {
            let help = "Alerts about a tag, by whether the site's documents had a response section";
            snapshot.counter("shopfloor_alarms_responses", help, &[("found", "true")], responses.attached);
            snapshot.counter("shopfloor_alarms_responses", help, &[("found", "false")], responses.missing);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use shopfloor_core::schema::{Quality, ReadingValue, Severity};

    use super::*;

    fn config() -> LimitAlarmsConfig {
        LimitAlarmsConfig {
            station: "station1".into(),
            line: None,
            deadband: 0.5,
            critical_margin: None,
            high_limits: BTreeMap::from([("spindle_temperature".into(), 80.0)]),
            low_limits: BTreeMap::new(),
            state_file: "out/limit-alarms/active.json".into(),
            docs_dir: None,
            docs_rescan: std::time::Duration::from_secs(5),
        }
    }

    fn reading(tag: &str, value: ReadingValue, quality: Quality, ts_ms: i64) -> Reading {
        Reading { quality, ..Reading::good("opc", tag.into(), value, Some("°C".into()), Some(ts_ms), ts_ms + 5) }
    }

    #[test]
    fn a_batch_is_taken_in_order_and_counted() {
        let mut node = LimitAlarmsNode::new(&config(), "limit-alarms");
        let batch = Reading::to_arrow(&[
            reading("spindle_temperature", ReadingValue::Number(81.0), Quality::Good, 1),
            reading("spindle_temperature", ReadingValue::Number(95.0), Quality::Bad, 2),
            reading("machine_state", ReadingValue::Text("RUNNING".into()), Quality::Good, 2),
            reading("spindle_speed", ReadingValue::Number(12_000.0), Quality::Good, 2),
        ]);
        let emits = node.on_input("readings", batch.as_ref(), &MetadataParameters::default(), 0).unwrap();
        assert_eq!(emits.len(), 1);
        assert_eq!(emits[0].output, ALERTS_OUTPUT);
        let alerts = Alert::from_arrow(emits[0].data.as_ref()).unwrap();
        assert_eq!((alerts[0].severity, alerts[0].ts_ms), (Severity::Warning, 1));
        let readings: Vec<(&str, u64)> = node.counts().readings.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(readings, [("bad_quality", 1), ("checked", 1), ("no_limit", 1), ("text", 1)]);
        assert_eq!((node.counts().alerts_total(), node.counts().active), (1, 1));
    }

    #[test]
    fn a_batch_that_raises_nothing_sends_nothing() {
        let mut node = LimitAlarmsNode::new(&config(), "limit-alarms");
        let batch = Reading::to_arrow(&[reading("spindle_temperature", ReadingValue::Number(70.0), Quality::Good, 1)]);
        assert!(node.on_input("readings_mqtt", batch.as_ref(), &MetadataParameters::default(), 0).unwrap().is_empty());
    }

    #[test]
    fn an_array_that_is_not_a_reading_batch_is_rejected_not_a_panic() {
        let mut node = LimitAlarmsNode::new(&config(), "limit-alarms");
        let alerts = Alert::to_arrow(&[Alert::new("a", 1, "s", Severity::Info, "k", "m", "n")]);
        let rejected = node.on_input("readings", alerts.as_ref(), &MetadataParameters::default(), 0).unwrap_err();
        assert_eq!(rejected.reason, "schema");
        assert!(node.counts().readings.is_empty());
        let unknown = node.on_input("frames", alerts.as_ref(), &MetadataParameters::default(), 0).unwrap_err();
        assert_eq!(unknown.reason, "unknown_input");
    }

    #[test]
    fn with_the_sinks_acceptances_wired_an_alert_is_sent_again_until_journaled() {
        let mut node = LimitAlarmsNode::new(&config(), "limit-alarms").with_delivery();
        assert!(node.wake_interval().is_some());
        let batch = Reading::to_arrow(&[reading("spindle_temperature", ReadingValue::Number(81.0), Quality::Good, 1)]);
        let emits = node.on_input("readings", batch.as_ref(), &MetadataParameters::default(), 1_000).unwrap();
        let alert = Alert::from_arrow(emits[0].data.as_ref()).unwrap().remove(0);
        assert!(node.on_wake(2_999).is_empty(), "not due yet");
        let again = node.on_wake(3_000);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].output, ALERTS_AGAIN_OUTPUT, "to the sink only, not to the console again");
        assert_eq!(
            Alert::from_arrow(again[0].data.as_ref()).unwrap(),
            std::slice::from_ref(&alert),
            "the same alert, same id"
        );
        assert_eq!(node.counts().alerts_total(), 1, "sent again, not raised again");
        let journaled = Accepted::to_arrow(&[Accepted { id: alert.id, origin: shopfloor_core::schema::Origin::Mqtt }]);
        assert!(node
            .on_input(DELIVERED_INPUT, journaled.as_ref(), &MetadataParameters::default(), 3_100)
            .unwrap()
            .is_empty());
        assert!(node.on_wake(60_000).is_empty(), "journaled: never sent again");
        // Without the wiring, the input is unknown and nothing is held.
        let mut plain = LimitAlarmsNode::new(&config(), "limit-alarms");
        assert!(plain.wake_interval().is_none());
        assert!(plain.on_input(DELIVERED_INPUT, journaled.as_ref(), &MetadataParameters::default(), 0).is_err());
    }

    #[test]
    fn the_snapshot_names_outcomes_and_alert_kinds() {
        let mut node = LimitAlarmsNode::new(&config(), "limit-alarms");
        node.take_batch(&[reading("spindle_temperature", ReadingValue::Number(81.0), Quality::Good, 1)]);
        let mut snapshot = Snapshot::new("limit-alarms");
        node.metrics(&mut snapshot);
        let names: Vec<String> = snapshot.finish().into_iter().map(|s| s.name).collect();
        for name in ["shopfloor_alarms_readings", "shopfloor_alarms_alerts", "shopfloor_alarms_active"] {
            assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
        }
    }
}
