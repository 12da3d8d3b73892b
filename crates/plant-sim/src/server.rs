//! The OPC UA server: builds the address space ([`crate::address_space`]),
//! then publishes the configured scenario's values ([`crate::scenario`])
//! every tick until told to stop.

use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::PlantSimConfig;
use opcua::crypto::SecurityPolicy;
use opcua::server::diagnostics::NamespaceMetadata;
use opcua::server::node_manager::memory::{simple_node_manager, SimpleNodeManager};
use opcua::server::{ServerBuilder, ServerEndpoint, ServerUserToken, SubscriptionCache, ANONYMOUS_USER_TOKEN_ID};
use opcua::types::{DataValue, DateTime, MessageSecurityMode, NodeId};
use shopfloor_opcua::EndpointSecurity;
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use crate::address_space::add_plant;
use crate::nodes::{CellVariable, LineVariable, Point, NAMESPACE_INDEX, NAMESPACE_URI};
use crate::scenario::Simulation;

/// The server's application URI (namespace 1); distinct from [`NAMESPACE_URI`]
/// so that the cell's namespace gets index 2.
pub const APPLICATION_URI: &str = "urn:shopfloor-slm:plant-sim:server";

/// How long connected clients get to close their sessions on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Settings that are not part of the dataflow configuration.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Folder for the server's certificate and key (created, with a fresh
    /// self-signed key pair, when missing) and for trusted/rejected client certs.
    pub pki_dir: PathBuf,
}

impl Default for ServerOptions {
    /// A PKI folder under the system temp dir: the simulator only serves
    /// security policy None, so its key pair protects nothing worth keeping.
    fn default() -> Self {
        Self { pki_dir: std::env::temp_dir().join("shopfloor-slm").join("plant-sim-pki") }
    }
}

