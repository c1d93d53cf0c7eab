//! Parsing one note: a pure function of (id, bytes) with no I/O, no clock and no configuration.
//!
//! The bytes go through three steps: decoding (BOM stripped, invalid UTF-8 replaced with a
//! warning), the frontmatter split (a YAML block between `---` lines at the very top), and one
//! pass of pulldown-cmark over the body that collects headings, sections, links, callouts, inline
//! tags and the plain text at the same time.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd, TextMergeWithOffset};
use serde_json::{Map, Value};

use super::note::{Callout, Heading, Link, LinkKind, Note, Section, file_stem, link_key};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses a note. `id` is the vault-relative path with `/` separators; it is used for the
/// fallback title and to resolve relative Markdown links. Never fails: problems become
/// [`Note::warnings`]. Nothing is redacted here: the index reads notes through
/// [`crate::vault::ingest`], which decides privacy and redacts before this parser's steps run.
pub fn parse_note(id: &str, bytes: &[u8]) -> Note {
    let (text, mut warnings) = decode(bytes);
    let split = split_frontmatter(&text);
    let frontmatter = match split.yaml {
        Some(yaml) => parse_frontmatter(yaml).unwrap_or_else(|warning| {
            warnings.push(warning);
            Map::new()
        }),
        None => Map::new(),
    };
    build_note(
        id,
        frontmatter,
        &text[split.body_start..],
        split.body_line,
        warnings,
        false,
    )
    .0
}

/// The text of a file: a UTF-8 BOM dropped, invalid UTF-8 replaced (with a warning).
pub(crate) fn decode(bytes: &[u8]) -> (Cow<'_, str>, Vec<String>) {
    let mut warnings = Vec::new();
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let text: Cow<'_, str> = match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(err) => {
            warnings.push(format!(
                "invalid UTF-8 at byte {}; invalid bytes were replaced with U+FFFD",
                err.valid_up_to()
            ));
            String::from_utf8_lossy(bytes)
        }
    };
    (text, warnings)
}

/// Where each piece of derived text came from in the body, recorded on request: what lets a
/// secret that only appears once Markdown is stripped (`gh**p_**…`) be redacted in the body.
#[derive(Debug, Default)]
pub(crate) struct Tracking {
    /// Each piece of plain text: its range in [`Note::plain`] and the body range it came from.
    pub(crate) pieces: Vec<(Range<usize>, Range<usize>)>,
    /// The body range of each link of the body, in the order of [`Note::links`].
    pub(crate) links: Vec<Range<usize>>,
    /// The body range of each callout's first line, in the order of [`Note::callouts`].
    pub(crate) callouts: Vec<Range<usize>>,
}

impl Tracking {
    /// The body range that produced the plain text `plain`: exact where a piece is the body's
    /// text unchanged, else the whole pieces it touches.
    pub(crate) fn body_range(&self, plain: &Range<usize>) -> Option<Range<usize>> {
        let first = self.pieces.partition_point(|(p, _)| p.end <= plain.start);
        let touched = self.pieces[first..]
            .iter()
            .take_while(|(p, _)| p.start < plain.end);
        let mut range: Option<Range<usize>> = None;
        for (piece, body) in touched {
            let exact = piece.len() == body.len();
            let start = if exact {
                body.start + plain.start.saturating_sub(piece.start)
            } else {
                body.start
            };
            let end = if exact {
                body.start + (plain.end.min(piece.end) - piece.start)
            } else {
                body.end
            };
            range = Some(match range {
                Some(r) => r.start.min(start)..r.end.max(end),
                None => start..end,
            });
        }
        range.filter(|r| r.start < r.end)
    }
}

/// The Markdown pass and everything derived from it and the frontmatter: the note.
pub(crate) fn build_note(
    id: &str,
    frontmatter: Map<String, Value>,
    body: &str,
    body_line: u32,
    warnings: Vec<String>,
    track: bool,
) -> (Note, Tracking) {
    let mut note = Note {
        id: id.to_string(),
        body_line,
        ..Note::default()
    };
    let mut pass = MarkdownPass::new(id, body, body_line);
    if track {
        pass.tracking = Some(Tracking::default());
    }
    let tracking = pass.run(&mut note);
    note.body = body.to_string();

    note.title = frontmatter_string(&frontmatter, "title")
        .or_else(|| {
            note.headings
                .iter()
                .find(|h| h.level == 1 && !h.text.is_empty())
                .map(|h| h.text.clone())
        })
        .unwrap_or_else(|| file_stem(id).to_string());
    note.aliases = frontmatter_list(&frontmatter, &["aliases", "alias"], &[',']);

    let mut tags = frontmatter_list(&frontmatter, &["tags", "tag"], &[',', ' ']);
    tags.iter_mut()
        .for_each(|t| *t = t.trim_start_matches('#').to_string());
    tags.retain(|t| !t.is_empty());
    tags.append(&mut note.tags);
    dedup_ignore_case(&mut tags);
    note.tags = tags;

    collect_property_links(&frontmatter, &mut note.links);
    note.frontmatter = frontmatter;
    note.warnings = warnings;
    (note, tracking)
}

