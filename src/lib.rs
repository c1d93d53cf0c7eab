//! deepvault: a read-only deep-research connector for a folder of Markdown notes.
//!
//! It keeps a tantivy index of a vault (an Obsidian vault, a docs repository, a digital garden)
//! current while the files change, and serves it over MCP with exactly the two tools OpenAI
//! requires, `search` and `fetch`, each result carrying a citation URL.
//!
//! # Layout
//!
//! The modules are layers; each uses only those listed above it.
//!
//! - [`error`]: the library's error type, which names the path or id it concerns.
//! - [`config`]: flags over `DEEPVAULT_*` over `deepvault.toml` over defaults → [`config::Config`];
//!   the auth settings and the citation URL template it holds.
//! - [`vault`]: which files are notes, the parallel walk, and the pure parser: bytes → note.
//! - [`index`]: the tantivy index: schema, analysis, the one writer, search with passages, fetch.
//! - [`live`]: keeping the index current: the sync thread, the watcher, and the status it reports.
//! - [`service`]: what a request gets: typed `search`/`fetch` responses, citations, redaction,
//!   the audit log.
//! - [`server`]: the transports: MCP over HTTP (rmcp + axum), legacy SSE and stdio; note pages.
//! - [`cli`]: the commands; arguments become config overrides.
//!
//! # Data flow
//!
//! ```text
//! [start-up]  vault ─walk─▶ diff against the manifest ─changed files─▶ parse (2 threads) ─▶ Indexer
//! [serving]   vault ─notify─▶ live sync thread (debounce, batch) ─paths─▶ Indexer ─commit─▶ reader
//! [requests]  MCP (HTTP /mcp, /sse, stdio), HTTP pages ─▶ service::Tools ─spawn_blocking─▶ searcher
//!             ─▶ typed hits with passages + citation URLs ─▶ redaction ─▶ the client
//! ```
//!
//! # Runtime roles
//!
//! - **Writer**: the one process holding `writer.lock` in the index folder. Its sync thread owns
//!   the tantivy `IndexWriter` (through [`index::writer::Indexer`]) and commits every change.
//! - **Follower**: another `serve` on the same index (Codex and Claude Desktop each start one). It
//!   serves the committed index read-only and is ready once the writer's first full index is
//!   committed.
//! - **Take-over**: a follower tries the lock every 2 s and becomes the writer when the first
//!   process exits. `deepvault search` and `fetch` read alongside any of them.

#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod error;
pub mod index;
pub mod live;
pub mod server;
pub mod service;
pub mod vault;

pub use error::{Error, Result};
