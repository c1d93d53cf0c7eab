//! `deepvault serve`: open the index, start the sync thread, and serve MCP over HTTP or stdio.
//!
//! The order matters for strict clients (Codex gives a server 10 s, some clients 1.5 s): the
//! index is opened (milliseconds), the socket is bound and MCP answers `initialize` and
//! `tools/list` at once, while the start-up reconcile runs on the sync thread. Until it has
//! committed, `search` answers from the last commit and `/readyz` says 503.
//!
//! One signal (SIGINT or SIGTERM) cancels a root token: HTTP stops accepting, open streams end,
//! the sync thread commits what is pending and releases the index.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditLog;
use crate::cli::ServeArgs;
use crate::config::Config;
use crate::error::Error;
use crate::http::auth::Auth;
use crate::http::pages::PagesState;
use crate::http::{AppState, guard::HostAllowList, router};
use crate::index::writer::{Indexer, IndexerSettings};
use crate::index::{OpenOutcome, VaultIndex};
use crate::mcp::VaultServer;
use crate::status::Status;
use crate::tools::{Citations, Tools};
use crate::vault::Vault;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut overrides = args.common.overrides(args.vault);
    overrides.listen = args.listen;
    if args.poll {
        overrides.poll = Some(true);
    }
    if args.insecure_no_auth {
        overrides.insecure_no_auth = Some(true);
    }
    overrides.audit_log = args.audit_log;
    let config = Config::load(&overrides)?;
    let vault = Vault::open(&config.vault, &config.exclude)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("deepvault-rt")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config, vault, args.stdio))
}

/// Settings of the long-running indexer.
fn serve_settings(config: &Config) -> IndexerSettings {
    IndexerSettings {
        privacy: config.privacy.clone(),
        max_file_bytes: config.max_file_bytes,
        ..IndexerSettings::default()
    }
}

/// Who keeps the index current.
enum Role {
    /// This process writes the index.
    Writer(Box<Indexer>),
    /// Another process writes it; this one serves it read-only and takes over when it stops.
    Follower(Box<VaultIndex>),
}