/// The `#tags` written in a body (not in code).
pub(crate) fn inline_tags(id: &str, body: &str, body_line: u32) -> Vec<String> {
    let mut note = Note::default();
    MarkdownPass::new(id, body, body_line).run(&mut note);
    note.tags
}

pub(crate) struct FrontmatterSplit<'a> {
    /// The YAML between the `---` lines, if there is a frontmatter block.
    pub(crate) yaml: Option<&'a str>,
    /// Where the body starts in the text.
    pub(crate) body_start: usize,
    /// 1-based line number of the body's first line in the file.
    pub(crate) body_line: u32,
}

/// Finds a YAML frontmatter block: `---` on the first line, closed by `---` or `...` on a line of
/// its own. Without a closing line there is no frontmatter.
pub(crate) fn split_frontmatter(text: &str) -> FrontmatterSplit<'_> {
    let no_frontmatter = FrontmatterSplit {
        yaml: None,
        body_start: 0,
        body_line: 1,
    };
    let Some(first_end) = text.find('\n') else {
        return no_frontmatter;
    };
    if text[..first_end].trim_end() != "---" {
        return no_frontmatter;
    }
    let yaml_start = first_end + 1;
    let mut line_start = yaml_start;
    let mut line_number = 2u32;
    while line_start <= text.len() {
        let line_end = text[line_start..]
            .find('\n')
            .map_or(text.len(), |i| line_start + i);
        let line = text[line_start..line_end].trim_end();
        if line == "---" || line == "..." {
            let body_start = (line_end + 1).min(text.len());
            return FrontmatterSplit {
                yaml: Some(&text[yaml_start..line_start]),
                body_start,
                body_line: line_number + 1,
            };
        }
        if line_end == text.len() {
            break;
        }
        line_start = line_end + 1;
        line_number += 1;
    }
    no_frontmatter
}

/// The frontmatter as a map, or the warning that says why it was ignored (not YAML, not a
/// mapping). Empty or `null` frontmatter is an empty map.
pub(crate) fn parse_frontmatter(yaml: &str) -> Result<Map<String, Value>, String> {
    if yaml.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(yaml) {
        Ok(serde_yaml_ng::Value::Mapping(mapping)) => Ok(mapping
            .into_iter()
            .map(|(k, v)| (yaml_key(k), yaml_to_json(v)))
            .collect()),
        Ok(serde_yaml_ng::Value::Null) => Ok(Map::new()),
        Ok(_) => Err("frontmatter is not a mapping of keys to values; ignored".into()),
        Err(err) => Err(format!("frontmatter is not valid YAML ({err}); ignored")),
    }
}

fn yaml_key(key: serde_yaml_ng::Value) -> String {
    match key {
        serde_yaml_ng::Value::String(s) => s,
        other => match yaml_to_json(other) {
            Value::String(s) => s,
            v => v.to_string(),
        },
    }
}

