//! The supervisor's decisions, apart from any I/O: when to start the
//! dataflow, and when to restart it because a machine it runs on came back.
//!
//! Why a restart: dora 1.1 keeps a multi-machine dataflow running when one
//! machine's daemon goes away (the other machines go on, degraded), but a
//! daemon that registers again under the same machine id gets none of the
//! dataflow's nodes back, and `dora node add` cannot wire a new node's
//! outputs to nodes on other machines (both measured, docs/decisions.md).
//! Stopping the dataflow and starting it again spawns every node on the
//! daemons registered now. Time is passed in, so tests run instantly.

use std::collections::{BTreeMap, BTreeSet};

/// What the coordinator reports now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// Registered daemons: machine id → daemon id (`<machine>-<uuid>`; a
    /// daemon that starts again gets a new uuid).
    pub daemons: BTreeMap<String, String>,
    /// Whether the dataflow runs.
    pub dataflow_running: bool,
}

/// What the supervisor does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do.
    Wait,
    /// Start the dataflow: it does not run and every machine is there.
    Start,
    /// Restart the dataflow: these machines came back.
    Restart(Vec<String>),
}

/// A change worth a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A machine's daemon is no longer registered.
    Gone(String),
    /// A machine's daemon registered again (new daemon id).
    Back(String),
    /// The machines the dataflow needs that are missing, while not running.
    Missing(Vec<String>),
}

/// The supervisor's memory between polls.
pub struct Supervisor {
    machines: BTreeSet<String>,
    settle_ms: i64,
    /// The daemon each machine's nodes run on (as of the last start).
    serving: BTreeMap<String, String>,
    lost: BTreeSet<String>,
    /// Machines back since (ms), waiting `settle_ms` before the restart.
    back_since: BTreeMap<String, i64>,
    last_start_ms: Option<i64>,
    reported_missing: Vec<String>,
}

impl Supervisor {
    /// Watches `machines` (those the dataflow places nodes on); waits
    /// `settle_ms` after a machine returns before restarting, so that a
    /// machine coming back in several steps causes one restart.
    pub fn new(machines: impl IntoIterator<Item = String>, settle_ms: i64) -> Self {
        Self {
            machines: machines.into_iter().collect(),
            settle_ms,
            serving: BTreeMap::new(),
            lost: BTreeSet::new(),
            back_since: BTreeMap::new(),
            last_start_ms: None,
            reported_missing: Vec::new(),
        }
    }

    /// One poll: what changed and what to do.
    pub fn observe(&mut self, view: &ClusterView, now_ms: i64) -> (Vec<Change>, Decision) {
        let mut changes = Vec::new();
        if !view.dataflow_running {
            let missing: Vec<String> =
                self.machines.iter().filter(|m| !view.daemons.contains_key(*m)).cloned().collect();
            if !missing.is_empty() {
                if missing != self.reported_missing {
                    changes.push(Change::Missing(missing.clone()));
                }
                self.reported_missing = missing;
                return (changes, Decision::Wait);
            }
            self.reported_missing.clear();
            // dora needs a moment to list a dataflow it just started.
            if self.last_start_ms.is_some_and(|t| now_ms - t < self.settle_ms.max(5_000)) {
                return (changes, Decision::Wait);
            }
            self.started(view, now_ms);
            return (changes, Decision::Start);
        }
        if self.serving.is_empty() {
            // Running already when we began: the daemons there now serve it.
            self.serving = self.watched(view);
        }
        for machine in &self.machines {
            let now = view.daemons.get(machine);
            let before = self.serving.get(machine);
            match now {
                None => {
                    self.back_since.remove(machine);
                    if self.lost.insert(machine.clone()) {
                        changes.push(Change::Gone(machine.clone()));
                    }
                }
                Some(daemon) if Some(daemon) != before || self.lost.contains(machine) => {
                    if !self.back_since.contains_key(machine) {
                        self.back_since.insert(machine.clone(), now_ms);
                        changes.push(Change::Back(machine.clone()));
                    }
                }
                Some(_) => {}
            }
        }
        let settled =
            !self.back_since.is_empty() && self.back_since.values().all(|since| now_ms - since >= self.settle_ms);
        if settled && self.lost.iter().all(|m| self.back_since.contains_key(m)) {
            let back: Vec<String> = self.back_since.keys().cloned().collect();
            self.started(view, now_ms);
            return (changes, Decision::Restart(back));
        }
        (changes, Decision::Wait)
    }

    fn watched(&self, view: &ClusterView) -> BTreeMap<String, String> {
        view.daemons.iter().filter(|(m, _)| self.machines.contains(*m)).map(|(m, d)| (m.clone(), d.clone())).collect()
    }

    fn started(&mut self, view: &ClusterView, now_ms: i64) {
        self.serving = self.watched(view);
        self.lost.clear();
        self.back_since.clear();
        self.last_start_ms = Some(now_ms);
    }
}

/// The machine id of a daemon id `<machine>-<uuid>` as `dora cluster status`
/// lists it (uuid: 36 characters).
pub fn machine_of(daemon_id: &str) -> Option<&str> {
    let cut = daemon_id.len().checked_sub(37)?;
    let (machine, rest) = daemon_id.split_at_checked(cut)?;
    let uuid = rest.strip_prefix('-')?;
    let well_formed = uuid.len() == 36 && uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    (well_formed && !machine.is_empty()).then_some(machine)
}

