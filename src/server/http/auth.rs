//! Who may talk to the server: static bearer tokens (Codex `bearer_token_env_var`, the Responses
//! API `headers`/`authorization`), and an OAuth 2.1 resource server for ChatGPT: against the
//! built-in authorization server (`dv_at_` tokens, [`super::oauth`]) or any issuer that publishes
//! a JWKS.
//!
//! - Tokens come only from the `Authorization: Bearer` header, never from the query string.
//!   Static tokens are compared in constant time (SHA-256 digests, every token checked).
//! - JWTs are validated for signature (RS256 or ES256 only: no `none`, no HMAC), `iss`, `aud`
//!   (our canonical resource, RFC 8707), `exp`/`nbf` and required scopes. The JWKS is cached and
//!   fetched again when a token names an unknown `kid` (at most every 10 s).
//! - Built-in tokens are looked up by digest and must have been issued for this server's `/mcp`
//!   (RFC 8707) with the read scope.
//! - A missing or bad token is `401` with `WWW-Authenticate: Bearer …` (with `resource_metadata`
//!   and `scope` when OAuth is on, RFC 9728); a token without the scopes is `403`.
//!
//! The middleware puts a [`ClientId`] into the request for the audit log and the rate limiter;
//! it never holds the token itself.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::AppError;
use super::oauth::{AuthServer, ProtectedResourceMetadata};
use crate::config::auth::{OAuthSettings, StaticToken};
use crate::service::client::ClientId;
use crate::service::oauth::READ_SCOPE;

/// What a request's credentials are worth.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allowed(ClientId),
    /// No credentials.
    Missing,
    /// Credentials that do not check out; the reason is for the log and the error description.
    Invalid(String),
    /// A valid token without the required scopes.
    InsufficientScope,
}

/// The authenticator shared by every route.
pub(crate) struct Auth {
    tokens: Vec<StaticToken>,
    oauth: Option<OAuth>,
    builtin: Option<AuthServer>,
}

struct OAuth {
    settings: OAuthSettings,
    jwks: RwLock<Option<JwkSet>>,
    jwks_url: Mutex<Option<String>>,
    last_fetch: Mutex<Option<Instant>>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    client_id: Option<String>,
    azp: Option<String>,
    scope: Option<String>,
    scp: Option<serde_json::Value>,
}

impl Auth {
    pub(crate) fn new(tokens: Vec<StaticToken>, oauth: Option<OAuthSettings>) -> Auth {
        Auth {
            tokens,
            oauth: oauth.map(|settings| OAuth {
                jwks_url: Mutex::new(settings.jwks_url.clone()),
                settings,
                jwks: RwLock::new(None),
                last_fetch: Mutex::new(None),
            }),
            builtin: None,
        }
    }

    /// Also accepts the built-in authorization server's tokens.
    pub(crate) fn with_builtin(mut self, server: AuthServer) -> Auth {
        self.builtin = Some(server);
        self
    }

    /// True when some credential is required.
    pub(crate) fn is_enabled(&self) -> bool {
        !self.tokens.is_empty() || self.oauth.is_some() || self.builtin.is_some()
    }

    /// Checks a request's headers.
    pub(crate) async fn check(&self, headers: &HeaderMap) -> Verdict {
        if !self.is_enabled() {
            return Verdict::Allowed(ClientId("anonymous".into()));
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Verdict::Missing;
        };
        let Some(token) = value
            .to_str()
            .ok()
            .and_then(bearer_token)
            .filter(|t| !t.is_empty())
        else {
            return Verdict::Invalid("the Authorization header is not `Bearer <token>`".into());
        };
        if let Some(label) = self.static_token(token) {
            return Verdict::Allowed(ClientId(label));
        }
        if let Some(builtin) = &self.builtin
            && token.starts_with("dv_at_")
        {
            return builtin_verdict(builtin, token).await;
        }
        match &self.oauth {
            Some(oauth) if token.matches('.').count() == 2 => oauth.verify(token).await,
            _ => Verdict::Invalid("unknown token".into()),
        }
    }