fn yaml_to_json(value: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or_else(|| Value::String(n.to_string()), Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(mapping) => Value::Object(
            mapping
                .into_iter()
                .map(|(k, v)| (yaml_key(k), yaml_to_json(v)))
                .collect(),
        ),
        Y::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

fn frontmatter_string(frontmatter: &Map<String, Value>, key: &str) -> Option<String> {
    let text = match frontmatter.get(key)? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// A list-valued property, accepting a YAML list or a string split on `separators`.
fn frontmatter_list(
    frontmatter: &Map<String, Value>,
    keys: &[&str],
    separators: &[char],
) -> Vec<String> {
    let mut out = Vec::new();
    for key in keys {
        match frontmatter.get(*key) {
            Some(Value::String(s)) => out.extend(
                s.split(separators)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            ),
            Some(Value::Array(items)) => out.extend(items.iter().filter_map(|v| match v {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })),
            _ => {}
        }
    }
    dedup_ignore_case(&mut out);
    out
}

fn dedup_ignore_case(items: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    items.retain(|item| seen.insert(item.to_lowercase()));
}

/// `[[links]]` inside frontmatter strings, as Obsidian's properties view shows them.
fn collect_property_links(frontmatter: &Map<String, Value>, links: &mut Vec<Link>) {
    fn walk(value: &Value, links: &mut Vec<Link>) {
        match value {
            Value::String(s) => {
                let mut rest = s.as_str();
                while let Some(open) = rest.find("[[") {
                    let after = &rest[open + 2..];
                    let Some(close) = after.find("]]") else { break };
                    let inner = &after[..close];
                    let target = inner.split('|').next().unwrap_or("");
                    let (target, fragment) = split_fragment(target);
                    if !target.trim().is_empty() {
                        links.push(Link {
                            kind: LinkKind::Property,
                            target: target.trim().to_string(),
                            fragment,
                            key: link_key(target),
                            line: 1,
                        });
                    }
                    rest = &after[close + 2..];
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, links)),
            Value::Object(map) => map.values().for_each(|v| walk(v, links)),
            _ => {}
        }
    }
    frontmatter.values().for_each(|v| walk(v, links));
}

pub(crate) fn split_fragment(target: &str) -> (&str, Option<String>) {
    match target.split_once('#') {
        Some((path, fragment)) => {
            let fragment = fragment.trim();
            (path, (!fragment.is_empty()).then(|| fragment.to_string()))
        }
        None => (target, None),
    }
}

/// The single pulldown-cmark pass over a note body.
struct MarkdownPass<'a> {
    id: &'a str,
    body: &'a str,
    body_line: u32,
    /// Byte offsets in `body` where each line starts.
    line_starts: Vec<u32>,
    plain: String,
    headings: Vec<Heading>,
    sections: Vec<Section>,
    links: Vec<Link>,
    callouts: Vec<Callout>,
    tags: Vec<String>,
    anchors: HashMap<String, u32>,
    section_start: usize,
    section_plain_start: usize,
    section_heading: Option<u32>,
    heading_text: Option<(u8, usize, String)>,
    code_block_depth: u32,
    /// The `[!type]±` marker of the callout being read, skipped in plain text.
    callout_marker: Option<std::ops::Range<usize>>,
    /// Where derived text came from, when asked for.
    tracking: Option<Tracking>,
}

impl<'a> MarkdownPass<'a> {
    fn new(id: &'a str, body: &'a str, body_line: u32) -> Self {
        let mut line_starts = vec![0u32];
        line_starts.extend(
            body.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i as u32 + 1),
        );
        MarkdownPass {
            id,
            body,
            body_line,
            line_starts,
            plain: String::with_capacity(body.len()),
            headings: Vec::new(),
            sections: Vec::new(),
            links: Vec::new(),
            callouts: Vec::new(),
            tags: Vec::new(),
            anchors: HashMap::new(),
            section_start: 0,
            section_plain_start: 0,
            section_heading: None,
            heading_text: None,
            code_block_depth: 0,
            callout_marker: None,
            tracking: None,
        }
    }

    fn line_of(&self, offset: usize) -> u32 {
        let index = self
            .line_starts
            .partition_point(|&start| start as usize <= offset);
        self.body_line + index.saturating_sub(1) as u32
    }

    fn run(mut self, note: &mut Note) -> Tracking {
        let parser = Parser::new_ext(self.body, markdown_options()).into_offset_iter();
        for (event, range) in TextMergeWithOffset::new(parser) {
            self.event(event, range);
        }
        self.close_section(self.body.len());
        note.plain = self.plain;
        note.headings = self.headings;
        note.sections = self.sections;
        note.links = self.links;
        note.callouts = self.callouts;
        note.tags = self.tags;
        self.tracking.unwrap_or_default()
    }

    fn event(&mut self, event: Event<'a>, range: std::ops::Range<usize>) {
        let plain_before = self.plain.len();
        let carries_text = matches!(
            event,
            Event::Text(_)
                | Event::Code(_)
                | Event::InlineMath(_)
                | Event::DisplayMath(_)
                | Event::Html(_)
                | Event::InlineHtml(_)
        );
        match event {
            Event::Start(tag) => self.start(tag, range.clone()),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => {
                let text = self.without_callout_marker(&text, &range);
                if text.is_empty() {
                    return;
                }
                if self.code_block_depth == 0 {
                    scan_inline_tags(&text, &mut self.tags);
                }
                self.push_text(&text);
            }
            Event::Code(text) | Event::InlineMath(text) | Event::DisplayMath(text) => {
                self.push_text(&text)
            }
            Event::Html(html) | Event::InlineHtml(html) => {
                let text = strip_html_tags(&html);
                if !text.trim().is_empty() {
                    self.push_text(&text);
                }
                self.push_separator(' ');
            }
            Event::SoftBreak => self.push_separator(' '),
            Event::HardBreak | Event::Rule => self.push_separator('\n'),
            Event::FootnoteReference(_) | Event::TaskListMarker(_) => {}
        }
        if let Some(tracking) = &mut self.tracking
            && carries_text
            && self.plain.len() > plain_before
        {
            tracking
                .pieces
                .push((plain_before..self.plain.len(), range));
        }
    }

    fn start(&mut self, tag: Tag<'a>, range: std::ops::Range<usize>) {
        match tag {
            Tag::Heading { level, .. } => {
                self.close_section(range.start);
                self.push_separator('\n');
                self.section_start = range.start;
                self.section_plain_start = self.plain.len();
                self.heading_text = Some((level as u8, range.start, String::new()));
            }
            Tag::CodeBlock(_) => {
                self.code_block_depth += 1;
                self.push_separator('\n');
            }
            Tag::BlockQuote(_) => {
                self.push_separator('\n');
                self.detect_callout(range.start);
            }
            Tag::Link {
                link_type,
                dest_url,
                ..
            } => self.record_link(link_type, &dest_url, range, false),
            Tag::Image {
                link_type,
                dest_url,
                ..
            } => self.record_link(link_type, &dest_url, range, true),
            Tag::Paragraph | Tag::Item | Tag::Table(_) | Tag::TableRow | Tag::TableHead => {
                self.push_separator('\n')
            }
            Tag::TableCell => self.push_separator(' '),
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(_) => {
                if let Some((level, offset, text)) = self.heading_text.take() {
                    let text = collapse_whitespace(&text);
                    let anchor = self.unique_anchor(&text);
                    self.section_heading = Some(self.headings.len() as u32);
                    self.headings.push(Heading {
                        level,
                        text,
                        anchor,
                        line: self.line_of(offset),
                    });
                }
                self.push_separator('\n');
                // The section's text starts after its heading: passages show content, and the
                // heading is known separately.
                self.section_plain_start = self.plain.len();
            }
            TagEnd::CodeBlock => {
                self.code_block_depth = self.code_block_depth.saturating_sub(1);
                self.push_separator('\n');
            }
            TagEnd::BlockQuote(_) => {
                self.callout_marker = None;
                self.push_separator('\n');
            }
            TagEnd::Paragraph
            | TagEnd::Item
            | TagEnd::TableRow
            | TagEnd::TableHead
            | TagEnd::Table
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition => self.push_separator('\n'),
            TagEnd::TableCell => self.push_separator(' '),
            _ => {}
        }
    }

    fn push_text(&mut self, text: &str) {
        if let Some((_, _, heading)) = &mut self.heading_text {
            heading.push_str(text);
        }
        self.plain.push_str(text);
    }

    /// Adds a separator unless the plain text already ends in whitespace.
    fn push_separator(&mut self, separator: char) {
        match self.plain.chars().next_back() {
            None => {}
            Some('\n') => {}
            Some(c) if c.is_whitespace() && separator != '\n' => {}
            Some(c) if c.is_whitespace() => {
                self.plain.pop();
                self.plain.push('\n');
            }
            Some(_) => self.plain.push(separator),
        }
        if let Some((_, _, heading)) = &mut self.heading_text
            && !heading.ends_with(' ')
            && !heading.is_empty()
        {
            heading.push(' ');
        }
    }

    fn close_section(&mut self, end: usize) {
        let plain_end = self.plain.len();
        let has_text = !self.plain[self.section_plain_start..plain_end]
            .trim()
            .is_empty();
        if self.section_heading.is_some() || has_text {
            self.sections.push(Section {
                heading: self.section_heading,
                start: self.section_start as u32,
                end: end as u32,
                line: self.line_of(self.section_start),
                plain_start: self.section_plain_start as u32,
                plain_end: plain_end as u32,
            });
        }
        self.section_heading = None;
    }

    /// The heading's slug, or the slug with the first free `-N` suffix: unique even when a
    /// heading's own text looks like a suffixed one (`# A`, `# A`, `# A-1`: `a`, `a-1`, `a-1-1`).
    fn unique_anchor(&mut self, text: &str) -> String {
        let mut base = slugify(text);
        if base.is_empty() {
            base = format!("section-{}", self.headings.len() + 1);
        }
        // Each used anchor maps to the next suffix to try for it as a base.
        let Some(&next) = self.anchors.get(&base) else {
            self.anchors.insert(base.clone(), 1);
            return base;
        };
        let mut suffix = next;
        let anchor = loop {
            let candidate = format!("{base}-{suffix}");
            suffix += 1;
            if !self.anchors.contains_key(&candidate) {
                break candidate;
            }
        };
        self.anchors.insert(base, suffix);
        self.anchors.insert(anchor.clone(), 1);
        anchor
    }

    /// Reads `> [!type]± title` on the first line of a block quote.
    fn detect_callout(&mut self, start: usize) {
        let Some(callout) = callout_at(self.body, start) else {
            return;
        };
        self.callouts.push(Callout {
            kind: callout.kind,
            title: callout.title,
            fold: callout.fold,
            line: self.line_of(start),
        });
        if let Some(tracking) = &mut self.tracking {
            tracking.callouts.push(start..callout.line_end);
        }
        self.callout_marker = Some(callout.marker);
    }

    fn without_callout_marker<'t>(
        &self,
        text: &'t str,
        range: &std::ops::Range<usize>,
    ) -> Cow<'t, str> {
        match &self.callout_marker {
            Some(marker) => without_marker(marker, text, range),
            None => Cow::Borrowed(text),
        }
    }

    fn record_link(
        &mut self,
        link_type: LinkType,
        dest: &str,
        range: std::ops::Range<usize>,
        is_image: bool,
    ) {
        let links = self.links.len();
        self.push_link(link_type, dest, range.start, is_image);
        if let Some(tracking) = &mut self.tracking
            && self.links.len() > links
        {
            tracking.links.push(range);
        }
    }

    fn push_link(&mut self, link_type: LinkType, dest: &str, offset: usize, is_image: bool) {
        let line = self.line_of(offset);
        match link_type {
            LinkType::WikiLink { .. } => {
                let (target, fragment) = split_fragment(dest);
                let target = target.trim();
                if target.is_empty() {
                    return; // `[[#Heading]]`: a link inside the same note
                }
                self.links.push(Link {
                    kind: if is_image {
                        LinkKind::Embed
                    } else {
                        LinkKind::Wiki
                    },
                    target: target.to_string(),
                    fragment,
                    key: link_key(target),
                    line,
                });
            }
            LinkType::Autolink | LinkType::Email => self.links.push(Link {
                kind: LinkKind::External,
                target: dest.to_string(),
                fragment: None,
                key: String::new(),
                line,
            }),
            _ => {
                let dest = dest.trim();
                if dest.is_empty() || dest.starts_with('#') {
                    return;
                }
                if has_url_scheme(dest) {
                    if !is_image {
                        self.links.push(Link {
                            kind: LinkKind::External,
                            target: dest.to_string(),
                            fragment: None,
                            key: String::new(),
                            line,
                        });
                    }
                    return;
                }
                let decoded = percent_encoding::percent_decode_str(dest).decode_utf8_lossy();
                let (path, fragment) = split_fragment(&decoded);
                let Some(resolved) = resolve_relative(self.id, path) else {
                    return;
                };
                if is_image && !super::note::is_markdown_name(&resolved) {
                    return;
                }
                self.links.push(Link {
                    kind: LinkKind::Markdown,
                    key: link_key(&resolved),
                    target: resolved,
                    fragment,
                    line,
                });
            }
        }
    }
}

