//! The OPC UA client: connects (and keeps reconnecting) to the configured
//! endpoint, subscribes to every tag, and pushes readings into a channel.
//!
//! Reconnecting is async-opcua's session event loop: exponential backoff up to
//! `reconnect_max_ms`, forever, with the subscription transferred or re-created
//! on the new session. A server that is absent at start or goes away is logged,
//! never fatal.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

// `futures` through dora-node-api's re-export: the same crate async-opcua uses,
// without a new dependency just for `StreamExt::next`.
use crate::config::{Monitoring, OpcuaClientSecurity, OpcuaSourceConfig};
use crate::security::IdentityError;
use dora_node_api::futures::StreamExt;
use opcua::client::transport::TcpConnector;
use opcua::client::{Client, ClientBuilder, Session, SessionEventLoop, SessionPollResult};
use opcua::crypto::SecurityPolicy;
use opcua::types::{EndpointDescription, MessageSecurityMode, UserTokenPolicy};
use shopfloor_core::schema::{LinkState, Reading};
use shopfloor_opcua::UserIdentity;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use crate::properties::RefreshedProperties;
use crate::security::{self, EndpointProblem};
use crate::subscription::{subscribe, ReadingSink};
use crate::tags::{parse_tags, InvalidNodeId, MonitoredTag};

/// Longest wait for a graceful session close on shutdown.
const DISCONNECT_GRACE: Duration = Duration::from_secs(2);
/// First wait between reconnect attempts (capped by `reconnect_max_ms`).
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(250);
/// Longest wait for the server's endpoint list.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Message limits well above async-opcua's defaults (1000 array elements,
/// 5 chunks of 64 KiB), which a publish of a few thousand changed tags exceeds.
const MAX_ARRAY_LENGTH: usize = 1_000_000;
const MAX_CHUNK_COUNT: usize = 1024;
const MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// Settings that are not part of the dataflow configuration.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Folder for the client's own key pair (created when missing) and the
    /// server certificates it has seen, when `OPCUA_PKI_DIR` is not set.
    pub pki_dir: PathBuf,
}

impl Default for ClientOptions {
    /// A PKI folder under the system temp dir: with security policy None the
    /// key pair protects nothing, and a fresh machine needs no set-up.
    fn default() -> Self {
        Self { pki_dir: std::env::temp_dir().join("shopfloor-slm").join("opcua-source-pki") }
    }
}

/// How the link to the server is doing, for the `status` output, logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStatus {
    /// Connecting, connected, just lost, or failing to reconnect.
    pub state: LinkState,
    /// Why, when not connected: the status code of the last failure.
    pub reason: Option<String>,
    /// A session is active right now.
    pub connected: bool,
    /// The subscription exists (the library keeps it across reconnects).
    pub subscribed: bool,
    /// Connection attempts that failed since the node started.
    pub failed_connects: u64,
    /// Successful (re)connections since the node started.
    pub connects: u64,
}

impl Default for LinkStatus {
    fn default() -> Self {
        Self {
            state: LinkState::Connecting,
            reason: None,
            connected: false,
            subscribed: false,
            failed_connects: 0,
            connects: 0,
        }
    }
}

