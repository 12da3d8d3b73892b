//! Dynamic quantization: the profile's `[power]` policy picks a model
//! variant per power state, and [`PowerSwitch`] swaps the engine to it.
//!
//! The new variant loads on its own thread while questions keep being
//! answered by the current one; the answerer swaps engines between two
//! questions, so no question is dropped and none meets a half-loaded model.
//! Holding both sets of weights for that moment is the price (the budget
//! check of the new variant sees the memory the current one takes).

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use slm_engine::profile::{HardwareProfile, PowerPolicy};

use crate::engine::{Engine, EngineError, LoadedModel};
use crate::gate;

/// What happened to a state change (for logs and tests).
#[derive(Debug, Clone, PartialEq)]
pub enum PowerEvent {
    /// The policy has no variant for this state, or it is the one running.
    Unchanged,
    /// Checking and loading `path` in the background.
    Loading(PathBuf),
}

/// Why a variant did not replace the running model.
#[derive(Debug, thiserror::Error)]
enum VariantError {
    #[error(transparent)]
    Gate(#[from] gate::GateError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("the loading thread ended without a result")]
    LoaderGone,
}

/// The answerer's side of the policy.
pub struct PowerSwitch {
    policy: PowerPolicy,
    profile: HardwareProfile,
    profile_path: PathBuf,
    allow_unevaluated: bool,
    /// The variant the latest state asks for.
    wanted: Option<PathBuf>,
    /// A load under way: its path and where its result arrives.
    loading: Option<(PathBuf, mpsc::Receiver<Result<LoadedModel, VariantError>>)>,
    /// The result of that load, once it has arrived.
    finished: Option<Result<LoadedModel, VariantError>>,
    /// Swaps done so far.
    pub swaps: u64,
}

impl PowerSwitch {
    /// A switch for `profile`'s policy (None without a `[power]` table).
    pub fn new(profile: &HardwareProfile, profile_path: &Path, allow_unevaluated: bool) -> Option<Self> {
        Some(Self {
            policy: profile.power.clone()?,
            profile: profile.clone(),
            profile_path: profile_path.to_path_buf(),
            allow_unevaluated,
            wanted: None,
            loading: None,
            finished: None,
            swaps: 0,
        })
    }

    /// The policy it follows.
    pub fn policy(&self) -> &PowerPolicy {
        &self.policy
    }

    /// The reading tag that carries the state, for `source = "tag"`.
    pub fn tag(&self) -> Option<&str> {
        match self.policy().source {
            slm_engine::profile::PowerSource::Tag => self.policy().tag.as_deref(),
            slm_engine::profile::PowerSource::Linux => None,
        }
    }

    /// The power state is now `state`; starts loading its variant if it
    /// is not the one `engine` runs.
    pub fn on_state(&mut self, state: &str, engine: &Engine) -> PowerEvent {
        let Some(variant) = self.policy().variant_for(state).map(|p| self.profile.resolve(p)) else {
            tracing::warn!(state, "power state has no variant in the profile; keeping the current model");
            return PowerEvent::Unchanged;
        };
        if same_file(&variant, engine.model_path()) && self.loading.is_none() {
            self.wanted = None;
            return PowerEvent::Unchanged;
        }
        if self.wanted.as_deref().is_some_and(|w| same_file(w, &variant)) {
            return PowerEvent::Unchanged; // already asked for
        }
        tracing::info!(state, variant = %variant.display(), "power state changed; loading its variant in the background");
        self.wanted = Some(variant.clone());
        if self.loading.is_none() {
            self.start_loading(variant.clone());
        }
        PowerEvent::Loading(variant)
    }

    fn start_loading(&mut self, variant: PathBuf) {
        let (done, result) = mpsc::channel();
        let (profile, profile_path, allow) = (self.profile.clone(), self.profile_path.clone(), self.allow_unevaluated);
        let path = variant.clone();
        // Detached: a load finishing after the node stopped just drops its
        // result. The gate hashes the file here too, off the answering thread.
        std::thread::spawn(move || {
            let loaded = gate::check(&path, &profile, &profile_path, allow)
                .map_err(VariantError::from)
                .and_then(|_| LoadedModel::load(&path, &profile).map_err(VariantError::from));
            let _ = done.send(loaded);
        });
        self.loading = Some((variant, result));
        self.finished = None;
    }

