//! The node on dora. dora's events and the judge's results meet in one
//! bounded channel, so only this thread touches the dora node; the judge
//! runs on its own thread ([`crate::worker`]). Crops are stored here.

use std::sync::mpsc::{sync_channel, RecvTimeoutError};

use dora_node_api::{DoraNode, EventStream};
use shopfloor_docs::{AlertResponses, Library, Limits};
use shopfloor_node::clock::now_ms;
use shopfloor_node::driver::{forward_dora_events, DoraSide, SendError};
use shopfloor_node::{Driver, Flow, NodeLogic};

use crate::config::VlmInspectorConfig;
use crate::crop::{store_crop, CropRetention};
use crate::judge::{Judge, NotJudged};
use crate::state::{InspectorState, Prepared, DELIVERED_INPUT};
use crate::worker::{Done, JudgePanicked, Worker};

/// Room for dora's events and judged frames waiting for this thread.
const CHANNEL_CAPACITY: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Send(#[from] SendError),
    #[error("cannot start a thread of the node")]
    Thread(#[source] std::io::Error),
    #[error(transparent)]
    JudgePanicked(#[from] JudgePanicked),
    #[error("the thread reading dora's events panicked")]
    EventsPanicked,
}

/// What the node did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub flagged: u64,
    pub busy: u64,
    pub alerts: u64,
}

enum NodeEvent {
    Dora(DoraSide),
    Judged(Done),
}

impl From<DoraSide> for NodeEvent {
    fn from(side: DoraSide) -> Self {
        NodeEvent::Dora(side)
    }
}

/// Runs until dora stops the node; `judge` is `None` when no model is
/// configured (every alert then says `not_judged: no model configured`).
/// Every frame already queued is judged and alerted before it returns.
/// Alerts are held until mqtt-sink has journaled them where the dataflow
/// wires its `alerts_accepted` to this node's `delivered` input.
pub fn run(
    config: &VlmInspectorConfig,
    judge: Option<Box<dyn Judge>>,
    node: DoraNode,
    events: EventStream,
) -> Result<Summary, NodeError> {
    let hold_alerts = node.node_config().inputs.keys().any(|input| input.as_str() == DELIVERED_INPUT);
    run_holding(config, judge, node, events, hold_alerts)
}

/// [`run`], holding each alert until mqtt-sink has journaled it when
/// `hold_alerts` ([`InspectorState::with_delivery`]).
pub fn run_holding(
    config: &VlmInspectorConfig,
    judge: Option<Box<dyn Judge>>,
    node: DoraNode,
    events: EventStream,
    hold_alerts: bool,
) -> Result<Summary, NodeError> {
    let (tx, rx) = sync_channel::<NodeEvent>(CHANNEL_CAPACITY);
    let dora_thread = forward_dora_events(events, tx.clone()).map_err(NodeError::Thread)?;
    let mut worker = match judge {
        Some(judge) => {
            let judged = tx.clone();
            let done = move |done| {
                // The receiver is gone only when the node failed already.
                let _ = judged.send(NodeEvent::Judged(done));
            };
            Some(Worker::start(judge, config.queue_capacity, done).map_err(NodeError::Thread)?)
        }
        None => None,
    };
    // From here the channel ends when both threads have.
    drop(tx);
    let mut driver = Driver::new(node);
    let mut crops = CropRetention::new(config.crops_keep, CropRetention::existing_crops(&config.crops_dir));
    let mut state = InspectorState::new(config);
    if hold_alerts {
        state = state.with_delivery();
    }
    if let Some(folder) = &config.docs_dir {
        match Library::open(folder, Limits::default()) {
            Ok((library, _)) => {
                tracing::info!(folder = %folder.display(), documents = library.stats().documents, "defect responses from the site's documents");
                state = state.with_responses(AlertResponses::new(library, config.docs_rescan, now_ms()));
            }
            // Alerts matter more than their responses: they go out without.
            Err(error) => tracing::error!(%error, "cannot read the documents; alerts go out without responses"),
        }
    }
    loop {
        let event = match state.wake_interval() {
            Some(interval) => match rx.recv_timeout(interval) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout) => {
                    driver.send_all(state.on_wake(now_ms()))?;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(event) => event,
                Err(_) => break,
            },
        };
        if let Some(Err(error)) = state.responses_mut().and_then(|responses| responses.rescan_if_due(now_ms())) {
            tracing::warn!(%error, "cannot scan the documents folder; keeping what was read");
        }
        match event {
            NodeEvent::Dora(DoraSide::Event(event)) => {
                let flow = driver.step(event, &mut state)?;
                for prepared in state.take_pending() {
                    dispatch(config, &mut driver, &mut state, &mut crops, worker.as_ref(), prepared)?;
                }
                if flow == Flow::Stop {
                    break;
                }
            }
            NodeEvent::Dora(DoraSide::Closed) => break,
            NodeEvent::Judged(done) => driver.send(state.alert(&done, now_ms()))?,
        }
        // Held alerts come due whether or not the channel is quiet.
        driver.send_all(state.on_wake(now_ms()))?;
    }
    if let Some(worker) = worker.as_mut() {
        worker.close();
    }
    // The judge works through its queue; each result comes here.
    for event in rx.iter() {
        if let NodeEvent::Judged(done) = event {
            driver.send(state.alert(&done, now_ms()))?;
        }
    }
    if let Some(worker) = worker {
        worker.finish()?;
    }
    dora_thread.join().map_err(|_| NodeError::EventsPanicked)?;
    driver.send_metrics(|snapshot| shopfloor_node::NodeLogic::metrics(&state, snapshot))?;
    let counts = state.counts();
    Ok(Summary { flagged: counts.flagged, busy: counts.busy, alerts: counts.alerts.values().sum() })
}

