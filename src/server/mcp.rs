//! The MCP server: exactly two read-only tools, `search` and `fetch`, in the shape OpenAI's
//! connectors and deep research require.
//!
//! Each result is one text content item holding the JSON plus the same object as
//! `structuredContent` ([`CallToolResult::structured`]). Failures the model should see (unknown
//! id, a missing argument) are `isError: true` results with a message that helps; they never
//! take the server down. Tantivy work runs on the blocking pool, never on the async runtime.
//! Everything a call returns, results and error messages alike, is [`Redacted`]; an internal
//! failure reaches the client as a short message with an error id, its detail only the log.
//! The same handler serves streamable HTTP, the legacy SSE transport and stdio.

use std::sync::Arc;
use std::time::Instant;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Extensions, Implementation, ServerCapabilities, ServerConfig,
};
use rmcp::{ErrorData as McpError, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::Value;

use crate::error::Error;
use crate::live::status::Status;
use crate::service::audit::{AuditEntry, AuditLog, logged_argument};
use crate::service::client::ClientId;
use crate::service::redact::Redacted;
use crate::service::tools::{FetchResponse, SearchResponse, Tools};

/// Arguments of `search`. Deserialization accepts anything so that a wrong type or a missing
/// field becomes a tool error that helps, not a bare serde message; the schema says what is
/// expected.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchArgs {
    #[serde(default)]
    pub(crate) query: Value,
}

/// Arguments of `fetch`.
#[derive(Debug, Deserialize)]
pub(crate) struct FetchArgs {
    #[serde(default)]
    pub(crate) id: Value,
}

const QUERY_DESCRIPTION: &str = "What to look for: a natural-language question or keywords. \
    Optional syntax: \"exact phrase\", -exclude, tag:name, path:folder/, title:word, and \
    key:value for a note property or inline field (status:done, author:\"Ada Lovelace\"; \
    -key:value excludes).";
const ID_DESCRIPTION: &str = "The id of a note, exactly as returned by `search` (a \
    vault-relative path such as `Projects/Plan.md`, or a canvas such as `Boards/Plan.canvas`). \
    Append `#Heading` to fetch one section, or `#^id` to fetch one block.";

fn one_string_argument(name: &str, description: &str) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "properties": { name: { "type": "string", "description": description } },
        "required": [name],
    })
}

impl schemars::JsonSchema for SearchArgs {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SearchArgs".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        one_string_argument("query", QUERY_DESCRIPTION)
    }
}

impl schemars::JsonSchema for FetchArgs {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FetchArgs".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        one_string_argument("id", ID_DESCRIPTION)
    }
}

/// Shared state of every MCP session.
#[derive(Clone)]
pub(crate) struct VaultServer {
    tools: Tools,
    status: Arc<Status>,
    vault_name: String,
    /// How long a call waits for the first index before answering from what is committed.
    first_index_wait: std::time::Duration,
    /// A tool call that takes longer fails with a timeout.
    timeout: std::time::Duration,
    audit: AuditLog,
    /// `http`, `sse` or `stdio`, for the audit log.
    transport: &'static str,
    /// Who this session is when the request itself does not say (stdio, a legacy SSE stream).
    client: Option<String>,
    tool_router: ToolRouter<VaultServer>,
}

impl VaultServer {
    pub(crate) fn new(tools: Tools, status: Arc<Status>, vault_name: &str) -> VaultServer {
        VaultServer {
            tools,
            status,
            vault_name: vault_name.to_string(),
            first_index_wait: std::time::Duration::from_secs(5),
            timeout: std::time::Duration::from_secs(30),
            audit: AuditLog::default(),
            transport: "http",
            client: None,
            tool_router: Self::tool_router(),
        }
    }

    /// Tool calls time out after `timeout`.
    pub(crate) fn with_timeout(mut self, timeout: std::time::Duration) -> VaultServer {
        self.timeout = timeout;
        self
    }

