//! Documents that are text rather than Markdown: a PDF's pages and `.txt` files, as a [`Note`].
//!
//! Their text is kept as it is and never read as Markdown: a `#`, `%%` or `[[` in a PDF is text,
//! so nothing in it becomes a heading, a comment, a link or a private marker (private markers do
//! not exist inside PDFs; `exclude` and `private_paths` keep them out). A PDF has one section per
//! page. Its heading is `Page N`, whose anchor is `page=N`: the fragment PDF viewers open, so a
//! citation's `#page=N` and `fetch Paper.pdf#page=N` name the same page. The body (what `fetch`
//! returns) marks each page with a `## Page N` line; the plain text (what is indexed and quoted in
//! passages) is the pages' text alone.

use super::note::{DocumentInfo, DocumentKind, Heading, Note, Section};
use super::redact::Redactor;

/// The anchor of page `n` (1-based): `page=3`, as in `Paper.pdf#page=3`.
pub fn page_anchor(page: u32) -> String {
    format!("page={page}")
}

/// The page an anchor names: `page=3` → 3.
pub fn anchor_page(anchor: &str) -> Option<u32> {
    anchor
        .strip_prefix("page=")?
        .parse()
        .ok()
        .filter(|&n| n > 0)
}

/// A text document as its reader gave it, before redaction.
#[derive(Clone, Debug, Default)]
pub struct TextDocument {
    /// The title the document states (a PDF's meaningful Title, or its first heading-like
    /// line); `None` falls back to the file name.
    pub title: Option<String>,
    /// The text of each page; a `.txt` file is one page without a page heading.
    pub pages: Vec<String>,
    /// A PDF's page count and Info dictionary.
    pub info: Option<DocumentInfo>,
}

/// The note of a text document: every string redacted, one section per page for a PDF.
pub(crate) fn build_text_note(
    id: &str,
    kind: DocumentKind,
    document: TextDocument,
    redactor: &Redactor,
) -> Note {
    let paged = kind == DocumentKind::Pdf;
    let mut note = Note {
        id: id.to_string(),
        kind,
        body_line: 1,
        ..Note::default()
    };
    let mut line = 1u32;
    let mut redacted = false;
    for (index, page) in document.pages.iter().enumerate() {
        let page = redactor.redact(page);
        redacted |= matches!(page, std::borrow::Cow::Owned(_));
        let text = tidy(&page);
        let mut start = note.body.len() as u32;
        let section_line = line;
        let mut heading = None;
        if paged {
            let number = index as u32 + 1;
            let marker = format!("Page {number}");
            if !note.body.is_empty() {
                note.body.push_str("\n\n");
                note.plain.push_str("\n\n");
                line += 2;
                start = note.body.len() as u32;
            }
            note.headings.push(Heading {
                level: 2,
                text: marker.clone(),
                anchor: page_anchor(number),
                line,
            });
            heading = Some(note.headings.len() as u32 - 1);
            note.body.push_str("## ");
            note.body.push_str(&marker);
            note.body.push_str("\n\n");
            line += 2;
        }
        let plain_start = note.plain.len() as u32;
        note.body.push_str(&text);
        note.plain.push_str(&text);
        line += text.matches('\n').count() as u32;
        note.sections.push(Section {
            heading,
            start: if paged { start } else { 0 },
            end: note.body.len() as u32,
            line: if paged {
                line_of(&note.headings, heading)
            } else {
                section_line
            },
            plain_start,
            plain_end: note.plain.len() as u32,
        });
    }
    note.title = document
        .title
        .map(|title| {
            let mut title = title.trim().to_string();
            redacted |= redactor.redact_string(&mut title);
            title
        })
        .filter(|title| !title.is_empty())
        .unwrap_or_else(|| file_name_title(id).to_string());
    note.info = document.info.map(|mut info| {
        for field in [
            &mut info.author,
            &mut info.producer,
            &mut info.created,
            &mut info.modified,
        ]
        .into_iter()
        .flatten()
        {
            redacted |= redactor.redact_string(field);
        }
        info.redacted = redacted;
        info
    });
    note
}

/// The line of a section's heading.
fn line_of(headings: &[Heading], heading: Option<u32>) -> u32 {
    heading
        .and_then(|h| headings.get(h as usize))
        .map_or(1, |h| h.line)
}

/// The file name without its extension: `Papers/Attention.pdf` → `Attention`.
fn file_name_title(id: &str) -> &str {
    let name = id.rsplit('/').next().unwrap_or(id);
    match name.rfind('.') {
        Some(dot) if dot > 0 => &name[..dot],
        _ => name,
    }
}

