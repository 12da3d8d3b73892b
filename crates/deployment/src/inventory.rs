//! The inventory of machines (`MACHINES.toml`): each machine's dora
//! `--machine-id`, the hardware profile that describes it, and the labels
//! its daemon is started with.
//!
//! ```toml
//! [[machines]]
//! id = "gateway"                                    # the daemon's --machine-id
//! profile = "../hw-profiles/generic-x86-2core.toml" # relative to this file's folder
//! labels = { role = "gateway", gpu = "false" }      # the daemon's --labels
//! other_node_mb = 48                                # optional: MiB per node without a model
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use slm_engine::profile::HardwareProfile;

/// Most MiB `other_node_mb` may say (a sanity bound, 64 GiB).
const MAX_OTHER_NODE_MB: u64 = 65_536;

/// Why an inventory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The file could not be read.
    #[error("cannot read machine inventory {path}: {source}")]
    Read { path: String, source: std::io::Error },
    /// The TOML does not parse into an inventory (unknown key, wrong type).
    #[error("invalid machine inventory {path}: {message}")]
    Parse {
        path: String,
        /// The TOML parser's message, which names the key, and the line.
        message: String,
    },
    /// Values that parse but cannot be used, all of them.
    #[error("invalid machine inventory {path}:\n{}", list(.problems))]
    Invalid { path: String, problems: Vec<Problem> },
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
}

/// One unusable value of the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The machine (its id, or `machines[N]` when the id itself is bad).
    pub machine: String,
    pub field: &'static str,
    /// The value found (or the cause).
    pub value: String,
    /// What it must be.
    pub requirement: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "machine `{}` has invalid `{}`: {} (must be {})",
            self.machine, self.field, self.value, self.requirement
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    #[serde(default)]
    machines: Vec<RawMachine>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMachine {
    id: String,
    profile: PathBuf,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    other_node_mb: Option<u64>,
}

/// A machine of the inventory, its profile loaded.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The daemon's `--machine-id`.
    pub id: String,
    /// The profile file, resolved against the inventory's folder.
    pub profile_path: PathBuf,
    pub profile: HardwareProfile,
    /// The daemon's `--labels`.
    pub labels: BTreeMap<String, String>,
    /// MiB counted for each node without a model, instead of the built-in estimates.
    pub other_node_mb: Option<u64>,
}

impl Machine {
    /// Whether this machine's labels contain every one of `wanted`.
    pub fn has_labels(&self, wanted: &BTreeMap<String, String>) -> bool {
        wanted.iter().all(|(key, value)| self.labels.get(key) == Some(value))
    }

    /// `k=v,k=v`, as the daemon's `--labels` takes them.
    pub fn labels_arg(&self) -> String {
        self.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
    }
}

/// The machines, in file order.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub path: PathBuf,
    pub machines: Vec<Machine>,
}

