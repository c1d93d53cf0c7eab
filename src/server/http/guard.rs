//! DNS-rebinding protection: the host a request names and its `Origin` header must name this
//! server. The allow-list holds the loopback names, the listen address and the public URL's host;
//! anything else gets `403 Forbidden` with a hint, before any route runs.
//!
//! The host is taken from wherever the request carries it: the `Host` header (HTTP/1.1), the
//! request target's authority (HTTP/2's `:authority`, or an HTTP/1 absolute-form target), and
//! every one present must be allowed. A request that names no host, names it twice, or hides a
//! name behind userinfo (`evil.com@localhost`) is refused.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
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

    /// Checks a request's target and headers; `Err` carries the reason.
    pub(crate) fn check(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), String> {
        let mut hosts = headers.get_all(header::HOST).iter();
        let host = hosts.next();
        if hosts.next().is_some() {
            return Err("the request has more than one Host header; send exactly one".into());
        }
        let host = match host.map(|value| value.to_str()) {
            Some(Ok(host)) => Some(host),
            Some(Err(_)) => return Err("the Host header is not valid text".into()),
            None => None,
        };
        // HTTP/2 carries the host in `:authority`, which becomes the URI's authority.
        let authority = uri.authority().map(|a| a.as_str());
        if host.is_none() && authority.is_none() {
            return Err(
                "the request names no host; send a Host header (HTTP/1.1) or :authority (HTTP/2)"
                    .into(),
            );
        }
        for host in [host, authority].into_iter().flatten() {
            if host.contains('@') {
                return Err(format!(
                    "Host `{host}` carries userinfo (`user@host`), which is not allowed; send the host name alone"
                ));
            }
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
    match allowed.check(request.uri(), request.headers()) {
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

    fn check(list: &HostAllowList, headers: &HeaderMap) -> Result<(), String> {
        list.check(&Uri::from_static("/"), headers)
    }

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
            assert!(check(&list, &headers(Some(ok), None)).is_ok(), "{ok}");
        }
        assert!(check(&list, &headers(Some("evil.example.com"), None)).is_err());
        assert!(
            check(
                &list,
                &headers(Some("localhost"), Some("http://evil.example.com"))
            )
            .is_err()
        );
        assert!(check(&list, &headers(Some("localhost"), Some("null"))).is_err());
        assert!(
            check(
                &list,
                &headers(Some("localhost"), Some("http://localhost:6274"))
            )
            .is_ok()
        );
        // No host at all, two of them, or userinfo: refused.
        assert!(check(&list, &headers(None, None)).is_err());
        let mut two = headers(Some("localhost"), None);
        two.append(header::HOST, HeaderValue::from_static("evil.example.com"));
        assert!(check(&list, &two).unwrap_err().contains("more than one"));
        assert!(
            check(&list, &headers(Some("evil.com@localhost"), None))
                .unwrap_err()
                .contains("userinfo")
        );
        // HTTP/2's :authority (the URI's authority) is checked like a Host header.
        let h2 = |uri: &'static str| list.check(&Uri::from_static(uri), &HeaderMap::new());
        assert!(h2("http://localhost:8765/mcp").is_ok());
        assert!(h2("http://evil.com/readyz").is_err());
        assert!(h2("http://evil.com@localhost/readyz").is_err());
        assert!(
            list.check(
                &Uri::from_static("http://evil.com/"),
                &headers(Some("localhost"), None)
            )
            .is_err(),
            "both must be allowed"
        );
    }

    #[test]
    fn wildcard_listen_is_not_a_host() {
        let list = HostAllowList::new("0.0.0.0:8765", None, &[]);
        assert!(!list.allows("0.0.0.0:8765"));
        let list = HostAllowList::new("192.168.1.5:8765", None, &[]);
        assert!(list.allows("192.168.1.5:8765"));
    }
}