/// Stores a frame's crop (removing the oldest beyond `VLM_CROPS_KEEP`) and
/// queues it for the judge; a frame no judge takes gets its alert at once.
fn dispatch(
    config: &VlmInspectorConfig,
    driver: &mut Driver,
    state: &mut InspectorState,
    crops: &mut CropRetention,
    worker: Option<&Worker>,
    prepared: Prepared,
) -> Result<(), SendError> {
    let image_ref =
        match store_crop(&config.crops_dir, &prepared.flagged.frame_id, prepared.crop.clone(), prepared.rect) {
            Ok(path) => {
                for old in crops.stored(path.clone()) {
                    match std::fs::remove_file(&old) {
                        Ok(()) => state.crop_removed(),
                        // Gone already (removed by hand): nothing to do.
                        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                        Err(error) => tracing::warn!(crop = %old.display(), %error, "cannot remove an old crop"),
                    }
                }
                Some(path.display().to_string())
            }
            Err(error) => {
                state.crop_failed(&error);
                None
            }
        };
    let Some(worker) = worker else {
        return driver.send(state.not_judged(prepared.flagged, image_ref, NotJudged::NoModel, now_ms()));
    };
    match worker.submit(state.job(prepared, image_ref)) {
        Ok(()) => Ok(()),
        Err(job) => driver.send(state.not_judged(job.flagged, job.image_ref, NotJudged::Busy, now_ms())),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use shopfloor_core::schema::{Alert, Inspection, MetricSample, Region, Severity};
    use shopfloor_node::testing::TestRun;
    use slm_engine::VisionImage;

    use super::*;
    use crate::judge::Judgement;
    use crate::verdict::Verdict;

    fn config(crops: &Path) -> VlmInspectorConfig {
        VlmInspectorConfig {
            profile_path: "profile.toml".into(),
            model_path: None,
            mmproj_path: None,
            max_tokens: 160,
            queue_capacity: 2,
            crops_dir: crops.to_owned(),
            crops_keep: 10_000,
            crop_margin: 8,
            send_crop: true,
            threads: None,
            docs_dir: None,
            docs_rescan: std::time::Duration::from_secs(5),
        }
    }

    /// A 64x48 frame with a dark stripe, flagged around it.
    fn flagged(frame_id: &str) -> Inspection {
        let rgb = (0..48u32)
            .flat_map(|y| {
                (0..64u32).flat_map(move |x| if (20..24).contains(&y) { [30, 30, 30] } else { [180, x as u8, 120] })
            })
            .collect();
        Inspection {
            frame_id: frame_id.into(),
            ts_ms: 1_764_000_000_000,
            station: "station3".into(),
            line: "line1".into(),
            width: 64,
            height: 48,
            score: 9.0,
            threshold: 4.0,
            regions: vec![Region { x: 16, y: 18, width: 32, height: 8, score: 9.0 }],
            rgb,
        }
    }

    fn alerts(outputs: &shopfloor_node::testing::Outputs) -> Vec<Alert> {
        outputs.on("alerts").flat_map(|sent| Alert::from_arrow(sent.data.as_ref()).unwrap()).collect()
    }

    /// Sees a scratch in every image, at once.
    struct Certain;

    impl Judge for Certain {
        fn judge(&mut self, image: VisionImage<'_>, _instruction: &str) -> Judgement {
            assert_eq!(image.rgb.len(), (image.width * image.height * 3) as usize);
            let verdict = Verdict {
                defect: true,
                kind: "scratch".into(),
                location: "center".into(),
                severity: Severity::Critical,
                description: "Dark stripe across the plate.".into(),
            };
            Judgement::Judged { verdict, confidence: 0.9, model: "certain".into(), latency_ms: 1 }
        }
    }

    /// Without a model every flagged frame still gets its alert, with its
    /// crop stored; a malformed batch is refused and counted.
    #[test]
    fn without_a_model_each_flagged_frame_is_alerted_not_judged() {
        let crops = tempfile::tempdir().unwrap();
        let (summary, outputs) = TestRun::new("vlm-inspector")
            .input(0.0, "inspections", Inspection::to_arrow(&[flagged("cam1-000001"), flagged("cam1-000002")]))
            .input(0.02, "inspections", Alert::to_arrow(&[Alert::new("a", 1, "s", Severity::Info, "k", "m", "n")]))
            .tick(0.04, "metrics_tick")
            .stop(0.06)
            .run(|node, events| run(&config(crops.path()), None, node, events))
            .unwrap();
        assert_eq!(summary.unwrap(), Summary { flagged: 2, busy: 0, alerts: 2 });
        let alerts = alerts(&outputs);
        assert_eq!(alerts.len(), 2);
        for alert in &alerts {
            assert_eq!(alert.verdict.as_deref(), Some("not_judged: no model configured"));
            let crop = PathBuf::from(alert.image_ref.as_deref().unwrap());
            assert!(crop.starts_with(crops.path()), "{crop:?}");
            assert_eq!(image::open(&crop).unwrap().to_rgb8().dimensions(), (48, 24));
        }
        let snapshots: Vec<Vec<MetricSample>> =
            outputs.on("metrics").map(|sent| MetricSample::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(snapshots.len(), 2, "one on the tick, one at stop");
        let rejected =
            snapshots[0].iter().find(|s| s.name == "shopfloor_rejected_inputs").expect("rejections reported");
        assert_eq!((rejected.labels[0].1.as_str(), rejected.value), ("schema", 1.0));
    }

    /// A judge's verdicts come back through the channel and become alerts;
    /// frames still queued at stop are judged before the node ends.
    #[test]
    fn the_judges_verdicts_become_alerts_before_the_node_ends() {
        let crops = tempfile::tempdir().unwrap();
        let (summary, outputs) = TestRun::new("vlm-inspector")
            .input(0.0, "inspections", Inspection::to_arrow(&[flagged("cam1-000001")]))
            .input(0.05, "inspections", Inspection::to_arrow(&[flagged("cam1-000002")]))
            .stop(0.1)
            .run(|node, events| run(&config(crops.path()), Some(Box::new(Certain)), node, events))
            .unwrap();
        assert_eq!(summary.unwrap().alerts, 2);
        let alerts = alerts(&outputs);
        let frames: Vec<&str> = alerts.iter().filter_map(|a| a.frame_id.as_deref()).collect();
        assert_eq!(frames.len(), 2, "{alerts:?}");
        assert!(alerts.iter().all(|a| a.verdict.as_deref() == Some("defect") && a.kind == "scratch"), "{alerts:?}");
        assert_eq!(outputs.ids().last(), Some(&"metrics"), "the last snapshot after every alert");
    }

    /// Held alerts come due while the node waits: the one mqtt-sink never
    /// names is sent again on `alerts_again`, the journaled one is not.
    #[test]
    fn an_alert_the_sink_has_not_journaled_is_sent_again_to_it() {
        let crops = tempfile::tempdir().unwrap();
        let journaled = shopfloor_core::schema::Accepted {
            id: "alert-cam1-000002".into(),
            origin: shopfloor_core::schema::Origin::Mqtt,
        };
        let (summary, outputs) = TestRun::new("vlm-inspector")
            .input(0.0, "inspections", Inspection::to_arrow(&[flagged("cam1-000001"), flagged("cam1-000002")]))
            .input(0.3, "delivered", shopfloor_core::schema::Accepted::to_arrow(&[journaled]))
            .declare_output("alerts_again")
            // Keeps the node's sends flowing (dora's testing daemon holds them
            // while it waits for the next scripted event).
            .ticks(0.1, 2.7, "metrics_tick")
            .stop(2.8)
            .run(|node, events| run_holding(&config(crops.path()), None, node, events, true))
            .unwrap();
        assert_eq!(summary.unwrap().alerts, 2);
        assert_eq!(alerts(&outputs).len(), 2, "each once on alerts");
        let again: Vec<Alert> =
            outputs.on("alerts_again").flat_map(|sent| Alert::from_arrow(sent.data.as_ref()).unwrap()).collect();
        let ids: Vec<&str> = again.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["alert-cam1-000001"], "only the unjournaled one, once within 2.8 s");
    }

    /// Crops beyond `VLM_CROPS_KEEP` are removed oldest first, counting
    /// those an earlier run of the node left in the folder.
    #[test]
    fn only_the_newest_crops_are_kept() {
        let crops = tempfile::tempdir().unwrap();
        let earlier = crops.path().join("cam1-000000.png");
        std::fs::write(&earlier, b"a crop of an earlier run").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options().write(true).open(&earlier).unwrap().set_modified(old).unwrap();
        let config = VlmInspectorConfig { crops_keep: 2, ..config(crops.path()) };
        let (summary, _) = TestRun::new("vlm-inspector")
            .input(0.0, "inspections", Inspection::to_arrow(&[flagged("cam1-000001"), flagged("cam1-000002")]))
            .stop(0.05)
            .run(|node, events| run(&config, None, node, events))
            .unwrap();
        assert_eq!(summary.unwrap().alerts, 2);
        let mut left: Vec<String> = std::fs::read_dir(crops.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["cam1-000001.png", "cam1-000002.png"]);
    }
}
