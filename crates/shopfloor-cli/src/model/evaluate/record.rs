//! Writes evaluation records into a profile's `[[evaluations]]`, keeping
//! the rest of the file (comments included) as it was.

use std::path::Path;

use slm_engine::profile::EvaluationRecord;
use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table};

use crate::model::profile_edit::{rewrite, EditError, ProfileEditError};

/// Adds `records` to the profile at `path`, replacing older records of the
/// same model files (same SHA-256).
pub fn write_records(path: &Path, records: &[EvaluationRecord]) -> Result<(), ProfileEditError> {
    rewrite(path, |text| with_records(text, records))
}

/// The profile text with `records` added (pure; see [`write_records`]).
pub fn with_records(text: &str, records: &[EvaluationRecord]) -> Result<String, EditError> {
    let mut doc: DocumentMut = text.parse()?;
    let entry = doc.entry("evaluations").or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    let tables = entry.as_array_of_tables_mut().ok_or(EditError::Shape("evaluations"))?;
    // A record replaces the one of the same model file with the same adapter (or none).
    tables.retain(|t| {
        let sha = t.get("sha256").and_then(Item::as_str).unwrap_or_default();
        let adapter = t.get("adapter_sha256").and_then(Item::as_str);
        !records.iter().any(|r| {
            r.sha256.eq_ignore_ascii_case(sha)
                && r.adapter_sha256.as_deref().map(str::to_ascii_lowercase) == adapter.map(str::to_ascii_lowercase)
        })
    });
    for record in records {
        let mut table = Table::new();
        table["sha256"] = value(record.sha256.as_str());
        table["model"] = value(record.model.as_str());
        table["qa_set"] = value(record.qa_set.as_str());
        table["accuracy"] = value(round3(record.accuracy));
        table["floor"] = value(round3(record.floor));
        table["passed"] = value(record.passed);
        if let Some(tps) = record.generation_tps {
            table["generation_tps"] = value((tps * 10.0).round() / 10.0);
        }
        table["date"] = value(record.date.as_str());
        if let Some(adapter) = &record.adapter_sha256 {
            table["adapter_sha256"] = value(adapter.as_str());
        }
        tables.push(table);
    }
    Ok(doc.to_string())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sha: char, accuracy: f64) -> EvaluationRecord {
        EvaluationRecord {
            sha256: sha.to_string().repeat(64),
            model: format!("m-{sha}"),
            qa_set: "plant-qa v1 (218 items)".into(),
            accuracy,
            floor: 0.8,
            passed: accuracy >= 0.8,
            generation_tps: Some(101.26),
            date: "2026-11-26".into(),
            adapter_sha256: None,
        }
    }

    #[test]
    fn records_are_added_and_replace_the_same_file_keeping_comments() {
        let text = "# a comment that stays\nname = \"p\" # here too\n";
        let once = with_records(text, &[record('a', 0.9), record('b', 0.5)]).unwrap();
        assert!(once.starts_with("# a comment that stays\nname = \"p\" # here too\n"), "{once}");
        let twice = with_records(&once, &[record('a', 0.85)]).unwrap();
        assert_eq!(twice.matches("[[evaluations]]").count(), 2, "{twice}");
        assert!(twice.contains("accuracy = 0.85") && !twice.contains("accuracy = 0.9\n"), "{twice}");
        assert!(twice.contains("generation_tps = 101.3"), "{twice}");
        // The same file with an adapter on is another record.
        let adapted = EvaluationRecord { adapter_sha256: Some("c".repeat(64)), ..record('a', 0.95) };
        let thrice = with_records(&twice, &[adapted]).unwrap();
        assert_eq!(thrice.matches("[[evaluations]]").count(), 3, "{thrice}");
        assert!(thrice.contains(&format!("adapter_sha256 = \"{}\"", "c".repeat(64))), "{thrice}");
    }
}
