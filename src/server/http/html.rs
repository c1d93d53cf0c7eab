//! Markdown to safe HTML for the note pages that citations open.
//!
//! One pulldown-cmark pass with the parser's own options, so heading ids are exactly the anchors
//! that citation URLs carry, and blocks with an id (`^id`) get the `#^id` anchor (their marker
//! is not shown). Wikilinks become links to other note pages (or plain text when they resolve to
//! nothing, or when the reader may only see this one note); embeds of documents show their
//! content in a quote that names its source (as `fetch` inlines them: depth 3, cycle-safe), other
//! embeds are links; Obsidian callouts become styled boxes (`[!tip]-` folds). The finished HTML,
//! including any raw HTML the note contains, goes through ammonia, so no `<script>`,
//! event-handler attribute or `javascript:` URL survives.

use std::fmt::Write as _;

use pulldown_cmark::{CodeBlockKind, CowStr, Event, LinkType, Parser, Tag, TagEnd};

use crate::config::url_template::push_segments;
use crate::index::fetch::MAX_EMBED_DEPTH;
use crate::vault::note::{Heading, link_key};
use crate::vault::parse::{
    BlockKind, at_line_end, block_marker, callout_at, has_url_scheme, markdown_options,
    resolve_relative, slugify, split_fragment, without_marker,
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
    /// What an embed (`![[target#fragment]]`, given as `target#fragment`) shows; `None` (no
    /// function, or its answer) leaves the embed a link.
    pub embed: Option<&'a EmbedFn<'a>>,
}

/// Answers what an embed shows (see [`RenderContext::embed`]).
pub type EmbedFn<'a> = dyn Fn(&str) -> Option<Embed> + 'a;

/// The content of an embed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Embed {
    /// The embedded document's id.
    pub id: String,
    /// The part embedded (a heading anchor or `^id`), if not the whole document.
    pub fragment: Option<String>,
    /// Its Markdown.
    pub markdown: String,
}

/// How an open link-like element is closed.
enum Close {
    Link,
    Span,
}

/// Renders a note body to sanitized HTML.
pub fn render_markdown(body: &str, ctx: &RenderContext<'_>) -> String {
    let mut chain = vec![(ctx.id.to_string(), None)];
    let html = render_html(body, ctx, 0, &mut chain);
    sanitizer().clean(&html).to_string()
}

