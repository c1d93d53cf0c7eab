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
//! - `builtin_auth`: the built-in OAuth server's start-up check and wiring.
//! - [`mcp`]: the rmcp handler with the two tools.
//! - `stdio`: MCP over stdin/stdout.
//! - [`shutdown`]: signals; the first stops gracefully, the second at once.
//! - [`http`]: the axum router: `/mcp`, legacy SSE, pages, health.

mod builtin_auth;
pub mod http;
pub(crate) mod mcp;
mod roles;
pub(crate) mod shutdown;
mod stdio;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, PagesMode};
use crate::index::vectors::Semantic;
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
use roles::{OpenedVault, Role, open_role, start_sync};
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
    let vault = config.open_vault()?;
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
        refuse_to_publish_without_auth(&config)?;
        builtin_auth::refuse_without_passphrase(&config)?;
    }
    // One redactor for both ends: notes as they are read, and every response.
    let ingest = config.ingest()?;
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
        Some(path) => AuditLog::open(path, Arc::clone(ingest.redactor()))
            .with_context(|| format!("cannot open the audit log {}", path.display()))?,
        None => AuditLog::default(),
    };
    let status = Arc::new(Status::new());
    // A configured model must exist before anything is served (the model itself loads later,
    // in the background).
    let semantic = Semantic::from_config(&config)?;
    let role = open_role(&config, &vault, &ingest, &status).await?;
    let shutdown = CancellationToken::new();
    let cancel = Cancel::new();
    shutdown::spawn_on_signals(shutdown.clone(), cancel.clone());
    remind_when_open(&config, shutdown.clone());

    let address = listener.as_ref().and_then(|l| l.local_addr().ok());
    let base_url = match (&config.public_url, address) {
        (Some(url), _) => url.clone(),
        (None, Some(address)) => format!("http://{address}"),
        (None, None) => config.base_url(),
    };
    let index = role.served();
    if matches!(role, Role::Follower(_))
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
    let oauth = builtin_auth::open(&config, &base_url, &audit)?;
    let citations = match address {
        Some(_) => Citations::with_base(&config, vault.name(), base_url)?,
        None => Citations::without_pages(&config, &vault)?,
    };
    let tools = Tools::new(&config, index, citations)?
        .with_redactor(Arc::clone(ingest.redactor()))
        .with_semantic(semantic.clone());
    let server = VaultServer::new(tools.clone(), Arc::clone(&status), vault.name())
        .with_timeout(config.limits.request_timeout)
        .with_audit(audit);
    let opened = OpenedVault {
        config: &config,
        ingest: &ingest,
        vault: &vault,
        status: &status,
    };
    let sync = start_sync(role, &opened, &shutdown, &cancel, semantic.clone());
    let mut auth = Auth::new(config.auth.tokens.clone(), config.auth.oauth.clone());
    if let Some(oauth) = &oauth {
        auth = auth.with_builtin(oauth.clone());
    }
    let auth = Arc::new(auth);

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
            vault: vault.clone(),
            auth: Arc::clone(&auth),
            oauth: oauth.clone(),
            limits: config.limits.clone(),
        };
        (listener, router(state))
    });

    if stdio {
        tracing::info!("{}", semantic_line(&config, semantic.as_deref()));
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
    // Printed on stderr for humans and for tests that pass --listen 127.0.0.1:0: the part up to
    // `/mcp` is what scripts parse (`serving .* at http://127.0.0.1:PORT/mcp`).
    eprintln!(
        "deepvault {} serving {} at http://{}/mcp (public URL: {}; auth: {}; pages: {}; index: {}{})",
        env!("CARGO_PKG_VERSION"),
        vault.root().display(),
        address.map(|a| a.to_string()).unwrap_or_default(),
        config.public_url.as_ref().map_or_else(
            || "none, loopback only".to_string(),
            |url| format!("{url}/mcp")
        ),
        config.auth.describe(),
        pages_mode(config.pages),
        config.index_dir.display(),
        config
            .source
            .as_ref()
            .map(|file| format!("; config: {}", file.display()))
            .unwrap_or_default(),
    );
    if oauth.is_some() {
        eprintln!("{}", builtin_auth::banner(&config, oauth.as_ref()));
    }
    eprintln!("{}", semantic_line(&config, semantic.as_deref()));
    crate::server::http::serve(listener, app, shutdown, idle_timeout(&config)).await;
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

/// The idle-connection timeout: never shorter than a request may take (plus a margin), so a
/// slow answer is not cut.
fn idle_timeout(config: &Config) -> std::time::Duration {
    config
        .limits
        .idle_timeout
        .max(config.limits.request_timeout + std::time::Duration::from_secs(5))
}

/// Serving the vault beyond this machine without auth would hand it to anyone who can reach it:
/// `serve` refuses unless `--insecure-no-auth` says that is meant. Beyond this machine means a
/// listen address other than loopback, or a public URL naming another host (the usual tunnel or
/// reverse proxy in front of a loopback server). The one place that decides it.
fn refuse_to_publish_without_auth(config: &Config) -> anyhow::Result<()> {
    if config.auth.is_enabled() || config.auth.insecure_no_auth {
        return Ok(());
    }
    let Some(exposure) = exposure(config) else {
        return Ok(());
    };
    let last_resort = match exposure {
        Exposure::Listen(_) => {
            "  - listen on loopback only (the default, 127.0.0.1:8765) behind a tunnel or proxy that authenticates\n  - or pass --insecure-no-auth if you really mean an open server (a private network, say)"
        }
        Exposure::PublicUrl(_) => {
            "  - or pass --insecure-no-auth if the tunnel or proxy at that address authenticates by itself, or you really mean an open server"
        }
    };
    anyhow::bail!(
        "refusing to serve the vault {exposure} without authentication: anyone who can reach that address could read every note\n\nhint: choose one of\n  - static bearer tokens (Codex, the Responses API): DEEPVAULT_TOKENS=$(openssl rand -hex 32) deepvault serve ...\n  - OAuth (ChatGPT): the built-in server (deepvault auth passphrase, then --auth builtin), or oauth_issuer in deepvault.toml\n{last_resort}"
    )
}

/// How the vault would be reachable from beyond this machine.
#[derive(Debug, PartialEq, Eq)]
enum Exposure {
    /// A listen address other than loopback.
    Listen(String),
    /// A public URL naming a host other than loopback.
    PublicUrl(String),
}

impl std::fmt::Display for Exposure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exposure::Listen(listen) => write!(f, "on {listen}"),
            Exposure::PublicUrl(url) => write!(f, "at {url}"),
        }
    }
}

