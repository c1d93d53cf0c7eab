//! The HTTP server: one axum router for MCP and the web.
//!
//! | route                     | what                                                        |
//! |---------------------------|-------------------------------------------------------------|
//! | `/mcp`                    | MCP streamable HTTP (rmcp), stateless, SSE response bodies   |
//! | `/sse`, `/messages`       | the legacy 2024-11-05 HTTP+SSE transport ([`sse`])           |
//! | `/healthz`                | the process is up                                           |
//! | `/readyz`                 | 200 once the index has caught up with the vault, else 503;  |
//! |                           | `semantic` says how far embedding is (never holds `ready`)  |
//! | `/notes/{path}`           | a note as HTML: the default citation target ([`pages`])      |
//! | `/files/{path}`           | a vault file as it is (a PDF, an attachment a note embeds),  |
//! |                           | under the note pages' access rules ([`files`])               |
//! | `/`                       | index status and a search box ([`pages`])                    |
//!
//! | `/.well-known/oauth-protected-resource[/mcp]` | RFC 9728 metadata when OAuth is on |
//! | `/.well-known/oauth-authorization-server`, `/register`, `/authorize`, `/token`, `/revoke` | the built-in authorization server ([`oauth`]), with `auth = "builtin"` |
//!
//! Every route sits behind the Host/Origin allow-list ([`guard`]), and reads its body whole
//! within the body limit and the request timeout ([`limit::read_body`]). MCP routes need
//! credentials when auth is on ([`auth`]) and are rate-limited per client ([`limit`]), the
//! search page and note pages too; pages decide access themselves (signed links). At `/mcp`,
//! [`jsonrpc`] answers malformed JSON and batches as JSON-RPC says. Every connection is closed
//! after `idle_timeout_secs` without a byte ([`conn`]), and request headers must arrive within
//! 10 s. The authorization server's routes are open (they are how a client gets credentials)
//! and rate-limited like the pages.
//!
//! # Layout
//!
//! - this file: the router and the accept loop ([`serve`]).
//! - [`auth`], [`guard`], [`limit`]: who may ask, from which host, how much and how fast.
//! - [`conn`]: the idle-connection timeout; [`jsonrpc`]: JSON-RPC errors and batches at `/mcp`.
//! - [`pages`], [`html`]: the web pages; [`files`]: vault files as they are; [`sse`]: the legacy SSE transport; [`error`]: one
//!   error response for every route.
//! - [`oauth`]: the built-in OAuth 2.1 authorization server (`auth = "builtin"`).

pub(crate) mod auth;
pub(crate) mod conn;
pub(crate) mod error;
pub(crate) mod files;
pub(crate) mod guard;
pub mod html;
pub(crate) mod jsonrpc;
pub(crate) mod limit;
pub(crate) mod oauth;
pub mod pages;
pub(crate) mod sse;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;

use crate::config::Limits;
use error::AppError;

use crate::live::status::Status;
use crate::server::mcp::VaultServer;

/// What the routes share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) server: VaultServer,
    pub(crate) status: Arc<Status>,
    pub(crate) hosts: guard::HostAllowList,
    pub(crate) shutdown: CancellationToken,
    pub(crate) pages: pages::PagesState,
    /// The vault `/files` opens files in.
    pub(crate) vault: crate::vault::Vault,
    pub(crate) auth: Arc<auth::Auth>,
    /// The built-in authorization server, when `auth = "builtin"`.
    pub(crate) oauth: Option<oauth::AuthServer>,
    pub(crate) limits: Limits,
}

