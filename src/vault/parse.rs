//! Parsing one document: a pure function of (kind, id, bytes, options) with no I/O and no clock.
//!
//! A Markdown note goes through these steps: decoding (BOM stripped, invalid UTF-8 replaced with
//! a warning), the frontmatter split (a YAML block between `---` lines at the very top), the
//! body edits (an Excalidraw drawing's data and Obsidian `%%comments%%` left out, see
//! [`edit_body`]), and one pass of pulldown-cmark over the edited body that collects headings,
//! sections, links, callouts, inline tags, block ids, Dataview inline fields and the plain text
//! at the same time. Other kinds ([`super::canvas`]) render themselves as Markdown and go
//! through the same pass, so every kind yields the same [`Note`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd, TextMergeWithOffset};
use serde_json::{Map, Value};

use super::note::{
    Block, Callout, DocumentKind, Heading, Link, LinkKind, Note, Section, file_stem, link_key,
};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// What the owner's configuration changes about parsing. Changing it means re-reading every
/// note (it is part of [`crate::vault::ingest::Ingest::stamp`], stored with the index).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Keep Obsidian `%%comments%%` (they are left out by default, as Obsidian hides them).
    pub keep_comments: bool,
}

impl ParseOptions {
    /// A short stamp of the options, stored with the index.
    pub(crate) fn stamp(&self) -> String {
        if self.keep_comments {
            "comments=kept".to_string()
        } else {
            "comments=hidden".to_string()
        }
    }
}

/// Parses a document of any kind. A Markdown note never fails (problems become
/// [`Note::warnings`]); a Canvas that is not valid JSON is an error whose message names the
/// problem. Nothing is redacted here: the index reads documents through
/// [`crate::vault::ingest`], which decides privacy and redacts before this parser's steps run.
pub fn parse_document(
    kind: DocumentKind,
    id: &str,
    bytes: &[u8],
    options: &ParseOptions,
) -> Result<Note, String> {
    match kind {
        DocumentKind::Markdown | DocumentKind::Excalidraw => {
            Ok(parse_note_with(id, bytes, options))
        }
        DocumentKind::Canvas => super::canvas::parse_canvas(id, bytes, options),
        DocumentKind::Text => {
            let (text, warnings) = decode(bytes);
            let nothing = super::redact::Redactor::new(false, &[]).map_err(|e| e.to_string())?;
            let document = super::text::TextDocument {
                pages: vec![text.into_owned()],
                ..Default::default()
            };
            let mut note = super::text::build_text_note(id, kind, document, &nothing);
            note.warnings = warnings;
            Ok(note)
        }
        DocumentKind::Pdf => Err("a PDF is read through the PDF extractor".into()),
    }
}

/// Parses a Markdown note with the default options. `id` is the vault-relative path with `/`
/// separators; it is used for the fallback title and to resolve relative Markdown links. Never
/// fails: problems become [`Note::warnings`].
pub fn parse_note(id: &str, bytes: &[u8]) -> Note {
    parse_note_with(id, bytes, &ParseOptions::default())
}