fn exposure(config: &Config) -> Option<Exposure> {
    if !is_loopback(&config.listen) {
        return Some(Exposure::Listen(config.listen.clone()));
    }
    config
        .public_url
        .as_ref()
        .filter(|url| !url_is_loopback(url))
        .map(|url| Exposure::PublicUrl(url.clone()))
}

/// How often `--insecure-no-auth` is said again while serving.
const OPEN_REMINDER: std::time::Duration = std::time::Duration::from_secs(3600);

/// `--insecure-no-auth` without auth: a warning at start, and every hour until shutdown.
fn remind_when_open(config: &Config, shutdown: CancellationToken) {
    if !config.auth.insecure_no_auth || config.auth.is_enabled() {
        return;
    }
    let reach = exposure(config).map_or_else(
        || "this machine".to_string(),
        |exposure| {
            exposure
                .to_string()
                .split_once(' ')
                .map_or(String::new(), |(_, a)| a.to_string())
        },
    );
    tokio::spawn(every(OPEN_REMINDER, shutdown, move || {
        tracing::warn!(
            "serving without authentication (--insecure-no-auth): anyone who can reach {reach} can read every note"
        )
    }));
}

/// Calls `say` now and then every `period`, until `shutdown`.
async fn every(period: std::time::Duration, shutdown: CancellationToken, say: impl Fn()) {
    let mut ticks = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = ticks.tick() => say(),
            _ = shutdown.cancelled() => return,
        }
    }
}

/// The auth mode, for the start-up line.
fn pages_mode(mode: PagesMode) -> &'static str {
    match mode {
        PagesMode::Public => "public",
        PagesMode::Signed => "signed links",
        PagesMode::Token => "token",
    }
}

