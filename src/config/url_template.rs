//! Citation URLs: the `url` of every search hit and fetched note.
//!
//! A [`UrlTemplate`] is parsed once from `url_template` and rendered per note. Placeholders:
//!
//! | placeholder      | value for `Travel/Kyoto 2025/Kyoto temples.md`, section "Kinkaku-ji" |
//! |------------------|------------------------------------------------------------------------|
//! | `{public_url}`   | `--public-url`, else `http://` + the listen address                    |
//! | `{path}`         | `Travel/Kyoto%202025/Kyoto%20temples.md` (each segment encoded)        |
//! | `{path_raw}`     | `Travel/Kyoto 2025/Kyoto temples.md`                                   |
//! | `{path_encoded}` | `Travel%2FKyoto%202025%2FKyoto%20temples.md` (for query strings)       |
//! | `{path_noext}`   | `Travel/Kyoto%202025/Kyoto%20temples`                                  |
//! | `{slug}`         | `Travel/Kyoto-2025/Kyoto-temples` (Quartz-style page slug)             |
//! | `{vault}`        | the vault folder's name, encoded for a query string                    |
//! | `{root}`         | the vault folder's absolute path, each segment encoded (`file://` URLs) |
//! | `{anchor}`       | `kinkaku-ji`, the best section's heading anchor (`^id` for a block), or empty |
//! | `{#anchor}`      | `#kinkaku-ji` (`#^id` for a block), or nothing when there is no section |
//! | `{heading}`      | `Kinkaku-ji`, the heading text encoded for a query string, or empty    |
//! | `{line}`         | the section's line number in the file (1 without a section)            |
//! | `{page}`         | a PDF's page number (`3` for the passage on page 3), else 1            |
//!
//! A PDF's sections are its pages, whose anchors are `page=N`: `{#anchor}` gives `#page=3`, which
//! browsers' PDF viewers open at that page. With the default template, a PDF's citation opens the
//! file itself, `{public_url}/files/{path}#page=N` ([`FILES_TEMPLATE`]).
//!
//! Presets (documented in the README): deepvault's pages `{public_url}/notes/{path}{#anchor}`,
//! Obsidian `obsidian://open?vault={vault}&file={path_encoded}`, a Quartz or Publish site
//! `https://notes.example.com/{slug}{#anchor}`, a Git forge
//! `https://github.com/me/notes/blob/main/{path}#L{line}`.
//!
//! A stdio server that serves no pages defaults to [`OBSIDIAN_TEMPLATE`] for an Obsidian vault and
//! [`FILE_TEMPLATE`] otherwise (see `crate::server`). `{root}` names a folder of this machine:
//! meant for local clients, not for a server that remote clients reach.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::error::{Error, Result};

/// Citations that open the note in the Obsidian app.
pub(crate) const OBSIDIAN_TEMPLATE: &str = "obsidian://open?vault={vault}&file={path_encoded}";
/// Citations that open the note's file.
pub(crate) const FILE_TEMPLATE: &str = "file://{root}/{path}";
/// Citations of a PDF with the default template: the file as deepvault serves it, at the page.
pub(crate) const FILES_TEMPLATE: &str = "{public_url}/files/{path}{#anchor}";
/// Citations of a PDF with [`FILE_TEMPLATE`]: the file, at the page.
pub(crate) const FILE_PAGE_TEMPLATE: &str = "file://{root}/{path}{#anchor}";

/// Characters encoded inside one path segment: everything but unreserved characters and a few
/// sub-delimiters that are safe in paths.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'[')
    .add(b']')
    .add(b'^')
    .add(b'|')
    .add(b'\\')
    .add(b'/');

/// Characters encoded in a `#fragment`: as in a segment, but `^` stays, so a block anchor reads
/// `#^id` as Obsidian writes it.
const FRAGMENT: &AsciiSet = &SEGMENT.remove(b'^');

/// Characters encoded in a query-string component: everything but unreserved characters.
const COMPONENT: &AsciiSet = &SEGMENT
    .add(b'!')
    .add(b'$')
    .add(b'&')
    .add(b'\'')
    .add(b'(')
    .add(b')')
    .add(b'*')
    .add(b'+')
    .add(b',')
    .add(b':')
    .add(b';')
    .add(b'=')
    .add(b'@');

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    PublicUrl,
    Path,
    PathRaw,
    PathEncoded,
    PathNoExt,
    Slug,
    Vault,
    Root,
    Anchor,
    HashAnchor,
    Heading,
    Line,
    Page,
}