/// The daemons in `dora cluster status` output: machine id → daemon id.
pub fn parse_cluster_status(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|daemon| machine_of(daemon).map(|machine| (machine.to_owned(), daemon.to_owned())))
        .collect()
}

/// Whether `dora list --format json` output (one JSON object per line)
/// shows dataflow `name` running.
pub fn parse_running(text: &str, name: &str) -> bool {
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .any(|v| v["name"] == name && v["status"] == "Running")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EDGE_1: &str = "edge-server-01a219be-2889-74ca-aabe-04fdb260788d";
    const EDGE_2: &str = "edge-server-01a219be-fad7-7022-bf47-55d5da2f8515";
    const GATEWAY: &str = "gateway-01a219be-2885-747c-bc69-84e55b91759e";

    fn view(daemons: &[&str], running: bool) -> ClusterView {
        ClusterView { daemons: parse_cluster_status(&daemons.join("\n")), dataflow_running: running }
    }

    fn supervisor() -> Supervisor {
        Supervisor::new(["gateway".to_owned(), "edge-server".to_owned()], 2_000)
    }

    #[test]
    fn starts_once_every_machine_is_there() {
        let mut s = supervisor();
        let (changes, decision) = s.observe(&view(&[GATEWAY], false), 0);
        assert_eq!((changes, decision), (vec![Change::Missing(vec!["edge-server".into()])], Decision::Wait));
        assert_eq!(s.observe(&view(&[GATEWAY], false), 500), (vec![], Decision::Wait), "reported once");
        assert_eq!(s.observe(&view(&[GATEWAY, EDGE_1], false), 1_000).1, Decision::Start);
        // Not listed as running yet: no second start right away.
        assert_eq!(s.observe(&view(&[GATEWAY, EDGE_1], false), 2_000).1, Decision::Wait);
        assert_eq!(s.observe(&view(&[GATEWAY, EDGE_1], true), 3_000).1, Decision::Wait);
    }

    #[test]
    fn a_machine_that_comes_back_restarts_the_dataflow_once_settled() {
        let mut s = supervisor();
        assert_eq!(s.observe(&view(&[GATEWAY, EDGE_1], true), 0), (vec![], Decision::Wait));
        assert_eq!(
            s.observe(&view(&[GATEWAY], true), 1_000),
            (vec![Change::Gone("edge-server".into())], Decision::Wait)
        );
        assert_eq!(s.observe(&view(&[GATEWAY], true), 9_000), (vec![], Decision::Wait), "degraded, not restarted");
        assert_eq!(
            s.observe(&view(&[GATEWAY, EDGE_2], true), 10_000),
            (vec![Change::Back("edge-server".into())], Decision::Wait)
        );
        assert_eq!(s.observe(&view(&[GATEWAY, EDGE_2], true), 11_999).1, Decision::Wait);
        assert_eq!(s.observe(&view(&[GATEWAY, EDGE_2], true), 12_000).1, Decision::Restart(vec!["edge-server".into()]));
        assert_eq!(s.observe(&view(&[GATEWAY, EDGE_2], true), 13_000).1, Decision::Wait, "the new daemon now serves");
    }

    #[test]
    fn a_daemon_replaced_between_polls_counts_as_back() {
        let mut s = supervisor();
        s.observe(&view(&[GATEWAY, EDGE_1], true), 0);
        assert_eq!(s.observe(&view(&[GATEWAY, EDGE_2], true), 1_000).0, vec![Change::Back("edge-server".into())]);
        assert_eq!(s.observe(&view(&[GATEWAY, EDGE_2], true), 3_000).1, Decision::Restart(vec!["edge-server".into()]));
    }

    #[test]
    fn machines_not_watched_are_ignored() {
        let mut s = supervisor();
        s.observe(&view(&[GATEWAY, EDGE_1, "other-01a219be-2885-747c-bc69-84e55b91759e"], true), 0);
        assert_eq!(s.observe(&view(&[GATEWAY, EDGE_1], true), 1_000), (vec![], Decision::Wait));
    }

    #[test]
    fn cluster_status_and_list_output_are_read() {
        let status = "DAEMON ID                                     LAST HEARTBEAT  RESTARTS\n\
                      edge-server-01a219be-fad7-7022-bf47-55d5da2f8515     3027ms ago      0\n\
                      gateway-01a219be-2885-747c-bc69-84e55b91759e  1870ms ago      0\n\nActive dataflows: 1\n";
        let daemons = parse_cluster_status(status);
        assert_eq!(daemons.keys().collect::<Vec<_>>(), ["edge-server", "gateway"]);
        assert_eq!(machine_of("-01a219be-2885-747c-bc69-84e55b91759e"), None);
        let list = r#"{"uuid":"a","name":"plant","status":"Running","nodes":5}
{"uuid":"b","name":"plant","status":"Finished","nodes":0}"#;
        assert!(parse_running(list, "plant"));
        assert!(!parse_running(list, "other"));
        assert!(!parse_running("not json", "plant"));
    }
}
