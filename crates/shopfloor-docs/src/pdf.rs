//! Writes plain text as a PDF with real text (Helvetica, WinAnsi encoding),
//! one line per line: the sample PDFs of the project and the tests' PDFs.
//! Not a typesetter: no wrapping, no fonts beyond the PDF's standard one.

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, Stream};

/// A4 in points.
const PAGE_WIDTH: i64 = 595;
const PAGE_HEIGHT: i64 = 842;
const MARGIN: i64 = 56;
const FONT_SIZE: i64 = 10;
const LEADING: i64 = 14;

/// Why a PDF could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("cannot encode the PDF's content")]
    Content(#[from] lopdf::Error),
    #[error("cannot write the PDF")]
    Write(#[from] std::io::Error),
}

/// The separator of pages in a PDF's text source: a line of its own.
pub const PAGE_BREAK: &str = "---page---";

/// A PDF of `pages`, each a list of lines; a character outside WinAnsi
/// becomes `?`.
pub fn write_pages(pages: &[Vec<String>]) -> Result<Vec<u8>, PdfError> {
    let mut document = Document::with_version("1.5");
    let pages_id = document.new_object_id();
    let font_id = document.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = document.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids: Vec<Object> = Vec::with_capacity(pages.len());
    for lines in pages {
        let mut operations = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), FONT_SIZE.into()]),
            Operation::new("TL", vec![LEADING.into()]),
            Operation::new("Td", vec![MARGIN.into(), (PAGE_HEIGHT - MARGIN).into()]),
        ];
        for line in lines {
            operations.push(Operation::new("Tj", vec![Object::string_literal(win_ansi(line))]));
            operations.push(Operation::new("T*", vec![]));
        }
        operations.push(Operation::new("ET", vec![]));
        let content = Content { operations }.encode()?;
        let content_id = document.add_object(Stream::new(dictionary! {}, content));
        let page_id = document.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = i64::try_from(kids.len()).unwrap_or(i64::MAX);
    let pages_dictionary = dictionary! {
        "Type" => "Pages",
        "Kids" => kids,
        "Count" => count,
        "Resources" => resources_id,
        "MediaBox" => vec![0.into(), 0.into(), PAGE_WIDTH.into(), PAGE_HEIGHT.into()],
    };
    document.objects.insert(pages_id, Object::Dictionary(pages_dictionary));
    let catalog_id = document.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    document.trailer.set("Root", catalog_id);
    document.compress();
    let mut bytes = Vec::new();
    document.save_to(&mut bytes)?;
    Ok(bytes)
}

/// A text source (pages split by [`PAGE_BREAK`] lines) as a PDF.
pub fn write_text(source: &str) -> Result<Vec<u8>, PdfError> {
    let mut pages: Vec<Vec<String>> = vec![Vec::new()];
    for line in source.lines() {
        if line.trim() == PAGE_BREAK {
            pages.push(Vec::new());
        } else if let Some(page) = pages.last_mut() {
            page.push(line.to_owned());
        }
    }
    write_pages(&pages)
}

/// WinAnsi bytes: Latin-1 where it agrees (ASCII, °, umlauts), `?` else.
fn win_ansi(line: &str) -> Vec<u8> {
    line.chars()
        .map(|c| u8::try_from(u32::from(c)).ok().filter(|b| *b >= 0x20 && !(0x7f..0xa0).contains(b)).unwrap_or(b'?'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_comes_back_page_by_page() {
        let source = "Coolant check\n\nWeekly check\n\n1. Read the coolant flow: 12 l/min.\n---page---\nFilter\n\n1. Replace the filter at 40 °C or below.\n";
        let bytes = write_text(source).unwrap();
        let pages = pdf_extract::extract_text_from_mem_by_pages(&bytes).unwrap();
        assert_eq!(pages.len(), 2);
        assert!(pages[0].contains("1. Read the coolant flow: 12 l/min."), "{:?}", pages[0]);
        assert!(pages[1].contains("40 °C"), "{:?}", pages[1]);
        let parsed = crate::parse::pdf_pages(&pages, "c.pdf");
        assert_eq!(parsed.title, "Coolant check");
        let found: Vec<(&str, Option<u32>)> = parsed.sections.iter().map(|s| (s.heading.as_str(), s.page)).collect();
        assert_eq!(found, [("Weekly check", Some(1)), ("Filter", Some(2))]);
    }
}
