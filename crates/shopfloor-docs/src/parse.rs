//! Documents into sections: each with its heading, the headings above it,
//! its page (PDF), its steps in order and its prose.
//!
//! Markdown headings and list items are read with pulldown-cmark. Plain
//! text and the text of PDF pages follow the conventions of printed SOPs:
//! the first line is the title; a heading is a short line of its own that
//! does not end a sentence and does not follow an unfinished one; steps are
//! lines starting `1.`, `1)`, `Step 1:`, `-`, `*` or `•`, continued by the
//! indented lines under them.

use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};

/// One section of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The section's heading; empty for text before the first heading.
    pub heading: String,
    /// The headings above it, outermost first (not the document's title).
    pub parents: Vec<String>,
    /// The page it starts on (PDF only), from 1.
    pub page: Option<u32>,
    /// Its steps (list items), in order, each on one line.
    pub steps: Vec<String>,
    /// Its prose, paragraphs joined by blank lines.
    pub text: String,
}

/// A parsed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Its title (Markdown's first `#`, else the first line).
    pub title: String,
    pub sections: Vec<Section>,
}

impl Section {
    fn new(heading: String, parents: Vec<String>, page: Option<u32>) -> Self {
        Section { heading, parents, page, steps: Vec::new(), text: String::new() }
    }

    fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.text.trim().is_empty()
    }

    fn add_prose(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        self.text.push_str(line);
    }
}

/// Most characters a heading line may have in plain text and PDF.
const MAX_HEADING_CHARS: usize = 80;
/// Most words a heading line may have in plain text and PDF.
const MAX_HEADING_WORDS: usize = 10;

/// A Markdown document. `fallback_title` (the file's name) is used when it
/// has no `#` heading.
pub fn markdown(source: &str, fallback_title: &str) -> Parsed {
    let mut title: Option<String> = None;
    let mut sections = vec![Section::new(String::new(), Vec::new(), None)];
    // (level, heading) of the headings above the current one.
    let mut stack: Vec<(HeadingLevel, String)> = Vec::new();
    let mut heading: Option<(HeadingLevel, String)> = None;
    // Nesting of lists; a step is a top-level item.
    let mut list_depth = 0usize;
    let mut item: Option<String> = None;
    let mut paragraph = String::new();
    for event in Parser::new(source) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => heading = Some((level, String::new())),
            Event::End(TagEnd::Heading(_)) => {
                let Some((level, text)) = heading.take() else { continue };
                let text = text.trim().to_owned();
                if level == HeadingLevel::H1 && title.is_none() {
                    title = Some(text);
                    continue;
                }
                while stack.last().is_some_and(|(above, _)| *above >= level) {
                    stack.pop();
                }
                let parents = stack.iter().map(|(_, h)| h.clone()).collect();
                stack.push((level, text.clone()));
                sections.push(Section::new(text, parents, None));
            }
            Event::Start(Tag::List(_)) => list_depth += 1,
            Event::End(TagEnd::List(_)) => list_depth = list_depth.saturating_sub(1),
            Event::Start(Tag::Item) if list_depth == 1 => item = Some(String::new()),
            Event::End(TagEnd::Item) if list_depth == 1 => {
                if let (Some(step), Some(section)) = (item.take(), sections.last_mut()) {
                    let step = squeeze(&step);
                    if !step.is_empty() {
                        section.steps.push(step);
                    }
                }
            }
            Event::End(TagEnd::Paragraph) if item.is_none() => {
                if let Some(section) = sections.last_mut() {
                    section.add_prose(&squeeze(&paragraph));
                }
                paragraph.clear();
            }
            Event::Text(text) | Event::Code(text) => {
                if let Some((_, h)) = heading.as_mut() {
                    h.push_str(&text);
                } else if let Some(step) = item.as_mut() {
                    step.push_str(&text);
                } else {
                    paragraph.push_str(&text);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(step) = item.as_mut() {
                    step.push(' ');
                } else {
                    paragraph.push(' ');
                }
            }
            // A nested list's items join their step, as words.
            Event::Start(Tag::Item) | Event::End(TagEnd::Item) => {
                if let Some(step) = item.as_mut() {
                    step.push(' ');
                }
            }
            _ => {}
        }
    }
    finish(title.unwrap_or_else(|| fallback_title.to_owned()), sections)
}

/// Plain text: one page.
pub fn plain_text(source: &str, fallback_title: &str) -> Parsed {
    pages(&[source], false, fallback_title)
}

