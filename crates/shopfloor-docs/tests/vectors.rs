//! The sections' vectors kept between starts (`DOCS_VECTOR_FILE`) with the
//! real embedding model: a library read again encodes only what changed,
//! and searches exactly as one that encoded everything.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use shopfloor_docs::embed::Encoder;
use shopfloor_docs::vectors::Found;
use shopfloor_docs::{Library, Limits, ScanReport};

const JAM: &str = "# Chip conveyor\n\n## Clearing a jam\n\n1. Stop the conveyor.\n2. Lock out the drive.\n3. Remove the chips by hand.\n\n## Restarting after a jam\n\n1. Remove the lock.\n2. Start the conveyor at low speed.\n";
const COOLANT: &str =
    "# Coolant\n\n## Checking the coolant level\n\n1. Read the sight glass.\n2. Top up with the approved mix.\n";

fn encoder() -> Arc<Encoder> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2");
    Arc::new(Encoder::load(&folder).expect("models/all-MiniLM-L6-v2: run scripts/setup.sh"))
}

fn open(folder: &Path, encoder: &Arc<Encoder>, vector_file: Option<&PathBuf>) -> (Library, Option<Found>, ScanReport) {
    let mut library = Library::new(folder, Limits::default()).expect("library");
    let found = library.set_encoder(Arc::clone(encoder), vector_file.map(PathBuf::as_path)).expect("encoder");
    let report = library.rescan().expect("scan");
    (library, found, report)
}

/// Citations and meaning scores of a question's hits.
fn hits(library: &Library, question: &str) -> Vec<(String, f32)> {
    let hits = library.search(question, 5).expect("search");
    hits.iter().map(|hit| (hit.entry.citation(), hit.similarity)).collect()
}

#[test]
fn a_library_read_again_encodes_only_what_changed() {
    let docs = tempfile::tempdir().expect("temp dir");
    let state = tempfile::tempdir().expect("temp dir");
    let vector_file = state.path().join("cache/plant-docs.vectors");
    std::fs::write(docs.path().join("jam.md"), JAM).expect("writes");
    std::fs::write(docs.path().join("coolant.md"), COOLANT).expect("writes");
    let encoder = encoder();

    let (first, found, report) = open(docs.path(), &encoder, Some(&vector_file));
    assert_eq!(found, Some(Found::Nothing));
    let sections = first.stats().sections;
    let (jam_sections, coolant_sections) = (first.sections_of("jam.md").len(), first.sections_of("coolant.md").len());
    assert!(jam_sections >= 2 && coolant_sections >= 1, "{jam_sections} {coolant_sections}");
    assert_eq!((report.encoded, report.reused), (sections, 0), "{report:?}");
    assert!(vector_file.is_file(), "written after the first scan");

    // A restart: nothing is encoded, and search is exactly as before.
    let (mut second, found, report) = open(docs.path(), &encoder, Some(&vector_file));
    assert_eq!(found, Some(Found::Vectors(sections)));
    assert_eq!((report.encoded, report.reused), (0, sections), "{report:?}");
    let question = "the conveyor is blocked with swarf, what do I do?";
    assert_eq!(hits(&second, question), hits(&first, question));
    assert!(hits(&second, question)[0].1 > 0.2, "searched by meaning: {:?}", hits(&second, question));

    // One section edited: that section alone is encoded, while running.
    std::fs::write(docs.path().join("jam.md"), JAM.replace("at low speed", "at half speed")).expect("writes");
    let report = second.rescan().expect("scan");
    assert_eq!((report.encoded, report.reused), (1, jam_sections - 1), "{report:?}");
    // A document renamed: nothing is encoded.
    std::fs::rename(docs.path().join("coolant.md"), docs.path().join("coolant-check.md")).expect("renames");
    let report = second.rescan().expect("scan");
    assert_eq!((report.encoded, report.reused), (0, coolant_sections), "{report:?}");
    // The file now holds the sections as they are, and only those.
    let (_, found, report) = open(docs.path(), &encoder, Some(&vector_file));
    assert_eq!(found, Some(Found::Vectors(sections)));
    assert_eq!(report.encoded, 0, "{report:?}");
}

#[test]
fn a_damaged_vector_file_is_replaced_not_trusted() {
    let docs = tempfile::tempdir().expect("temp dir");
    let state = tempfile::tempdir().expect("temp dir");
    let vector_file = state.path().join("plant-docs.vectors");
    std::fs::write(docs.path().join("jam.md"), JAM).expect("writes");
    std::fs::write(&vector_file, b"SFVECS1\nnot what it should be, and much too short to hold a vector")
        .expect("writes");
    let encoder = encoder();
    let (library, found, report) = open(docs.path(), &encoder, Some(&vector_file));
    assert!(matches!(found, Some(Found::Ignored(_))), "{found:?}");
    assert_eq!(report.encoded, library.stats().sections);
    let (_, found, report) = open(docs.path(), &encoder, Some(&vector_file));
    assert_eq!(found, Some(Found::Vectors(library.stats().sections)), "replaced at the first save");
    assert_eq!(report.encoded, 0);
}
