//! Markdown to safe HTML for the note pages that citations open.
//!
//! One pulldown-cmark pass with the parser's own options, so heading ids are exactly the anchors
//! that citation URLs carry. Wikilinks and embeds become links to other note pages (or plain text
//! when they resolve to nothing, or when the reader may only see this one note); Obsidian
//! callouts become styled boxes (`[!tip]-` folds). The finished HTML, including any raw HTML the
//! note contains, goes through ammonia, so no `<script>`, event-handler attribute or
//! `javascript:` URL survives.

use std::fmt::Write as _;

use pulldown_cmark::{CodeBlockKind, CowStr, Event, LinkType, Parser, Tag, TagEnd};

use crate::config::url_template::push_segments;
use crate::vault::note::{Heading, link_key};
use crate::vault::parse::{
    callout_at, has_url_scheme, markdown_options, resolve_relative, slugify, split_fragment,
    without_marker,
};

/// What rendering needs besides the Markdown.
pub struct RenderContext<'a> {
    /// The note's id (for relative Markdown links).
    pub id: &'a str,
    /// The note's headings, in order: their anchors become the heading ids.
    pub headings: &'a [Heading],
    /// Resolves a link key to a note id.
    pub resolve: &'a dyn Fn(&str) -> Option<String>,
    /// False when the reader may see only this note (a signed citation link): links to other
    /// notes are shown as text, so nothing else can be reached or listed.
    pub link_notes: bool,
}

/// How an open link-like element is closed.
enum Close {
    Link,
    Span,
}

/// Renders a note body to sanitized HTML.
pub fn render_markdown(body: &str, ctx: &RenderContext<'_>) -> String {
    let mut events: Vec<Event<'_>> = Vec::new();
    let mut heading_index = 0;
    let mut closes: Vec<Close> = Vec::new();
    // Open block quotes: `None` for a plain quote, `Some(folds)` for a callout.
    let mut quotes: Vec<Option<bool>> = Vec::new();
    let mut marker: Option<std::ops::Range<usize>> = None;
    let parser = Parser::new_ext(body, markdown_options()).into_offset_iter();
    for (event, range) in parser {
        match event {
            Event::Start(Tag::Heading {
                level,
                classes,
                attrs,
                ..
            }) => {
                let id = ctx
                    .headings
                    .get(heading_index)
                    .map(|h| CowStr::from(h.anchor.clone()));
                heading_index += 1;
                events.push(Event::Start(Tag::Heading {
                    level,
                    id,
                    classes,
                    attrs,
                }));
            }
            Event::Start(Tag::BlockQuote(_)) => match callout_at(body, range.start) {
                Some(callout) => {
                    let title = if callout.title.is_empty() {
                        capitalize(&callout.kind)
                    } else {
                        callout.title.clone()
                    };
                    let kind = css_ident(&callout.kind);
                    let html = match callout.fold {
                        Some(fold) => format!(
                            "<details class=\"callout callout-{kind}\"{}><summary class=\"callout-title\">{}</summary><div class=\"callout-content\">",
                            if fold == '+' { " open" } else { "" },
                            escape(&title)
                        ),
                        None => format!(
                            "<div class=\"callout callout-{kind}\"><div class=\"callout-title\">{}</div><div class=\"callout-content\">",
                            escape(&title)
                        ),
                    };
                    events.push(Event::Html(html.into()));
                    quotes.push(Some(callout.fold.is_some()));
                    // The title is shown in the title box, so the whole first line goes.
                    marker = Some(callout.marker.start..callout.line_end);
                }
                None => {
                    quotes.push(None);
                    events.push(Event::Html("<blockquote>".into()));
                }
            },
            Event::End(TagEnd::BlockQuote(_)) => {
                marker = None;
                let html = match quotes.pop().flatten() {
                    Some(true) => "</div></details>",
                    Some(false) => "</div></div>",
                    None => "</blockquote>",
                };
                events.push(Event::Html(html.into()));
            }
            // The info string becomes a `language-…` class; only a plain language name may
            // reach the markup (the fuzzer fed it `sq…javascript:…`).
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                let language = code_language(&info);
                events.push(Event::Start(Tag::CodeBlock(if language.is_empty() {
                    CodeBlockKind::Indented
                } else {
                    CodeBlockKind::Fenced(language.to_string().into())
                })));
            }
            Event::Text(text) => {
                let text = match &marker {
                    Some(marker) => without_marker(marker, &text, &range).into_owned(),
                    None => text.into_string(),
                };
                if !text.is_empty() {
                    events.push(Event::Text(text.into()));
                }
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => match link_href(&link_type, &dest_url, ctx) {
                Some(href) => {
                    closes.push(Close::Link);
                    events.push(Event::Start(Tag::Link {
                        link_type: LinkType::Inline,
                        dest_url: href.into(),
                        title,
                        id,
                    }));
                }
                None => {
                    closes.push(Close::Span);
                    events.push(Event::Html(unlinked_span(&link_type).into()));
                }
            },
            Event::End(TagEnd::Link) => events.push(match closes.pop() {
                Some(Close::Span) => Event::Html("</span>".into()),
                _ => Event::End(TagEnd::Link),
            }),
            // Images and embeds become links (or text): pages never load anything from elsewhere.
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                ..
            }) => {
                let href = link_href(&link_type, &dest_url, ctx)
                    .filter(|href| href.starts_with("/notes/"));
                match href {
                    Some(href) => {
                        events.push(Event::Html(
                            format!("<a class=\"embed\" href=\"{}\">↪ ", escape(&href)).into(),
                        ));
                        closes.push(Close::Link);
                    }
                    None => {
                        events.push(Event::Html(
                            format!(
                                "<span class=\"embed missing\" title=\"{}\">🖼 ",
                                escape(&dest_url)
                            )
                            .into(),
                        ));
                        closes.push(Close::Span);
                    }
                }
            }
            Event::End(TagEnd::Image) => events.push(Event::Html(
                match closes.pop() {
                    Some(Close::Link) => "</a>",
                    _ => "</span>",
                }
                .into(),
            )),
            other => events.push(other),
        }
    }
    let mut html = String::with_capacity(body.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    sanitizer().clean(&html).to_string()
}

