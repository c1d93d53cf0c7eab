//! The web pages: `/` (index status and a search box showing exactly what `search` returns) and
//! `/notes/{path}` (a note rendered as HTML: the default citation target).
//!
//! Who may read them follows `pages`: `public` (anyone who reaches the server), `signed` (a
//! citation link opens its one note through its signature; everything else needs the token), or
//! `token`. A reader with only a signature sees no links to other notes and no backlinks, so
//! nothing else can be reached or listed. Ids are looked up in the index; they never reach the
//! file system. Plain HTML and CSS, no JavaScript.
//!
//! Pages are rendered from redacted data, never redacted as HTML: a note page from one
//! [`NoteView`] and the search page from the `search` tool's response, each [`Redacted`] as a
//! whole (title, body, tags, properties, headings, backlink titles), and the query shown back is
//! redacted too.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::{Auth, Verdict};
use super::error::AppError;
use crate::config::{PagesMode, SearchMode};
use crate::index::fetch::{backlinks, embedded, resolve_link, rfc3339};
use crate::live::status::Status;
use crate::server::http::html::{
    Embed, RenderContext, escape, properties_table, render_markdown, render_text,
};
use crate::service::citations::signing::PageSigner;
use crate::service::redact::Redacted;
use crate::service::tools::{SearchResponse, Tools};
use crate::vault::note::{DocumentKind, Heading};

/// What the pages need.
#[derive(Clone)]
pub(crate) struct PagesState {
    pub(crate) tools: Tools,
    pub(crate) status: Arc<Status>,
    pub(crate) vault_name: String,
    pub(crate) mode: PagesMode,
    pub(crate) signer: Option<PageSigner>,
    /// The same credentials check as `/mcp`.
    pub(crate) auth: Arc<Auth>,
}

/// How much of the vault a request may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Access {
    /// Every page, with links between them.
    Full,
    /// This one note, through its signature.
    OneNote,
    Denied,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NoteQuery {
    sig: Option<String>,
    exp: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchQuery {
    q: Option<String>,
    /// `lexical`, `semantic`, `hybrid`, or `compare` (all three side by side); the configured
    /// mode when absent.
    mode: Option<String>,
}

/// The modes one search page shows.
fn page_modes(tools: &Tools, asked: Option<&str>) -> Vec<SearchMode> {
    if !tools.has_semantic() {
        return vec![SearchMode::Lexical];
    }
    match asked {
        Some("lexical") => vec![SearchMode::Lexical],
        Some("semantic") => vec![SearchMode::Semantic],
        Some("hybrid") => vec![SearchMode::Hybrid],
        Some("compare") => vec![
            SearchMode::Lexical,
            SearchMode::Semantic,
            SearchMode::Hybrid,
        ],
        _ => vec![tools.mode()],
    }
}

impl PagesState {
    /// Who may see what: `note` is the id (a note's, or a file's at `/files`) and the query
    /// that may sign it.
    pub(super) async fn access(
        &self,
        headers: &HeaderMap,
        note: Option<(&str, &NoteQuery)>,
    ) -> Access {
        if self.mode == PagesMode::Public {
            return Access::Full;
        }
        if self.auth.is_enabled()
            && headers.contains_key(axum::http::header::AUTHORIZATION)
            && matches!(self.auth.check(headers).await, Verdict::Allowed(_))
        {
            return Access::Full;
        }
        if self.mode == PagesMode::Signed
            && let (Some(signer), Some((id, query))) = (&self.signer, note)
            && let Some(sig) = &query.sig
            && signer.verify(id, sig, query.exp)
        {
            return Access::OneNote;
        }
        Access::Denied
    }
}

/// `GET /notes/{*path}`
pub(crate) async fn note(
    State(state): State<PagesState>,
    Path(id): Path<String>,
    Query(query): Query<NoteQuery>,
    headers: HeaderMap,
) -> Response {
    let access = state.access(&headers, Some((&id, &query))).await;
    if access == Access::Denied {
        return denied(&state, "This note");
    }
    let render_state = state.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        note_html(
            &render_state.tools,
            &render_state.vault_name,
            &id,
            access == Access::Full,
        )
    })
    .await;
    match rendered {
        Ok(Ok(Some(html))) => Html(html).into_response(),
        Ok(Ok(None)) => not_found(&state),
        Ok(Err(err)) => server_error(&state, AppError::internal("rendering a note page", err)),
        Err(join) => server_error(&state, AppError::internal("rendering a note page", join)),
    }
}

