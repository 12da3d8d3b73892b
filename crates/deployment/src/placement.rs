//! Where each node of a dataflow runs, from its `deploy:` and the
//! inventory: a named machine, or the machines whose labels contain all of
//! the node's (dora's coordinator picks one of several; the check counts
//! the node on each of them, the worst case for every one).

use std::collections::BTreeMap;
use std::fmt;

use crate::descriptor::{Dataflow, Deploy, Node};
use crate::inventory::Inventory;

/// Nodes that cannot be placed, all of them.
#[derive(Debug, thiserror::Error)]
#[error("cannot place every node of the dataflow:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct PlacementError(pub Vec<PlacementProblem>);

/// Why one node cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacementProblem {
    /// `deploy: machine:` names a machine the inventory does not list.
    UnknownMachine {
        node: String,
        /// The machine it names.
        machine: String,
        known: Vec<String>,
    },
    /// No machine of the inventory has all of `deploy: labels:`.
    NoMachineWithLabels {
        node: String,
        /// The labels it asks for.
        labels: BTreeMap<String, String>,
    },
    /// Neither the node nor the dataflow has a `deploy:` that names a machine or labels.
    NotPinned { node: String },
}

impl fmt::Display for PlacementProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownMachine { node, machine, known } => {
                let known = known.join(", ");
                write!(f, "node `{node}` has `deploy.machine` {machine:?}, which is not in the inventory (machines: {known})")
            }
            Self::NoMachineWithLabels { node, labels } => {
                let labels = labels_text(labels);
                write!(f, "node `{node}` has `deploy.labels` {labels}, which no machine of the inventory has all of")
            }
            Self::NotPinned { node } => write!(
                f,
                "node `{node}` is not pinned: give it `deploy: machine: <id>` or `deploy: labels: {{…}}` (or the dataflow a `deploy:`)"
            ),
        }
    }
}

/// How a node was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// On this one machine (by id, or the only one with its labels).
    On(String),
    /// On one of these machines, chosen by dora at start (labels that
    /// several machines have).
    AnyOf(Vec<String>),
}

impl Placement {
    /// The machines the node may run on.
    pub fn machines(&self) -> &[String] {
        match self {
            Self::On(machine) => std::slice::from_ref(machine),
            Self::AnyOf(machines) => machines,
        }
    }
}

/// A node and where it runs.
#[derive(Debug, Clone)]
pub struct PlacedNode<'a> {
    pub node: &'a Node,
    pub placement: Placement,
}

/// Places every node; all problems are reported at once.
pub fn place<'a>(dataflow: &'a Dataflow, inventory: &Inventory) -> Result<Vec<PlacedNode<'a>>, PlacementError> {
    let mut placed = Vec::new();
    let mut problems = Vec::new();
    for node in &dataflow.nodes {
        // A node's own `deploy:` replaces the dataflow's as a whole.
        let deploy = node.deploy.as_ref().filter(|d| d.pins()).or(dataflow.deploy.as_ref().filter(|d| d.pins()));
        match deploy.map(|deploy| place_one(node, deploy, inventory)) {
            Some(Ok(placement)) => {
                tracing::debug!(node = %node.id, ?placement, "placed");
                placed.push(PlacedNode { node, placement });
            }
            Some(Err(problem)) => problems.push(problem),
            None => problems.push(PlacementProblem::NotPinned { node: node.id.clone() }),
        }
    }
    if problems.is_empty() {
        Ok(placed)
    } else {
        Err(PlacementError(problems))
    }
}