/// A callout's first line, `> [!type]± title`, found at the start of a block quote.
pub(crate) struct CalloutLine {
    /// The type, lowercased.
    pub(crate) kind: String,
    pub(crate) fold: Option<char>,
    pub(crate) title: String,
    /// Byte range of the `[!type]±` marker in the text.
    pub(crate) marker: std::ops::Range<usize>,
    /// Where the first line (marker and title) ends.
    pub(crate) line_end: usize,
}

/// Reads a callout marker on the line that starts at `start` (a block quote's first line).
pub(crate) fn callout_at(text: &str, start: usize) -> Option<CalloutLine> {
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = &text[start..line_end];
    let after_quote = line.trim_start().trim_start_matches('>').trim_start();
    let rest = after_quote.strip_prefix("[!")?;
    let close = rest.find(']')?;
    let kind = rest[..close].trim();
    if kind.is_empty() || kind.contains(char::is_whitespace) {
        return None;
    }
    let marker_start = start + (line.len() - after_quote.len());
    let mut after = &rest[close + 1..];
    let fold = after.chars().next().filter(|c| *c == '+' || *c == '-');
    if let Some(c) = fold {
        after = &after[c.len_utf8()..];
    }
    let marker_end = line_end - after.len();
    Some(CalloutLine {
        kind: kind.to_lowercase(),
        fold,
        title: after.trim().to_string(),
        marker: marker_start..marker_end,
        line_end,
    })
}

