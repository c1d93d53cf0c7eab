//! In front of rmcp at `/mcp`: the JSON-RPC answers the specifications name, where rmcp 3.9
//! answers a bare `415 Unsupported Media Type` (PROTOCOL.md §4.4).
//!
//! - A body that is not JSON: `400` with JSON-RPC error `-32700` (parse error), `id: null`.
//! - JSON that is not a JSON-RPC 2.0 message (a number, an object without `jsonrpc`): `400`
//!   with `-32600` (invalid request).
//! - A batch (`[...]`) depends on the protocol version the client negotiated, which it sends in
//!   `MCP-Protocol-Version` (absent means 2025-03-26, as the specification says):
//!   - 2025-06-18 and later removed batching: `400` with `-32600`, saying to send one message
//!     per request;
//!   - 2025-03-26 and 2024-11-05 allow it: each message is handled as if sent alone (same
//!     credentials, same client), and the responses come back as one JSON array; a batch of
//!     only notifications gets `202 Accepted`. At most [`MAX_BATCH`] messages.
//!
//! Everything else goes to rmcp unchanged.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::server::mcp::VaultServer;

/// The rmcp service this fronts.
pub(crate) type McpService = StreamableHttpService<VaultServer, NeverSessionManager>;

/// The most messages in one batch.
pub(crate) const MAX_BATCH: usize = 16;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INTERNAL_ERROR: i64 = -32603;

/// The first protocol version without batches.
const NO_BATCHES_FROM: &str = "2025-06-18";
/// What a request without `MCP-Protocol-Version` is taken to speak.
const DEFAULT_VERSION: &str = "2025-03-26";

/// The `/mcp` route.
pub(crate) async fn front(State(mcp): State<McpService>, request: Request) -> Response {
    if request.method() != Method::POST || !is_json(request.headers()) {
        return forward(&mcp, request).await;
    }
    let (parts, body) = request.into_parts();
    // The body was read whole (and bounded) by `limit::read_body`.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return error_response(
            Value::Null,
            PARSE_ERROR,
            "the request body could not be read",
        );
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(err) => {
            return error_response(
                Value::Null,
                PARSE_ERROR,
                &format!("parse error: the body is not valid JSON ({err})"),
            );
        }
    };
    match value {
        Value::Array(items) => batch(&mcp, parts, items).await,
        Value::Object(_) => match check_message(&value) {
            Ok(()) => forward(&mcp, Request::from_parts(parts, Body::from(bytes))).await,
            Err(message) => error_response(id_of(&value), INVALID_REQUEST, &message),
        },
        _ => error_response(
            Value::Null,
            INVALID_REQUEST,
            "invalid request: a JSON-RPC message is a JSON object",
        ),
    }
}

/// `Err` with a message when `value` is not a JSON-RPC message a client may send.
fn check_message(value: &Value) -> Result<(), String> {
    serde_json::from_value::<ClientJsonRpcMessage>(value.clone())
        .map(|_| ())
        .map_err(|err| format!("invalid request: not a JSON-RPC 2.0 message ({err})"))
}

fn id_of(value: &Value) -> Value {
    match value.get("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
        _ => Value::Null,
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
}

async fn forward(mcp: &McpService, request: Request) -> Response {
    match mcp.clone().oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}

fn error_object(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn error_response(id: Value, code: i64, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(error_object(id, code, message)),
    )
        .into_response()
}

async fn batch(mcp: &McpService, parts: axum::http::request::Parts, items: Vec<Value>) -> Response {
    let version = parts
        .headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(DEFAULT_VERSION)
        .to_string();
    if version.as_str() >= NO_BATCHES_FROM {
        return error_response(
            Value::Null,
            INVALID_REQUEST,
            &format!(
                "invalid request: JSON-RPC batches are not part of MCP {version}; send one message per request"
            ),
        );
    }
    if items.is_empty() {
        return error_response(
            Value::Null,
            INVALID_REQUEST,
            "invalid request: an empty batch",
        );
    }
    if items.len() > MAX_BATCH {
        return error_response(
            Value::Null,
            INVALID_REQUEST,
            &format!(
                "invalid request: a batch of {} messages; send at most {MAX_BATCH} per request",
                items.len()
            ),
        );
    }
    let mut answers = Vec::new();
    for item in items {
        if let Err(message) = check_message(&item) {
            answers.push(error_object(id_of(&item), INVALID_REQUEST, &message));
            continue;
        }
        let id = id_of(&item);
        let mut request = Request::new(Body::from(item.to_string()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        request.headers_mut().remove(header::CONTENT_LENGTH);
        // The client's identity (for the audit log) and address travel with each message.
        *request.extensions_mut() = parts.extensions.clone();
        let response = forward(mcp, request).await;
        if let Some(answer) = answer_of(response, &id).await {
            answers.push(answer);
        }
    }
    if answers.is_empty() {
        return StatusCode::ACCEPTED.into_response();
    }
    axum::Json(Value::Array(answers)).into_response()
}

/// The JSON-RPC answer in rmcp's response to one message: none for `202` (a notification), the
/// message in the JSON or SSE body, or an error object carrying rmcp's HTTP error text.
async fn answer_of(response: Response, id: &Value) -> Option<Value> {
    let status = response.status();
    if status == StatusCode::ACCEPTED {
        return None;
    }
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    if status.is_success() {
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            return Some(value);
        }
        // An SSE body: the message is the `data:` of an event (a priming event has none).
        let mut data = String::new();
        for line in text.lines().chain(std::iter::once("")) {
            if let Some(rest) = line.strip_prefix("data:") {
                data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
            } else if line.is_empty() && !data.is_empty() {
                if let Ok(value) = serde_json::from_str::<Value>(&data)
                    && (value.get("result").is_some() || value.get("error").is_some())
                {
                    return Some(value);
                }
                data.clear();
            }
        }
    }
    let message = text.trim();
    Some(error_object(
        id.clone(),
        INTERNAL_ERROR,
        if message.is_empty() {
            "the message was not answered"
        } else {
            message
        },
    ))
}
