//! The tantivy schema: which fields exist, how each is analyzed, and what is stored.
//!
//! Text fields use the [`ANALYZER`](super::tokenizer::ANALYZER) with positions (phrases and
//! proximity). Exact-match keys (`id`, tags, folders, link keys) use the raw tokenizer. The
//! manifest that incremental indexing compares against (`id`, `size`, `mtime`, `hash`) lives in
//! fast fields, so start-up reads it without touching the document store. Everything a tool
//! result needs is stored: `meta` (JSON of [`super::StoredNote`], stored as text: tantivy reads a
//! bytes value back one byte at a time, a copy that was 6 % of a search), `body` (the Markdown)
//! and `body_text` (the plain text, indexed and stored from one value).

use tantivy::schema::{
    FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};

use super::analysis::tokenizer::ANALYZER;

/// Bump whenever the schema, the analyzer or what is stored changes: an index with another
/// version is rebuilt at start-up.
pub const SCHEMA_VERSION: u32 = 7;

/// Handles to every field, resolved once.
#[derive(Clone, Debug)]
pub(crate) struct Fields {
    pub(crate) id: Field,
    pub(crate) title: Field,
    pub(crate) aliases: Field,
    pub(crate) headings: Field,
    pub(crate) tags: Field,
    pub(crate) path: Field,
    /// Other frontmatter values (`description`, `author`, …) as text.
    pub(crate) props: Field,
    pub(crate) body_text: Field,
    pub(crate) tag_key: Field,
    pub(crate) folder: Field,
    pub(crate) link_key: Field,
    pub(crate) name_key: Field,
    /// The document's kind (`markdown`, `canvas`, …).
    pub(crate) kind: Field,
    /// Frontmatter properties and inline fields, for `key:value` filters: the normalised key
    /// alone (the note has it), and key + [`PROPERTY_SEPARATOR`] + the whole value or each of
    /// its words, lowercased.
    pub(crate) property: Field,
    pub(crate) mtime: Field,
    pub(crate) size: Field,
    pub(crate) hash: Field,
    /// A 64-bit SimHash of the plain text's lines: near-identical notes are a few bits apart.
    pub(crate) simhash: Field,
    /// A hash of what semantic search embeds (title, headings, sections, plain text): the key
    /// of the note's vectors (`index::vectors`).
    pub(crate) text_hash: Field,
    pub(crate) meta: Field,
    pub(crate) body: Field,
}

/// Separates a key from a value in [`Fields::property`] terms.
pub(crate) const PROPERTY_SEPARATOR: char = '\u{1f}';

/// Field names, shared with fast-field lookups.
pub(crate) mod names {
    pub(crate) const ID: &str = "id";
    pub(crate) const MTIME: &str = "mtime";
    pub(crate) const SIZE: &str = "size";
    pub(crate) const HASH: &str = "hash";
    pub(crate) const SIMHASH: &str = "simhash";
    pub(crate) const TEXT_HASH: &str = "text_hash";
}

/// Builds the schema and its field handles.
pub(crate) fn build_schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = |with_positions: bool| {
        let option = if with_positions {
            IndexRecordOption::WithFreqsAndPositions
        } else {
            IndexRecordOption::WithFreqs
        };
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(option),
        )
    };
    let fields = Fields {
        id: builder.add_text_field(names::ID, STRING | STORED | FAST),
        title: builder.add_text_field("title", text(true)),
        aliases: builder.add_text_field("aliases", text(true)),
        headings: builder.add_text_field("headings", text(true)),
        tags: builder.add_text_field("tags", text(true)),
        path: builder.add_text_field("path", text(true)),
        props: builder.add_text_field("props", text(true)),
        // Stored as well: the same value gives the plain text back for passages, without a
        // second copy in every document.
        body_text: builder.add_text_field("body_text", text(true).set_stored()),
        tag_key: builder.add_text_field("tag_key", STRING),
        folder: builder.add_text_field("folder", STRING),
        link_key: builder.add_text_field("link_key", STRING),
        name_key: builder.add_text_field("name_key", STRING),
        kind: builder.add_text_field("kind", STRING),
        property: builder.add_text_field("property", STRING),
        mtime: builder.add_i64_field(names::MTIME, FAST),
        size: builder.add_u64_field(names::SIZE, FAST),
        hash: builder.add_u64_field(names::HASH, FAST),
        simhash: builder.add_u64_field(names::SIMHASH, FAST),
        text_hash: builder.add_u64_field(names::TEXT_HASH, FAST),
        meta: builder.add_text_field("meta", STORED),
        body: builder.add_text_field("body", STORED),
    };
    (builder.build(), fields)
}