impl Inventory {
    /// Reads an inventory and loads every machine's profile (relative
    /// profile paths resolve against the inventory's folder).
    pub fn load(path: &Path) -> Result<Self, InventoryError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| InventoryError::Read { path: shown.clone(), source })?;
        let folder = path.parent().unwrap_or(Path::new(""));
        Self::parse(path, folder, &text)
    }

    /// Parses inventory text; profiles resolve against `folder`.
    pub fn parse(path: &Path, folder: &Path, text: &str) -> Result<Self, InventoryError> {
        let shown = path.display().to_string();
        let raw: RawInventory = toml::from_str(text).map_err(|e| InventoryError::Parse {
            path: shown.clone(),
            message: format!("{}{}", e.message().trim_end(), line_hint(text, e.span())),
        })?;
        let mut problems = Vec::new();
        if raw.machines.is_empty() {
            problems.push(Problem {
                machine: "(none)".into(),
                field: "machines",
                value: "no [[machines]] entry".into(),
                requirement: "at least one machine".into(),
            });
        }
        let mut machines = Vec::new();
        for (index, machine) in raw.machines.into_iter().enumerate() {
            let name = if valid_word(&machine.id) { machine.id.clone() } else { format!("machines[{index}]") };
            let mut problem = |field, value: String, requirement: &str| {
                problems.push(Problem { machine: name.clone(), field, value, requirement: requirement.to_owned() });
            };
            if !valid_word(&machine.id) {
                problem("id", format!("{:?}", machine.id), "a non-empty dora machine id without spaces, `,` or `=`");
            } else if machines.iter().any(|m: &Machine| m.id == machine.id) {
                problem("id", format!("{:?}", machine.id), "unique in the inventory (it is listed twice)");
            }
            for (key, value) in &machine.labels {
                if !valid_word(key) || !valid_word(value) {
                    problem("labels", format!("{key:?} = {value:?}"), "non-empty keys and values without spaces, `,` or `=` (they become the daemon's --labels k=v,k=v)");
                }
            }
            if let Some(mb) = machine.other_node_mb {
                if mb == 0 || mb > MAX_OTHER_NODE_MB {
                    problem("other_node_mb", mb.to_string(), "MiB in 1..=65536");
                }
            }
            let profile_path =
                if machine.profile.is_absolute() { machine.profile.clone() } else { folder.join(&machine.profile) };
            match HardwareProfile::load(&profile_path) {
                Ok(profile) => {
                    tracing::debug!(machine = %machine.id, profile = %profile.name, "profile loaded");
                    machines.push(Machine {
                        id: machine.id,
                        profile_path,
                        profile,
                        labels: machine.labels,
                        other_node_mb: machine.other_node_mb,
                    });
                }
                Err(error) => problem("profile", error.to_string(), "a hardware profile that loads"),
            }
        }
        if problems.is_empty() {
            Ok(Self { path: path.to_path_buf(), machines })
        } else {
            Err(InventoryError::Invalid { path: shown, problems })
        }
    }

    /// The machine with this id.
    pub fn machine(&self, id: &str) -> Option<&Machine> {
        self.machines.iter().find(|m| m.id == id)
    }

    /// The ids, comma-separated, for messages.
    pub fn ids(&self) -> String {
        self.machines.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// Usable as a machine id, label key or label value on the daemon's command line.
fn valid_word(text: &str) -> bool {
    !text.is_empty() && !text.chars().any(|c| c.is_whitespace() || c == ',' || c == '=')
}

fn line_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else { return String::new() };
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    format!(" (line {line})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profiles() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hw-profiles")
    }

    fn parse(text: &str) -> Result<Inventory, InventoryError> {
        Inventory::parse(Path::new("machines.toml"), &profiles(), text)
    }

    #[test]
    fn machines_load_their_profiles_relative_to_the_inventory_folder() {
        let inventory = parse(
            "[[machines]]\nid = \"gateway\"\nprofile = \"generic-x86-2core.toml\"\nlabels = { role = \"gateway\", gpu = \"false\" }\n\
             [[machines]]\nid = \"edge-server\"\nprofile = \"x86-nvidia-gpu.toml\"\nother_node_mb = 48\n",
        )
        .unwrap();
        assert_eq!(inventory.ids(), "gateway, edge-server");
        let gateway = inventory.machine("gateway").unwrap();
        assert_eq!(gateway.profile.name, "generic-x86-2core");
        assert_eq!(gateway.labels_arg(), "gpu=false,role=gateway");
        assert_eq!(inventory.machine("edge-server").unwrap().other_node_mb, Some(48));
    }

    #[test]
    fn every_bad_field_is_reported_at_once_with_its_machine() {
        let err = parse(
            "[[machines]]\nid = \"a\"\nprofile = \"generic-x86-2core.toml\"\n\
             [[machines]]\nid = \"a\"\nprofile = \"missing.toml\"\nlabels = { \"bad key\" = \"x\" }\nother_node_mb = 0\n\
             [[machines]]\nid = \"\"\nprofile = \"generic-x86-2core.toml\"\n",
        )
        .unwrap_err();
        let InventoryError::Invalid { problems, .. } = &err else { panic!("{err}") };
        let fields: Vec<(&str, &str)> = problems.iter().map(|p| (p.machine.as_str(), p.field)).collect();
        assert_eq!(
            fields,
            [("a", "id"), ("a", "labels"), ("a", "other_node_mb"), ("a", "profile"), ("machines[2]", "id")],
            "{err}"
        );
        assert!(err.to_string().contains("missing.toml"), "{err}");
    }

    #[test]
    fn a_label_that_is_not_a_string_or_an_unknown_key_is_a_parse_error_with_its_line() {
        let err = parse("[[machines]]\nid = \"a\"\nprofile = \"generic-x86-2core.toml\"\nlabels = { gpu = false }\n")
            .unwrap_err();
        assert!(matches!(err, InventoryError::Parse { .. }) && err.to_string().contains("line 4"), "{err}");
        let err = parse("[[machines]]\nid = \"a\"\nprofile = \"generic-x86-2core.toml\"\nlabel = {}\n").unwrap_err();
        assert!(err.to_string().contains("label"), "{err}");
    }

    #[test]
    fn an_empty_inventory_is_refused() {
        let err = parse("").unwrap_err();
        assert!(err.to_string().contains("`machines`"), "{err}");
    }

    #[test]
    fn labels_match_when_all_wanted_ones_are_there() {
        let inventory = parse("[[machines]]\nid = \"a\"\nprofile = \"generic-x86-2core.toml\"\nlabels = { gpu = \"true\", role = \"edge\" }\n").unwrap();
        let machine = &inventory.machines[0];
        let wanted = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        assert!(machine.has_labels(&wanted(&[("gpu", "true")])));
        assert!(!machine.has_labels(&wanted(&[("gpu", "true"), ("role", "gateway")])));
        assert!(!machine.has_labels(&wanted(&[("arch", "arm64")])));
    }
}
