//! LoRA adapters on top of the loaded model.
//!
//! llama-cpp-2 (0.1.160) applies one adapter set at a time through its safe
//! API, and this engine keeps that to one adapter: any number may be loaded,
//! one of them is on (with its scale) or none is. Switching clears the
//! KV cache, whose keys and values were computed with the previous weights.
//!
//! Loading an adapter registers it with the model, which takes the model
//! alone (`&mut LlamaModel`): the engine drops its context for that, loads,
//! and builds a new context, to which the active adapter is applied again.

use std::path::Path;

use crate::profile::HardwareProfile;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::{LlamaLoraAdapter, LlamaModel};

use super::{Engine, EngineError, Slot};

/// One loaded adapter. The handle is a pointer into the model (llama.cpp
/// frees adapters with their model); it lives in the same [`Engine`] as its
/// model and is only ever handed to that model's context.
pub(super) struct Adapter {
    name: String,
    handle: LlamaLoraAdapter,
    scale: f32,
}

/// The loaded adapters and which one is on.
#[derive(Default)]
pub(super) struct Adapters {
    loaded: Vec<Adapter>,
    active: Option<usize>,
}

impl Adapters {
    /// Loads the profile's `[[lora]]` adapters made for `model_path` (or
    /// for any model), each checked against its SHA-256 when the profile
    /// gives one; the first marked `at_start` with a scale above 0 is
    /// switched on.
    pub(super) fn load(
        model: &mut LlamaModel,
        model_path: &Path,
        profile: &HardwareProfile,
    ) -> Result<Self, EngineError> {
        let mut adapters = Self::default();
        let entries = profile.adapters_for(model_path);
        for entry in &entries {
            let path = profile.resolve(&entry.path);
            if let Some(expected) = &entry.sha256 {
                check_exists(&entry.name, &path)?;
                let actual = crate::model_file::sha256_hex(&path).map_err(|source| EngineError::LoraRead {
                    name: entry.name.clone(),
                    path: path.clone(),
                    source,
                })?;
                if !actual.eq_ignore_ascii_case(expected) {
                    return Err(EngineError::LoraChecksum {
                        name: entry.name.clone(),
                        path,
                        expected: expected.clone(),
                        actual,
                    });
                }
            }
            adapters.add(model, &entry.name, &path, entry.scale)?;
        }
        adapters.active = entries.iter().position(|entry| entry.at_start && entry.scale > 0.0);
        Ok(adapters)
    }

    fn add(&mut self, model: &mut LlamaModel, name: &str, path: &Path, scale: f32) -> Result<(), EngineError> {
        check_exists(name, path)?;
        // llama.cpp checks the adapter's architecture and every tensor's
        // shape against the model and returns null (not an abort) on mismatch.
        let handle = model.lora_adapter_init(path).map_err(|source| EngineError::LoraLoad {
            name: name.to_owned(),
            path: path.to_path_buf(),
            source,
        })?;
        let active = self.active.map(|index| self.loaded[index].name.clone());
        self.loaded.retain(|a| a.name != name);
        self.loaded.push(Adapter { name: name.to_owned(), handle, scale });
        // Positions may have moved; find the active one again by name.
        self.active = active.and_then(|n| self.loaded.iter().position(|a| a.name == n));
        Ok(())
    }

    /// Sets the active adapter (or none) on `context`.
    fn apply(&mut self, context: &mut LlamaContext<'_>) -> Result<(), EngineError> {
        match self.active {
            Some(index) => {
                let adapter = &mut self.loaded[index];
                context
                    .lora_adapter_set(&mut adapter.handle, adapter.scale)
                    .map_err(|source| EngineError::LoraSet { name: adapter.name.clone(), source })
            }
            None => match self.loaded.first_mut() {
                // Removing clears every adapter from the context; the handle is only a key.
                Some(any) => context.lora_adapter_remove(&mut any.handle).map_err(EngineError::LoraOff),
                None => Ok(()),
            },
        }
    }
}

fn check_exists(name: &str, path: &Path) -> Result<(), EngineError> {
    if path.is_file() {
        Ok(())
    } else {
        Err(EngineError::LoraMissing { name: name.to_owned(), path: path.to_path_buf() })
    }
}

impl Engine {
    /// Loads a GGUF LoRA adapter at run time (off until [`set_lora`](Self::set_lora)).
    /// The context is built again around the load, so the KV cache starts
    /// cold; a refused adapter changes nothing else.
    pub fn load_lora(&mut self, name: &str, path: &Path, scale: f32) -> Result<(), EngineError> {
        self.refuse_while_running()?;
        // A missing file is refused before the context is dropped.
        check_exists(name, path)?;
        let mut model = self.slot.take_model().ok_or_else(|| EngineError::NoModel { path: self.path.clone() })?;
        let added = self.adapters.add(&mut model, name, path, scale);
        self.slot = Slot::Bare(model);
        let rebuilt = self.rebuild_context();
        added.and(rebuilt)
    }

    /// Switches adapter `name` on with `scale` (replacing the one that was
    /// on), or every adapter off with `None` or a scale of 0. The base
    /// model's output is then exactly what it was without adapters.
    pub fn set_lora(&mut self, name: Option<&str>, scale: f32) -> Result<(), EngineError> {
        self.refuse_while_running()?;
        self.adapters.active = match name {
            Some(_) if scale <= 0.0 => None,
            None => None,
            Some(name) => {
                let index = self
                    .adapters
                    .loaded
                    .iter()
                    .position(|a| a.name == name)
                    .ok_or_else(|| EngineError::LoraUnknown { name: name.to_owned() })?;
                self.adapters.loaded[index].scale = scale;
                Some(index)
            }
        };
        self.apply_adapters()
    }

    /// Other weights under a running completion would mix two models in one
    /// answer (and switching clears the cache it is in).
    fn refuse_while_running(&self) -> Result<(), EngineError> {
        match self.sequences_running() {
            0 => Ok(()),
            running => Err(EngineError::SequencesRunning { running }),
        }
    }

    /// The adapter that is on and its scale.
    pub fn active_lora(&self) -> Option<(&str, f32)> {
        let adapter = &self.adapters.loaded[self.adapters.active?];
        Some((adapter.name.as_str(), adapter.scale))
    }

    /// The scale adapter `name` was loaded with or last set to.
    pub fn lora_scale(&self, name: &str) -> Option<f32> {
        self.adapters.loaded.iter().find(|a| a.name == name).map(|a| a.scale)
    }

    pub fn lora_names(&self) -> Vec<&str> {
        self.adapters.loaded.iter().map(|a| a.name.as_str()).collect()
    }

    /// Sets the active adapter on the context (a lost context is built
    /// again, which applies it) and clears the KV cache.
    pub(super) fn apply_adapters(&mut self) -> Result<(), EngineError> {
        let Self { slot, adapters, cache, .. } = self;
        match slot {
            Slot::Ready(cell) => cell.with_dependent_mut(|_, context| {
                let result = adapters.apply(context);
                cache.clear(context);
                result
            }),
            Slot::Bare(_) | Slot::Empty => self.rebuild_context(),
        }
    }
}
