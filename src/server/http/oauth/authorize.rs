//! `/authorize`: the request checks, the consent page and the owner's decision, plus the
//! short-lived, memory-only parts of a flow (pending consents and authorization codes).
//!
//! GET checks the request and renders the consent page; POST checks the CSRF token and the
//! passphrase and redirects to the client with a code. The order of the checks follows RFC
//! 6749 §4.1.2.1: until the client and its redirect URI are known to be good, errors are an
//! HTML page and never a redirect; after that, they go back to the client as `error=…`.
//!
//! The CSRF token is the key of the pending request, kept server-side with everything the GET
//! validated, so the POST cannot change a parameter; it is single use (a wrong passphrase
//! renders the page again with a new one) and expires with the page.
//!
//! The pages themselves and the redirects back to the client are in [`super::consent`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::super::error::AppError;
use super::consent::{ConsentView, consent_page, error_page, redirect, redirect_error};
use super::gate::{Attempt, Check};
use super::register::{ClientInfo, find_client, quote};
use super::{ClientAddr, Inner};
use crate::service::audit::OAuthEvent;
use crate::service::oauth::passphrase::Verified;
use crate::service::oauth::{digest_hex, random_secret};

/// Pending consents, codes and used-code records held at most; beyond that new flows wait.
const MAX_FLOWS: usize = 1000;
/// A used code is remembered this long (well past its own life) so that a replay is
/// recognised and revokes what the code issued.
pub(crate) const USED_CODE_MEMORY: u64 = 600;

/// The query of an authorization request (RFC 6749 §4.1.1, RFC 7636, RFC 8707).
#[derive(Debug, Deserialize)]
pub(crate) struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    resource: Option<String>,
}

/// The consent form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct ConsentForm {
    csrf_token: Option<String>,
    passphrase: Option<String>,
    action: Option<String>,
}

/// A validated authorization request waiting for the owner.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    client: ClientInfo,
    redirect_uri: String,
    state: Option<String>,
    code_challenge: String,
    scopes: Vec<String>,
    resource: String,
    expires_at: u64,
}

impl Pending {
    fn view(&self) -> ConsentView<'_> {
        ConsentView {
            client_name: &self.client.client_name,
            kind: self.client.kind,
            redirect_uri: &self.redirect_uri,
            scopes: &self.scopes,
        }
    }
}

/// An issued authorization code, by its digest.
#[derive(Clone, Debug)]
pub(crate) struct CodeRecord {
    pub(crate) client: ClientInfo,
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) resource: String,
    pub(crate) expires_at: u64,
}

/// A code that was exchanged: the grant it created, so that a replay can end it.
#[derive(Clone, Debug)]
pub(crate) struct UsedCode {
    pub(crate) grant_id: String,
    pub(crate) client_id: String,
    pub(crate) replayed: bool,
    pub(crate) forget_at: u64,
}

#[derive(Default)]
pub(crate) struct Flows {
    /// By the digest of the CSRF token.
    consents: HashMap<String, Pending>,
    /// By the digest of the code.
    pub(crate) codes: HashMap<String, CodeRecord>,
    /// By the digest of the code.
    pub(crate) used: HashMap<String, UsedCode>,
}

impl Flows {
    fn prune(&mut self, now: u64) {
        self.consents.retain(|_, p| p.expires_at > now);
        self.codes.retain(|_, c| c.expires_at > now);
        self.used.retain(|_, u| u.forget_at > now);
    }

    pub(crate) fn remember_used(&mut self, digest: String, used: UsedCode, now: u64) {
        if self.used.len() >= MAX_FLOWS * 10 {
            self.prune(now);
        }
        self.used.insert(digest, used);
    }
}

