//! `opcua-source`'s client against the real plant simulator, in-process on a
//! loopback port: all tags arrive, the server may be late, and may restart.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::client::{self, ClientOptions, LinkStatus, SourceError};
use crate::config::{Deadband, Monitoring, OpcuaSourceConfig, TagSpec};
use plant_sim::config::PlantSimConfig;
use plant_sim::nodes::{CellVariable, LineVariable, Point};
use plant_sim::server::{serve, ServerError, ServerOptions};
use shopfloor_core::schema::{Quality, Reading, ReadingValue};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

const TEST_TIMEOUT: Duration = Duration::from_secs(30);
const TICK_MS: u64 = 100;

struct Simulator {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl Simulator {
    /// A simulator on a free loopback port, with its PKI under `scratch`; returns the port too.
    async fn start_fresh(scratch: &TempDir) -> (Self, u16) {
        let listener = free_loopback_listener().await;
        let port = listener.local_addr().unwrap().port();
        (Self::start(listener, scratch.path().join("server-pki")), port)
    }

    fn start(listener: TcpListener, pki_dir: PathBuf) -> Self {
        let port = listener.local_addr().unwrap().port();
        let config = PlantSimConfig { port, tick_ms: TICK_MS, ..PlantSimConfig::default() };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, config, ServerOptions { pki_dir }, async move {
            let _ = stopped.await;
        }));
        Self { stop, task }
    }

    async fn shut_down(self) {
        let _ = self.stop.send(());
        let ended = tokio::time::timeout(TEST_TIMEOUT, self.task).await;
        ended.expect("simulator stops in time").expect("simulator task").expect("simulator ends cleanly");
    }
}

struct Source {
    readings: mpsc::Receiver<Reading>,
    status: watch::Receiver<LinkStatus>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), SourceError>>,
}

impl Source {
    fn start(port: u16, pki_dir: PathBuf) -> Self {
        Self::start_with(port, pki_dir, Monitoring::default())
    }

    fn start_with(port: u16, pki_dir: PathBuf, monitoring_defaults: Monitoring) -> Self {
        Self::start_with_tags(port, pki_dir, monitoring_defaults, simulated_tags())
    }

    fn start_with_tags(port: u16, pki_dir: PathBuf, monitoring_defaults: Monitoring, tags: Vec<TagSpec>) -> Self {
        let config = OpcuaSourceConfig {
            monitoring_defaults,
            publish_interval_ms: TICK_MS,
            reconnect_max_ms: 300,
            ..OpcuaSourceConfig::with_defaults(format!("opc.tcp://127.0.0.1:{port}/"), tags)
        };
        let (readings_tx, readings) = mpsc::channel(4096);
        let (status_tx, status) = watch::channel(LinkStatus::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(client::run(config, ClientOptions { pki_dir }, readings_tx, status_tx, async move {
            let _ = stopped.await;
        }));
        Self { readings, status, stop, task }
    }

    async fn next_reading(&mut self) -> Reading {
        let next = tokio::time::timeout(TEST_TIMEOUT, self.readings.recv()).await;
        next.expect("a reading in time").expect("reading channel open")
    }

    async fn wait_for_status(&mut self, what: &str, condition: impl FnMut(&LinkStatus) -> bool) {
        let reached = tokio::time::timeout(TEST_TIMEOUT, self.status.wait_for(condition)).await;
        reached.unwrap_or_else(|_| panic!("timed out waiting until {what}")).expect("status sender alive");
    }

    fn discard_queued_readings(&mut self) {
        while self.readings.try_recv().is_ok() {}
    }

    async fn shut_down(self) {
        let _ = self.stop.send(());
        let ended = tokio::time::timeout(TEST_TIMEOUT, self.task).await;
        ended.expect("source stops in time").expect("source task").expect("source ends cleanly");
    }
}

/// The simulated cell's tags, with their units and nothing else configured
/// (the driver's test uses them too).
pub(crate) fn simulated_tags() -> Vec<TagSpec> {
    CellVariable::ALL
        .into_iter()
        .filter(|v| v.is_simulated())
        .map(|v| TagSpec {
            tag: v.tag().to_owned(),
            node_id: v.node_id_text(),
            unit: v.unit().map(str::to_owned),
            low_limit: None,
            high_limit: None,
            monitoring: Default::default(),
            description: None,
        })
        .collect()
}

async fn free_loopback_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port")
}

/// A tag with nothing configured but its name and node id.
fn tag(tag: &str, node_id: String) -> TagSpec {
    TagSpec {
        tag: tag.into(),
        node_id,
        unit: None,
        low_limit: None,
        high_limit: None,
        monitoring: Monitoring::default(),
        description: None,
    }
}

