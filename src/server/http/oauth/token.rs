//! `/token` (authorization code with PKCE, refresh with rotation), `/revoke` (RFC 7009), and
//! the check the resource side makes on every request.
//!
//! - A code is spent the moment it is presented, whatever happens next. A code presented again
//!   within [`super::authorize`]'s memory of it revokes the grant it created (RFC 6749 §4.1.2).
//! - Each refresh returns a new refresh token and marks the old one rotated; a rotated token
//!   presented again means two parties hold the family, so the whole grant ends (OAuth 2.1
//!   §4.3.1, refresh token rotation).
//! - Access and refresh tokens are 32 random bytes; only their SHA-256 digests are stored.
//!   Errors are RFC 6749 §5.2 JSON; every response is `no-store`.

use std::sync::Arc;

use axum::Form;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::super::error::AppError;
use super::authorize::{UsedCode, parse_scopes, resource_matches};
use super::register::quote;
use super::{Grant, Inner};
use crate::service::audit::OAuthEvent;
use crate::service::oauth::store::{
    AccessRecord, ClientKind, ClientRecord, GrantRecord, RefreshRecord, StateFile,
};
use crate::service::oauth::{ClientRef, digest_hex, random_id, random_secret};

/// Longer bearer strings are not ours; they are refused without hashing.
const MAX_TOKEN_LEN: usize = 512;

/// RFC 6749 §4.1.3 and §6 (and RFC 8707's `resource`), as a form.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenRequest {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    refresh_token: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
}

/// RFC 6749 §5.1.
#[derive(Debug, Serialize)]
pub(crate) struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    scope: String,
}

/// RFC 6749 §5.2.
#[derive(Debug, Serialize)]
pub(crate) struct TokenError {
    error: &'static str,
    error_description: String,
}

/// RFC 7009 §2.1.
#[derive(Debug, Deserialize)]
pub(crate) struct RevokeRequest {
    token: Option<String>,
    #[allow(dead_code)] // accepted and ignored: both kinds are looked up anyway (RFC 7009 §2.1)
    token_type_hint: Option<String>,
    client_id: Option<String>,
}

fn headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

fn fail(error: &'static str, description: impl Into<String>) -> Response {
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else if error == "server_error" {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut response = (
        status,
        Json(TokenError {
            error,
            error_description: description.into(),
        }),
    )
        .into_response();
    headers(&mut response);
    response
}

fn issued(inner: &Inner, access: String, refresh: String, scopes: &[String]) -> Response {
    let mut response = Json(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: inner.settings.limits.access_ttl,
        refresh_token: refresh,
        scope: scopes.join(" "),
    })
    .into_response();
    headers(&mut response);
    response
}

/// `POST /token`.
pub(crate) async fn token(
    State(inner): State<Arc<Inner>>,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Response {
    let request = match form {
        Ok(Form(request)) => request,
        Err(rejection) => {
            return fail(
                "invalid_request",
                format!(
                    "the body must be a form (application/x-www-form-urlencoded) with each parameter once: {rejection}"
                ),
            );
        }
    };
    match request.grant_type.as_deref() {
        Some("authorization_code") => exchange_code(&inner, request).await,
        Some("refresh_token") => refresh(&inner, request).await,
        Some(other) => fail(
            "unsupported_grant_type",
            format!(
                "grant_type {} is not supported (authorization_code, refresh_token)",
                quote(other)
            ),
        ),
        None => fail("invalid_request", "grant_type is missing"),
    }
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6, compared in constant time.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// Runs a state change on a blocking thread.
async fn update<R: Send + 'static>(
    inner: &Arc<Inner>,
    f: impl FnOnce(&mut StateFile) -> R + Send + 'static,
) -> Result<R, Response> {
    let store = inner.store.clone();
    let now = inner.clock.now();
    let failed = |err: &dyn std::fmt::Display| {
        let error = AppError::internal("saving the OAuth state", err);
        fail("server_error", error.message())
    };
    match tokio::task::spawn_blocking(move || store.update(now, f)).await {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(err)) => Err(failed(&err)),
        Err(err) => Err(failed(&err)),
    }
}

