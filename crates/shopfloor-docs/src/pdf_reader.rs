//! The text of a PDF, read by the `shopfloor-pdf-text` program in a child
//! process with a memory and a time limit: pdf-extract panics on some
//! malformed files and aborts the process on others (an allocation of
//! petabytes, seen by the fuzzer), so a hostile PDF in the folder must cost
//! one child process, never the node (docs/decisions.md).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The reader's program name, looked for beside the running program.
pub const READER: &str = "shopfloor-pdf-text";
/// Where it is when not beside the running program.
pub const READER_ENV: &str = "SHOPFLOOR_PDF_TEXT";
/// Longest one PDF may take.
const TIME_LIMIT: Duration = Duration::from_secs(20);
/// Most text one PDF may give.
const MAX_TEXT_BYTES: usize = 64 << 20;

/// The reader program: `SHOPFLOOR_PDF_TEXT`, else beside the running
/// program or one folder up (cargo puts test programs in `deps/`).
pub fn reader_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(READER_ENV) {
        return Some(PathBuf::from(path));
    }
    let exe = std::env::current_exe().ok()?;
    let folder = exe.parent()?;
    [folder.join(READER), folder.parent()?.join(READER)].into_iter().find(|path| path.is_file())
}

/// The PDF's pages as text, page 1 first; why not, for people.
pub fn pages(bytes: &[u8]) -> Result<Vec<String>, String> {
    let reader = reader_path()
        .ok_or_else(|| format!("the PDF reader {READER} is not installed beside this program (or set {READER_ENV})"))?;
    let mut child = Command::new(&reader)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start the PDF reader {}: {error}", reader.display()))?;
    // Written from a thread: a reader that stops early must not block us.
    let input = bytes.to_vec();
    let mut stdin = child.stdin.take().ok_or("the PDF reader has no input")?;
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().ok_or("the PDF reader has no output")?;
    let mut stderr = child.stderr.take().ok_or("the PDF reader has no error output")?;
    let collector = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = (&mut stdout).take(MAX_TEXT_BYTES as u64 + 1).read_to_end(&mut text);
        let mut reason = String::new();
        let _ = (&mut stderr).take(4096).read_to_string(&mut reason);
        (text, reason)
    });
    let deadline = Instant::now() + TIME_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the PDF took longer than {} s to read", TIME_LIMIT.as_secs()));
            }
            Err(error) => return Err(format!("the PDF reader was lost: {error}")),
        }
    };
    let _ = writer.join();
    let (text, reason) = collector.join().map_err(|_| "the PDF reader's output was lost".to_owned())?;
    if !status.success() {
        let reason = reason.trim();
        return Err(if reason.is_empty() {
            format!("the PDF reader stopped ({status}): the PDF asks for more memory or time than a PDF may")
        } else {
            reason.to_owned()
        });
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!("the PDF's text is larger than {MAX_TEXT_BYTES} bytes"));
    }
    serde_json::from_slice(&text).map_err(|error| format!("the PDF reader's output is not readable: {error}"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_real_pdf_comes_back_page_by_page() {
        let bytes = crate::pdf::write_text("Title\n\n1. First.\n---page---\nSecond page\n").unwrap();
        let pages = pages(&bytes).unwrap();
        assert_eq!(pages.len(), 2);
        assert!(pages[1].contains("Second page"), "{pages:?}");
    }

    /// What the fuzzer found: a PDF whose reading aborts the process (an
    /// allocation of petabytes). Here a reader that aborts stands in for
    /// it: the PDF is one unreadable document and this process goes on.
    #[test]
    fn a_reader_that_aborts_costs_one_document_not_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let reader = dir.path().join("aborting-reader");
        std::fs::write(&reader, "#!/bin/sh\nkill -ABRT $$\n").unwrap();
        std::fs::set_permissions(&reader, std::fs::Permissions::from_mode(0o755)).unwrap();
        // This test's own process (nextest runs each test alone).
        std::env::set_var(READER_ENV, &reader);
        let error = pages(b"%PDF-1.5").unwrap_err();
        std::env::remove_var(READER_ENV);
        assert!(error.starts_with("the PDF reader stopped"), "{error}");
    }
}
