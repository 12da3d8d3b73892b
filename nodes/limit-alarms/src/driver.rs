//! The node on dora: the shared driver runs [`LimitAlarmsNode`] until dora
//! says stop.

use dora_node_api::{DoraNode, EventStream};
use shopfloor_docs::{AlertResponses, Library, Limits};
use shopfloor_node::clock::now_ms;
use shopfloor_node::driver::SendError;
use shopfloor_node::logging::with_causes;
use shopfloor_node::Driver;

use crate::config::LimitAlarmsConfig;
use crate::kept::KeptAlarms;
use crate::state::{Counts, LimitAlarmsNode, DELIVERED_INPUT};

/// Watches readings until dora stops the node; returns what it counted.
/// Alerts are held until mqtt-sink has journaled them where the dataflow
/// wires its `alerts_accepted` to this node's `delivered` input.
pub fn run(config: &LimitAlarmsConfig, node: DoraNode, events: EventStream) -> Result<Counts, SendError> {
    let dataflow = node.dataflow_id().to_string();
    let hold_alerts = node.node_config().inputs.keys().any(|input| input.as_str() == DELIVERED_INPUT);
    run_in(config, node, events, &dataflow, hold_alerts)
}

/// [`run`] as part of dataflow run `dataflow`: alarm states kept by an earlier
/// process of the same run are taken back (a restart by dora), another run's
/// are not. With `hold_alerts`, each alert is sent again until mqtt-sink
/// has journaled it ([`LimitAlarmsNode::with_delivery`]).
pub fn run_in(
    config: &LimitAlarmsConfig,
    node: DoraNode,
    mut events: EventStream,
    dataflow: &str,
    hold_alerts: bool,
) -> Result<Counts, SendError> {
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
    if hold_alerts {
        state = state.with_delivery();
    }
    if let Some(folder) = &config.docs_dir {
        match Library::open(folder, Limits::default()) {
            Ok((library, report)) => {
                let stats = library.stats();
                tracing::info!(folder = %folder.display(), documents = stats.documents, unreadable = report.unreadable.len(), "alarm responses from the site's documents");
                state = state.with_responses(AlertResponses::new(library, config.docs_rescan, now_ms()));
            }
            // Alerts matter more than their responses: they go out without.
            Err(error) => {
                tracing::error!(error = %with_causes(&error), "cannot read the documents; alerts go out without responses")
            }
        }
    }
    let mut kept = KeptAlarms::new(&config.state_file, dataflow);
    restore(&mut kept, &mut state);
    let mut kept_at = state.counts().alerts_total();
    driver.run_then(&mut events, &mut state, |state| {
        if let Some(scanned) = state.responses_mut().and_then(|responses| responses.rescan_if_due(now_ms())) {
            match scanned {
                Ok(report) => {
                    if report.changed() {
                        tracing::info!(read = ?report.read, removed = ?report.removed, "documents changed");
                    }
                    for (document, why) in report.unreadable.iter().chain(&report.skipped) {
                        tracing::warn!(%document, %why, "document not read");
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %with_causes(&error), "cannot scan the documents folder; keeping what was read")
                }
            }
        }
        // The set changes only with an alert, and is kept once that is sent.
        if state.counts().alerts_total() != kept_at {
            match kept.keep(&state.active_alarms()) {
                Ok(()) => kept_at = state.counts().alerts_total(),
                Err(error) => tracing::error!(error = %with_causes(&error), "cannot keep the alarm states on disk"),
            }
        }
    })?;
    Ok(state.counts().clone())
}