/// The text of a PDF's pages (page 1 first).
pub fn pdf_pages(pages_text: &[String], fallback_title: &str) -> Parsed {
    let pages_text: Vec<&str> = pages_text.iter().map(String::as_str).collect();
    pages(&pages_text, true, fallback_title)
}

/// What one line of plain text is.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    Blank,
    Step(&'a str),
    /// An indented line right under a step: more of that step.
    Continuation(&'a str),
    Heading(&'a str),
    Prose(&'a str),
}

fn pages(pages_text: &[&str], numbered: bool, fallback_title: &str) -> Parsed {
    let mut title: Option<String> = None;
    let mut sections = vec![Section::new(String::new(), Vec::new(), numbered.then_some(1))];
    let mut previous = Line::Blank;
    let lines: Vec<(Option<u32>, &str)> = pages_text
        .iter()
        .enumerate()
        .flat_map(|(index, text)| {
            let page = numbered.then(|| u32::try_from(index + 1).unwrap_or(u32::MAX));
            text.lines().map(move |line| (page, line))
        })
        .collect();
    for (at, &(page, raw)) in lines.iter().enumerate() {
        let next = lines[at + 1..].iter().map(|(_, line)| line.trim()).find(|line| !line.is_empty());
        let mut line = classify(raw, &previous);
        // A sentence that goes on in lower case on the next line is prose.
        if matches!(line, Line::Heading(_)) && next.is_some_and(|n| n.chars().next().is_some_and(char::is_lowercase)) {
            line = Line::Prose(raw.trim());
        }
        match line {
            Line::Blank => {}
            _ if title.is_none() => {
                title = Some(squeeze(raw));
                // The title is a heading to what follows.
                previous = Line::Heading("");
                continue;
            }
            Line::Heading(text) => sections.push(Section::new(squeeze(text), Vec::new(), page)),
            Line::Step(text) => {
                if let Some(section) = sections.last_mut() {
                    section.steps.push(squeeze(text));
                }
            }
            Line::Continuation(text) => {
                if let Some(step) = sections.last_mut().and_then(|s| s.steps.last_mut()) {
                    step.push(' ');
                    step.push_str(&squeeze(text));
                }
            }
            Line::Prose(text) => {
                if let Some(section) = sections.last_mut() {
                    section.add_prose(text);
                }
            }
        }
        previous = match line {
            Line::Continuation(text) => Line::Step(text),
            other => other,
        };
    }
    finish(title.unwrap_or_else(|| fallback_title.to_owned()), sections)
}

fn classify<'a>(raw: &'a str, previous: &Line<'_>) -> Line<'a> {
    let line = raw.trim_end();
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.chars().all(|c| c == '-' || c == '=' || c == '_') {
        return Line::Blank;
    }
    if let Some(step) = step_text(trimmed) {
        return Line::Step(step);
    }
    let indented = line.len() > trimmed.len();
    if indented && matches!(previous, Line::Step(_)) {
        return Line::Continuation(trimmed);
    }
    if is_heading(trimmed, previous) {
        return Line::Heading(trimmed);
    }
    // A line right under a step that does not start a sentence continues it
    // (PDF text loses the indentation).
    if matches!(previous, Line::Step(_)) && trimmed.chars().next().is_some_and(|c| !c.is_uppercase()) {
        return Line::Continuation(trimmed);
    }
    Line::Prose(trimmed)
}

/// The text of a step line, without its marker.
fn step_text(line: &str) -> Option<&str> {
    for bullet in ["- ", "* ", "• ", "\u{2013} "] {
        if let Some(rest) = line.strip_prefix(bullet) {
            return Some(rest.trim_start());
        }
    }
    let rest = line
        .strip_prefix("Step ")
        .or_else(|| line.strip_prefix("step "))
        .or_else(|| line.strip_prefix("STEP "))
        .unwrap_or(line);
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 || digits > 2 {
        return None;
    }
    let after = &rest[digits..];
    for marker in [". ", ") ", ": ", " - "] {
        if let Some(text) = after.strip_prefix(marker) {
            return Some(text.trim_start());
        }
    }
    None
}

/// Words a heading does not end with: a line ending so goes on below.
const LINKING_WORDS: &[&str] =
    &["the", "a", "an", "and", "or", "of", "to", "for", "with", "from", "because", "is", "are"];

fn is_heading(line: &str, previous: &Line<'_>) -> bool {
    let words = line.split_whitespace().count();
    let last_word = line.split_whitespace().last().unwrap_or("").to_lowercase();
    if LINKING_WORDS.contains(&last_word.as_str()) {
        return false;
    }
    let ends_sentence = line.ends_with(['.', ',', ';', ':', '!', '?']);
    let starts_upper = line.chars().next().is_some_and(|c| c.is_uppercase());
    // A line after one that did not finish its sentence goes on with it.
    let after_break = match previous {
        Line::Blank | Line::Heading(_) | Line::Step(_) | Line::Continuation(_) => true,
        Line::Prose(text) => text.ends_with(['.', ':', '!', '?']),
    };
    starts_upper
        && !ends_sentence
        && after_break
        && words <= MAX_HEADING_WORDS
        && line.chars().count() <= MAX_HEADING_CHARS
}

/// Whitespace runs become one space.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn finish(title: String, sections: Vec<Section>) -> Parsed {
    Parsed { title, sections: sections.into_iter().filter(|s| !s.is_empty()).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_sections_keep_their_headings_parents_and_steps_in_order() {
        let source = "# Overheat response\n\nIntro text.\n\n## Responding\n\nDo this:\n\n1. Press feed hold.\n2. Check the\n   coolant flow.\n   - sub item\n3. Call the lead.\n\n### Above 90 °C\n\n- Stop the spindle.\n- Leave the door shut.\n\n## Restart\n\nWarm up first.\n";
        let parsed = markdown(source, "file.md");
        assert_eq!(parsed.title, "Overheat response");
        let headings: Vec<&str> = parsed.sections.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(headings, ["", "Responding", "Above 90 °C", "Restart"]);
        assert_eq!(parsed.sections[0].text, "Intro text.");
        let responding = &parsed.sections[1];
        assert_eq!(responding.steps, ["Press feed hold.", "Check the coolant flow. sub item", "Call the lead."]);
        assert_eq!(responding.text, "Do this:");
        assert_eq!(parsed.sections[2].parents, ["Responding"]);
        assert_eq!(parsed.sections[2].steps, ["Stop the spindle.", "Leave the door shut."]);
        assert!(parsed.sections[3].parents.is_empty());
    }

    #[test]
    fn markdown_without_a_title_takes_the_file_name() {
        assert_eq!(markdown("## Only a section\n\n1. Step.\n", "sop.md").title, "sop.md");
    }

    #[test]
    fn plain_text_headings_steps_and_continuations_follow_printed_conventions() {
        let source = "Chip Conveyor Jam - Cell 1\n\nWhen to use this procedure\n\nUse it when the conveyor stops\nwith chips piled up.\n\nClearing the jam\n\n1. Press the emergency stop.\n2. Open the guard and remove the chips\n   with the hook.\nStep 3: Close the guard.\n\nAfter clearing\n\n- Restart the conveyor.\n";
        let parsed = plain_text(source, "jam.txt");
        assert_eq!(parsed.title, "Chip Conveyor Jam - Cell 1");
        let headings: Vec<&str> = parsed.sections.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(headings, ["When to use this procedure", "Clearing the jam", "After clearing"]);
        assert_eq!(parsed.sections[0].text, "Use it when the conveyor stops with chips piled up.");
        assert_eq!(
            parsed.sections[1].steps,
            ["Press the emergency stop.", "Open the guard and remove the chips with the hook.", "Close the guard."]
        );
        assert_eq!(parsed.sections[2].steps, ["Restart the conveyor."]);
        assert!(parsed.sections.iter().all(|s| s.page.is_none()));
    }

    #[test]
    fn a_wrapped_sentence_is_no_heading() {
        let source = "Title\n\nCheck the spindle before the shift because the\nMorning Warm Up Matters\n";
        let parsed = plain_text(source, "t.txt");
        assert_eq!(parsed.sections.len(), 1);
        assert_eq!(parsed.sections[0].heading, "");
    }

    #[test]
    fn pdf_pages_number_their_sections_even_without_blank_lines() {
        let pages = vec![
            "Shift Start Checklist\nPurpose\nThis list is done at every shift start.\nBefore powering on\n1. Check the coolant level.\n2. Clear chips from\nthe table.\n".to_owned(),
            "After power on\n1. Warm up the spindle.\n".to_owned(),
        ];
        let parsed = pdf_pages(&pages, "c.pdf");
        assert_eq!(parsed.title, "Shift Start Checklist");
        let found: Vec<(&str, Option<u32>)> = parsed.sections.iter().map(|s| (s.heading.as_str(), s.page)).collect();
        assert_eq!(found, [("Purpose", Some(1)), ("Before powering on", Some(1)), ("After power on", Some(2))]);
        assert_eq!(parsed.sections[1].steps, ["Check the coolant level.", "Clear chips from the table."]);
    }
}
