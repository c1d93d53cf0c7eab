//! Per-client rate limiting (governor's keyed GCRA, a token bucket per client): a token's label,
//! a JWT subject, or the peer address for anonymous clients. An empty bucket answers
//! `429 Too Many Requests` with `Retry-After`. MCP, the search page and note pages are limited
//! alike; `/healthz` and `/readyz` are not.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::error::AppError;
use crate::service::client::ClientId;

/// Clients seen recently, beyond which idle ones are forgotten.
const MAX_TRACKED_CLIENTS: usize = 10_000;

/// Buckets by client; `None` when limiting is off.
#[derive(Clone)]
pub(crate) struct RateLimiter {
    limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
}

impl RateLimiter {
    /// `per_minute` requests per client per minute, with bursts of a quarter of that (at least
    /// 10); 0 disables limiting.
    pub(crate) fn new(per_minute: u32) -> RateLimiter {
        let limiter = NonZeroU32::new(per_minute).map(|rate| {
            let burst = NonZeroU32::new((per_minute / 4).max(10)).expect("at least 10");
            Arc::new(DefaultKeyedRateLimiter::keyed(
                Quota::per_minute(rate).allow_burst(burst),
            ))
        });
        RateLimiter { limiter }
    }

    /// Takes one request for `client`, or says how long until one is allowed.
    pub(crate) fn take(&self, client: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.len() > MAX_TRACKED_CLIENTS {
            limiter.retain_recent();
        }
        limiter
            .check_key(&client.to_string())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// The middleware; runs after authentication, so it sees the [`ClientId`].
pub(crate) async fn limit(
    State(limiter): State<RateLimiter>,
    request: Request,
    next: Next,
) -> Response {
    let client = match request.extensions().get::<ClientId>() {
        Some(ClientId(id)) if id != "anonymous" => id.clone(),
        _ => request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "anonymous".to_string(), |c| c.0.ip().to_string()),
    };
    match limiter.take(&client) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            AppError::client(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests; retry in {seconds} s"),
            )
            .with_header(header::RETRY_AFTER, &seconds.max(1).to_string())
            .into_response()
        }
    }
}

/// Bodies up to this size are read and thrown away before a 413 is sent. Without that, the
/// server closes a connection the client is still writing to, and the client sees a broken pipe
/// instead of the 413 that explains what to change. Larger bodies get the 413 at once.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;
/// How long draining may take before the server gives up and closes the connection.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers a request whose `Content-Length` is over `max_body_bytes` with a clear
/// `413 Payload Too Large`. Bodies without a length are counted by [`read_body`].
pub(crate) async fn oversize_body(
    State(max_body_bytes): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let Some(length) = length.filter(|&length| length > max_body_bytes as u64) else {
        return next.run(request).await;
    };
    if length <= DRAIN_LIMIT {
        use futures::StreamExt;
        let mut body = request.into_body().into_data_stream();
        let drain = async { while let Some(Ok(_)) = body.next().await {} };
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
    }
    too_large(&format!("{length} bytes"), max_body_bytes)
}

fn too_large(size: &str, max_body_bytes: usize) -> Response {
    let message = format!(
        "request body is {size}, over the limit of {max_body_bytes} bytes; send a smaller \
         request, or raise max_body_bytes in deepvault.toml (or DEEPVAULT_MAX_BODY_BYTES)"
    );
    AppError::client(StatusCode::PAYLOAD_TOO_LARGE, message)
        .with_header(header::CONNECTION, "close")
        .into_response()
}

/// What [`read_body`] allows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyLimits {
    pub(crate) max_bytes: usize,
    /// The whole body must have arrived within this (a client that sends a byte a second is
    /// not waited for).
    pub(crate) deadline: Duration,
}

/// Reads the request body whole, before the route runs: at most `max_bytes` (a chunked body
/// that grows past it gets `413`, not a failed read deep in a handler) and within `deadline`
/// (`408` otherwise). Routes then get the body at once.
pub(crate) async fn read_body(
    State(limits): State<BodyLimits>,
    request: Request,
    next: Next,
) -> Response {
    use futures::StreamExt;
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut collected = Vec::new();
    let read = async {
        let mut total = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|err| Some(err.to_string()))?;
            total += chunk.len() as u64;
            if total > limits.max_bytes as u64 {
                // Over the limit: read on and throw away (up to a bound), so that the client
                // reads the 413 instead of a broken pipe, as `oversize_body` does.
                if total > DRAIN_LIMIT {
                    return Err(None::<String>);
                }
                collected = Vec::new();
                continue;
            }
            collected.extend_from_slice(&chunk);
        }
        if total > limits.max_bytes as u64 {
            return Err(None);
        }
        Ok(())
    };
    match tokio::time::timeout(limits.deadline, read).await {
        Ok(Ok(())) => {}
        Ok(Err(None)) => {
            return too_large(
                &format!("over {} bytes", limits.max_bytes),
                limits.max_bytes,
            );
        }
        Ok(Err(Some(err))) => {
            tracing::debug!("cannot read a request body: {err}");
            return AppError::client(
                StatusCode::BAD_REQUEST,
                "the request body could not be read (the connection broke, or the body was malformed); send it again",
            )
            .into_response();
        }
        Err(_) => {
            return AppError::client(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s; send it at once",
                    limits.deadline.as_secs()
                ),
            )
            .with_header(header::CONNECTION, "close")
            .into_response();
        }
    }
    let request = Request::from_parts(parts, axum::body::Body::from(collected));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_and_are_per_client() {
        let limiter = RateLimiter::new(60);
        for _ in 0..15 {
            assert!(limiter.take("a").is_ok());
        }
        let wait = limiter.take("a").unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limiter.take("b").is_ok(), "other clients are not affected");
        assert!(RateLimiter::new(0).take("a").is_ok());
    }
}
