//! `plant-docs`: which folder, how often it is scanned, how much it may
//! hold, and how well a section must cover a question to answer it.

use std::path::PathBuf;
use std::time::Duration;

use shopfloor_core::env::{ConfigError, EnvReader, EnvVars};
use shopfloor_docs::{AnswerRules, Limits};

/// Settings of the plant-docs node.
#[derive(Debug, Clone, PartialEq)]
pub struct PlantDocsConfig {
    /// The site's documents: Markdown, plain text and PDF, in subfolders
    /// too (`DOCS_DIR`, required, an existing folder; relative to the
    /// dataflow's folder).
    pub folder: PathBuf,
    /// How often the folder is scanned for changes (`DOCS_RESCAN_MS`,
    /// 100..=3600000, default 2000).
    pub rescan: Duration,
    /// Most documents read and the largest one (`DOCS_MAX_FILES`,
    /// 1..=100000, default 2000; `DOCS_MAX_FILE_BYTES`, 1..=1 GiB, default
    /// 20 MiB): a bound on memory.
    pub limits: Limits,
    /// Least share of a question's words a section must have to answer it
    /// when searching by words alone, without `DOCS_EMBEDDING_MODEL`
    /// (`DOCS_MIN_COVERAGE`, 0..=1, default 0.6, chosen on the development
    /// questions).
    pub rules: AnswerRules,
    /// A sentence-embedding model's folder (`DOCS_EMBEDDING_MODEL`,
    /// optional, an existing folder holding `config.json`,
    /// `model.safetensors` and `tokenizer.json`): search by meaning as well
    /// as words. Without it, search is by words alone and
    /// `DOCS_MIN_COVERAGE` decides what covers a question.
    pub embedding_model: Option<PathBuf>,
    /// A file where the sections' vectors are kept between starts
    /// (`DOCS_VECTOR_FILE`, optional, only with `DOCS_EMBEDDING_MODEL`;
    /// created with its folder if missing): at start only the sections
    /// not found there are encoded. A file made by another model, or
    /// damaged, is replaced.
    pub vector_file: Option<PathBuf>,
}

impl PlantDocsConfig {
    /// Parses and validates the node's settings.
    pub fn from_env(vars: &EnvVars) -> Result<Self, ConfigError> {
        let mut env = EnvReader::new("plant-docs", vars);
        let folder = env.required_dir("DOCS_DIR", "the folder of the site's documents");
        let rescan_ms = env.parsed_or("DOCS_RESCAN_MS", 2_000u64, "milliseconds in 100..=3600000", |ms| {
            (100..=3_600_000).contains(ms)
        });
        let defaults = Limits::default();
        let max_files =
            env.parsed_or("DOCS_MAX_FILES", defaults.max_files, "a count in 1..=100000", |n| (1..=100_000).contains(n));
        let max_file_bytes =
            env.parsed_or("DOCS_MAX_FILE_BYTES", defaults.max_file_bytes, "bytes in 1..=1073741824", |n| {
                (1..=1 << 30).contains(n)
            });
        let rules = AnswerRules::default();
        let min_coverage = env
            .parsed_or("DOCS_MIN_COVERAGE", rules.min_coverage, "a share in 0..=1", |c: &f32| (0.0..=1.0).contains(c));
        let embedding_model = env.existing_dir("DOCS_EMBEDDING_MODEL");
        if let Some(model) = &embedding_model {
            for file in ["config.json", "model.safetensors", "tokenizer.json"] {
                if model.is_dir() && !model.join(file).is_file() {
                    env.invalid(
                        "DOCS_EMBEDDING_MODEL",
                        &model.to_string_lossy(),
                        &format!("a sentence-transformers folder; {file} is missing"),
                    );
                }
            }
        }
        let vector_file = env.optional_string("DOCS_VECTOR_FILE").map(PathBuf::from);
        if let Some(file) = &vector_file {
            if embedding_model.is_none() {
                env.invalid("DOCS_VECTOR_FILE", &file.to_string_lossy(), "set only with DOCS_EMBEDDING_MODEL");
            } else if file.is_dir() {
                env.invalid("DOCS_VECTOR_FILE", &file.to_string_lossy(), "a file's path, not a folder");
            }
        }
        env.finish(&["DOCS_"])?;
        Ok(Self {
            folder,
            rescan: Duration::from_millis(rescan_ms),
            limits: Limits { max_files, max_file_bytes },
            rules: AnswerRules { min_coverage, ..rules },
            embedding_model,
            vector_file,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_the_folder_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().to_string_lossy().into_owned();
        let config = PlantDocsConfig::from_env(&EnvVars::from([("DOCS_DIR", folder.as_str())])).unwrap();
        assert_eq!(config.rescan, Duration::from_secs(2));
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.rules, AnswerRules::default());
        assert_eq!(config.embedding_model, None);
        assert_eq!(config.vector_file, None);
        let err = PlantDocsConfig::from_env(&EnvVars::from([("DOCS_DIR", "/no/such/docs")])).unwrap_err();
        assert!(err.names_field("DOCS_DIR"), "{err}");
    }

    #[test]
    fn every_bad_setting_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().to_string_lossy().into_owned();
        let err = PlantDocsConfig::from_env(&EnvVars::from([
            ("DOCS_DIR", folder.as_str()),
            ("DOCS_RESCAN_MS", "5"),
            ("DOCS_MAX_FILES", "0"),
            ("DOCS_MIN_COVERAGE", "1.5"),
            ("DOCS_FOLDER", "typo"),
            ("DOCS_EMBEDDING_MODEL", folder.as_str()),
            ("DOCS_VECTOR_FILE", folder.as_str()),
        ]))
        .unwrap_err();
        let fields = [
            "DOCS_RESCAN_MS",
            "DOCS_MAX_FILES",
            "DOCS_MIN_COVERAGE",
            "DOCS_FOLDER",
            "DOCS_EMBEDDING_MODEL",
            "DOCS_VECTOR_FILE",
        ];
        for field in fields {
            assert!(err.names_field(field), "{field}: {err}");
        }
    }

    #[test]
    fn a_vector_file_needs_the_model_that_fills_it() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().to_string_lossy().into_owned();
        let err = PlantDocsConfig::from_env(&EnvVars::from([
            ("DOCS_DIR", folder.as_str()),
            ("DOCS_VECTOR_FILE", "vectors.bin"),
        ]))
        .unwrap_err();
        assert!(err.names_field("DOCS_VECTOR_FILE"), "{err}");
        assert!(err.to_string().contains("DOCS_EMBEDDING_MODEL"), "{err}");
    }
}
