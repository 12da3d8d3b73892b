//! How much memory one node takes on one machine.
//!
//! A model node (binary `slm`, or `vlm-inspector` with a model) is sized as
//! the `slm-engine` sizes it before loading: weights (the GGUF file, plus
//! the image projector for a vision model), KV cache and compute buffer from
//! the model's shape and the *machine's* profile (context, KV cache type,
//! batch), and the profile's engine reserve (`HardwareProfile::memory_plan`).
//! Every other node gets its resident size from [`RESIDENT_MIB`], or
//! [`DEFAULT_RESIDENT_MIB`], or the machine's `other_node_mb`.
//!
//! Relative paths in `env:` resolve from the node's working folder on its
//! machine (`--node-dir`), lexically, since that folder (`_work/<session>/`)
//! only exists while a dataflow runs.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use slm_engine::memory::{compute_bytes_estimate, kv_cache_bytes};
use slm_engine::model_file::{self, ModelFileError};
use slm_engine::profile::{HardwareProfile, MemoryPlan};

use crate::descriptor::{Dataflow, DescriptorError, Node};
use crate::inventory::Machine;

/// Resident memory of the nodes without a model, in MiB, by binary: the RSS
/// (`ps -o rss`) each had after 45-60 s of `dora run` of
/// `dataflows/plant-assistant.yml`, `vision-inspection.yml`, `record-plant.yml`
/// and a replayer dataflow on the development machine (x86-64, release
/// build), rounded up to a multiple of 8 MiB. RSS counts shared library pages
/// in every process, so the sum errs high.
pub const RESIDENT_MIB: &[(&str, u64)] = &[
    ("plant-sim", 56),     // 50.8
    ("opcua-source", 88),  // 84.9
    ("mqtt-broker", 32),   // 28.2
    ("mqtt-source", 56),   // 51.7
    ("mqtt-sink", 56),     // 52.9
    ("router", 40),        // 39.7
    ("limit-alarms", 56),  // 54.8
    ("http-gateway", 112), // 110.7
    ("camera-source", 80), // 75.6 (2 frames/s)
    ("defect-filter", 56), // 51.1
    ("vlm-inspector", 64), // 57.1, without a model (stage 2 off)
    ("recorder", 32),      // 26.1
    ("replayer", 80),      // 75.2
];

/// MiB counted for a binary that [`RESIDENT_MIB`] does not list.
pub const DEFAULT_RESIDENT_MIB: u64 = 64;

/// Resident memory of `plant-docs`' sentence-embedding model, as a multiple
/// of its weight files (`*.safetensors`): `shopfloor docs search` over
/// `data/docs/plant-sim` peaked at 205,792 KB with all-MiniLM-L6-v2 (a
/// 90.9 MB file) and 33,252 KB without it (`/usr/bin/time -v`, x86-64,
/// release build), 1.9 times the file; rounded up.
pub const EMBEDDING_RESIDENT_FACTOR: u64 = 2;

const MIB: u64 = 1024 * 1024;

