//! `GET /files/{path}`: a vault file as it is on disk (a PDF, an image), for citations that open
//! a PDF at a page and for the attachments that notes embed.
//!
//! A file is served when all of these hold, and otherwise the answer is the same 404 whether the
//! file exists or not (no existence oracle), naming no path:
//!
//! - it is not a text document (a note, a drawing, a canvas, a `.txt`): their redacted text is
//!   what deepvault serves, at `/notes/`; their bytes never leave;
//! - nothing excludes it (dot-files and dot-folders, `.gitignore`/`.ignore`, Obsidian's excluded
//!   files, `exclude`) and `private_paths` does not name it, nor the file its symlinks lead to,
//!   which must stay inside the vault ([`Rules::check_target`]);
//! - it is in the index (a document: its id is its path), or an indexed document links to or
//!   embeds it: by its path (`[[files/a.pdf]]`, `[x](files/a.pdf)` relative to the note), or by
//!   a shorter suffix of it (`![[diagram.png]]`) when no other file of the vault has that suffix,
//!   as Obsidian resolves links. Private notes are not in the index, so what only they reference
//!   is never served. Which files have a suffix is answered from one walk of the vault, kept
//!   for [`FILE_NAMES_TTL`], so that a client asking for many files cannot make the server walk
//!   the vault for each;
//! - it is a regular file, opened through the root handle ([`crate::vault::contain`]).
//!
//! Who may ask is decided as for note pages ([`PagesState::access`]): `public`, a signed link
//! (signed over the file's path, as a citation URL is), or the token. `max_file_bytes` does not
//! apply: it protects the indexer from reading huge files whole, and a download is streamed in
//! chunks (a range is read from its offset), so size costs the server no memory; a FIFO or a
//! device is never opened for long (the handle's type is checked before any read).
//!
//! Every response says `X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox`;
//! types that can run script (SVG, HTML, XML, JavaScript) and unknown ones are always downloads
//! (`Content-Disposition: attachment`). Single byte ranges are honoured (206, 416), with `ETag`,
//! `Last-Modified`, `If-None-Match` and `If-Range`.

use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::AppError;
use super::pages::{Access, NoteQuery, PagesState, denied};
use crate::index::fetch::is_linked;
use crate::service::tools::Tools;
use crate::vault::Vault;
use crate::vault::note::name_keys;
use crate::vault::rules::{FileNames, Rules, is_text_document};

/// What `/files` needs: the pages' access rules and index, the vault to open files in, and its
/// file names.
#[derive(Clone)]
pub(crate) struct FilesState {
    pub(crate) pages: PagesState,
    pub(crate) vault: Vault,
    pub(crate) names: Arc<FileNamesCache>,
}

/// How long one walk's file names answer "which files could this link mean": a file added or
/// excluded since counts after this (the file asked for is always checked afresh).
pub(crate) const FILE_NAMES_TTL: Duration = Duration::from_secs(5);

/// The vault's file names from the last walk, while they are younger than the TTL.
pub(crate) struct FileNamesCache {
    ttl: Duration,
    last: Mutex<Option<(Instant, Arc<FileNames>)>>,
}

impl FileNamesCache {
    pub(crate) fn new(ttl: Duration) -> FileNamesCache {
        FileNamesCache {
            ttl,
            last: Mutex::new(None),
        }
    }

    /// The file names, walked again when older than the TTL. Blocking; the lock is held during
    /// the walk, so that requests arriving meanwhile wait for it instead of walking too.
    fn get(&self, rules: &Rules) -> Arc<FileNames> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match &*last {
            Some((walked, names)) if walked.elapsed() < self.ttl => Arc::clone(names),
            _ => {
                let names = Arc::new(rules.file_names());
                *last = Some((Instant::now(), Arc::clone(&names)));
                names
            }
        }
    }
}

/// Bytes read from the file per chunk of a response body.
const CHUNK_BYTES: u64 = 64 * 1024;

/// The longest path looked at.
const MAX_ID_BYTES: usize = 4096;

/// A file that may be served, opened.
struct Opened {
    file: std::fs::File,
    metadata: std::fs::Metadata,
    /// The file name the client asked for (the link's, not its target's).
    name: String,
}

