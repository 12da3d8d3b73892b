//! The node's loop: reading batches in, alert batches out, metrics when asked.

use std::collections::BTreeMap;

use crate::config::LimitAlarmsConfig;
use dora_node_api::arrow_v59::array::{Array, ArrayRef};
use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters};
use shopfloor_core::schema::{Alert, MetricSample, Reading, SchemaError};
use shopfloor_node::metrics::{Snapshot, METRICS_OUTPUT, METRICS_TICK_INPUT};

use crate::alarms::Alarms;

/// Input ids starting with this carry `reading` batches (`readings`,
/// `readings_mqtt`, …).
pub const READINGS_INPUT: &str = "readings";
/// Alerts out.
pub const ALERTS_OUTPUT: &str = "alerts";

/// Why the node could not go on.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// dora refused an output.
    #[error("cannot send {output}: {message}")]
    Send {
        /// The output.
        output: &'static str,
        /// dora's reason.
        message: String,
    },
}

/// What the node counted.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    /// Readings by what became of them ([`crate::Outcome::as_str`]).
    pub readings: BTreeMap<&'static str, u64>,
    /// Alerts sent, by severity and kind.
    pub alerts: BTreeMap<(&'static str, String), u64>,
    /// Inputs refused: `schema` (not a reading batch), `unknown_input`.
    pub rejected_inputs: BTreeMap<&'static str, u64>,
    /// Tags beyond a limit now.
    pub active: usize,
}

impl Counts {
    /// Alerts sent in all.
    pub fn alerts_total(&self) -> u64 {
        self.alerts.values().sum()
    }

    fn snapshot(&self, node: &str) -> Vec<MetricSample> {
        let mut snapshot = Snapshot::new(node);
        for (outcome, count) in &self.readings {
            snapshot.counter(
                "shopfloor_alarms_readings",
                "Readings taken, by outcome",
                &[("outcome", outcome)],
                *count,
            );
        }
        for ((severity, kind), count) in &self.alerts {
            snapshot.counter(
                "shopfloor_alarms_alerts",
                "Alerts sent, by severity and kind",
                &[("severity", severity), ("kind", kind)],
                *count,
            );
        }
        snapshot.gauge("shopfloor_alarms_active", "Tags beyond an alarm limit now", &[], self.active as f64);
        for (reason, count) in &self.rejected_inputs {
            snapshot.counter("shopfloor_rejected_inputs", "Inputs refused, by reason", &[("reason", reason)], *count);
        }
        snapshot.process_memory();
        snapshot.finish()
    }
}

/// Takes one `reading` batch, in order: the alerts it raises, counted.
pub fn take_batch(alarms: &mut Alarms, counts: &mut Counts, data: &dyn Array) -> Result<Vec<Alert>, SchemaError> {
    let readings = Reading::from_arrow(data)?;
    let mut alerts = Vec::new();
    for reading in &readings {
        *counts.readings.entry(alarms.observe(reading, &mut alerts).as_str()).or_default() += 1;
    }
    for alert in &alerts {
        *counts.alerts.entry((alert.severity.as_str(), alert.kind.clone())).or_default() += 1;
    }
    counts.active = alarms.active();
    Ok(alerts)
}

/// Watches readings until dora stops the node.
pub fn run(
    config: &LimitAlarmsConfig,
    node_id: &str,
    mut node: DoraNode,
    mut events: EventStream,
) -> Result<Counts, NodeError> {
    tracing::info!(
        station = %config.station,
        deadband = config.deadband,
        critical_margin = ?config.critical_margin,
        high_limits = ?config.high_limits,
        low_limits = ?config.low_limits,
        "watching limits"
    );
    let mut alarms = Alarms::new(config, node_id);
    let mut counts = Counts::default();
    while let Some(event) = events.recv() {
        match event {
            Event::Input { id, data, .. } => match id.as_str() {
                METRICS_TICK_INPUT => {
                    send(&mut node, METRICS_OUTPUT, MetricSample::to_arrow(&counts.snapshot(node_id)))?
                }
                input if input.starts_with(READINGS_INPUT) => {
                    match take_batch(&mut alarms, &mut counts, data.as_array().as_ref()) {
                        Ok(alerts) => send_alerts(&mut node, &alerts)?,
                        Err(error) => {
                            let count = counts.rejected_inputs.entry("schema").or_default();
                            *count += 1;
                            tracing::warn!(input, %error, rejected = *count, "input is not a reading batch");
                        }
                    }
                }
                other => {
                    *counts.rejected_inputs.entry("unknown_input").or_default() += 1;
                    tracing::warn!(input = other, "unknown input (expected `readings*` or `metrics_tick`)");
                }
            },
            Event::Stop(_) => break,
            _ => {}
        }
    }
    send(&mut node, METRICS_OUTPUT, MetricSample::to_arrow(&counts.snapshot(node_id)))?;
    Ok(counts)
}