/// Why a node could not be sized.
#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    /// A variable placement reads is not a scalar.
    #[error(transparent)]
    Env(#[from] DescriptorError),
    /// A model node names no model file.
    #[error("node `{node}` sets no `{field}` (the {binary} node needs a GGUF model file)")]
    NoModel { node: String, field: &'static str, binary: String },
    /// Only one of the vision model's two files is named.
    #[error("node `{node}` sets `{set}` but not `{unset}` (set both, or neither to use the profile's [vision])")]
    HalfVisionPair {
        node: String,
        /// The variable that is set.
        set: &'static str,
        /// The one that is not.
        unset: &'static str,
    },
    /// `plant-docs`' embedding model folder is missing or holds no weights.
    #[error("node `{node}` has invalid `DOCS_EMBEDDING_MODEL` {value:?} (resolved to {resolved}): {problem}")]
    EmbeddingModel { node: String, value: String, resolved: String, problem: String },
    /// A model file is missing, unreadable, not GGUF or truncated.
    #[error("node `{node}` has invalid `{field}` {value:?} (resolved to {resolved}): {source}")]
    ModelFile {
        node: String,
        /// Where the path came from (a variable, or the profile's `vision.model`).
        field: String,
        /// The value as written.
        value: String,
        /// Where it was looked for.
        resolved: String,
        source: Box<ModelFileError>,
    },
}

/// Something the check notices that does not make a machine fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The node's own profile variable names another profile than its machine's.
    ProfileMismatch {
        node: String,
        /// `SLM_PROFILE` or `VLM_PROFILE`.
        field: &'static str,
        /// Its value, as written.
        value: String,
        /// The name of the node's profile, where it loads.
        node_profile: Option<String>,
        machine: String,
        /// The machine's profile name.
        machine_profile: String,
        /// The machine's profile file.
        machine_profile_path: String,
    },
    /// The node's profile variable names a file that is not there.
    ProfileMissing {
        node: String,
        /// `SLM_PROFILE` or `VLM_PROFILE`.
        field: &'static str,
        /// The value, and where it was looked for.
        value: String,
    },
    /// The node's profile variable is not set.
    ProfileUnset {
        node: String,
        /// `SLM_PROFILE` or `VLM_PROFILE`.
        field: &'static str,
    },
    /// The model's header lacks its shape: KV cache and compute buffer are not counted.
    ShapeUnknown { node: String, file: String },
    /// A `vlm-inspector` without a model (stage 2 off): counted as a node without a model.
    NoVisionModel { node: String, machine: String },
    /// Labels that several machines have: dora picks one at start.
    AnyOf { node: String, machines: Vec<String> },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ProfileMismatch { node, field, value, node_profile, machine, machine_profile, machine_profile_path } => write!(
                f,
                "node {node} loads profile {} ({field} {value}) but runs on machine {machine}, whose profile is {machine_profile} \
                 ({machine_profile_path}); the estimate uses the machine's",
                node_profile.as_deref().unwrap_or(value)
            ),
            Self::ProfileMissing { node, field, value } => {
                write!(f, "node {node} has {field} {value}, which does not exist here; the estimate uses its machine's profile")
            }
            Self::ProfileUnset { node, field } => write!(f, "node {node} sets no {field}: it will refuse to start"),
            Self::ShapeUnknown { node, file } => write!(
                f,
                "node {node}: the header of {file} lacks the model's shape, so its KV cache and compute buffer are not counted"
            ),
            Self::NoVisionModel { node, machine } => write!(
                f,
                "node {node} on {machine} has no vision-language model (VLM_MODEL_PATH/VLM_MMPROJ_PATH empty, no [vision] in the \
                 machine's profile): counted as a node without a model"
            ),
            Self::AnyOf { node, machines } => write!(
                f,
                "node {node} may run on any of {} (its labels match each; dora picks one at start): counted on each",
                machines.join(", ")
            ),
        }
    }
}

/// Where a figure for a node without a model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// [`RESIDENT_MIB`].
    Measured,
    /// [`DEFAULT_RESIDENT_MIB`]: the binary is not in the table.
    Default,
    /// The machine's `other_node_mb`.
    Inventory,
}

impl Basis {
    /// A word for the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Measured => "measured",
            Self::Default => "default",
            Self::Inventory => "other_node_mb",
        }
    }
}

/// A model process: its files and the plan the engine would check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelProcess {
    /// The model file, and the projector of a vision model.
    pub files: Vec<PathBuf>,
    /// Weights, KV cache, compute buffer and engine reserve (and the
    /// machine profile's OS reserve and budget, counted once per machine).
    pub plan: MemoryPlan,
}

/// What a node takes on a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Estimate {
    /// A model process.
    Model(ModelProcess),
    /// Any other node.
    Other {
        /// Resident MiB.
        mib: u64,
        /// Where the figure came from.
        basis: Basis,
    },
    /// `plant-docs` with a sentence-embedding model: its own resident size
    /// and the model's.
    Embedding {
        /// Resident MiB without the model, and where the figure came from.
        mib: u64,
        basis: Basis,
        /// The model's folder.
        model: PathBuf,
        /// [`EMBEDDING_RESIDENT_FACTOR`] times its weight files, in MiB.
        model_mib: u64,
    },
}

