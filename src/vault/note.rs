//! The note model: what one document (a Markdown note, a Canvas, …) yields once parsed.
//!
//! A [`Note`] is plain data. It is built by [`crate::vault::parse::parse_document`] from a path
//! and bytes (each [`DocumentKind`] has its parser; all produce this one model: a Markdown body,
//! its plain text, sections and links), stored in the index (as [`crate::index::StoredNote`]) and
//! turned back into tool results. Nothing here touches the file system.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What kind of file a document is. Decided by the file name ([`crate::vault::rules`]); each
/// kind has its own parser, and all of them produce a [`Note`] whose body is Markdown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DocumentKind {
    /// `.md`, `.markdown`.
    #[default]
    Markdown,
    /// An Excalidraw drawing (`*.excalidraw.md`, or `excalidraw-plugin` in the frontmatter):
    /// Markdown whose drawing data is left out.
    Excalidraw,
    /// A JSON Canvas (`.canvas`), rendered as Markdown.
    Canvas,
    /// A PDF (`.pdf`): its text layer, one section per page (`#page=N`).
    Pdf,
    /// A plain-text file (`.txt`): its text as it is, not read as Markdown.
    Text,
}

impl DocumentKind {
    /// The kind's name, as stored in the index and shown in `fetch` metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Markdown => "markdown",
            DocumentKind::Excalidraw => "excalidraw",
            DocumentKind::Canvas => "canvas",
            DocumentKind::Pdf => "pdf",
            DocumentKind::Text => "text",
        }
    }

    /// Whether an embed (`![[doc]]`) of this kind is inlined as text. Attachments that are not
    /// documents stay links; so do PDFs and text files, which Obsidian shows as files, not as
    /// quoted text.
    pub fn inlines(self) -> bool {
        matches!(
            self,
            DocumentKind::Markdown | DocumentKind::Excalidraw | DocumentKind::Canvas
        )
    }

    /// Whether the body is Markdown (every kind but PDFs and text files, whose body is their
    /// text as extracted: pages render it as text, never as Markdown).
    pub fn is_markdown(self) -> bool {
        !matches!(self, DocumentKind::Pdf | DocumentKind::Text)
    }

    /// Every kind, in the order summaries list them.
    pub const ALL: [DocumentKind; 5] = [
        DocumentKind::Markdown,
        DocumentKind::Excalidraw,
        DocumentKind::Canvas,
        DocumentKind::Pdf,
        DocumentKind::Text,
    ];
}

/// What a document that is not Markdown says about itself: a PDF's page count and Info
/// dictionary (each string redacted like the text).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DocumentInfo {
    /// Pages in the file (a PDF); the text has one section per page.
    pub pages: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The program that made the PDF (`pdfTeX-1.40.25`, `Microsoft Word`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
    /// The document's own creation date (RFC 3339), as the PDF states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The document's own modification date (RFC 3339), as the PDF states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    /// True when a secret was redacted from the text or the Info dictionary: the file itself
    /// holds it, so deepvault never serves the file (`/files`), only the redacted text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
}

/// A block with an id (`^id` at the end of a paragraph or list item, or on its own line after
/// a block): the target of `[[Note#^id]]`, `Note.md#^id` and citations that point at a block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The id, without `^`.
    pub id: String,
    /// Byte range of the block in [`Note::body`].
    pub start: u32,
    pub end: u32,
    /// 1-based line number in the file where the block starts.
    pub line: u32,
    /// Byte range in [`Note::plain`] holding the block's plain text.
    pub plain_start: u32,
    pub plain_end: u32,
}

/// One heading of a note, in document order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Heading {
    /// 1 for `#`, up to 6.
    pub level: u8,
    /// The heading's plain text.
    pub text: String,
    /// The URL fragment for this heading: a GitHub-style slug, unique within the note.
    pub anchor: String,
    /// 1-based line number in the file.
    pub line: u32,
}

/// A stretch of the note from one heading to the next (or the text before the first heading).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Index into [`Note::headings`]; `None` for the text before the first heading.
    pub heading: Option<u32>,
    /// Byte range in [`Note::body`] (the Markdown without frontmatter).
    pub start: u32,
    pub end: u32,
    /// 1-based line number in the file where the section starts.
    pub line: u32,
    /// Byte range in [`Note::plain`] holding this section's plain text.
    pub plain_start: u32,
    pub plain_end: u32,
}

/// How a link was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// `[[target]]`, `[[target#heading|alias]]`
    Wiki,
    /// `![[target]]`
    Embed,
    /// `[text](path.md)`, a link to a file in the vault
    Markdown,
    /// `[text](https://…)`, `<https://…>`
    External,
    /// `[[target]]` inside a frontmatter value
    Property,
}

/// An outgoing link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub kind: LinkKind,
    /// The target as written, without `#heading` and `|alias` (for external links: the URL).
    pub target: String,
    /// `#heading` or `^block` part, without the `#`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment: Option<String>,
    /// The normalised key used to resolve the link to a note (see [`link_key`]); empty for
    /// external links.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// 1-based line number in the file.
    pub line: u32,
}

/// A callout block (`> [!type] title`), or a GitHub alert (`> [!NOTE]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Callout {
    /// The type, lowercased: `note`, `warning`, `tip`, …
    pub kind: String,
    /// The custom title, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// `+` or `-` when the callout is foldable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<char>,
    pub line: u32,
}