    /// Tool calls are written to `audit`.
    pub(crate) fn with_audit(mut self, audit: AuditLog) -> VaultServer {
        self.audit = audit;
        self
    }

    /// This copy serves one session of `transport` for `client` (stdio, a legacy SSE stream).
    pub(crate) fn for_session(
        &self,
        transport: &'static str,
        client: Option<String>,
    ) -> VaultServer {
        let mut server = self.clone();
        server.transport = transport;
        server.client = client;
        server
    }

    /// A tool error for a call that came while the first index is still being built.
    fn still_indexing(&self, what: &str) -> String {
        let progress = match self.status.progress() {
            Some((done, total)) => format!(" ({done} of {total} notes read so far)"),
            None => String::new(),
        };
        format!(
            "{what}, but the index of this vault is still being built{progress}; try again in a few seconds"
        )
    }

    fn instructions(&self) -> String {
        format!(
            "This server is deepvault: read-only access to \"{vault}\", a folder of Markdown notes. \
             Call `search` with a natural-language question or a few keywords; it returns up to \
             {limit} notes, best first, each with an `id`, a `title`, a citation `url` and `text`, \
             the passage that matched. Then call `fetch` with an `id` to read the whole note as \
             Markdown, with metadata (tags, aliases, headings, links and backlinks as ids you can \
             fetch in turn); embedded notes are inlined as quotes naming their source. Use \
             `Note.md#Heading` to fetch one section, `Note.md#^id` one block. Search again with \
             other words when results are thin: matching is lexical. Optional query syntax: \
             \"exact phrase\", -exclude, tag:name, path:folder/, title:word, key:value (a \
             property or inline field, e.g. status:done). Cite each note you use by its `url`.",
            vault = self.vault_name,
            limit = self.tools.search.limit,
        )
    }
}

/// A string argument, or the message that says what was wrong with it.
fn string_argument(value: Value, name: &str, example: &str) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s),
        Value::Null => Err(format!(
            "`{name}` is missing; pass a string, e.g. {{\"{name}\": \"{example}\"}}"
        )),
        other => Err(format!(
            "`{name}` must be a string, not {}; e.g. {{\"{name}\": \"{example}\"}}",
            json_type(&other)
        )),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// How a tool call ended, for the audit log.
struct Outcome {
    result: CallToolResult,
    label: &'static str,
    ids: Vec<String>,
}

impl Outcome {
    /// A successful call: the response as `structuredContent` and as one text item.
    fn ok<T: serde::Serialize>(response: &Redacted<T>, ids: Vec<String>) -> Outcome {
        Outcome {
            result: CallToolResult::structured(
                serde_json::to_value(response).expect("responses serialize"),
            ),
            label: "ok",
            ids,
        }
    }

    /// An error the model sees (`isError: true`).
    fn error(label: &'static str, message: Redacted<String>) -> Outcome {
        Outcome {
            result: CallToolResult::error(vec![ContentBlock::text(message.to_string())]),
            label,
            ids: Vec::new(),
        }
    }
}

