//! Errors of the tools that rewrite a hardware profile in place (evaluation
//! records, tuned engine knobs), keeping its comments.

use std::path::PathBuf;

/// Why the profile's text could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("the profile is not TOML")]
    Toml(#[from] toml_edit::TomlError),
    /// A key that must hold a table (or array of tables) holds something else.
    #[error("`{0}` is not a table as a profile has it")]
    Shape(&'static str),
}

/// Why a profile could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum ProfileEditError {
    #[error("cannot read or write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot update {}", path.display())]
    Edit {
        path: PathBuf,
        #[source]
        source: EditError,
    },
    /// The edited text would no longer load as a profile; the file is left as it was.
    #[error("{} would not be a valid profile afterwards", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: slm_engine::profile::ProfileError,
    },
}

/// Reads the profile at `path`, edits its text with `edit`, checks that the
/// result still loads as a profile, and writes it back.
pub fn rewrite(
    path: &std::path::Path,
    edit: impl FnOnce(&str) -> Result<String, EditError>,
) -> Result<(), ProfileEditError> {
    let io = |source| ProfileEditError::Io { path: path.to_path_buf(), source };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let updated = edit(&text).map_err(|source| ProfileEditError::Edit { path: path.to_path_buf(), source })?;
    slm_engine::profile::HardwareProfile::parse(&path.display().to_string(), &updated)
        .map_err(|source| ProfileEditError::Invalid { path: path.to_path_buf(), source })?;
    std::fs::write(path, updated).map_err(io)
}
