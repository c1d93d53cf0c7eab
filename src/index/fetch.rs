//! Fetch: one note, or one section of it (`Path.md#Heading`) or block (`Path.md#^id`), by id,
//! with its embeds inlined, its links resolved to note ids and its backlinks found.
//!
//! Ids are looked up in the index; they never touch the file system. Links resolve as Obsidian
//! resolves them: a key (`folder/note`, `note`) matches notes whose path ends with it, and among
//! several the exact path wins, then the shortest path.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Searcher, Term};

use super::{NoteDoc, VaultIndex};
use crate::error::{Error, Result};
use crate::vault::note::{
    Callout, DocumentInfo, DocumentKind, Heading, LinkKind, file_stem, link_key, name_keys,
};
use crate::vault::parse::{markdown_options, split_fragment};

/// A fetched note or section.
#[derive(Clone, Debug)]
pub(crate) struct Fetched {
    pub(crate) id: String,
    pub(crate) title: String,
    /// The Markdown without frontmatter (or the section's Markdown).
    pub(crate) text: String,
    /// The section fetched, if any: anchor, heading text and line.
    pub(crate) section: Option<(String, String, u32)>,
    pub(crate) metadata: FetchMetadata,
}

/// What `fetch` says about a note besides its text. The field order is the wire order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct FetchMetadata {
    /// The note's vault-relative path (its id without a `#section`).
    pub(crate) path: String,
    /// What kind of document it is: `markdown`, `excalidraw` (a drawing's text), `canvas`
    /// (a canvas rendered as Markdown), `pdf` (its text, a `## Page N` line before each page) or
    /// `text`.
    pub(crate) kind: DocumentKind,
    pub(crate) tags: Vec<String>,
    pub(crate) aliases: Vec<String>,
    /// The frontmatter, every scalar and list value kept.
    pub(crate) frontmatter: Map<String, Value>,
    /// Dataview inline fields (`key:: value`, `[key:: value]`, `(key:: value)`): a string, or a
    /// list of strings for a key that occurs more than once.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub(crate) fields: Map<String, Value>,
    pub(crate) headings: Vec<Heading>,
    /// Outgoing links, resolved to note ids where possible.
    pub(crate) links: Vec<LinkInfo>,
    /// Ids of the notes that link here.
    pub(crate) backlinks: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) callouts: Vec<Callout>,
    /// A PDF's page count, author, producer and its own creation and modification dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) document: Option<DocumentInfo>,
    /// RFC 3339, when the file system knows it.
    pub(crate) created: Option<String>,
    /// RFC 3339.
    pub(crate) modified: String,
    /// Bytes.
    pub(crate) size: u64,
    /// The section fetched with `Note.md#Heading`, or the block fetched with `Note.md#^id`
    /// (its anchor is `^id`, its heading that of the section it lies in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) section: Option<SectionInfo>,
    /// True when the text (inlined embeds included) was cut at `max_fetch_bytes`.
    pub(crate) truncated: bool,
}

/// An outgoing link in [`FetchMetadata`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct LinkInfo {
    /// The target as written.
    pub(crate) target: String,
    pub(crate) kind: LinkKind,
    /// `#heading` or `^block`, without the `#`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fragment: Option<String>,
    /// The note it resolves to (null when none does); absent for external links.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub(crate) id: Option<Option<String>>,
    /// 1-based line in the file.
    pub(crate) line: u32,
}

/// A field that is present, `null` included: `Some(None)` reads back as it was written.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// The section a `Note.md#Heading` fetch returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct SectionInfo {
    pub(crate) heading: String,
    pub(crate) anchor: String,
    pub(crate) line: u32,
}

/// Most links and backlinks listed in metadata.
const MAX_LINKS: usize = 500;

