//! DNS-rebinding protection: the `Host` and `Origin` headers of every request must name this
//! server. The allow-list holds the loopback names, the listen address and the public URL's host;
//! anything else gets `403 Forbidden` with a hint, before any route runs.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::AppError;

/// Host names (without port) this server answers to, lowercase.
#[derive(Clone, Debug)]
pub(crate) struct HostAllowList {
    hosts: Arc<Vec<String>>,
}

impl HostAllowList {
    /// Loopback, plus the listen host (unless it is a wildcard) and the public URL's host.
    pub(crate) fn new(listen: &str, public_url: Option<&str>, extra: &[String]) -> HostAllowList {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1", "[::1]"]
            .into_iter()
            .map(String::from)
            .collect();
        if let Some((host, _)) = listen.rsplit_once(':') {
            let host = host.to_lowercase();
            if host != "0.0.0.0" && host != "[::]" && host != "::" {
                hosts.push(host.trim_matches(['[', ']']).to_string());
                hosts.push(host);
            }
        }
        if let Some(url) = public_url {
            let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
            let authority = rest.split('/').next().unwrap_or(rest);
            hosts.push(host_of(authority).to_lowercase());
        }
        hosts.extend(extra.iter().map(|h| h.to_lowercase()));
        hosts.sort();
        hosts.dedup();
        HostAllowList {
            hosts: Arc::new(hosts),
        }
    }

    pub(crate) fn allows(&self, host: &str) -> bool {
        let host = host_of(host).to_lowercase();
        self.hosts.contains(&host)
    }

    /// Checks a request's headers; `Err` carries the reason.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        if let Some(host) = headers.get(header::HOST) {
            let host = host.to_str().unwrap_or("");
            if !self.allows(host) {
                return Err(format!(
                    "Host `{host}` is not allowed (DNS-rebinding protection)\n\nhint: if clients reach this server by that name, pass --public-url https://{}",
                    host_of(host)
                ));
            }
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let authority = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            if origin == "null" || authority.is_empty() || !self.allows(authority) {
                return Err(format!(
                    "Origin `{origin}` is not allowed (DNS-rebinding protection)"
                ));
            }
        }
        Ok(())
    }
}

/// `host:port`, `[v6]:port` or `host` → the host part.
fn host_of(authority: &str) -> &str {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// The middleware.
pub(crate) async fn check_host(
    State(allowed): State<HostAllowList>,
    request: Request,
    next: Next,
) -> Response {
    match allowed.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(reason) => {
            tracing::debug!("refused: {reason}");
            AppError::client(StatusCode::FORBIDDEN, format!("Forbidden: {reason}")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(host: Option<&str>, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(host) = host {
            h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        }
        if let Some(origin) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        h
    }

    #[test]
    fn loopback_and_public_host_pass_others_fail() {
        let list = HostAllowList::new("127.0.0.1:8765", Some("https://notes.example.com"), &[]);
        for ok in [
            "127.0.0.1:8765",
            "localhost",
            "[::1]:9",
            "notes.example.com",
            "NOTES.example.com:443",
        ] {
            assert!(list.check(&headers(Some(ok), None)).is_ok(), "{ok}");
        }
        assert!(
            list.check(&headers(Some("evil.example.com"), None))
                .is_err()
        );
        assert!(
            list.check(&headers(Some("localhost"), Some("http://evil.example.com")))
                .is_err()
        );
        assert!(
            list.check(&headers(Some("localhost"), Some("null")))
                .is_err()
        );
        assert!(
            list.check(&headers(Some("localhost"), Some("http://localhost:6274")))
                .is_ok()
        );
        assert!(list.check(&headers(None, None)).is_ok());
    }

    #[test]
    fn wildcard_listen_is_not_a_host() {
        let list = HostAllowList::new("0.0.0.0:8765", None, &[]);
        assert!(!list.allows("0.0.0.0:8765"));
        let list = HostAllowList::new("192.168.1.5:8765", None, &[]);
        assert!(list.allows("192.168.1.5:8765"));
    }
}
