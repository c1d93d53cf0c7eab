//! `deepvault serve`: open the index, start the sync thread, and serve MCP over HTTP or stdio.
//!
//! The order matters for strict clients (Codex gives a server 10 s, some clients 1.5 s): the
//! index is opened (milliseconds), the socket is bound and MCP answers `initialize` and
//! `tools/list` at once, while the start-up reconcile runs on the sync thread. Until it has
//! committed, `search` answers from the last commit and `/readyz` says 503.
//!
//! One signal (SIGINT or SIGTERM) cancels a root token: HTTP stops accepting, open streams end,
//! the sync thread commits what is pending and releases the index.

//!
//! # Layout
//!
//! - this file: [`run`], the wiring of one `serve` process, and shutdown.
//! - `roles`: writer or follower of the index, and the take-over.
//! - [`mcp`]: the rmcp handler with the two tools.
//! - `stdio`: MCP over stdin/stdout.
//! - [`http`]: the axum router: `/mcp`, legacy SSE, pages, health.

pub mod http;
pub(crate) mod mcp;
mod roles;
mod stdio;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::index::vectors::Semantic;
use crate::live::status::Status;
use crate::service::audit::AuditLog;
use crate::service::citations::Citations;
use crate::service::tools::Tools;
use crate::vault::Vault;
use http::auth::Auth;
use http::pages::PagesState;
use http::{AppState, guard::HostAllowList, router};
use mcp::VaultServer;
use roles::{Role, open_role, start_sync};
use stdio::serve_stdio;

/// `deepvault serve`: opens the vault, then serves it over HTTP, or over stdio when `stdio`.
pub(crate) fn run(config: Config, stdio: bool) -> anyhow::Result<ExitCode> {
    let vault = Vault::open(&config.vault, &config.exclude)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("deepvault-rt")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config, vault, stdio))
}

async fn serve(config: Config, vault: Vault, stdio: bool) -> anyhow::Result<ExitCode> {
    if !stdio {
        refuse_open_bind_without_auth(&config)?;
    }
    let audit = match &config.audit_log {
        Some(path) => AuditLog::open(path)
            .with_context(|| format!("cannot open the audit log {}", path.display()))?,
        None => AuditLog::default(),
    };
    let status = Arc::new(Status::new());
    // A configured model must exist before anything is served (the model itself loads later,
    // in the background).
    let semantic = Semantic::from_config(&config)?;
    let role = open_role(&config, &vault, &status).await?;
    let shutdown = CancellationToken::new();

    // Over stdio, HTTP still serves the note pages that citations link to, if the port is free.
    let listener = if stdio {
        match bind(&config.listen).await {
            Ok(listener) => Some(listener),
            Err(err) => {
                tracing::warn!("note pages are not served: {err:#}");
                None
            }
        }
    } else {
        Some(bind(&config.listen).await?)
    };
    let address = listener.as_ref().and_then(|l| l.local_addr().ok());
    let base_url = match (&config.public_url, address) {
        (Some(url), _) => url.clone(),
        (None, Some(address)) => format!("http://{address}"),
        (None, None) => config.base_url(),
    };
    let (index, writer) = match role {
        Role::Writer(indexer) => (indexer.index().clone(), Some(*indexer)),
        Role::Follower(index) => (*index, None),
    };
    if writer.is_none()
        && let Some(semantic) = &semantic
    {
        // A follower reads the vectors the writer makes; it needs the model for queries.
        let semantic = Arc::clone(semantic);
        std::thread::Builder::new()
            .name("deepvault-model".into())
            .spawn(move || {
                if let Err(err) = semantic.follow() {
                    tracing::warn!("semantic search is off: {err}");
                }
            })
            .context("cannot start a thread")?;
    }
    let citations = Citations::with_base(&config, vault.name(), base_url)?;
    let tools = Tools::new(&config, index, citations)?.with_semantic(semantic.clone());
    let server = VaultServer::new(tools.clone(), Arc::clone(&status), vault.name())
        .with_timeout(config.limits.request_timeout)
        .with_audit(audit);
    let sync = start_sync(
        writer,
        &config,
        &vault,
        &status,
        &shutdown,
        semantic.clone(),
    );
    let auth = Arc::new(Auth::new(
        config.auth.tokens.clone(),
        config.auth.oauth.clone(),
    ));

    let http = listener.map(|listener| {
        let hosts = HostAllowList::new(
            &listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            config.public_url.as_deref(),
            &config.allowed_hosts,
        );
        let state = AppState {
            server: server.clone(),
            status: Arc::clone(&status),
            hosts,
            shutdown: shutdown.clone(),
            pages: PagesState {
                tools: tools.clone(),
                status: Arc::clone(&status),
                vault_name: vault.name().to_string(),
                mode: config.pages,
                signer: tools.citations.signer.clone(),
                auth: Arc::clone(&auth),
            },
            auth: Arc::clone(&auth),
            limits: config.limits.clone(),
        };
        (listener, router(state))
    });

    if stdio {
        tracing::info!(vault = %vault.root().display(), "serving MCP over stdio");
        if let Some((listener, app)) = http {
            tokio::spawn(crate::server::http::serve(listener, app, shutdown.clone()));
        }
        let served = serve_stdio(
            server.for_session("stdio", Some("stdio".into())),
            shutdown.clone(),
        )
        .await;
        shutdown.cancel();
        tokio::task::spawn_blocking(move || sync.shutdown()).await?;
        served?;
        return Ok(ExitCode::SUCCESS);
    }

    let (listener, app) = http.expect("bound above");
    // Printed on stderr for humans and for tests that pass --listen 127.0.0.1:0.
    eprintln!(
        "deepvault {} serving {} at http://{}/mcp (index: {}{}{})",
        env!("CARGO_PKG_VERSION"),
        vault.root().display(),
        address.map(|a| a.to_string()).unwrap_or_default(),
        config.index_dir.display(),
        config
            .source
            .as_ref()
            .map(|file| format!(", config: {}", file.display()))
            .unwrap_or_default(),
        if auth.is_enabled() { ", auth on" } else { "" }
    );
    eprintln!("{}", semantic_line(&config, semantic.as_deref()));
    let signal_token = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        signal_token.cancel();
    });
    crate::server::http::serve(listener, app, shutdown).await;
    tokio::task::spawn_blocking(move || sync.shutdown()).await?;
    Ok(ExitCode::SUCCESS)
}