/// Parses a Markdown note (or an Excalidraw drawing, which is one).
pub fn parse_note_with(id: &str, bytes: &[u8], options: &ParseOptions) -> Note {
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
        options,
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

/// The body edits, the Markdown pass and everything derived from them and the frontmatter: the
/// note. Its kind follows from the id (and an Excalidraw drawing's frontmatter). With `track`,
/// where each piece of derived text came from in the edited body, which becomes
/// [`Note::body`].
pub(crate) fn build_note(
    id: &str,
    frontmatter: Map<String, Value>,
    body: &str,
    body_line: u32,
    mut warnings: Vec<String>,
    options: &ParseOptions,
    track: bool,
) -> (Note, Tracking) {
    let kind = match super::rules::document_kind(id) {
        Some(DocumentKind::Canvas) => DocumentKind::Canvas,
        _ if is_excalidraw_name(id) || frontmatter.contains_key("excalidraw-plugin") => {
            DocumentKind::Excalidraw
        }
        _ => DocumentKind::Markdown,
    };
    let edited = edit_body(body, body_line, kind, options, &mut warnings);
    let mut note = Note {
        id: id.to_string(),
        kind,
        body_line,
        ..Note::default()
    };
    let mut pass = MarkdownPass::new(id, &edited.text, body, &edited.maps, body_line);
    if track {
        pass.tracking = Some(Tracking::default());
    }
    let tracking = pass.run(&mut note);
    note.body = edited.text.into_owned();

    note.title = frontmatter_string(&frontmatter, "title")
        .or_else(|| {
            note.headings
                .iter()
                .find(|h| h.level == 1 && !h.text.is_empty())
                .map(|h| h.text.clone())
        })
        .unwrap_or_else(|| file_stem(id).to_string());
    if kind == DocumentKind::Canvas {
        note.title = super::canvas::canvas_title(id);
    }
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

/// True for `Drawing.excalidraw.md` (any case): the Excalidraw plugin's file names.
pub(crate) fn is_excalidraw_name(id: &str) -> bool {
    let stem = super::note::strip_markdown_extension(id);
    stem.len() < id.len()
        && stem.len() > ".excalidraw".len()
        && stem.is_char_boundary(stem.len() - ".excalidraw".len())
        && stem[stem.len() - ".excalidraw".len()..].eq_ignore_ascii_case(".excalidraw")
}

/// The `#tags` written in a body (not in code).
pub(crate) fn inline_tags(id: &str, body: &str, body_line: u32) -> Vec<String> {
    let mut note = Note::default();
    MarkdownPass::new(id, body, body, &[], body_line).run(&mut note);
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

/// A body with some byte ranges left out, and the way back to the offsets before each edit
/// (line numbers are always those of the file).
pub(crate) struct Edited<'a> {
    pub(crate) text: Cow<'a, str>,
    /// One map per edit, in the order they were made.
    pub(crate) maps: Vec<Vec<Kept>>,
}

/// A stretch of text kept by an edit: it starts at `new` in the edited text and at `old` in the
/// text before the edit, and runs to the next stretch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Kept {
    new: usize,
    old: usize,
}

/// Maps an offset in the edited text back through every edit to the original text.
fn original_offset(maps: &[Vec<Kept>], mut offset: usize) -> usize {
    for map in maps.iter().rev() {
        let index = map.partition_point(|kept| kept.new <= offset);
        if let Some(kept) = index.checked_sub(1).map(|i| map[i]) {
            offset = kept.old + (offset - kept.new);
        }
    }
    offset
}

/// `text` without the sorted, non-overlapping `ranges`.
fn remove_ranges(text: &str, ranges: &[Range<usize>]) -> (String, Vec<Kept>) {
    let removed: usize = ranges.iter().map(|r| r.len()).sum();
    let mut out = String::with_capacity(text.len() - removed.min(text.len()));
    let mut kept = Vec::with_capacity(ranges.len() + 1);
    let mut position = 0;
    for range in ranges {
        if range.start > position {
            kept.push(Kept {
                new: out.len(),
                old: position,
            });
            out.push_str(&text[position..range.start]);
        }
        position = position.max(range.end);
    }
    if position < text.len() {
        kept.push(Kept {
            new: out.len(),
            old: position,
        });
        out.push_str(&text[position..]);
    }
    (out, kept)
}

/// Sorts ranges and merges those that overlap or touch.
fn merge_ranges(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// What a reader sees of a body: an Excalidraw drawing's data and plugin boilerplate are left
/// out, and so are `%%comments%%` unless `keep_comments`. Borrows when nothing changes.
pub(crate) fn edit_body<'a>(
    body: &'a str,
    body_line: u32,
    kind: DocumentKind,
    options: &ParseOptions,
    warnings: &mut Vec<String>,
) -> Edited<'a> {
    let mut edited = Edited {
        text: Cow::Borrowed(body),
        maps: Vec::new(),
    };
    if kind == DocumentKind::Excalidraw {
        let ranges = drawing_ranges(body);
        if !ranges.is_empty() {
            let (text, map) = remove_ranges(body, &ranges);
            edited.text = Cow::Owned(text);
            edited.maps.push(map);
        }
    }
    if !options.keep_comments {
        let ranges = comment_ranges(&edited.text, body_line, warnings);
        if !ranges.is_empty() {
            let (text, map) = remove_ranges(&edited.text, &ranges);
            edited.text = Cow::Owned(text);
            edited.maps.push(map);
        }
    }
    edited
}