/// A parsed `url_template`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UrlTemplate {
    parts: Vec<Part>,
}

/// What a URL is rendered for.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Target<'a> {
    pub(crate) id: &'a str,
    /// The best section's heading anchor, if the URL should point at a section.
    pub(crate) anchor: Option<&'a str>,
    /// That heading's text.
    pub(crate) heading: Option<&'a str>,
    /// The section's 1-based line number.
    pub(crate) line: Option<u32>,
}

impl UrlTemplate {
    /// Parses a template; an unknown or unclosed placeholder is an error that names it.
    pub(crate) fn parse(template: &str) -> Result<UrlTemplate> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| Error::Config {
                message: format!("url_template `{template}` has a `{{` without a closing `}}`"),
            })?;
            let name = &after[..close];
            parts.push(match name {
                "public_url" => Part::PublicUrl,
                "path" => Part::Path,
                "path_raw" => Part::PathRaw,
                "path_encoded" => Part::PathEncoded,
                "path_noext" => Part::PathNoExt,
                "slug" => Part::Slug,
                "vault" => Part::Vault,
                "root" => Part::Root,
                "anchor" => Part::Anchor,
                "#anchor" => Part::HashAnchor,
                "heading" => Part::Heading,
                "line" => Part::Line,
                "page" => Part::Page,
                other => {
                    return Err(Error::Config {
                        message: format!(
                            "url_template `{template}` has an unknown placeholder `{{{other}}}`\n\nhint: known placeholders are {{public_url}}, {{path}}, {{path_raw}}, {{path_encoded}}, {{path_noext}}, {{slug}}, {{vault}}, {{root}}, {{anchor}}, {{#anchor}}, {{heading}}, {{line}}, {{page}}"
                        ),
                    });
                }
            });
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        if parts.is_empty() {
            return Err(Error::Config {
                message: "url_template is empty; citations need a URL\n\nhint: leave it unset for deepvault's own note pages".into(),
            });
        }
        Ok(UrlTemplate { parts })
    }

    /// True when the template points at deepvault's own note pages (or the files it serves).
    pub(crate) fn uses_own_pages(&self) -> bool {
        self.parts.first() == Some(&Part::PublicUrl)
            && matches!(self.parts.get(1), Some(Part::Literal(l))
                if l.starts_with("/notes/") || l.starts_with("/files/"))
    }

    /// Renders the URL for a note. `root` is the vault folder's absolute path (`/`-separated).
    pub(crate) fn render(
        &self,
        public_url: &str,
        vault: &str,
        root: &str,
        target: Target<'_>,
    ) -> String {
        let mut out = String::with_capacity(64 + target.id.len() * 2);
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::PublicUrl => out.push_str(public_url),
                Part::Path => push_segments(&mut out, target.id),
                Part::PathRaw => out.push_str(target.id),
                Part::PathEncoded => out.extend(utf8_percent_encode(target.id, COMPONENT)),
                Part::PathNoExt => push_segments(
                    &mut out,
                    crate::vault::note::strip_markdown_extension(target.id),
                ),
                Part::Slug => out.push_str(&page_slug(target.id)),
                Part::Vault => out.extend(utf8_percent_encode(vault, COMPONENT)),
                Part::Root => push_segments(&mut out, root.trim_end_matches('/')),
                Part::Anchor => {
                    if let Some(anchor) = target.anchor {
                        out.extend(utf8_percent_encode(anchor, SEGMENT));
                    }
                }
                Part::HashAnchor => {
                    if let Some(anchor) = target.anchor.filter(|a| !a.is_empty()) {
                        out.push('#');
                        out.extend(utf8_percent_encode(anchor, FRAGMENT));
                    }
                }
                Part::Heading => {
                    if let Some(heading) = target.heading {
                        out.extend(utf8_percent_encode(heading, COMPONENT));
                    }
                }
                Part::Line => out.push_str(&target.line.unwrap_or(1).to_string()),
                Part::Page => {
                    let page = target.anchor.and_then(crate::vault::text::anchor_page);
                    out.push_str(&page.unwrap_or(1).to_string());
                }
            }
        }
        out
    }
}

