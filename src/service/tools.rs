//! The two tools, `search` and `fetch`, as the typed responses OpenAI's shapes describe. The CLI
//! (`--json`), the MCP server and the HTTP pages all call these, so they return exactly the same
//! thing; the MCP server derives each tool's `outputSchema` from these types.
//!
//! - `search` → [`SearchResponse`]: `{"results":[{"id","title","url","text"}]}`, best first.
//! - `fetch` → [`FetchResponse`]: `{"id","title","text","url","metadata"}`.
//!
//! Every `url` is rendered by the configured citation template and is never empty. Both come back
//! [`Redacted`]: every string of the finished response went through the redaction patterns, and
//! a fetched text is cut to `max_fetch_bytes` only after that.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::url_template::Target;
use crate::config::{Config, SearchMode};
use crate::error::Result;
use crate::index::VaultIndex;
pub(crate) use crate::index::fetch::FetchMetadata;
use crate::index::fetch::fetch;
use crate::index::search::{SearchOptions, search};
use crate::index::vectors::{Progress, Semantic};
use crate::service::citations::Citations;
use crate::service::redact::Redacted;
use crate::vault::redact::Redactor;

/// What `search` returns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchResponse {
    /// The notes that match, best first.
    pub results: Vec<SearchHit>,
}

/// One note that matches a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchHit {
    /// The note's id, for `fetch`: its vault-relative path.
    pub id: String,
    pub title: String,
    /// The citation URL, opening the note at the matching section.
    pub url: String,
    /// The passage that matched, plain text.
    pub text: String,
}

/// What `fetch` returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FetchResponse {
    /// The id that was fetched (a `Note.md#Heading` id names the note).
    pub id: String,
    pub title: String,
    /// The note's Markdown without its frontmatter, or the one section asked for.
    pub text: String,
    /// The citation URL.
    pub url: String,
    pub(crate) metadata: FetchMetadata,
}

/// Everything a tool call needs, shared by all requests.
#[derive(Clone)]
pub struct Tools {
    pub(crate) index: VaultIndex,
    pub(crate) citations: Arc<Citations>,
    pub(crate) search: SearchOptions,
    /// Fetched text longer than this is cut, with `metadata.truncated: true`.
    pub(crate) max_fetch_bytes: Option<usize>,
    /// Applied to everything that leaves the server.
    pub(crate) redactor: Arc<Redactor>,
}

impl Tools {
    /// The tools for a configuration: limits, passage length and redaction from the config.
    pub fn new(config: &Config, index: VaultIndex, citations: Citations) -> Result<Tools> {
        Ok(Tools {
            index,
            citations: Arc::new(citations),
            search: SearchOptions {
                limit: config.max_results,
                snippet_chars: config.snippet_chars,
                max_query_chars: config.limits.max_query_chars,
                ranking: crate::index::search::Ranking::from_env()?,
                mode: config.search_mode,
                semantic: None,
                fuzzy: Default::default(),
            },
            max_fetch_bytes: Some(config.limits.max_fetch_bytes),
            redactor: Arc::new(Redactor::new(
                config.redact_defaults,
                &config.redact_patterns,
            )?),
        })
    }

    /// Uses this redactor (the one notes were read with, so that `/readyz` counts both ends).
    pub(crate) fn with_redactor(mut self, redactor: Arc<Redactor>) -> Tools {
        self.redactor = redactor;
        self
    }

    /// `value`, every string of it redacted: what may leave the server.
    pub(crate) fn redacted<T: Serialize + serde::de::DeserializeOwned>(
        &self,
        value: T,
    ) -> Redacted<T> {
        Redacted::new(value, &self.redactor)
    }

    /// The same tools with semantic search (`None`: lexical only).
    pub fn with_semantic(mut self, semantic: Option<Arc<Semantic>>) -> Tools {
        self.search.semantic = semantic;
        self
    }

    /// The configured search mode.
    pub(crate) fn mode(&self) -> SearchMode {
        self.search.mode
    }

    /// Whether semantic search is on.
    pub(crate) fn has_semantic(&self) -> bool {
        self.search.semantic.is_some()
    }

    /// How far embedding is, when semantic search is on.
    pub(crate) fn semantic_progress(&self) -> Option<Progress> {
        let semantic = self.search.semantic.as_ref()?;
        Some(semantic.progress(Some(&self.index.searcher())))
    }

    /// `search`: never an error for any query string; an empty query gives no results.
    pub fn search(&self, query: &str) -> Result<Redacted<SearchResponse>> {
        self.search_options(query, &self.search)
    }

    /// `search` in another mode than the configured one (the CLI's `--mode`, the search page).
    pub fn search_in(&self, query: &str, mode: SearchMode) -> Result<Redacted<SearchResponse>> {
        if mode == self.search.mode {
            return self.search(query);
        }
        let options = SearchOptions {
            mode,
            ..self.search.clone()
        };
        self.search_options(query, &options)
    }

    fn search_options(
        &self,
        query: &str,
        options: &SearchOptions,
    ) -> Result<Redacted<SearchResponse>> {
        let searcher = self.index.searcher();
        let hits = search(&self.index, &searcher, query, options)?;
        tracing::debug!(
            mode = options.mode.name(),
            hits = hits.len(),
            top_score = hits.first().map(|h| h.score),
            "search"
        );
        let results = hits
            .into_iter()
            .map(|hit| {
                let url = self.citations.url(Target {
                    id: &hit.id,
                    anchor: hit.section.as_ref().map(|s| s.anchor.as_str()),
                    heading: hit.section.as_ref().map(|s| s.heading.as_str()),
                    line: hit.section.as_ref().map(|s| s.line),
                });
                SearchHit {
                    title: hit.title,
                    text: hit.text,
                    id: hit.id,
                    url,
                }
            })
            .collect();
        Ok(self.redacted(SearchResponse { results }))
    }

    /// `fetch`: the note (or `Note.md#Heading` section) with this id; an unknown id is
    /// [`crate::Error::NoteNotFound`].
    pub fn fetch(&self, id: &str) -> Result<Redacted<FetchResponse>> {
        let searcher = self.index.searcher();
        let fetched = fetch(&self.index, &searcher, id, self.max_fetch_bytes)?;
        let url = self.citations.url(Target {
            id: &fetched.id,
            anchor: fetched.section.as_ref().map(|s| s.0.as_str()),
            heading: fetched.section.as_ref().map(|s| s.1.as_str()),
            line: fetched.section.as_ref().map(|s| s.2),
        });
        let response = FetchResponse {
            title: fetched.title,
            text: fetched.text,
            id: fetched.id,
            url,
            metadata: fetched.metadata,
        };
        // Redacted first, then cut: a secret cut in two would be too short to be recognised.
        let max = self.max_fetch_bytes;
        Ok(self.redacted(response).cut(|response| {
            if let Some(max) = max
                && response.text.len() > max
            {
                let mut cut = max;
                while !response.text.is_char_boundary(cut) {
                    cut -= 1;
                }
                response.text.truncate(cut);
                response.metadata.truncated = true;
            }
        }))
    }
}