/// The parts of an Excalidraw note that are drawing, not text: the `Drawing` section (with the
/// `%%` that opens it), every `compressed-json` and `json` code block, the "Switch to
/// EXCALIDRAW VIEW" banner and the `# Excalidraw Data` wrapper heading. A line scan: the plugin
/// writes these files, and the drawing may be megabytes of base64 that a Markdown parser need
/// never see.
fn drawing_ranges(body: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    // (fence character, fence length, where the block starts, whether it is drawing data)
    let mut fence: Option<(u8, usize, usize, bool)> = None;
    // (heading level, where the drawing section starts)
    let mut drawing: Option<(usize, usize)> = None;
    // The last line with text: (start, trimmed text).
    let mut previous: Option<(usize, &str)> = None;
    let mut start = 0;
    while start < body.len() {
        let end = body[start..]
            .find('\n')
            .map_or(body.len(), |i| start + i + 1);
        let line = body[start..end].trim_end();
        let indented = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if let Some((ch, len, from, data)) = fence {
            let run = trimmed.bytes().take_while(|b| *b == ch).count();
            if indented < 4 && run >= len && trimmed[run..].trim().is_empty() {
                if data {
                    ranges.push(from..end);
                }
                fence = None;
            }
            start = end;
            continue;
        }
        let first = trimmed.bytes().next();
        if indented < 4 && matches!(first, Some(b'`' | b'~')) {
            let ch = first.unwrap_or(b'`');
            let run = trimmed.bytes().take_while(|b| *b == ch).count();
            if run >= 3 {
                let info = trimmed[run..].trim().to_ascii_lowercase();
                let data = info.starts_with("compressed-json") || info == "json";
                fence = Some((ch, run, start, data));
                start = end;
                continue;
            }
        }
        if indented < 4 && first == Some(b'#') {
            let level = trimmed.bytes().take_while(|b| *b == b'#').count();
            let title = trimmed[level..].trim();
            if level <= 6 && (title.is_empty() || trimmed[level..].starts_with([' ', '\t'])) {
                if let Some((open_level, from)) = drawing
                    && level <= open_level
                {
                    ranges.push(from..start);
                    drawing = None;
                }
                if drawing.is_none() && title.eq_ignore_ascii_case("drawing") {
                    let from = match previous {
                        Some((at, "%%")) => at,
                        _ => start,
                    };
                    drawing = Some((level, from));
                } else if title.eq_ignore_ascii_case("excalidraw data") {
                    ranges.push(start..end);
                }
            }
        } else if line.contains("Switch to EXCALIDRAW VIEW") {
            ranges.push(start..end);
        }
        if !trimmed.is_empty() {
            previous = Some((start, trimmed));
        }
        start = end;
    }
    if let Some((_, _, from, true)) = fence {
        ranges.push(from..body.len());
    }
    if let Some((_, from)) = drawing {
        ranges.push(from..body.len());
    }
    merge_ranges(ranges)
}

/// Obsidian comments: from a `%%` to the next `%%` (inline or across lines, headings and all),
/// or to the end of the note when none closes it, as Obsidian hides them. A `%%` inside code
/// (a code block or an inline code span) is code, not a comment.
fn comment_ranges(text: &str, body_line: u32, warnings: &mut Vec<String>) -> Vec<Range<usize>> {
    if !text.contains("%%") {
        return Vec::new();
    }
    let mut code: Vec<Range<usize>> = Vec::new();
    for (event, range) in Parser::new_ext(text, markdown_options()).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(_)) | Event::Code(_) => code.push(range),
            _ => {}
        }
    }
    let mut ranges = Vec::new();
    let mut code = code.into_iter().peekable();
    let mut position = 0;
    while let Some(found) = text[position..].find("%%") {
        let open = position + found;
        while code.next_if(|c| c.end <= open).is_some() {}
        if let Some(c) = code.peek()
            && c.start <= open
        {
            // Inside code: carry on after it.
            position = c.end.max(open + 2);
            continue;
        }
        match text[open + 2..].find("%%") {
            Some(close) => {
                let end = open + 2 + close + 2;
                ranges.push(open..end);
                position = end;
            }
            None => {
                let line = body_line + text[..open].matches('\n').count() as u32;
                warnings.push(format!(
                    "the %% comment at line {line} is not closed, so the rest of the note is hidden (as in Obsidian); close it with another %%"
                ));
                ranges.push(open..text.len());
                break;
            }
        }
        if position >= text.len() {
            break;
        }
    }
    ranges
}

/// `^id` at the end of a text (a block reference target): where the text before it ends, and
/// the id. The id is letters, digits and `-`, and follows whitespace or starts the text.
pub(crate) fn block_marker(text: &str) -> Option<(usize, &str)> {
    let trimmed = text.trim_end();
    let caret = trimmed.rfind('^')?;
    let id = &trimmed[caret + 1..];
    if id.is_empty()
        || id.len() > 128
        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return None;
    }
    let before = &trimmed[..caret];
    if !before.is_empty() && !before.ends_with(char::is_whitespace) {
        return None;
    }
    Some((before.trim_end().len(), id))
}

/// True when only spaces or tabs lie between `offset` and the end of its line.
pub(crate) fn at_line_end(text: &str, offset: usize) -> bool {
    text.as_bytes()
        .get(offset..)
        .unwrap_or_default()
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t'))
        .is_none_or(|b| matches!(b, b'\n' | b'\r'))
}

/// The kinds of block that `^id`s attach to (paragraphs and list items own theirs; the others
/// only end a block), for the parser and for the page renderer, which must agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockKind {
    Paragraph,
    Item,
    Other,
}

