//! MCP over stdin/stdout, for clients that start the server themselves (Codex CLI, Claude
//! Desktop). stdout carries only the protocol; logs go to stderr.

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::mcp::VaultServer;

/// Serves one session until the client closes stdin or `shutdown` is cancelled (a signal).
pub(crate) async fn serve_stdio(
    server: VaultServer,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let running = tokio::select! {
        running = server.serve(rmcp::transport::stdio()) => running.context("MCP initialization over stdio failed")?,
        _ = shutdown.cancelled() => return Ok(()),
    };
    tokio::select! {
        result = running.waiting() => { result.context("the stdio session failed")?; }
        _ = shutdown.cancelled() => {}
    }
    Ok(())
}