/// Text as a reader shows it: no trailing spaces on a line, at most one blank line in a row,
/// no form feeds or other control characters but newlines and tabs.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines() {
        let line: String = line
            .chars()
            .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
            .collect();
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank_run = 0;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(true, &[]).unwrap()
    }

    fn pdf(pages: &[&str]) -> Note {
        build_text_note(
            "Papers/Attention.pdf",
            DocumentKind::Pdf,
            TextDocument {
                title: None,
                pages: pages.iter().map(|p| p.to_string()).collect(),
                info: Some(DocumentInfo {
                    pages: pages.len() as u32,
                    author: Some("Ada".into()),
                    ..DocumentInfo::default()
                }),
            },
            &redactor(),
        )
    }

    /// Each page is a section whose anchor is `page=N`; the body marks each page and its ranges
    /// and lines point at it; the plain text is the pages' text alone.
    #[test]
    fn pages_are_sections_named_page_n() {
        let note = pdf(&[
            "First page\nline two",
            "",
            "Third # not a heading %%x%% [[y]]",
        ]);
        assert_eq!(note.kind, DocumentKind::Pdf);
        assert_eq!(note.title, "Attention");
        let anchors: Vec<&str> = note.headings.iter().map(|h| h.anchor.as_str()).collect();
        assert_eq!(anchors, ["page=1", "page=2", "page=3"]);
        assert_eq!(note.sections.len(), 3);
        let body_of = |i: usize| {
            let s = &note.sections[i];
            &note.body[s.start as usize..s.end as usize]
        };
        assert_eq!(body_of(0), "## Page 1\n\nFirst page\nline two");
        assert_eq!(body_of(1), "## Page 2\n\n");
        assert_eq!(body_of(2), "## Page 3\n\nThird # not a heading %%x%% [[y]]");
        assert_eq!(
            note.section_plain(&note.sections[0]),
            "First page\nline two"
        );
        assert_eq!(
            note.section_plain(&note.sections[2]),
            "Third # not a heading %%x%% [[y]]"
        );
        // Lines are lines of the body, where each page's marker is.
        for (heading, section) in note.headings.iter().zip(&note.sections) {
            let line_start = note.body.lines().nth(heading.line as usize - 1).unwrap();
            assert_eq!(line_start, format!("## {}", heading.text));
            assert_eq!(section.line, heading.line);
        }
        // Text is never read as Markdown: no links, tags or comments come out of it.
        assert!(note.links.is_empty() && note.tags.is_empty());
        assert_eq!(note.info.as_ref().unwrap().author.as_deref(), Some("Ada"));
        assert_eq!(anchor_page("page=3"), Some(3));
        assert_eq!(anchor_page("page=0"), None);
        assert_eq!(anchor_page("intro"), None);
    }

    /// A secret in a page, the title or the Info dictionary is redacted before anything is kept.
    #[test]
    fn every_string_is_redacted() {
        let secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        let note = build_text_note(
            "a.pdf",
            DocumentKind::Pdf,
            TextDocument {
                title: Some(format!("Keys {secret}")),
                pages: vec![format!("token {secret} here")],
                info: Some(DocumentInfo {
                    pages: 1,
                    author: Some(secret.into()),
                    producer: Some(format!("x {secret}")),
                    ..DocumentInfo::default()
                }),
            },
            &redactor(),
        );
        let everything = format!("{note:?}");
        assert!(!everything.contains(secret), "{everything}");
        assert!(note.plain.contains("token"));
        // The file itself still holds it: it is marked so that it is never served.
        assert!(note.info.as_ref().unwrap().redacted);
        assert!(!pdf(&["nothing secret"]).info.unwrap().redacted);
    }

    /// A text file is one section without a heading, its text tidied but not interpreted.
    #[test]
    fn a_text_file_is_one_section() {
        let note = build_text_note(
            "notes/todo.txt",
            DocumentKind::Text,
            TextDocument {
                pages: vec!["# not a heading  \n\n\n\nsecond\u{c}line\n".into()],
                ..TextDocument::default()
            },
            &redactor(),
        );
        assert_eq!(note.title, "todo");
        assert!(note.headings.is_empty());
        assert_eq!(note.body, "# not a heading\n\nsecond line");
        assert_eq!(note.plain, note.body);
        assert_eq!(note.sections.len(), 1);
        assert_eq!(note.sections[0].heading, None);
        assert_eq!(note.sections[0].end as usize, note.body.len());
    }
}