/// Builds the router.
pub(crate) fn router(state: AppState) -> Router {
    let mcp_config = StreamableHttpServerConfig::default()
        // Host and Origin are checked for every route by `guard`, the same way.
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_legacy_session_mode(false)
        .with_json_response(false)
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        .with_max_request_body_bytes(state.limits.max_body_bytes)
        .with_cancellation_token(state.shutdown.child_token());
    let server = state.server.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        mcp_config,
    );
    let sse_state = sse::SseState {
        server: state.server.clone(),
        sessions: sse::Sessions::default(),
        shutdown: state.shutdown.clone(),
    };
    let legacy = Router::new()
        .route("/sse", get(sse::open))
        .route("/sse/", get(sse::open))
        .route("/messages", post(sse::post))
        .route("/messages/", post(sse::post))
        .with_state(sse_state);
    // MCP needs credentials (when auth is on) and is rate-limited per client; the limiter runs
    // after authentication so that it knows who the client is. Pages share the client's budget
    // (keyed by peer address unless a token names the client).
    let limiter = limit::RateLimiter::new(state.limits.rate_limit_per_minute);
    // Bodies are read after authentication and the rate limiter, so that an anonymous client
    // cannot make the server hold bodies it will refuse.
    let body_limits = limit::BodyLimits {
        max_bytes: state.limits.max_body_bytes,
        deadline: state.limits.request_timeout,
    };
    let mcp_routes = Router::new()
        .route("/mcp", axum::routing::any(jsonrpc::front))
        .route("/mcp/", axum::routing::any(jsonrpc::front))
        .with_state(mcp)
        // rmcp's own plain-text refusals become short messages with an error id.
        .layer(axum::middleware::from_fn(error::plain_mcp_errors));
    let protected = Router::new()
        .merge(mcp_routes)
        .merge(legacy)
        .layer(axum::middleware::from_fn_with_state(
            body_limits,
            limit::read_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limiter.clone(),
            limit::limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.auth),
            auth::require,
        ));
    let files = Router::new()
        .route("/files/{*path}", get(files::file))
        .with_state(files::FilesState {
            pages: state.pages.clone(),
            vault: state.vault.clone(),
            names: Arc::new(files::FileNamesCache::new(files::FILE_NAMES_TTL)),
        });
    let mut web = Router::new()
        .route("/", get(pages::home))
        .route("/notes/{*path}", get(pages::note))
        .with_state(state.pages.clone())
        .merge(files);
    if let Some(oauth) = &state.oauth {
        web = web.merge(oauth.router());
    }
    let web = web
        .layer(axum::middleware::from_fn_with_state(
            body_limits,
            limit::read_body,
        ))
        .layer(axum::middleware::from_fn_with_state(limiter, limit::limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.limits.request_timeout,
        ));
    let open = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/.well-known/oauth-protected-resource",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(resource_metadata),
        )
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            body_limits,
            limit::read_body,
        ));
    Router::new()
        .merge(protected)
        .merge(web)
        .merge(open)
        .layer(axum::middleware::from_fn_with_state(
            state.limits.max_body_bytes,
            limit::oversize_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.hosts.clone(),
            guard::check_host,
        ))
}

/// Serves `app` until `shutdown` is cancelled: HTTP/1 and HTTP/2, with the peer address for the
/// rate limiter, a 10 s limit on reading request headers so slow clients (slow loris) cannot
/// hold connections open, and `idle` after which a connection that moved no byte is closed
/// (one that never sends anything included). Requests in flight get 5 s to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
    idle: Duration,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::Service;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    builder.http2().timer(TokioTimer::new());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait a little instead of spinning.
                    tracing::warn!("cannot accept a connection: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        // Small responses must not wait for the peer's delayed ACK (Nagle): ~40 ms each.
        let _ = stream.set_nodelay(true);
        let Ok(tower_service) = make_service.call(peer).await;
        let service = hyper_util::service::TowerToHyperService::new(tower_service);
        let stream = conn::IdleTimeout::new(stream, idle);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, "connection ended: {err}");
            }
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(5)) => {
            tracing::warn!("some connections did not close within 5 s");
        }
    }
}

