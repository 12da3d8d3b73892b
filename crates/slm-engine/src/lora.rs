//! LoRA adapters on top of the loaded model.
//!
//! llama-cpp-2 (0.1.160) applies one adapter set at a time through its safe
//! API, and this engine keeps that to one adapter: any number may be loaded,
//! one of them is on (with its scale) or none is. Switching clears the
//! KV cache, whose keys and values were computed with the previous weights.

use std::path::Path;

use crate::profile::HardwareProfile;
use llama_cpp_2::model::{LlamaLoraAdapter, LlamaModel};

use super::{Engine, EngineError};

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
    /// Loads the profile's `[[lora]]` adapters; the first marked `at_start`
    /// with a scale above 0 is switched on.
    pub(super) fn load(model: &mut LlamaModel, profile: &HardwareProfile) -> Result<Self, EngineError> {
        let mut adapters = Self::default();
        for entry in &profile.lora {
            adapters.add(model, &entry.name, &profile.resolve(&entry.path), entry.scale)?;
        }
        adapters.active = profile.lora.iter().position(|entry| entry.at_start && entry.scale > 0.0);
        Ok(adapters)
    }

    fn add(&mut self, model: &mut LlamaModel, name: &str, path: &Path, scale: f32) -> Result<(), EngineError> {
        let fail = |message: String| EngineError::Lora { name: name.to_owned(), message };
        if !path.is_file() {
            return Err(fail(format!("{} does not exist", path.display())));
        }
        // llama.cpp checks the adapter's architecture and every tensor's
        // shape against the model and returns null (not an abort) on mismatch.
        let handle = model
            .lora_adapter_init(path)
            .map_err(|e| fail(format!("cannot load {} for this model: {e}", path.display())))?;
        self.loaded.retain(|a| a.name != name);
        self.loaded.push(Adapter { name: name.to_owned(), handle, scale });
        Ok(())
    }
}

impl Engine {
    /// Loads a GGUF LoRA adapter at run time (off until [`set_lora`](Self::set_lora)).
    pub fn load_lora(&mut self, name: &str, path: &Path, scale: f32) -> Result<(), EngineError> {
        let active = self.active_lora().map(|(n, _)| n.to_owned());
        self.adapters.add(&mut self.model, name, path, scale)?;
        // Positions may have moved; find the active one again by name.
        self.adapters.active = active.and_then(|n| self.adapters.loaded.iter().position(|a| a.name == n));
        Ok(())
    }

    /// Switches adapter `name` on with `scale` (replacing the one that was
    /// on), or every adapter off with `None` or a scale of 0. The base
    /// model's output is then exactly what it was without adapters.
    pub fn set_lora(&mut self, name: Option<&str>, scale: f32) -> Result<(), EngineError> {
        self.adapters.active = match name {
            Some(_) if scale <= 0.0 => None,
            None => None,
            Some(name) => {
                let index = self.adapters.loaded.iter().position(|a| a.name == name).ok_or_else(|| {
                    EngineError::Lora { name: name.to_owned(), message: "no adapter of that name is loaded".into() }
                })?;
                self.adapters.loaded[index].scale = scale;
                Some(index)
            }
        };
        self.apply_adapters()
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

    /// Names of the loaded adapters.
    pub fn lora_names(&self) -> Vec<&str> {
        self.adapters.loaded.iter().map(|a| a.name.as_str()).collect()
    }

    pub(super) fn apply_adapters(&mut self) -> Result<(), EngineError> {
        let result = match self.adapters.active {
            Some(index) => {
                let adapter = &mut self.adapters.loaded[index];
                let name = adapter.name.clone();
                self.context
                    .lora_adapter_set(&mut adapter.handle, adapter.scale)
                    .map_err(|e| EngineError::Lora { name, message: e.to_string() })
            }
            None => match self.adapters.loaded.first_mut() {
                // Removing clears every adapter from the context; the handle is only a key.
                Some(any) => self
                    .context
                    .lora_adapter_remove(&mut any.handle)
                    .map_err(|e| EngineError::Lora { name: "all".into(), message: e.to_string() }),
                None => Ok(()),
            },
        };
        self.clear_cache();
        result
    }
}