fn number(reading: &Reading) -> f64 {
    match reading.value {
        ReadingValue::Number(n) => n,
        ReadingValue::Text(ref t) => panic!("{} is text {t:?}", reading.tag),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_of_all_five_tags_arrive_with_units_and_the_temperature_moves() {
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let (simulator, port) = Simulator::start_fresh(&scratch).await;
    let mut source = Source::start(port, scratch.path().join("client-pki"));

    let mut by_tag: HashMap<String, Vec<Reading>> = HashMap::new();
    let temperature_moved = |by_tag: &HashMap<String, Vec<Reading>>| {
        let temperatures: Vec<f64> = by_tag.get("spindle_temperature").into_iter().flatten().map(number).collect();
        temperatures.iter().any(|t| Some(t) != temperatures.first())
    };
    while by_tag.len() < 5 || !temperature_moved(&by_tag) {
        let reading = source.next_reading().await;
        by_tag.entry(reading.tag.clone()).or_default().push(reading);
    }

    let expected_units = [
        ("spindle_temperature", Some("°C")),
        ("spindle_speed", Some("rpm")),
        ("vibration", Some("mm/s")),
        ("part_count", None),
        ("machine_state", None),
    ];
    for (tag, unit) in expected_units {
        let first = &by_tag[tag][0];
        assert_eq!(first.unit.as_deref(), unit, "{tag}");
        assert_eq!(first.quality, Quality::Good, "{tag}");
        assert_eq!(first.source, format!("opc.tcp://127.0.0.1:{port}/"), "{tag}");
        assert!(first.source_ts_ms.is_some(), "{tag} has no source timestamp");
        assert!(first.received_ts_ms > 0, "{tag}");
    }
    assert!(matches!(&by_tag["machine_state"][0].value, ReadingValue::Text(state) if state == "RUNNING"));
    assert!(number(&by_tag["part_count"][0]) >= 0.0);
    assert!((55.0..=90.0).contains(&number(&by_tag["spindle_temperature"][0])));
    assert!(source.status.borrow().subscribed);

    source.shut_down().await;
    simulator.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_keeps_retrying_while_no_server_listens_and_connects_once_one_appears() {
    let scratch = tempfile::tempdir().expect("a scratch folder");
    // A reserved port that nothing listens on yet.
    let port = shopfloor_node::test_ports::reserve();
    let mut source = Source::start(port, scratch.path().join("client-pki"));

    source.wait_for_status("two connection attempts failed", |s| s.failed_connects >= 2).await;
    assert!(!source.task.is_finished(), "the client gave up without a server");
    assert!(!source.status.borrow().connected);

    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("the port is still free");
    let simulator = Simulator::start(listener, scratch.path().join("server-pki"));
    let reading = source.next_reading().await;
    assert_eq!(reading.quality, Quality::Good);
    assert!(source.status.borrow().connected);

    source.shut_down().await;
    simulator.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_resume_after_the_server_restarts() {
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let (simulator, port) = Simulator::start_fresh(&scratch).await;
    let mut source = Source::start(port, scratch.path().join("client-pki"));
    source.next_reading().await;
    source.wait_for_status("subscribed", |s| s.subscribed).await;

    simulator.shut_down().await;
    source.wait_for_status("the loss is noticed", |s| !s.connected).await;
    source.discard_queued_readings();

    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("the port can be reused");
    let simulator = Simulator::start(listener, scratch.path().join("server-pki"));
    let reading = source.next_reading().await;
    assert_eq!(reading.quality, Quality::Good);
    assert!(source.status.borrow().connects >= 2);

    source.shut_down().await;
    simulator.shut_down().await;
}

/// A deadband wider than any change of the simulated values lets through the
/// first value of each tag and then nothing, while the same tags without one
/// change every tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absolute_deadband_holds_back_small_changes() {
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let (simulator, port) = Simulator::start_fresh(&scratch).await;
    let wide = Monitoring { deadband: Some(Deadband::Absolute(1e12)), ..Monitoring::default() };
    let mut filtered = Source::start_with(port, scratch.path().join("client-pki-1"), wide);
    let mut unfiltered = Source::start(port, scratch.path().join("client-pki-2"));
    filtered.wait_for_status("subscribed", |s| s.subscribed).await;
    unfiltered.wait_for_status("subscribed", |s| s.subscribed).await;
    tokio::time::sleep(Duration::from_millis(TICK_MS * 10)).await;

    let drain = |source: &mut Source| std::iter::from_fn(|| source.readings.try_recv().ok()).collect::<Vec<_>>();
    // A deadband is defined for numbers only: plant-sim (async-opcua's server)
    // then reports every write of the text tag, so only numbers are counted.
    let numbers =
        |readings: Vec<Reading>| readings.into_iter().filter(|r| matches!(r.value, ReadingValue::Number(_))).count();
    let (with_deadband, without) = (numbers(drain(&mut filtered)), numbers(drain(&mut unfiltered)));
    let numeric_tags = 4; // spindle temperature and speed, vibration, part count
    assert!(with_deadband <= numeric_tags, "{with_deadband} readings through a deadband wider than any change");
    assert!(without > 3 * numeric_tags, "only {without} readings without a deadband");

    filtered.shut_down().await;
    unfiltered.shut_down().await;
    simulator.shut_down().await;
}

/// Tags by namespace URI resolve against the server's table, tags by browse
/// path by browsing from Objects; a node the
/// server does not have and a namespace it does not know are refused for
/// those tags alone (a bad reading naming the status code) while the others
/// deliver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_uris_resolve_and_unknown_nodes_do_not_stop_the_others() {
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let (simulator, port) = Simulator::start_fresh(&scratch).await;
    let tags = vec![
        tag("by_uri", format!("nsu={};s=Cell1.SpindleTemperature", plant_sim::nodes::NAMESPACE_URI)),
        tag("missing_node", "ns=2;s=Cell1.NoSuchThing".into()),
        tag("missing_namespace", "nsu=urn:no-such-namespace;s=Cell1.SpindleSpeed".into()),
        tag("by_index", CellVariable::SpindleSpeed.node_id_text()),
        tag("by_path", "/Cell1/Vibration".into()),
        tag("missing_path", "/Cell1/NoSuchThing".into()),
    ];
    let mut source = Source::start_with_tags(port, scratch.path().join("client-pki"), Monitoring::default(), tags);
    source.wait_for_status("subscribed", |s| s.subscribed).await;
    let (mut good, mut bad) = (std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
    for _ in 0..30 {
        let reading = source.next_reading().await;
        if reading.quality == Quality::Good {
            good.insert(reading.tag)
        } else {
            bad.insert(reading.tag)
        };
    }
    assert_eq!(good.into_iter().collect::<Vec<_>>(), ["by_index", "by_path", "by_uri"]);
    // The refused tags say so with a bad reading carrying the status code.
    assert!(bad.iter().all(|tag| tag.starts_with("missing_")), "{bad:?}");

    source.shut_down().await;
    simulator.shut_down().await;
}

/// In polling mode the same tags are read every interval without a
/// subscription, and their changes arrive as readings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polled_tags_deliver_their_changes_without_a_subscription() {
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let (simulator, port) = Simulator::start_fresh(&scratch).await;
    let polled = Monitoring { poll_ms: Some(TICK_MS), ..Monitoring::default() };
    let mut source = Source::start_with(port, scratch.path().join("client-pki"), polled);
    let mut temperatures = Vec::new();
    while temperatures.len() < 3 {
        let reading = source.next_reading().await;
        assert_eq!(reading.quality, Quality::Good);
        if reading.tag == "spindle_temperature" {
            temperatures.push(number(&reading));
        }
    }
    assert!(temperatures.windows(2).all(|pair| pair[0] != pair[1]), "only changes are reported: {temperatures:?}");
    assert!(!source.status.borrow().subscribed, "polling must not subscribe");

    source.shut_down().await;
    simulator.shut_down().await;
}

/// Units the tag list leaves open come from the server's node properties
/// (configured ones win), EURanges always, alarm limits never; the packaging line is served next to the
/// cell, and a percent deadband works on a node with an EURange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_and_eu_ranges_come_from_the_server_and_the_packaging_line_is_served() {
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let (simulator, port) = Simulator::start_fresh(&scratch).await;
    let tags = vec![
        tag("temperature", CellVariable::SpindleTemperature.node_id_text()),
        TagSpec {
            unit: Some("degC".into()),
            high_limit: Some(80.0),
            ..tag("configured", CellVariable::SpindleTemperature.node_id_text())
        },
        tag("conveyor", "/Line1/ConveyorSpeed".into()),
        TagSpec {
            monitoring: Monitoring { deadband: Some(Deadband::Percent(0.1)), ..Monitoring::default() },
            ..tag("fill_weight", LineVariable::FillWeight.node_id_text())
        },
        tag("jam_alarm", LineVariable::JamAlarm.node_id_text()),
    ];
    let mut source = Source::start_with_tags(port, scratch.path().join("client-pki"), Monitoring::default(), tags);
    let mut first: HashMap<String, Reading> = HashMap::new();
    while first.len() < 5 {
        let reading = source.next_reading().await;
        assert_eq!(reading.quality, Quality::Good, "{reading:?}");
        first.entry(reading.tag.clone()).or_insert(reading);
    }
    let scale = |tag: &str| {
        let r = &first[tag];
        (r.unit.clone(), r.eu_low, r.eu_high, r.low_limit, r.high_limit)
    };
    assert_eq!(scale("temperature"), (Some("°C".into()), Some(0.0), Some(150.0), None, None));
    assert_eq!(scale("configured"), (Some("degC".into()), Some(0.0), Some(150.0), None, Some(80.0)));
    assert_eq!(scale("conveyor"), (Some("m/min".into()), Some(0.0), Some(60.0), None, None));
    assert_eq!(scale("fill_weight"), (Some("g".into()), Some(0.0), Some(1000.0), None, None));
    assert_eq!(number(&first["jam_alarm"]), 0.0, "the line runs in the normal scenario");
    assert_eq!(first["jam_alarm"].value_type.as_deref(), Some("Boolean"));

    source.shut_down().await;
    simulator.shut_down().await;
}