    /// Constant-time comparison against every static token.
    fn static_token(&self, token: &str) -> Option<String> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for candidate in &self.tokens {
            if bool::from(candidate.digest.ct_eq(&digest)) && found.is_none() {
                found = Some(candidate.label.clone());
            }
        }
        found
    }

    /// The `WWW-Authenticate` value for a failed request.
    pub(crate) fn challenge(&self, verdict: &Verdict) -> String {
        let mut value = String::from("Bearer realm=\"deepvault\"");
        if let Some(builtin) = &self.builtin {
            let settings = builtin.settings();
            value.push_str(&format!(
                ", resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", scope=\"{}\"",
                settings.public_url,
                settings.scopes.join(" ")
            ));
        } else if let Some(oauth) = &self.oauth {
            value.push_str(&format!(
                ", resource_metadata=\"{}\"",
                oauth.settings.metadata_url
            ));
            if !oauth.settings.scopes.is_empty() {
                value.push_str(&format!(", scope=\"{}\"", oauth.settings.scopes.join(" ")));
            }
        }
        match verdict {
            Verdict::Invalid(reason) => value.push_str(&format!(
                ", error=\"invalid_token\", error_description=\"{}\"",
                reason.replace(['"', '\\'], "'")
            )),
            Verdict::InsufficientScope => value.push_str(", error=\"insufficient_scope\""),
            _ => {}
        }
        value
    }

    /// The RFC 9728 protected-resource metadata: naming the built-in server or the issuer.
    pub(crate) fn resource_metadata(&self) -> Option<ProtectedResourceMetadata> {
        if let Some(builtin) = &self.builtin {
            return Some(builtin.protected_resource_metadata());
        }
        let oauth = self.oauth.as_ref()?;
        Some(ProtectedResourceMetadata::new(
            &oauth.settings.resource,
            &oauth.settings.issuer,
            &oauth.settings.scopes,
        ))
    }
}

/// A built-in access token: known, live, issued for this server's `/mcp`, with the read scope.
async fn builtin_verdict(builtin: &AuthServer, token: &str) -> Verdict {
    let Some(grant) = builtin.verify_access_token(token).await else {
        return Verdict::Invalid("unknown, expired or revoked token".into());
    };
    if grant.resource != builtin.settings().resource {
        return Verdict::Invalid(format!(
            "the token was issued for another resource ({}), not {}",
            grant.resource,
            builtin.settings().resource
        ));
    }
    if !grant.scopes.iter().any(|s| s == READ_SCOPE) {
        return Verdict::InsufficientScope;
    }
    Verdict::Allowed(ClientId(format!("oauth:{}", grant.client_id)))
}