/// Renders Markdown to HTML (not yet sanitized). `depth` counts the embeds this text is inside
/// of (0 for the page's own note: only it carries heading and block anchors); `chain` holds the
/// (id, fragment) of each, so an embed never repeats one of them.
fn render_html(
    body: &str,
    ctx: &RenderContext<'_>,
    depth: usize,
    chain: &mut Vec<(String, Option<String>)>,
) -> String {
    let mut events: Vec<Event<'_>> = Vec::new();
    // Blocks for `^id` anchors: the open ones (kind, source range, index of their first event),
    // the last closed one (depth, index, kind), the anchors to place (event index, inside the
    // element or before it, id) and the ids placed.
    let mut open_blocks: Vec<(BlockKind, std::ops::Range<usize>, usize)> = Vec::new();
    let mut last_closed: Option<(usize, usize, BlockKind)> = None;
    let mut anchors: Vec<(usize, bool, String)> = Vec::new();
    let mut anchored = std::collections::HashSet::new();
    let mut in_code = 0usize;
    let mut in_heading = false;
    // While > 0, the alt text of an embed shown as content is skipped.
    let mut skip_image = 0usize;
    // Where embeds shown as content are in `events`.
    let mut embeds: Vec<usize> = Vec::new();
    let mut heading_index = 0;
    let mut closes: Vec<Close> = Vec::new();
    // Open block quotes: `None` for a plain quote, `Some(folds)` for a callout.
    let mut quotes: Vec<Option<bool>> = Vec::new();
    let mut marker: Option<std::ops::Range<usize>> = None;
    let parser = Parser::new_ext(body, markdown_options()).into_offset_iter();
    for (event, range) in parser {
        if skip_image > 0 {
            match event {
                Event::Start(Tag::Image { .. }) => skip_image += 1,
                Event::End(TagEnd::Image) => skip_image -= 1,
                _ => {}
            }
            continue;
        }
        let block = match &event {
            Event::Start(tag) => BlockKind::opened_by(tag),
            _ => None,
        };
        if let Some(kind) = block {
            open_blocks.push((kind, range.clone(), events.len()));
        }
        match &event {
            Event::Start(Tag::CodeBlock(_)) => in_code += 1,
            Event::End(TagEnd::CodeBlock) => in_code = in_code.saturating_sub(1),
            Event::Start(Tag::Heading { .. }) => in_heading = true,
            Event::End(TagEnd::Heading(_)) => in_heading = false,
            _ => {}
        }
        if matches!(&event, Event::End(tag) if BlockKind::closed_by(tag))
            && let Some((kind, _, index)) = open_blocks.pop()
        {
            last_closed = Some((open_blocks.len(), index, kind));
        }
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
                let mut text = match &marker {
                    Some(marker) => without_marker(marker, &text, &range).into_owned(),
                    None => text.into_string(),
                };
                if in_code == 0
                    && !in_heading
                    && let Some((cut, id)) = block_marker(&text)
                    && at_line_end(body, range.end)
                {
                    if depth == 0 && !anchored.contains(id) {
                        let top = open_blocks.len().checked_sub(1);
                        let alone = cut == 0
                            && top.is_some_and(|t| {
                                open_blocks[t].0 == BlockKind::Paragraph
                                    && body
                                        .get(open_blocks[t].1.clone())
                                        .is_some_and(|p| p.trim() == body[range.clone()].trim())
                            });
                        let target = match (top, last_closed) {
                            (Some(t), Some((closed_depth, index, kind)))
                                if alone && closed_depth == t =>
                            {
                                Some((index, kind))
                            }
                            (Some(t), _) => match open_blocks[t].0 {
                                BlockKind::Paragraph
                                    if t > 0 && open_blocks[t - 1].0 == BlockKind::Item =>
                                {
                                    Some((open_blocks[t - 1].2, BlockKind::Item))
                                }
                                BlockKind::Paragraph | BlockKind::Item => {
                                    Some((open_blocks[t].2, open_blocks[t].0))
                                }
                                BlockKind::Other => None,
                            },
                            (None, _) => None,
                        };
                        if let Some((index, kind)) = target {
                            anchored.insert(id.to_string());
                            let inside = matches!(kind, BlockKind::Paragraph | BlockKind::Item);
                            anchors.push((index, inside, format!("^{id}")));
                        }
                    }
                    text.truncate(cut);
                }
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
            // An embed of a document shows its content, in a quote that names the source.
            // Images and other embeds become links (or text): pages never load anything from
            // elsewhere.
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                ..
            }) => {
                if matches!(link_type, LinkType::WikiLink { .. })
                    && let Some(html) = embed_html(&dest_url, ctx, depth, chain)
                {
                    embeds.push(events.len());
                    events.push(Event::Html(html.into()));
                    skip_image = 1;
                    continue;
                }
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
    // An embed alone in its paragraph is a block of its own, not inside a `<p>`.
    for &i in &embeds {
        if i > 0
            && matches!(events[i - 1], Event::Start(Tag::Paragraph))
            && matches!(events.get(i + 1), Some(Event::End(TagEnd::Paragraph)))
        {
            events[i - 1] = Event::Html("".into());
            events[i + 1] = Event::Html("".into());
        }
    }
    anchors.sort_by_key(|(index, inside, _)| (*index, *inside));
    let mut anchors = anchors.into_iter().peekable();
    let mut placed = Vec::with_capacity(events.len() + anchors.len());
    for (index, event) in events.into_iter().enumerate() {
        let anchor = |id: &str| {
            Event::Html(
                format!("<span class=\"block-anchor\" id=\"{}\"></span>", escape(id)).into(),
            )
        };
        while let Some((_, _, id)) = anchors.next_if(|(i, inside, _)| *i == index && !inside) {
            placed.push(anchor(&id));
        }
        placed.push(event);
        while let Some((_, _, id)) = anchors.next_if(|(i, inside, _)| *i == index && *inside) {
            placed.push(anchor(&id));
        }
    }
    let mut html = String::with_capacity(body.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, placed.into_iter());
    html
}

