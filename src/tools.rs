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
use crate::error::Result;
use crate::index::VaultIndex;
use crate::index::fetch::fetch;
use crate::index::search::{SearchOptions, search};
use crate::urls::{Target, UrlTemplate};

/// How citation URLs are made.
#[derive(Clone, Debug)]
pub struct Citations {
    pub template: UrlTemplate,
    pub public_url: String,
    pub vault_name: String,
}

impl Citations {
    /// Citations for the configured template, with `{public_url}` from `--public-url` or else
    /// `http://` + the address the server listens on.
    pub fn from_config(config: &Config, vault_name: &str) -> Result<Citations> {
        Citations::with_base(config, vault_name, config.base_url())
    }

    /// Citations with an explicit base URL (the actually bound address, e.g. after port 0).
    pub fn with_base(config: &Config, vault_name: &str, base_url: String) -> Result<Citations> {
        Ok(Citations {
            template: UrlTemplate::parse(&config.url_template)?,
            public_url: base_url,
            vault_name: vault_name.to_string(),
        })
    }

    pub fn url(&self, target: Target<'_>) -> String {
        self.template
            .render(&self.public_url, &self.vault_name, target)
    }
}

/// Everything a tool call needs, shared by all requests.
#[derive(Clone)]
pub struct Tools {
    pub index: VaultIndex,
    pub citations: Arc<Citations>,
    pub search: SearchOptions,
    /// Fetched text longer than this is cut, with `metadata.truncated: true`.
    pub max_fetch_bytes: Option<usize>,
}

impl Tools {
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
                json!({"id": hit.id, "title": hit.title, "url": url, "text": hit.text})
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
        Ok(json!({
            "id": fetched.id,
            "title": fetched.title,
            "text": fetched.text,
            "url": url,
            "metadata": Value::Object(fetched.metadata),
        }))
    }
}