/// `GET /.well-known/oauth-protected-resource[/mcp]`: RFC 9728 metadata, when OAuth is on.
async fn resource_metadata(State(state): State<AppState>) -> Response {
    match state.auth.resource_metadata() {
        Some(metadata) => Json(metadata).into_response(),
        None => AppError::client(
            StatusCode::NOT_FOUND,
            "this server does not use OAuth; static bearer tokens or no auth",
        )
        .into_response(),
    }
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// `GET /readyz`: 200 when the index has caught up with the vault and can be trusted to follow
/// it, else 503 with the reasons. With auth on, counts and errors are for authenticated callers
/// only; anyone else learns whether the server is ready. Either body is redacted like a
/// response, and names no path.
async fn readyz(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> impl IntoResponse {
    let authenticated = !state.auth.is_enabled()
        || matches!(state.auth.check(&headers).await, auth::Verdict::Allowed(_));
    let body = if authenticated {
        let mut body = state.status.to_json();
        body["redactions"] = state.pages.tools.redactor.count().into();
        let tools = state.pages.tools.clone();
        body["semantic"] = tokio::task::spawn_blocking(move || tools.semantic_progress())
            .await
            .ok()
            .flatten()
            .map(|mut progress| {
                // The reason may name the model's folder: it is in the server log.
                if progress.error.is_some() {
                    progress.error =
                        Some("the model failed to load; the server log says why".into());
                }
                progress
            })
            .and_then(|progress| serde_json::to_value(progress).ok())
            .unwrap_or(serde_json::Value::Null);
        body
    } else {
        state.status.to_public_json()
    };
    let code = if state.status.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(state.pages.tools.redacted(body)))
}

/// Fast HTTP behaviour, in process: the router driven with `oneshot`, no socket. The behaviour
/// that needs real connections (timeouts, HTTP/2, streaming) is tested over sockets in
/// `tests/it`.
#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::{Request, header};
    use tower::ServiceExt;

    use super::*;
    use crate::config::{Config, ConfigLayer, Overrides};
    use crate::index::writer::{CommitTrigger, Indexer, IndexerSettings};
    use crate::service::citations::Citations;
    use crate::service::tools::Tools;
    use crate::vault::Vault;

    /// A router over a one-note vault, with `layer` applied to the configuration.
    fn app(layer: ConfigLayer) -> (Router, Arc<Status>, tempfile::TempDir, tempfile::TempDir) {
        let vault_dir = tempfile::tempdir().unwrap();
        let index_dir = tempfile::tempdir().unwrap();
        std::fs::write(vault_dir.path().join("a.md"), "# Alpha\nalpha words\n").unwrap();
        let overrides = Overrides {
            config: None,
            values: ConfigLayer {
                vault: Some(vault_dir.path().to_path_buf()),
                index_dir: Some(index_dir.path().to_path_buf()),
                ..layer
            },
        };
        let config = Config::load_with_env(&overrides, &Default::default()).unwrap();
        let vault = Vault::open(&config.vault, &[]).unwrap();
        let (mut indexer, _) =
            Indexer::open(vault.clone(), index_dir.path(), IndexerSettings::default()).unwrap();
        indexer.reconcile(None).unwrap();
        indexer.commit(CommitTrigger::Command).unwrap();
        let citations = Citations::from_config(&config, vault.name()).unwrap();
        let tools = Tools::new(&config, indexer.index().clone(), citations).unwrap();
        let status = Arc::new(Status::new());
        let auth = Arc::new(auth::Auth::new(
            config.auth.tokens.clone(),
            config.auth.oauth.clone(),
        ));
        let state = AppState {
            server: VaultServer::new(tools.clone(), Arc::clone(&status), vault.name()),
            status: Arc::clone(&status),
            hosts: guard::HostAllowList::new(&config.listen, None, &[]),
            shutdown: CancellationToken::new(),
            pages: pages::PagesState {
                tools: tools.clone(),
                status: Arc::clone(&status),
                vault_name: vault.name().to_string(),
                mode: config.pages,
                signer: tools.citations.signer.clone(),
                auth: Arc::clone(&auth),
            },
            vault: vault.clone(),
            auth,
            limits: config.limits.clone(),
            oauth: None,
        };
        indexer.close().unwrap();
        (router(state), status, vault_dir, index_dir)
    }

    fn get(path: &str, host: &str) -> Request<Body> {
        let mut request = Request::get(path)
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        // What `serve` adds for every connection: the rate limiter keys on it.
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        request
    }

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn health_readiness_and_the_host_guard() {
        let (app, status, _vault, _index) = app(ConfigLayer::default());
        let healthz = app
            .clone()
            .oneshot(get("/healthz", "127.0.0.1"))
            .await
            .unwrap();
        assert_eq!(healthz.status(), StatusCode::OK);
        let readyz = app
            .clone()
            .oneshot(get("/readyz", "localhost"))
            .await
            .unwrap();
        assert_eq!(readyz.status(), StatusCode::SERVICE_UNAVAILABLE);
        status.set_ready();
        let readyz = app
            .clone()
            .oneshot(get("/readyz", "localhost"))
            .await
            .unwrap();
        assert_eq!(readyz.status(), StatusCode::OK);
        let evil = app
            .oneshot(get("/healthz", "evil.example.com"))
            .await
            .unwrap();
        assert_eq!(evil.status(), StatusCode::FORBIDDEN);
        assert!(body(evil).await.contains("--public-url"));
    }

    #[tokio::test]
    async fn pages_render_known_notes_and_refuse_unknown_ones() {
        let (app, _status, _vault, _index) = app(ConfigLayer::default());
        let page = app
            .clone()
            .oneshot(get("/notes/a.md", "127.0.0.1"))
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(body(page).await.contains("alpha words"));
        let missing = app.oneshot(get("/notes/b.md", "127.0.0.1")).await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }

    /// The pages share the client's rate limit: a burst past it gets 429 with Retry-After.
    #[tokio::test]
    async fn pages_are_rate_limited() {
        let (app, _status, _vault, _index) = app(ConfigLayer {
            rate_limit_per_minute: Some(40),
            ..ConfigLayer::default()
        });
        let mut statuses = Vec::new();
        for _ in 0..12 {
            let response = app
                .clone()
                .oneshot(get("/?q=alpha", "127.0.0.1"))
                .await
                .unwrap();
            statuses.push(response.status());
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                assert!(response.headers().contains_key(header::RETRY_AFTER));
            }
        }
        // A burst of 10 (40 per minute: a quarter, at least 10) passes, then the limit holds.
        assert!(
            statuses[..10].iter().all(|s| *s == StatusCode::OK),
            "{statuses:?}"
        );
        assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    }

    #[tokio::test]
    async fn without_oauth_there_is_no_resource_metadata() {
        let (app, _status, _vault, _index) = app(ConfigLayer::default());
        let response = app
            .oneshot(get("/.well-known/oauth-protected-resource", "127.0.0.1"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
