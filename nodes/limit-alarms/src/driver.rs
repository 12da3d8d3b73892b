//! The node on dora: the shared driver runs [`LimitAlarmsNode`] until dora
//! says stop.

use dora_node_api::{DoraNode, EventStream};
use shopfloor_node::driver::SendError;
use shopfloor_node::Driver;

use crate::config::LimitAlarmsConfig;
use crate::state::{Counts, LimitAlarmsNode};

/// Watches readings until dora stops the node; returns what it counted.
pub fn run(config: &LimitAlarmsConfig, node: DoraNode, mut events: EventStream) -> Result<Counts, SendError> {
    tracing::info!(
        station = %config.station,
        deadband = config.deadband,
        critical_margin = ?config.critical_margin,
        high_limits = ?config.high_limits,
        low_limits = ?config.low_limits,
        "watching limits"
    );
    let mut driver = Driver::new(node);
    let mut state = LimitAlarmsNode::new(config, driver.node_id());
    driver.run(&mut events, &mut state)?;
    Ok(state.counts().clone())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use shopfloor_core::schema::{Alert, MetricSample, Reading, ReadingValue, Severity};
    use shopfloor_node::testing::TestRun;

    use super::*;

    fn config() -> LimitAlarmsConfig {
        LimitAlarmsConfig {
            station: "station1".into(),
            line: Some("line1".into()),
            deadband: 0.5,
            critical_margin: Some(5.0),
            high_limits: BTreeMap::from([("spindle_temperature".into(), 80.0)]),
            low_limits: BTreeMap::new(),
        }
    }

    fn temperature(value: f64, ts_ms: i64) -> Reading {
        Reading::good(
            "opc",
            "spindle_temperature".into(),
            ReadingValue::Number(value),
            Some("°C".into()),
            Some(ts_ms),
            ts_ms,
        )
    }

    /// Under dora: an excursion raises a warning, a deeper one a critical,
    /// the return an info alert, each in its own message on `alerts`; a
    /// malformed input is refused and counted, and the metrics snapshot on
    /// the tick and at stop carries the counts.
    #[test]
    fn readings_become_alerts_and_bad_inputs_are_counted() {
        let (counts, outputs) = TestRun::new("limit-alarms")
            .input(0.00, "readings", Reading::to_arrow(&[temperature(79.0, 1_000), temperature(81.0, 2_000)]))
            .input(0.02, "readings", Reading::to_arrow(&[temperature(86.0, 3_000)]))
            .input(0.04, "readings", Alert::to_arrow(&[Alert::new("a", 1, "s", Severity::Info, "k", "m", "n")]))
            .input(0.06, "readings", Reading::to_arrow(&[temperature(79.0, 4_000)]))
            .tick(0.08, "metrics_tick")
            .stop(0.10)
            .run(|node, events| run(&config(), node, events))
            .unwrap();
        let counts = counts.unwrap();
        let alerts: Vec<Alert> =
            outputs.on("alerts").flat_map(|sent| Alert::from_arrow(sent.data.as_ref()).unwrap()).collect();
        let seen: Vec<(Severity, &str)> = alerts.iter().map(|a| (a.severity, a.kind.as_str())).collect();
        assert_eq!(
            seen,
            [(Severity::Warning, "high_limit"), (Severity::Critical, "high_limit"), (Severity::Info, "limit_cleared")]
        );
        assert_eq!(counts.alerts_total(), 3);

        let snapshots: Vec<Vec<MetricSample>> =
            outputs.on("metrics").map(|sent| MetricSample::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(snapshots.len(), 2, "one on the tick, one at stop");
        let rejected =
            snapshots[0].iter().find(|s| s.name == "shopfloor_rejected_inputs").expect("rejections reported");
        assert_eq!((rejected.labels[0].1.as_str(), rejected.value), ("schema", 1.0));
        assert!(snapshots[0].iter().any(|s| s.name == "shopfloor_alarms_alerts"));
    }
}
