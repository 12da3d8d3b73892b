//! Replay reports for the console: each sub-folder of the reports folder
//! that holds a `report.md` (what `shopfloor replay` writes) is one
//! report; its Markdown is rendered to HTML here, with any HTML in it shown
//! as text (a report quotes recorded answers, which are outside data).

use std::path::{Path, PathBuf};

use pulldown_cmark::{html, Event, Options, Parser, Tag};
use serde::Serialize;

/// Reports listed at most, newest first.
pub const MAX_LISTED: usize = 200;
/// Largest report file served, in bytes.
pub const MAX_REPORT_BYTES: u64 = 4 * 1024 * 1024;

/// One report in the list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportEntry {
    pub name: String,
    /// `PASSED` or `FAILED`, from the report's title; None if it says neither.
    pub verdict: Option<String>,
    pub modified_ms: i64,
}

/// A report or file name that is one plain path component.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The verdict in a report's title line (`# Replay test `x`: PASSED`).
pub fn verdict_of(markdown: &str) -> Option<String> {
    let title = markdown.lines().next()?;
    ["PASSED", "FAILED"].into_iter().find(|word| title.trim_end().ends_with(word)).map(str::to_owned)
}

/// The reports under `folder`, newest first.
pub fn list(folder: &Path) -> std::io::Result<Vec<ReportEntry>> {
    let mut reports = Vec::new();
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(reports),
        Err(error) => return Err(error),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let report = entry.path().join("report.md");
        let Ok(meta) = std::fs::metadata(&report) else { continue };
        if !is_plain_name(&name) || !meta.is_file() {
            continue;
        }
        let modified_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64);
        let head = read_limited(&report).unwrap_or_default();
        reports.push(ReportEntry { name, verdict: verdict_of(&head), modified_ms });
    }
    reports.sort_by(|a, b| b.modified_ms.cmp(&a.modified_ms).then_with(|| a.name.cmp(&b.name)));
    reports.truncate(MAX_LISTED);
    Ok(reports)
}

/// A file of a report: `folder/<name>/<file>`, both plain names, or None.
pub fn file_path(folder: &Path, name: &str, file: &str) -> Option<PathBuf> {
    (is_plain_name(name) && is_plain_name(file)).then(|| folder.join(name).join(file))
}

/// Reads a file up to [`MAX_REPORT_BYTES`].
pub fn read_limited(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?.take(MAX_REPORT_BYTES).read_to_string(&mut text)?;
    Ok(text)
}

/// The report's Markdown as HTML: raw HTML becomes text, and relative images
/// (the timeline) point to `/console/api/reports/<name>/<file>`.
pub fn render(name: &str, markdown: &str) -> String {
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(text) | Event::InlineHtml(text) => Event::Text(text),
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            let dest_url = if is_plain_name(&dest_url) {
                format!("/console/api/reports/{name}/{dest_url}").into()
            } else {
                // Only the report's own files are shown.
                "".into()
            };
            Event::Start(Tag::Image { link_type, dest_url, title, id })
        }
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            let safe = dest_url.starts_with("http://") || dest_url.starts_with("https://") || dest_url.starts_with('#');
            let dest_url = if safe { dest_url } else { "".into() };
            Event::Start(Tag::Link { link_type, dest_url, title, id })
        }
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, parser);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_renders_with_its_timeline_and_without_foreign_html() {
        let markdown = "# Replay test `overheat`: PASSED\n\n| | expected |\n|---|---|\n| pass | alert |\n\n\
            ![timeline](timeline.svg)\n\nAnswer: <script>alert(1)</script> [x](javascript:alert(2))\n";
        let html = render("overheat", markdown);
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains(r#"src="/console/api/reports/overheat/timeline.svg""#), "{html}");
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert_eq!(verdict_of(markdown).as_deref(), Some("PASSED"));
    }

    #[test]
    fn reports_are_listed_newest_first_and_only_plain_names_are_served() {
        let folder = tempfile::tempdir().unwrap();
        for (age_s, name, verdict) in [(100, "overheat", "PASSED"), (200, "defect-burst", "FAILED")] {
            std::fs::create_dir_all(folder.path().join(name)).unwrap();
            let path = folder.path().join(name).join("report.md");
            std::fs::write(&path, format!("# Replay test: {verdict}\n")).unwrap();
            let modified = std::time::UNIX_EPOCH + std::time::Duration::from_secs(age_s);
            std::fs::File::options().write(true).open(&path).unwrap().set_modified(modified).unwrap();
        }
        std::fs::create_dir_all(folder.path().join("empty")).unwrap();
        let listed = list(folder.path()).unwrap();
        let names: Vec<(&str, Option<&str>)> = listed.iter().map(|r| (r.name.as_str(), r.verdict.as_deref())).collect();
        assert_eq!(names, [("defect-burst", Some("FAILED")), ("overheat", Some("PASSED"))]);
        assert!(list(&folder.path().join("missing")).unwrap().is_empty());
        assert!(file_path(folder.path(), "overheat", "timeline.svg").is_some());
        for (name, file) in [("..", "x"), ("overheat", "../../etc/passwd"), ("a/b", "x"), ("overheat", ".hidden")] {
            assert!(file_path(folder.path(), name, file).is_none(), "{name}/{file}");
        }
    }
}
