//! deepvault: a read-only deep-research connector for a folder of Markdown notes.
//!
//! It keeps a tantivy index of a vault (an Obsidian vault, a docs repository, a digital garden)
//! current while the files change, and serves it over MCP with exactly the two tools OpenAI
//! requires, `search` and `fetch`, each result carrying a citation URL.
//!
//! # Components
//!
//! - [`config`]: flags over `DEEPVAULT_*` over `deepvault.toml` over defaults → [`config::Config`].
//! - [`vault`]: which files are notes ([`vault::rules`]), the parallel walk ([`vault::walk`]), and
//!   the pure parser ([`vault::parse`]) that turns bytes into a [`vault::note::Note`].
//! - [`index`]: the tantivy schema and analyzer, the [`index::writer::Indexer`] (sole owner of the
//!   `IndexWriter` and of the manifest), search with passages, fetch with links and backlinks.
//! - [`sync`]: the live loop: watcher events and periodic reconciles in, batched commits out.
//! - [`tools`]: `search` and `fetch` as the exact JSON the tools return; [`urls`] renders
//!   citation URLs from the configured template.
//! - [`mcp`]: the MCP server handler (rmcp) with the two tools; [`http`]: the axum router with
//!   `/mcp`, the legacy `/sse` transport, note pages, `/healthz` and `/readyz`.
//! - [`serve`]: wiring for `deepvault serve`; [`cli`]: the other commands.
//!
//! # Data flow
//!
//! ```text
//! [start-up]  vault ─walk─▶ diff against the manifest ─changed files─▶ parse (2 threads) ─▶ Indexer
//! [serving]   vault ─notify─▶ sync loop (debounce, batch) ─paths─▶ Indexer ─commit─▶ reader reload
//! [requests]  MCP (HTTP /mcp, /sse, stdio) and HTTP pages ─▶ Tools ─spawn_blocking─▶ searcher
//!             ─▶ hits with passages + citation URLs
//! ```
//!
//! Only one process writes an index (a lock file in the index folder); `deepvault search` and
//! `deepvault fetch` read it alongside a running server.

pub mod audit;
pub mod cli;
pub mod config;
pub mod connect;
pub mod error;
pub mod http;
pub mod index;
pub mod logging;
pub mod mcp;
pub mod redact;
pub mod render;
pub mod serve;
pub mod signing;
pub mod status;
pub mod sync;
pub mod tools;
pub mod urls;
pub mod vault;
pub mod watch;

pub use error::{Error, Result};