/// `GET /authorize`.
pub(crate) async fn show(
    State(inner): State<Arc<Inner>>,
    query: Result<Query<AuthorizeParams>, QueryRejection>,
) -> Response {
    let Query(params) = match query {
        Ok(query) => query,
        Err(rejection) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "This authorization request is malformed",
                &format!("{rejection}"),
            );
        }
    };
    let Some(client_id) = params.client_id.as_deref().filter(|c| !c.is_empty()) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This authorization request names no app",
            "The client_id parameter is missing.",
        );
    };
    let client = match find_client(&inner, client_id).await {
        Ok(client) => client,
        Err(reason) => {
            return error_page(StatusCode::BAD_REQUEST, "Unknown app", &reason);
        }
    };
    // OAuth 2.1 lets a client with exactly one registered redirect URI leave it out.
    let redirect_uri = match params.redirect_uri.as_deref() {
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => uri.to_string(),
        Some(uri) => {
            inner.audit(OAuthEvent::Refused {
                client: client.to_ref(),
                reason: "redirect_uri not registered".into(),
            });
            return error_page(
                StatusCode::BAD_REQUEST,
                "This app asked to return to an address it did not register",
                &format!(
                    "redirect_uri {} is not one of the app's registered redirect URIs.",
                    quote(uri)
                ),
            );
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "This authorization request has no redirect_uri",
                "The app registered several redirect URIs, so the request must name one.",
            );
        }
    };
    // From here on the redirect URI is trusted: errors go back to the client.
    let state = params.state.as_deref();
    let refuse = |error: &str, description: &str| {
        inner.audit(OAuthEvent::Refused {
            client: client.to_ref(),
            reason: format!("{error}: {description}"),
        });
        redirect_error(
            &redirect_uri,
            state,
            &inner.settings.public_url,
            error,
            description,
        )
    };
    if params.response_type.as_deref() != Some("code") {
        return refuse(
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    let Some(code_challenge) = params.code_challenge.clone() else {
        return refuse(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        );
    };
    // RFC 7636 makes a missing method mean `plain`, which OAuth 2.1 servers refuse.
    if params.code_challenge_method.as_deref() != Some("S256") {
        return refuse(
            "invalid_request",
            "code_challenge_method must be S256 (plain is not accepted)",
        );
    }
    if code_challenge.len() != 43
        || !code_challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return refuse(
            "invalid_request",
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
        );
    }
    let resource = match params.resource.as_deref() {
        None => inner.settings.resource.clone(),
        Some(r) if resource_matches(r, &inner.settings.resource) => inner.settings.resource.clone(),
        Some(r) => {
            return refuse(
                "invalid_target",
                &format!(
                    "resource {} is not this server's; use {}",
                    quote(r),
                    inner.settings.resource
                ),
            );
        }
    };
    let scopes = match parse_scopes(params.scope.as_deref(), &inner.settings.scopes) {
        Ok(scopes) => scopes,
        Err(unknown) => {
            return refuse(
                "invalid_scope",
                &format!(
                    "unknown scope {}; this server grants {}",
                    quote(&unknown),
                    inner.settings.scopes.join(" ")
                ),
            );
        }
    };
    let now = inner.clock.now();
    let pending = Pending {
        client,
        redirect_uri,
        state: params.state.clone(),
        code_challenge,
        scopes,
        resource,
        expires_at: now + inner.settings.limits.consent_ttl,
    };
    match new_consent(&inner, pending.clone(), now) {
        Some(csrf) => consent_page(&pending.view(), &csrf, None, StatusCode::OK),
        None => busy(),
    }
}

fn busy() -> Response {
    let mut response = error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Too many sign-ins are in progress",
        "Try again in a minute.",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    response
}

/// Stores a pending consent under a fresh CSRF token; `None` when too many are pending.
fn new_consent(inner: &Inner, pending: Pending, now: u64) -> Option<String> {
    let csrf = random_secret("");
    let mut flows = inner.flows.lock().unwrap_or_else(|e| e.into_inner());
    if flows.consents.len() >= MAX_FLOWS {
        flows.prune(now);
        if flows.consents.len() >= MAX_FLOWS {
            return None;
        }
    }
    flows.consents.insert(digest_hex(&csrf), pending);
    Some(csrf)
}

/// RFC 8707 resources compare as strings; a trailing slash is forgiven.
pub(crate) fn resource_matches(given: &str, ours: &str) -> bool {
    given == ours || given.strip_suffix('/') == Some(ours)
}

/// The requested scopes, or every known scope when none is requested (ChatGPT reconnects
/// without `scope`). `Err` names the first unknown scope.
pub(crate) fn parse_scopes(
    requested: Option<&str>,
    known: &[String],
) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in requested.unwrap_or("").split_whitespace() {
        if !known.iter().any(|k| k == scope) {
            return Err(scope.to_string());
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_string());
        }
    }
    if scopes.is_empty() {
        scopes = known.to_vec();
    }
    Ok(scopes)
}