/// Ends a grant and says so in the audit log.
async fn revoke_grant(inner: &Arc<Inner>, grant_id: String, client: ClientRef, reason: &str) {
    let _ = update(inner, move |s| s.revoke_grant(&grant_id)).await;
    inner.audit(OAuthEvent::Revoked {
        client,
        reason: reason.to_string(),
    });
}

async fn exchange_code(inner: &Arc<Inner>, request: TokenRequest) -> Response {
    let (Some(code), Some(verifier), Some(client_id)) =
        (request.code, request.code_verifier, request.client_id)
    else {
        return fail(
            "invalid_request",
            "code, code_verifier and client_id are required",
        );
    };
    let now = inner.clock.now();
    let digest = digest_hex(&code);
    let grant_id = random_id("dvg_");
    // Spend the code, or find that it was spent before; one lock so that two concurrent
    // exchanges of the same code cannot both succeed.
    let record = {
        let mut flows = inner.flows.lock().unwrap_or_else(|e| e.into_inner());
        match flows.codes.remove(&digest) {
            Some(record) => Ok(record),
            None => Err(flows.used.get_mut(&digest).map(|used| {
                used.replayed = true;
                (used.grant_id.clone(), used.client_id.clone())
            })),
        }
    };
    let record = match record {
        Ok(record) => record,
        Err(Some((replayed_grant, replayed_client))) => {
            let client = inner.store.read(|s| s.client_ref(&replayed_client));
            inner.audit(OAuthEvent::Refused {
                client: client.clone(),
                reason: "authorization code used twice".into(),
            });
            revoke_grant(
                inner,
                replayed_grant,
                client,
                "authorization code used twice; its tokens are revoked",
            )
            .await;
            return fail(
                "invalid_grant",
                "the authorization code was already used; the tokens issued for it are revoked",
            );
        }
        Err(None) => return fail("invalid_grant", "unknown authorization code"),
    };
    if record.expires_at <= now {
        return fail("invalid_grant", "the authorization code has expired");
    }
    if record.client.client_id != client_id {
        return fail(
            "invalid_grant",
            "the authorization code was issued to another client",
        );
    }
    if request
        .redirect_uri
        .as_deref()
        .is_some_and(|uri| uri != record.redirect_uri)
    {
        return fail(
            "invalid_grant",
            "redirect_uri differs from the authorization request's",
        );
    }
    if !valid_verifier(&verifier) || !pkce_matches(&verifier, &record.code_challenge) {
        return fail(
            "invalid_grant",
            "code_verifier does not match the code_challenge",
        );
    }
    if let Some(resource) = request.resource.as_deref()
        && !resource_matches(resource, &record.resource)
    {
        return fail(
            "invalid_target",
            format!(
                "resource {} is not the one authorized ({})",
                quote(resource),
                record.resource
            ),
        );
    }
    inner
        .flows
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remember_used(
            digest.clone(),
            UsedCode {
                grant_id: grant_id.clone(),
                client_id: client_id.clone(),
                replayed: false,
                forget_at: now
                    + inner
                        .settings
                        .limits
                        .code_ttl
                        .max(super::authorize::USED_CODE_MEMORY),
            },
            now,
        );
    let access = random_secret("dv_at_");
    let refresh = random_secret("dv_rt_");
    let limits = inner.settings.limits.clone();
    let (access_key, refresh_key) = (digest_hex(&access), digest_hex(&refresh));
    let saved_grant = grant_id.clone();
    let client = record.client.clone();
    let scopes = record.scopes.clone();
    let resource = record.resource.clone();
    let result = update(inner, move |s| {
        let entry = s
            .clients
            .entry(client.client_id.clone())
            .or_insert_with(|| ClientRecord {
                client_id: client.client_id.clone(),
                client_name: client.client_name.clone(),
                redirect_uris: client.redirect_uris.clone(),
                kind: ClientKind::Cimd,
                registered_at: now,
                approved_at: None,
            });
        entry.approved_at = Some(now);
        s.grants.insert(
            saved_grant.clone(),
            GrantRecord {
                client_id: client.client_id.clone(),
                client_name: client.client_name.clone(),
                scopes,
                resource,
                approved_at: now,
                last_used: None,
            },
        );
        s.access_tokens.insert(
            access_key,
            AccessRecord {
                grant_id: saved_grant.clone(),
                expires_at: now + limits.access_ttl,
            },
        );
        s.refresh_tokens.insert(
            refresh_key,
            RefreshRecord {
                grant_id: saved_grant,
                expires_at: now + limits.refresh_ttl,
                rotated_at: None,
            },
        );
    })
    .await;
    if let Err(response) = result {
        return response;
    }
    // A replay that raced this exchange found the used-code record before the grant existed.
    let raced = inner
        .flows
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .used
        .get(&digest)
        .is_some_and(|u| u.replayed);
    if raced {
        revoke_grant(
            inner,
            grant_id,
            record.client.to_ref(),
            "authorization code used twice; its tokens are revoked",
        )
        .await;
        return fail("invalid_grant", "the authorization code was used twice");
    }
    issued(inner, access, refresh, &record.scopes)
}