/// A node's estimate on one machine, with what was noticed on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEstimate {
    pub estimate: Estimate,
    pub warnings: Vec<Warning>,
}

/// What a node is, from its binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Vision,
    Documents,
    Other,
}

fn kind_of(node: &Node) -> Kind {
    match node.binary() {
        Some("slm") => Kind::Text,
        Some("vlm-inspector") => Kind::Vision,
        Some("plant-docs") => Kind::Documents,
        _ => Kind::Other,
    }
}

/// The context a node's estimate needs besides node and machine.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The dataflow (for its `env:`).
    pub dataflow: &'a Dataflow,
    /// The dataflow file, for messages.
    pub dataflow_path: &'a str,
    /// The folder relative `env:` paths resolve from (`--node-dir`).
    pub node_dir: &'a Path,
}

impl Context<'_> {
    fn env(&self, node: &Node, key: &str) -> Result<Option<String>, DescriptorError> {
        Ok(self.dataflow.env_of(self.dataflow_path, node, key)?.filter(|v| !v.trim().is_empty()))
    }

    /// A path from `env:`, as the node would open it.
    pub fn resolve(&self, value: &str) -> PathBuf {
        normalize(&self.node_dir.join(value))
    }
}

/// Sizes `node` as it would run on `machine`.
pub fn estimate(context: &Context<'_>, node: &Node, machine: &Machine) -> Result<NodeEstimate, EstimateError> {
    let mut warnings = Vec::new();
    let estimate = match kind_of(node) {
        Kind::Text => {
            warnings.extend(profile_warning(context, node, "SLM_PROFILE", machine)?);
            let value = context.env(node, "SLM_MODEL_PATH")?.ok_or_else(|| EstimateError::NoModel {
                node: node.id.clone(),
                field: "SLM_MODEL_PATH",
                binary: "slm".into(),
            })?;
            let model =
                ModelRef { field: "SLM_MODEL_PATH".into(), value: value.clone(), path: context.resolve(&value) };
            // The node's own SLM_PARALLEL over the profile's; one it would refuse changes nothing here.
            let parallel = context
                .env(node, "SLM_PARALLEL")?
                .and_then(|text| text.trim().parse::<u32>().ok())
                .filter(|n| (1..=64).contains(n))
                .unwrap_or(machine.profile.engine.parallel);
            Estimate::Model(model_process(node, &model, None, &machine.profile, parallel, &mut warnings)?)
        }
        Kind::Vision => {
            warnings.extend(profile_warning(context, node, "VLM_PROFILE", machine)?);
            match vision_pair(context, node, &machine.profile)? {
                // The vision engine decodes one image at a time: one sequence.
                Some((model, mmproj)) => {
                    Estimate::Model(model_process(node, &model, Some(&mmproj), &machine.profile, 1, &mut warnings)?)
                }
                None => {
                    warnings.push(Warning::NoVisionModel { node: node.id.clone(), machine: machine.id.clone() });
                    other(node, machine)
                }
            }
        }
        Kind::Documents => match context.env(node, "DOCS_EMBEDDING_MODEL")?.filter(|v| !v.trim().is_empty()) {
            None => other(node, machine),
            Some(value) => {
                let model = context.resolve(&value);
                let bytes = weight_bytes(&model).map_err(|problem| EstimateError::EmbeddingModel {
                    node: node.id.clone(),
                    value,
                    resolved: model.display().to_string(),
                    problem,
                })?;
                let (mib, basis) = resident(node, machine);
                Estimate::Embedding { mib, basis, model, model_mib: (EMBEDDING_RESIDENT_FACTOR * bytes).div_ceil(MIB) }
            }
        },
        Kind::Other => other(node, machine),
    };
    Ok(NodeEstimate { estimate, warnings })
}

