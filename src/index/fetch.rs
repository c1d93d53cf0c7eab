//! Fetch: one note, or one section of it (`Path.md#Heading`), by id, with its links resolved to
//! note ids and its backlinks found.
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
use crate::vault::note::{Callout, Heading, LinkKind, file_stem, link_key, name_keys};

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
    pub(crate) tags: Vec<String>,
    pub(crate) aliases: Vec<String>,
    /// The frontmatter, every scalar and list value kept.
    pub(crate) frontmatter: Map<String, Value>,
    pub(crate) headings: Vec<Heading>,
    /// Outgoing links, resolved to note ids where possible.
    pub(crate) links: Vec<LinkInfo>,
    /// Ids of the notes that link here.
    pub(crate) backlinks: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) callouts: Vec<Callout>,
    /// RFC 3339, when the file system knows it.
    pub(crate) created: Option<String>,
    /// RFC 3339.
    pub(crate) modified: String,
    /// Bytes.
    pub(crate) size: u64,
    /// The section fetched with `Note.md#Heading`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) section: Option<SectionInfo>,
    /// True when the text was cut at `max_fetch_bytes`.
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

/// Fetches by id: the whole text. Cutting it to a length is the caller's, after redaction, so
/// that a cut never leaves the start of a secret too short to be recognised.
pub(crate) fn fetch(index: &VaultIndex, searcher: &Searcher, requested: &str) -> Result<Fetched> {
    let (doc, section_name) = resolve(index, searcher, requested)?;
    let mut text = doc.body.clone();
    let mut section = None;
    if let Some(name) = &section_name {
        let wanted = name.trim().to_lowercase();
        let position = doc.meta.headings.iter().position(|h| {
            h.anchor == wanted
                || h.text.to_lowercase() == wanted
                || h.anchor == crate::vault::parse::slugify(&wanted)
        });
        let Some(position) = position else {
            let available: Vec<String> = doc
                .meta
                .headings
                .iter()
                .take(20)
                .map(|h| format!("`{}#{}`", doc.meta.id, h.anchor))
                .collect();
            return Err(Error::NoteNotFound {
                id: requested.to_string(),
                suggestions: if available.is_empty() {
                    vec![doc.meta.id.clone()]
                } else {
                    available
                        .into_iter()
                        .map(|s| s.trim_matches('`').to_string())
                        .collect()
                },
            });
        };
        let heading = &doc.meta.headings[position];
        // The section runs to the next heading of the same or a higher level.
        let start = doc
            .meta
            .sections
            .iter()
            .find(|s| s.heading == Some(position as u32))
            .map_or(0, |s| s.start as usize);
        let end = doc
            .meta
            .sections
            .iter()
            .filter(|s| s.start as usize > start)
            .find(|s| {
                s.heading
                    .and_then(|h| doc.meta.headings.get(h as usize))
                    .is_some_and(|h| h.level <= heading.level)
            })
            .map_or(doc.body.len(), |s| s.start as usize);
        text = doc.body.get(start..end).unwrap_or("").to_string();
        section = Some((heading.anchor.clone(), heading.text.clone(), heading.line));
    }
    let metadata = metadata(index, searcher, &doc, section.as_ref())?;
    Ok(Fetched {
        id: doc.meta.id.clone(),
        title: doc.meta.title.clone(),
        text,
        section,
        metadata,
    })
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
        tags: meta.tags.clone(),
        aliases: meta.aliases.clone(),
        frontmatter: meta.frontmatter.clone(),
        headings: meta.headings.clone(),
        links,
        backlinks: backlinks(index, searcher, &meta.id)?,
        callouts: meta.callouts.clone(),
        created: meta.created.map(rfc3339),
        modified: rfc3339(meta.mtime),
        size: meta.size,
        section: section.map(|(anchor, heading, line)| SectionInfo {
            heading: heading.clone(),
            anchor: anchor.clone(),
            line: *line,
        }),
        truncated: false,
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