/// `GET /files/{*path}` (and `HEAD`).
pub(crate) async fn file(
    State(state): State<FilesState>,
    method: Method,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<NoteQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path(id)) = path else {
        return not_found();
    };
    let query = query.map(|Query(query)| query).unwrap_or_default();
    if state.pages.access(&headers, Some((&id, &query))).await == Access::Denied {
        return denied(&state.pages, "This file");
    }
    let tools = state.pages.tools.clone();
    let (vault, names) = (state.vault.clone(), Arc::clone(&state.names));
    let opened =
        tokio::task::spawn_blocking(move || open_served(&tools, &vault, &names, &id)).await;
    match opened {
        Ok(Ok(Some(opened))) => respond(opened, &method, &headers),
        Ok(Ok(None)) => not_found(),
        Ok(Err(err)) => AppError::internal("serving a file", err).into_response(),
        Err(join) => AppError::internal("serving a file", join).into_response(),
    }
}

/// The file at `id` when the rules above allow it, opened; `None` otherwise (the reason is
/// logged at debug level, never told).
fn open_served(
    tools: &Tools,
    vault: &Vault,
    names: &FileNamesCache,
    id: &str,
) -> crate::Result<Option<Opened>> {
    if !is_clean_id(id) || is_text_document(id) {
        return Ok(None);
    }
    // Loaded per request: a changed `.gitignore` or `app.json` applies at once.
    let rules = Rules::load(vault)?;
    if rules.is_excluded(id, false) || rules.is_private_path(id) {
        return Ok(None);
    }
    let Ok(target) = rules.check_target(id, false) else {
        return Ok(None);
    };
    if target != id && (is_text_document(&target) || rules.is_private_path(&target)) {
        return Ok(None);
    }
    if !is_referenced(tools, &rules, names, id)? {
        return Ok(None);
    }
    match vault.dir().open_file(&target) {
        Ok((file, metadata)) => Ok(Some(Opened {
            file,
            metadata,
            name: id.rsplit('/').next().unwrap_or(id).to_string(),
        })),
        Err(err) => {
            tracing::debug!(file = %id, "not served: {err}");
            Ok(None)
        }
    }
}