/// The bytes of a model folder's weight files (`*.safetensors`).
fn weight_bytes(folder: &Path) -> Result<u64, String> {
    let entries = std::fs::read_dir(folder).map_err(|error| format!("cannot read the folder: {error}"))?;
    let sizes: Vec<u64> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "safetensors"))
        .filter_map(|entry| entry.metadata().ok().map(|meta| meta.len()))
        .collect();
    if sizes.is_empty() {
        return Err("no .safetensors weight file in it".into());
    }
    Ok(sizes.iter().sum())
}

/// A model file and where its path came from.
struct ModelRef {
    field: String,
    value: String,
    path: PathBuf,
}

impl ModelRef {
    fn error(&self, node: &Node, source: ModelFileError) -> EstimateError {
        EstimateError::ModelFile {
            node: node.id.clone(),
            field: self.field.clone(),
            value: self.value.clone(),
            resolved: self.path.display().to_string(),
            source: Box::new(source),
        }
    }
}

/// The vision model and projector: the node's variables, else the
/// machine profile's `[vision]`, else none (stage 2 off).
fn vision_pair(
    context: &Context<'_>,
    node: &Node,
    profile: &HardwareProfile,
) -> Result<Option<(ModelRef, ModelRef)>, EstimateError> {
    let model = context.env(node, "VLM_MODEL_PATH")?;
    let mmproj = context.env(node, "VLM_MMPROJ_PATH")?;
    let from_env = |field: &str, value: String| ModelRef { field: field.into(), path: context.resolve(&value), value };
    match (model, mmproj) {
        (Some(model), Some(mmproj)) => {
            Ok(Some((from_env("VLM_MODEL_PATH", model), from_env("VLM_MMPROJ_PATH", mmproj))))
        }
        (Some(_), None) => Err(EstimateError::HalfVisionPair {
            node: node.id.clone(),
            set: "VLM_MODEL_PATH",
            unset: "VLM_MMPROJ_PATH",
        }),
        (None, Some(_)) => Err(EstimateError::HalfVisionPair {
            node: node.id.clone(),
            set: "VLM_MMPROJ_PATH",
            unset: "VLM_MODEL_PATH",
        }),
        (None, None) => Ok(profile.vision.as_ref().map(|vision| {
            let from_profile = |field: &str, path: &Path| ModelRef {
                field: format!("{field} of profile {}", profile.name),
                value: path.display().to_string(),
                path: normalize(&profile.resolve(path)),
            };
            (from_profile("vision.model", &vision.model), from_profile("vision.mmproj", &vision.mmproj))
        })),
    }
}

/// The engine's plan for a model (and projector) under `profile` with
/// `parallel` sequences, as `slm_engine::LoadedModel::load_with` checks it
/// before loading.
fn model_process(
    node: &Node,
    model: &ModelRef,
    mmproj: Option<&ModelRef>,
    profile: &HardwareProfile,
    parallel: u32,
    warnings: &mut Vec<Warning>,
) -> Result<ModelProcess, EstimateError> {
    let file = model_file::check(&model.path).map_err(|e| model.error(node, e))?;
    let mut files = vec![model.path.clone()];
    let mut extra_bytes = 0;
    if let Some(mmproj) = mmproj {
        // The projector is a GGUF file too; its size counts with the weights.
        extra_bytes = model_file::check(&mmproj.path).map_err(|e| mmproj.error(node, e))?.bytes;
        files.push(mmproj.path.clone());
    }
    if file.shape.is_none() {
        warnings.push(Warning::ShapeUnknown { node: node.id.clone(), file: model.path.display().to_string() });
    }
    let engine = &slm_engine::profile::EngineProfile { parallel, ..profile.engine.clone() };
    let plan = profile.memory_plan(
        file.bytes + extra_bytes,
        file.shape.as_ref().map_or(0, |s| kv_cache_bytes(s, engine)),
        file.shape.as_ref().map_or(0, |s| compute_bytes_estimate(s, engine)),
        None,
    );
    tracing::debug!(node = %node.id, plan = %plan.arithmetic(), "model node sized");
    Ok(ModelProcess { files, plan })
}