/// What a refresh attempt found.
enum Refreshed {
    Issued(Vec<String>),
    Unknown,
    OtherClient,
    BadScope(String),
    OtherResource(String),
    /// A rotated token came back: the family is revoked.
    Reused(ClientRef),
}

async fn refresh(inner: &Arc<Inner>, request: TokenRequest) -> Response {
    let Some(presented) = request.refresh_token.filter(|t| t.len() <= MAX_TOKEN_LEN) else {
        return fail("invalid_request", "refresh_token is required");
    };
    let now = inner.clock.now();
    let key = digest_hex(&presented);
    let access = random_secret("dv_at_");
    let refresh = random_secret("dv_rt_");
    let (access_key, refresh_key) = (digest_hex(&access), digest_hex(&refresh));
    let limits = inner.settings.limits.clone();
    let known_scopes = inner.settings.scopes.clone();
    let (client_id, scope, resource) = (request.client_id, request.scope, request.resource);
    let outcome = update(inner, move |s| {
        let Some(old) = s.refresh_tokens.get(&key).cloned() else {
            return Refreshed::Unknown;
        };
        let Some(grant) = s.grants.get(&old.grant_id).cloned() else {
            return Refreshed::Unknown;
        };
        if old.expires_at <= now {
            return Refreshed::Unknown;
        }
        if client_id.as_deref().is_some_and(|c| c != grant.client_id) {
            return Refreshed::OtherClient;
        }
        if old.rotated_at.is_some() {
            let client = s.client_ref(&grant.client_id);
            s.revoke_grant(&old.grant_id);
            return Refreshed::Reused(client);
        }
        let scopes = match scope.as_deref() {
            None => grant.scopes.clone(),
            Some(requested) => match parse_scopes(Some(requested), &known_scopes) {
                Ok(asked) if asked.iter().all(|a| grant.scopes.contains(a)) => asked,
                Ok(_) => return Refreshed::BadScope(requested.to_string()),
                Err(unknown) => return Refreshed::BadScope(unknown),
            },
        };
        if let Some(r) = resource.as_deref()
            && !resource_matches(r, &grant.resource)
        {
            return Refreshed::OtherResource(r.to_string());
        }
        if let Some(entry) = s.refresh_tokens.get_mut(&key) {
            entry.rotated_at = Some(now);
        }
        s.refresh_tokens.insert(
            refresh_key,
            RefreshRecord {
                grant_id: old.grant_id.clone(),
                expires_at: now + limits.refresh_ttl,
                rotated_at: None,
            },
        );
        s.access_tokens.insert(
            access_key,
            AccessRecord {
                grant_id: old.grant_id.clone(),
                expires_at: now + limits.access_ttl,
            },
        );
        if let Some(g) = s.grants.get_mut(&old.grant_id) {
            g.last_used = Some(now);
        }
        Refreshed::Issued(scopes)
    })
    .await;
    match outcome {
        Err(response) => response,
        Ok(Refreshed::Issued(scopes)) => issued(inner, access, refresh, &scopes),
        Ok(Refreshed::Unknown) => {
            fail("invalid_grant", "unknown, expired or revoked refresh token")
        }
        Ok(Refreshed::OtherClient) => fail(
            "invalid_grant",
            "the refresh token was issued to another client",
        ),
        Ok(Refreshed::BadScope(scope)) => fail(
            "invalid_scope",
            format!("scope {} was not granted", quote(&scope)),
        ),
        Ok(Refreshed::OtherResource(r)) => fail(
            "invalid_target",
            format!("resource {} is not the one authorized", quote(&r)),
        ),
        Ok(Refreshed::Reused(client)) => {
            inner.audit(OAuthEvent::Revoked {
                client,
                reason: "a rotated refresh token was used again; the grant is revoked".into(),
            });
            fail(
                "invalid_grant",
                "this refresh token was already used; the grant is revoked",
            )
        }
    }
}