/// A parsed note.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// Vault-relative path with `/` separators: the stable id.
    pub id: String,
    pub kind: DocumentKind,
    pub title: String,
    pub aliases: Vec<String>,
    /// Tags without `#`, as written (case kept), frontmatter first, deduplicated ignoring case.
    pub tags: Vec<String>,
    /// The frontmatter, with every scalar and list value kept.
    pub frontmatter: Map<String, Value>,
    pub headings: Vec<Heading>,
    pub sections: Vec<Section>,
    pub links: Vec<Link>,
    pub callouts: Vec<Callout>,
    /// Blocks with an id, in document order, each id once.
    pub blocks: Vec<Block>,
    /// Dataview inline fields (`key:: value`, `[key:: value]`, `(key:: value)`): the key as
    /// written, the value as a string, or a list of strings when the key occurs more than once.
    pub fields: Map<String, Value>,
    /// The Markdown after the frontmatter block (what `fetch` returns); comments and drawing
    /// data left out, and for a Canvas, its rendering as Markdown.
    pub body: String,
    /// 1-based line number of the first line of `body` in the file.
    pub body_line: u32,
    /// Plain text with Markdown syntax stripped (code kept as text).
    pub plain: String,
    /// Problems found while parsing (invalid UTF-8, bad frontmatter). The note is still usable.
    pub warnings: Vec<String>,
    /// A PDF's page count and Info dictionary; `None` for Markdown.
    pub info: Option<DocumentInfo>,
}

impl Note {
    /// The file stem of the id: `Projects/Plan.md` → `Plan`.
    pub fn stem(&self) -> &str {
        file_stem(&self.id)
    }

    /// The plain text of one section.
    pub fn section_plain(&self, section: &Section) -> &str {
        self.plain
            .get(section.plain_start as usize..section.plain_end as usize)
            .unwrap_or("")
    }
}

/// `a/b/Note.md` → `Note`; `a/b/c++.markdown` → `c++`.
pub fn file_stem(id: &str) -> &str {
    let name = id.rsplit('/').next().unwrap_or(id);
    strip_markdown_extension(name)
}

/// The file kinds that are notes (any case).
pub(crate) const MARKDOWN_EXTENSIONS: [&str; 2] = [".md", ".markdown"];

/// Strips `.md` or `.markdown` (any case) from the end of a name.
pub fn strip_markdown_extension(name: &str) -> &str {
    for ext in MARKDOWN_EXTENSIONS {
        let cut = name.len().wrapping_sub(ext.len());
        if name.len() > ext.len()
            && name.is_char_boundary(cut)
            && name[cut..].eq_ignore_ascii_case(ext)
        {
            return &name[..cut];
        }
    }
    name
}

/// True when the file name ends in `.md` or `.markdown` (any case).
pub fn is_markdown_name(name: &str) -> bool {
    strip_markdown_extension(name).len() != name.len()
}

/// The key a link target resolves by: lowercase, `/`-separated, without a Markdown extension and
/// surrounding whitespace. `[[Folder/My Note.md]]` → `folder/my note`.
pub fn link_key(target: &str) -> String {
    let trimmed = target
        .trim()
        .trim_start_matches("./")
        .trim_start_matches('/');
    strip_markdown_extension(trimmed)
        .replace('\\', "/")
        .to_lowercase()
}

/// Every key under which a note can be linked: its path without extension and each shorter
/// path suffix, lowercased. `A/B/Note.md` → `a/b/note`, `b/note`, `note`.
pub fn name_keys(id: &str) -> Vec<String> {
    let full = link_key(id);
    let mut keys = vec![full.clone()];
    let mut rest = full.as_str();
    while let Some(slash) = rest.find('/') {
        rest = &rest[slash + 1..];
        if !rest.is_empty() {
            keys.push(rest.to_string());
        }
    }
    keys
}

/// All folder prefixes of an id, each ending in `/`: `a/b/n.md` → `a/`, `a/b/`.
pub fn folder_prefixes(id: &str) -> Vec<String> {
    id.match_indices('/')
        .map(|(i, _)| id[..=i].to_lowercase())
        .collect()
}

/// A tag and every parent of a nested tag, lowercased: `garden/Vegetables` → `garden/vegetables`,
/// `garden`.
pub fn tag_keys(tag: &str) -> Vec<String> {
    let lower = tag.to_lowercase();
    let mut keys = vec![lower.clone()];
    let mut end = lower.len();
    while let Some(slash) = lower[..end].rfind('/') {
        end = slash;
        if end > 0 {
            keys.push(lower[..end].to_string());
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_for_nested_paths() {
        assert_eq!(name_keys("A/B/Note.md"), vec!["a/b/note", "b/note", "note"]);
        assert_eq!(name_keys("c++.md"), vec!["c++"]);
        assert_eq!(link_key(" ./Folder/My Note.MD "), "folder/my note");
        assert_eq!(folder_prefixes("a/B/n.md"), vec!["a/", "a/b/"]);
        assert_eq!(
            tag_keys("garden/Veg/Tomato"),
            vec!["garden/veg/tomato", "garden/veg", "garden"]
        );
        assert_eq!(file_stem("x/[[.md"), "[[");
        assert_eq!(file_stem("notes.markdown"), "notes");
        assert_eq!(file_stem(".md"), ".md");
        assert_eq!(file_stem("Q&A — brewing"), "Q&A — brewing");
        assert_eq!(file_stem("日本語"), "日本語");
        assert_eq!(link_key("Q&A — b"), "q&a — b");
    }
}
