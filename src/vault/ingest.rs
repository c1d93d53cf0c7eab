//! Reading a document for the index: privacy decided on the note as written, then secrets
//! redacted before anything is derived from the text.
//!
//! The order is what makes it safe (a canvas is first rendered as Markdown, which then is its
//! body: it has no frontmatter):
//!
//! 1. The frontmatter is split off and parsed as written. A private marker there (or, when the
//!    YAML cannot be parsed, on any of its lines) makes the note private: nothing of it is kept.
//! 2. The body is redacted as a whole, and the frontmatter value by value (keys too, and each
//!    value as `key: value`). Redacting before the Markdown pass means the title, headings and
//!    their anchors, aliases, tags, link targets, callout titles, sections and the plain text are
//!    all made from redacted text, with offsets that agree with the stored body. The body edits
//!    (comments and drawing data left out, see [`super::parse::edit_body`]) come after the
//!    redaction, so a secret in a comment is redacted before the comment goes.
//! 3. `#tags` in the body are checked against the private tags on the original text as well,
//!    comments included.
//! 4. A secret that only appears once Markdown is stripped (`gh**p_**…`, an entity, a
//!    percent-escape in a link) is found in the derived text and redacted where it came from in
//!    the body; if that does not clear it, the body is withheld.
//!
//! PDFs and `.txt` files are text, not Markdown ([`super::text`]): their text is redacted page by
//! page, and nothing in it is a private marker (`exclude` and `private_paths` keep them out).
//!
//! [`Ingest::stamp`] names the redaction patterns, the privacy settings and the parse options:
//! an index made with other ones is rebuilt, so a changed pattern, private tag or
//! `keep_comments` applies to every note at once.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use serde_json::Map;

use super::canvas::render_canvas;
use super::note::{DocumentKind, Note};
use super::parse::{
    FrontmatterSplit, ParseOptions, Tracking, build_note, decode, inline_tags, parse_frontmatter,
    split_frontmatter,
};
use super::privacy::Privacy;
use super::privacy::{frontmatter_is_private, raw_frontmatter_is_private, tags_are_private};
use super::redact::Redactor;
use super::text::{TextDocument, build_text_note};

/// Rounds of redacting derived secrets in the body before the body is withheld.
const MAX_ROUNDS: usize = 3;

/// What the body becomes when a secret in it cannot be redacted in place.
const WITHHELD: &str =
    "[REDACTED: this note's text held a secret that could not be redacted in place]";

/// How notes are read for the index.
#[derive(Clone, Debug)]
pub struct Ingest {
    privacy: Privacy,
    redactor: Arc<Redactor>,
    parse: ParseOptions,
}

/// What reading a note gave.
#[derive(Debug)]
pub enum Intake {
    /// Marked private: nothing of it may be kept.
    Private,
    /// The note, every derived field made from redacted text.
    Note(Box<Note>),
    /// Not a document of its kind (a canvas that is not JSON Canvas): the message says why.
    Invalid(String),
}

impl Default for Ingest {
    /// The default marker (`deepvault: private`, `#private`) and the default patterns.
    fn default() -> Self {
        Ingest {
            privacy: Privacy::default(),
            redactor: Arc::new(Redactor::new(true, &[]).expect("the default patterns compile")),
            parse: ParseOptions::default(),
        }
    }
}

impl Ingest {
    pub(crate) fn new(privacy: Privacy, redactor: Arc<Redactor>) -> Ingest {
        Ingest {
            privacy,
            redactor,
            parse: ParseOptions::default(),
        }
    }

    /// The same, parsing with `parse` (comments kept or not).
    pub(crate) fn with_parse(self, parse: ParseOptions) -> Ingest {
        Ingest { parse, ..self }
    }

