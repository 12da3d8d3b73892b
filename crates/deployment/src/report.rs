//! The check's result: per machine, the nodes placed on it, each node's
//! estimate and the sum against the machine profile's budget, as text for
//! people or JSON for scripts.
//!
//! Every part is rounded up to whole MiB before it is added, so the figures
//! printed add up to the total printed (and the total errs high).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::estimate::{mib, normalize, Estimate};
use crate::inventory::Machine;

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dataflow: String,
    pub inventory: String,
    /// The folder relative `env:` paths resolved from.
    pub node_dir: String,
    /// One entry per inventory machine, in inventory order.
    pub machines: Vec<MachineReport>,
    /// What was noticed that does not make a machine fail.
    pub warnings: Vec<String>,
    /// Whether every machine fits.
    pub fits: bool,
}

/// One machine and the nodes placed on it.
#[derive(Debug, Clone, Serialize)]
pub struct MachineReport {
    pub id: String,
    pub profile: String,
    pub profile_path: String,
    pub labels: BTreeMap<String, String>,
    /// The profile's `memory.budget_mb`.
    pub budget_mib: u64,
    /// The profile's `memory.os_reserve_mb`, counted once.
    pub os_reserve_mib: u64,
    /// The nodes, in dataflow order.
    pub nodes: Vec<NodeLine>,
    /// Sum of the model processes.
    pub models_mib: u64,
    /// Sum of the other nodes.
    pub other_nodes_mib: u64,
    /// OS reserve + models + other nodes.
    pub total_mib: u64,
    /// Whether the total is within the budget.
    pub fits: bool,
    /// Budget minus total (negative: over by that much).
    pub margin_mib: i64,
}

/// One node on one machine.
#[derive(Debug, Clone, Serialize)]
pub struct NodeLine {
    pub id: String,
    pub binary: String,
    /// The candidates, when labels match several machines (it is counted on each).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub may_run_on: Vec<String>,
    pub mib: u64,
    /// How it was reached.
    #[serde(flatten)]
    pub detail: Detail,
}

/// The parts of a node's estimate.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Detail {
    /// A model process.
    Model {
        /// Model file (and projector).
        files: Vec<String>,
        /// Weights (file sizes).
        weights_mib: u64,
        kv_cache_mib: u64,
        /// Compute buffer (estimate).
        compute_buffer_mib: u64,
        /// The profile's engine reserve.
        engine_reserve_mib: u64,
    },
    /// Any other node.
    Other {
        /// `measured`, `default` or `other_node_mb`.
        basis: &'static str,
    },
    /// `plant-docs` with its sentence-embedding model.
    Embedding {
        /// The node without the model, and how that was reached.
        resident_mib: u64,
        basis: &'static str,
        /// The model's folder and its share.
        model: String,
        model_mib: u64,
    },
}

/// How a resident size was reached, for the text report.
fn resident_how(basis: &str) -> &'static str {
    match basis {
        "measured" => "resident size, measured",
        "default" => "resident size, default for a binary without a measurement",
        _ => "resident size, the inventory's other_node_mb",
    }
}

impl NodeLine {
    /// A line for `id` from its estimate.
    pub fn new(id: &str, binary: Option<&str>, may_run_on: &[String], estimate: &Estimate) -> Self {
        let (mib_total, detail) = match estimate {
            Estimate::Model(process) => {
                let plan = &process.plan;
                let parts =
                    [plan.model_bytes, plan.kv_cache_bytes, plan.compute_bytes, plan.engine_reserve_bytes].map(mib);
                let files = process.files.iter().map(|f| f.display().to_string()).collect();
                let detail = Detail::Model {
                    files,
                    weights_mib: parts[0],
                    kv_cache_mib: parts[1],
                    compute_buffer_mib: parts[2],
                    engine_reserve_mib: parts[3],
                };
                (parts.iter().sum(), detail)
            }
            Estimate::Other { mib, basis } => (*mib, Detail::Other { basis: basis.as_str() }),
            Estimate::Embedding { mib, basis, model, model_mib } => (
                mib + model_mib,
                Detail::Embedding {
                    resident_mib: *mib,
                    basis: basis.as_str(),
                    model: model.display().to_string(),
                    model_mib: *model_mib,
                },
            ),
        };
        Self {
            id: id.to_owned(),
            binary: binary.unwrap_or("-").to_owned(),
            may_run_on: if may_run_on.len() > 1 { may_run_on.to_vec() } else { Vec::new() },
            mib: mib_total,
            detail,
        }
    }

    fn is_model(&self) -> bool {
        matches!(self.detail, Detail::Model { .. })
    }
}