/// What a note page shows, read from the index and redacted as one value before it is rendered.
#[derive(Debug, Serialize, Deserialize)]
struct NoteView {
    id: String,
    kind: DocumentKind,
    title: String,
    /// The Markdown without frontmatter.
    body: String,
    tags: Vec<String>,
    frontmatter: Map<String, Value>,
    headings: Vec<Heading>,
    body_line: u32,
    mtime: i64,
    /// The notes that link here, `(id, title)`: only for a reader who may see them.
    backlinks: Vec<(String, String)>,
}

/// The note page of `id` (`None` when there is no such note), as a reader with every page
/// (`full`) or only a citation link sees it. Public for the fuzz target `secret_boundary`.
pub fn note_html(
    tools: &Tools,
    vault_name: &str,
    id: &str,
    full: bool,
) -> crate::Result<Option<String>> {
    let index = &tools.index;
    let searcher = index.searcher();
    let Some(doc) = index.load_by_id(&searcher, id)? else {
        return Ok(None);
    };
    let mut backlinks_seen = Vec::new();
    if full {
        for other in backlinks(index, &searcher, &doc.meta.id)
            .unwrap_or_default()
            .into_iter()
            .take(100)
        {
            let title = index
                .load_by_id(&searcher, &other)
                .ok()
                .flatten()
                .map_or_else(|| other.clone(), |d| d.meta.title);
            backlinks_seen.push((other, title));
        }
    }
    let meta = doc.meta;
    let view = tools.redacted(NoteView {
        id: meta.id,
        kind: meta.kind,
        title: meta.title,
        body: doc.body,
        tags: meta.tags,
        frontmatter: meta.frontmatter,
        headings: meta.headings,
        body_line: meta.body_line,
        mtime: meta.mtime,
        backlinks: backlinks_seen,
    });
    Ok(Some(note_page(tools, vault_name, &view, full)))
}

/// The HTML of a note page, from redacted data only.
fn note_page(tools: &Tools, vault_name: &str, view: &Redacted<NoteView>, full: bool) -> String {
    let index = &tools.index;
    let searcher = index.searcher();
    let redactor = &tools.redactor;
    // A note whose id holds something secret-like is not linked to: its href would show it.
    let resolve = |key: &str| {
        resolve_link(index, &searcher, key)
            .ok()
            .flatten()
            .filter(|id| !redactor.is_match(id))
    };
    // Embeds show what `fetch` inlines, redacted the same way and within the same byte budget
    // (what the note's own text leaves of `max_fetch_bytes`). Like a link, an embed of a note
    // whose id looks secret stays unresolved.
    let budget = std::cell::Cell::new(
        tools
            .max_fetch_bytes
            .map_or(usize::MAX, |max| max.saturating_sub(view.body.len())),
    );
    let embed = |dest: &str| -> Option<Embed> {
        let found = embedded(index, &searcher, dest).ok().flatten()?;
        if redactor.is_match(&found.id) {
            return None;
        }
        let markdown = redactor.redact(&found.markdown).into_owned();
        let left = budget.get().checked_sub(markdown.len())?;
        budget.set(left);
        Some(Embed {
            id: found.id,
            fragment: found
                .fragment
                .map(|fragment| redactor.redact(&fragment).into_owned()),
            markdown,
        })
    };
    let content = if view.kind.is_markdown() {
        render_markdown(
            &view.body,
            &RenderContext {
                id: &view.id,
                headings: &view.headings,
                resolve: &resolve,
                link_notes: full,
                embed: Some(&embed),
            },
        )
    } else {
        render_text(&view.body, &view.headings)
    };
    let mut html = String::new();
    let _ = write!(html, "<nav class=\"crumbs\" aria-label=\"Path\">");
    if full {
        html.push_str("<a href=\"/\">Search</a> · ");
    }
    let _ = write!(html, "<span>{}</span></nav>", escape(&view.id));
    // A note that opens with its own H1 keeps it as the page heading; otherwise the title is.
    let opens_with_h1 = view
        .headings
        .first()
        .is_some_and(|h| h.level == 1 && h.line <= view.body_line + 2);
    let mut header = String::new();
    let _ = write!(
        header,
        "<p class=\"meta\">Modified {}",
        time_element(view.mtime)
    );
    if !view.tags.is_empty() {
        header.push_str(" · ");
        for tag in &view.tags {
            let _ = write!(header, "<span class=\"tag\">#{}</span> ", escape(tag));
        }
    }
    header.push_str("</p>");
    if !view.frontmatter.is_empty() {
        let _ = write!(
            header,
            "<details class=\"properties\"><summary>Properties</summary>{}</details>",
            properties_table(&view.frontmatter)
        );
    }
    // Path, heading, then the meta line and properties, whichever heading the page has.
    let split = content
        .find("</h1>")
        .filter(|_| opens_with_h1)
        .map(|i| i + 5);
    match split {
        Some(at) => {
            let _ = write!(
                html,
                "<article class=\"note\">{}{header}{}</article>",
                &content[..at],
                &content[at..]
            );
        }
        None => {
            let _ = write!(
                html,
                "<h1 class=\"title\">{}</h1>{header}<article class=\"note\">{content}</article>",
                escape(&view.title)
            );
        }
    }
    if full && !view.backlinks.is_empty() {
        html.push_str("<section class=\"backlinks\" aria-labelledby=\"backlinks\"><h2 id=\"backlinks\">Backlinks</h2><ul>");
        for (other, title) in &view.backlinks {
            let mut href = String::from("/notes/");
            crate::config::url_template::push_segments(&mut href, other);
            let _ = write!(
                html,
                "<li><a href=\"{}\">{}</a> <span class=\"id\">{}</span></li>",
                escape(&href),
                escape(title),
                escape(other)
            );
        }
        html.push_str("</ul></section>");
    }
    page_layout(vault_name, &view.title, &html)
}