/// True when a URL's host is loopback: `localhost` (and `*.localhost`), `127.0.0.0/8`, `::1`.
fn url_is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn config(listen: &str, public_url: Option<&str>, env: &[(&str, &str)]) -> Config {
        let mut overrides = Overrides::default();
        overrides.values.listen = Some(listen.into());
        overrides.values.public_url = public_url.map(String::from);
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load_with_env(&overrides, &env).unwrap()
    }

    #[test]
    fn loopback_urls() {
        for url in [
            "http://127.0.0.1:8765",
            "http://localhost",
            "https://notes.localhost/",
            "http://[::1]:9000/x",
            "http://user@127.0.0.2:1",
        ] {
            assert!(url_is_loopback(url), "{url}");
        }
        for url in [
            "https://my-tunnel.example.com",
            "https://x.example",
            "http://192.168.1.5:8765",
            "https://localhost.example.com",
            "http://[2001:db8::1]:80",
        ] {
            assert!(!url_is_loopback(url), "{url}");
        }
    }

    /// A public URL without auth is the usual way to publish a vault by accident. Built-in OAuth
    /// is then the default auth, so the server is never open: it refuses to start until the owner
    /// has set a passphrase, and names the ways forward.
    #[test]
    fn a_public_url_without_auth_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().display().to_string();
        let public = config(
            "127.0.0.1:8765",
            Some("https://my-tunnel.example.com"),
            &[("DEEPVAULT_INDEX_DIR", &index)],
        );
        assert!(public.auth.builtin && public.auth.is_enabled());
        let err = builtin_auth::refuse_without_passphrase(&public)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("for https://my-tunnel.example.com, but no passphrase is set"),
            "{err}"
        );
        for way in [
            "deepvault auth passphrase",
            "DEEPVAULT_TOKENS",
            "oauth_issuer",
            "--insecure-no-auth",
        ] {
            assert!(err.contains(way), "{way} missing: {err}");
        }
        assert!(refuse_to_publish_without_auth(&config("127.0.0.1:8765", None, &[])).is_ok());
        assert!(
            refuse_to_publish_without_auth(&config(
                "127.0.0.1:8765",
                Some("http://localhost:8765"),
                &[]
            ))
            .is_ok()
        );
        for env in [
            ("DEEPVAULT_TOKENS", "a-token-of-sixteen-chars"),
            ("DEEPVAULT_INSECURE_NO_AUTH", "true"),
            ("DEEPVAULT_OAUTH_ISSUER", "https://issuer.example"),
        ] {
            let config = config("127.0.0.1:8765", Some("https://x.example"), &[env]);
            assert!(refuse_to_publish_without_auth(&config).is_ok(), "{env:?}");
        }
        let err = refuse_to_publish_without_auth(&config("0.0.0.0:8765", None, &[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("on 0.0.0.0:8765"), "{err}");
    }

    #[test]
    fn banner_modes() {
        let open = config("0.0.0.0:1", None, &[("DEEPVAULT_INSECURE_NO_AUTH", "1")]);
        assert_eq!(open.auth.describe(), "none (--insecure-no-auth)");
        assert_eq!(pages_mode(open.pages), "public");
        let tokens = config(
            "127.0.0.1:1",
            None,
            &[("DEEPVAULT_TOKENS", "a-token-of-sixteen-chars")],
        );
        assert_eq!(tokens.auth.describe(), "1 static token(s)");
        assert_eq!(pages_mode(tokens.pages), "signed links");
    }

    /// The reminder is said at start and once an hour, until shutdown.
    #[tokio::test(start_paused = true)]
    async fn the_open_server_reminder_repeats_every_hour() {
        let said = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let shutdown = CancellationToken::new();
        let counter = Arc::clone(&said);
        let task = tokio::spawn(every(OPEN_REMINDER, shutdown.clone(), move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
        tokio::time::sleep(std::time::Duration::from_secs(2 * 3600 + 60)).await;
        assert_eq!(said.load(std::sync::atomic::Ordering::SeqCst), 3);
        shutdown.cancel();
        task.await.unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(3 * 3600)).await;
        assert_eq!(said.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
