//! The site's documents (SOPs, alarm responses, checklists) for the plant
//! assistant: a folder of Markdown, plain text and PDF files parsed into
//! sections with their headings, pages and steps ([`parse`]); a search index
//! over them that follows the folder's changes ([`library`]); answers to
//! procedure questions that quote the steps and cite their source, or say
//! that no document covers the question ([`answer`]).
//!
//! # Layout
//! - [`parse`]: documents into sections.
//! - [`terms`]: a question (in any of the four languages) into the English
//!   words a document would use.
//! - [`library`]: the folder, its index (tantivy, in memory) and search.
//! - [`embed`]: sentence embeddings, for search by meaning.
//! - [`vectors`]: the sections' vectors kept on disk between starts.
//! - [`answer`]: procedure answers and the live values beside their steps.
//! - [`alerts`]: what to do about an alert, from the documents.
//! - [`eval`]: an evaluation set of procedure questions asked of a library.
//! - [`pdf`]: plain text written as a PDF (the samples and the tests).
//! - [`pdf_reader`]: a PDF's text, read by `shopfloor-pdf-text` in a child
//!   process with memory and time limits.

pub mod alerts;
pub mod answer;
pub mod embed;
pub mod eval;
pub mod library;
pub mod parse;
pub mod pdf;
pub mod pdf_reader;
pub mod terms;
pub mod vectors;

pub use alerts::AlertResponses;
pub use answer::{alarm_response, answer, AlarmResponse, AnswerRules, LiveValue, ProcedureAnswer};
pub use library::{parse_document, DocsError, Entry, Hit, Library, Limits, ScanReport, Stats};