fn place_one(node: &Node, deploy: &Deploy, inventory: &Inventory) -> Result<Placement, PlacementProblem> {
    if let Some(machine) = &deploy.machine {
        // Labels beside a machine must hold too: dora would not start it otherwise.
        return match inventory.machine(machine) {
            Some(found) if found.has_labels(&deploy.labels) => Ok(Placement::On(machine.clone())),
            Some(_) => {
                Err(PlacementProblem::NoMachineWithLabels { node: node.id.clone(), labels: deploy.labels.clone() })
            }
            None => Err(PlacementProblem::UnknownMachine {
                node: node.id.clone(),
                machine: machine.clone(),
                known: inventory.machines.iter().map(|m| m.id.clone()).collect(),
            }),
        };
    }
    let mut candidates: Vec<String> =
        inventory.machines.iter().filter(|m| m.has_labels(&deploy.labels)).map(|m| m.id.clone()).collect();
    match candidates.len() {
        0 => Err(PlacementProblem::NoMachineWithLabels { node: node.id.clone(), labels: deploy.labels.clone() }),
        1 => Ok(Placement::On(candidates.remove(0))),
        _ => Ok(Placement::AnyOf(candidates)),
    }
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn inventory() -> Inventory {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hw-profiles");
        let text = "[[machines]]\nid = \"gateway\"\nprofile = \"generic-x86-2core.toml\"\nlabels = { role = \"gateway\", gpu = \"false\" }\n\
                    [[machines]]\nid = \"edge-a\"\nprofile = \"generic-x86-2core.toml\"\nlabels = { role = \"edge\", gpu = \"true\" }\n\
                    [[machines]]\nid = \"edge-b\"\nprofile = \"generic-x86-2core.toml\"\nlabels = { role = \"edge\", gpu = \"true\", zone = \"b\" }\n";
        Inventory::parse(Path::new("m.toml"), &folder, text).unwrap()
    }

    fn flow(yaml: &str) -> Dataflow {
        Dataflow::parse("f.yml", yaml).unwrap()
    }

    fn placements(yaml: &str) -> Result<Vec<(String, Placement)>, PlacementError> {
        let dataflow = flow(yaml);
        let placed = place(&dataflow, &inventory())?;
        Ok(placed.into_iter().map(|p| (p.node.id.clone(), p.placement)).collect())
    }

    #[test]
    fn a_node_pinned_by_machine_runs_there() {
        let placed = placements("nodes:\n  - id: a\n    path: x\n    deploy:\n      machine: gateway\n").unwrap();
        assert_eq!(placed, [("a".to_owned(), Placement::On("gateway".into()))]);
    }

    #[test]
    fn labels_that_one_machine_has_place_the_node_there() {
        let placed =
            placements("nodes:\n  - id: a\n    path: x\n    deploy:\n      labels:\n        zone: b\n").unwrap();
        assert_eq!(placed[0].1, Placement::On("edge-b".into()));
    }

    #[test]
    fn labels_that_several_machines_have_leave_the_choice_open() {
        let placed =
            placements("nodes:\n  - id: a\n    path: x\n    deploy:\n      labels:\n        gpu: \"true\"\n").unwrap();
        assert_eq!(placed[0].1, Placement::AnyOf(vec!["edge-a".into(), "edge-b".into()]));
        assert_eq!(placed[0].1.machines().len(), 2);
    }

    #[test]
    fn an_unknown_machine_unmatched_labels_and_an_unpinned_node_are_all_reported() {
        let err = placements(
            "nodes:\n  - id: a\n    path: x\n    deploy:\n      machine: station9\n\
             \x20 - id: b\n    path: x\n    deploy:\n      labels:\n        gpu: \"maybe\"\n\
             \x20 - id: c\n    path: x\n\
             \x20 - id: d\n    path: x\n    deploy:\n      machine: gateway\n      labels:\n        gpu: \"true\"\n",
        )
        .unwrap_err();
        assert_eq!(err.0.len(), 4, "{err}");
        let text = err.to_string();
        assert!(text.contains("node `a` has `deploy.machine` \"station9\", which is not in the inventory (machines: gateway, edge-a, edge-b)"), "{text}");
        assert!(text.contains("node `b` has `deploy.labels` gpu=maybe"), "{text}");
        assert!(text.contains("node `c` is not pinned"), "{text}");
        assert!(text.contains("node `d` has `deploy.labels` gpu=true"), "{text}");
    }

    #[test]
    fn the_dataflow_deploy_pins_nodes_without_their_own() {
        let placed = placements(
            "deploy:\n  machine: gateway\nnodes:\n  - id: a\n    path: x\n  - id: b\n    path: x\n    deploy:\n      machine: edge-a\n",
        )
        .unwrap();
        assert_eq!(placed[0].1, Placement::On("gateway".into()));
        assert_eq!(placed[1].1, Placement::On("edge-a".into()));
    }
}
