//! MCP over stdin/stdout, for clients that start the server themselves (Codex CLI, Claude
//! Desktop). stdout carries only the protocol; logs go to stderr.

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::mcp::VaultServer;
use super::shutdown_signal;

pub(crate) async fn serve_stdio(
    server: VaultServer,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let running = tokio::select! {
        running = server.serve(rmcp::transport::stdio()) => running.context("MCP initialization over stdio failed")?,
        _ = shutdown_signal() => return Ok(()),
    };
    tokio::select! {
        result = running.waiting() => { result.context("the stdio session failed")?; }
        _ = shutdown_signal() => { shutdown.cancel(); }
    }
    Ok(())
}
