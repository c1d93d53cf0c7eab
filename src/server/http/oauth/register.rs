//! Clients: RFC 7591 dynamic registration (`POST /register`, what ChatGPT uses), the redirect
//! URI rules every client must meet, and finding a client by id (registered, or a Client ID
//! Metadata Document fetched by [`super::cimd`]).
//!
//! Only public clients exist here (`token_endpoint_auth_method=none`, PKCE instead of a
//! secret). A request for a secret-based method is answered with `none`, which RFC 7591 §3.2.1
//! allows and the MCP SDKs accept. Registration is open to anyone who can reach the server, so
//! it is capped: per address per hour (`429`) and in total (`400`); never-approved
//! registrations expire after a day, so the cap cannot be filled for good.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::super::error::AppError;
use super::{ClientAddr, Inner};
use crate::service::audit::OAuthEvent;
use crate::service::oauth::store::{ClientKind, ClientRecord};
use crate::service::oauth::{ClientRef, random_id};

/// Redirect URIs per client, and the longest accepted.
const MAX_REDIRECT_URIS: usize = 10;
const MAX_URI_LEN: usize = 2000;
const MAX_NAME_CHARS: usize = 100;
/// Addresses whose registrations are remembered at most.
const MAX_ADDRESSES: usize = 10_000;

/// RFC 7591 §2 client metadata, as far as a public client needs it; other members are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct RegistrationRequest {
    redirect_uris: Option<Vec<String>>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    scope: Option<String>,
}