/// Where a link points on the note pages, or `None` to show its text only.
fn link_href(link_type: &LinkType, dest: &str, ctx: &RenderContext<'_>) -> Option<String> {
    match link_type {
        LinkType::WikiLink { .. } => {
            let (target, fragment) = split_fragment(dest);
            if target.trim().is_empty() {
                return fragment.map(|f| format!("#{}", slugify(&f)));
            }
            note_href(&link_key(target), fragment.as_deref(), ctx)
        }
        LinkType::Email => Some(format!("mailto:{dest}")),
        _ => {
            let dest = dest.trim();
            if dest.starts_with('#') {
                return Some(dest.to_string());
            }
            if has_url_scheme(dest) {
                return Some(dest.to_string()); // the sanitizer keeps only safe schemes
            }
            let decoded = percent_encoding::percent_decode_str(dest).decode_utf8_lossy();
            let (path, fragment) = split_fragment(&decoded);
            let resolved = resolve_relative(ctx.id, path)?;
            note_href(&link_key(&resolved), fragment.as_deref(), ctx)
        }
    }
}

fn note_href(key: &str, fragment: Option<&str>, ctx: &RenderContext<'_>) -> Option<String> {
    if !ctx.link_notes {
        return None;
    }
    let id = (ctx.resolve)(key)?;
    let mut href = String::from("/notes/");
    push_segments(&mut href, &id);
    if let Some(fragment) = fragment {
        href.push('#');
        href.push_str(&slugify(fragment));
    }
    Some(href)
}

fn unlinked_span(link_type: &LinkType) -> &'static str {
    match link_type {
        LinkType::WikiLink { .. } => "<span class=\"wikilink unresolved\">",
        _ => "<span class=\"link unresolved\">",
    }
}

/// The sanitizer: ammonia's defaults (no scripts, no event handlers, no `javascript:`), plus the
/// attributes our own markup needs.
fn sanitizer() -> &'static ammonia::Builder<'static> {
    static BUILDER: std::sync::OnceLock<ammonia::Builder<'static>> = std::sync::OnceLock::new();
    BUILDER.get_or_init(|| {
        let mut builder = ammonia::Builder::default();
        builder
            .add_tags(["details", "summary", "input"])
            .add_tag_attributes("input", ["type", "checked", "disabled"])
            .add_tag_attributes("details", ["open"])
            .add_generic_attributes(["id"]);
        for tag in [
            "div", "span", "a", "details", "summary", "code", "li", "ul", "p",
        ] {
            builder.add_tag_attributes(tag, ["class"]);
        }
        builder
    })
}

/// HTML-escapes text for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A callout type as a CSS class fragment: letters, digits and `-` only.
fn css_ident(kind: &str) -> String {
    kind.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect::<String>()
        .to_lowercase()
}

/// The language of a fenced code block: the info string's first word, if it is a plain name
/// (`rust`, `c++`, `objective-c`, `c#`), else nothing.
fn code_language(info: &str) -> &str {
    let word = info.split_whitespace().next().unwrap_or("");
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '#' | '.'));
    if plain && word.len() <= 40 { word } else { "" }
}