/// Fetches by id. Embeds are inlined (see [`Expander`]); `max_bytes` bounds what they add:
/// inlining stops when the note's own text and what was inlined reach it. Cutting the whole
/// text to `max_bytes` is the caller's, after redaction, so that a cut never leaves the start of
/// a secret too short to be recognised.
pub(crate) fn fetch(
    index: &VaultIndex,
    searcher: &Searcher,
    requested: &str,
    max_bytes: Option<usize>,
) -> Result<Fetched> {
    let (doc, section_name) = resolve(index, searcher, requested)?;
    let mut text = doc.body.as_str();
    let mut section = None;
    if let Some(name) = &section_name {
        let Some(part) = find_part(&doc, name) else {
            let available: Vec<String> = doc
                .meta
                .headings
                .iter()
                .map(|h| h.anchor.clone())
                .chain(doc.meta.blocks.iter().map(|b| format!("^{}", b.id)))
                .take(20)
                .map(|anchor| format!("{}#{anchor}", doc.meta.id))
                .collect();
            return Err(Error::NoteNotFound {
                id: requested.to_string(),
                suggestions: if available.is_empty() {
                    vec![doc.meta.id.clone()]
                } else {
                    available
                },
            });
        };
        text = doc.body.get(part.range.clone()).unwrap_or("");
        section = Some((part.anchor, part.heading, part.line));
    }
    let fragment = section.as_ref().map(|(anchor, _, _)| anchor.clone());
    let mut expander = Expander::new(index, searcher, text.len(), max_bytes);
    expander.chain.push((doc.meta.id.clone(), fragment));
    expander.write(text, 0)?;
    let truncated = expander.cut;
    let text = expander.out;
    let metadata = metadata(index, searcher, &doc, section.as_ref(), truncated)?;
    Ok(Fetched {
        id: doc.meta.id.clone(),
        title: doc.meta.title.clone(),
        text,
        section,
        metadata,
    })
}

/// A part of a document that a `#fragment` names: a heading's section or a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Part {
    /// Byte range in the body.
    pub(crate) range: std::ops::Range<usize>,
    /// The heading's anchor, or `^id` for a block.
    pub(crate) anchor: String,
    /// The heading's text; for a block, the heading of the section it lies in (or empty).
    pub(crate) heading: String,
    pub(crate) line: u32,
}

/// What `name` (a fragment without `#`) names in `doc`: `^id` a block, anything else a heading
/// by anchor or text. The section of a heading runs to the next heading of the same or a higher
/// level.
pub(crate) fn find_part(doc: &NoteDoc, name: &str) -> Option<Part> {
    let meta = &doc.meta;
    if let Some(id) = name.trim().strip_prefix('^') {
        let block = meta
            .blocks
            .iter()
            .find(|b| b.id == id)
            .or_else(|| meta.blocks.iter().find(|b| b.id.eq_ignore_ascii_case(id)))?;
        let heading = meta
            .sections
            .iter()
            .rfind(|s| s.start <= block.start)
            .and_then(|s| s.heading)
            .and_then(|h| meta.headings.get(h as usize))
            .map(|h| h.text.clone())
            .unwrap_or_default();
        return Some(Part {
            range: block.start as usize..block.end as usize,
            anchor: format!("^{}", block.id),
            heading,
            line: block.line,
        });
    }
    let wanted = name.trim().to_lowercase();
    let position = meta.headings.iter().position(|h| {
        h.anchor == wanted
            || h.text.to_lowercase() == wanted
            || h.anchor == crate::vault::parse::slugify(&wanted)
    })?;
    let heading = &meta.headings[position];
    let start = meta
        .sections
        .iter()
        .find(|s| s.heading == Some(position as u32))
        .map_or(0, |s| s.start as usize);
    let end = meta
        .sections
        .iter()
        .filter(|s| s.start as usize > start)
        .find(|s| {
            s.heading
                .and_then(|h| meta.headings.get(h as usize))
                .is_some_and(|h| h.level <= heading.level)
        })
        .map_or(doc.body.len(), |s| s.start as usize);
    Some(Part {
        range: start..end,
        anchor: heading.anchor.clone(),
        heading: heading.text.clone(),
        line: heading.line,
    })
}

/// Embeds nest at most this deep (an embed inside an embed inside an embed).
pub(crate) const MAX_EMBED_DEPTH: usize = 3;

/// The content an embed shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Embedded {
    /// The embedded document's id.
    pub(crate) id: String,
    /// The part embedded (`heading-anchor` or `^id`), if not the whole document.
    pub(crate) fragment: Option<String>,
    /// Its Markdown, as stored (embeds inside are not inlined yet).
    pub(crate) markdown: String,
}

impl Embedded {
    /// The id that fetches exactly this content: `Note.md`, `Note.md#heading` or `Note.md#^id`.
    pub(crate) fn source(&self) -> String {
        match &self.fragment {
            Some(fragment) => format!("{}#{fragment}", self.id),
            None => self.id.clone(),
        }
    }
}

