//! The built-in OAuth 2.1 authorization server (`auth = "builtin"`): what lets ChatGPT connect
//! with nothing but a passphrase the owner types once on a consent page.
//!
//! | route                                     | what                                              |
//! |-------------------------------------------|---------------------------------------------------|
//! | `/.well-known/oauth-authorization-server` | RFC 8414 metadata ([`metadata`])                  |
//! | `POST /register`                          | RFC 7591 dynamic registration ([`register`])      |
//! | `GET/POST /authorize`                     | the checks, the consent page, the decision ([`authorize`], [`consent`]) |
//! | `POST /token`, `POST /revoke`             | code and refresh grants, RFC 7009 ([`token`])     |
//!
//! A `client_id` that is an https URL is a Client ID Metadata Document, fetched under strict
//! limits ([`cimd`]). The resource side (`super::auth`) calls [`AuthServer::verify_access_token`]
//! for `dv_at_` bearer tokens and checks the grant's resource and scope.
//!
//! What ChatGPT does, and what this is designed for: it reads the protected-resource metadata,
//! then this server's metadata; registers as a public client (`token_endpoint_auth_method=none`);
//! opens `/authorize` with `redirect_uri=https://chatgpt.com/connector_platform_oauth_redirect`,
//! S256 PKCE and `resource=<public_url>/mcp` (on a reconnect without `scope`: the read scope is
//! granted); exchanges the code and refreshes later.
//!
//! # Layout
//!
//! - this file: [`AuthServer`] (settings, clock, audit, state) and its router.
//! - [`metadata`], [`register`], [`cimd`], [`authorize`], [`consent`], [`token`]: the endpoints.
//! - [`gate`]: passphrase checks with back-off per client address and overall.
//!
//! Persistent state (clients, grants, token digests, the passphrase hash) is in
//! `crate::service::oauth`; pending consents and codes live here, in memory, for minutes.

pub(crate) mod authorize;
pub(crate) mod cimd;
pub(crate) mod consent;
pub(crate) mod gate;
pub(crate) mod metadata;
pub(crate) mod register;
pub(crate) mod token;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::routing::{get, post};

use crate::error::Result;
use crate::service::audit::{AuditLog, OAuthEvent};
use crate::service::oauth::store::Store;
use crate::service::oauth::{self, Clock, READ_SCOPE};

pub(crate) use metadata::ProtectedResourceMetadata;

/// Where the server lives and what it grants.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// The public base URL as clients see it, without a trailing `/`: the issuer.
    pub(crate) public_url: String,
    /// The protected resource, `<public_url>/mcp`; tokens are bound to it (RFC 8707).
    pub(crate) resource: String,
    /// The state folder; this server keeps its files in `<state_dir>/oauth/`.
    pub(crate) state_dir: PathBuf,
    /// Every scope the server knows. A request without `scope` gets all of them (deepvault has
    /// one, the read scope), which is what ChatGPT's scope-less reconnect needs.
    pub(crate) scopes: Vec<String>,
    pub(crate) limits: Limits,
}

impl Settings {
    /// Settings for a public URL with the read scope and the default limits.
    pub(crate) fn new(public_url: &str, state_dir: PathBuf) -> Settings {
        let public_url = public_url.trim_end_matches('/').to_string();
        Settings {
            resource: format!("{public_url}/mcp"),
            public_url,
            state_dir,
            scopes: vec![READ_SCOPE.to_string()],
            limits: Limits::default(),
        }
    }
}

/// Lifetimes and caps; the defaults are the issue's. Tests move the clock rather than shorten
/// these.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// Authorization codes live this long (seconds).
    pub(crate) code_ttl: u64,
    /// Access tokens live this long (seconds).
    pub(crate) access_ttl: u64,
    /// A refresh token lives this long after it is issued; each refresh issues a new one.
    pub(crate) refresh_ttl: u64,
    /// A consent page (its CSRF token) stays usable this long.
    pub(crate) consent_ttl: u64,
    /// Registered clients at most; never-approved ones are dropped after a day.
    pub(crate) max_clients: usize,
    /// Registrations per client address per hour.
    pub(crate) registrations_per_hour: usize,
    /// Argon2 verifications running at once (each takes ~19 MiB and tens of ms of CPU).
    pub(crate) concurrent_hashes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            code_ttl: 60,
            access_ttl: 3600,
            refresh_ttl: 30 * 24 * 3600,
            consent_ttl: 600,
            max_clients: 100,
            registrations_per_hour: 20,
            concurrent_hashes: 2,
        }
    }
}

/// What a valid access token grants. [`AuthServer::verify_access_token`] returns it; the caller
/// checks `resource` and `scopes` against what it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Grant {
    /// The grant (token family) this token belongs to.
    pub(crate) grant_id: String,
    pub(crate) client_id: String,
    pub(crate) client_name: String,
    pub(crate) scopes: Vec<String>,
    /// The RFC 8707 resource the token was issued for.
    pub(crate) resource: String,
}

