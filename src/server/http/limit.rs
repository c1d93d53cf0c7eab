//! Per-client rate limiting: a token bucket per client (a token's label, a JWT subject, or the
//! peer address for anonymous clients). An empty bucket answers `429 Too Many Requests` with
//! `Retry-After`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::AppError;
use crate::service::client::ClientId;

/// Buckets by client.
#[derive(Clone)]
pub(crate) struct RateLimiter {
    per_minute: u32,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// `per_minute` requests per client per minute, with bursts of a quarter of that (at least
    /// 10); 0 disables limiting.
    pub(crate) fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            buckets: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn capacity(&self) -> f64 {
        (f64::from(self.per_minute) / 4.0).max(10.0)
    }

    /// Takes one token for `client`, or says how long until one is there.
    pub(crate) fn take(&self, client: &str) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let rate = f64::from(self.per_minute) / 60.0;
        let capacity = self.capacity();
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| now.duration_since(b.updated) < Duration::from_secs(600));
        }
        let bucket = buckets.entry(client.to_string()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
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
/// `413 Payload Too Large`. Bodies without a length are cut by `RequestBodyLimitLayer`.
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
    let message = format!(
        "request body is {length} bytes, over the limit of {max_body_bytes} bytes; send a smaller \
         request, or raise max_body_bytes in deepvault.toml (or DEEPVAULT_MAX_BODY_BYTES)"
    );
    AppError::client(StatusCode::PAYLOAD_TOO_LARGE, message).into_response()
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