/// What `![[dest]]` shows: the document it resolves to (by the same rules as links), the whole
/// of it or the heading's section or block its fragment names. `None` when it resolves to no
/// indexed document (an attachment; a private, excluded or missing note), to a kind that is not
/// inlined, or to a fragment the document does not have: the embed then stays a link.
pub(crate) fn embedded(
    index: &VaultIndex,
    searcher: &Searcher,
    dest: &str,
) -> Result<Option<Embedded>> {
    let (target, fragment) = split_fragment(dest);
    let target = target.trim();
    if target.is_empty() || target.len() > 4096 {
        return Ok(None);
    }
    let Some(id) = resolve_link(index, searcher, &link_key(target))? else {
        return Ok(None);
    };
    let Some(doc) = index.load_by_id(searcher, &id)? else {
        return Ok(None);
    };
    if !doc.meta.kind.inlines() {
        return Ok(None);
    }
    let (markdown, fragment) = match fragment {
        None => (doc.body, None),
        Some(name) => match find_part(&doc, &name) {
            Some(part) => (
                doc.body.get(part.range).unwrap_or("").to_string(),
                Some(part.anchor),
            ),
            None => return Ok(None),
        },
    };
    Ok(Some(Embedded {
        id: doc.meta.id,
        fragment,
        markdown,
    }))
}

/// The embeds (`![[…]]`, not inside code) of a Markdown text: byte range and target as written.
pub(crate) fn find_embeds(text: &str) -> Vec<(std::ops::Range<usize>, String)> {
    if !text.contains("![[") {
        return Vec::new();
    }
    pulldown_cmark::Parser::new_ext(text, markdown_options())
        .into_offset_iter()
        .filter_map(|(event, range)| match event {
            pulldown_cmark::Event::Start(pulldown_cmark::Tag::Image {
                link_type: pulldown_cmark::LinkType::WikiLink { .. },
                dest_url,
                ..
            }) => Some((range, dest_url.into_string())),
            _ => None,
        })
        .collect()
}

/// Inlines embeds into fetched text: each `![[…]]` that shows a document becomes a quote that
/// names its source id, the embedded text inside (its own embeds inlined in turn, up to
/// [`MAX_EMBED_DEPTH`]). An embed that would repeat a document already being inlined (an embed
/// of itself, a cycle) stays a link. Inlined text counts against `max_fetch_bytes`: it may use
/// what the note's own text leaves, and the embed that crosses the limit is cut.
pub(crate) struct Expander<'a> {
    index: &'a VaultIndex,
    searcher: &'a Searcher,
    pub(crate) out: String,
    /// (id, fragment) of what is being inlined, outermost first.
    pub(crate) chain: Vec<(String, Option<String>)>,
    /// Bytes inlined so far, and at most.
    inlined: usize,
    budget: usize,
    /// True when an embed was cut (or left out) for the budget.
    pub(crate) cut: bool,
    at_line_start: bool,
}

