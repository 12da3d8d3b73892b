//! The real server on a loopback port, read and subscribed to with the
//! async-opcua client, as any OPC UA client in the plant would.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use opcua::client::{ClientBuilder, DataChangeCallback, IdentityToken, Session};
use opcua::crypto::SecurityPolicy;
use opcua::types::{
    DataValue, MessageSecurityMode, MonitoredItemCreateRequest, NodeId, ReadValueId, TimestampsToReturn,
    UserTokenPolicy, VariableId, Variant,
};
use plant_sim::cell::SPINDLE_TEMPERATURE_HIGH_LIMIT;
use plant_sim::config::{PlantSimConfig, SimScenario};
use plant_sim::nodes::{CellVariable, Point, NAMESPACE_INDEX, NAMESPACE_URI};
use plant_sim::server::{serve, ServerOptions};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A folder of its own for one test, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("plant-sim-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.0.join(sub)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct RunningServer {
    endpoint: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), plant_sim::server::ServerError>>,
}

async fn start_server(pki_dir: PathBuf, tick_ms: u64) -> RunningServer {
    start_server_with(pki_dir, PlantSimConfig { tick_ms, ..PlantSimConfig::default() }).await
}

async fn start_server_with(pki_dir: PathBuf, config: PlantSimConfig) -> RunningServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = PlantSimConfig { port, ..config };
    let endpoint = config.endpoint_url();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, config, ServerOptions { pki_dir }, async move {
        let _ = stopped.await;
    }));
    RunningServer { endpoint, stop, task }
}

impl RunningServer {
    async fn shut_down(self) {
        let _ = self.stop.send(());
        let result = tokio::time::timeout(TEST_TIMEOUT, self.task).await;
        result.expect("server stops in time").expect("server task").expect("server ends cleanly");
    }
}

/// Connects anonymously with security None, the way the end-to-end test and
/// `opcua-source` do; returns the session and its event loop task.
async fn connect(endpoint: &str, pki_dir: &Path) -> (Arc<Session>, JoinHandle<opcua::types::StatusCode>) {
    let mut client = ClientBuilder::new()
        .application_name("plant-sim test client")
        .application_uri("urn:shopfloor-slm:plant-sim-test")
        .pki_dir(pki_dir)
        .create_sample_keypair(true)
        .trust_server_certs(true)
        .session_retry_limit(3)
        .client()
        .expect("valid client config");
    let (session, event_loop) = client
        .connect_to_matching_endpoint(
            (endpoint, SecurityPolicy::None.to_str(), MessageSecurityMode::None, UserTokenPolicy::anonymous()),
            IdentityToken::Anonymous,
        )
        .await
        .expect("endpoint reachable");
    let event_loop = event_loop.spawn();
    tokio::time::timeout(TEST_TIMEOUT, session.wait_for_connection()).await.expect("connects in time");
    (session, event_loop)
}

async fn read(session: &Session, node_id: NodeId) -> DataValue {
    let mut values =
        session.read(&[ReadValueId::from(node_id)], TimestampsToReturn::Both, 0.0).await.expect("read succeeds");
    values.remove(0)
}

/// The snippet for other tests: read one Double by its node id text.
async fn read_double(session: &Session, node_id: &str) -> f64 {
    let node_id: NodeId = node_id.parse().expect("valid node id");
    let results = session
        .read(&[ReadValueId::from(node_id.clone())], TimestampsToReturn::Both, 0.0)
        .await
        .expect("read succeeds");
    match results.first().and_then(|data_value| data_value.value.as_ref()) {
        Some(Variant::Double(value)) => *value,
        other => panic!("{node_id} is not a Double: {other:?}"),
    }
}

