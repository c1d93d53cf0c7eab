//! The HTTP server: one axum router for MCP and the web.
//!
//! | route                     | what                                                        |
//! |---------------------------|-------------------------------------------------------------|
//! | `/mcp`                    | MCP streamable HTTP (rmcp), stateless, SSE response bodies   |
//! | `/sse`, `/messages`       | the legacy 2024-11-05 HTTP+SSE transport ([`sse`])           |
//! | `/healthz`                | the process is up                                           |
//! | `/readyz`                 | 200 once the index has caught up with the vault, else 503   |
//! | `/notes/{path}`           | a note as HTML: the default citation target ([`pages`])      |
//! | `/`                       | index status and a search box ([`pages`])                    |
//!
//! Every route sits behind the Host/Origin allow-list ([`guard`]).

pub mod guard;
pub mod pages;
pub mod sse;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::mcp::VaultServer;
use crate::status::Status;

/// What the routes share.
#[derive(Clone)]
pub struct AppState {
    pub server: VaultServer,
    pub status: Arc<Status>,
    pub hosts: guard::HostAllowList,
    pub shutdown: CancellationToken,
    pub pages: pages::PagesState,
}

/// Builds the router.
pub fn router(state: AppState) -> Router {
    let mcp_config = StreamableHttpServerConfig::default()
        // Host and Origin are checked for every route by `guard`, the same way.
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_legacy_session_mode(false)
        .with_json_response(false)
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
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
    let web = Router::new()
        .route("/", get(pages::home))
        .route("/notes/{*path}", get(pages::note))
        .with_state(state.pages.clone());
    Router::new()
        .nest_service("/mcp", mcp)
        .merge(legacy)
        .merge(web)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            state.hosts.clone(),
            guard::check_host,
        ))
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = state.status.to_json();
    body["redactions"] = state.pages.tools.redactor.count().into();
    let code = if state.status.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}