fn other(node: &Node, machine: &Machine) -> Estimate {
    let (mib, basis) = resident(node, machine);
    Estimate::Other { mib, basis }
}

/// A node's resident MiB without a model, and where the figure came from.
fn resident(node: &Node, machine: &Machine) -> (u64, Basis) {
    if let Some(mib) = machine.other_node_mb {
        return (mib, Basis::Inventory);
    }
    match node.binary().and_then(|binary| RESIDENT_MIB.iter().find(|(name, _)| *name == binary)) {
        Some((_, mib)) => (*mib, Basis::Measured),
        None => (DEFAULT_RESIDENT_MIB, Basis::Default),
    }
}

/// Compares the profile a model node loads (`field`) with its machine's.
fn profile_warning(
    context: &Context<'_>,
    node: &Node,
    field: &'static str,
    machine: &Machine,
) -> Result<Option<Warning>, EstimateError> {
    let Some(value) = context.env(node, field)? else {
        return Ok(Some(Warning::ProfileUnset { node: node.id.clone(), field }));
    };
    let resolved = context.resolve(&value);
    let Ok(own) = std::fs::canonicalize(&resolved) else {
        return Ok(Some(Warning::ProfileMissing {
            node: node.id.clone(),
            field,
            value: format!("{value} ({})", resolved.display()),
        }));
    };
    if std::fs::canonicalize(&machine.profile_path).is_ok_and(|theirs| theirs == own) {
        return Ok(None);
    }
    Ok(Some(Warning::ProfileMismatch {
        node: node.id.clone(),
        field,
        node_profile: HardwareProfile::load(&own).ok().map(|p| p.name),
        value,
        machine: machine.id.clone(),
        machine_profile: machine.profile.name.clone(),
        machine_profile_path: normalize(&machine.profile_path).display().to_string(),
    }))
}

/// Removes `.` and folds `..` into the component before it, without asking
/// the file system (the node's folder does not exist yet).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
}