    /// The redactor, shared with what serves the index so that both ends use the same patterns
    /// (and `/readyz` counts both).
    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
    }

    /// Names the redaction patterns, privacy settings and parse options: stamped into every
    /// commit.
    pub fn stamp(&self) -> String {
        let privacy = &self.privacy;
        let stamp = format!(
            "{}\nprivacy {}\t{}\t{}\nparse {}",
            self.redactor.fingerprint(),
            privacy.key,
            privacy.value,
            privacy.tags.join(","),
            self.parse.stamp()
        );
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(stamp.as_bytes()))
    }

    /// Reads one file's bytes as the index keeps them; its kind follows from `id`. A PDF's bytes
    /// go through the extractor first ([`Ingest::read_text`] takes its pages).
    pub fn read(&self, id: &str, bytes: &[u8]) -> Intake {
        match super::rules::document_kind(id) {
            Some(DocumentKind::Text) => {
                let (text, warnings) = decode(bytes);
                let mut note = build_text_note(
                    id,
                    DocumentKind::Text,
                    TextDocument {
                        pages: vec![text.into_owned()],
                        ..TextDocument::default()
                    },
                    &self.redactor,
                );
                note.warnings = warnings;
                return Intake::Note(Box::new(note));
            }
            Some(DocumentKind::Pdf) => {
                return Intake::Invalid("a PDF is read through the PDF extractor".into());
            }
            _ => {}
        }
        let is_canvas = super::rules::document_kind(id) == Some(DocumentKind::Canvas);
        let (text, mut warnings) = if is_canvas {
            match render_canvas(bytes) {
                Ok(markdown) => (Cow::Owned(markdown), Vec::new()),
                Err(message) => return Intake::Invalid(message),
            }
        } else {
            decode(bytes)
        };
        // A canvas's rendering is all body: a text node that starts with `---` is text.
        let split = if is_canvas {
            FrontmatterSplit {
                yaml: None,
                body_start: 0,
                body_line: 1,
            }
        } else {
            split_frontmatter(&text)
        };
        let mut frontmatter = Map::new();
        if let Some(yaml) = split.yaml {
            match parse_frontmatter(yaml) {
                Ok(map) => frontmatter = map,
                Err(warning) => {
                    if raw_frontmatter_is_private(yaml, &self.privacy) {
                        return Intake::Private;
                    }
                    warnings.push(warning);
                }
            }
        }
        if frontmatter_is_private(&frontmatter, &self.privacy) {
            return Intake::Private;
        }
        let body = &text[split.body_start..];
        let redacted = self.redactor.redact(body);
        // The tags as written: where redaction changed the body, or a comment hides one (a
        // `%% #private %%` marks the note as much as a visible tag; failing closed).
        if (matches!(redacted, Cow::Owned(_)) || body.contains("%%"))
            && tags_are_private(&inline_tags(id, body, split.body_line), &self.privacy)
        {
            return Intake::Private;
        }
        self.redactor.redact_frontmatter(&mut frontmatter);
        for warning in &mut warnings {
            self.redactor.redact_string(warning);
        }
        let (note, _) = build_note(
            id,
            frontmatter,
            &redacted,
            split.body_line,
            warnings,
            &self.parse,
            false,
        );
        // With the body unchanged, these are the tags as written.
        if tags_are_private(&note.tags, &self.privacy) {
            return Intake::Private;
        }
        if !self.has_residue(&note) {
            return Intake::Note(Box::new(note));
        }
        Intake::Note(Box::new(self.redact_residue(note)))
    }

    /// A document that is text, not Markdown (a PDF's pages as extracted): redacted page by page.
    pub fn read_text(&self, id: &str, kind: DocumentKind, document: TextDocument) -> Intake {
        Intake::Note(Box::new(build_text_note(
            id,
            kind,
            document,
            &self.redactor,
        )))
    }

    /// True when something derived from the redacted body still holds a secret: Markdown
    /// stripped from around it, or an escape decoded.
    fn has_residue(&self, note: &Note) -> bool {
        let r = &self.redactor;
        r.is_match(&note.plain)
            || note.headings.iter().any(|h| r.is_match(&h.text))
            || note.links.iter().any(|l| {
                r.is_match(&l.target) || l.fragment.as_deref().is_some_and(|f| r.is_match(f))
            })
            || note.callouts.iter().any(|c| r.is_match(&c.title))
    }

    /// Redacts, in the body, where each derived secret came from, and parses again; withholds
    /// the body when that does not clear them.
    fn redact_residue(&self, mut note: Note) -> Note {
        for _ in 0..MAX_ROUNDS {
            let frontmatter = std::mem::take(&mut note.frontmatter);
            let warnings = std::mem::take(&mut note.warnings);
            let (tracked, tracking) = build_note(
                &note.id,
                frontmatter,
                &note.body,
                note.body_line,
                warnings,
                &self.parse,
                true,
            );
            let body = self.redact_sources(&tracked, &tracking);
            let (next, _) = build_note(
                &tracked.id,
                tracked.frontmatter,
                &body,
                tracked.body_line,
                tracked.warnings,
                &self.parse,
                false,
            );
            note = next;
            if !self.has_residue(&note) {
                return note;
            }
        }
        let frontmatter = std::mem::take(&mut note.frontmatter);
        let mut warnings = std::mem::take(&mut note.warnings);
        warnings.push(
            "the text holds a secret that could not be redacted in place; the text is withheld"
                .into(),
        );
        let lines = note.body.matches('\n').count();
        let body = format!("{WITHHELD}{}", "\n".repeat(lines));
        build_note(
            &note.id,
            frontmatter,
            &body,
            note.body_line,
            warnings,
            &self.parse,
            false,
        )
        .0
    }

    /// The body with the sources of every derived secret replaced.
    fn redact_sources(&self, note: &Note, tracking: &Tracking) -> String {
        let mut edits: Vec<(Range<usize>, String)> = Vec::new();
        for span in self.redactor.spans(&note.plain) {
            if let Some(range) = tracking.body_range(&span) {
                let label = match self.redactor.redact(&note.plain[span]) {
                    Cow::Owned(label) => label.trim().to_string(),
                    Cow::Borrowed(_) => "[REDACTED]".to_string(),
                };
                edits.push((range, label));
            }
        }
        for (link, range) in note.links.iter().zip(&tracking.links) {
            let r = &self.redactor;
            if r.is_match(&link.target) || link.fragment.as_deref().is_some_and(|f| r.is_match(f)) {
                edits.push((range.clone(), "[REDACTED link]".into()));
            }
        }
        for (callout, range) in note.callouts.iter().zip(&tracking.callouts) {
            if self.redactor.is_match(&callout.title) {
                edits.push((range.clone(), "[REDACTED]".into()));
            }
        }
        apply_edits(&note.body, edits)
    }
}