impl<'a> Expander<'a> {
    /// An expander for text of `own` bytes, with `max_bytes` for everything.
    pub(crate) fn new(
        index: &'a VaultIndex,
        searcher: &'a Searcher,
        own: usize,
        max_bytes: Option<usize>,
    ) -> Expander<'a> {
        Expander {
            index,
            searcher,
            out: String::with_capacity(own),
            chain: Vec::new(),
            inlined: 0,
            budget: max_bytes.map_or(usize::MAX, |max| max.saturating_sub(own)),
            cut: false,
            at_line_start: true,
        }
    }

    /// Writes `text` at quote depth `depth`, inlining its embeds.
    pub(crate) fn write(&mut self, text: &str, depth: usize) -> Result<()> {
        let embeds = if depth < MAX_EMBED_DEPTH {
            find_embeds(text)
        } else {
            Vec::new()
        };
        let mut position = 0;
        for (range, dest) in embeds {
            if range.start < position {
                continue;
            }
            self.push(&text[position..range.start], depth);
            position = range.end;
            let written = &text[range.clone()];
            if self.inlined >= self.budget {
                self.cut = true;
                self.push(written, depth);
                continue;
            }
            let embedded = match embedded(self.index, self.searcher, &dest)? {
                Some(e) if !self.chain.contains(&(e.id.clone(), e.fragment.clone())) => e,
                _ => {
                    self.push(written, depth);
                    continue;
                }
            };
            if !self.at_line_start {
                self.push("\n", depth);
            }
            self.push(
                &format!("Embedded from `{}`:\n\n", embedded.source()),
                depth + 1,
            );
            self.chain
                .push((embedded.id.clone(), embedded.fragment.clone()));
            self.write(embedded.markdown.trim_end(), depth + 1)?;
            self.chain.pop();
            self.push("\n", depth + 1);
            // The quote ended its line: the embed's own line break is not repeated, and what
            // follows on the same line starts a paragraph of its own.
            let rest = &text[position..];
            if let Some(after) = rest
                .strip_prefix("\r\n")
                .or_else(|| rest.strip_prefix('\n'))
            {
                position = text.len() - after.len();
            } else if !rest.is_empty() {
                self.push("\n", depth);
            }
        }
        self.push(&text[position..], depth);
        Ok(())
    }

    /// Appends text with `> ` quote markers at each line start; inlined text (depth > 0) stops
    /// at the budget.
    fn push(&mut self, text: &str, depth: usize) {
        if depth == 0 {
            self.out.push_str(text);
            if let Some(last) = text.chars().next_back() {
                self.at_line_start = last == '\n';
            }
            return;
        }
        for line in text.split_inclusive('\n') {
            let prefix_len = if self.at_line_start { 2 * depth } else { 0 };
            let remaining = self.budget.saturating_sub(self.inlined);
            if prefix_len + line.len() > remaining {
                // Cut here: what fits of this line, then nothing more is inlined.
                let mut fits = remaining.saturating_sub(prefix_len);
                while !line.is_char_boundary(fits) {
                    fits -= 1;
                }
                // Cut between words: no token (a secret among them) is left in part.
                fits = line[..fits].rfind(char::is_whitespace).unwrap_or(0);
                if self.at_line_start {
                    self.out.push_str(&"> ".repeat(depth));
                }
                self.out.push_str(&line[..fits]);
                self.out.push_str("…\n");
                self.inlined = self.budget;
                self.at_line_start = true;
                self.cut = true;
                return;
            }
            if self.at_line_start {
                let prefix = "> ".repeat(depth);
                if line.trim().is_empty() {
                    self.out.push_str(prefix.trim_end());
                } else {
                    self.out.push_str(&prefix);
                }
            }
            self.out.push_str(line);
            self.inlined += prefix_len + line.len();
            self.at_line_start = line.ends_with('\n');
        }
    }
}

/// Finds the note for a requested id: exact, then `id#section`, then without the extension.
fn resolve(
    index: &VaultIndex,
    searcher: &Searcher,
    requested: &str,
) -> Result<(NoteDoc, Option<String>)> {
    if requested.is_empty() || requested.len() > 4096 || requested.contains('\0') {
        return Err(not_found(index, searcher, requested));
    }
    if let Some(doc) = index.load_by_id(searcher, requested)? {
        return Ok((doc, None));
    }
    // `Note.md#Heading`: split at each `#` from the right, since ids may contain `#`.
    for (hash, _) in requested.rmatch_indices('#') {
        let (id, section) = (&requested[..hash], &requested[hash + 1..]);
        if let Some(doc) = index.load_by_id(searcher, id)? {
            return Ok((doc, Some(section.to_string())));
        }
    }
    let with_extension = format!("{requested}.md");
    if let Some(doc) = index.load_by_id(searcher, &with_extension)? {
        return Ok((doc, None));
    }
    Err(not_found(index, searcher, requested))
}

fn not_found(index: &VaultIndex, searcher: &Searcher, requested: &str) -> Error {
    let stem = file_stem(requested.split('#').next().unwrap_or(requested));
    let suggestions = if stem.is_empty() || stem.len() > 512 {
        Vec::new()
    } else {
        notes_with_key(index, searcher, &link_key(stem))
            .unwrap_or_default()
            .into_iter()
            .map(|(id, _)| id)
            .take(3)
            .collect()
    };
    Error::NoteNotFound {
        id: requested.to_string(),
        suggestions,
    }
}

/// Notes that have `key` among their name keys, with their addresses.
fn notes_with_key(
    index: &VaultIndex,
    searcher: &Searcher,
    key: &str,
) -> Result<Vec<(String, DocAddress)>> {
    postings_ids(
        index,
        searcher,
        Term::from_field_text(index.fields().name_key, key),
        64,
    )
}