/// Bytes to whole MiB, rounded up (the report adds whole MiB).
pub fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(MIB)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;

    fn repo() -> PathBuf {
        normalize(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
    }

    /// An inventory of one machine `m` on `profile` (a file in hw-profiles/ or a path).
    fn machine(profile: &str, extra: &str) -> Machine {
        let text = format!("[[machines]]\nid = \"m\"\nprofile = \"{profile}\"\n{extra}");
        let inventory = Inventory::parse(Path::new("m.toml"), &repo().join("hw-profiles"), &text).unwrap();
        inventory.machines[0].clone()
    }

    fn node_dir() -> PathBuf {
        repo().join("_work/x")
    }

    fn run(yaml: &str, machine: &Machine) -> Result<NodeEstimate, EstimateError> {
        let dataflow = Dataflow::parse("f.yml", yaml).unwrap();
        let dir = node_dir();
        let context = Context { dataflow: &dataflow, dataflow_path: "f.yml", node_dir: &dir };
        estimate(&context, &dataflow.nodes[0], machine)
    }

    #[test]
    fn lexical_normalisation_folds_parent_components() {
        assert_eq!(
            normalize(Path::new("/opt/shopfloor/_work/x/../../models/a.gguf")),
            Path::new("/opt/shopfloor/models/a.gguf")
        );
        assert_eq!(normalize(Path::new("dataflows/../_work/x/../../models/a.gguf")), Path::new("models/a.gguf"));
        assert_eq!(normalize(Path::new("../_work/x/../../../m")), Path::new("../../m"));
        assert_eq!(normalize(Path::new("/../a")), Path::new("/a"));
    }

    #[test]
    fn nodes_without_a_model_take_the_table_the_default_or_the_inventory_figure() {
        let m = machine("generic-x86-2core.toml", "");
        let got = |path: &str, m: &Machine| run(&format!("nodes:\n  - id: n\n    path: {path}\n"), m).unwrap().estimate;
        assert_eq!(got("../../target/release/router", &m), Estimate::Other { mib: 40, basis: Basis::Measured });
        assert_eq!(got("./my-node", &m), Estimate::Other { mib: DEFAULT_RESIDENT_MIB, basis: Basis::Default });
        let site = machine("generic-x86-2core.toml", "other_node_mb = 30\n");
        assert_eq!(got("../../target/release/router", &site), Estimate::Other { mib: 30, basis: Basis::Inventory });
    }

    /// The slm node's model is sized with the machine's profile, the same
    /// plan `shopfloor model check` prints (94 + 45 + 114 + 128 MiB for SmolLM2
    /// on generic-x86-2core, docs/hardware.md).
    #[test]
    fn an_slm_node_is_sized_from_its_model_and_the_machine_profile() {
        let m = machine("generic-x86-2core.toml", "");
        let yaml = "nodes:\n  - id: slm\n    path: ../../target/release/slm\n    env:\n      SLM_MODEL_PATH: ../../models/SmolLM2-135M-Instruct.Q4_1.gguf\n      SLM_PROFILE: ../../hw-profiles/generic-x86-2core.toml\n";
        let result = run(yaml, &m).unwrap();
        assert_eq!(result.warnings, []);
        let Estimate::Model(process) = result.estimate else { panic!("{result:?}") };
        let plan = &process.plan;
        assert_eq!(process.files, [repo().join("models/SmolLM2-135M-Instruct.Q4_1.gguf")]);
        // The profile's four sequences and the shared prefix: five 2048-token windows of 45 MiB.
        assert_eq!(
            (mib(plan.model_bytes), mib(plan.kv_cache_bytes), mib(plan.compute_bytes), mib(plan.engine_reserve_bytes)),
            (94, 225, 114, 128)
        );
        // SLM_PARALLEL=1 in the node's env: one window.
        let one = format!("{yaml}      SLM_PARALLEL: \"1\"\n");
        let Estimate::Model(process) = run(&one, &m).unwrap().estimate else { panic!() };
        assert_eq!(mib(process.plan.kv_cache_bytes), 45);
    }

    #[test]
    fn a_node_profile_other_than_the_machine_profile_is_a_warning() {
        let m = machine("x86-nvidia-gpu.toml", "");
        let yaml = "nodes:\n  - id: slm-small\n    path: ../../target/release/slm\n    env:\n      SLM_MODEL_PATH: ../../models/gemma-3-270m.Q4_K_M.gguf\n      SLM_PROFILE: ../../hw-profiles/generic-x86-2core.toml\n";
        let result = run(yaml, &m).unwrap();
        let [warning] = result.warnings.as_slice() else { panic!("{:?}", result.warnings) };
        let text = warning.to_string();
        assert!(
            text.starts_with(
                "node slm-small loads profile generic-x86-2core (SLM_PROFILE ../../hw-profiles/generic-x86-2core.toml) \
                 but runs on machine m, whose profile is x86-nvidia-gpu ("
            ),
            "{text}"
        );
        assert!(text.contains("hw-profiles/x86-nvidia-gpu.toml); the estimate uses the machine's"), "{text}");
        // The machine's profile counts: x86-nvidia-gpu's engine reserve is 1024 MiB.
        let Estimate::Model(process) = result.estimate else { panic!() };
        assert_eq!(mib(process.plan.engine_reserve_bytes), 1024);
    }

    #[test]
    fn unset_and_missing_node_profiles_are_warnings() {
        let m = machine("generic-x86-2core.toml", "");
        let yaml = |profile: &str| {
            format!("nodes:\n  - id: v\n    path: ../../target/release/vlm-inspector\n    env:\n      VLM_PROFILE: \"{profile}\"\n")
        };
        let unset = run(&yaml(""), &m).unwrap();
        assert_eq!(unset.warnings[0], Warning::ProfileUnset { node: "v".into(), field: "VLM_PROFILE" });
        let missing = run(&yaml("../../hw-profiles/nowhere.toml"), &m).unwrap();
        assert!(
            matches!(&missing.warnings[0], Warning::ProfileMissing { field: "VLM_PROFILE", .. }),
            "{:?}",
            missing.warnings
        );
    }

    /// plant-docs with its embedding model counts the model at twice its
    /// weight files; without one it is a plain node; a folder without
    /// weights is an error that names the variable.
    #[test]
    fn plant_docs_counts_its_embedding_model() {
        let m = machine("generic-x86-2core.toml", "");
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("config.json"), "{}").unwrap();
        let yaml = |model: &str| {
            format!("nodes:\n  - id: docs\n    path: ../../target/release/plant-docs\n    env:\n      DOCS_EMBEDDING_MODEL: \"{model}\"\n")
        };
        let dir = folder.path().display().to_string();
        let err = run(&yaml(&dir), &m).unwrap_err();
        assert!(
            err.to_string().contains("`DOCS_EMBEDDING_MODEL`") && err.to_string().contains("no .safetensors"),
            "{err}"
        );
        std::fs::write(folder.path().join("model.safetensors"), vec![0u8; 10 * 1024 * 1024]).unwrap();
        let with = run(&yaml(&dir), &m).unwrap().estimate;
        assert_eq!(
            with,
            Estimate::Embedding {
                mib: DEFAULT_RESIDENT_MIB,
                basis: Basis::Default,
                model: folder.path().to_owned(),
                model_mib: 20
            }
        );
        let without = run(&yaml(""), &m).unwrap().estimate;
        assert_eq!(without, Estimate::Other { mib: DEFAULT_RESIDENT_MIB, basis: Basis::Default });
    }

    #[test]
    fn a_vlm_inspector_without_a_model_is_a_plain_node_with_a_warning() {
        let m = machine("generic-x86-2core.toml", "");
        let yaml = "env:\n  VLM_MODEL_PATH: \"\"\nnodes:\n  - id: v\n    path: ../../target/release/vlm-inspector\n    env:\n      VLM_PROFILE: ../../hw-profiles/generic-x86-2core.toml\n";
        let result = run(yaml, &m).unwrap();
        assert_eq!(result.estimate, Estimate::Other { mib: 64, basis: Basis::Measured });
        assert_eq!(result.warnings, [Warning::NoVisionModel { node: "v".into(), machine: "m".into() }]);
    }

    #[test]
    fn a_vision_pair_counts_both_files_as_weights() {
        let m = machine("generic-x86-2core.toml", "");
        // Any two GGUF files do for the arithmetic.
        let yaml = "nodes:\n  - id: v\n    path: ../../target/release/vlm-inspector\n    env:\n      VLM_PROFILE: ../../hw-profiles/generic-x86-2core.toml\n      VLM_MODEL_PATH: ../../models/SmolLM2-135M-Instruct.Q4_1.gguf\n      VLM_MMPROJ_PATH: ../../models/gemma-3-270m.Q4_K_M.gguf\n";
        let Estimate::Model(process) = run(yaml, &m).unwrap().estimate else { panic!() };
        let sizes: u64 = process.files.iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
        assert_eq!(process.plan.model_bytes, sizes);
        assert_eq!(process.files.len(), 2);
    }

    #[test]
    fn missing_or_half_named_model_files_are_errors_naming_node_and_field() {
        let m = machine("generic-x86-2core.toml", "");
        let err =
            run("nodes:\n  - id: slm\n    path: slm\n    env:\n      SLM_MODEL_PATH: ../../models/none.gguf\n", &m)
                .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("node `slm` has invalid `SLM_MODEL_PATH` \"../../models/none.gguf\" (resolved to "),
            "{text}"
        );
        assert!(text.contains("models/none.gguf"), "{text}");
        let err = run("nodes:\n  - id: slm\n    path: slm\n", &m).unwrap_err();
        assert!(err.to_string().contains("node `slm` sets no `SLM_MODEL_PATH`"), "{err}");
        let err = run("nodes:\n  - id: v\n    path: vlm-inspector\n    env:\n      VLM_MODEL_PATH: a.gguf\n", &m)
            .unwrap_err();
        assert!(err.to_string().contains("sets `VLM_MODEL_PATH` but not `VLM_MMPROJ_PATH`"), "{err}");
    }
}