impl MachineReport {
    /// The sums for `machine` with `nodes` on it.
    pub fn new(machine: &Machine, nodes: Vec<NodeLine>) -> Self {
        let memory = &machine.profile.memory;
        let models_mib = nodes.iter().filter(|n| n.is_model()).map(|n| n.mib).sum();
        let other_nodes_mib = nodes.iter().filter(|n| !n.is_model()).map(|n| n.mib).sum();
        let total_mib = memory.os_reserve_mb + models_mib + other_nodes_mib;
        let margin_mib =
            i64::try_from(memory.budget_mb).unwrap_or(i64::MAX) - i64::try_from(total_mib).unwrap_or(i64::MAX);
        Self {
            id: machine.id.clone(),
            profile: machine.profile.name.clone(),
            profile_path: normalize(&machine.profile_path).display().to_string(),
            labels: machine.labels.clone(),
            budget_mib: memory.budget_mb,
            os_reserve_mib: memory.os_reserve_mb,
            nodes,
            models_mib,
            other_nodes_mib,
            total_mib,
            fits: margin_mib >= 0,
            margin_mib,
        }
    }

    /// `OS reserve 512 MiB + models 381 MiB (slm) + other nodes 352 MiB (7 nodes) = 1245 MiB of budget 2048 MiB`.
    pub fn arithmetic(&self) -> String {
        let mut text = format!("OS reserve {} MiB", self.os_reserve_mib);
        let models: Vec<&NodeLine> = self.nodes.iter().filter(|n| n.is_model()).collect();
        match models.as_slice() {
            [] => {}
            [one] => {
                let _ = write!(text, " + models {} MiB ({})", self.models_mib, one.id);
            }
            several => {
                let parts: Vec<String> = several.iter().map(|n| format!("{} {}", n.id, n.mib)).collect();
                let _ = write!(text, " + models {} MiB ({})", self.models_mib, parts.join(" + "));
            }
        }
        let others = self.nodes.len() - models.len();
        if others > 0 {
            let noun = if others == 1 { "node" } else { "nodes" };
            let _ = write!(text, " + other nodes {} MiB ({others} {noun})", self.other_nodes_mib);
        }
        let _ = write!(text, " = {} MiB of budget {} MiB", self.total_mib, self.budget_mib);
        text
    }

    /// `fits (803 MiB to spare)` or `does NOT fit by 849 MiB`.
    pub fn verdict(&self) -> String {
        if self.fits {
            format!("fits ({} MiB to spare)", self.margin_mib)
        } else {
            format!("does NOT fit by {} MiB", self.margin_mib.unsigned_abs())
        }
    }
}

