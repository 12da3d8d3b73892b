//! `[vision]`: the vision-language model of a gateway (the `vlm-inspector`
//! node's stage 2): a GGUF language model and the `mmproj` image projector
//! made for it, e.g.
//!
//! ```toml
//! [vision]
//! model = "../models/SmolVLM-500M-Instruct-Q8_0.gguf"
//! mmproj = "../models/mmproj-SmolVLM-500M-Instruct-Q8_0.gguf"
//! ```

use std::path::PathBuf;

use serde::Deserialize;

/// The vision-language model pair of a profile.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionModel {
    /// GGUF language model, relative to the profile's folder unless absolute.
    pub model: PathBuf,
    /// GGUF image projector (`mmproj`) trained with that model.
    pub mmproj: PathBuf,
}

#[cfg(test)]
mod tests {
    use crate::profile::HardwareProfile;

    const BASE: &str =
        "name = \"p\"\ndescription = \"d\"\n[engine]\nbackend = \"cpu\"\nthreads = 2\nthreads_batch = 2\n\
                        gpu_layers = 0\ncontext_size = 2048\nbatch_size = 512\n[memory]\nbudget_mb = 2048\n\
                        os_reserve_mb = 512\nengine_reserve_mb = 128\n";

    #[test]
    fn a_vision_table_names_both_files_and_nothing_else() {
        let profile =
            HardwareProfile::parse("p.toml", &format!("{BASE}[vision]\nmodel = \"m.gguf\"\nmmproj = \"p.gguf\"\n"))
                .unwrap();
        let vision = profile.vision.unwrap();
        assert_eq!((vision.model.to_str(), vision.mmproj.to_str()), (Some("m.gguf"), Some("p.gguf")));
        let err = HardwareProfile::parse("p.toml", &format!("{BASE}[vision]\nmodel = \"m.gguf\"\n")).unwrap_err();
        assert!(err.to_string().contains("mmproj"), "{err}");
        assert!(HardwareProfile::parse("p.toml", BASE).unwrap().vision.is_none());
    }
}
