//! The note parser on arbitrary bytes: it must never panic, and what it returns must be
//! consistent (sections and blocks inside the body, plain-text ranges inside the plain text,
//! anchors and block ids unique), and the page renderer must accept the body and never let a
//! script, an event handler or a `javascript:` link through. The first byte picks the document
//! kind (Markdown, Excalidraw, Canvas) and whether `%%comments%%` are kept, so comments, block
//! ids, inline fields, drawings and canvases are all covered.
#![no_main]

use std::collections::HashSet;

use deepvault::server::http::html::{RenderContext, render_markdown};
use deepvault::vault::note::DocumentKind;
use deepvault::vault::parse::{ParseOptions, parse_document};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (selector, data) = data.split_first().map_or((0, data), |(s, rest)| (*s, rest));
    let (kind, id) = match selector % 3 {
        0 => (DocumentKind::Markdown, "fuzz/note.md"),
        1 => (DocumentKind::Excalidraw, "fuzz/Drawing.excalidraw.md"),
        _ => (DocumentKind::Canvas, "fuzz/Board.canvas"),
    };
    let options = ParseOptions { keep_comments: selector & 0x80 != 0 };
    let Ok(note) = parse_document(kind, id, data, &options) else {
        // Only a canvas may be refused (not JSON), and never with a panic.
        assert_eq!(kind, DocumentKind::Canvas);
        return;
    };
    for section in &note.sections {
        assert!(section.start <= section.end && section.end as usize <= note.body.len());
        assert!(note.body.is_char_boundary(section.start as usize));
        assert!(section.plain_start <= section.plain_end && section.plain_end as usize <= note.plain.len());
    }
    let mut ids = HashSet::new();
    for block in &note.blocks {
        assert!(ids.insert(block.id.clone()), "duplicate block id {}", block.id);
        assert!(block.start <= block.end && block.end as usize <= note.body.len());
        assert!(note.body.is_char_boundary(block.start as usize) && note.body.is_char_boundary(block.end as usize));
        assert!(block.plain_start <= block.plain_end && block.plain_end as usize <= note.plain.len());
    }
    let mut anchors = HashSet::new();
    for heading in &note.headings {
        assert!(anchors.insert(heading.anchor.clone()), "duplicate anchor {}", heading.anchor);
    }
    assert!(!note.title.is_empty() || note.id.is_empty());
    let resolve = |_: &str| Some("other.md".to_string());
    let html = render_markdown(
        &note.body,
        &RenderContext { id: &note.id, headings: &note.headings, resolve: &resolve, link_notes: true, embed: None },
    );
    // Text may mention `javascript:` (it is escaped), and so may inert attributes (an `id` made
    // from a footnote label); markup may not carry scripts, event handlers, or a `javascript:`
    // URL in an attribute a browser follows. Every `<…>` in the output is markup, since text
    // escapes `<`.
    let lower = html.to_lowercase();
    for tag in lower.split('<').skip(1).map(|rest| rest.split('>').next().unwrap_or("")) {
        assert!(!tag.starts_with("script"), "a script survived: {html}");
        for attribute in ["href", "src", "srcset", "action", "formaction", "poster", "cite", "data", "xlink:href", "background"] {
            for value in tag.split(&format!(" {attribute}=\"")).skip(1) {
                let value: String = value
                    .split('"')
                    .next()
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_whitespace() && !c.is_control())
                    .collect();
                assert!(!value.starts_with("javascript:"), "a javascript: URL survived: {html}");
            }
        }
        let handler = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .skip(1)
            .any(|attribute| attribute.starts_with("on") && attribute.contains('='));
        assert!(!handler, "an event handler survived: {html}");
    }
});