/// The HTML of an embed that shows a document: a quote naming its source (a link, when the
/// reader may follow links) around the rendered content. `None` leaves the embed a link: too
/// deep, a repeat of a document being shown, or nothing to show.
fn embed_html(
    dest: &str,
    ctx: &RenderContext<'_>,
    depth: usize,
    chain: &mut Vec<(String, Option<String>)>,
) -> Option<String> {
    if depth >= MAX_EMBED_DEPTH {
        return None;
    }
    let embed = (ctx.embed?)(dest)?;
    let key = (embed.id.clone(), embed.fragment.clone());
    if chain.contains(&key) {
        return None;
    }
    let source = match &embed.fragment {
        Some(fragment) => format!("{}#{fragment}", embed.id),
        None => embed.id.clone(),
    };
    let label = if ctx.link_notes {
        let mut href = String::from("/notes/");
        push_segments(&mut href, &embed.id);
        if let Some(fragment) = &embed.fragment {
            href.push('#');
            href.push_str(&fragment_anchor(fragment));
        }
        format!("<a href=\"{}\">{}</a>", escape(&href), escape(&source))
    } else {
        escape(&source)
    };
    let inner_ctx = RenderContext {
        id: &embed.id,
        headings: &[],
        resolve: ctx.resolve,
        link_notes: ctx.link_notes,
        embed: ctx.embed,
    };
    chain.push(key);
    let inner = render_html(&embed.markdown, &inner_ctx, depth + 1, chain);
    chain.pop();
    Some(format!(
        "<blockquote class=\"embed\"><p class=\"embed-source\">↪ {label}</p>{inner}</blockquote>"
    ))
}

/// A link fragment as a page anchor: `^id` (a block) as it is, a heading as its slug.
fn fragment_anchor(fragment: &str) -> String {
    match fragment.strip_prefix('^') {
        Some(id) => format!(
            "^{}",
            id.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
        ),
        None => slugify(fragment),
    }
}

/// Where a link points on the note pages, or `None` to show its text only.
fn link_href(link_type: &LinkType, dest: &str, ctx: &RenderContext<'_>) -> Option<String> {
    match link_type {
        LinkType::WikiLink { .. } => {
            let (target, fragment) = split_fragment(dest);
            if target.trim().is_empty() {
                return fragment.map(|f| format!("#{}", fragment_anchor(&f)));
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
        href.push_str(&fragment_anchor(fragment));
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
            "div",
            "span",
            "a",
            "details",
            "summary",
            "code",
            "li",
            "ul",
            "p",
            "blockquote",
        ] {
            builder.add_tag_attributes(tag, ["class"]);
        }
        builder
    })
}