impl BlockKind {
    /// The block a start tag opens, if it opens one.
    pub(crate) fn opened_by(tag: &Tag<'_>) -> Option<BlockKind> {
        match tag {
            Tag::Paragraph => Some(BlockKind::Paragraph),
            Tag::Item => Some(BlockKind::Item),
            Tag::Heading { .. }
            | Tag::CodeBlock(_)
            | Tag::BlockQuote(_)
            | Tag::List(_)
            | Tag::Table(_)
            | Tag::HtmlBlock
            | Tag::FootnoteDefinition(_) => Some(BlockKind::Other),
            _ => None,
        }
    }

    /// Whether an end tag closes a block that [`BlockKind::opened_by`] opened.
    pub(crate) fn closed_by(tag: &TagEnd) -> bool {
        matches!(
            tag,
            TagEnd::Paragraph
                | TagEnd::Item
                | TagEnd::Heading(_)
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::List(_)
                | TagEnd::Table
                | TagEnd::HtmlBlock
                | TagEnd::FootnoteDefinition
        )
    }
}

/// A block the pass is inside of.
struct OpenBlock {
    kind: BlockKind,
    range: Range<usize>,
    plain_start: usize,
    /// The index in `blocks` of the id this block carries, once its marker is read.
    id: Option<usize>,
}

/// The single pulldown-cmark pass over a note body.
struct MarkdownPass<'a> {
    id: &'a str,
    /// The edited body (see [`edit_body`]): every offset below is in it.
    body: &'a str,
    /// The way back from `body` to the file's body, for line numbers.
    maps: &'a [Vec<Kept>],
    body_line: u32,
    /// Byte offsets in the file's body where each line starts.
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
    /// Code blocks and spans, in order: inline fields are not read inside them.
    code: Vec<Range<usize>>,
    open_blocks: Vec<OpenBlock>,
    /// The block that closed last: (its depth, the block with an empty id).
    last_closed: Option<(usize, Block)>,
    blocks: Vec<Block>,
    block_ids: HashSet<String>,
}