/// Why the client could not start. Once started it only stops on shutdown.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A tag's node id is not a valid OPC UA node id.
    #[error(transparent)]
    InvalidNodeId(#[from] InvalidNodeId),
    #[error(transparent)]
    ClientSetup(#[from] ClientConfigProblems),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The endpoint URL cannot be used.
    #[error("cannot use endpoint {endpoint} (OPCUA_ENDPOINT)")]
    Endpoint {
        endpoint: String,
        #[source]
        source: opcua::types::Error,
    },
}

/// async-opcua refused the client configuration; it lists its problems as text.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OPC UA client: {}", .0.join("; "))]
pub struct ClientConfigProblems(pub Vec<String>);

/// Streams readings of `config.tags` from `config.endpoint` into `readings`
/// until `shutdown` completes, reporting the link state on `status`.
///
/// Returns an error only for problems no retry can fix (bad node id text,
/// unusable endpoint URL); an unreachable server is retried forever.
pub async fn run(
    config: OpcuaSourceConfig,
    options: ClientOptions,
    readings: mpsc::Sender<Reading>,
    status: watch::Sender<LinkStatus>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SourceError> {
    let defaults = config.monitoring_defaults;
    let configured = parse_tags(&config.tags)?;
    let (polled, subscribed): (Vec<MonitoredTag>, Vec<MonitoredTag>) =
        configured.iter().cloned().partition(|tag| tag.spec.monitoring.or(defaults).poll_ms.is_some());
    let tags = Arc::new(subscribed);
    let pki_dir = config.security.pki_dir.clone().unwrap_or(options.pki_dir);
    let reconnect_max = Duration::from_millis(config.reconnect_max_ms);
    let mut client =
        client_builder(&config.security, pki_dir.clone(), reconnect_max).client().map_err(ClientConfigProblems)?;
    let identity = security::identity_token(&config.security.identity)?;
    let status = Arc::new(status);
    tokio::pin!(shutdown);
    let endpoint = if needs_discovery(&config.security) {
        // The server's certificate and login policies come from its endpoint
        // list; a Stop must still end the node while the server is away.
        tokio::select! {
            endpoint = discover_endpoint(&client, &config, &status) => endpoint,
            () = &mut shutdown => return Ok(()),
        }
    } else {
        plain_endpoint(&config.endpoint)
    };
    // "Directly": no second GetEndpoints round trip, so this succeeds without a
    // server; the event loop makes the actual connection and retries it.
    let (session, event_loop) = client
        .connect_to_endpoint_directly(endpoint, identity)
        .map_err(|source| SourceError::Endpoint { endpoint: config.endpoint.clone(), source })?;
    info!(
        endpoint = %config.endpoint,
        security = %config.security.endpoint,
        login = %config.security.identity.describe(),
        subscribed = tags.len(),
        polled = polled.len(),
        "connecting to the OPC UA server"
    );

    // One pending wake-up is enough: the re-read covers every change before it.
    let (model_changes, model_changed) = mpsc::channel(1);
    let event_loop_task = tokio::spawn(drive_session(
        event_loop,
        session.clone(),
        config.endpoint.clone(),
        pki_dir,
        status.clone(),
        model_changes.clone(),
    ));
    let sink = ReadingSink { source: config.endpoint.clone(), readings, refreshed: Default::default() };
    let rereading =
        tokio::spawn(reread_on_model_change(session.clone(), configured, sink.refreshed.clone(), model_changed));
    let polling = tokio::spawn(start_polling(session.clone(), polled, defaults, sink.clone()));
    let subscribing = keep_trying_to_subscribe(
        session.clone(),
        tags,
        sink,
        SubscribeSettings {
            publish_interval: Duration::from_millis(config.publish_interval_ms),
            monitoring_defaults: config.monitoring_defaults,
            retry_max: Duration::from_millis(config.reconnect_max_ms),
        },
        status,
        model_changes,
    );
    tokio::pin!(subscribing);
    tokio::select! {
        () = &mut subscribing => shutdown.await,
        () = &mut shutdown => {}
    }

    info!("closing the OPC UA session");
    if tokio::time::timeout(DISCONNECT_GRACE, session.disconnect()).await.is_err() {
        warn!(grace_ms = DISCONNECT_GRACE.as_millis() as u64, "the session did not close in time");
    }
    // A loop that is still trying to connect would go on forever; stop it.
    event_loop_task.abort();
    polling.abort();
    rereading.abort();
    Ok(())
}

/// A client for `security`: its PKI folder and own certificate, its trust
/// rule, reconnects forever with backoff up to `reconnect_max`, and message
/// limits for large tag lists.
pub(crate) fn client_builder(
    security: &OpcuaClientSecurity,
    pki_dir: PathBuf,
    reconnect_max: Duration,
) -> ClientBuilder {
    ClientBuilder::new()
        .application_name("Shopfloor SLM opcua-source")
        .application_uri("urn:shopfloor-slm:opcua-source")
        .product_uri("urn:shopfloor-slm:opcua-source")
        .pki_dir(pki_dir)
        // The client's own certificate, made on first start, as the common
        // stacks do; a server trusts it by having it in its trusted folder.
        .create_sample_keypair(true)
        // Only what `trusted/` holds, unless the operator opts in. (Under
        // policy None no certificate is checked: there is nothing to protect.)
        .trust_server_certs(security.trust_unknown_server)
        .session_retry_limit(-1)
        .session_retry_initial(FIRST_RETRY_DELAY.min(reconnect_max))
        .session_retry_max(reconnect_max)
        .max_array_length(MAX_ARRAY_LENGTH)
        .max_chunk_count(MAX_CHUNK_COUNT)
        .max_message_size(MAX_MESSAGE_SIZE)
}

/// Whether the endpoint must come from the server's endpoint list (for its
/// certificate and login policies) rather than from the URL alone.
pub(crate) fn needs_discovery(security: &OpcuaClientSecurity) -> bool {
    security.endpoint.is_secured() || security.identity != UserIdentity::Anonymous
}

/// Security None, anonymous: no round trip needed, so this works before the
/// server is up.
pub(crate) fn plain_endpoint(url: &str) -> EndpointDescription {
    (url, SecurityPolicy::None.to_str(), MessageSecurityMode::None, UserTokenPolicy::anonymous()).into()
}

/// Reads the server's endpoint list until it has an endpoint with the
/// configured security and login whose certificate the PKI folder trusts,
/// retrying with backoff and reporting each problem on `status`. Moving a
/// rejected certificate into `trusted/` takes effect at the next try.
async fn discover_endpoint(
    client: &Client,
    config: &OpcuaSourceConfig,
    status: &watch::Sender<LinkStatus>,
) -> EndpointDescription {
    let retry_max = Duration::from_millis(config.reconnect_max_ms);
    let mut retry_delay = FIRST_RETRY_DELAY.min(retry_max);
    loop {
        match usable_endpoint(client, &config.endpoint, &config.security).await {
            Ok(endpoint) => return endpoint,
            Err(problem) => {
                let reason = security::full_message(&problem);
                if problem.is_unreachable() {
                    warn!(endpoint = %config.endpoint, problem = %reason, "OPC UA server not reachable; retrying")
                } else {
                    error!(endpoint = %config.endpoint, problem = %reason, "cannot connect securely; retrying")
                }
                status.send_modify(|s| {
                    s.state = LinkState::Connecting;
                    s.reason = Some(reason);
                    s.failed_connects += 1;
                });
                tokio::time::sleep(retry_delay).await;
                retry_delay = (retry_delay * 2).min(retry_max);
            }
        }
    }
}

/// The endpoint of `url` with the configured security and login, its
/// certificate checked against the PKI folder.
pub(crate) async fn usable_endpoint(
    client: &Client,
    url: &str,
    security: &OpcuaClientSecurity,
) -> Result<EndpointDescription, EndpointProblem> {
    let endpoints = tokio::time::timeout(DISCOVERY_TIMEOUT, client.get_server_endpoints_from_url(url))
        .await
        .map_err(|_| EndpointProblem::NoAnswer { seconds: DISCOVERY_TIMEOUT.as_secs() })?
        .map_err(EndpointProblem::Unreachable)?;
    let endpoint = security::choose_endpoint(&endpoints, url, security.endpoint, &security.identity)?;
    if security.endpoint.is_secured() {
        security::check_server_certificate(&client.certificate_store().read(), &endpoint)?;
    }
    Ok(endpoint)
}

/// Polls the session event loop (which does the connecting, reconnecting and
/// publishing), mirroring what happens into `status` and the log.
async fn drive_session(
    event_loop: SessionEventLoop<TcpConnector>,
    session: Arc<Session>,
    endpoint: String,
    pki_dir: PathBuf,
    status: Arc<watch::Sender<LinkStatus>>,
    model_changes: mpsc::Sender<()>,
) {
    let events = event_loop.enter();
    tokio::pin!(events);
    while let Some(event) = events.next().await {
        match event {
            Ok(SessionPollResult::Reconnected(mode)) => {
                info!(%endpoint, ?mode, "connected to the OPC UA server");
                // async-opcua 0.19 re-creates or transfers the subscription while
                // reconnecting, but the new session's publish loop starts idle and
                // only wakes on a publish trigger that came *after* it started, so
                // without this nudge no data change would arrive after a reconnect.
                session.trigger_publish_now();
                // A server that restarted may serve another address space,
                // and its model-change events in between were missed.
                if status.borrow().connects > 0 {
                    let _ = model_changes.try_send(());
                }
                status.send_modify(|s| {
                    s.state = LinkState::Connected;
                    s.reason = None;
                    s.connected = true;
                    s.connects += 1;
                });
            }
            Ok(SessionPollResult::ReconnectFailed(code)) => {
                let advice = security::advice(code, &pki_dir);
                status.send_modify(|s| {
                    s.state = if s.connects == 0 { LinkState::Connecting } else { LinkState::Reconnecting };
                    s.reason = Some(match &advice {
                        Some(advice) => format!("{code}: {advice}"),
                        None => code.to_string(),
                    });
                    s.failed_connects += 1;
                });
                let failed = status.borrow().failed_connects;
                match advice {
                    // Retrying will not fix this by itself; say what will.
                    Some(advice) => {
                        error!(%endpoint, %code, %advice, failed_connects = failed, "the OPC UA server refused the connection; retrying")
                    }
                    None => warn!(%endpoint, %code, failed_connects = failed, "OPC UA server not reachable; retrying"),
                }
            }
            Ok(SessionPollResult::ConnectionLost(code)) => {
                warn!(%endpoint, %code, "lost the OPC UA server; reconnecting");
                status.send_modify(|s| {
                    s.state = LinkState::Disconnected;
                    s.reason = Some(code.to_string());
                    s.connected = false;
                });
            }
            Ok(_) => {}
            Err(code) => {
                // Only possible with a finite retry limit, which this client never sets.
                warn!(%endpoint, %code, "the OPC UA session gave up reconnecting");
                break;
            }
        }
    }
    status.send_modify(|s| {
        s.state = LinkState::Disconnected;
        s.connected = false;
    });
}

/// The tags with browse paths and `nsu=` node ids resolved on the server (the
/// namespace table is read only when some tag needs it), and units and
/// EURanges the configuration leaves open filled from the server's node
/// properties. An unknown path or URI is logged; that tag is then refused by
/// the server, the others flow.
async fn resolve_namespaces(
    session: &Session,
    tags: &[MonitoredTag],
) -> Result<Vec<MonitoredTag>, opcua::types::Error> {
    let mut tags = tags.to_vec();
    for tag in tags.iter_mut().filter(|tag| tag.browse_path.is_some()) {
        let path = tag.browse_path.clone().unwrap_or_default();
        match crate::browse::resolve_path(session, &path).await {
            Ok(Some(node_id)) => {
                info!(tag = %tag.spec.tag, path = %tag.spec.node_id, %node_id, "browse path resolved");
                tag.node_id = node_id;
            }
            Ok(None) => {
                warn!(tag = %tag.spec.tag, path = %tag.spec.node_id, "no node at this browse path; this tag gets no readings")
            }
            Err(err) => return Err(opcua::types::Error::new(opcua::types::StatusCode::BadCommunicationError, err)),
        }
    }
    if tags.iter().any(|tag| tag.namespace_uri.is_some()) {
        let table = session.read_namespace_array().await?;
        for tag in &mut tags {
            if let Some(uri) = tag.resolve_namespace(|uri| table.get_index(uri)) {
                warn!(tag = %tag.spec.tag, namespace_uri = %uri, "the server has no such namespace; this tag gets no readings");
            }
        }
    }
    // Optional extras: a server that will not say leaves the configured values.
    match crate::properties::fill_from_server(session, &mut tags).await {
        Ok(0) => {}
        Ok(filled) => info!(properties = filled, "engineering units and EU ranges read from the server"),
        Err(err) => warn!(%err, "could not read engineering units and EU ranges; readings carry the configured ones"),
    }
    Ok(tags)
}

/// How long a model change may keep arriving before the properties are
/// re-read: servers announce a restructuring as a burst of events.
const MODEL_CHANGE_SETTLE: Duration = Duration::from_millis(300);

/// Re-reads every tag's unit, EURange and description whenever `model_changed`
/// wakes it, and hands them to the readings through `refreshed`. A tag whose
/// path now leads to another node keeps its monitored item (logged): following
/// it needs a restart of the node.
async fn reread_on_model_change(
    session: Arc<Session>,
    configured: Vec<MonitoredTag>,
    refreshed: RefreshedProperties,
    mut model_changed: mpsc::Receiver<()>,
) {
    // The tags as last resolved; the first read (at connect, as the
    // subscription read them) is what the first re-read is compared with.
    let mut resolved: Option<Vec<MonitoredTag>> = None;
    let mut failed = false;
    loop {
        if resolved.is_some() && !failed {
            if model_changed.recv().await.is_none() {
                return;
            }
            tokio::time::sleep(MODEL_CHANGE_SETTLE).await;
            while model_changed.try_recv().is_ok() {}
        }
        session.wait_for_connection().await;
        let fresh = match resolve_namespaces(&session, &configured).await {
            Ok(fresh) => fresh,
            Err(err) => {
                warn!(%err, "could not read units, ranges and descriptions; retrying");
                failed = true;
                tokio::time::sleep(FIRST_RETRY_DELAY * 4).await;
                continue;
            }
        };
        failed = false;
        let Some(previous) = resolved.replace(fresh.clone()) else {
            refreshed.replace(&fresh, &Default::default());
            continue;
        };
        for (old, new) in previous.iter().zip(&fresh) {
            if old.browse_path.is_some() && old.node_id != new.node_id {
                warn!(tag = %new.spec.tag, node_id = %new.node_id, "this tag's path now leads to another node; restart the node to follow it");
            }
        }
        let changed = refreshed.replace(&fresh, &refreshed.snapshot());
        if changed.is_empty() {
            debug!("model change: units, ranges and descriptions unchanged");
        } else {
            info!(tags = ?changed, "the server's model changed; units, ranges and descriptions re-read");
        }
    }
}

/// Once connected, resolves the polled tags' namespaces and starts one polling
/// task per interval; they run until this task is aborted at shutdown.
async fn start_polling(session: Arc<Session>, polled: Vec<MonitoredTag>, defaults: Monitoring, sink: ReadingSink) {
    if polled.is_empty() {
        return;
    }
    let tags = loop {
        session.wait_for_connection().await;
        match resolve_namespaces(&session, &polled).await {
            Ok(tags) => break tags,
            Err(err) => {
                warn!(%err, "could not read the server's namespace table for the polled tags; retrying");
                tokio::time::sleep(FIRST_RETRY_DELAY * 4).await;
            }
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (ms, group) in crate::poll::by_interval(&tags, |tag| tag.spec.monitoring.or(defaults).poll_ms) {
        info!(tags = group.len(), interval_ms = ms, "polling");
        tasks.spawn(crate::poll::poll_forever(session.clone(), group, Duration::from_millis(ms), sink.clone()));
    }
    // Dropping the set would abort the polls; keep it until this task is aborted.
    while tasks.join_next().await.is_some() {}
}

/// How to subscribe, and how long to wait at most between tries.
struct SubscribeSettings {
    publish_interval: Duration,
    monitoring_defaults: Monitoring,
    retry_max: Duration,
}

/// Waits for a session, subscribes, and tries again with backoff until it works.
async fn keep_trying_to_subscribe(
    session: Arc<Session>,
    tags: Arc<Vec<MonitoredTag>>,
    sink: ReadingSink,
    settings: SubscribeSettings,
    status: Arc<watch::Sender<LinkStatus>>,
    model_changes: mpsc::Sender<()>,
) {
    let SubscribeSettings { publish_interval, monitoring_defaults, retry_max } = settings;
    if tags.is_empty() {
        // Every tag is polled: nothing to subscribe to.
        return;
    }
    let mut retry_delay = FIRST_RETRY_DELAY.min(retry_max);
    loop {
        session.wait_for_connection().await;
        let tags = match resolve_namespaces(&session, &tags).await {
            Ok(tags) => Arc::new(tags),
            Err(err) => {
                warn!(%err, retry_in_ms = retry_delay.as_millis() as u64, "could not read the server's namespace table; retrying");
                tokio::time::sleep(retry_delay).await;
                retry_delay = (retry_delay * 2).min(retry_max);
                continue;
            }
        };
        match subscribe(&session, tags, sink.clone(), publish_interval, monitoring_defaults, model_changes.clone())
            .await
        {
            Ok(_) => {
                status.send_modify(|s| s.subscribed = true);
                return;
            }
            Err(err) => {
                warn!(%err, retry_in_ms = retry_delay.as_millis() as u64, "could not subscribe; retrying");
                tokio::time::sleep(retry_delay).await;
                retry_delay = (retry_delay * 2).min(retry_max);
            }
        }
    }
}