impl Report {
    /// The report of these machines.
    pub fn new(
        dataflow: String,
        inventory: String,
        node_dir: String,
        machines: Vec<MachineReport>,
        warnings: Vec<String>,
    ) -> Self {
        let fits = machines.iter().all(|m| m.fits);
        Self { dataflow, inventory, node_dir, machines, warnings, fits }
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!("placement check of {} on the machines of {}", self.dataflow, self.inventory));
        line(format!("relative paths in env: resolve from {} (--node-dir)", self.node_dir));
        for machine in &self.machines {
            line(String::new());
            let labels = if machine.labels.is_empty() {
                "no labels".to_owned()
            } else {
                format!(
                    "labels {}",
                    machine.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
                )
            };
            line(format!("machine {}: profile {} ({}), {labels}", machine.id, machine.profile, machine.profile_path));
            if machine.nodes.is_empty() {
                line("  no nodes placed here".to_owned());
            }
            let id_width = machine.nodes.iter().map(|n| n.id.len()).max().unwrap_or(0);
            let binary_width = machine.nodes.iter().map(|n| n.binary.len()).max().unwrap_or(0);
            for node in &machine.nodes {
                let how = match &node.detail {
                    Detail::Model { files, weights_mib, kv_cache_mib, compute_buffer_mib, engine_reserve_mib } => {
                        let names: Vec<&str> = files.iter().map(|f| file_name(f)).collect();
                        format!(
                            "model: weights {weights_mib} + KV cache {kv_cache_mib} + compute buffer {compute_buffer_mib} + engine reserve {engine_reserve_mib} ({})",
                            names.join(" + ")
                        )
                    }
                    Detail::Other { basis } => resident_how(basis).to_owned(),
                    Detail::Embedding { resident_mib, basis, model, model_mib } => format!(
                        "{resident_mib} ({}) + embedding model {model_mib} ({}: twice its weights)",
                        resident_how(basis),
                        file_name(model)
                    ),
                };
                let open = if node.may_run_on.is_empty() {
                    String::new()
                } else {
                    format!("; may run on any of {}", node.may_run_on.join(", "))
                };
                line(format!(
                    "  {:<id_width$}  {:<binary_width$}  {:>5} MiB  {how}{open}",
                    node.id, node.binary, node.mib
                ));
            }
            line(format!("  {} → {}", machine.arithmetic(), machine.verdict()));
        }
        if !self.warnings.is_empty() {
            line(String::new());
            line("warnings:".to_owned());
            for warning in &self.warnings {
                line(format!("  - {warning}"));
            }
        }
        line(String::new());
        let over: Vec<String> = self
            .machines
            .iter()
            .filter(|m| !m.fits)
            .map(|m| format!("{} (by {} MiB)", m.id, m.margin_mib.unsigned_abs()))
            .collect();
        if over.is_empty() {
            line(format!("result: every machine fits ({} machines)", self.machines.len()));
        } else {
            line(format!("result: does NOT fit on {}", over.join(", ")));
        }
        out
    }

    /// The report as JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::estimate::{Basis, ModelProcess};
    use crate::inventory::Inventory;

    const MIB: u64 = 1024 * 1024;

    fn machine(budget_mb: u64) -> Machine {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hw-profiles");
        let inventory = Inventory::parse(
            Path::new("m.toml"),
            &folder,
            "[[machines]]\nid = \"edge-server\"\nprofile = \"generic-x86-2core.toml\"\nlabels = { role = \"edge\" }\n",
        )
        .unwrap();
        let mut machine = inventory.machines[0].clone();
        machine.profile.memory.budget_mb = budget_mb;
        machine
    }

    fn model(machine: &Machine, weights: u64, kv: u64, compute: u64) -> Estimate {
        Estimate::Model(ModelProcess {
            files: vec![PathBuf::from("/m/model.gguf")],
            plan: machine.profile.memory_plan(weights, kv, compute, None),
        })
    }

    /// OS reserve once, each model process with its own engine reserve,
    /// every other node; each part rounded up to whole MiB.
    #[test]
    fn the_sum_counts_the_os_reserve_once_and_each_model_with_its_engine_reserve() {
        let m = machine(2048);
        let nodes = vec![
            NodeLine::new("slm", Some("slm"), &[], &model(&m, 94 * MIB - 10, 45 * MIB, 114 * MIB)),
            NodeLine::new("slm-small", Some("slm"), &[], &model(&m, 242 * MIB, 36 * MIB, 532 * MIB)),
            NodeLine::new("router", Some("router"), &[], &Estimate::Other { mib: 56, basis: Basis::Measured }),
            NodeLine::new("x", Some("x"), &[], &Estimate::Other { mib: 64, basis: Basis::Default }),
        ];
        assert_eq!(nodes[0].mib, 94 + 45 + 114 + 128);
        let report = MachineReport::new(&m, nodes);
        assert_eq!(report.total_mib, 512 + (94 + 45 + 114 + 128) + (242 + 36 + 532 + 128) + 56 + 64);
        assert_eq!(
            report.arithmetic(),
            "OS reserve 512 MiB + models 1319 MiB (slm 381 + slm-small 938) + other nodes 120 MiB (2 nodes) = 1951 MiB of budget 2048 MiB"
        );
        assert!(report.fits);
        assert_eq!(report.verdict(), "fits (97 MiB to spare)");
        // plant-docs' embedding model is added to the node's own size.
        let docs = NodeLine::new(
            "plant-docs",
            Some("plant-docs"),
            &[],
            &Estimate::Embedding {
                mib: 64,
                basis: Basis::Default,
                model: "/m/all-MiniLM-L6-v2".into(),
                model_mib: 174,
            },
        );
        assert_eq!(docs.mib, 64 + 174);
    }

    #[test]
    fn a_machine_over_its_budget_says_by_how_much() {
        let m = machine(600);
        let report = MachineReport::new(
            &m,
            vec![NodeLine::new("slm-small", Some("slm"), &[], &model(&m, 242 * MIB, 36 * MIB, 532 * MIB))],
        );
        assert_eq!(report.arithmetic(), "OS reserve 512 MiB + models 938 MiB (slm-small) = 1450 MiB of budget 600 MiB");
        assert!(!report.fits);
        assert_eq!(report.verdict(), "does NOT fit by 850 MiB");
        let whole = Report::new("f.yml".into(), "m.toml".into(), "_work/x".into(), vec![report], Vec::new());
        assert!(!whole.fits);
        let text = whole.text();
        assert!(text.contains("→ does NOT fit by 850 MiB"), "{text}");
        assert!(text.ends_with("result: does NOT fit on edge-server (by 850 MiB)\n"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&whole.json()).unwrap();
        assert_eq!(json["machines"][0]["nodes"][0]["kind"], "model");
        assert_eq!(json["machines"][0]["margin_mib"], -850);
    }

    #[test]
    fn a_machine_without_nodes_holds_only_its_os_reserve() {
        let report = MachineReport::new(&machine(2048), Vec::new());
        assert_eq!(report.arithmetic(), "OS reserve 512 MiB = 512 MiB of budget 2048 MiB");
        assert!(report.fits);
    }

    #[test]
    fn a_node_with_several_candidates_lists_them() {
        let line = NodeLine::new(
            "v",
            Some("vlm-inspector"),
            &["a".into(), "b".into()],
            &Estimate::Other { mib: 56, basis: Basis::Measured },
        );
        let report = Report::new(
            "f".into(),
            "m".into(),
            "d".into(),
            vec![MachineReport::new(&machine(2048), vec![line])],
            vec!["w".into()],
        );
        let text = report.text();
        assert!(text.contains("resident size, measured; may run on any of a, b"), "{text}");
        assert!(text.contains("warnings:\n  - w\n"), "{text}");
    }
}