impl OAuth {
    async fn verify(&self, token: &str) -> Verdict {
        let header = match jsonwebtoken::decode_header(token) {
            Ok(header) => header,
            Err(_) => {
                // Say which algorithm was refused (`none`, say) when the header names one.
                return Verdict::Invalid(match header_alg(token) {
                    Some(alg) => format!("algorithm {alg} is not accepted (RS256 or ES256)"),
                    None => "the token is not a JWT".into(),
                });
            }
        };
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Verdict::Invalid(format!(
                "algorithm {:?} is not accepted (RS256 or ES256)",
                header.alg
            ));
        }
        let Some(kid) = header.kid.clone() else {
            return Verdict::Invalid("the token has no key id (kid)".into());
        };
        let mut jwk = self.key(&kid);
        if jwk.is_none() && self.may_refetch() {
            if let Err(err) = self.fetch_jwks().await {
                tracing::warn!("cannot fetch the issuer's keys: {err}");
                return Verdict::Invalid("the issuer's keys are unavailable".into());
            }
            jwk = self.key(&kid);
        }
        let Some(jwk) = jwk else {
            return Verdict::Invalid(format!("unknown key id {kid:?}"));
        };
        let key = match DecodingKey::from_jwk(&jwk) {
            Ok(key) => key,
            Err(_) => return Verdict::Invalid("the issuer's key cannot be used".into()),
        };
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&self.settings.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        let data = match jsonwebtoken::decode::<Claims>(token, &key, &validation) {
            Ok(data) => data,
            Err(err) => return Verdict::Invalid(describe(&err)),
        };
        let claims = data.claims;
        let mut granted: HashSet<String> = claims
            .scope
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect();
        match claims.scp {
            Some(serde_json::Value::String(s)) => {
                granted.extend(s.split_whitespace().map(String::from))
            }
            Some(serde_json::Value::Array(items)) => {
                granted.extend(items.iter().filter_map(|v| v.as_str().map(String::from)))
            }
            _ => {}
        }
        if !self.settings.scopes.iter().all(|s| granted.contains(s)) {
            return Verdict::InsufficientScope;
        }
        let who = claims
            .sub
            .or(claims.client_id)
            .or(claims.azp)
            .unwrap_or_else(|| "unknown".into());
        Verdict::Allowed(ClientId(format!("sub:{who}")))
    }

    fn key(&self, kid: &str) -> Option<jsonwebtoken::jwk::Jwk> {
        let jwks = self.jwks.read().unwrap_or_else(|e| e.into_inner());
        jwks.as_ref().and_then(|set| set.find(kid)).cloned()
    }

    /// Unknown key ids refetch the JWKS, at most every 10 s (but always when none is cached).
    fn may_refetch(&self) -> bool {
        let mut last = self.last_fetch.lock().unwrap_or_else(|e| e.into_inner());
        let cached = self.jwks.read().map(|j| j.is_some()).unwrap_or(false);
        let allowed = !cached || last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
        if allowed {
            *last = Some(Instant::now());
        }
        allowed
    }

    async fn fetch_jwks(&self) -> Result<(), String> {
        let known_url = self
            .jwks_url
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let issuer = self.settings.issuer.clone();
        let (url, set) =
            tokio::task::spawn_blocking(move || -> Result<(String, JwkSet), String> {
                let url = match known_url {
                    Some(url) => url,
                    None => discover_jwks_url(&issuer)?,
                };
                let body = http_get(&url)?;
                let set: JwkSet =
                    serde_json::from_str(&body).map_err(|e| format!("{url} is not a JWKS: {e}"))?;
                Ok((url, set))
            })
            .await
            .map_err(|e| e.to_string())??;
        *self.jwks_url.lock().unwrap_or_else(|e| e.into_inner()) = Some(url);
        *self.jwks.write().unwrap_or_else(|e| e.into_inner()) = Some(set);
        Ok(())
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is case-insensitive
/// (RFC 7235 §2.1): `Bearer`, `bearer` and `BEARER` alike.
fn bearer_token(value: &str) -> Option<&str> {
    let value = value.trim_start();
    let (scheme, token) = value.split_once([' ', '\t'])?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The `alg` a JWT's header names, read without trusting anything else in it.
fn header_alg(token: &str) -> Option<String> {
    use base64::Engine as _;
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let alg: String = value.get("alg")?.as_str()?.chars().take(20).collect();
    Some(alg.replace(|c: char| !c.is_ascii_alphanumeric(), ""))
}

/// OIDC discovery, then RFC 8414 metadata: the issuer's `jwks_uri`.
fn discover_jwks_url(issuer: &str) -> Result<String, String> {
    let base = issuer.trim_end_matches('/');
    let mut errors = Vec::new();
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let url = format!("{base}{path}");
        match http_get(&url).and_then(|body| {
            serde_json::from_str::<serde_json::Value>(&body).map_err(|e| e.to_string())
        }) {
            Ok(doc) => {
                if let Some(jwks) = doc.get("jwks_uri").and_then(|v| v.as_str()) {
                    return Ok(jwks.to_string());
                }
                errors.push(format!("{url} has no jwks_uri"));
            }
            Err(err) => errors.push(format!("{url}: {err}")),
        }
    }
    Err(format!(
        "cannot discover the JWKS of {issuer} ({}); set oauth_jwks_url",
        errors.join("; ")
    ))
}

fn http_get(url: &str) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    agent
        .get(url)
        .call()
        .map_err(|e| format!("GET {url}: {e}"))?
        .body_mut()
        .with_config()
        .limit(4 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| format!("GET {url}: {e}"))
}

