//! `deepvault serve`: open the index, start the sync thread, and serve MCP over HTTP or stdio.
//!
//! The order matters for strict clients (Codex gives a server 10 s, some clients 1.5 s): the
//! index is opened (milliseconds), the socket is bound and MCP answers `initialize` and
//! `tools/list` at once, while the start-up reconcile runs on the sync thread. Until it has
//! committed, `search` answers from the last commit and `/readyz` says 503.
//!
//! The port is bound before anything is created: a `serve` that cannot listen (the port is in
//! use) leaves no index folder behind.
//!
//! One signal (SIGINT or SIGTERM) cancels a root token and raises the indexer's stop flag: HTTP
//! stops accepting, open streams end, a first index in progress stops between files, and the sync
//! thread commits what is done and releases the index. A second signal exits at once
//! ([`shutdown`]).
//!
//! # stdio mode serves no HTTP unless asked
//!
//! `serve --stdio` is started by clients (Codex, Claude Desktop), often several times, and the
//! user never sees it. It binds no port unless `--listen` is given on its command line (not from
//! the environment or the config file, which the user's own `serve` shares): taking the default
//! port behind the user's back made their own `deepvault serve` fail with "port in use", and let
//! a stale HTTP client entry keep working against a process it did not start. Citations must
//! still open something, so without pages they point at the note itself: `obsidian://` for an
//! Obsidian vault (a `.obsidian/` folder), `file://` otherwise. An explicit `url_template`, or a
//! `--public-url` whose pages another `serve` provides, is used as given.
//!
//! # Layout
//!
//! - this file: [`run`], the wiring of one `serve` process, and shutdown.
//! - `roles`: writer or follower of the index, and the take-over.
//! - [`mcp`]: the rmcp handler with the two tools.
//! - `stdio`: MCP over stdin/stdout.
//! - [`shutdown`]: signals; the first stops gracefully, the second at once.
//! - [`http`]: the axum router: `/mcp`, legacy SSE, pages, health.

pub mod http;
pub(crate) mod mcp;
mod roles;
pub(crate) mod shutdown;
mod stdio;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::live::status::Status;
use crate::service::audit::AuditLog;
use crate::service::citations::Citations;
use crate::service::tools::Tools;
use crate::vault::Vault;
use crate::vault::cancel::Cancel;
use http::auth::Auth;
use http::pages::PagesState;
use http::{AppState, guard::HostAllowList, router};
use mcp::VaultServer;
use roles::{Role, open_role, start_sync};
use stdio::serve_stdio;

/// How `serve` talks to its clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// MCP over HTTP at `listen`, with the note pages.
    Http,
    /// MCP over stdin/stdout; the note pages over HTTP only when `pages` (`--listen` given).
    Stdio { pages: bool },
}

impl Transport {
    fn binds(self) -> bool {
        matches!(self, Transport::Http | Transport::Stdio { pages: true })
    }
}

/// `deepvault serve`: opens the vault, then serves it over HTTP or stdio.
pub(crate) fn run(config: Config, transport: Transport) -> anyhow::Result<ExitCode> {
    let vault = Vault::open(&config.vault, &config.exclude)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("deepvault-rt")
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(config, vault, transport));
    // Over stdio, tokio's stdin reader may still wait in a blocking read: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    result
}

async fn serve(config: Config, vault: Vault, transport: Transport) -> anyhow::Result<ExitCode> {
    let stdio = matches!(transport, Transport::Stdio { .. });
    if transport.binds() {
        refuse_open_bind_without_auth(&config)?;
    }
    // The port first: a server that cannot listen creates nothing (no index folder, no log).
    let listener = match transport {
        Transport::Http => Some(bind(&config.listen).await?),
        // A client started this process: without its pages it still serves MCP.
        Transport::Stdio { pages: true } => match bind(&config.listen).await {
            Ok(listener) => Some(listener),
            Err(err) => {
                tracing::warn!("note pages are not served: {err:#}");
                None
            }
        },
        Transport::Stdio { pages: false } => None,
    };
    let audit = match &config.audit_log {
        Some(path) => AuditLog::open(path)
            .with_context(|| format!("cannot open the audit log {}", path.display()))?,
        None => AuditLog::default(),
    };
    let status = Arc::new(Status::new());
    let role = open_role(&config, &vault, &status).await?;
    let shutdown = CancellationToken::new();
    let cancel = Cancel::new();
    shutdown::spawn_on_signals(shutdown.clone(), cancel.clone());

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
    let citations = match address {
        Some(_) => Citations::with_base(&config, vault.name(), base_url)?,
        None => Citations::without_pages(&config, &vault)?,
    };
    let tools = Tools::new(&config, index, citations)?;
    let server = VaultServer::new(tools.clone(), Arc::clone(&status), vault.name())
        .with_timeout(config.limits.request_timeout)
        .with_audit(audit);
    let sync = start_sync(writer, &config, &vault, &status, &shutdown, &cancel);
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
        tracing::info!(
            vault = %vault.root().display(),
            "serving MCP over stdio; {}",
            match &address {
                Some(address) => format!("note pages at http://{address}/"),
                None => format!(
                    "no HTTP (pass --listen to serve note pages); citations are {}",
                    tools.citations.scheme()
                ),
            }
        );
        if let Some((listener, app)) = http {
            tokio::spawn(crate::server::http::serve(
                listener,
                app,
                shutdown.clone(),
                idle_timeout(&config),
            ));
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
    crate::server::http::serve(listener, app, shutdown, idle_timeout(&config)).await;
    tokio::task::spawn_blocking(move || sync.shutdown()).await?;
    Ok(ExitCode::SUCCESS)
}

/// The idle-connection timeout: never shorter than a request may take (plus a margin), so a
/// slow answer is not cut.
fn idle_timeout(config: &Config) -> std::time::Duration {
    config
        .limits
        .idle_timeout
        .max(config.limits.request_timeout + std::time::Duration::from_secs(5))
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
