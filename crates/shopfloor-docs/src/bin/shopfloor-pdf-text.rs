//! `shopfloor-pdf-text`: the text of a PDF, page by page. Reads the PDF on
//! stdin, writes a JSON array of page texts on stdout; exits 2 with the
//! reason on stderr when the PDF cannot be read. The documents library runs
//! it as a child process for every PDF (docs/decisions.md, "PDFs are read
//! in a child process"): pdf-extract panics on some malformed files and
//! aborts on others (an allocation of petabytes), and either must end this
//! process, never the node that reads the folder.

use std::io::{Read, Write};
use std::process::ExitCode;

use nix::sys::resource::{setrlimit, Resource};

/// Address space the reader may use: far more than any real PDF's text needs.
const MEMORY_LIMIT_BYTES: u64 = 1 << 30;

fn main() -> ExitCode {
    // Without the limit an absurd allocation could first push the gateway
    // into swap; with it, it fails here at once.
    if let Err(error) = setrlimit(Resource::RLIMIT_AS, MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES) {
        eprintln!("cannot limit the reader's memory: {error}");
    }
    let mut bytes = Vec::new();
    if let Err(error) = std::io::stdin().read_to_end(&mut bytes) {
        eprintln!("cannot read the PDF: {error}");
        return ExitCode::from(2);
    }
    // Quiet: a panic is one unreadable PDF, reported on the way out.
    std::panic::set_hook(Box::new(|_| {}));
    let pages = match std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(&bytes)) {
        Ok(Ok(pages)) => pages,
        Ok(Err(error)) => {
            eprintln!("the PDF could not be read: {error}");
            return ExitCode::from(2);
        }
        Err(_) => {
            eprintln!("the PDF could not be parsed");
            return ExitCode::from(2);
        }
    };
    let json = serde_json::to_vec(&pages).unwrap_or_default();
    if std::io::stdout().write_all(&json).is_err() {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