fn describe(err: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match err.kind() {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidAudience => "the token was issued for another audience".into(),
        ErrorKind::InvalidIssuer => "the token was issued by another issuer".into(),
        ErrorKind::InvalidSignature => "the token's signature does not verify".into(),
        ErrorKind::InvalidAlgorithm => "the token's algorithm does not match its key".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token lacks the {claim} claim"),
        _ => "the token is invalid".into(),
    }
}

/// The middleware for protected routes: 401/403, or the [`ClientId`] in the request.
pub(crate) async fn require(
    State(auth): State<Arc<Auth>>,
    mut request: Request,
    next: Next,
) -> Response {
    if has_token_in_query(request.uri().query()) {
        return AppError::client(
            StatusCode::BAD_REQUEST,
            "tokens are not accepted in the query string; send an `Authorization: Bearer <token>` header",
        )
        .into_response();
    }
    match auth.check(request.headers()).await {
        Verdict::Allowed(client) => {
            request.extensions_mut().insert(client);
            next.run(request).await
        }
        verdict => reject(&auth, &verdict),
    }
}

/// The 401/403 response for a verdict.
pub(crate) fn reject(auth: &Auth, verdict: &Verdict) -> Response {
    let (status, message) = match verdict {
        Verdict::InsufficientScope => (
            StatusCode::FORBIDDEN,
            "the token lacks a required scope".to_string(),
        ),
        Verdict::Invalid(reason) => (StatusCode::UNAUTHORIZED, format!("unauthorized: {reason}")),
        _ => (
            StatusCode::UNAUTHORIZED,
            "unauthorized: send an `Authorization: Bearer <token>` header".to_string(),
        ),
    };
    AppError::client(status, message)
        .with_header(header::WWW_AUTHENTICATE, &auth.challenge(verdict))
        .into_response()
}

fn has_token_in_query(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|pair| {
            let key = pair.split('=').next().unwrap_or("").to_ascii_lowercase();
            matches!(
                key.as_str(),
                "access_token" | "token" | "bearer" | "api_key" | "apikey"
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            axum::http::HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    #[tokio::test]
    async fn static_tokens() {
        let auth = Auth::new(
            vec![
                StaticToken::new(Some("laptop"), "s3cret-token-0123456789"),
                StaticToken::new(None, "another-token-abcdefghij"),
            ],
            None,
        );
        assert!(auth.is_enabled());
        assert_eq!(
            auth.check(&headers("Bearer s3cret-token-0123456789")).await,
            Verdict::Allowed(ClientId("laptop".into()))
        );
        assert!(matches!(
            auth.check(&headers("Bearer another-token-abcdefghij")).await,
            Verdict::Allowed(ClientId(label)) if label.starts_with("token-")
        ));
        assert_eq!(auth.check(&HeaderMap::new()).await, Verdict::Missing);
        assert!(matches!(
            auth.check(&headers("Bearer wrong")).await,
            Verdict::Invalid(_)
        ));
        // The scheme in any case (RFC 7235).
        for scheme in ["bearer", "BEARER", "bEaReR"] {
            assert_eq!(
                auth.check(&headers(&format!("{scheme} s3cret-token-0123456789")))
                    .await,
                Verdict::Allowed(ClientId("laptop".into())),
                "{scheme}"
            );
        }
        assert!(matches!(
            auth.check(&headers("Bearers3cret-token-0123456789")).await,
            Verdict::Invalid(_)
        ));
        assert!(matches!(
            auth.check(&headers("Basic abc")).await,
            Verdict::Invalid(_)
        ));
        assert!(matches!(
            auth.check(&headers("Bearer ")).await,
            Verdict::Invalid(_)
        ));
        assert!(auth.challenge(&Verdict::Missing).starts_with("Bearer"));
    }

    #[tokio::test]
    async fn no_auth_allows_everyone() {
        let auth = Auth::new(Vec::new(), None);
        assert!(!auth.is_enabled());
        assert!(matches!(
            auth.check(&HeaderMap::new()).await,
            Verdict::Allowed(_)
        ));
    }

    #[test]
    fn tokens_in_the_query_string_are_spotted() {
        assert!(has_token_in_query(Some("access_token=x")));
        assert!(has_token_in_query(Some("a=1&Token=x")));
        assert!(!has_token_in_query(Some("q=token")));
        assert!(!has_token_in_query(None));
    }
}