/// Ids of the live documents containing `term`, up to `limit`.
fn postings_ids(
    index: &VaultIndex,
    searcher: &Searcher,
    term: Term,
    limit: usize,
) -> Result<Vec<(String, DocAddress)>> {
    let mut out = Vec::new();
    for (segment_ord, segment) in searcher.segment_readers().iter().enumerate() {
        let inverted = segment
            .inverted_index(term.field())
            .map_err(|e| Error::tantivy(index.dir(), e))?;
        let Some(mut postings) = inverted
            .read_postings(&term, IndexRecordOption::Basic)
            .map_err(|e| Error::io(index.dir(), e))?
        else {
            continue;
        };
        let ids = segment
            .fast_fields()
            .str(super::schema::names::ID)
            .map_err(|e| Error::tantivy(index.dir(), e))?;
        let Some(ids) = ids else { continue };
        let mut doc = tantivy::DocSet::doc(&postings);
        while doc != tantivy::TERMINATED && out.len() < limit {
            if !segment.is_deleted(doc)
                && let Some(ord) = ids.term_ords(doc).next()
            {
                let mut id = String::new();
                if ids.ord_to_str(ord, &mut id).unwrap_or(false) {
                    out.push((id, DocAddress::new(segment_ord as u32, doc)));
                }
            }
            doc = tantivy::DocSet::advance(&mut postings);
        }
    }
    Ok(out)
}

/// The note a link key resolves to: the exact path, else the shortest path that ends with it.
pub(crate) fn resolve_link(
    index: &VaultIndex,
    searcher: &Searcher,
    key: &str,
) -> Result<Option<String>> {
    if key.is_empty() {
        return Ok(None);
    }
    let candidates = notes_with_key(index, searcher, key)?;
    Ok(best_candidate(
        key,
        candidates.into_iter().map(|(id, _)| id),
    ))
}

fn best_candidate(key: &str, candidates: impl Iterator<Item = String>) -> Option<String> {
    candidates.min_by(|a, b| {
        let exact_a = link_key(a) != key;
        let exact_b = link_key(b) != key;
        exact_a
            .cmp(&exact_b)
            .then(a.len().cmp(&b.len()))
            .then(a.cmp(b))
    })
}

/// True when an indexed document links to or embeds `key` (a [`link_key`]), whatever the key
/// resolves to: what `/files` asks of an attachment, which is not in the index itself.
pub(crate) fn is_linked(index: &VaultIndex, searcher: &Searcher, key: &str) -> Result<bool> {
    if key.is_empty() {
        return Ok(false);
    }
    let term = Term::from_field_text(index.fields().link_key, key);
    Ok(!postings_ids(index, searcher, term, 1)?.is_empty())
}

/// Notes whose links resolve to `id`.
pub(crate) fn backlinks(index: &VaultIndex, searcher: &Searcher, id: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for key in name_keys(id) {
        // A key shared by several notes points at only one of them.
        if resolve_link(index, searcher, &key)?.as_deref() != Some(id) {
            continue;
        }
        let term = Term::from_field_text(index.fields().link_key, &key);
        for (linking, _) in postings_ids(index, searcher, term, MAX_LINKS)? {
            if linking != id && !out.contains(&linking) {
                out.push(linking);
            }
        }
    }
    out.sort();
    out.truncate(MAX_LINKS);
    Ok(out)
}

fn metadata(
    index: &VaultIndex,
    searcher: &Searcher,
    doc: &NoteDoc,
    section: Option<&(String, String, u32)>,
    truncated: bool,
) -> Result<FetchMetadata> {
    let meta = &doc.meta;
    let mut links = Vec::new();
    for link in meta.links.iter().take(MAX_LINKS) {
        let id = if link.kind == LinkKind::External {
            None
        } else {
            Some(resolve_link(index, searcher, &link.key)?)
        };
        links.push(LinkInfo {
            target: link.target.clone(),
            kind: link.kind,
            fragment: link.fragment.clone(),
            id,
            line: link.line,
        });
    }
    Ok(FetchMetadata {
        path: meta.id.clone(),
        kind: meta.kind,
        tags: meta.tags.clone(),
        aliases: meta.aliases.clone(),
        frontmatter: meta.frontmatter.clone(),
        fields: meta.fields.clone(),
        headings: meta.headings.clone(),
        links,
        backlinks: backlinks(index, searcher, &meta.id)?,
        callouts: meta.callouts.clone(),
        document: meta.info.clone(),
        created: meta.created.map(rfc3339),
        modified: rfc3339(meta.mtime),
        size: meta.size,
        section: section.map(|(anchor, heading, line)| SectionInfo {
            heading: heading.clone(),
            anchor: anchor.clone(),
            line: *line,
        }),
        truncated,
    })
}

