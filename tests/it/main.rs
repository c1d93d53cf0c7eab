//! The integration tests: one binary, as matklad recommends. Every test runs the real
//! `deepvault` binary on temporary vaults (or the shared corpora), over real sockets.

mod common;

/// `index`, `search`, `fetch`, config and errors on the command line.
mod cli;
/// `serve`: MCP over HTTP, legacy SSE and stdio; health, readiness and the Host guard.
mod mcp;