/// `POST /authorize`: the owner's answer.
pub(crate) async fn decide(
    State(inner): State<Arc<Inner>>,
    ClientAddr(ip): ClientAddr,
    form: Result<Form<ConsentForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This form could not be read",
            "Reload the consent page from the app and try again.",
        );
    };
    let Some(csrf) = form.csrf_token.filter(|t| !t.is_empty()) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This form is missing its security token",
            "The csrf_token field is missing; the page was not submitted from this server's consent form.",
        );
    };
    let now = inner.clock.now();
    // Back-off comes before the token is spent, so that the owner can resubmit after waiting.
    if let Check::Wait(wait) = inner.gate.check(ip, now) {
        let mut response = error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many wrong passphrases",
            &format!("Wait {wait} seconds, then submit the form again."),
        );
        if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let key = digest_hex(&csrf);
    let pending = {
        let mut flows = inner.flows.lock().unwrap_or_else(|e| e.into_inner());
        flows.consents.remove(&key)
    };
    let Some(pending) = pending.filter(|p| p.expires_at > now) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This consent form has expired or was already used",
            "The security token (csrf_token) is unknown, spent or expired.",
        );
    };
    if form.action.as_deref() == Some("deny") {
        inner.audit(OAuthEvent::Refused {
            client: pending.client.to_ref(),
            reason: "the owner denied access".into(),
        });
        return redirect_error(
            &pending.redirect_uri,
            pending.state.as_deref(),
            &inner.settings.public_url,
            "access_denied",
            "the owner denied access",
        );
    }
    match inner.gate.verify(form.passphrase.unwrap_or_default()).await {
        Attempt::Checked(Verified::Right) => {}
        Attempt::Checked(Verified::Wrong) => {
            inner.gate.record_failure(ip, now);
            inner.audit(OAuthEvent::Refused {
                client: pending.client.to_ref(),
                reason: "wrong passphrase".into(),
            });
            // The new page gets a full lifetime: back-off delays may have used up the old one.
            let pending = Pending {
                expires_at: now + inner.settings.limits.consent_ttl,
                ..pending
            };
            return match new_consent(&inner, pending.clone(), now) {
                Some(csrf) => consent_page(
                    &pending.view(),
                    &csrf,
                    Some("That passphrase is not right."),
                    StatusCode::UNAUTHORIZED,
                ),
                None => busy(),
            };
        }
        Attempt::Busy => {
            // Not the owner's fault: keep the form usable.
            inner
                .flows
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .consents
                .insert(key, pending);
            let mut response = error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy",
                "Go back and submit the form again in a few seconds.",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return response;
        }
        Attempt::Checked(Verified::Unavailable(reason)) => {
            // The reason names a path: it goes to the log under an error id, not to the page.
            let error = AppError::internal("checking the owner's passphrase", reason);
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "This server cannot approve apps yet",
                &format!(
                    "Its owner must set a passphrase with `deepvault auth passphrase`. ({})",
                    error.message()
                ),
            );
        }
    }
    inner.gate.record_success(ip);
    let code = random_secret("dv_code_");
    {
        let mut flows = inner.flows.lock().unwrap_or_else(|e| e.into_inner());
        if flows.codes.len() >= MAX_FLOWS {
            flows.prune(now);
        }
        flows.codes.insert(
            digest_hex(&code),
            CodeRecord {
                client: pending.client.clone(),
                redirect_uri: pending.redirect_uri.clone(),
                code_challenge: pending.code_challenge.clone(),
                scopes: pending.scopes.clone(),
                resource: pending.resource.clone(),
                expires_at: now + inner.settings.limits.code_ttl,
            },
        );
    }
    inner.audit(OAuthEvent::Approved {
        client: pending.client.to_ref(),
    });
    redirect(
        &pending.redirect_uri,
        &[("code", &code)],
        pending.state.as_deref(),
        &inner.settings.public_url,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_default_and_refuse() {
        let known = vec!["vault:read".to_string()];
        assert_eq!(parse_scopes(None, &known), Ok(known.clone()));
        assert_eq!(parse_scopes(Some("  "), &known), Ok(known.clone()));
        assert_eq!(
            parse_scopes(Some("vault:read vault:read"), &known),
            Ok(known.clone())
        );
        assert_eq!(
            parse_scopes(Some("vault:read vault:write"), &known),
            Err("vault:write".into())
        );
    }
}