/// Nanoseconds since the epoch as an RFC 3339 UTC timestamp (seconds precision).
pub(crate) fn rfc3339(nanos: i64) -> String {
    // i64 nanoseconds span 1677–2262, well inside jiff's range.
    jiff::Timestamp::from_nanosecond(i128::from(nanos))
        .expect("i64 nanoseconds are in range")
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400 * 1_000_000_000), "2000-02-29T00:00:00Z");
    }

    use crate::index::writer::{CommitTrigger, Indexer, IndexerSettings};
    use crate::vault::Vault;

    /// An index of these notes (kept alive with its folders), with `exclude` globs.
    fn indexed(
        notes: &[(&str, &str)],
        exclude: &[&str],
    ) -> (tempfile::TempDir, tempfile::TempDir, Indexer) {
        let vault_dir = tempfile::tempdir().unwrap();
        let index_dir = tempfile::tempdir().unwrap();
        for (id, text) in notes {
            let path = vault_dir.path().join(id);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let exclude: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
        let vault = Vault::open(vault_dir.path(), &exclude).unwrap();
        let (mut indexer, _) =
            Indexer::open(vault, index_dir.path(), IndexerSettings::default()).unwrap();
        indexer.reconcile(None).unwrap();
        indexer.commit(CommitTrigger::Command).unwrap();
        (vault_dir, index_dir, indexer)
    }

    fn fetched(indexer: &Indexer, id: &str, max: Option<usize>) -> Fetched {
        let index = indexer.index();
        fetch(index, &index.searcher(), id, max).unwrap()
    }

    #[test]
    fn embeds_are_inlined_as_quotes_naming_their_source() {
        let (_v, _i, indexer) = indexed(
            &[
                (
                    "A.md",
                    "# A\nBefore.\n\n![[B#^def]]\n\nMiddle ![[B#Second]] after.\n\n![[B|shown as]]\n",
                ),
                (
                    "Sub/B.md",
                    "# B\nThe definition of zebracorn. ^def\n\n## Second\nsecond part\n\n## Third\nthird part\n",
                ),
            ],
            &[],
        );
        let a = fetched(&indexer, "A.md", None);
        assert!(
            a.text.contains(
                "Before.\n\n> Embedded from `Sub/B.md#^def`:\n>\n> The definition of zebracorn. ^def\n"
            ),
            "{}",
            a.text
        );
        assert!(
            a.text.contains(
                "Middle \n> Embedded from `Sub/B.md#second`:\n>\n> ## Second\n> second part\n\n after."
            ),
            "{}",
            a.text
        );
        assert!(!a.text.contains("Middle ![[B#Second]]"), "{}", a.text);
        assert!(
            a.text.contains("> Embedded from `Sub/B.md`:\n>\n> # B\n"),
            "{}",
            a.text
        );
        assert!(a.text.contains("> third part"), "{}", a.text);
        assert!(!a.metadata.truncated);
        // The block alone is fetchable too, and so is a block of a missing id not.
        let block = fetched(&indexer, "Sub/B.md#^def", None);
        assert_eq!(block.text, "The definition of zebracorn. ^def\n");
        assert_eq!(block.section, Some(("^def".into(), "B".into(), 2)));
        let index = indexer.index();
        let err = fetch(index, &index.searcher(), "Sub/B.md#^nope", None).unwrap_err();
        assert!(err.to_string().contains("Sub/B.md#^def"), "{err}");
    }

    #[test]
    fn embeds_of_itself_and_cycles_stay_links_and_depth_stops_at_three() {
        let (_v, _i, indexer) = indexed(
            &[
                (
                    "Self.md",
                    "self text ![[Self]] and ![[Self#Part]]\n\n# Part\npart text\n",
                ),
                ("One.md", "one ![[Two]]\n"),
                ("Two.md", "two ![[Three]]\n"),
                ("Three.md", "three ![[One]]\n"),
                ("D1.md", "d1 ![[D2]]\n"),
                ("D2.md", "d2 ![[D3]]\n"),
                ("D3.md", "d3 ![[D4]]\n"),
                ("D4.md", "d4 ![[D5]]\n"),
                ("D5.md", "d5\n"),
            ],
            &[],
        );
        let own = fetched(&indexer, "Self.md", None);
        assert!(
            own.text
                .starts_with("self text ![[Self]] and \n> Embedded from `Self.md#part`:"),
            "{}",
            own.text
        );
        // The part holds no embed of itself, so it is shown once.
        assert_eq!(own.text.matches("part text").count(), 2, "{}", own.text);

        let one = fetched(&indexer, "One.md", None);
        assert!(
            one.text.contains("> Embedded from `Two.md`"),
            "{}",
            one.text
        );
        assert!(
            one.text.contains("> > Embedded from `Three.md`"),
            "{}",
            one.text
        );
        assert!(one.text.contains("> > three ![[One]]"), "{}", one.text);
        assert_eq!(one.text.matches("Embedded from").count(), 2, "{}", one.text);

        let d1 = fetched(&indexer, "D1.md", None);
        assert!(d1.text.contains("> > > d4 ![[D5]]"), "{}", d1.text);
        assert!(!d1.text.contains("d5"), "{}", d1.text);
    }

    #[test]
    fn private_excluded_and_attachment_embeds_are_never_inlined() {
        let (_v, _i, indexer) = indexed(
            &[
                (
                    "Host.md",
                    "![[Diary]] ![[Secret/Plan]] ![[photo.png]] ![[Missing]]\n",
                ),
                (
                    "Diary.md",
                    "---\ndeepvault: private\n---\nprivate zebracorn\n",
                ),
                ("Secret/Plan.md", "excluded zebracorn\n"),
                ("photo.png", "not really a png"),
            ],
            &["Secret/**"],
        );
        let host = fetched(&indexer, "Host.md", None);
        assert_eq!(
            host.text,
            "![[Diary]] ![[Secret/Plan]] ![[photo.png]] ![[Missing]]\n"
        );
        assert!(!host.text.contains("zebracorn"));
    }

    #[test]
    fn inlined_text_counts_against_max_fetch_bytes() {
        let long = "lorem ipsum dolor sit amet ".repeat(200);
        let (_v, _i, indexer) = indexed(
            &[
                (
                    "Host.md",
                    "short host\n\n![[Long]]\n\n![[Other]]\nend of host\n",
                ),
                ("Long.md", long.as_str()),
                ("Other.md", "other words\n"),
            ],
            &[],
        );
        let host = fetched(&indexer, "Host.md", Some(1000));
        assert!(host.text.len() <= 1000, "{}", host.text.len());
        assert!(host.metadata.truncated);
        // The note's own text is all there; the long embed is cut, the next stays a link.
        assert!(host.text.starts_with("short host\n"), "{}", host.text);
        assert!(host.text.contains("…\n"), "{}", host.text);
        // The cut falls between words: the last word before `…` is whole.
        let before_cut = &host.text[..host.text.find('…').unwrap()];
        let last_word = before_cut
            .split_whitespace()
            .next_back()
            .unwrap_or_default();
        assert!(
            ["lorem", "ipsum", "dolor", "sit", "amet", ">"].contains(&last_word),
            "{before_cut:?}"
        );
        assert!(
            host.text.contains("![[Other]]\nend of host"),
            "{}",
            host.text
        );
        let full = fetched(&indexer, "Host.md", None);
        assert!(!full.metadata.truncated);
        assert!(full.text.contains("> other words"), "{}", full.text);
    }

    #[test]
    fn exact_path_then_shortest() {
        let ids = || {
            ["b/a/note.md", "note.md", "z/note.md"]
                .into_iter()
                .map(String::from)
        };
        assert_eq!(best_candidate("note", ids()).as_deref(), Some("note.md"));
        let suffixed = ["b/a/note.md", "a/note.md"].into_iter().map(String::from);
        assert_eq!(
            best_candidate("a/note", suffixed).as_deref(),
            Some("a/note.md")
        );
        assert_eq!(best_candidate("x", std::iter::empty()), None);
    }
}