async fn disconnect(session: Arc<Session>, event_loop: JoinHandle<opcua::types::StatusCode>) {
    session.disconnect().await.expect("clean disconnect");
    tokio::time::timeout(TEST_TIMEOUT, event_loop).await.expect("event loop ends").expect("event loop task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cell_variable_reads_with_its_declared_type_in_namespace_two() {
    let scratch = ScratchDir::new("read");
    let server = start_server(scratch.path("server-pki"), 100).await;
    let (session, event_loop) = connect(&server.endpoint, &scratch.path("client-pki")).await;

    let namespaces = read(&session, VariableId::Server_NamespaceArray.into()).await;
    let Some(Variant::Array(namespaces)) = namespaces.value else {
        panic!("namespace array missing: {namespaces:?}");
    };
    let uri = namespaces.values.get(usize::from(NAMESPACE_INDEX)).cloned();
    assert_eq!(uri, Some(Variant::String(NAMESPACE_URI.into())));

    for variable in CellVariable::ALL {
        let value = read(&session, variable.node_id_text().parse().unwrap()).await;
        let data_type = value.value.as_ref().and_then(Variant::data_type).map(|t| t.node_id);
        assert_eq!(data_type, Some(variable.data_type().into()), "{variable:?}: {value:?}");
        assert!(value.source_timestamp.is_some(), "{variable:?} has no source timestamp");
    }
    let limit = read_double(&session, "ns=2;s=Cell1.SpindleTemperatureHighLimit").await;
    assert_eq!(limit, SPINDLE_TEMPERATURE_HIGH_LIMIT);
    let temperature = read_double(&session, "ns=2;s=Cell1.SpindleTemperature").await;
    assert!((55.0..=90.0).contains(&temperature), "{temperature}");

    disconnect(session, event_loop).await;
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_clients_receive_a_data_change_every_tick() {
    let scratch = ScratchDir::new("subscribe");
    let server = start_server(scratch.path("server-pki"), 50).await;
    let (session, event_loop) = connect(&server.endpoint, &scratch.path("client-pki")).await;

    let (changes_tx, mut changes) = mpsc::unbounded_channel::<DataValue>();
    let subscription = session
        .create_subscription(
            Duration::from_millis(100),
            30,
            10,
            0,
            0,
            true,
            DataChangeCallback::new(move |value, _item| {
                let _ = changes_tx.send(value);
            }),
        )
        .await
        .expect("subscription created");
    let speed: NodeId = CellVariable::SpindleSpeed.node_id_text().parse().unwrap();
    let mut request = MonitoredItemCreateRequest::from(speed);
    request.requested_parameters.sampling_interval = 50.0;
    request.requested_parameters.queue_size = 10;
    session
        .create_monitored_items(subscription, TimestampsToReturn::Both, vec![request])
        .await
        .expect("monitored item created");

    // The speed moves on every tick while the cell runs (the first 200 ticks).
    let mut seen = Vec::new();
    tokio::time::timeout(TEST_TIMEOUT, async {
        while seen.len() < 4 {
            let change = changes.recv().await.expect("subscription open");
            seen.push(change);
        }
    })
    .await
    .expect("four data changes in time");
    let distinct_values: std::collections::HashSet<String> = seen.iter().map(|dv| format!("{:?}", dv.value)).collect();
    assert!(distinct_values.len() >= 3, "{seen:?}");
    assert!(seen.iter().all(|dv| dv.source_timestamp.is_some()));

    disconnect(session, event_loop).await;
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_a_bind_error_naming_the_address() {
    let scratch = ScratchDir::new("bind");
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = PlantSimConfig { port, tick_ms: 100, ..PlantSimConfig::default() };
    let options = ServerOptions { pki_dir: scratch.path("server-pki") };
    let err = plant_sim::server::run_with_options(config, options, std::future::pending()).await.unwrap_err();
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
}

/// The stoppage scenario, served: after its start tick the cell reads
/// `STOPPED` and the packaging line's jam alarm is raised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stoppage_scenario_stops_the_cell_and_raises_the_jam_alarm() {
    let scratch = ScratchDir::new("stoppage");
    let config =
        PlantSimConfig { tick_ms: 10, scenario: SimScenario::Stoppage, seed: Some(1), ..PlantSimConfig::default() };
    let server = start_server_with(scratch.path("server-pki"), config).await;
    let (session, event_loop) = connect(&server.endpoint, &scratch.path("client-pki")).await;
    let jam: NodeId = plant_sim::nodes::LineVariable::JamAlarm.node_id_text().parse().unwrap();
    let state: NodeId = CellVariable::MachineState.node_id_text().parse().unwrap();
    let deadline = tokio::time::Instant::now() + TEST_TIMEOUT;
    loop {
        let jammed = read(&session, jam.clone()).await.value == Some(Variant::Boolean(true));
        let stopped = read(&session, state.clone()).await.value == Some(Variant::String("STOPPED".into()));
        if jammed && stopped {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no stoppage within {TEST_TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    disconnect(session, event_loop).await;
    server.shut_down().await;
}
