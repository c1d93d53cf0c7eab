//! The integration tests: one binary, as matklad recommends. Every test runs the real
//! `deepvault` binary on vaults the tests write themselves, over real sockets. They need nothing
//! beside the checkout: no corpora, no network and no model weights.

mod common;

/// `index`, `search`, `fetch`, config and errors on the command line.
mod cli;
/// SIGKILL during a large first index, edits while down, restart: equals a fresh index.
mod crash;
/// Issue 19: `/files/<path>`: what is served, headers, ranges, access; `private_paths`.
mod files;
/// Issue 16: Ctrl-C mid-index, stdio without a port, empty folders, JSON errors, help, hints.
mod first_hour;
/// Hostile vaults and clients: FIFOs, symlink races, a recreated vault, HTTP/2 hosts, timeouts.
mod hostile;
/// `serve`: MCP over HTTP, legacy SSE and stdio; health, readiness and the Host guard.
mod mcp;
/// `models pull` from a local stand-in for the Hugging Face hub.
mod models;
/// The built-in OAuth authorization server: the ChatGPT sequence and every negative case.
mod oauth;
/// The vault as Obsidian shows it: comments, embeds, block ids, canvases, Excalidraw, fields.
mod obsidian;
/// Citations that open: note pages, URL templates, signed links, hostile HTML.
mod pages;
/// Issue 19: PDF extraction in worker processes: verdicts, a real crash, time and memory limits.
mod pdf;
/// Nothing secret leaves: secret kinds × places × channels, and private notes, on one server.
mod secrets;
/// Security and limits: safe defaults, tokens, OAuth, limits, audit log, bad input.
mod security;
/// Semantic search with a tiny random BERT: background embedding, modes, edits, kill -9,
/// `models pull` from a local stand-in for the hub.
mod semantic;
/// The live index: every kind of vault change while serving, restarts, polling, the lock.
mod watch;