/// The client's address: the socket's peer (`ConnectInfo`). Behind a tunnel every request comes
/// from the tunnel's address, so per-address limits then act as one more global limit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientAddr(pub(crate) IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> std::result::Result<ClientAddr, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        Ok(ClientAddr(ip))
    }
}

/// The authorization server; cheap to clone.
#[derive(Clone)]
pub(crate) struct AuthServer {
    inner: Arc<Inner>,
}

/// What the endpoints share.
pub(crate) struct Inner {
    pub(crate) settings: Settings,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) audit: AuditLog,
    pub(crate) store: Arc<Store>,
    pub(crate) flows: Mutex<authorize::Flows>,
    pub(crate) registrations: Mutex<register::RateWindow>,
    pub(crate) gate: gate::Gate,
    pub(crate) cimd: cimd::Cimd,
}

impl Inner {
    /// Records an audit event.
    pub(crate) fn audit(&self, event: OAuthEvent) {
        self.audit.oauth(event);
    }
}

/// Request bodies on these routes are small forms and JSON documents.
const BODY_LIMIT: usize = 16 * 1024;

impl AuthServer {
    /// Opens (creating) the state folder and loads clients, grants and tokens.
    pub(crate) fn open(
        settings: Settings,
        clock: Arc<dyn Clock>,
        audit: AuditLog,
        network: cimd::CimdNetwork,
    ) -> Result<AuthServer> {
        let store = Store::open(&settings.state_dir, clock.now())?;
        let gate = gate::Gate::new(
            settings.state_dir.clone(),
            settings.limits.concurrent_hashes,
        );
        Ok(AuthServer {
            inner: Arc::new(Inner {
                clock,
                audit,
                store: Arc::new(store),
                flows: Mutex::new(authorize::Flows::default()),
                registrations: Mutex::new(register::RateWindow::default()),
                gate,
                cimd: cimd::Cimd::new(network),
                settings,
            }),
        })
    }

    /// The routes. Merge them outside the bearer middleware; they need
    /// `ConnectInfo<SocketAddr>` for the per-address limits.
    pub(crate) fn router(&self) -> Router {
        Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(metadata::authorization_server),
            )
            .route("/register", post(register::register))
            .route("/authorize", get(authorize::show).post(authorize::decide))
            .route("/token", post(token::token))
            .route("/revoke", post(token::revoke))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(self.inner.clone())
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The grant behind a bearer token, or `None` for an unknown, expired or revoked one.
    pub(crate) async fn verify_access_token(&self, token: &str) -> Option<Grant> {
        token::verify_access_token(&self.inner, token).await
    }

    /// The RFC 9728 document naming this server.
    pub(crate) fn protected_resource_metadata(&self) -> ProtectedResourceMetadata {
        ProtectedResourceMetadata::builtin(&self.inner.settings)
    }

    /// Revokes a client's grants (and its registration), or everything; for tests and a future
    /// admin endpoint. The CLI uses `service::oauth::revoke` on the folder.
    #[cfg(test)]
    pub(crate) async fn revoke(&self, target: oauth::Revocation) -> Result<usize> {
        let inner = self.inner.clone();
        let now = inner.clock.now();
        let store = inner.store.clone();
        let (count, clients) = tokio::task::spawn_blocking(move || store.revoke(now, &target))
            .await
            .expect("the revocation task does not panic")?;
        for client in clients {
            inner.audit(OAuthEvent::Revoked {
                client,
                reason: "revoked by the owner".into(),
            });
        }
        Ok(count)
    }

    /// Registered clients and their live grants (the running server's view).
    #[cfg(test)]
    pub(crate) fn clients(&self) -> Vec<oauth::ClientSummary> {
        self.inner.store.summaries(self.inner.clock.now())
    }
}

/// True when `deepvault auth passphrase` has run for this state folder.
pub(crate) fn has_passphrase(state_dir: &std::path::Path) -> bool {
    oauth::passphrase_is_set(state_dir)
}

#[cfg(test)]
mod tests {
    //! In-process, over `Router::oneshot`: what needs a fake network (Client ID Metadata
    //! Documents from "public" hosts) or the server's own handle. Everything else is tested
    //! against the real binary in tests/it/oauth.rs.

    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    use tower::ServiceExt;

    use super::cimd::{CimdNetwork, FetchDocument, Resolve};
    use super::*;
    use crate::service::oauth::SystemClock;

    const REDIRECT: &str = "http://127.0.0.1:9/callback";
    const PASSPHRASE: &str = "correct horse battery";

    /// Names to addresses, URLs to bodies; counts fetches.
    #[derive(Default)]
    struct FakeNet {
        hosts: Vec<(&'static str, Vec<SocketAddr>)>,
        docs: Vec<(String, Vec<u8>)>,
        fetches: AtomicUsize,
    }