/// `GET /`
pub(crate) async fn home(
    State(state): State<PagesState>,
    Query(query): Query<SearchQuery>,
    headers: HeaderMap,
) -> Response {
    if state.access(&headers, None).await != Access::Full {
        return denied(&state, "The search page");
    }
    let q = query.q.unwrap_or_default();
    let q = q.chars().take(1000).collect::<String>();
    let modes = page_modes(&state.tools, query.mode.as_deref());
    let asked = query.mode.clone().unwrap_or_default();
    let tools = state.tools.clone();
    let query_for_search = q.clone();
    let searched_modes = modes.clone();
    type Searched = Vec<(SearchMode, Result<Redacted<SearchResponse>, AppError>)>;
    let results: Option<Searched> = if q.trim().is_empty() {
        None
    } else {
        match tokio::task::spawn_blocking(move || {
            searched_modes
                .into_iter()
                .map(|mode| {
                    let result = tools
                        .search_in(&query_for_search, mode)
                        .map_err(|err| AppError::internal("searching", err));
                    (mode, result)
                })
                .collect::<Searched>()
        })
        .await
        {
            Ok(results) => Some(results),
            Err(join) => Some(vec![(modes[0], Err(AppError::internal("searching", join)))]),
        }
    };
    // The query is shown back as the search tool would log it: redacted.
    let q = state.tools.redacted(q);
    let status = state.status.to_json();
    let tools = state.tools.clone();
    let progress = tokio::task::spawn_blocking(move || tools.semantic_progress())
        .await
        .ok()
        .flatten();
    let mut html = String::new();
    let _ = write!(
        html,
        "<h1 class=\"title\">{}</h1><p class=\"meta\" id=\"status\">{} notes · {} · last commit {} · last change {}{}</p>",
        escape(&state.vault_name),
        status["notes"],
        if state.status.is_ready() {
            "up to date"
        } else {
            "indexing…"
        },
        status["last_commit"]
            .as_str()
            .map_or_else(|| "never".to_string(), time_text),
        status["last_event"]
            .as_str()
            .map_or_else(|| "none yet".to_string(), time_text),
        semantic_status(progress.as_ref()),
    );
    let mut mode_picker = String::new();
    if state.tools.has_semantic() {
        mode_picker.push_str(
            "<label for=\"mode\" class=\"mode\">Ranking</label><select id=\"mode\" name=\"mode\">",
        );
        for (value, label) in [
            ("", "as configured"),
            ("hybrid", "hybrid"),
            ("lexical", "lexical (words)"),
            ("semantic", "semantic (meaning)"),
            ("compare", "compare all three"),
        ] {
            let _ = write!(
                mode_picker,
                "<option value=\"{value}\"{}>{label}</option>",
                if asked == value { " selected" } else { "" }
            );
        }
        mode_picker.push_str("</select>");
    }
    let _ = write!(
        html,
        "<form role=\"search\" action=\"/\" method=\"get\" class=\"search\"><label for=\"q\">Search the notes</label><div class=\"row\"><input id=\"q\" name=\"q\" type=\"search\" value=\"{}\" placeholder=\"A question or keywords\" autofocus><button type=\"submit\">Search</button></div>{mode_picker}</form>",
        escape(&q)
    );
    if let Some(results) = &results {
        let compare = results.len() > 1;
        if compare {
            html.push_str("<div class=\"compare\">");
        }
        for (mode, result) in results {
            let result = match result {
                Ok(result) => result,
                Err(error) => {
                    let _ = write!(html, "<p>{}</p>", escape(error.message()));
                    continue;
                }
            };
            let hits = &result.results;
            let id = if compare {
                format!("results-{}", mode.name())
            } else {
                "results".to_string()
            };
            let _ = write!(
                html,
                "<section aria-labelledby=\"{id}\"><h2 id=\"{id}\">{}{} result{} for “{}”</h2><ol class=\"results\">",
                if compare || state.tools.has_semantic() {
                    format!("{}: ", mode.name())
                } else {
                    String::new()
                },
                hits.len(),
                if hits.len() == 1 { "" } else { "s" },
                escape(&q)
            );
            for hit in hits {
                let _ = write!(
                    html,
                    "<li><a class=\"hit\" href=\"{}\">{}</a><div class=\"id\">{}</div><p>{}</p></li>",
                    escape(&hit.url),
                    escape(&hit.title),
                    escape(&hit.id),
                    escape(&hit.text)
                );
            }
            html.push_str("</ol>");
            let _ = write!(
                html,
                "<details class=\"raw\"><summary>The <code>search</code> tool's JSON</summary><pre>{}</pre></details></section>",
                escape(&serde_json::to_string_pretty(result).unwrap_or_default())
            );
        }
        if compare {
            html.push_str("</div>");
        }
    }
    Html(layout(&state, "Search", &html)).into_response()
}