/// `text` with each range replaced (overlapping ranges merged), keeping the line count of what
/// each replaced.
fn apply_edits(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(range, _)| (range.start, std::cmp::Reverse(range.end)));
    let mut merged: Vec<(Range<usize>, String)> = Vec::new();
    for (range, label) in edits {
        match merged.last_mut() {
            Some((last, _)) if range.start < last.end => last.end = last.end.max(range.end),
            _ => merged.push((range, label)),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, label) in merged {
        let (start, end) = (floor(text, range.start.max(at)), floor(text, range.end));
        if start < at || end <= start {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(&label);
        out.extend(std::iter::repeat_n(
            '\n',
            text[start..end].matches('\n').count(),
        ));
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// The nearest character boundary at or before `index`.
fn floor(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// The frontmatter's values, for tests: every string, at every depth.
#[cfg(test)]
fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k.clone());
            strings(v, out)
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "ghp_R3alLookingTokenAbCdEfGhIjKlMnOpQrSt";

    fn read(text: &str) -> Intake {
        Ingest::default().read("n.md", text.as_bytes())
    }

    fn note(text: &str) -> Note {
        match read(text) {
            Intake::Note(note) => *note,
            Intake::Private => panic!("private: {text}"),
            Intake::Invalid(message) => panic!("invalid: {message}"),
        }
    }

    /// Every string of a note, as the index would keep it.
    fn everything(note: &Note) -> String {
        let mut out = vec![
            note.title.clone(),
            note.body.clone(),
            note.plain.clone(),
            note.warnings.join("\n"),
        ];
        out.extend(note.aliases.iter().cloned());
        out.extend(note.tags.iter().cloned());
        for h in &note.headings {
            out.push(h.text.clone());
            out.push(h.anchor.clone());
        }
        for l in &note.links {
            out.push(l.target.clone());
            out.push(l.key.clone());
            out.extend(l.fragment.clone());
        }
        out.extend(note.callouts.iter().map(|c| c.title.clone()));
        out.extend(note.blocks.iter().map(|b| b.id.clone()));
        strings(
            &serde_json::Value::Object(note.frontmatter.clone()),
            &mut out,
        );
        strings(&serde_json::Value::Object(note.fields.clone()), &mut out);
        out.join("\n")
    }

    /// Comments, drawings and canvases go through the same gate: redaction before the body
    /// edits, privacy on what was written.
    #[test]
    fn every_document_kind_is_redacted_and_can_be_private() {
        let hidden = note(&format!(
            "a %%note to self {TOKEN}%% b\n\nsplit ghp_%%x%%{}\n",
            &TOKEN[4..]
        ));
        assert!(!everything(&hidden).contains(&TOKEN[4..]), "{hidden:?}");
        assert!(!hidden.body.contains("note to self"), "{}", hidden.body);
        let kept = Ingest::default().with_parse(ParseOptions {
            keep_comments: true,
        });
        let Intake::Note(kept) = kept.read("n.md", format!("a %%{TOKEN}%% b\n").as_bytes()) else {
            panic!("a note")
        };
        assert!(kept.body.contains("%%"), "{}", kept.body);
        assert!(!everything(&kept).contains(TOKEN));
        // A comment is read as written for privacy: a private tag in it keeps the note out.
        assert!(matches!(read("x %% #private %%\n"), Intake::Private));

        let drawing = format!(
            "---\nexcalidraw-plugin: parsed\n---\n# Text Elements\nkey {TOKEN} ^abc\n\n# Drawing\n```json\n{{}}\n```\n"
        );
        let Intake::Note(drawing) = Ingest::default().read("d.excalidraw.md", drawing.as_bytes())
        else {
            panic!("a drawing")
        };
        assert!(!everything(&drawing).contains(TOKEN), "{drawing:?}");

        let canvas = |text: &str| {
            let json = serde_json::json!({"nodes": [
                {"id": "a", "type": "text", "x": 0, "y": 0, "width": 10, "height": 10, "text": text}
            ]});
            Ingest::default().read("Board.canvas", json.to_string().as_bytes())
        };
        let Intake::Note(board) = canvas(&format!("---\ntitle: x\n---\nplan {TOKEN}")) else {
            panic!("a canvas")
        };
        assert_eq!(board.title, "Board");
        assert!(board.frontmatter.is_empty(), "a canvas has no frontmatter");
        assert!(board.plain.contains("plan"), "{}", board.plain);
        assert!(!everything(&board).contains(TOKEN), "{board:?}");
        assert!(matches!(canvas("see #private"), Intake::Private));
        assert!(matches!(
            Ingest::default().read("Bad.canvas", b"[1, 2"),
            Intake::Invalid(message) if message.contains("JSON Canvas")
        ));
    }

    #[test]
    fn the_stamp_names_the_parse_options() {
        let kept = Ingest::default().with_parse(ParseOptions {
            keep_comments: true,
        });
        assert_ne!(Ingest::default().stamp(), kept.stamp());
    }

    #[test]
    fn every_derived_field_is_made_from_redacted_text() {
        let text = format!(
            "---\ntitle: T {TOKEN}\naliases: ['password=aliaspass123']\ntags: [{TOKEN}]\n\
             password: hunter2hunter2\nlist: [a, {TOKEN}]\nmap: {{k: {TOKEN}}}\n---\n\
             # H1 {TOKEN}\n\n## password=hunter2heading\n\nbody {TOKEN} and #{TOKEN}\n\n\
             [[{TOKEN}]] ![[{TOKEN}]] [x](https://hooks.slack.com/services/T0/B0/XYZXYZ)\n\n\
             [ref][r]\n\n[r]: https://example.com/?{TOKEN}\n\n> [!note] callout {TOKEN}\n> text\n\n\
             ```\ncode {TOKEN}\n```\n\n| a | b |\n|---|---|\n| {TOKEN} | c |\n"
        );
        let note = note(&text);
        let all = everything(&note);
        for secret in [
            TOKEN,
            "aliaspass123",
            "hunter2hunter2",
            "hunter2heading",
            "XYZXYZ",
        ] {
            assert!(!all.contains(secret), "{secret} survived:\n{all}");
        }
        assert!(
            note.title.contains("[REDACTED github-token]"),
            "{}",
            note.title
        );
        assert_eq!(note.aliases, vec!["password=[REDACTED]"]);
        assert_eq!(note.frontmatter["password"], "[REDACTED]");
        assert_eq!(note.headings[1].text, "password=[REDACTED]");
        assert_eq!(note.headings[1].anchor, "passwordredacted");
        assert!(note.callouts[0].title.contains("[REDACTED github-token]"));
        assert!(
            note.plain.contains("body [REDACTED github-token]"),
            "{}",
            note.plain
        );
    }

    #[test]
    fn line_numbers_survive_a_redacted_key_block() {
        let note = note(
            "intro\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA\n-----END RSA PRIVATE KEY-----\n\n# After\n",
        );
        assert!(!note.body.contains("MIIEow"));
        assert_eq!(note.headings[0].line, 7);
    }

    #[test]
    fn a_secret_split_by_markup_is_redacted_in_the_body() {
        for text in [
            "see gh**p**_R3alLookingTokenAbCdEfGhIjKlMnOpQrSt here\n",
            "## AKIA&#73;OSFODNN7EXAMPLE\n",
            "[x](ghp%5FR3alLookingTokenAbCdEfGhIjKlMnOpQrSt.md)\n",
        ] {
            let note = note(text);
            let all = everything(&note);
            let redactor = Redactor::new(true, &[]).unwrap();
            assert!(!redactor.is_match(&note.plain), "{text}: {all}");
            assert!(
                !all.contains("R3alLookingToken") && !all.contains("IOSFODNN7"),
                "{text}: {all}"
            );
            assert!(note.body.contains("[REDACTED"), "{text}: {}", note.body);
        }
    }

    #[test]
    fn privacy_is_read_before_redaction_and_fails_closed() {
        for text in [
            "---\ndeepvault: private\n---\nx\n",
            "---\nDeepvault: Private\n---\nx\n",
            "---\ndeepvault: private\ntitle: [unclosed\n---\nx\n",
            "---\ndeepvault: private\ndeepvault: private\n---\nx\n",
            "---\ntags: [a, private]\n---\nx\n",
            "body #private\n",
            // The tag sits next to a secret that is redacted: still read as written.
            "token=abcdefghijkl #private\n",
        ] {
            assert!(matches!(read(text), Intake::Private), "{text}");
        }
        // A pattern that hides the marker does not hide the note.
        let hiding = Ingest::new(
            Privacy::default(),
            Arc::new(Redactor::new(true, &["private".to_string()]).unwrap()),
        );
        assert!(matches!(
            hiding.read("n.md", b"text #private\n"),
            Intake::Private
        ));
        assert!(matches!(
            read("---\ndeepvault: public\n---\nx\n"),
            Intake::Note(_)
        ));
    }

    #[test]
    fn the_stamp_names_patterns_and_privacy() {
        let base = Ingest::default();
        let custom = Ingest::new(
            Privacy::default(),
            Arc::new(Redactor::new(true, &["EMP-[0-9]+".to_string()]).unwrap()),
        );
        let tags = Ingest::new(
            Privacy {
                tags: vec!["secret".into()],
                ..Privacy::default()
            },
            Arc::clone(base.redactor()),
        );
        assert_eq!(base.stamp(), Ingest::default().stamp());
        assert_ne!(base.stamp(), custom.stamp());
        assert_ne!(base.stamp(), tags.stamp());
    }

    #[test]
    fn edits_merge_and_keep_lines() {
        let edits = vec![(4..9, "[A]".to_string()), (6..12, "[B]".to_string())];
        assert_eq!(apply_edits("abc\nd\nef\ngh\nij", edits), "abc\n[A]\n\n\nij");
    }
}