impl<'a> MarkdownPass<'a> {
    fn new(
        id: &'a str,
        body: &'a str,
        original: &str,
        maps: &'a [Vec<Kept>],
        body_line: u32,
    ) -> Self {
        let mut line_starts = vec![0u32];
        line_starts.extend(
            original
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i as u32 + 1),
        );
        MarkdownPass {
            id,
            body,
            maps,
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
            code: Vec::new(),
            open_blocks: Vec::new(),
            last_closed: None,
            blocks: Vec::new(),
            block_ids: HashSet::new(),
        }
    }

    fn line_of(&self, offset: usize) -> u32 {
        let offset = original_offset(self.maps, offset);
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
        if self.body.contains("::") {
            note.fields = inline_fields(self.body, &self.code);
        }
        note.plain = self.plain;
        note.headings = self.headings;
        note.sections = self.sections;
        note.links = self.links;
        note.callouts = self.callouts;
        note.tags = self.tags;
        note.blocks = self.blocks;
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
                let mut text = self.without_callout_marker(&text, &range);
                if self.code_block_depth == 0
                    && self.heading_text.is_none()
                    && let Some((cut, id)) = block_marker(&text)
                    && at_line_end(self.body, range.end)
                {
                    let own_paragraph = cut == 0;
                    self.record_block(id, &range, own_paragraph);
                    text = Cow::Owned(text[..cut].to_string());
                }
                if text.is_empty() {
                    return;
                }
                if self.code_block_depth == 0 {
                    scan_inline_tags(&text, &mut self.tags);
                }
                self.push_text(&text);
            }
            Event::Code(text) => {
                self.code.push(range.clone());
                self.push_text(&text)
            }
            Event::InlineMath(text) | Event::DisplayMath(text) => self.push_text(&text),
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
        let kind = BlockKind::opened_by(&tag);
        if let Tag::CodeBlock(_) = &tag {
            self.code.push(range.clone());
        }
        if let Some(kind) = kind {
            // Plain text of a new block starts after its separator.
            if matches!(kind, BlockKind::Paragraph | BlockKind::Item) {
                self.push_separator('\n');
            }
            self.open_blocks.push(OpenBlock {
                kind,
                range: range.clone(),
                plain_start: self.plain.len(),
                id: None,
            });
        }
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
        let closes_block = BlockKind::closed_by(&tag);
        self.end_tag(tag);
        if closes_block && let Some(open) = self.open_blocks.pop() {
            let plain_end = self.plain.trim_end().len().max(open.plain_start);
            if let Some(index) = open.id {
                self.blocks[index].plain_end = plain_end as u32;
            }
            let block = Block {
                id: String::new(),
                start: open.range.start as u32,
                end: open.range.end as u32,
                line: self.line_of(open.range.start),
                plain_start: open.plain_start as u32,
                plain_end: plain_end as u32,
            };
            self.last_closed = Some((self.open_blocks.len(), block));
        }
    }

    /// Records the block that a `^id` marker names: the paragraph or list item it ends, or,
    /// for a marker alone in its paragraph, the block just before (a list, a quote, a table).
    fn record_block(&mut self, id: &str, marker: &Range<usize>, own_paragraph: bool) {
        if self.block_ids.contains(id) {
            return;
        }
        let Some(top) = self.open_blocks.len().checked_sub(1) else {
            return;
        };
        let alone = own_paragraph
            && self.open_blocks[top].kind == BlockKind::Paragraph
            && self
                .body
                .get(self.open_blocks[top].range.clone())
                .is_some_and(|p| p.trim() == self.body[marker.clone()].trim());
        if alone
            && let Some((depth, previous)) = &self.last_closed
            && *depth == top
        {
            let mut block = previous.clone();
            block.id = id.to_string();
            self.block_ids.insert(block.id.clone());
            self.blocks.push(block);
            return;
        }
        // The paragraph the marker ends, or the list item that paragraph (or the marker) is in.
        let index = match self.open_blocks[top].kind {
            BlockKind::Paragraph
                if top > 0 && self.open_blocks[top - 1].kind == BlockKind::Item =>
            {
                top - 1
            }
            BlockKind::Paragraph | BlockKind::Item => top,
            BlockKind::Other => return,
        };
        let open = &self.open_blocks[index];
        let block = Block {
            id: id.to_string(),
            start: open.range.start as u32,
            end: open.range.end as u32,
            line: self.line_of(open.range.start),
            plain_start: open.plain_start as u32,
            plain_end: self.plain.len() as u32,
        };
        self.open_blocks[index].id = Some(self.blocks.len());
        self.block_ids.insert(block.id.clone());
        self.blocks.push(block);
    }

    fn end_tag(&mut self, tag: TagEnd) {
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
                // `![alt](img/chart.png)` embeds an attachment: recorded as an embed of its
                // vault path, so the attachment is a linked file (`/files/`) with a backlink.
                let kind = if is_image && !super::note::is_markdown_name(&resolved) {
                    LinkKind::Embed
                } else {
                    LinkKind::Markdown
                };
                self.links.push(Link {
                    kind,
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

/// The longest key and value of an inline field that are read.
const MAX_FIELD_KEY: usize = 64;
const MAX_FIELD_VALUE: usize = 1024;

/// Dataview inline fields outside code: `key:: value` filling a line (also in a list item or a
/// quote), and `[key:: value]` or `(key:: value)` anywhere in a line. A key that occurs more
/// than once gets a list of its values.
fn inline_fields(body: &str, code: &[Range<usize>]) -> Map<String, Value> {
    let mut fields = Map::new();
    let mut code = code.iter().peekable();
    let mut start = 0;
    while let Some(found) = body[start..].find("::") {
        let at = start + found;
        let line_start = body[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = body[at..].find('\n').map_or(body.len(), |i| at + i);
        start = line_end;
        let line = &body[line_start..line_end];
        while code.next_if(|c| c.end <= line_start).is_some() {}
        // Code that overlaps this line, by line offsets.
        let line_code: Vec<Range<usize>> = code
            .clone()
            .take_while(|c| c.start < line_end)
            .map(|c| c.start.saturating_sub(line_start)..c.end - line_start)
            .collect();
        let in_code =
            |from: usize, to: usize| line_code.iter().any(|c| c.start < to && c.end > from);
        if let Some((key_at, key, value)) = full_line_field(line) {
            if !in_code(key_at, line.len()) {
                add_field(&mut fields, key, value);
            }
            continue;
        }
        for (from, to, key, value) in bracketed_fields(line) {
            if !in_code(from, to) {
                add_field(&mut fields, key, value);
            }
        }
    }
    fields
}

fn add_field(fields: &mut Map<String, Value>, key: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    let value = Value::String(value.to_string());
    match fields.get_mut(key) {
        None => {
            fields.insert(key.to_string(), value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

/// A key: up to [`MAX_FIELD_KEY`] bytes with a letter or digit, no brackets, colons or
/// backticks, not starting with a space or Markdown punctuation.
fn field_key(key: &str) -> Option<&str> {
    let trimmed = key.trim();
    let plain = trimmed.trim_matches(|c| c == '*' || c == '_').trim();
    (!plain.is_empty()
        && plain.len() <= MAX_FIELD_KEY
        && key.len() == key.trim_end().len()
        && plain.chars().any(char::is_alphanumeric)
        && !plain.contains(['[', ']', '(', ')', ':', '`', '#', '|', '"']))
    .then_some(plain)
}

/// `key:: value` as a whole line, after list markers, a task box and quote markers: (where the
/// key starts in the line, key, value).
fn full_line_field(line: &str) -> Option<(usize, &str, &str)> {
    let mut rest = line.trim_start();
    loop {
        let before = rest.len();
        rest = rest.trim_start_matches('>').trim_start();
        if let Some(after) = rest.strip_prefix(['-', '*', '+'])
            && after.starts_with([' ', '\t'])
        {
            rest = after.trim_start();
            // A task box: `- [ ]`, `- [x]`.
            if let Some(after) = rest.strip_prefix('[')
                && let Some(mark) = after.chars().next()
                && after[mark.len_utf8()..].starts_with(']')
            {
                rest = after[mark.len_utf8() + 1..].trim_start();
            }
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0
            && let Some(after) = rest[digits..].strip_prefix(['.', ')'])
            && after.starts_with([' ', '\t'])
        {
            rest = after.trim_start();
        }
        if rest.len() == before {
            break;
        }
    }
    let key_at = line.len() - rest.len();
    let (key, value) = rest.split_once("::")?;
    let key = field_key(key)?;
    let value = value.trim();
    let value = &value[..floor_boundary(value, MAX_FIELD_VALUE)];
    Some((key_at, key, value))
}

/// `[key:: value]` and `(key:: value)` in a line: (start, end, key, value). The value runs to
/// the bracket that closes the opening one, so it may hold `[[links]]`.
fn bracketed_fields(line: &str) -> Vec<(usize, usize, &str, &str)> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let (open, close) = match bytes[i] {
            b'[' => (b'[', b']'),
            b'(' => (b'(', b')'),
            _ => {
                i += 1;
                continue;
            }
        };
        // `[[link]]` is a link, not a field.
        if open == b'[' && bytes.get(i + 1) == Some(&b'[') {
            i += 2;
            continue;
        }
        let inner = &line[i + 1..];
        // The key is short and the value bounded: look no further than that, so a long line of
        // brackets costs linear time.
        let near = &inner[..floor_boundary(inner, 4 * MAX_FIELD_KEY)];
        let Some(colons) = near.find("::") else {
            i += 1;
            continue;
        };
        let Some(key) = field_key(&inner[..colons]) else {
            i += 1;
            continue;
        };
        let mut depth = 1usize;
        let mut end = None;
        let reach = floor_boundary(inner, colons + 2 + 4 * MAX_FIELD_VALUE);
        for (j, b) in inner[..reach].bytes().enumerate().skip(colons + 2) {
            if b == open {
                depth += 1;
            } else if b == close {
                depth -= 1;
                if depth == 0 {
                    end = Some(j);
                    break;
                }
            }
        }
        let Some(end) = end else {
            i += 1;
            continue;
        };
        let value = inner[colons + 2..end].trim();
        let value = &value[..floor_boundary(value, MAX_FIELD_VALUE)];
        out.push((i, i + 1 + end + 1, key, value));
        i += 1 + end + 1;
    }
    out
}

fn floor_boundary(text: &str, max: usize) -> usize {
    let mut cut = max.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
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
                (LinkKind::Embed, "A/B/pic.png", None, "a/b/pic.png"),
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

    fn with_comments_kept(src: &str) -> Note {
        parse_note_with(
            "k.md",
            src.as_bytes(),
            &ParseOptions {
                keep_comments: true,
            },
        )
    }

    #[test]
    fn comments_are_left_out_inline_and_across_blocks() {
        let src = "# Title\nSee %%a note to self%% here.\n\n%%\n## Hidden heading\nsecret plans\n\n- hidden item\n%%\n\nAfter the comment.\n\n## Kept\nmore %%x%%text\n";
        let note = parse_note("c.md", src.as_bytes());
        assert!(!note.body.contains("note to self"), "{}", note.body);
        assert!(!note.body.contains("secret plans"), "{}", note.body);
        assert!(!note.plain.contains("secret"), "{}", note.plain);
        assert!(!note.plain.contains("%%"), "{}", note.plain);
        assert!(note.plain.contains("See  here."), "{}", note.plain);
        assert!(note.plain.contains("After the comment."));
        assert!(note.plain.contains("more text"), "{}", note.plain);
        let headings: Vec<_> = note.headings.iter().map(|h| h.text.as_str()).collect();
        assert_eq!(headings, vec!["Title", "Kept"]);
        // Line numbers are the file's, comments or not.
        assert_eq!(note.headings[1].line, 13);
        assert!(note.warnings.is_empty(), "{:?}", note.warnings);

        let kept = with_comments_kept(src);
        assert!(kept.body.contains("secret plans"));
        assert_eq!(kept.headings.len(), 3);
        assert_eq!(kept.body, src);
    }

    #[test]
    fn an_unterminated_comment_hides_the_rest_with_a_warning() {
        let note = parse_note(
            "u.md",
            b"# T\nvisible words\n\n%% never closed\n# Gone\nhidden words\n",
        );
        assert!(note.plain.contains("visible words"));
        assert!(!note.plain.contains("hidden"), "{}", note.plain);
        assert!(!note.plain.contains("never closed"), "{}", note.plain);
        assert_eq!(note.headings.len(), 1);
        assert_eq!(note.warnings.len(), 1, "{:?}", note.warnings);
        assert!(note.warnings[0].contains("line 4"), "{}", note.warnings[0]);
        // `%%%` alone opens and never closes.
        let note = parse_note("p.md", b"a %%% b\n");
        assert_eq!(note.plain.trim(), "a");
    }

    #[test]
    fn comments_inside_code_are_code() {
        let src = "Use `%%` in a format string.\n\n```\nprintf(\"100%%\")\n```\n\n%%real comment%% done\n";
        let note = parse_note("code.md", src.as_bytes());
        assert!(
            note.plain.contains("`%%`") || note.plain.contains("%% in a format"),
            "{}",
            note.plain
        );
        assert!(note.plain.contains("printf(\"100%%\")"), "{}", note.plain);
        assert!(!note.plain.contains("real comment"), "{}", note.plain);
        assert!(note.plain.contains("done"));
        // A comment may hold a code fence: it is hidden whole.
        let note = parse_note("c.md", b"%%\n```\nhidden code\n```\n%%\nshown\n");
        assert!(!note.plain.contains("hidden code"), "{}", note.plain);
        assert!(note.plain.contains("shown"));
    }

    #[test]
    fn block_ids_name_paragraphs_items_and_the_block_before() {
        let src = "# H\nA definition worth quoting. ^def-1\n\n- first item\n- second item ^item2\n  - child\n\n> a quote\n> spanning lines\n\n^quote-1\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n^table\n\nText with a caret^notanid and ^ alone.\n";
        let note = parse_note("b.md", src.as_bytes());
        let ids: Vec<_> = note.blocks.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, vec!["def-1", "item2", "quote-1", "table"]);
        let text = |i: usize| &src[note.blocks[i].start as usize..note.blocks[i].end as usize];
        assert_eq!(text(0).trim(), "A definition worth quoting. ^def-1");
        assert!(text(1).starts_with("- second item ^item2"), "{:?}", text(1));
        assert!(text(1).contains("child"), "{:?}", text(1));
        assert!(text(2).starts_with("> a quote"), "{:?}", text(2));
        assert!(text(3).starts_with("| a | b |"), "{:?}", text(3));
        assert_eq!(note.blocks[0].line, 2);
        assert_eq!(note.blocks[2].line, 8);
        let plain = |i: usize| {
            &note.plain[note.blocks[i].plain_start as usize..note.blocks[i].plain_end as usize]
        };
        assert_eq!(plain(0).trim(), "A definition worth quoting.");
        assert!(plain(1).contains("second item") && plain(1).contains("child"));
        assert!(!note.plain.contains("^def-1") && !note.plain.contains("^quote-1"));
        assert!(note.plain.contains("caret^notanid"));
    }

    #[test]
    fn a_block_id_inside_code_is_not_a_block_id() {
        let note = parse_note(
            "c.md",
            b"```\nfenced line ^incode\n```\n\n    indented ^indented\n\nuse `x ^span`\n\n# Heading ^head\n",
        );
        assert!(note.blocks.is_empty(), "{:?}", note.blocks);
        assert!(note.plain.contains("^incode"));
        assert_eq!(note.headings[0].text, "Heading ^head");
    }

    #[test]
    fn inline_fields() {
        let src = "status:: in progress\n- [ ] due:: 2026-04-01\n> **Owner**:: Ada\n\nRead with [rating:: 4] and (author:: [[Ada Lovelace]]).\nrating:: 5\n\n`code:: not a field`\n\n```\nfenced:: no\n```\n\n[System.IO.Path]::Combine(a, b)\n";
        let note = parse_note("f.md", src.as_bytes());
        assert_eq!(note.fields["status"], "in progress");
        assert_eq!(note.fields["due"], "2026-04-01");
        assert_eq!(note.fields["Owner"], "Ada");
        assert_eq!(note.fields["author"], "[[Ada Lovelace]]");
        assert_eq!(note.fields["rating"], serde_json::json!(["4", "5"]));
        assert_eq!(note.fields.len(), 5, "{:?}", note.fields);
        // A line of brackets does not cost quadratic time, and finds nothing.
        let hostile = format!("{}::\n", "[(".repeat(200_000));
        assert!(parse_note("h.md", hostile.as_bytes()).fields.is_empty());
    }

    #[test]
    fn excalidraw_keeps_its_text_and_drops_the_drawing() {
        let blob = "N4KAkARALgngDgUwgLgAQQQDwMYEMA2AlgCYBOuA7gEwAx".repeat(40);
        let mut drawing = String::new();
        while drawing.len() < 5 * 1024 * 1024 {
            drawing.push_str(&blob);
            drawing.push_str("\n\n");
        }
        let src = format!(
            "---\nexcalidraw-plugin: parsed\ntags: [excalidraw]\n---\n==⚠  Switch to EXCALIDRAW VIEW in the MORE OPTIONS menu of this document. ⚠==\n\nMy own notes about the sketch.\n\n# Excalidraw Data\n\n## Text Elements\nRoaster airflow ^a1b2c3\n\nBean hopper ^x9y8z7\n\n%%\n## Drawing\n```compressed-json\n{drawing}```\n%%\n"
        );
        let note = parse_note("Sketches/Roaster.excalidraw.md", src.as_bytes());
        assert_eq!(note.kind, DocumentKind::Excalidraw);
        assert!(note.body.len() < 1000, "{}", note.body.len());
        assert!(!note.body.contains("N4KA") && !note.plain.contains("N4KA"));
        assert!(!note.body.contains("Switch to EXCALIDRAW"));
        assert!(note.plain.contains("My own notes about the sketch."));
        assert!(note.plain.contains("Roaster airflow"));
        assert!(note.plain.contains("Bean hopper"));
        let headings: Vec<_> = note.headings.iter().map(|h| h.text.as_str()).collect();
        assert_eq!(headings, vec!["Text Elements"]);
        assert_eq!(note.headings[0].line, 11);
        let ids: Vec<_> = note.blocks.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, vec!["a1b2c3", "x9y8z7"]);
        // With comments kept, the drawing is still not shown; the old format (`# Drawing`, a
        // `json` block) and a file recognised by its frontmatter alone work the same.
        let kept = parse_note_with(
            "d.md",
            b"---\nexcalidraw-plugin: parsed\n---\n# Text Elements\nhello ^abc\n\n# Drawing\n```json\n{\"type\":\"excalidraw\"}\n```\n",
            &ParseOptions {
                keep_comments: true,
            },
        );
        assert_eq!(kept.kind, DocumentKind::Excalidraw);
        assert!(!kept.body.contains("excalidraw\""), "{}", kept.body);
        assert!(kept.plain.contains("hello"));
        // An unterminated drawing block is drawing to the end.
        let cut = parse_note("x.excalidraw.md", b"text\n```compressed-json\nN4KAk\n");
        assert_eq!(cut.body, "text\n");
        // A plain note keeps its JSON code blocks.
        let plain = parse_note("p.md", b"```json\n{\"a\": 1}\n```\n");
        assert!(plain.body.contains("\"a\""));
        assert_eq!(plain.kind, DocumentKind::Markdown);
    }

    #[test]
    fn embeds_of_every_form_are_links() {
        let note = parse_note(
            "e.md",
            b"![[Note]] ![[Note#Heading]] ![[Note#^block]] ![[Note|alias]] ![[e]]\n",
        );
        let got: Vec<_> = note
            .links
            .iter()
            .map(|l| (l.kind, l.key.as_str(), l.fragment.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (LinkKind::Embed, "note", None),
                (LinkKind::Embed, "note", Some("Heading")),
                (LinkKind::Embed, "note", Some("^block")),
                (LinkKind::Embed, "note", None),
                (LinkKind::Embed, "e", None),
            ]
        );
    }

    #[test]
    fn edits_map_offsets_back() {
        let (text, map) = remove_ranges("abcdefghij", &[0..2, 4..6, 9..10]);
        assert_eq!(text, "cdghi");
        let maps = vec![map];
        let back: Vec<_> = (0..5).map(|i| original_offset(&maps, i)).collect();
        assert_eq!(back, vec![2, 3, 6, 7, 8]);
        assert_eq!(merge_ranges(vec![5..7, 0..2, 1..3, 7..8]), vec![0..3, 5..8]);
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Hello, World!"), "hello-world");
        assert_eq!(slugify("C++ & Rust"), "c--rust");
        assert_eq!(slugify("Ünïcode Straße"), "ünïcode-straße");
    }
}