/// Why the server could not start or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound (in use, not local, bad host).
    #[error("cannot listen on {address}")]
    Bind {
        /// `host:port` as configured.
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the OPC UA server")]
    Build(#[source] OpcuaMessage),
    #[error("the OPC UA server has no node manager for the cell")]
    NodeManagerMissing,
    #[error("the OPC UA server did not register namespace {NAMESPACE_URI}")]
    NamespaceMissing,
    /// The cell namespace did not get the index every client expects.
    #[error("namespace {NAMESPACE_URI} got index {actual}, clients expect {NAMESPACE_INDEX}")]
    UnexpectedNamespaceIndex { actual: u16 },
    #[error("the OPC UA server stopped")]
    Stopped(#[source] OpcuaMessage),
}

/// async-opcua's server reports build and run failures as text only; this
/// carries that text as an error source.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpcuaMessage(pub String);

/// Serves the simulated cell on `config.host:config.port` until `shutdown` completes.
///
/// Uses [`ServerOptions::default`]; see [`run_with_options`].
pub async fn run(config: PlantSimConfig, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
    run_with_options(config, ServerOptions::default(), shutdown).await
}

/// Like [`run`], with explicit [`ServerOptions`].
pub async fn run_with_options(
    config: PlantSimConfig,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let listener = bind(&config).await?;
    serve(listener, config, options, shutdown).await
}

/// Binds `config.host:config.port`, for [`serve`].
pub async fn bind(config: &PlantSimConfig) -> Result<TcpListener, ServerError> {
    let address = socket_address(&config.host, config.port);
    TcpListener::bind(&address).await.map_err(|source| ServerError::Bind { address, source })
}

/// Serves the simulated cell on an already bound `listener` until `shutdown`
/// completes. Endpoint URLs use `config.host` and the listener's real port, so
/// tests can bind port 0 and connect without a race.
pub async fn serve(
    listener: TcpListener,
    config: PlantSimConfig,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let port = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { address: socket_address(&config.host, config.port), source })?
        .port();
    let endpoint_url = format!("opc.tcp://{}/", socket_address(&config.host, port));

    let (server, handle) = server_builder(&config, port, &endpoint_url, options)
        .build()
        .map_err(|text| ServerError::Build(OpcuaMessage(text)))?;
    let node_manager =
        handle.node_managers().get_of_type::<SimpleNodeManager>().ok_or(ServerError::NodeManagerMissing)?;
    let namespace_index = handle.get_namespace_index(NAMESPACE_URI).ok_or(ServerError::NamespaceMissing)?;
    if namespace_index != NAMESPACE_INDEX {
        return Err(ServerError::UnexpectedNamespaceIndex { actual: namespace_index });
    }
    let simulation = Simulation { scenario: config.scenario, seed: config.seed };
    add_plant(&mut node_manager.address_space().write(), &simulation.cell_at(0), &simulation.line_at(0));

    info!(
        endpoint = %endpoint_url,
        namespace = NAMESPACE_URI,
        tick_ms = config.tick_ms,
        scenario = ?config.scenario,
        seed = ?config.seed,
        security = %config.security.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        users = if config.users.is_some() || !config.user_certs.is_empty() { "listed (SIM_USERS_FILE, SIM_USER_CERTS)" } else { "anonymous" },
        "plant simulator serving the CNC cell and the packaging line"
    );

    let server_loop = server.run_with(listener);
    tokio::pin!(server_loop);
    let ticking = publish_every_tick(
        node_manager,
        handle.subscriptions().clone(),
        simulation,
        Duration::from_millis(config.tick_ms),
    );
    tokio::select! {
        result = &mut server_loop => return result.map_err(|text| ServerError::Stopped(OpcuaMessage(text))),
        never = ticking => match never {},
        () = shutdown => info!("plant simulator shutting down"),
    }

    handle.cancel();
    match tokio::time::timeout(SHUTDOWN_GRACE, server_loop).await {
        Ok(result) => result.map_err(|text| ServerError::Stopped(OpcuaMessage(text))),
        Err(_) => {
            warn!(grace_s = SHUTDOWN_GRACE.as_secs(), "clients did not disconnect in time; stopping anyway");
            Ok(())
        }
    }
}

fn server_builder(config: &PlantSimConfig, port: u16, endpoint_url: &str, options: ServerOptions) -> ServerBuilder {
    let mut builder = ServerBuilder::new()
        .application_name("Shopfloor SLM plant simulator")
        .application_uri(APPLICATION_URI)
        .product_uri(NAMESPACE_URI)
        .host(&config.host)
        .port(port)
        .discovery_urls(vec![endpoint_url.to_owned()])
        .pki_dir(config.pki_dir.clone().unwrap_or(options.pki_dir))
        // A fresh machine gets a self-signed key pair (for `localhost`, the
        // loopback addresses and the host name) on first start.
        .create_sample_keypair(true)
        .trust_client_certs(config.trust_clients);
    let mut user_token_ids = Vec::new();
    for (user, password) in config.users.iter().flatten() {
        let id = user_token_id(user);
        builder = builder.add_user_token(&id, ServerUserToken::user_pass(user.as_str(), password.expose()));
        user_token_ids.push(id);
    }
    for (user, cert_file) in &config.user_certs {
        let id = format!("{}-x509", user_token_id(user));
        builder = builder.add_user_token(&id, ServerUserToken::x509(user.as_str(), cert_file));
        user_token_ids.push(id);
    }
    if user_token_ids.is_empty() {
        user_token_ids.push(ANONYMOUS_USER_TOKEN_ID.to_owned());
    }
    for security in &config.security {
        builder = builder.add_endpoint(endpoint_id(*security), server_endpoint(*security, &user_token_ids));
    }
    builder.with_node_manager(simple_node_manager(
        NamespaceMetadata { namespace_uri: NAMESPACE_URI.to_owned(), ..Default::default() },
        "plant-sim",
    ))
}

/// The endpoint of one security setting, at path `/` like every other.
fn server_endpoint(security: EndpointSecurity, user_token_ids: &[String]) -> ServerEndpoint {
    // By URI: async-opcua's short names differ from the specification's.
    let policy = SecurityPolicy::from_uri(&security.policy.uri());
    ServerEndpoint::new("/", policy, MessageSecurityMode::from(security.mode.as_str()), user_token_ids)
}

/// async-opcua keys endpoints by id; one per security setting.
fn endpoint_id(security: EndpointSecurity) -> String {
    security.to_string().to_lowercase().replace('/', "-")
}

/// async-opcua keys user tokens by id; `ANONYMOUS` is taken.
fn user_token_id(user: &str) -> String {
    format!("user-{user}")
}

/// Writes the cell's and the line's values every `tick`, which also notifies
/// subscribed clients.
async fn publish_every_tick(
    node_manager: Arc<SimpleNodeManager>,
    subscriptions: Arc<SubscriptionCache>,
    simulation: Simulation,
    tick: Duration,
) -> Infallible {
    let cell: Vec<(CellVariable, NodeId)> =
        CellVariable::ALL.into_iter().filter(|v| v.is_simulated()).map(|v| (v, v.node_id(NAMESPACE_INDEX))).collect();
    let line: Vec<(LineVariable, NodeId)> =
        LineVariable::ALL.into_iter().map(|v| (v, v.node_id(NAMESPACE_INDEX))).collect();
    let mut interval = tokio::time::interval(tick);
    // After a stall, continue from now instead of replaying missed ticks in a burst.
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tick_number: u64 = 0;
    loop {
        interval.tick().await;
        let cell_values = simulation.cell_at(tick_number);
        let line_values = simulation.line_at(tick_number);
        let now = DateTime::now();
        let cell_updates = cell
            .iter()
            .map(|(variable, node_id)| (node_id, None, DataValue::new_at(variable.value_in(&cell_values), now)));
        let line_updates = line
            .iter()
            .map(|(variable, node_id)| (node_id, None, DataValue::new_at(variable.value_in(&line_values), now)));
        if let Err(status) = node_manager.set_values(&subscriptions, cell_updates.chain(line_updates)) {
            warn!(tick = tick_number, %status, "could not update the plant's variables");
        }
        debug!(
            tick = tick_number,
            temperature = cell_values.spindle_temperature,
            state = cell_values.machine_state.as_str(),
            line = line_values.state(),
            "tick"
        );
        tick_number = tick_number.wrapping_add(1);
    }
}

/// `host:port`, with IPv6 literals in brackets.
fn socket_address(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_are_bracketed_in_addresses() {
        assert_eq!(socket_address("::1", 4840), "[::1]:4840");
        assert_eq!(socket_address("127.0.0.1", 4840), "127.0.0.1:4840");
        assert_eq!(socket_address("[::1]", 1), "[::1]:1");
    }

    #[test]
    fn every_supported_security_setting_maps_to_an_async_opcua_endpoint() {
        use shopfloor_opcua::{SecurityMode, SecurityPolicyName};
        for policy in SecurityPolicyName::ALL {
            for mode in [SecurityMode::None, SecurityMode::Sign, SecurityMode::SignAndEncrypt] {
                let Some(security) = EndpointSecurity::new(policy, mode) else { continue };
                let endpoint = server_endpoint(security, &[ANONYMOUS_USER_TOKEN_ID.to_owned()]);
                assert_ne!(endpoint.security_policy(), SecurityPolicy::Unknown, "{security}");
                assert_eq!(endpoint.security_policy().to_uri(), policy.uri());
                assert_eq!(endpoint.message_security_mode().to_string(), mode.as_str());
            }
        }
    }

    #[test]
    fn the_default_pki_folder_is_under_the_temp_dir() {
        assert!(ServerOptions::default().pki_dir.starts_with(std::env::temp_dir()));
    }
}