/// ` · semantic: model, 1,234 / 5,183 notes embedded` for the status line.
fn semantic_status(progress: Option<&crate::index::vectors::Progress>) -> String {
    use crate::index::vectors::State;
    let Some(p) = progress else {
        return " · semantic search off".to_string();
    };
    let state = match p.state {
        State::Loading => "loading the model".to_string(),
        // The reason may name the model's folder: it is in the server log.
        State::Failed => "off (the model failed to load; the server log says why)".to_string(),
        State::Ready | State::Following if p.embedded >= p.total => {
            format!("{} notes embedded", p.total)
        }
        _ => {
            let mut text = format!("{} of {} notes embedded", p.embedded, p.total);
            if p.rate > 0.0 {
                let _ = write!(text, ", {:.1}/s", p.rate);
            }
            if let Some(eta) = p.eta_secs {
                let _ = write!(text, ", about {} left", human_duration(eta));
            }
            text
        }
    };
    format!(" · semantic ({}): {}", escape(&p.model), escape(&state))
}

/// `95` → `2 min`, `7200` → `2 h`.
fn human_duration(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs} s"),
        60..=5399 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{:.1} h", secs as f64 / 3600.0),
    }
}

/// `<time>` for nanoseconds since the epoch, shown as `2026-11-21 07:22 UTC`.
fn time_element(nanos: i64) -> String {
    time_text(&rfc3339(nanos))
}

/// An RFC 3339 stamp as a `<time>` element.
fn time_text(stamp: &str) -> String {
    let label = match (stamp.get(..10), stamp.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => stamp.to_string(),
    };
    format!(
        "<time datetime=\"{}\">{}</time>",
        escape(stamp),
        escape(&label)
    )
}

/// A server error as a page: the id that finds the detail in the log, nothing more.
fn server_error(state: &PagesState, error: AppError) -> Response {
    let body = format!(
        "<h1 class=\"title\">Something went wrong</h1><p>{}</p>",
        escape(error.message())
    );
    (error.status(), Html(layout(state, "Error", &body))).into_response()
}

fn not_found(state: &PagesState) -> Response {
    let body = "<h1 class=\"title\">No such note</h1><p>There is no note at this address. It may have been renamed, moved, deleted or marked private.</p>";
    (
        StatusCode::NOT_FOUND,
        Html(layout(state, "Not found", body)),
    )
        .into_response()
}

pub(super) fn denied(state: &PagesState, what: &str) -> Response {
    let body = format!(
        "<h1 class=\"title\">Sign-in needed</h1><p>{what} needs a valid link or an access token. Citation links from search results open their note directly; ask the vault's owner for a new link if this one has expired.</p>"
    );
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Html(layout(state, "Sign-in needed", &body)),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

fn layout(state: &PagesState, title: &str, body: &str) -> String {
    page_layout(&state.vault_name, title, body)
}

fn page_layout(vault_name: &str, title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"referrer\" content=\"no-referrer\"><meta name=\"robots\" content=\"noindex\"><link rel=\"icon\" href=\"data:,\"><title>{} · {}</title><style>{STYLE}</style></head><body><header class=\"top\"><span class=\"brand\">deepvault</span> <span class=\"vault\">{}</span></header><main>{body}</main></body></html>",
        escape(title),
        escape(vault_name),
        escape(vault_name),
    )
}