impl VaultServer {
    /// The client behind a call: the HTTP request's identity, else this session's.
    fn client_of(&self, extensions: &Extensions) -> String {
        extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<ClientId>())
            .map(|client| client.0.clone())
            .or_else(|| self.client.clone())
            .unwrap_or_else(|| "anonymous".into())
    }

    /// Runs blocking tool work with the request timeout.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(Tools) -> crate::Result<T> + Send + 'static,
    ) -> Result<crate::Result<T>, &'static str> {
        let tools = self.tools.clone();
        match tokio::time::timeout(
            self.timeout,
            tokio::task::spawn_blocking(move || work(tools)),
        )
        .await
        {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(join)) => {
                tracing::error!("a tool task failed: {join}");
                Err("error")
            }
            Err(_) => Err("timeout"),
        }
    }

    /// An error outcome, its message redacted like any response.
    fn error(&self, label: &'static str, message: String) -> Outcome {
        Outcome::error(label, self.tools.redacted(message))
    }

    async fn run_search(&self, query: Value) -> Outcome {
        let query = match string_argument(query, "query", "how do I brew pour-over coffee") {
            Ok(query) => query,
            Err(message) => return self.error("bad_argument", message),
        };
        if query.trim().is_empty() {
            return Outcome::ok(&self.tools.redacted(SearchResponse::default()), Vec::new());
        }
        let ready = self.status.wait_ready(self.first_index_wait).await;
        match self.blocking(move |tools| tools.search(&query)).await {
            // An empty answer from a half-built index would read as "nothing matches".
            Ok(Ok(response)) if !ready && response.results.is_empty() => {
                self.error("still_indexing", self.still_indexing("no note matches yet"))
            }
            Ok(Ok(response)) => {
                let ids = response.results.iter().map(|hit| hit.id.clone()).collect();
                Outcome::ok(&response, ids)
            }
            Ok(Err(err)) => self.error("error", internal_error("search", &err)),
            Err("timeout") => self.error(
                "timeout",
                format!(
                    "search took longer than {} s; try a shorter query",
                    self.timeout.as_secs()
                ),
            ),
            Err(label) => self.error(label, "search failed unexpectedly; please try again".into()),
        }
    }

    async fn run_fetch(&self, id: Value) -> Outcome {
        let id = match string_argument(id, "id", "Projects/Plan.md") {
            Ok(id) => id,
            Err(message) => return self.error("bad_argument", message),
        };
        let ready = self.status.wait_ready(self.first_index_wait).await;
        match self.blocking(move |tools| tools.fetch(&id)).await {
            Ok(Ok(response)) => {
                let ids = vec![response.id.clone()];
                Outcome::ok(&response, ids)
            }
            Ok(Err(err @ Error::NoteNotFound { .. })) if !ready => {
                self.error("still_indexing", self.still_indexing(&err.to_string()))
            }
            // Its suggestions are ids from the index (never of a private note), redacted with
            // the rest of the message.
            Ok(Err(err @ Error::NoteNotFound { .. })) => self.error("not_found", err.to_string()),
            Ok(Err(err)) => self.error("error", internal_error("fetch", &err)),
            Err("timeout") => self.error(
                "timeout",
                format!("fetch took longer than {} s", self.timeout.as_secs()),
            ),
            Err(label) => self.error(label, "fetch failed unexpectedly; please try again".into()),
        }
    }

    fn audit(
        &self,
        tool: &'static str,
        arguments: Value,
        client: String,
        started: Instant,
        outcome: &Outcome,
    ) {
        self.audit.record(AuditEntry {
            client,
            transport: self.transport,
            tool,
            arguments,
            result_ids: outcome.ids.clone(),
            duration: started.elapsed(),
            outcome: outcome.label,
        });
    }
}

/// The message a client gets when a tool fails inside: short, with an id that finds the detail
/// in the server log. The detail (which may name paths or internal types) stays in the log.
fn internal_error(tool: &str, err: &Error) -> String {
    let error_id = crate::error::error_id();
    tracing::error!(%error_id, "{tool} failed: {err}");
    format!(
        "{tool} failed on the server (error id {error_id}); please try again, and report the id if it persists"
    )
}

/// The argument as the audit log shows it.
fn logged(value: &Value) -> Value {
    match value {
        Value::String(text) => logged_argument(text),
        other => logged_argument(&other.to_string()),
    }
}

