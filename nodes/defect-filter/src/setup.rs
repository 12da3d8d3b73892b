//! The node's start: the filter's settings from the dataflow, and the good
//! parts learned from their folder.

use std::path::PathBuf;

use shopfloor_node::image_files::image_files;

use crate::config::DefectFilterConfig;
use crate::settings::InvalidSettings;
use crate::{FilterError, FilterSettings, FrameView, GoodModel};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A setting the filter refuses, named by its variable.
    #[error("defect-filter: {}", named(.0))]
    Settings(#[source] InvalidSettings),
    #[error("cannot list the good parts in {dir}")]
    List {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the good part {path}")]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    #[error("cannot learn good parts from {dir}")]
    Learn {
        dir: PathBuf,
        #[source]
        source: FilterError,
    },
}

/// The problems under the variables that set them (`FILTER_CELL = 7: ...`).
fn named(invalid: &InvalidSettings) -> String {
    let named: Vec<String> = invalid
        .0
        .iter()
        .map(|p| format!("FILTER_{} = {}: must be {}", p.field.to_ascii_uppercase(), p.value, p.requirement))
        .collect();
    named.join("; ")
}

/// The filter's settings: its defaults with the dataflow's overrides.
pub fn settings_from(config: &DefectFilterConfig) -> Result<FilterSettings, SetupError> {
    let mut settings = FilterSettings::default();
    if let Some(cell) = config.cell {
        settings.cell = cell;
    }
    if let Some(margin) = config.margin {
        settings.margin = margin;
    }
    settings.threshold = config.threshold;
    settings.validate().map_err(SetupError::Settings)?;
    Ok(settings)
}

/// Learns the good parts in `config.good_dir`.
pub fn learn(config: &DefectFilterConfig, settings: &FilterSettings) -> Result<GoodModel, SetupError> {
    let dir = &config.good_dir;
    let files = image_files(dir).map_err(|source| SetupError::List { dir: dir.clone(), source })?;
    let images = files
        .iter()
        .map(|path| {
            let image = image::open(path).map_err(|source| SetupError::Image { path: path.clone(), source })?;
            Ok(image.to_rgb8())
        })
        .collect::<Result<Vec<_>, SetupError>>()?;
    let views: Vec<FrameView<'_>> =
        images.iter().map(|image| FrameView::rgb8(image.width(), image.height(), image.as_raw())).collect();
    GoodModel::learn(&views, settings).map_err(|source| SetupError::Learn { dir: dir.clone(), source })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn config(dir: PathBuf, cell: Option<u32>) -> DefectFilterConfig {
        DefectFilterConfig {
            good_dir: dir,
            threshold: None,
            cell,
            margin: None,
            confirm_timeout: Duration::from_secs(15),
            vlm_stale_after: Duration::from_secs(3),
        }
    }

    #[test]
    fn a_bad_setting_is_named_by_its_variable() {
        let error = settings_from(&config("good".into(), Some(7))).unwrap_err();
        assert!(error.to_string().contains("FILTER_CELL = 7"), "{error}");
    }

    #[test]
    fn good_parts_are_learned_and_a_broken_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let specs: Vec<part_images::PartSpec> = part_images::sample_set(1, 8, 0, 320, 240);
        part_images::output::write_set(dir.path(), &specs, part_images::output::ImageFormat::Png).unwrap();
        let config = config(dir.path().to_owned(), None);
        let model = learn(&config, &settings_from(&config).unwrap()).unwrap();
        assert_eq!((model.frame_size(), model.learned_from()), ((320, 240), 8));
        std::fs::write(dir.path().join("good-9999.png"), b"not an image").unwrap();
        let error = learn(&config, &FilterSettings::default()).unwrap_err();
        assert!(matches!(&error, SetupError::Image { path, .. } if path.ends_with("good-9999.png")), "{error}");
    }
}