/// What `serve` says about semantic search: which model and mode, or how to turn it on.
fn semantic_line(config: &Config, semantic: Option<&Semantic>) -> String {
    match semantic {
        Some(semantic) => format!(
            "semantic search on: {} ({}), {} search; notes are embedded in the background on {} thread{}, lexical results meanwhile",
            semantic.model().name,
            semantic.model().path.display(),
            config.search_mode.name(),
            config.semantic.as_ref().map_or(1, |s| s.threads),
            if config.semantic.as_ref().is_some_and(|s| s.threads == 1) { "" } else { "s" },
        ),
        None => "semantic search off (lexical only); to search by meaning too, run `deepvault models pull` once, then serve with --embedding-model all-MiniLM-L6-v2 (or set embedding_model)".to_string(),
    }
}

/// Binding beyond loopback without auth would hand the vault to anyone who can reach the port.
fn refuse_open_bind_without_auth(config: &Config) -> anyhow::Result<()> {
    if is_loopback(&config.listen) || config.auth.is_enabled() || config.auth.insecure_no_auth {
        return Ok(());
    }
    anyhow::bail!(
        "refusing to serve the vault on {} without authentication: anyone who can reach that address could read every note\n\nhint: choose one of\n  - static bearer tokens (Codex, the Responses API): DEEPVAULT_TOKENS=$(openssl rand -hex 32) deepvault serve ...\n  - OAuth (ChatGPT): set oauth_issuer (and --public-url) in deepvault.toml\n  - listen on loopback only (the default, 127.0.0.1:8765) behind a tunnel or proxy that authenticates\n  - or pass --insecure-no-auth if you really mean an open server (a private network, say)",
        config.listen
    )
}

/// `127.0.0.1:…`, `localhost:…`, `[::1]:…`
fn is_loopback(listen: &str) -> bool {
    let host = listen
        .rsplit_once(':')
        .map_or(listen, |(host, _)| host)
        .trim_matches(['[', ']']);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn bind(listen: &str) -> anyhow::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => Ok(listener),
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "cannot listen on {listen}: the port is in use (another deepvault serve?)\n\nhint: stop the other process, or pass --listen with another port, e.g. --listen 127.0.0.1:8766"
        ),
        Err(err) => Err(err).with_context(|| {
            format!("cannot listen on {listen}\n\nhint: pass --listen HOST:PORT with an address of this machine")
        }),
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
