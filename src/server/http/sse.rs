//! The legacy HTTP+SSE transport of MCP 2024-11-05, which rmcp no longer ships.
//!
//! `GET /sse` opens an event stream whose first event, `endpoint`, names the URL to POST to
//! (`/messages?sessionId=…`). Each POSTed JSON-RPC message is answered `202 Accepted`; replies
//! arrive on the stream as `message` events. Every stream runs its own copy of the same server
//! handler that `/mcp` and stdio use. The session ends when the client closes the stream.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::channel::mpsc;
use futures::{SinkExt, Stream, StreamExt};
use rmcp::ServiceExt;
use rmcp::service::{RoleServer, RxJsonRpcMessage, TxJsonRpcMessage};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::error::AppError;
use crate::server::mcp::VaultServer;
use crate::service::client::ClientId;

/// Open sessions: id → the sender of messages into that session's server.
#[derive(Clone, Default)]
pub(crate) struct Sessions {
    inner: Arc<Mutex<HashMap<String, mpsc::Sender<RxJsonRpcMessage<RoleServer>>>>>,
}

impl Sessions {
    fn insert(&self, id: String, tx: mpsc::Sender<RxJsonRpcMessage<RoleServer>>) {
        self.lock().insert(id, tx);
    }

    fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    fn get(&self, id: &str) -> Option<mpsc::Sender<RxJsonRpcMessage<RoleServer>>> {
        self.lock().get(id).cloned()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<RxJsonRpcMessage<RoleServer>>>>
    {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the SSE routes need.
#[derive(Clone)]
pub(crate) struct SseState {
    pub(crate) server: VaultServer,
    pub(crate) sessions: Sessions,
    pub(crate) shutdown: CancellationToken,
}

/// Removes the session when the client's stream is dropped.
struct SessionStream<S> {
    inner: S,
    id: String,
    sessions: Sessions,
    cancel: CancellationToken,
}

impl<S: Stream + Unpin> Stream for SessionStream<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl<S> Drop for SessionStream<S> {
    fn drop(&mut self) {
        self.sessions.remove(&self.id);
        self.cancel.cancel();
        tracing::debug!(session = %self.id, "legacy SSE session closed");
    }
}

/// `GET /sse`
pub(crate) async fn open(
    State(state): State<SseState>,
    client: Option<axum::Extension<ClientId>>,
) -> Response {
    let id = new_session_id();
    let (in_tx, in_rx) = mpsc::channel::<RxJsonRpcMessage<RoleServer>>(64);
    let (out_tx, out_rx) = mpsc::channel::<TxJsonRpcMessage<RoleServer>>(64);
    state.sessions.insert(id.clone(), in_tx);
    let cancel = state.shutdown.child_token();
    // The stream's identity (from its GET) is the session's, for the audit log.
    let server = state
        .server
        .for_session("sse", client.map(|axum::Extension(c)| c.0));
    let session_cancel = cancel.clone();
    let session_id = id.clone();
    tokio::spawn(async move {
        match server.serve((out_tx, in_rx)).await {
            Ok(running) => {
                tokio::select! {
                    _ = running.waiting() => {}
                    _ = session_cancel.cancelled() => {}
                }
            }
            Err(err) => {
                tracing::debug!(session = %session_id, "legacy SSE session ended before initialize: {err}")
            }
        }
    });
    let endpoint_data = format!("/messages?sessionId={id}");
    let endpoint = futures::stream::once(async move {
        Ok::<Event, Infallible>(Event::default().event("endpoint").data(endpoint_data))
    });
    let messages = out_rx.map(|message| {
        let data = serde_json::to_string(&message).unwrap_or_else(|_| "{}".into());
        Ok::<Event, Infallible>(Event::default().event("message").data(data))
    });
    let shutdown = state.shutdown.clone();
    let stream = endpoint
        .chain(messages)
        .take_until(async move { shutdown.cancelled().await });
    let guarded = SessionStream {
        inner: Box::pin(stream),
        id,
        sessions: state.sessions.clone(),
        cancel,
    };
    Sse::new(guarded)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// An unguessable session id: whoever knows it can post into the session.
fn new_session_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[derive(Debug, Deserialize)]
pub(crate) struct SessionQuery {
    #[serde(rename = "sessionId")]
    session_id_camel: Option<String>,
    session_id: Option<String>,
}

/// `POST /messages?sessionId=…`
pub(crate) async fn post(
    State(state): State<SseState>,
    Query(query): Query<SessionQuery>,
    body: Bytes,
) -> Response {
    let Some(id) = query.session_id_camel.or(query.session_id) else {
        return AppError::client(
            StatusCode::BAD_REQUEST,
            "missing sessionId; open GET /sse first and POST to the endpoint it announces",
        )
        .into_response();
    };
    let Some(mut tx) = state.sessions.get(&id) else {
        return AppError::client(
            StatusCode::NOT_FOUND,
            "unknown or closed session; open GET /sse again",
        )
        .into_response();
    };
    let message: RxJsonRpcMessage<RoleServer> = match serde_json::from_slice(&body) {
        Ok(message) => message,
        Err(err) => {
            // serde's message can quote the body and name rmcp's types: it goes to the log,
            // under the id the client gets.
            let error_id = crate::error::error_id();
            tracing::info!(%error_id, session = %id, "not a JSON-RPC message: {err}");
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({
                    "jsonrpc": "2.0",
                    "id": null,
                    "error": {
                        "code": -32700,
                        "message": format!("not a JSON-RPC 2.0 message (error id {error_id}); send one JSON object with jsonrpc, id, method and params"),
                    }
                })),
            )
                .into_response();
        }
    };
    match tx.send(message).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(_) => AppError::client(
            StatusCode::GONE,
            "the session has ended; open GET /sse again",
        )
        .into_response(),
    }
}