/// Opens the index as its writer, or, when another deepvault process writes it (a second
/// `serve --stdio` that Codex or Claude Desktop started, say), as a follower of that process.
async fn open_role(config: &Config, vault: &Vault, status: &Arc<Status>) -> anyhow::Result<Role> {
    let opened = {
        let (vault, dir, settings) = (
            vault.clone(),
            config.index_dir.clone(),
            serve_settings(config),
        );
        tokio::task::spawn_blocking(move || Indexer::open(vault, &dir, settings)).await?
    };
    match opened {
        Ok((indexer, outcome)) => {
            match &outcome {
                OpenOutcome::Rebuilt(reason) => {
                    tracing::warn!(
                        "rebuilding the index at {}: {reason}",
                        config.index_dir.display()
                    );
                    status.set_rebuilt(reason);
                }
                OpenOutcome::Created => {
                    tracing::info!("creating the index at {}", config.index_dir.display())
                }
                OpenOutcome::Opened => {}
            }
            status.set_notes(indexer.note_count());
            Ok(Role::Writer(Box::new(indexer)))
        }
        Err(Error::IndexLocked { holder, .. }) => {
            // The writer creates a missing index within milliseconds; give it a moment.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            let index = loop {
                if let Some(index) = VaultIndex::open_following(&config.index_dir, vault.root())? {
                    break index;
                }
                if std::time::Instant::now() > deadline {
                    anyhow::bail!(
                        "the index at {} is locked by another deepvault process{holder} that has not created it\n\nhint: stop that process, or pass --index-dir to use a separate index",
                        config.index_dir.display()
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            tracing::info!(
                "another deepvault process{holder} keeps this index current; serving it read-only, and taking over if it stops"
            );
            status.set_watcher(&format!("following another process{holder}"));
            status.set_notes(index.searcher().num_docs() as usize);
            status.set_phase("following");
            if index.is_complete() {
                status.set_ready();
            } else {
                wait_for_first_index(index.clone(), Arc::clone(status));
            }
            Ok(Role::Follower(Box::new(index)))
        }
        Err(err) => Err(err.into()),
    }
}

/// A follower of an index whose first full index is still being built becomes ready once the
/// writer commits it (or once this process takes over and builds it itself), so that it never
/// answers from a half-built index as if that were the vault.
fn wait_for_first_index(index: VaultIndex, status: Arc<Status>) {
    tokio::spawn(async move {
        while !status.is_ready() {
            let probe = index.clone();
            // The reader follows commits on its own, but with a delay: load the commit that
            // says "complete" now, so the first search after ready sees it.
            let complete =
                tokio::task::spawn_blocking(move || probe.is_complete() && probe.reload().is_ok())
                    .await
                    .unwrap_or(false);
            if complete {
                status.set_notes(index.searcher().num_docs() as usize);
                status.set_ready();
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

/// The sync thread: started at once by a writer, or once a follower takes over.
struct SyncSlot(Arc<std::sync::Mutex<Option<crate::sync::SyncHandle>>>);

impl SyncSlot {
    fn shutdown(self) {
        let handle = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            handle.shutdown();
        }
    }
}

/// Starts syncing now (writer), or keeps trying to take the writer lock (follower).
fn start_sync(
    writer: Option<Indexer>,
    config: &Config,
    vault: &Vault,
    status: &Arc<Status>,
    shutdown: &CancellationToken,
) -> SyncSlot {
    let slot = Arc::new(std::sync::Mutex::new(None));
    if let Some(indexer) = writer {
        let handle = crate::sync::start(indexer, config.watch.clone(), Arc::clone(status));
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        return SyncSlot(slot);
    }
    let slot_task = Arc::clone(&slot);
    let (config, vault, status, shutdown) = (
        config.clone(),
        vault.clone(),
        Arc::clone(status),
        shutdown.clone(),
    );
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            let (vault, dir, settings) = (
                vault.clone(),
                config.index_dir.clone(),
                serve_settings(&config),
            );
            let opened =
                tokio::task::spawn_blocking(move || Indexer::open(vault, &dir, settings)).await;
            match opened {
                Ok(Ok((indexer, _))) => {
                    tracing::info!(
                        "the other deepvault process stopped; this one now keeps the index current"
                    );
                    let handle =
                        crate::sync::start(indexer, config.watch.clone(), Arc::clone(&status));
                    *slot_task.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
                    return;
                }
                Ok(Err(Error::IndexLocked { .. })) => continue,
                Ok(Err(err)) => tracing::warn!("cannot take over the index: {err}"),
                Err(_) => return,
            }
        }
    });
    SyncSlot(slot)
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
    let citations = Citations::with_base(&config, vault.name(), base_url)?;
    let tools = Tools::new(&config, index, citations)?;
    let server = VaultServer::new(tools.clone(), Arc::clone(&status), vault.name())
        .with_timeout(config.limits.request_timeout)
        .with_audit(audit);
    let sync = start_sync(writer, &config, &vault, &status, &shutdown);
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
            tokio::spawn(crate::http::serve(listener, app, shutdown.clone()));
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
        "deepvault {} serving {} at http://{}/mcp (index: {}{})",
        env!("CARGO_PKG_VERSION"),
        vault.root().display(),
        address.map(|a| a.to_string()).unwrap_or_default(),
        config.index_dir.display(),
        if auth.is_enabled() { ", auth on" } else { "" }
    );
    let signal_token = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        signal_token.cancel();
    });
    crate::http::serve(listener, app, shutdown).await;
    tokio::task::spawn_blocking(move || sync.shutdown()).await?;
    Ok(ExitCode::SUCCESS)
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

async fn serve_stdio(server: VaultServer, shutdown: CancellationToken) -> anyhow::Result<()> {
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
pub async fn shutdown_signal() {
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
