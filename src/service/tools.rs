//! The two tools, `search` and `fetch`, as the JSON objects OpenAI specifies. The CLI (`--json`),
//! the MCP server and the HTTP search page all call these, so they return exactly the same thing.
//!
//! - `search` → `{"results":[{"id","title","url","text"}]}`, best first.
//! - `fetch` → `{"id","title","text","url","metadata"}`.
//!
//! Every `url` is rendered by the configured [`UrlTemplate`] and is never empty.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::config::Config;
use crate::config::url_template::Target;
use crate::error::Result;
use crate::index::VaultIndex;
use crate::index::fetch::fetch;
use crate::index::search::{SearchOptions, search};
use crate::service::citations::Citations;
use crate::service::redact::Redactor;

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
            },
            max_fetch_bytes: Some(config.limits.max_fetch_bytes),
            redactor: Arc::new(Redactor::new(
                config.redact_defaults,
                &config.redact_patterns,
            )?),
        })
    }

    /// Secrets in `text` replaced (see [`Redactor`]).
    pub(crate) fn redact<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        self.redactor.redact(text)
    }

    /// `search`: never an error for any query string; an empty query gives no results.
    pub fn search(&self, query: &str) -> Result<Value> {
        let searcher = self.index.searcher();
        let hits = search(&self.index, &searcher, query, &self.search)?;
        let results: Vec<Value> = hits
            .into_iter()
            .map(|hit| {
                let url = self.citations.url(Target {
                    id: &hit.id,
                    anchor: hit.section.as_ref().map(|s| s.anchor.as_str()),
                    heading: hit.section.as_ref().map(|s| s.heading.as_str()),
                    line: hit.section.as_ref().map(|s| s.line),
                });
                json!({
                    "id": hit.id,
                    "title": self.redact(&hit.title),
                    "url": url,
                    "text": self.redact(&hit.text),
                })
            })
            .collect();
        Ok(json!({ "results": results }))
    }

    /// `fetch`: the note (or `Note.md#Heading` section) with this id; an unknown id is
    /// [`crate::Error::NoteNotFound`].
    pub fn fetch(&self, id: &str) -> Result<Value> {
        let searcher = self.index.searcher();
        let fetched = fetch(&self.index, &searcher, id, self.max_fetch_bytes)?;
        let url = self.citations.url(Target {
            id: &fetched.id,
            anchor: fetched.section.as_ref().map(|s| s.0.as_str()),
            heading: fetched.section.as_ref().map(|s| s.1.as_str()),
            line: fetched.section.as_ref().map(|s| s.2),
        });
        let mut metadata = fetched.metadata;
        if let Some(Value::Object(frontmatter)) = metadata.get_mut("frontmatter") {
            redact_values(frontmatter.values_mut(), &self.redactor);
        }
        Ok(json!({
            "id": fetched.id,
            "title": self.redact(&fetched.title),
            "text": self.redact(&fetched.text),
            "url": url,
            "metadata": Value::Object(metadata),
        }))
    }
}

/// Redacts every string inside JSON values.
fn redact_values<'a>(values: impl Iterator<Item = &'a mut Value>, redactor: &Redactor) {
    for value in values {
        match value {
            Value::String(s) => {
                if let std::borrow::Cow::Owned(clean) = redactor.redact(s) {
                    *s = clean;
                }
            }
            Value::Array(items) => redact_values(items.iter_mut(), redactor),
            Value::Object(map) => redact_values(map.values_mut(), redactor),
            _ => {}
        }
    }
}
