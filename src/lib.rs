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
//! - `durable`: small state files written whole or not at all (temporary file, fsync, rename).
//! - [`vault`]: which files are documents (notes, canvases), the parallel walk, and the pure
//!   parsers: bytes → note; PDF text extraction, in worker processes. It takes no configuration,
//!   only arguments.
//! - [`config`]: flags over `DEEPVAULT_*` over `deepvault.toml` over defaults → [`config::Config`];
//!   the auth settings and the citation URL template it holds.
//! - [`index`]: the tantivy index: schema, analysis, the one writer, search with passages, fetch;
//!   and semantic search (`index::vectors`): the embedding model, chunk vectors, hybrid fusion.
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
//! [semantic]  commit ─changed ids─▶ embedding thread (own pool, low priority) ─chunks─▶ model
//!             ─int8 vectors─▶ vectors/ in the index folder ─snapshot─▶ searches
//! [requests]  MCP (HTTP /mcp, /sse, stdio), HTTP pages ─▶ service::Tools ─spawn_blocking─▶ searcher
//!             (+ query vector, fused with BM25) ─▶ typed hits with passages + citation URLs
//!             ─▶ redaction ─▶ the client
//! ```
//!
//! # Runtime roles
//!
//! - **Writer**: the one process holding `writer.lock` in the index folder. Its sync thread owns
//!   the tantivy `IndexWriter` (through [`index::writer::Indexer`]) and commits every change; its
//!   embedding thread (with semantic search on) is the one writer of the vectors.
//! - **Follower**: another `serve` on the same index (Codex and Claude Desktop each start one). It
//!   serves the committed index read-only and is ready once the writer's first full index is
//!   committed.
//! - **Take-over**: a follower tries the lock every 2 s and becomes the writer when the first
//!   process exits. `deepvault search` and `fetch` read alongside any of them.

#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
mod durable;
pub mod error;
pub mod index;
pub mod live;
pub mod server;
pub mod service;
pub mod vault;

pub use error::{Error, Result};

/// The layering above, checked: a module may use only the layers listed before its own.
#[cfg(test)]
mod layering {
    /// In order: each may use only those before it.
    const LAYERS: &[&str] = &[
        "error", "durable", "vault", "config", "index", "live", "service", "server", "cli",
    ];

    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn imports_point_only_downward() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut violations = Vec::new();
        for file in &files {
            let relative = file.strip_prefix(&src).unwrap();
            let top = relative
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            let Some(own) = LAYERS.iter().position(|l| *l == top) else {
                continue; // lib.rs, main.rs
            };
            let text = std::fs::read_to_string(file).unwrap();
            for (number, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue; // prose may name any module
                }
                for (at, _) in line.match_indices("crate::") {
                    let used: String = line[at + 7..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if let Some(layer) = LAYERS.iter().position(|l| *l == used)
                        && layer > own
                    {
                        violations.push(format!(
                            "{}:{}: {top} uses crate::{used}",
                            relative.display(),
                            number + 1
                        ));
                    }
                }
            }
        }
        assert!(
            violations.is_empty(),
            "imports pointing upward:\n{}",
            violations.join("\n")
        );
        assert!(files.len() > 30, "the source tree was not found");
    }
}
