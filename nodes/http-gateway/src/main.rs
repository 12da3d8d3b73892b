//! Wires the `http-gateway` library to dora and a TCP listener; see the library docs.

use std::sync::Arc;

use anyhow::Context;
use http_gateway::config::GatewayConfig;
use http_gateway::server::{router, Gateway};

/// Questions handed from HTTP handlers to the dora link; beyond this the
/// handlers wait (they are already bounded by GATEWAY_MAX_CONCURRENT).
const QUESTION_CHANNEL: usize = 64;

fn main() -> anyhow::Result<()> {
    shopfloor_node::logging::init();
    let (node, events) = dora_node_api::DoraNode::init_from_env().context("cannot connect to the dora daemon")?;
    let config = GatewayConfig::from_env(&shopfloor_node::settings::node_env(&node))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(serve(config, node, events))
}

async fn serve(
    config: GatewayConfig,
    node: dora_node_api::DoraNode,
    events: dora_node_api::EventStream,
) -> anyhow::Result<()> {
    let listen = config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on GATEWAY_LISTEN={listen}"))?;
    let node_id = node.id().to_string();
    let (questions_tx, questions_rx) = tokio::sync::mpsc::channel(QUESTION_CHANNEL);
    let gateway = Arc::new(Gateway::new(config, node_id, questions_tx, http_gateway::schema_grammar::compile));
    tracing::info!(%listen, api_key = gateway.config.api_key.is_some(), "http-gateway listening");

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router(gateway.clone())).with_graceful_shutdown(async {
        let _ = stop_rx.await;
    });
    let server = tokio::spawn(async move { server.await });
    let link = http_gateway::dora_link::run(gateway.clone(), node, events, questions_rx).await;
    // No answer can come any more: waiting requests end now, then the server.
    gateway.pending.abandon_all();
    let _ = stop_tx.send(());
    server.await.context("HTTP server task failed")?.context("HTTP server failed")?;
    link.context("dora link failed")?;
    tracing::info!("http-gateway stopped");
    Ok(())
}
