//! `shopfloor-deploy check`: reads the dataflow and the inventory, places
//! every node, sizes it on its machine(s) and sums each machine.

use std::path::{Path, PathBuf};

use crate::descriptor::{Dataflow, DescriptorError};
use crate::estimate::{self, normalize, Context, EstimateError, Warning};
use crate::inventory::{Inventory, InventoryError};
use crate::placement::{place, Placement, PlacementError};
use crate::report::{MachineReport, NodeLine, Report};

/// Why the check could not be made (bad input: exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The dataflow file.
    #[error(transparent)]
    Dataflow(#[from] DescriptorError),
    /// The inventory.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// Nodes that cannot be placed.
    #[error(transparent)]
    Placement(#[from] PlacementError),
    /// Nodes that cannot be sized (model files, their variables), all of them.
    #[error("cannot size every node:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Estimates(Vec<EstimateError>),
}

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckInput {
    pub dataflow: PathBuf,
    pub machines: PathBuf,
    /// The folder relative `env:` paths resolve from; `None`: [`default_node_dir`].
    pub node_dir: Option<PathBuf>,
}

/// Where a node of a multi-machine dataflow runs, as seen from the dataflow
/// file: dora starts it in `<daemon working directory>/_work/<session>/`,
/// and the daemons of `docs/deployment.md` work in the install root, the
/// folder above `dataflows/`. So `<dataflow folder>/../_work/x`, which makes
/// `../../models` the install root's `models/`.
pub fn default_node_dir(dataflow: &Path) -> PathBuf {
    let folder = dataflow.parent().unwrap_or(Path::new(""));
    normalize(&folder.join("../_work/x"))
}

/// Runs the check.
pub fn run(input: &CheckInput) -> Result<Report, CheckError> {
    let dataflow = Dataflow::load(&input.dataflow)?;
    let inventory = Inventory::load(&input.machines)?;
    let placed = place(&dataflow, &inventory)?;
    let node_dir = input.node_dir.clone().unwrap_or_else(|| default_node_dir(&input.dataflow));
    let dataflow_path = input.dataflow.display().to_string();
    let context = Context { dataflow: &dataflow, dataflow_path: &dataflow_path, node_dir: &node_dir };

    let mut lines: Vec<Vec<NodeLine>> = vec![Vec::new(); inventory.machines.len()];
    let mut warnings: Vec<Warning> = Vec::new();
    let mut errors = Vec::new();
    for placed in &placed {
        let candidates = placed.placement.machines();
        if let Placement::AnyOf(machines) = &placed.placement {
            warnings.push(Warning::AnyOf { node: placed.node.id.clone(), machines: machines.clone() });
        }
        for (index, machine) in inventory.machines.iter().enumerate().filter(|(_, m)| candidates.contains(&m.id)) {
            match estimate::estimate(&context, placed.node, machine) {
                Ok(sized) => {
                    lines[index].push(NodeLine::new(
                        &placed.node.id,
                        placed.node.binary(),
                        candidates,
                        &sized.estimate,
                    ));
                    for warning in sized.warnings {
                        if !warnings.contains(&warning) {
                            warnings.push(warning);
                        }
                    }
                }
                // A bad model file is bad on every candidate: report it once.
                Err(error) => {
                    errors.push(error);
                    break;
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(CheckError::Estimates(errors));
    }
    let machines =
        inventory.machines.iter().zip(lines).map(|(machine, nodes)| MachineReport::new(machine, nodes)).collect();
    Ok(Report::new(
        dataflow_path,
        input.machines.display().to_string(),
        node_dir.display().to_string(),
        machines,
        warnings.iter().map(ToString::to_string).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_node_dir_makes_dot_dot_twice_the_folder_above_the_dataflow() {
        assert_eq!(default_node_dir(Path::new("dataflows/plant.yml")), Path::new("_work/x"));
        assert_eq!(
            default_node_dir(Path::new("/opt/shopfloor/dataflows/plant.yml")),
            Path::new("/opt/shopfloor/_work/x")
        );
        assert_eq!(default_node_dir(Path::new("plant.yml")), Path::new("../_work/x"));
    }
}