/// `POST /revoke`: always `200` for a well-formed request, known token or not (RFC 7009 §2.2).
/// Revoking a refresh token ends its grant; an access token ends alone.
pub(crate) async fn revoke(
    State(inner): State<Arc<Inner>>,
    form: Result<Form<RevokeRequest>, FormRejection>,
) -> Response {
    let Ok(Form(request)) = form else {
        return fail("invalid_request", "the body must be a form");
    };
    let Some(token) = request.token.filter(|t| !t.is_empty()) else {
        return fail("invalid_request", "token is required");
    };
    if token.len() <= MAX_TOKEN_LEN {
        let key = digest_hex(&token);
        let client_id = request.client_id;
        let ended = update(&inner, move |s| {
            let grant_id = s
                .access_tokens
                .get(&key)
                .map(|t| (t.grant_id.clone(), false))
                .or_else(|| {
                    s.refresh_tokens
                        .get(&key)
                        .map(|t| (t.grant_id.clone(), true))
                });
            let (grant_id, whole) = grant_id?;
            let owner = s.grants.get(&grant_id).map(|g| g.client_id.clone())?;
            // Another client's token is not this client's to revoke; say nothing.
            if client_id.as_deref().is_some_and(|c| c != owner) {
                return None;
            }
            if whole {
                s.revoke_grant(&grant_id);
            } else {
                s.access_tokens.remove(&key);
            }
            Some(s.client_ref(&owner))
        })
        .await;
        match ended {
            Ok(Some(client)) => inner.audit(OAuthEvent::Revoked {
                client,
                reason: "revoked by the client".into(),
            }),
            Ok(None) => {}
            Err(response) => return response,
        }
    }
    let mut response = StatusCode::OK.into_response();
    headers(&mut response);
    response
}

/// The resource side's check. The token is hashed first and looked up by its digest, so
/// the lookup's timing depends on the digest only, which an attacker cannot steer towards a
/// stored one; no comparison ever touches the token itself.
pub(crate) async fn verify_access_token(inner: &Arc<Inner>, token: &str) -> Option<Grant> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let now = inner.clock.now();
    // Picks up `deepvault auth revoke` run while the server is up (one stat a second).
    inner.store.reload_if_changed(now);
    let key = digest_hex(token);
    let grant = inner.store.read(|s| {
        let record = s.access_tokens.get(&key).filter(|t| t.expires_at > now)?;
        let grant = s.grants.get(&record.grant_id)?;
        Some(Grant {
            grant_id: record.grant_id.clone(),
            client_id: grant.client_id.clone(),
            client_name: grant.client_name.clone(),
            scopes: grant.scopes.clone(),
            resource: grant.resource.clone(),
        })
    })?;
    if inner.store.touch(&grant.grant_id, now) {
        inner.audit(OAuthEvent::TokenUsed {
            client: ClientRef {
                client_id: grant.client_id.clone(),
                client_name: grant.client_name.clone(),
            },
        });
        // Write `last_used` back now and then, off the request path.
        let inner = inner.clone();
        tokio::spawn(async move {
            let _ = update(&inner, |_| ()).await;
        });
    }
    Some(grant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_an_independent_computation() {
        // Challenge computed with Python: urlsafe_b64encode(sha256(verifier)).rstrip('=').
        let verifier = "dBjftJeZ4CVP-mJ92K4y3Zqx8GTt5nDDvw1fEJHYTVw";
        assert!(valid_verifier(verifier));
        assert!(pkce_matches(
            verifier,
            "7LnzVq_p0M8rsBnQwFzlZszv6XYwe84lWzCucZh_jqw"
        ));
        assert!(!pkce_matches(
            verifier,
            "7LnzVq_p0M8rsBnQwFzlZszv6XYwe84lWzCucZh_jqx"
        ));
        assert!(!valid_verifier("short"));
    }
}