/// Appends an id with each `/`-separated segment percent-encoded.
pub(crate) fn push_segments(out: &mut String, id: &str) {
    for (i, segment) in id.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.extend(utf8_percent_encode(segment, SEGMENT));
    }
}

/// A page slug as static-site generators (Quartz) build it: no extension, spaces become `-`,
/// `&` becomes `-and-`, `%` becomes `-percent`, `?` and `#` are dropped, and whatever is left
/// outside unreserved characters is percent-encoded.
pub(crate) fn page_slug(id: &str) -> String {
    let stem = crate::vault::note::strip_markdown_extension(id);
    let mut out = String::with_capacity(stem.len());
    for (i, segment) in stem.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let cleaned: String = segment
            .replace('&', "-and-")
            .replace('%', "-percent")
            .chars()
            .filter(|c| *c != '?' && *c != '#')
            .map(|c| if c.is_whitespace() { '-' } else { c })
            .collect();
        out.extend(utf8_percent_encode(&cleaned, SEGMENT));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, target: Target<'_>) -> String {
        UrlTemplate::parse(template).unwrap().render(
            "https://host",
            "My Vault",
            "/home/me/My Vault",
            target,
        )
    }

    #[test]
    fn block_anchors_keep_their_caret() {
        let t = Target {
            id: "a b.md",
            anchor: Some("^883251"),
            heading: None,
            line: Some(3),
        };
        assert_eq!(
            render(crate::config::DEFAULT_URL_TEMPLATE, t),
            "https://host/notes/a%20b.md#^883251"
        );
    }

    #[test]
    fn default_template_with_and_without_anchor() {
        let t = Target {
            id: "Travel/Kyoto 2025/Kyoto temples.md",
            anchor: Some("kinkaku-ji"),
            heading: Some("Kinkaku-ji"),
            line: Some(12),
        };
        assert_eq!(
            render(crate::config::DEFAULT_URL_TEMPLATE, t),
            "https://host/notes/Travel/Kyoto%202025/Kyoto%20temples.md#kinkaku-ji"
        );
        let plain = Target {
            id: "a.md",
            ..Target::default()
        };
        assert_eq!(
            render(crate::config::DEFAULT_URL_TEMPLATE, plain),
            "https://host/notes/a.md"
        );
    }

    #[test]
    fn hostile_names_are_encoded() {
        for (id, path, encoded) in [
            ("[[.md", "%5B%5B.md", "%5B%5B.md"),
            ("c++.md", "c++.md", "c%2B%2B.md"),
            ("%.md", "%25.md", "%25.md"),
            ("a/#x?.md", "a/%23x%3F.md", "a%2F%23x%3F.md"),
        ] {
            let t = Target {
                id,
                ..Target::default()
            };
            assert_eq!(render("{path}", t), path);
            assert_eq!(render("{path_encoded}", t), encoded);
        }
    }

    #[test]
    fn presets() {
        let t = Target {
            id: "Coffee/Q&A — brewing.md",
            anchor: Some("grind"),
            heading: Some("Grind & ratio"),
            line: Some(7),
        };
        assert_eq!(
            render("obsidian://open?vault={vault}&file={path_encoded}", t),
            "obsidian://open?vault=My%20Vault&file=Coffee%2FQ%26A%20%E2%80%94%20brewing.md"
        );
        assert_eq!(
            render(FILE_TEMPLATE, t),
            "file:///home/me/My%20Vault/Coffee/Q&A%20%E2%80%94%20brewing.md"
        );
        assert_eq!(
            render("https://notes.example.com/{slug}{#anchor}", t),
            "https://notes.example.com/Coffee/Q-and-A-%E2%80%94-brewing#grind"
        );
        assert_eq!(
            render("https://github.com/me/notes/blob/main/{path}#L{line}", t),
            "https://github.com/me/notes/blob/main/Coffee/Q&A%20%E2%80%94%20brewing.md#L7"
        );
    }

    #[test]
    fn bad_templates_are_named() {
        let err = UrlTemplate::parse("https://x/{paht}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`{paht}`"), "{err}");
        assert!(UrlTemplate::parse("https://x/{path").is_err());
        assert!(UrlTemplate::parse("").is_err());
    }
}