#[tool_router]
impl VaultServer {
    #[tool(
        name = "search",
        description = "Search the notes. Takes a natural-language question or keywords; returns \
                       {\"results\": [{\"id\", \"title\", \"url\", \"text\"}]}, best first, where \
                       `text` is the passage that matched and `url` is the citation link. Optional \
                       syntax: \"exact phrase\", -exclude, tag:name, path:folder/, title:word, \
                       and key:value to filter on a note property (frontmatter) or Dataview \
                       inline field, e.g. status:done or author:\"Ada\" (-key:value excludes; a \
                       key no note has is read as words).",
        output_schema = rmcp::handler::server::common::schema_for_output::<SearchResponse>(),
        annotations(
            title = "Search notes",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn search(
        &self,
        Parameters(args): Parameters<SearchArgs>,
        extensions: Extensions,
    ) -> Result<CallToolResult, McpError> {
        let started = Instant::now();
        let client = self.client_of(&extensions);
        let arguments = serde_json::json!({"query": logged(&args.query)});
        let outcome = self.run_search(args.query).await;
        self.audit("search", arguments, client, started, &outcome);
        Ok(outcome.result)
    }

    #[tool(
        name = "fetch",
        description = "Fetch one note by the `id` that `search` returned. Returns {\"id\", \
                       \"title\", \"text\", \"url\", \"metadata\"}: the full Markdown of the note \
                       (without frontmatter or %%comments%%; a canvas rendered as Markdown), with \
                       each embedded note inlined as a quote that names its source id, its \
                       citation url, and metadata with path, kind, tags, aliases, frontmatter, \
                       inline fields, headings, links, backlinks, created, modified and size. \
                       `Note.md#Heading` returns one section, `Note.md#^id` one block.",
        output_schema = rmcp::handler::server::common::schema_for_output::<FetchResponse>(),
        annotations(
            title = "Fetch a note",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn fetch(
        &self,
        Parameters(args): Parameters<FetchArgs>,
        extensions: Extensions,
    ) -> Result<CallToolResult, McpError> {
        let started = Instant::now();
        let client = self.client_of(&extensions);
        let arguments = serde_json::json!({"id": logged(&args.id)});
        let outcome = self.run_fetch(args.id).await;
        self.audit("fetch", arguments, client, started, &outcome);
        Ok(outcome.result)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for VaultServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("deepvault", env!("CARGO_PKG_VERSION")).with_title("deepvault"),
            )
            .with_instructions(self.instructions())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::index::writer::{Indexer, IndexerSettings};
    use crate::service::citations::Citations;
    use crate::vault::Vault;

    /// A search during the first index never reads as "nothing matches".
    #[tokio::test]
    async fn search_while_indexing_says_so() {
        let vault_dir = tempfile::tempdir().unwrap();
        let index_dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(vault_dir.path(), &[]).unwrap();
        let (indexer, _) =
            Indexer::open(vault, index_dir.path(), IndexerSettings::default()).unwrap();
        let config = Config::load_with_env(&Default::default(), &Default::default()).unwrap();
        let citations = Citations::from_config(&config, "v").unwrap();
        let tools = Tools::new(&config, indexer.index().clone(), citations).unwrap();
        let status = Arc::new(Status::new());
        status.set_progress(10, 500);
        let mut server = VaultServer::new(tools, Arc::clone(&status), "v");
        server.first_index_wait = std::time::Duration::from_millis(20);
        let args = || {
            Parameters(SearchArgs {
                query: Value::from("anything"),
            })
        };
        let result = server.search(args(), Extensions::default()).await.unwrap();
        assert_eq!(result.is_error, Some(true));
        let text = result.content[0].as_text().unwrap().text.clone();
        assert!(
            text.contains("still being built (10 of 500 notes"),
            "{text}"
        );
        let fetched = server
            .fetch(
                Parameters(FetchArgs {
                    id: Value::from("a.md"),
                }),
                Extensions::default(),
            )
            .await
            .unwrap();
        assert!(
            fetched.content[0]
                .as_text()
                .unwrap()
                .text
                .contains("still being built")
        );

        status.set_ready();
        let result = server.search(args(), Extensions::default()).await.unwrap();
        assert_eq!(result.is_error, Some(false));
        assert_eq!(
            result.structured_content,
            Some(serde_json::json!({"results": []}))
        );
    }
}