/// A vault-relative path as the walk would produce it: no `..`, `.`, empty or absolute parts.
fn is_clean_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && !id.contains(['\0', '\\'])
        && id
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// True when `id` is an indexed document (whose text held no secret), or an indexed document links to it (see the module
/// docs for how links resolve).
fn is_referenced(
    tools: &Tools,
    rules: &Rules,
    names: &FileNamesCache,
    id: &str,
) -> crate::Result<bool> {
    let index = &tools.index;
    let searcher = index.searcher();
    if let Some(doc) = index.load_by_id(&searcher, id)? {
        // A document whose text had a secret redacted holds it in its file: never served.
        return Ok(!doc.meta.info.is_some_and(|info| info.redacted));
    }
    for (i, key) in name_keys(id).into_iter().enumerate() {
        if !is_linked(index, &searcher, &key)? {
            continue;
        }
        // The whole path names this file; a shorter suffix only when no other file has it.
        if i == 0 || names.get(rules).with_key(&key) == [id] {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The one answer for a file that is missing or not allowed.
fn not_found() -> Response {
    let mut response = (StatusCode::NOT_FOUND, "no such file\n").into_response();
    secure(response.headers_mut());
    response
}

/// The headers every file response carries.
fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    // Access may change (a note made private): ask again each time; the ETag makes it cheap.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    /// The whole file (no range, or one that is not a single byte range: ignored, as RFC 9110
    /// allows).
    Whole,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// A byte range that lies beyond the end.
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n`.
fn wanted(range: &str, len: u64) -> Wanted {
    let Some(spec) = range.trim().strip_prefix("bytes=") else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // `bytes=-n`: the last n bytes.
        return match number(last) {
            None => Wanted::Whole,
            Some(0) => Wanted::Unsatisfiable,
            Some(_) if len == 0 => Wanted::Unsatisfiable,
            Some(suffix) => Wanted::Part {
                start: len.saturating_sub(suffix),
                end: len - 1,
            },
        };
    }
    let Some(start) = number(first) else {
        return Wanted::Whole;
    };
    let end = match (last.is_empty(), number(last)) {
        (true, _) => None,
        (false, Some(end)) => Some(end),
        (false, None) => return Wanted::Whole,
    };
    match end {
        Some(end) if end < start => Wanted::Whole,
        _ if start >= len => Wanted::Unsatisfiable,
        Some(end) => Wanted::Part {
            start,
            end: end.min(len - 1),
        },
        None => Wanted::Part {
            start,
            end: len - 1,
        },
    }
}

/// The response for an opened file: 200, 206, 304 or 416.
fn respond(opened: Opened, method: &Method, request: &HeaderMap) -> Response {
    let len = opened.metadata.len();
    let mtime_ns =
        opened.metadata.mtime() as i128 * 1_000_000_000 + i128::from(opened.metadata.mtime_nsec());
    let etag = format!(
        "\"{:016x}\"",
        xxhash_rust::xxh3::xxh3_64(
            format!(
                "{}:{}:{len}:{mtime_ns}",
                opened.metadata.dev(),
                opened.metadata.ino()
            )
            .as_bytes()
        )
    );
    let last_modified = jiff::Timestamp::from_second(opened.metadata.mtime())
        .map(|t| t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .ok();
    let header_text = |name: header::HeaderName| request.get(name).and_then(|v| v.to_str().ok());
    let not_modified = header_text(header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let (content_type, inline) = content_type(&opened.name);
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    secure(headers);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if let Some(value) = last_modified
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::LAST_MODIFIED, value);
    }
    if not_modified {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return response;
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition(inline, &opened.name)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    // A range applies only to the version the client has (`If-Range`), else the whole file.
    let range_applies = header_text(header::IF_RANGE)
        .is_none_or(|tag| tag == etag || Some(tag) == last_modified.as_deref());
    let wanted = match header_text(header::RANGE) {
        Some(range) if range_applies => wanted(range, len),
        _ => Wanted::Whole,
    };
    let (start, count) = match wanted {
        Wanted::Whole => (0, len),
        Wanted::Part { start, end } => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            (start, end - start + 1)
        }
        Wanted::Unsatisfiable => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            return response;
        }
    };
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if *method != Method::HEAD {
        *response.body_mut() = stream(opened.file, start, count);
    }
    response
}

/// `count` bytes of `file` from `start`, read in chunks off the runtime as the client takes
/// them (positional reads: nothing else moves the offset).
fn stream(file: std::fs::File, start: u64, count: u64) -> Body {
    let file = std::sync::Arc::new(file);
    let chunks = futures::stream::unfold(Some((start, count)), move |state| {
        let file = std::sync::Arc::clone(&file);
        async move {
            let (at, left) = state?;
            if left == 0 {
                return None;
            }
            let size = left.min(CHUNK_BYTES) as usize;
            let read = tokio::task::spawn_blocking(move || {
                let mut buffer = vec![0; size];
                let n = file.read_at(&mut buffer, at)?;
                buffer.truncate(n);
                Ok::<_, std::io::Error>(buffer)
            })
            .await
            .unwrap_or_else(|join| Err(std::io::Error::other(join)));
            match read {
                Ok(buffer) if !buffer.is_empty() => {
                    let n = buffer.len() as u64;
                    Some((Ok(Bytes::from(buffer)), Some((at + n, left - n))))
                }
                // The file shrank or failed while it was sent: end the body short, so the
                // client sees an incomplete response rather than wrong bytes.
                Ok(_) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file shrank while it was sent",
                    )),
                    None,
                )),
                Err(err) => Some((Err(err), None)),
            }
        }
    });
    Body::from_stream(chunks)
}

/// The `Content-Type` of a file name, and whether it may be shown inline: never for types that
/// can run script, nor for unknown ones.
fn content_type(name: &str) -> (&'static str, bool) {
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "pdf" => ("application/pdf", true),
        "png" => ("image/png", true),
        "jpg" | "jpeg" => ("image/jpeg", true),
        "gif" => ("image/gif", true),
        "webp" => ("image/webp", true),
        "avif" => ("image/avif", true),
        "bmp" => ("image/bmp", true),
        "ico" => ("image/x-icon", true),
        "tif" | "tiff" => ("image/tiff", true),
        "mp3" => ("audio/mpeg", true),
        "wav" => ("audio/wav", true),
        "ogg" | "oga" => ("audio/ogg", true),
        "m4a" => ("audio/mp4", true),
        "flac" => ("audio/flac", true),
        "mp4" | "m4v" => ("video/mp4", true),
        "webm" => ("video/webm", true),
        "ogv" => ("video/ogg", true),
        "mov" => ("video/quicktime", true),
        "csv" => ("text/csv; charset=utf-8", true),
        "json" => ("application/json", true),
        "zip" => ("application/zip", false),
        "epub" => ("application/epub+zip", false),
        "docx" => (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            false,
        ),
        "xlsx" => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            false,
        ),
        "pptx" => (
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            false,
        ),
        // Types a browser may run script in: downloads only.
        "svg" | "svgz" => ("image/svg+xml", false),
        "html" | "htm" | "shtml" => ("text/html; charset=utf-8", false),
        "xhtml" | "xht" => ("application/xhtml+xml", false),
        "xml" | "xsl" | "xslt" => ("application/xml", false),
        "js" | "mjs" => ("text/javascript", false),
        "mht" | "mhtml" => ("message/rfc822", false),
        _ => ("application/octet-stream", false),
    }
}

/// `inline; filename=…` or `attachment; filename=…`, with the UTF-8 name in `filename*`.
fn disposition(inline: bool, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() || c == ' ') && !matches!(c, '"' | '\\' | ';' | '%') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    format!(
        "{}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}",
        if inline { "inline" } else { "attachment" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One walk answers every lookup while it is fresh; a stale one is walked again.
    #[test]
    fn file_names_are_walked_once_per_ttl() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.png"), "").unwrap();
        let vault = Vault::open(dir.path(), &[]).unwrap();
        let rules = Rules::load(&vault).unwrap();

        let kept = FileNamesCache::new(Duration::from_secs(3600));
        let first = kept.get(&rules);
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.png"), "").unwrap();
        let second = kept.get(&rules);
        assert!(Arc::ptr_eq(&first, &second), "walked again while fresh");
        assert_eq!(second.with_key("a.png"), ["a.png"]);

        let expiring = FileNamesCache::new(Duration::ZERO);
        let names = expiring.get(&rules);
        let mut both = names.with_key("a.png");
        both.sort();
        assert_eq!(both, ["a.png", "sub/a.png"], "a stale walk is done again");
    }

    #[test]
    fn ranges() {
        let part = |start, end| Wanted::Part { start, end };
        for (range, expected) in [
            ("bytes=0-9", part(0, 9)),
            ("bytes=10-", part(10, 99)),
            ("bytes=-10", part(90, 99)),
            ("bytes=-1000", part(0, 99)),
            ("bytes=95-1000", part(95, 99)),
            ("bytes=99-99", part(99, 99)),
            ("bytes=100-", Wanted::Unsatisfiable),
            ("bytes=100-200", Wanted::Unsatisfiable),
            ("bytes=-0", Wanted::Unsatisfiable),
            ("bytes=9-0", Wanted::Whole),
            ("bytes=0-1,5-6", Wanted::Whole),
            ("items=0-1", Wanted::Whole),
            ("bytes=a-b", Wanted::Whole),
            ("bytes=-", Wanted::Whole),
            ("bytes=+1-2", Wanted::Whole),
        ] {
            assert_eq!(wanted(range, 100), expected, "{range}");
        }
        assert_eq!(wanted("bytes=0-", 0), Wanted::Unsatisfiable);
    }

    #[test]
    fn clean_ids() {
        for bad in [
            "",
            "/etc/passwd",
            "../x.png",
            "a/../b.png",
            "a//b.png",
            "./a.png",
            "a\\b.png",
            "a\0",
        ] {
            assert!(!is_clean_id(bad), "{bad:?}");
        }
        assert!(is_clean_id("Papers/Attention Is All You Need.pdf"));
        assert!(is_clean_id("..png"));
    }

    #[test]
    fn script_types_are_never_inline() {
        for name in [
            "a.svg",
            "b.HTML",
            "c.xhtml",
            "d.xml",
            "e.js",
            "f.unknown",
            "noext",
        ] {
            assert!(!content_type(name).1, "{name}");
        }
        assert_eq!(content_type("Paper.PDF"), ("application/pdf", true));
        assert_eq!(
            disposition(true, "a \"b\"; é.pdf"),
            "inline; filename=\"a _b__ _.pdf\"; filename*=UTF-8''a%20%22b%22%3B%20%C3%A9%2Epdf"
        );
    }
}
