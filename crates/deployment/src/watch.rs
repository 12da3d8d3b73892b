//! The supervisor's loop: poll the coordinator through the dora CLI, let
//! [`Supervisor`] decide, start or restart the dataflow. Runs until killed
//! (systemd stops it with SIGTERM).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use shopfloor_node::clock::now_ms;

use crate::descriptor::Dataflow;
use crate::dora_cli::DoraCli;
use crate::supervise::{Change, Decision, Supervisor};

/// What to supervise and how.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The dataflow file (`dora start` reads it).
    pub dataflow: PathBuf,
    /// The dataflow's name on the coordinator.
    pub name: String,
    /// `KEY=VALUE` settings for `dora start --env`.
    pub envs: Vec<String>,
    /// Machines to watch beyond those the file names in `deploy: machine:`
    /// (machines of label-placed nodes).
    pub extra_machines: Vec<String>,
    pub dora: PathBuf,
    /// The coordinator's address for the dora CLI (else its environment).
    pub coordinator_addr: Option<String>,
    /// The coordinator's port for the dora CLI (else its environment).
    pub coordinator_port: Option<u16>,
    /// Between polls.
    pub poll: Duration,
    /// After a machine returns, before the restart.
    pub settle: Duration,
    /// Given to nodes to stop at a restart.
    pub grace: Duration,
}

/// The machines the dataflow pins nodes to by id, plus `extra`.
pub fn machines_of(dataflow: &Dataflow, extra: &[String]) -> BTreeSet<String> {
    let default = dataflow.deploy.as_ref().and_then(|d| d.machine.clone());
    dataflow
        .nodes
        .iter()
        .filter_map(|node| node.deploy.as_ref().and_then(|d| d.machine.clone()).or_else(|| default.clone()))
        .chain(extra.iter().cloned())
        .collect()
}

/// Supervises until the process is killed; returns only on a bad dataflow file.
pub fn watch(options: &WatchOptions) -> Result<(), crate::descriptor::DescriptorError> {
    let dataflow = Dataflow::load(&options.dataflow)?;
    let machines = machines_of(&dataflow, &options.extra_machines);
    tracing::info!(name = %options.name, machines = ?machines, "supervising");
    let mut supervisor = Supervisor::new(machines, options.settle.as_millis() as i64);
    let cli = DoraCli::new(&options.dora).with_coordinator(options.coordinator_addr.clone(), options.coordinator_port);
    loop {
        match cli.view(&options.name) {
            Err(error) => tracing::warn!(%error, "cannot read the cluster's state; trying again"),
            Ok(view) => {
                let (changes, decision) = supervisor.observe(&view, now_ms());
                for change in changes {
                    match change {
                        Change::Gone(machine) => {
                            tracing::warn!(%machine, "machine gone: the dataflow runs on without its nodes there")
                        }
                        Change::Back(machine) => tracing::info!(%machine, "machine back"),
                        Change::Missing(machines) => tracing::info!(?machines, "waiting for machines before starting"),
                    }
                }
                act(&cli, options, decision);
            }
        }
        std::thread::sleep(options.poll);
    }
}

fn act(cli: &DoraCli, options: &WatchOptions, decision: Decision) {
    match decision {
        Decision::Wait => {}
        Decision::Start => match cli.start(&options.dataflow, &options.name, &options.envs) {
            Ok(_) => tracing::info!(name = %options.name, "dataflow started"),
            Err(error) => tracing::error!(%error, "cannot start the dataflow; trying again"),
        },
        Decision::Restart(machines) => {
            tracing::info!(?machines, name = %options.name, "restarting the dataflow to bring those machines' nodes back");
            // Stop, wait until dora lists it stopped and its nodes have let go
            // of their ports, then start: `dora restart` spawns the new
            // dataflow while the old one's nodes may still be exiting, and
            // once in a few runs its coordinator then hung waiting for a
            // daemon (docs/decisions.md).
            if let Err(error) = cli.stop(&options.name, options.grace) {
                tracing::error!(%error, "stop failed; starting anyway");
            }
            wait_stopped(cli, &options.name, options.grace + STOP_MARGIN);
            std::thread::sleep(RESTART_PAUSE);
            match cli.start(&options.dataflow, &options.name, &options.envs) {
                Ok(_) => tracing::info!(name = %options.name, "dataflow started again"),
                // The next polls see it not running and start it.
                Err(error) => tracing::error!(%error, "cannot start the dataflow again; trying again"),
            }
        }
    }
}

/// Beyond the nodes' grace, how long a stop may take to show.
const STOP_MARGIN: Duration = Duration::from_secs(10);
/// Between a stop and the next start: the stopped nodes' sockets close.
const RESTART_PAUSE: Duration = Duration::from_secs(2);

fn wait_stopped(cli: &DoraCli, name: &str, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        match cli.view(name) {
            Ok(view) if !view.dataflow_running => return,
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
    tracing::warn!(name, "the dataflow is still listed as running; starting anyway");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watched_machines_are_those_nodes_are_pinned_to() {
        let yaml = "deploy: {machine: gateway}\nnodes:\n  - id: a\n  - id: b\n    deploy: {machine: edge-server}\n  - id: c\n    deploy: {labels: {gpu: \"true\"}}\n";
        let dataflow = Dataflow::parse("t.yml", yaml).unwrap();
        let machines = machines_of(&dataflow, &["gpu-box".to_owned()]);
        assert_eq!(machines.into_iter().collect::<Vec<_>>(), ["edge-server", "gateway", "gpu-box"]);
    }
}