    /// Between questions: swaps `engine` if a load has finished and is
    /// still wanted. Returns the new model's name when it swapped.
    pub fn poll(&mut self, engine: &mut Engine) -> Option<String> {
        if !self.swap_waiting() {
            return None;
        }
        let (path, _) = self.loading.take()?;
        let loaded = self.finished.take()?;
        let wanted = self.wanted.clone();
        match wanted {
            // The state changed again while this one loaded: load the newest wish.
            Some(wanted) if !same_file(&wanted, &path) => {
                if !same_file(&wanted, engine.model_path()) {
                    self.start_loading(wanted);
                } else {
                    self.wanted = None;
                }
                None
            }
            None => None,
            Some(_) => {
                self.wanted = None;
                match loaded.and_then(|model| Engine::with_model(model, &self.profile).map_err(VariantError::from)) {
                    Ok(mut new_engine) => {
                        // The adapter switched on at run time stays on: a LoRA
                        // fits every quantization of its base model.
                        let active = engine.active_lora().map(|(name, scale)| (name.to_owned(), scale));
                        if let Err(error) = new_engine.set_lora(
                            active.as_ref().map(|(n, _)| n.as_str()),
                            active.as_ref().map_or(0.0, |(_, s)| *s),
                        ) {
                            tracing::warn!(%error, "the new variant could not take the active LoRA adapter; it runs without");
                        }
                        let previous = std::mem::replace(engine, new_engine);
                        self.swaps += 1;
                        tracing::info!(from = %previous.model_name, to = %engine.model_name, swaps = self.swaps, "model variant swapped");
                        Some(engine.model_name.clone())
                    }
                    Err(error) => {
                        tracing::error!(variant = %path.display(), %error, "power variant refused or failed to load; keeping the current model");
                        None
                    }
                }
            }
        }
    }

    /// Whether a variant is loading.
    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    /// Whether a load has finished and waits for [`poll`](Self::poll): a
    /// node decoding several answers lets them finish, and starts no new
    /// one, until it has swapped.
    pub fn swap_waiting(&mut self) -> bool {
        if self.finished.is_none() {
            if let Some((_, result)) = &self.loading {
                match result.try_recv() {
                    Ok(loaded) => self.finished = Some(loaded),
                    Err(mpsc::TryRecvError::Disconnected) => self.finished = Some(Err(VariantError::LoaderGone)),
                    Err(mpsc::TryRecvError::Empty) => {}
                }
            }
        }
        self.finished.is_some()
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The power state from Linux's sysfs under `root` (normally `/sys`):
/// `hot` when any thermal zone is above `hot_above_celsius`, else `battery`
/// when a battery exists and no mains supply is online, else `mains`
/// (machines without power-supply files are on mains).
pub fn linux_power_state(root: &Path, hot_above_celsius: f64) -> &'static str {
    let zones = read_dir_paths(&root.join("class/thermal"));
    let hot = zones
        .iter()
        .filter(|z| z.file_name().is_some_and(|n| n.to_string_lossy().starts_with("thermal_zone")))
        .any(|zone| {
            std::fs::read_to_string(zone.join("temp"))
                .ok()
                .and_then(|t| t.trim().parse::<f64>().ok())
                .is_some_and(|millidegrees| millidegrees / 1000.0 > hot_above_celsius)
        });
    if hot {
        return "hot";
    }
    let supplies = read_dir_paths(&root.join("class/power_supply"));
    let kind = |p: &PathBuf| std::fs::read_to_string(p.join("type")).unwrap_or_default().trim().to_owned();
    let online = |p: &PathBuf| std::fs::read_to_string(p.join("online")).is_ok_and(|v| v.trim() == "1");
    let has_battery = supplies.iter().any(|p| kind(p) == "Battery");
    let mains_online = supplies.iter().any(|p| kind(p) == "Mains" && online(p));
    if has_battery && !mains_online {
        "battery"
    } else {
        "mains"
    }
}

fn read_dir_paths(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_sys(name: &str, supplies: &[(&str, &str, &str)], zones_millidegrees: &[i64]) -> PathBuf {
        let root = std::env::temp_dir().join(format!("slm-power-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (dir, kind, online) in supplies {
            let path = root.join("class/power_supply").join(dir);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::write(path.join("type"), format!("{kind}\n")).unwrap();
            std::fs::write(path.join("online"), format!("{online}\n")).unwrap();
        }
        for (n, temp) in zones_millidegrees.iter().enumerate() {
            let path = root.join("class/thermal").join(format!("thermal_zone{n}"));
            std::fs::create_dir_all(&path).unwrap();
            std::fs::write(path.join("temp"), format!("{temp}\n")).unwrap();
        }
        root
    }

    #[test]
    fn linux_files_give_mains_battery_or_hot() {
        let laptop_plugged = fake_sys("plugged", &[("AC", "Mains", "1"), ("BAT0", "Battery", "")], &[45_000]);
        assert_eq!(linux_power_state(&laptop_plugged, 85.0), "mains");
        let on_battery = fake_sys("battery", &[("AC", "Mains", "0"), ("BAT0", "Battery", "")], &[45_000]);
        assert_eq!(linux_power_state(&on_battery, 85.0), "battery");
        let hot = fake_sys("hot", &[("AC", "Mains", "1")], &[45_000, 91_500]);
        assert_eq!(linux_power_state(&hot, 85.0), "hot");
        let server = fake_sys("server", &[], &[]);
        assert_eq!(linux_power_state(&server, 85.0), "mains", "no supply files: mains");
        for root in [laptop_plugged, on_battery, hot, server] {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}