    impl Resolve for FakeNet {
        fn resolve(&self, host: &str, _port: u16) -> std::io::Result<Vec<SocketAddr>> {
            self.hosts
                .iter()
                .find(|(h, _)| *h == host)
                .map(|(_, a)| a.clone())
                .ok_or_else(|| std::io::Error::other("no such host"))
        }
    }

    impl FetchDocument for FakeNet {
        fn fetch(
            &self,
            url: &str,
            _addrs: &[SocketAddr],
            _max_bytes: usize,
            _timeout: Duration,
        ) -> std::result::Result<Vec<u8>, String> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            self.docs
                .iter()
                .find(|(u, _)| u == url)
                .map(|(_, b)| b.clone())
                .ok_or_else(|| "it answered 404".into())
        }
    }

    fn doc(client_id: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "client_id": client_id,
            "client_name": "Metadata App",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
        }))
        .unwrap()
    }

    async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Answer) {
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            Answer {
                location,
                body: String::from_utf8_lossy(&body).into_owned(),
            },
        )
    }

    struct Answer {
        location: Option<String>,
        body: String,
    }

    fn authorize(client_id: &str, challenge: &str) -> Request<Body> {
        let query = serde_urlencoded(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]);
        Request::get(format!("/authorize?{query}"))
            .body(Body::empty())
            .unwrap()
    }

    fn form(path: &str, fields: &[(&str, &str)]) -> Request<Body> {
        Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(serde_urlencoded(fields)))
            .unwrap()
    }

    fn serde_urlencoded(fields: &[(&str, &str)]) -> String {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        fields
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
            .collect::<Vec<_>>()
            .join("&")
    }

    #[tokio::test]
    async fn client_id_metadata_documents_are_fenced_in() {
        let dir = tempfile::tempdir().unwrap();
        oauth::set_passphrase(dir.path(), PASSPHRASE).unwrap();
        let public: SocketAddr = "93.184.215.14:443".parse().unwrap();
        let good = "https://good.example/client.json";
        let net = Arc::new(FakeNet {
            hosts: vec![
                ("internal.example", vec!["10.0.0.5:443".parse().unwrap()]),
                (
                    "rebind.example",
                    vec![public, "127.0.0.1:443".parse().unwrap()],
                ),
                (
                    "mapped.example",
                    vec!["[::ffff:192.168.1.1]:443".parse().unwrap()],
                ),
                ("good.example", vec![public]),
                ("liar.example", vec![public]),
            ],
            docs: vec![
                (good.into(), doc(good)),
                ("https://liar.example/client.json".into(), doc(good)),
            ],
            fetches: AtomicUsize::new(0),
        });
        let server = AuthServer::open(
            Settings::new("http://127.0.0.1:1", dir.path().to_path_buf()),
            Arc::new(SystemClock),
            AuditLog::default(),
            CimdNetwork {
                resolver: net.clone(),
                fetcher: net.clone(),
            },
        )
        .unwrap();
        let app = server.router();
        let verifier = "dBjftJeZ4CVP-mJ92K4y3Zqx8GTt5nDDvw1fEJHYTVw";
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        for refused in [
            "https://internal.example/client.json",
            "https://rebind.example/client.json",
            "https://mapped.example/client.json",
            "https://169.254.169.254/latest/meta-data",
            "https://10.1.2.3/client.json",
        ] {
            let (status, answer) = send(&app, authorize(refused, &challenge)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
            assert!(answer.location.is_none());
            assert!(answer.body.contains("not a public address"), "{refused}");
        }
        assert_eq!(net.fetches.load(Ordering::SeqCst), 0, "nothing was fetched");
        let (status, answer) = send(
            &app,
            authorize("https://liar.example/client.json", &challenge),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(answer.body.contains("is not the URL it was fetched from"));

        // The good document: the consent page names it; the flow ends with the URL as client.
        let (status, page) = send(&app, authorize(good, &challenge)).await;
        assert_eq!(status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("Metadata App"));
        let marker = "name=\"csrf_token\" value=\"";
        let start = page.body.find(marker).unwrap() + marker.len();
        let csrf = page.body[start..].split('"').next().unwrap().to_string();
        let (status, answer) = send(
            &app,
            form(
                "/authorize",
                &[
                    ("csrf_token", &csrf),
                    ("passphrase", PASSPHRASE),
                    ("action", "approve"),
                ],
            ),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let location = answer.location.unwrap();
        let code = location
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("code="))
            .unwrap()
            .to_string();
        let (status, answer) = send(
            &app,
            form(
                "/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", good),
                    ("code", &code),
                    ("code_verifier", verifier),
                ],
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", answer.body);
        let listed = server.clients();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].client_id, good);
        assert_eq!(listed[0].kind, oauth::ClientKind::Cimd);
        assert_eq!(server.revoke(oauth::Revocation::All).await.unwrap(), 1);
        assert!(server.clients().is_empty());
    }
}