/// A frontmatter value as text: strings as they are, lists joined, maps as JSON.
pub(crate) fn property_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(property_text)
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Renders a properties table from frontmatter.
pub(crate) fn properties_table(frontmatter: &serde_json::Map<String, serde_json::Value>) -> String {
    if frontmatter.is_empty() {
        return String::new();
    }
    let mut html = String::from("<table class=\"properties\"><tbody>");
    for (key, value) in frontmatter {
        let _ = write!(
            html,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            escape(key),
            escape(&property_text(value))
        );
    }
    html.push_str("</tbody></table>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::parse::parse_note;

    fn render(src: &str, link_notes: bool) -> String {
        let note = parse_note("Folder/Note.md", src.as_bytes());
        let resolve = |key: &str| match key {
            "other" | "folder/other" => Some("Folder/Other note.md".to_string()),
            _ => None,
        };
        render_markdown(
            &note.body,
            &RenderContext {
                id: "Folder/Note.md",
                headings: &note.headings,
                resolve: &resolve,
                link_notes,
            },
        )
    }

    #[test]
    fn headings_carry_the_citation_anchors() {
        let html = render("# Title\n## Same\n## Same\n## Ünïcode & more!\n", true);
        assert!(html.contains("<h1 id=\"title\">Title</h1>"), "{html}");
        assert!(html.contains("<h2 id=\"same\">Same</h2>"));
        assert!(html.contains("<h2 id=\"same-1\">Same</h2>"));
        assert!(html.contains("id=\"ünïcode--more\""), "{html}");
    }

    #[test]
    fn wikilinks_embeds_and_markdown_links() {
        let html = render(
            "See [[Other]], [[Other#Part two|the part]], [[Missing]], ![[Other]], ![[pic.png]], [md](Other.md), [ext](https://example.com).\n",
            true,
        );
        assert!(
            html.contains(
                "<a href=\"/notes/Folder/Other%20note.md\" rel=\"noopener noreferrer\">Other</a>"
            ),
            "{html}"
        );
        assert!(html.contains("href=\"/notes/Folder/Other%20note.md#part-two\" rel=\"noopener noreferrer\">the part</a>"), "{html}");
        assert!(
            html.contains("<span class=\"wikilink unresolved\">Missing</span>"),
            "{html}"
        );
        assert!(
            html.contains("class=\"embed\" href=\"/notes/Folder/Other%20note.md\""),
            "{html}"
        );
        assert!(html.contains("embed missing"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("href=\"https://example.com\""), "{html}");
        assert!(html.contains("rel=\"noopener noreferrer\""), "{html}");
    }

    #[test]
    fn signed_readers_see_no_links_to_other_notes() {
        let html = render(
            "See [[Other]] and [md](Other.md) and [ext](https://example.com)\n",
            false,
        );
        assert!(!html.contains("/notes/"), "{html}");
        assert!(html.contains("Other"));
        assert!(html.contains("https://example.com"));
    }

    #[test]
    fn callouts_are_boxes_and_fold() {
        let html = render(
            "> [!warning] Hot\n> Careful.\n\n> [!tip]-\n> Folded.\n\n> [!NOTE]\n> GitHub style.\n\n> plain quote\n",
            true,
        );
        assert!(
            html.contains(
                "<div class=\"callout callout-warning\"><div class=\"callout-title\">Hot</div>"
            ),
            "{html}"
        );
        assert!(html.contains("<details class=\"callout callout-tip\"><summary class=\"callout-title\">Tip</summary>"), "{html}");
        assert!(html.contains("callout-note"), "{html}");
        assert!(html.contains("<blockquote>"), "{html}");
        assert!(!html.contains("[!warning]"), "{html}");
        assert_eq!(
            html.matches("Hot").count(),
            1,
            "the title is not repeated: {html}"
        );
        assert!(html.contains("Careful."));
    }

    #[test]
    fn hostile_html_is_harmless() {
        let html = render(
            "<script>alert(1)</script>\n\n<img src=x onerror=\"alert(2)\">\n\n[click](javascript:alert(3))\n\n<a href=\"javascript:alert(4)\">x</a> <div onclick=\"alert(5)\" style=\"position:fixed\">y</div>\n\n<iframe src=\"https://evil.example\"></iframe>\n",
            true,
        );
        let lower = html.to_lowercase();
        for bad in [
            "<script",
            "onerror",
            "javascript:",
            "onclick",
            "<iframe",
            "alert(1)",
        ] {
            assert!(!lower.contains(bad), "{bad} survived: {html}");
        }
    }

    #[test]
    fn tasks_tables_and_code_render() {
        let html = render(
            "- [x] done\n- [ ] todo\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```rust\nfn main() {}\n```\n",
            true,
        );
        assert!(html.contains("type=\"checkbox\""), "{html}");
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("fn main() {}"), "{html}");
        assert!(html.contains(r#"class="language-rust""#), "{html}");
        let odd = render("```sq\u{fffd}javascript:alert(1) x\nselect 1;\n```\n", true);
        assert!(
            !odd.contains("javascript") && odd.contains("select 1;"),
            "{odd}"
        );
    }
}