/// Renders the body of a document that is text, not Markdown (a PDF's pages, a `.txt` file):
/// escaped, line breaks kept, and each page marker (a line that `headings` names) a heading with
/// the page's anchor (`id="page=3"`), so `#page=3` scrolls to it.
pub fn render_text(body: &str, headings: &[Heading]) -> String {
    let mut html = String::with_capacity(body.len() + body.len() / 8);
    let mut paragraph = String::new();
    let flush = |html: &mut String, paragraph: &mut String| {
        let text = paragraph.trim_matches('\n');
        if !text.is_empty() {
            html.push_str("<p class=\"text\">");
            html.push_str(&escape(text));
            html.push_str("</p>");
        }
        paragraph.clear();
    };
    let mut marks = headings.iter().peekable();
    for (number, line) in body.lines().enumerate() {
        let number = number as u32 + 1;
        while marks.next_if(|h| h.line < number).is_some() {}
        if let Some(heading) = marks.next_if(|h| h.line == number) {
            flush(&mut html, &mut paragraph);
            let _ = write!(
                html,
                "<h2 id=\"{}\">{}</h2>",
                escape(&heading.anchor),
                escape(&heading.text)
            );
        } else if line.trim().is_empty() {
            flush(&mut html, &mut paragraph);
        } else {
            paragraph.push_str(line);
            paragraph.push('\n');
        }
    }
    flush(&mut html, &mut paragraph);
    html
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
                embed: None,
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
    fn block_ids_are_anchors_and_their_markers_are_hidden() {
        let html = render(
            "A definition. ^def-1\n\n- item one\n- item two ^it2\n\n> quoted\n\n^q\n\n```\ncode ^notanid\n```\n\nSee [[#^def-1]] and [[Other#^blk]].\n",
            true,
        );
        assert!(
            html.contains("<p><span class=\"block-anchor\" id=\"^def-1\"></span>A definition.</p>"),
            "{html}"
        );
        assert!(
            html.contains("<li><span class=\"block-anchor\" id=\"^it2\"></span>item two</li>"),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"block-anchor\" id=\"^q\"></span><blockquote>"),
            "{html}"
        );
        assert!(html.contains("code ^notanid"), "{html}");
        assert!(
            !html.contains("^def-1</p>") && !html.contains(">^q<"),
            "{html}"
        );
        assert!(html.contains("href=\"#^def-1\""), "{html}");
        assert!(
            html.contains("href=\"/notes/Folder/Other%20note.md#^blk\""),
            "{html}"
        );
    }

    #[test]
    fn embeds_show_their_content_once_and_not_too_deep() {
        let note = parse_note(
            "Folder/Note.md",
            b"# Note\n![[Other#^blk]]\n\n![[Loop]]\n\n![[pic.png]]\n",
        );
        let resolve = |key: &str| (key == "other").then(|| "Folder/Other note.md".to_string());
        let embed = |dest: &str| -> Option<Embed> {
            match dest {
                "Other#^blk" => Some(Embed {
                    id: "Folder/Other note.md".into(),
                    fragment: Some("^blk".into()),
                    markdown: "The **quoted** block. ^blk\n".into(),
                }),
                // Loop embeds itself: shown once, then a link.
                "Loop" => Some(Embed {
                    id: "Loop.md".into(),
                    fragment: None,
                    markdown: "# Loop heading\nloop text ![[Loop]] ![[Deep1]]\n".into(),
                }),
                "Deep1" => Some(Embed {
                    id: "Deep1.md".into(),
                    fragment: None,
                    markdown: "deep one ![[Deep2]]\n".into(),
                }),
                "Deep2" => Some(Embed {
                    id: "Deep2.md".into(),
                    fragment: None,
                    markdown: "deep two ![[Deep3]]\n".into(),
                }),
                "Deep3" => Some(Embed {
                    id: "Deep3.md".into(),
                    fragment: None,
                    markdown: "deep three\n".into(),
                }),
                _ => None,
            }
        };
        let ctx = |link_notes| RenderContext {
            id: "Folder/Note.md",
            headings: &note.headings,
            resolve: &resolve,
            link_notes,
            embed: Some(&embed),
        };
        let html = render_markdown(&note.body, &ctx(true));
        assert!(
            html.contains("<blockquote class=\"embed\"><p class=\"embed-source\">↪ <a href=\"/notes/Folder/Other%20note.md#^blk\" rel=\"noopener noreferrer\">Folder/Other note.md#^blk</a></p><p>The <strong>quoted</strong> block.</p>\n</blockquote>"),
            "{html}"
        );
        // Anchors belong to the page's own note: the embedded block and heading carry none.
        assert!(!html.contains("id=\"^blk\""), "{html}");
        assert!(html.contains("<h1>Loop heading</h1>"), "{html}");
        assert_eq!(html.matches("loop text").count(), 1, "{html}");
        assert!(html.contains("deep two"), "{html}");
        // An embed alone in its paragraph is not wrapped in one.
        assert!(
            html.contains("</h1>\n<blockquote class=\"embed\">"),
            "{html}"
        );
        assert!(!html.contains("deep three"), "{html}");
        assert!(html.contains("embed missing"), "{html}");
        // A reader of this one note sees the content and the source's name, not a link to it.
        let signed = render_markdown(&note.body, &ctx(false));
        assert!(
            signed.contains("The <strong>quoted</strong> block."),
            "{signed}"
        );
        assert!(!signed.contains("/notes/"), "{signed}");
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
