//! `camera-source`: which images become frames, how fast, and where the
//! camera is.

use std::path::PathBuf;

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars};

/// How frames leave the camera source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameOutput {
    /// Decoded to raw RGB (`rgb8`): consumers need no image decoder.
    Rgb8,
    /// The files' own bytes (`jpeg`/`png`): a tenth of the size on the wire.
    AsStored,
}

impl std::str::FromStr for FrameOutput {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "rgb8" => Ok(FrameOutput::Rgb8),
            "as_stored" => Ok(FrameOutput::AsStored),
            _ => Err(()),
        }
    }
}

/// Settings of the camera source node.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraSourceConfig {
    /// Folder of `.png`/`.jpg`/`.jpeg` files, sent in file-name order
    /// (`CAMERA_DIR`, required, must exist).
    pub dir: PathBuf,
    /// Frames per second (`CAMERA_RATE_HZ`, 0.01..=1000, default 5).
    pub rate_hz: f64,
    /// Start again after the last file (`CAMERA_LOOP`, default false: the
    /// node stops after the last frame).
    pub repeat: bool,
    /// `CAMERA_OUTPUT`: `rgb8` (default) or `as_stored`.
    pub output: FrameOutput,
    /// Camera name, the prefix of frame ids (`CAMERA_ID`, default `cam1`).
    pub camera_id: String,
    /// Station the camera watches (`CAMERA_STATION`, default `station1`).
    pub station: String,
    /// Line of that station (`CAMERA_LINE`, default `line1`).
    pub line: String,
    /// Stop after this many frames (`CAMERA_MAX_FRAMES`, optional, ≥ 1).
    pub max_frames: Option<u64>,
    /// Put the node's start (unix seconds) into frame ids,
    /// `cam1-1795729142-000001`, so that ids stay unique when the node
    /// restarts and counts from 0 again (`CAMERA_RUN_IN_IDS`, default false:
    /// `cam1-000001`). Alert ids derive from frame ids, and subscribers drop
    /// an alert id they have seen.
    pub run_in_ids: bool,
}

impl CameraSourceConfig {
    /// Parses and validates the node's settings.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("camera-source", vars);
        let dir = env.required_dir("CAMERA_DIR", "a folder of PNG or JPEG images");
        let rate_hz = env
            .parsed_or("CAMERA_RATE_HZ", 5.0f64, "frames per second in 0.01..=1000", |r| (0.01..=1000.0).contains(r));
        let repeat = env.parsed_or("CAMERA_LOOP", false, "true or false", |_| true);
        let output = env.parsed_or("CAMERA_OUTPUT", FrameOutput::Rgb8, "rgb8 or as_stored", |_| true);
        let camera_id = env.topic_level("CAMERA_ID", "cam1");
        let station = env.topic_level("CAMERA_STATION", "station1");
        let line = env.topic_level("CAMERA_LINE", "line1");
        let max_frames = match env.optional_string("CAMERA_MAX_FRAMES") {
            None => None,
            Some(text) => match text.parse::<u64>() {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    env.invalid("CAMERA_MAX_FRAMES", &text, "a count ≥ 1");
                    None
                }
            },
        };
        let run_in_ids = env.parsed_or("CAMERA_RUN_IN_IDS", false, "true or false", |_| true);
        env.finish(&["CAMERA_"])?;
        Ok(Self { dir, rate_hz, repeat, output, camera_id, station, line, max_frames, run_in_ids })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> EnvVars {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_need_only_a_folder() {
        let dir = env!("CARGO_MANIFEST_DIR");
        let config = CameraSourceConfig::from_env(&vars(&[("CAMERA_DIR", dir)])).unwrap();
        assert_eq!((config.rate_hz, config.repeat, config.output), (5.0, false, FrameOutput::Rgb8));
        assert_eq!((config.camera_id.as_str(), config.station.as_str()), ("cam1", "station1"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let err = CameraSourceConfig::from_env(&vars(&[
            ("CAMERA_DIR", "/nonexistent/frames"),
            ("CAMERA_RATE_HZ", "0"),
            ("CAMERA_OUTPUT", "h264"),
            ("CAMERA_STATION", "st/1"),
            ("CAMERA_MAX_FRAMES", "0"),
            ("CAMERA_FPS", "5"),
        ]))
        .unwrap_err();
        for field in
            ["CAMERA_DIR", "CAMERA_RATE_HZ", "CAMERA_OUTPUT", "CAMERA_STATION", "CAMERA_MAX_FRAMES", "CAMERA_FPS"]
        {
            assert!(err.names_field(field), "{field}: {err}");
        }
    }
}