/// Takes back the tags a previous run left beyond a limit. A file that cannot
/// be read is moved aside and the node starts with every tag normal: a tag
/// still beyond its limit is then alerted again, nothing is lost.
fn restore(kept: &mut KeptAlarms, state: &mut LimitAlarmsNode) {
    match kept.load() {
        Ok(active) if active.is_empty() => {}
        Ok(active) => {
            let tags = active.len();
            let unreadable = state.restore(active);
            tracing::info!(tags, ?unreadable, "alarm states of the previous run taken back");
        }
        Err(error) => {
            let aside = kept.path().with_extension("json.unreadable");
            tracing::error!(error = %with_causes(&error), aside = %aside.display(), "alarm states of the previous run lost");
            if let Err(error) = std::fs::rename(kept.path(), &aside) {
                tracing::warn!(%error, "cannot move the unreadable alarm states aside");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use shopfloor_core::schema::{Alert, MetricSample, Reading, ReadingValue, Severity};
    use shopfloor_node::testing::{Outputs, TestRun};

    use super::*;

    fn config() -> LimitAlarmsConfig {
        LimitAlarmsConfig {
            station: "station1".into(),
            line: Some("line1".into()),
            deadband: 0.5,
            critical_margin: Some(5.0),
            high_limits: BTreeMap::from([("spindle_temperature".into(), 80.0)]),
            low_limits: BTreeMap::new(),
            state_file: "out/limit-alarms/active.json".into(),
            docs_dir: None,
            docs_rescan: std::time::Duration::from_secs(5),
        }
    }

    /// The test's config, its alarm states kept in `folder`.
    fn config_in(folder: &tempfile::TempDir) -> LimitAlarmsConfig {
        LimitAlarmsConfig { state_file: folder.path().join("active.json"), ..config() }
    }

    /// The alerts a run sent, in order.
    fn alerts_of(outputs: &Outputs) -> Vec<Alert> {
        outputs.on("alerts").flat_map(|sent| Alert::from_arrow(sent.data.as_ref()).unwrap()).collect()
    }

    /// One spindle temperature reading in dora run `run_id`, then stop.
    fn one_reading(config: &LimitAlarmsConfig, reading: Reading, run_id: &str) -> Outputs {
        TestRun::new("limit-alarms")
            .input(0.0, "readings", Reading::to_arrow(&[reading]))
            .stop(0.05)
            .run(|node, events| run_in(config, node, events, run_id, false))
            .unwrap()
            .1
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
        let folder = tempfile::tempdir().unwrap();
        let (counts, outputs) = TestRun::new("limit-alarms")
            .input(0.00, "readings", Reading::to_arrow(&[temperature(79.0, 1_000), temperature(81.0, 2_000)]))
            .input(0.02, "readings", Reading::to_arrow(&[temperature(86.0, 3_000)]))
            .input(0.04, "readings", Alert::to_arrow(&[Alert::new("a", 1, "s", Severity::Info, "k", "m", "n")]))
            .input(0.06, "readings", Reading::to_arrow(&[temperature(79.0, 4_000)]))
            .tick(0.08, "metrics_tick")
            .stop(0.10)
            .run(|node, events| run(&config_in(&folder), node, events))
            .unwrap();
        let counts = counts.unwrap();
        let alerts = alerts_of(&outputs);
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

    /// Under dora, the node restarted within one dataflow run (as dora does
    /// after a crash): the first process ends with the spindle beyond its
    /// limit; the second, reading the kept states, does not alert the same
    /// excursion again and alerts its return inside the limit. A process of
    /// another dataflow run judges every limit afresh.
    #[test]
    fn an_alarm_active_when_the_node_stopped_is_cleared_by_the_next_run() {
        let folder = tempfile::tempdir().unwrap();
        let config = config_in(&folder);
        assert_eq!(one_reading(&config, temperature(82.0, 1_000), "run-1").on("alerts").count(), 1);
        assert!(config.state_file.exists(), "the alarm is kept on disk");

        let (counts, second_run) = TestRun::new("limit-alarms")
            .input(0.0, "readings", Reading::to_arrow(&[temperature(82.5, 2_000)]))
            .input(0.02, "readings", Reading::to_arrow(&[temperature(79.0, 3_000)]))
            .stop(0.05)
            .run(|node, events| run_in(&config, node, events, "run-1", false))
            .unwrap();
        let alerts = alerts_of(&second_run);
        assert_eq!(alerts.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>(), ["limit_cleared"]);
        assert_eq!(counts.unwrap().active, 0);
        let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&config.state_file).unwrap()).unwrap();
        assert!(kept["active"].as_object().is_some_and(|active| active.is_empty()), "nothing beyond a limit any more");

        // The spindle beyond again, then a new dataflow run: it alerts afresh.
        assert_eq!(one_reading(&config, temperature(83.0, 4_000), "run-1").on("alerts").count(), 1);
        let alerts = alerts_of(&one_reading(&config, temperature(83.5, 5_000), "run-2"));
        assert_eq!(alerts.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>(), ["high_limit"]);
    }
}
