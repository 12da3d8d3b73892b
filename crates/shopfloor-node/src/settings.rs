//! A node's environment as its `config.rs` reads it: the process
//! environment, with the names the dataflow's `env:` set marked, so that a
//! mistyped setting in the dataflow stops the node while a stray variable of
//! the launching shell only warns (`shopfloor_core::env`).

use std::collections::BTreeSet;

use dora_node_api::DoraNode;
use shopfloor_core::env::{process_env, EnvVars};

/// The process environment, with the variables the dataflow set for this
/// node marked. Where dora cannot tell (testing mode, an unreadable
/// descriptor) every variable counts as set by the dataflow, the strict side.
pub fn node_env(node: &DoraNode) -> EnvVars {
    let env = process_env();
    match dataflow_names(node) {
        Some(names) => env.with_dataflow_names(names),
        None => env,
    }
}

/// The names of the node's `env:` in the dataflow (dora merges the
/// dataflow-level `env:` into each node's).
fn dataflow_names(node: &DoraNode) -> Option<BTreeSet<String>> {
    let descriptor = node.dataflow_descriptor().ok()?;
    let me = descriptor.nodes.iter().find(|n| &n.id == node.id())?;
    Some(me.env.as_ref().map(|env| env.keys().cloned().collect()).unwrap_or_default())
}
