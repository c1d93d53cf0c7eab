//! The one way an HTTP route answers with an error.
//!
//! A client error (a bad Host, a missing token, too many requests) says what is wrong and what
//! to do, in plain text. A server error is logged once, with its detail, under a short id; the
//! client gets only that id, never a file path, an index path or an internal type name. Note
//! pages answer people with HTML error pages of their own (see `pages`).

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// An error response.
#[derive(Debug)]
pub(crate) struct AppError {
    status: StatusCode,
    /// What the client reads: safe to show anyone.
    message: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl AppError {
    /// A client error with a message safe to show anyone.
    pub(crate) fn client(status: StatusCode, message: impl Into<String>) -> AppError {
        debug_assert!(status.is_client_error());
        AppError {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// A client error whose detail is for the log only: the client reads `message` and an error
    /// id; the log has `detail` under the same id.
    pub(crate) fn refused(
        status: StatusCode,
        message: &str,
        detail: impl std::fmt::Display,
    ) -> AppError {
        let error_id = crate::error::error_id();
        tracing::info!(%error_id, status = status.as_u16(), "request refused: {detail}");
        AppError::client(status, format!("{message} (error id {error_id})"))
    }

    /// A server error: the detail goes to the log under a new error id; the client gets the id.
    pub(crate) fn internal(context: &str, detail: impl std::fmt::Display) -> AppError {
        let error_id = crate::error::error_id();
        tracing::error!(%error_id, "{context}: {detail}");
        AppError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!(
                "{context} failed on the server (error id {error_id}); the server log has the details"
            ),
            headers: Vec::new(),
        }
    }

    /// Adds a header (`WWW-Authenticate`, `Retry-After`); a value that is not a valid header is
    /// left out rather than failing the response.
    pub(crate) fn with_header(mut self, name: HeaderName, value: &str) -> AppError {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// What the client reads.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = (self.status, format!("{}\n", self.message)).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// rmcp answers a request it cannot take in plain text, which can name its internal types
/// (`… did not match any variant of untagged enum JsonRpcMessage`) and, for a 500, the failure's
/// detail. Such answers from `/mcp` are replaced by a short message that says what to do, with an
/// error id; the original goes to the log under that id. JSON-RPC errors (JSON bodies) pass.
pub(crate) async fn plain_mcp_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/event-stream"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let detail = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(err) => format!("(unreadable body: {err})"),
    };
    let error = if status.is_server_error() {
        AppError::internal("an MCP request", detail)
    } else {
        let message = match status {
            StatusCode::NOT_ACCEPTABLE => {
                "send `Accept: application/json, text/event-stream` with MCP requests"
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                "the body must be one JSON-RPC 2.0 message, sent with `Content-Type: application/json`"
            }
            StatusCode::METHOD_NOT_ALLOWED => {
                "POST MCP messages to /mcp; this server keeps no sessions, so GET and DELETE are not used"
            }
            StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than max_body_bytes",
            StatusCode::NOT_FOUND => {
                "unknown MCP session; this server keeps no sessions, so send requests without Mcp-Session-Id"
            }
            _ => "the MCP request was not accepted; check that it is a JSON-RPC 2.0 message",
        };
        AppError::refused(status, message, detail)
    };
    let mut response = error.into_response();
    for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_errors_show_an_id_and_no_detail() {
        let error = AppError::internal("rendering the note", "open /home/me/.cache/index: EIO");
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let response = error.into_response();
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains("error id "), "{body}");
        assert!(
            !body.contains("/home/me") && !body.contains("EIO"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn client_errors_carry_their_message_and_headers() {
        let response = AppError::client(StatusCode::TOO_MANY_REQUESTS, "slow down")
            .with_header(axum::http::header::RETRY_AFTER, "3")
            .with_header(axum::http::header::WWW_AUTHENTICATE, "bad\nvalue")
            .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[axum::http::header::RETRY_AFTER], "3");
        assert!(
            !response
                .headers()
                .contains_key(axum::http::header::WWW_AUTHENTICATE)
        );
    }
}