const STYLE: &str = r#"
.compare{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:1rem}.compare h2{font-size:1.05rem}
label.mode{display:inline-block;margin:.5rem .5rem 0 0;color:var(--muted);font-size:.9rem}select{font:inherit;padding:.3rem .4rem;border:1px solid var(--control);border-radius:.4rem;background:var(--card);color:var(--fg)}
:root{color-scheme:light dark;--fg:#1d1f23;--muted:#5d6470;--bg:#fbfbfa;--card:#fff;--tint:#f1f3f8;--line:#e3e4e6;--control:#8a909a;--accent:#2f5fd0;--on-accent:#fff;--note:#2f5fd0;--tip:#128262;--warn:#b26200;--danger:#c0313b}
@media (prefers-color-scheme:dark){:root{--fg:#e6e6e3;--muted:#a3a8b1;--bg:#17181b;--card:#1f2024;--tint:#23262e;--line:#34363c;--control:#6b707a;--accent:#8fb0ff;--on-accent:#17181b;--note:#8fb0ff;--tip:#5fd0a9;--warn:#f0b25a;--danger:#ff7b84}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);font:17px/1.6 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC","PingFang SC","Hiragino Sans",sans-serif;overflow-wrap:anywhere}
time{white-space:nowrap}li:has(>input[type=checkbox]){list-style:none}li>input[type=checkbox]{margin:0 .4rem 0 -1.2rem}
main{max-width:46rem;margin:0 auto;padding:1rem 1.25rem 4rem}
.top{max-width:46rem;margin:0 auto;padding:.75rem 1.25rem;color:var(--muted);font-size:.9rem}.brand{font-weight:600;color:var(--fg)}
a{color:var(--accent)}a:focus-visible,button:focus-visible,input:focus-visible,summary:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.crumbs{font-size:.9rem;color:var(--muted);overflow-wrap:anywhere}.title{line-height:1.25;margin:.4rem 0}.meta{color:var(--muted);font-size:.9rem}
.tag{background:var(--line);border-radius:.4rem;padding:0 .35rem;font-size:.85rem}
h1,h2,h3,h4{line-height:1.3;scroll-margin-top:1rem}h2:target,h3:target,h4:target,h5:target,h6:target{background:color-mix(in srgb,var(--accent) 15%,transparent)}
p.text{white-space:pre-wrap}pre{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.75rem;overflow-x:auto;font-size:.9rem}code{font-size:.92em}
table{border-collapse:collapse;display:block;overflow-x:auto}th,td{border:1px solid var(--line);padding:.3rem .6rem;text-align:left;vertical-align:top}
blockquote{margin:1rem 0;padding:.1rem 1rem;border-left:4px solid var(--line);color:var(--muted)}
.callout{margin:1rem 0;border-left:4px solid var(--note);background:var(--tint);border-radius:.4rem;padding:.5rem .9rem}.callout-title{font-weight:600}.callout>summary{cursor:pointer}
.callout-tip,.callout-success,.callout-check,.callout-done{border-color:var(--tip)}.callout-warning,.callout-caution,.callout-attention,.callout-important{border-color:var(--warn)}.callout-danger,.callout-error,.callout-bug,.callout-failure{border-color:var(--danger)}
.unresolved{color:var(--muted);border-bottom:1px dotted var(--muted)}a.embed,span.embed{font-style:italic}
blockquote.embed{color:inherit;border-left-color:var(--accent)}.embed-source{color:var(--muted);font-size:.85rem;margin:.4rem 0}
:is(p,li):has(>.block-anchor:target),.block-anchor:target+*{background:color-mix(in srgb,var(--accent) 15%,transparent)}
details.properties{margin:.5rem 0 1rem}details.properties summary{cursor:pointer;color:var(--muted)}
.backlinks{margin-top:2.5rem;border-top:1px solid var(--line)}.id{color:var(--muted);font-size:.82rem;overflow-wrap:anywhere}
form.search label{display:block;font-weight:600;margin:.5rem 0 .3rem}.row{display:flex;gap:.5rem}
input[type=search]{flex:1;min-width:0;font:inherit;padding:.55rem .7rem;border:1px solid var(--control);border-radius:.5rem;background:var(--card);color:var(--fg)}
button{font:inherit;padding:.55rem 1rem;border:0;border-radius:.5rem;background:var(--accent);color:var(--on-accent);cursor:pointer}
ol.results{padding-left:1.2rem}ol.results li{margin:0 0 1.1rem}ol.results p{margin:.2rem 0 0}.hit{font-weight:600;font-size:1.05rem}
.raw pre{max-height:24rem}
"#;