/// RFC 7591 §3.2.1.
#[derive(Debug, Serialize)]
pub(crate) struct RegistrationResponse {
    client_id: String,
    client_id_issued_at: u64,
    client_name: String,
    redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    response_types: Vec<&'static str>,
    token_endpoint_auth_method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// RFC 7591 §3.2.2.
#[derive(Debug, Serialize)]
pub(crate) struct RegistrationError {
    error: &'static str,
    error_description: String,
}

fn refuse(status: StatusCode, error: &'static str, description: String) -> Response {
    let mut response = (
        status,
        Json(RegistrationError {
            error,
            error_description: description,
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A server error: logged under an error id (through [`AppError`]); the client gets the id.
fn internal(err: impl std::fmt::Display) -> Response {
    let error = AppError::internal("saving the client registration", err);
    refuse(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        error.message().to_string(),
    )
}

/// A client as `/authorize` and `/token` see it, however it became known.
#[derive(Clone, Debug)]
pub(crate) struct ClientInfo {
    pub(crate) client_id: String,
    pub(crate) client_name: String,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) kind: ClientKind,
}

impl ClientInfo {
    pub(crate) fn to_ref(&self) -> ClientRef {
        ClientRef {
            client_id: self.client_id.clone(),
            client_name: self.client_name.clone(),
        }
    }
}

/// The client behind an id: a registered one, or a Client ID Metadata Document when the id is
/// an https URL. The error says why, for the error page.
pub(crate) async fn find_client(inner: &Inner, client_id: &str) -> Result<ClientInfo, String> {
    if client_id.starts_with("https://") {
        return inner.cimd.client(client_id, inner.clock.now()).await;
    }
    inner
        .store
        .read(|s| s.clients.get(client_id).cloned())
        .map(|c| ClientInfo {
            client_id: c.client_id,
            client_name: c.client_name,
            redirect_uris: c.redirect_uris,
            kind: c.kind,
        })
        .ok_or_else(|| {
            format!(
                "unknown client_id {}; the app must register again (its registration may have \
                 been revoked or may have expired)",
                quote(client_id)
            )
        })
}

/// Redirect URIs are https, or http on a loopback address (RFC 8252 native apps), without a
/// fragment or user info. Anything else is refused at registration, so an authorization
/// response can only go to such a place.
pub(crate) fn check_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_URI_LEN {
        return Err(format!("a redirect URI is longer than {MAX_URI_LEN} bytes"));
    }
    if uri.contains('#') {
        return Err(format!("redirect URI {} has a fragment", quote(uri)));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("redirect URI {} contains white space", quote(uri)));
    }
    let parsed: Uri = uri
        .parse()
        .map_err(|_| format!("redirect URI {} is not a URL", quote(uri)))?;
    let Some(authority) = parsed.authority() else {
        return Err(format!("redirect URI {} has no host", quote(uri)));
    };
    if authority.as_str().contains('@') {
        return Err(format!("redirect URI {} contains user info", quote(uri)));
    }
    let host = authority.host().to_ascii_lowercase();
    match parsed.scheme_str() {
        Some("https") if !host.is_empty() => Ok(()),
        Some("http") if matches!(host.as_str(), "127.0.0.1" | "[::1]" | "localhost") => Ok(()),
        _ => Err(format!(
            "redirect URI {} must be https, or http on a loopback address (127.0.0.1, [::1], localhost)",
            quote(uri)
        )),
    }
}

/// A name for the page and the log: printable, trimmed, bounded.
pub(crate) fn clean_name(name: Option<&str>) -> String {
    let cleaned: String = name
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "an unnamed app".to_string()
    } else {
        cleaned.to_string()
    }
}

/// `"value"`, cut short, for error messages that echo client input.
pub(crate) fn quote(value: &str) -> String {
    let short: String = value.chars().take(120).collect();
    format!("{short:?}")
}

/// Registrations per address in the last hour.
#[derive(Default)]
pub(crate) struct RateWindow {
    seen: HashMap<IpAddr, VecDeque<u64>>,
}

impl RateWindow {
    /// `Err(seconds to wait)` when `ip` already registered `per_hour` clients this hour.
    fn take(&mut self, ip: IpAddr, now: u64, per_hour: usize) -> Result<(), u64> {
        if self.seen.len() >= MAX_ADDRESSES {
            self.seen
                .retain(|_, times| times.back().is_some_and(|&t| t + 3600 > now));
        }
        let times = self.seen.entry(ip).or_default();
        while times.front().is_some_and(|&t| t + 3600 <= now) {
            times.pop_front();
        }
        if times.len() >= per_hour {
            return Err(times.front().map_or(3600, |&t| t + 3600 - now).max(1));
        }
        times.push_back(now);
        Ok(())
    }
}

pub(crate) async fn register(
    State(inner): State<Arc<Inner>>,
    ClientAddr(ip): ClientAddr,
    body: Result<Json<RegistrationRequest>, JsonRejection>,
) -> Response {
    let mut response = register_inner(&inner, ip, body).await;
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

async fn register_inner(
    inner: &Arc<Inner>,
    ip: IpAddr,
    body: Result<Json<RegistrationRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                format!("the registration is not a JSON client metadata document: {rejection}"),
            );
        }
    };
    let redirect_uris = request.redirect_uris.unwrap_or_default();
    if redirect_uris.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_redirect_uri",
            "redirect_uris is required".into(),
        );
    }
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_redirect_uri",
            format!("at most {MAX_REDIRECT_URIS} redirect URIs"),
        );
    }
    for uri in &redirect_uris {
        if let Err(reason) = check_redirect_uri(uri) {
            return refuse(StatusCode::BAD_REQUEST, "invalid_redirect_uri", reason);
        }
    }
    let grant_types = request
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into(), "refresh_token".into()]);
    if let Some(other) = grant_types
        .iter()
        .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            format!(
                "grant type {} is not supported (authorization_code and refresh_token are)",
                quote(other)
            ),
        );
    }
    if let Some(other) = request
        .response_types
        .iter()
        .flatten()
        .find(|r| r.as_str() != "code")
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            format!("response type {} is not supported (code is)", quote(other)),
        );
    }
    if let Some(method) = &request.token_endpoint_auth_method {
        tracing::debug!(
            requested = %method,
            "registering a public client (token_endpoint_auth_method=none)"
        );
    }
    let now = inner.clock.now();
    let wait = {
        let mut window = inner
            .registrations
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        window.take(ip, now, inner.settings.limits.registrations_per_hour)
    };
    if let Err(wait) = wait {
        let mut response = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            format!("too many registrations from this address; retry in {wait} s"),
        );
        if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let record = ClientRecord {
        client_id: random_id("dvc_"),
        client_name: clean_name(request.client_name.as_deref()),
        redirect_uris,
        kind: ClientKind::Dcr,
        registered_at: now,
        approved_at: None,
    };
    let max = inner.settings.limits.max_clients;
    let stored = record.clone();
    let store = inner.store.clone();
    let saved = tokio::task::spawn_blocking(move || {
        store.update(now, move |s| {
            s.prune(now);
            if s.clients.len() >= max {
                return false;
            }
            s.clients.insert(stored.client_id.clone(), stored);
            true
        })
    })
    .await;
    match saved {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                format!(
                    "this server already has the maximum of {max} registered clients; the owner \
                     can remove some with `deepvault auth revoke`"
                ),
            );
        }
        Ok(Err(err)) => return internal(err),
        Err(err) => return internal(err),
    }
    inner.audit(OAuthEvent::Registered {
        client: ClientRef {
            client_id: record.client_id.clone(),
            client_name: record.client_name.clone(),
        },
    });
    let mut response = (
        StatusCode::CREATED,
        Json(RegistrationResponse {
            client_id: record.client_id,
            client_id_issued_at: now,
            client_name: record.client_name,
            redirect_uris: record.redirect_uris,
            grant_types,
            response_types: vec!["code"],
            token_endpoint_auth_method: "none",
            scope: request.scope,
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        for ok in [
            "https://chatgpt.com/connector_platform_oauth_redirect",
            "http://127.0.0.1:33418/callback",
            "http://localhost:3000/cb",
            "http://[::1]:8080/",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://example.com/cb",
            "http://127.0.0.1.evil.com/cb",
            "https://good.example/cb#frag",
            "https://user@good.example/cb",
            "javascript:alert(1)",
            "cursor://callback",
            "/relative",
            "https:///nohost",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rate_window() {
        let mut window = RateWindow::default();
        let ip: IpAddr = [192, 0, 2, 7].into();
        assert!(window.take(ip, 100, 2).is_ok());
        assert!(window.take(ip, 200, 2).is_ok());
        assert_eq!(window.take(ip, 300, 2), Err(3400));
        assert!(window.take(ip, 3700, 2).is_ok());
    }
}