/// Logs and sends a batch's alerts, if it raised any.
fn send_alerts(node: &mut DoraNode, alerts: &[Alert]) -> Result<(), NodeError> {
    if alerts.is_empty() {
        return Ok(());
    }
    for alert in alerts {
        let severity = alert.severity.as_str();
        tracing::info!(id = %alert.id, %severity, kind = %alert.kind, text = %alert.message, "alert");
    }
    send(node, ALERTS_OUTPUT, Alert::to_arrow(alerts))
}

fn send(node: &mut DoraNode, output: &'static str, data: ArrayRef) -> Result<(), NodeError> {
    node.send_output(DataId::from(output.to_owned()), MetadataParameters::default(), data)
        .map_err(|e| NodeError::Send { output, message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopfloor_core::schema::{Quality, ReadingValue, Severity};

    fn config() -> LimitAlarmsConfig {
        LimitAlarmsConfig {
            station: "station1".into(),
            line: None,
            deadband: 0.5,
            critical_margin: None,
            high_limits: BTreeMap::from([("spindle_temperature".into(), 80.0)]),
            low_limits: BTreeMap::new(),
        }
    }

    fn reading(tag: &str, value: ReadingValue, quality: Quality, ts_ms: i64) -> Reading {
        Reading { quality, ..Reading::good("opc", tag.into(), value, Some("°C".into()), Some(ts_ms), ts_ms + 5) }
    }

    #[test]
    fn a_decoded_batch_is_taken_in_order_and_counted() {
        let mut alarms = Alarms::new(&config(), "limit-alarms");
        let mut counts = Counts::default();
        let batch = Reading::to_arrow(&[
            reading("spindle_temperature", ReadingValue::Number(81.0), Quality::Good, 1),
            reading("spindle_temperature", ReadingValue::Number(95.0), Quality::Bad, 2),
            reading("machine_state", ReadingValue::Text("RUNNING".into()), Quality::Good, 2),
            reading("spindle_speed", ReadingValue::Number(12_000.0), Quality::Good, 2),
        ]);
        let alerts = take_batch(&mut alarms, &mut counts, batch.as_ref()).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!((alerts[0].severity, alerts[0].ts_ms), (Severity::Warning, 1));
        let readings: Vec<(&str, u64)> = counts.readings.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(readings, [("bad_quality", 1), ("checked", 1), ("no_limit", 1), ("text", 1)]);
        assert_eq!(counts.alerts_total(), 1);
        assert_eq!(counts.active, 1);
    }

    #[test]
    fn an_array_that_is_not_a_reading_batch_is_an_error_not_a_panic() {
        let mut alarms = Alarms::new(&config(), "limit-alarms");
        let mut counts = Counts::default();
        let alerts = Alert::to_arrow(&[Alert::new("a", 1, "s", Severity::Info, "k", "m", "n")]);
        assert!(take_batch(&mut alarms, &mut counts, alerts.as_ref()).is_err());
        assert!(counts.readings.is_empty());
    }

    #[test]
    fn the_snapshot_names_outcomes_and_alert_kinds() {
        let mut counts = Counts::default();
        counts.readings.insert("checked", 3);
        counts.alerts.insert(("warning", "high_limit".into()), 1);
        counts.active = 1;
        let names: Vec<String> = counts.snapshot("limit-alarms").into_iter().map(|s| s.name).collect();
        for name in ["shopfloor_alarms_readings", "shopfloor_alarms_alerts", "shopfloor_alarms_active"] {
            assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
        }
    }
}