/// A text event with the part inside a callout marker removed.
pub(crate) fn without_marker<'t>(
    marker: &std::ops::Range<usize>,
    text: &'t str,
    range: &std::ops::Range<usize>,
) -> Cow<'t, str> {
    if range.end <= marker.start || range.start >= marker.end {
        return Cow::Borrowed(text);
    }
    if range.start >= marker.start && range.end <= marker.end {
        return Cow::Borrowed("");
    }
    // The text event starts inside the marker: keep what follows it.
    let cut = marker.end.saturating_sub(range.start);
    if text.len() == range.len() && text.is_char_boundary(cut.min(text.len())) {
        Cow::Borrowed(text[cut.min(text.len())..].trim_start())
    } else {
        Cow::Borrowed(text)
    }
}

/// The parser options every pass uses, so ranges and anchors agree.
pub(crate) fn markdown_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_WIKILINKS
}

/// `scheme:` at the start of a link destination (`https:`, `mailto:`, `obsidian:`).
pub(crate) fn has_url_scheme(dest: &str) -> bool {
    let Some(colon) = dest.find(':') else {
        return false;
    };
    let scheme = &dest[..colon];
    scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Resolves a Markdown link path against the linking note's folder. A leading `/` means the
/// vault root. Returns `None` for a path that climbs out of the vault.
pub(crate) fn resolve_relative(from_id: &str, path: &str) -> Option<String> {
    let path = path.trim();
    if path.is_empty() {
        return None;
    }
    let mut parts: Vec<&str> = if path.starts_with('/') {
        Vec::new()
    } else {
        let folder = from_id.rsplit_once('/').map_or("", |(folder, _)| folder);
        folder.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Collects `#tag` and `#nested/tag` written in text. A tag starts after whitespace or at the
/// start of the text, and needs at least one character that is not a digit.
fn scan_inline_tags(text: &str, tags: &mut Vec<String>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(found) = text[i..].find('#') {
        let hash = i + found;
        i = hash + 1;
        let preceded_ok = hash == 0
            || text[..hash]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_whitespace() || matches!(c, '(' | ',' | ';'));
        if !preceded_ok {
            continue;
        }
        let rest = &text[hash + 1..];
        let len: usize = rest
            .char_indices()
            .find(|&(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '/')))
            .map_or(rest.len(), |(idx, _)| idx);
        let tag = rest[..len].trim_end_matches('/');
        if !tag.is_empty()
            && !tag.chars().all(|c| c.is_ascii_digit())
            && !tag.starts_with('/')
            && !tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
        {
            tags.push(tag.to_string());
        }
        i = hash + 1 + len;
        debug_assert!(i <= bytes.len());
    }
}

/// Drops `<tags>` and comments from an HTML fragment, keeping the text between them.
fn strip_html_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let close = if after.starts_with("<!--") {
            after.find("-->").map(|i| i + 3)
        } else {
            after.find('>').map(|i| i + 1)
        };
        match close {
            Some(close) => rest = &after[close..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A GitHub-style heading slug: lowercase, letters and digits of any script kept, spaces become
/// `-`, other punctuation dropped. `## Hello, World!` → `hello-world`.
pub(crate) fn slugify(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.trim().chars() {
        if c.is_alphanumeric() || c == '_' || c == '-' {
            slug.extend(c.to_lowercase());
        } else if c.is_whitespace() {
            slug.push('-');
        }
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontmatter_title_aliases_tags() {
        let note = parse_note(
            "Notes/Brew.md",
            b"---\ntitle: Pour over\naliases: [V60, Hario]\ntags:\n  - coffee\n  - '#brewing'\nrating: 4\n---\n# Heading one\nBody with #inline and #garden/veg tags.\n",
        );
        assert_eq!(note.title, "Pour over");
        assert_eq!(note.aliases, vec!["V60", "Hario"]);
        assert_eq!(note.tags, vec!["coffee", "brewing", "inline", "garden/veg"]);
        assert_eq!(note.frontmatter["rating"], 4);
        assert_eq!(note.body_line, 9);
        assert_eq!(note.headings[0].line, 9);
        assert!(note.body.starts_with("# Heading one"));
        assert!(note.warnings.is_empty());
    }

    #[test]
    fn title_falls_back_to_h1_then_stem() {
        assert_eq!(parse_note("a.md", b"intro\n# The H1\n").title, "The H1");
        assert_eq!(parse_note("dir/c++.md", b"## only h2\n").title, "c++");
        assert_eq!(parse_note("dir/[[.md", b"").title, "[[");
    }

    #[test]
    fn bom_and_crlf() {
        let note = parse_note(
            "x.md",
            b"\xEF\xBB\xBF---\r\ntitle: Crlf note\r\n---\r\n# First\r\nline one\r\nline two\r\n## Second\r\ntext\r\n",
        );
        assert_eq!(note.title, "Crlf note");
        assert_eq!(note.headings.len(), 2);
        assert_eq!(note.headings[0].text, "First");
        assert_eq!(note.headings[0].line, 4);
        assert_eq!(note.headings[1].line, 7);
        assert!(!note.body.starts_with('\u{feff}'));
        assert!(note.plain.contains("line one"));
    }

    #[test]
    fn invalid_utf8_is_read_lossily_with_a_warning() {
        let note = parse_note("bad.md", b"# Title\nabc \xFF\xFE def\n");
        assert_eq!(note.title, "Title");
        assert!(note.plain.contains("abc"));
        assert!(note.plain.contains("def"));
        assert_eq!(note.warnings.len(), 1);
        assert!(note.warnings[0].contains("invalid UTF-8 at byte 12"));
    }

    #[test]
    fn empty_and_whitespace_files() {
        let note = parse_note("Inbox/Empty.md", b"");
        assert_eq!(note.title, "Empty");
        assert!(note.sections.is_empty());
        assert!(note.plain.is_empty());
        let note = parse_note("w.md", b"   \n\n");
        assert!(note.sections.is_empty());
    }

    #[test]
    fn unterminated_frontmatter_is_body() {
        let note = parse_note("u.md", b"---\ntitle: nope\nno closing line\n");
        assert!(note.frontmatter.is_empty());
        assert!(note.body.starts_with("---"));
    }

    #[test]
    fn invalid_yaml_is_a_warning() {
        let note = parse_note("y.md", b"---\ntitle: [unclosed\n---\ntext\n");
        assert!(note.frontmatter.is_empty());
        assert!(note.warnings[0].contains("not valid YAML"));
        assert_eq!(note.body, "text\n");
    }

    #[test]
    fn links_of_every_kind() {
        let src = "See [[Other Note]], [[Folder/Deep#Part two|alias]], ![[Embedded]], \
                   ![[photo.png]], [md](../Up%20Note.md#sec), [ext](https://example.com), \
                   <https://auto.example>, [[#Local heading]], ![img](pic.png).\n";
        let note = parse_note("A/B/n.md", src.as_bytes());
        let got: Vec<_> = note
            .links
            .iter()
            .map(|l| {
                (
                    l.kind,
                    l.target.as_str(),
                    l.fragment.as_deref(),
                    l.key.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (LinkKind::Wiki, "Other Note", None, "other note"),
                (
                    LinkKind::Wiki,
                    "Folder/Deep",
                    Some("Part two"),
                    "folder/deep"
                ),
                (LinkKind::Embed, "Embedded", None, "embedded"),
                (LinkKind::Embed, "photo.png", None, "photo.png"),
                (LinkKind::Markdown, "A/Up Note.md", Some("sec"), "a/up note"),
                (LinkKind::External, "https://example.com", None, ""),
                (LinkKind::External, "https://auto.example", None, ""),
            ]
        );
        assert!(note.plain.contains("alias"));
        assert!(!note.plain.contains("[["));
    }

    #[test]
    fn markdown_link_cannot_climb_out_of_the_vault() {
        let note = parse_note("n.md", b"[x](../../etc/passwd.md)\n");
        assert!(note.links.is_empty());
    }

    #[test]
    fn property_links_in_frontmatter() {
        let note = parse_note(
            "b.md",
            b"---\ncategories:\n  - \"[[Books]]\"\nauthor: \"[[People/Ann|Ann]]\"\n---\n",
        );
        let keys: Vec<_> = note.links.iter().map(|l| l.key.as_str()).collect();
        assert_eq!(keys, vec!["books", "people/ann"]);
        assert!(note.links.iter().all(|l| l.kind == LinkKind::Property));
    }

    #[test]
    fn tags_skip_code_headings_anchor_and_numbers() {
        let note = parse_note(
            "t.md",
            b"Text #real and #123 and a#b and #a/b/.\n\n```\n#not-a-tag\n```\n\n`#inline-code`\n",
        );
        assert_eq!(note.tags, vec!["real", "a/b"]);
        assert!(note.plain.contains("#not-a-tag"), "code stays in the text");
    }

    #[test]
    fn callouts_are_collected_and_marker_is_not_text() {
        let src = "> [!warning]- Watch out\n> Hot water burns.\n\n> [!NOTE]\n> GitHub style.\n\n> plain quote\n";
        let note = parse_note("c.md", src.as_bytes());
        assert_eq!(note.callouts.len(), 2);
        assert_eq!(note.callouts[0].kind, "warning");
        assert_eq!(note.callouts[0].title, "Watch out");
        assert_eq!(note.callouts[0].fold, Some('-'));
        assert_eq!(note.callouts[1].kind, "note");
        assert_eq!(note.callouts[1].line, 4);
        assert!(note.plain.contains("Watch out"));
        assert!(note.plain.contains("Hot water burns."));
        assert!(!note.plain.contains("[!"), "{}", note.plain);
    }

    #[test]
    fn sections_cover_headings_with_offsets_and_lines() {
        let src = "intro text\n\n# One\nalpha\n\n## Two\nbeta\n\n# One\ngamma\n";
        let note = parse_note("s.md", src.as_bytes());
        let anchors: Vec<_> = note.headings.iter().map(|h| h.anchor.as_str()).collect();
        assert_eq!(anchors, vec!["one", "two", "one-1"]);
        // A heading whose text looks like a suffixed anchor (a fuzzer finding).
        let suffixed = parse_note("a.md", "# A-1\n# A\n# A\n# A\n# A-1\n".as_bytes());
        let suffixed: Vec<_> = suffixed
            .headings
            .iter()
            .map(|h| h.anchor.as_str())
            .collect();
        assert_eq!(suffixed, vec!["a-1", "a", "a-2", "a-3", "a-1-1"]);
        assert_eq!(note.sections.len(), 4);
        let preamble = &note.sections[0];
        assert_eq!(preamble.heading, None);
        assert_eq!(note.section_plain(preamble).trim(), "intro text");
        let two = &note.sections[2];
        assert_eq!(two.heading, Some(1));
        assert_eq!(two.line, 6);
        assert_eq!(
            &src[two.start as usize..two.end as usize],
            "## Two\nbeta\n\n"
        );
        assert!(note.section_plain(two).contains("beta"));
        assert!(!note.section_plain(two).contains("gamma"));
    }

    #[test]
    fn cjk_rtl_and_emoji_survive() {
        let src = "# 中文标题\n这是一个关于Zotero群组的笔记。\n\nمرحبا بالعالم 🌍\n";
        let note = parse_note("中文/笔记 🎉.md", src.as_bytes());
        assert_eq!(note.title, "中文标题");
        assert_eq!(note.headings[0].anchor, "中文标题");
        assert!(note.plain.contains("Zotero群组"));
        assert!(note.plain.contains("مرحبا"));
        assert_eq!(note.stem(), "笔记 🎉");
    }

    #[test]
    fn html_is_stripped_from_plain_text() {
        let note = parse_note(
            "h.md",
            b"<div class=\"x\">Hello <b>bold</b></div>\n\ntext <!-- hidden --> end\n",
        );
        assert!(note.plain.contains("Hello"));
        assert!(note.plain.contains("bold"));
        assert!(!note.plain.contains("<div"));
        assert!(!note.plain.contains("hidden"));
    }

    #[test]
    fn large_note_parses() {
        let paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(20);
        let mut src = String::new();
        while src.len() < 10 * 1024 * 1024 {
            src.push_str("## Part\n");
            src.push_str(&paragraph);
            src.push_str("\n\n");
        }
        let note = parse_note("big.md", src.as_bytes());
        assert!(note.sections.len() > 1000);
        assert_eq!(note.sections.last().unwrap().end as usize, src.len());
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Hello, World!"), "hello-world");
        assert_eq!(slugify("C++ & Rust"), "c--rust");
        assert_eq!(slugify("Ünïcode Straße"), "ünïcode-straße");
    }
}
