//! The built-in OAuth authorization server (`auth = "builtin"`) against the real binary: the
//! whole ChatGPT sequence, then each negative case of issue 17, one test apiece. Time moves
//! through the test-only clock file (`DEEPVAULT_TEST_CLOCK_FILE`), never by sleeping.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{Server, TestVault, call, tool_json, wait_until};

const PASSPHRASE: &str = "correct horse battery";
/// What ChatGPT registers and sends.
const CHATGPT_REDIRECT: &str = "https://chatgpt.com/connector_platform_oauth_redirect";
const STATIC_TOKEN: &str = "laptop-token-0123456789abcdef";

/// A vault, its passphrase set through `deepvault auth passphrase` (piped), and a clock file.
struct Setup {
    t: TestVault,
    clock: PathBuf,
    offset: std::cell::Cell<u64>,
}

impl Setup {
    fn new() -> Setup {
        let t = TestVault::new();
        t.note("garden.md", "# Garden\nthe quokka tends tomatoes\n")
            .note(
                "secret.md",
                "---\ndeepvault: private\n---\nquokka wombatword\n",
            );
        let setup = Setup {
            clock: t.index_dir().join("clock"),
            t,
            offset: std::cell::Cell::new(0),
        };
        std::fs::write(&setup.clock, "0").unwrap();
        setup
    }

    fn with_passphrase() -> Setup {
        let setup = Setup::new();
        setup.set_passphrase(PASSPHRASE);
        setup
    }

    fn set_passphrase(&self, passphrase: &str) -> std::process::Output {
        let mut command = self.t.command(&["auth", "passphrase", self.root()]);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{passphrase}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "auth passphrase failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn root(&self) -> &str {
        self.t.root().to_str().unwrap()
    }

    fn state_dir(&self) -> PathBuf {
        self.t.index_dir().join("state")
    }

    /// Moves the server's OAuth clock forward.
    fn advance(&self, seconds: u64) {
        self.offset.set(self.offset.get() + seconds);
        std::fs::write(&self.clock, self.offset.get().to_string()).unwrap();
    }

    fn command(&self, extra: &[&str]) -> std::process::Command {
        let mut args = vec!["serve", self.root(), "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut command = self.t.command(&args);
        command.env("DEEPVAULT_TEST_CLOCK_FILE", &self.clock);
        command
    }

    /// `deepvault serve --auth builtin` on loopback: the issuer is the bound address.
    async fn serve(&self, extra: &[&str]) -> As {
        let mut args = vec!["--auth", "builtin"];
        args.extend_from_slice(extra);
        As::start(self.command(&args)).await
    }
}

/// A running server as an OAuth client sees it.
struct As {
    server: Server,
    http: reqwest::Client,
    base: String,
}

impl As {
    async fn start(command: std::process::Command) -> As {
        let server = Server::start(command);
        server.wait_ready().await;
        let base = server.url("");
        As {
            server,
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn register(&self, redirect_uris: &[&str]) -> reqwest::Response {
        self.http
            .post(self.url("/register"))
            .json(&json!({
                "client_name": "ChatGPT",
                "redirect_uris": redirect_uris,
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            }))
            .send()
            .await
            .unwrap()
    }

    async fn client(&self) -> String {
        let response = self.register(&[CHATGPT_REDIRECT]).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_endpoint_auth_method"], "none");
        body["client_id"].as_str().unwrap().to_string()
    }

    async fn authorize(&self, params: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .get(self.url("/authorize"))
            .query(params)
            .send()
            .await
            .unwrap()
    }

    /// ChatGPT's authorization request: S256, its redirect, our resource, no scope.
    fn request<'a>(&'a self, client: &'a str, challenge: &'a str) -> Vec<(&'a str, String)> {
        vec![
            ("response_type", "code".into()),
            ("client_id", client.into()),
            ("redirect_uri", CHATGPT_REDIRECT.into()),
            ("code_challenge", challenge.into()),
            ("code_challenge_method", "S256".into()),
            ("state", "st8".into()),
            ("resource", self.url("/mcp")),
        ]
    }

    /// The consent page's CSRF token for a well-formed request.
    async fn consent(&self, client: &str, challenge: &str) -> String {
        let params = self.request(client, challenge);
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = self.authorize(&params).await;
        assert_eq!(page.status(), StatusCode::OK);
        csrf_of(&page.text().await.unwrap())
    }

    async fn post_consent(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("/authorize"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The browser part: consent with the passphrase; a code and its verifier.
    async fn code(&self, client: &str) -> (String, String) {
        let (verifier, challenge) = pkce();
        let csrf = self.consent(client, &challenge).await;
        let answer = self
            .post_consent(&[
                ("csrf_token", &csrf),
                ("passphrase", PASSPHRASE),
                ("action", "approve"),
            ])
            .await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        (query_param(&location(&answer), "code").unwrap(), verifier)
    }

    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url("/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["cache-control"], "no-store");
        (response.status(), response.json().await.unwrap())
    }

    async fn exchange(&self, client: &str, code: &str, verifier: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("client_id", client),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", CHATGPT_REDIRECT),
            ("resource", &self.url("/mcp")),
        ])
        .await
    }

    async fn refresh(&self, client: &str, refresh_token: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("client_id", client),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// Access and refresh token for a new approval.
    async fn tokens(&self, client: &str) -> (String, String) {
        let (code, verifier) = self.code(client).await;
        let (status, body) = self.exchange(client, &code, &verifier).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            body["access_token"].as_str().unwrap().to_string(),
            body["refresh_token"].as_str().unwrap().to_string(),
        )
    }

    /// A `search` over /mcp with a bearer token: the status and the body.
    async fn search(&self, token: &str) -> (StatusCode, String, reqwest::header::HeaderMap) {
        let response = self
            .http
            .post(self.url("/mcp"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "search", "arguments": {"query": "quokka"}}})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        (status, response.text().await.unwrap(), headers)
    }
}

fn pkce() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_string()
}

fn query_param(url: &str, key: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .to_string()
        })
    })
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn mcp_client(
    server: &Server,
    token: &str,
) -> rmcp::service::RunningService<rmcp::service::RoleClient, ()> {
    use rmcp::ServiceExt;
    let config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            server.url("/mcp"),
        )
        .auth_header(token);
    ().serve(rmcp::transport::StreamableHttpClientTransport::from_config(
        config,
    ))
    .await
    .expect("an MCP client with an OAuth token connects")
}

/// Waits until the audit log holds a line with `needle`, and returns the whole log.
async fn audit_with(path: &Path, needle: &str) -> String {
    let mut text = String::new();
    let found = wait_until(std::time::Duration::from_secs(10), async || {
        text = std::fs::read_to_string(path).unwrap_or_default();
        text.contains(needle)
    })
    .await;
    assert!(found, "no {needle} in the audit log:\n{text}");
    text
}

#[tokio::test]
async fn chatgpt_sequence_end_to_end_survives_a_restart_and_keeps_no_secret() {
    let s = Setup::with_passphrase();
    let audit = s.t.index_dir().join("audit.jsonl");
    let audit_arg = audit.to_str().unwrap().to_string();
    let a = s.serve(&["--audit-log", &audit_arg]).await;
    assert!(
        a.server.log().contains("auth: built-in OAuth"),
        "{}",
        a.server.log()
    );

    // 1. The 401 names the protected-resource metadata, which names this server, whose
    //    metadata says what it supports.
    let (status, _, headers) = a.search("dv_at_not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            a.base
        )) && challenge.contains("scope=\"vault:read\""),
        "{challenge}"
    );
    let prm: Value = reqwest::get(a.url("/.well-known/oauth-protected-resource/mcp"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], a.url("/mcp"));
    assert_eq!(prm["authorization_servers"], json!([a.base]));
    let metadata: Value = reqwest::get(a.url("/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], a.base.as_str());
    assert_eq!(metadata["registration_endpoint"], a.url("/register"));
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!(["none"])
    );

    // 2. It registers as a public client.
    let client = a.client().await;

    // 3. /authorize without scope: the consent page, with strict headers, names the client and
    //    where it returns, and asks for the passphrase.
    let (verifier, challenge) = pkce();
    let params = a.request(&client, &challenge);
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = a.authorize(&params).await;
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'")
            && csp.contains("default-src 'none'")
            && csp.contains("form-action 'self' https://chatgpt.com"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Allow <strong>ChatGPT</strong> to read your vault?"));
    assert!(html.contains("chatgpt.com") && html.contains("read-only"));
    assert!(html.contains("type=\"password\" name=\"passphrase\""));
    let answer = a
        .post_consent(&[
            ("csrf_token", &csrf_of(&html)),
            ("passphrase", PASSPHRASE),
            ("action", "approve"),
        ])
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let to = location(&answer);
    assert!(
        to.starts_with(&format!("{CHATGPT_REDIRECT}?code=dv_code_")),
        "{to}"
    );
    assert_eq!(query_param(&to, "state").as_deref(), Some("st8"));
    assert_eq!(query_param(&to, "iss").as_deref(), Some(a.base.as_str()));
    let code = query_param(&to, "code").unwrap();

    // 4. The code becomes tokens: the read scope by default, an hour of life.
    let (status, body) = a.exchange(&client, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "vault:read");
    let access = body["access_token"].as_str().unwrap().to_string();
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    assert!(access.starts_with("dv_at_") && refresh.starts_with("dv_rt_"));

    // Deep research's two tools, over MCP, with the token.
    let mcp = mcp_client(&a.server, &access).await;
    let found = tool_json(&call(&mcp, "search", json!({"query": "quokka tomatoes"})).await);
    assert_eq!(found["results"][0]["id"], "garden.md");
    let note = tool_json(&call(&mcp, "fetch", json!({"id": "garden.md"})).await);
    assert!(note["text"].as_str().unwrap().contains("tends tomatoes"));
    drop(mcp);

    // Nothing secret on disk or in the audit log; the folder is private.
    let oauth_dir = s.state_dir().join("oauth");
    assert_eq!(mode(&oauth_dir), 0o700);
    assert_eq!(mode(&oauth_dir.join("state.json")), 0o600);
    assert_eq!(mode(&oauth_dir.join("passphrase")), 0o600);
    let stored = std::fs::read_to_string(oauth_dir.join("state.json")).unwrap();
    // The tool calls' lines name the OAuth client; they are written after the answers.
    let log = audit_with(&audit, &format!("\"client\":\"oauth:{client}\"")).await;
    for secret in [&access, &refresh, &code, &verifier, &PASSPHRASE.to_string()] {
        assert!(
            !stored.contains(secret.as_str()),
            "state.json holds a secret"
        );
        assert!(
            !log.contains(secret.as_str()),
            "the audit log holds a secret"
        );
        assert!(
            !a.server.log().contains(secret.as_str()),
            "the server log holds a secret"
        );
    }
    for event in ["oauth_registered", "oauth_approved", "oauth_token_used"] {
        assert!(log.contains(event), "{event} missing:\n{log}");
    }
    assert!(
        log.contains(&format!("\"client\":\"oauth:{client}\"")),
        "{log}"
    );
    assert!(
        !std::fs::read_dir(s.t.root())
            .unwrap()
            .any(|e| { e.unwrap().file_name().to_string_lossy().contains("state") })
    );

    // A restart keeps the grant (the public URL stays; the port behind it may change).
    let public = a.base.clone();
    drop(a);
    let a = s.serve(&["--public-url", &public]).await;
    let (status, text, _) = a.search(&access).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.contains("garden.md") && !text.contains("wombatword"),
        "{text}"
    );

    // `deepvault auth clients` lists it: when approved, last used (written back off the
    // request path, so awaited).
    let mut clients = Value::Null;
    let listed = wait_until(std::time::Duration::from_secs(10), async || {
        let out = s.t.run(&["auth", "clients", s.root(), "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        clients = serde_json::from_slice(&out.stdout).unwrap();
        clients[0]["grants"][0]["last_used"].as_u64().is_some()
    })
    .await;
    assert!(listed, "no last use listed: {clients}");
    assert_eq!(clients[0]["client_id"], client.as_str());
    assert_eq!(clients[0]["client_name"], "ChatGPT");
    assert_eq!(clients[0]["redirect_hosts"], json!(["chatgpt.com"]));
    assert!(clients[0]["grants"][0]["approved_at"].as_u64().is_some());
    let table = s.t.run(&["auth", "clients", s.root()]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains(&client) && table.contains("approved ") && table.contains("last used "),
        "{table}"
    );

    // An hour later the access token has expired; the refresh token rotates.
    s.advance(3600);
    let (status, _, _) = a.search(&access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = a.refresh(&client, &refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fresh = body["access_token"].as_str().unwrap().to_string();
    assert_ne!(body["refresh_token"].as_str().unwrap(), refresh);
    assert_eq!(a.search(&fresh).await.0, StatusCode::OK);

    // `deepvault auth revoke all` while it runs: the next request is refused.
    let out = s.t.run(&["auth", "revoke", "all", s.root()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("revoked 1 grant(s) of 1 client(s)"));
    s.advance(1);
    assert_eq!(a.search(&fresh).await.0, StatusCode::UNAUTHORIZED);
    let out = s.t.run(&["auth", "revoke", "dvc_nobody", s.root()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("deepvault auth clients"));
}

#[tokio::test]
async fn non_loopback_public_url_defaults_to_builtin_and_refuses_without_a_passphrase() {
    let s = Setup::new();
    let public = ["--public-url", "https://vault.example.com"];
    let out = s.command(&public).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("built-in OAuth is the auth mode for https://vault.example.com")
            && err.contains("deepvault auth passphrase")
            && err.contains("DEEPVAULT_TOKENS")
            && err.contains("--insecure-no-auth"),
        "{err}"
    );
    // A too short passphrase is refused and changes nothing.
    let mut child =
        s.t.command(&["auth", "passphrase", s.root()])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "short").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8 characters"));

    // Static tokens are another auth: no built-in server then.
    let mut with_tokens = s.command(&public);
    with_tokens.env("DEEPVAULT_TOKENS", STATIC_TOKEN);
    let a = As::start(with_tokens).await;
    let response = a
        .http
        .get(a.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    drop(a);

    // With a passphrase it starts, as its own authorization server for the public URL.
    s.set_passphrase(PASSPHRASE);
    let a = As::start(s.command(&public)).await;
    let metadata: Value = a
        .http
        .get(a.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], "https://vault.example.com");
    assert_eq!(
        metadata["authorization_endpoint"],
        "https://vault.example.com/authorize"
    );
    assert!(
        a.server.log().contains("auth: built-in OAuth"),
        "{}",
        a.server.log()
    );
    // No token, no search.
    assert_eq!(a.search("").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn static_tokens_keep_working_beside_builtin_tokens() {
    let s = Setup::with_passphrase();
    let mut command = s.command(&["--auth", "builtin"]);
    command.env("DEEPVAULT_TOKENS", STATIC_TOKEN);
    let a = As::start(command).await;
    assert_eq!(a.search(STATIC_TOKEN).await.0, StatusCode::OK);
    let client = a.client().await;
    let (access, _) = a.tokens(&client).await;
    assert_eq!(a.search(&access).await.0, StatusCode::OK);
    assert_eq!(a.search("dv_at_forged").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_missing_or_plain_pkce_challenge_is_refused() {
    let s = Setup::with_passphrase();
    let a = s.serve(&[]).await;
    let client = a.client().await;
    let (_, challenge) = pkce();
    let base = [
        ("response_type", "code"),
        ("client_id", client.as_str()),
        ("redirect_uri", CHATGPT_REDIRECT),
        ("state", "st"),
    ];
    let cases: [&[(&str, &str)]; 3] = [
        &[],
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "plain"),
        ],
        // RFC 7636: no method means plain.
        &[("code_challenge", &challenge)],
    ];
    for extra in cases {
        let mut params = base.to_vec();
        params.extend_from_slice(extra);
        let response = a.authorize(&params).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{extra:?}");
        let to = location(&response);
        assert_eq!(
            query_param(&to, "error").as_deref(),
            Some("invalid_request"),
            "{to}"
        );
        assert!(
            query_param(&to, "error_description")
                .unwrap()
                .contains("S256"),
            "{to}"
        );
        assert_eq!(query_param(&to, "state").as_deref(), Some("st"));
        assert!(query_param(&to, "code").is_none());
    }
}

#[tokio::test]
async fn a_wrong_verifier_is_refused_and_spends_the_code() {
    let s = Setup::with_passphrase();
    let a = s.serve(&[]).await;
    let client = a.client().await;
    let (code, verifier) = a.code(&client).await;
    let (other, _) = pkce();
    let (status, body) = a.exchange(&client, &code, &other).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("code_verifier")
    );
    let (status, body) = a.exchange(&client, &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_its_tokens() {
    let s = Setup::with_passphrase();
    let a = s.serve(&[]).await;
    let client = a.client().await;
    let (code, verifier) = a.code(&client).await;
    let (status, body) = a.exchange(&client, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    let access = body["access_token"].as_str().unwrap().to_string();
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(a.search(&access).await.0, StatusCode::OK);
    let (status, body) = a.exchange(&client, &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    assert_eq!(a.search(&access).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = a.refresh(&client, &refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let s = Setup::with_passphrase();
    let a = s.serve(&[]).await;
    let client = a.client().await;
    let (code, verifier) = a.code(&client).await;
    s.advance(61);
    let (status, body) = a.exchange(&client, &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
}

#[tokio::test]
async fn a_redirect_uri_not_registered_or_not_https_is_refused_without_a_redirect() {
    let s = Setup::with_passphrase();
    let a = s.serve(&[]).await;
    for bad in [
        "http://app.example/cb",
        "https://app.example/cb#x",
        "javascript:alert(1)",
        "myapp://cb",
    ] {
        let response = a.register(&[bad]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_redirect_uri", "{bad}");
    }
    let client = a.client().await;
    let (_, challenge) = pkce();
    for redirect in [
        "https://attacker.example/cb",
        "https://chatgpt.com/connector_platform_oauth_redirect/extra",
        "http://chatgpt.com/connector_platform_oauth_redirect",
    ] {
        let response = a
            .authorize(&[
                ("response_type", "code"),
                ("client_id", &client),
                ("redirect_uri", redirect),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .await;
        // An error page, never a redirect to an address the client did not register.
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{redirect}");
        assert!(response.headers().get("location").is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains("did not register"), "{html}");
    }
}

#[tokio::test]
async fn a_token_for_another_resource_is_refused() {
    let s = Setup::with_passphrase();
    let a = s.serve(&[]).await;
    let client = a.client().await;
    let (_, challenge) = pkce();
    // Asking for another resource at /authorize goes back to the client as invalid_target.
    let response = a
        .authorize(&[
            ("response_type", "code"),
            ("client_id", &client),
            ("redirect_uri", CHATGPT_REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("resource", "https://other.example/mcp"),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        query_param(&location(&response), "error").as_deref(),
        Some("invalid_target")
    );
    // And at /token.
    let (code, verifier) = a.code(&client).await;
    let (status, body) = a
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client),
            ("code", &code),
            ("code_verifier", &verifier),
            ("resource", "https://other.example/mcp"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );

    // A token issued by this server for its /mcp, shown to a server on the same state folder
    // that is published at another URL: refused there, accepted here.
    let (access, _) = a.tokens(&client).await;
    assert_eq!(a.search(&access).await.0, StatusCode::OK);
    let other = s
        .serve(&["--public-url", "http://localhost:9/elsewhere"])
        .await;
    let (status, text, headers) = other.search(&access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("issued for another resource"),
        "{challenge}"
    );
}

#[tokio::test]
async fn a_replayed_refresh_token_revokes_the_family() {
    let s = Setup::with_passphrase();
    let a = s.serve(&[]).await;
    let client = a.client().await;
    let (first_access, old_refresh) = a.tokens(&client).await;
    let (status, second) = a.refresh(&client, &old_refresh).await;
    assert_eq!(status, StatusCode::OK);
    let new_access = second["access_token"].as_str().unwrap().to_string();
    let new_refresh = second["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(a.search(&new_access).await.0, StatusCode::OK);
    let (status, body) = a.refresh(&client, &old_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // Everything in the family is gone.
    assert_eq!(
        a.refresh(&client, &new_refresh).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(a.search(&new_access).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(a.search(&first_access).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_missing_or_wrong_csrf_token_is_refused() {
    let s = Setup::with_passphrase();
    let a = s.serve(&[]).await;
    let client = a.client().await;
    let (_, challenge) = pkce();
    let csrf = a.consent(&client, &challenge).await;
    for form in [
        vec![("passphrase", PASSPHRASE), ("action", "approve")],
        vec![
            ("csrf_token", "not-the-token"),
            ("passphrase", PASSPHRASE),
            ("action", "approve"),
        ],
    ] {
        let response = a.post_consent(&form).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{form:?}");
        assert!(response.headers().get("location").is_none());
    }
    // The real one works once, then it is spent.
    let form = [
        ("csrf_token", csrf.as_str()),
        ("passphrase", PASSPHRASE),
        ("action", "approve"),
    ];
    assert_eq!(a.post_consent(&form).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        a.post_consent(&form).await.status(),
        StatusCode::BAD_REQUEST
    );
    // A consent page expires after ten minutes.
    let late = a.consent(&client, &challenge).await;
    s.advance(601);
    let form = [
        ("csrf_token", late.as_str()),
        ("passphrase", PASSPHRASE),
        ("action", "approve"),
    ];
    assert_eq!(
        a.post_consent(&form).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn twenty_wrong_passphrases_back_off() {
    let s = Setup::with_passphrase();
    let audit = s.t.index_dir().join("audit.jsonl");
    let a = s.serve(&["--audit-log", audit.to_str().unwrap()]).await;
    let client = a.client().await;
    let (_, challenge) = pkce();
    let mut csrf = a.consent(&client, &challenge).await;
    let mut delays = Vec::new();
    for attempt in 1..=20 {
        let form = [
            ("csrf_token", csrf.as_str()),
            ("passphrase", "a wrong guess"),
            ("action", "approve"),
        ];
        let mut response = a.post_consent(&form).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            // Back-off: told how long to wait; the form is not spent.
            let wait: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            delays.push((attempt, wait));
            s.advance(wait);
            response = a.post_consent(&form).await;
        }
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains("not right"));
        csrf = csrf_of(&html);
    }
    // The first five are free, then the delays double: the sixth failure earns a second's wait,
    // which a loaded machine can spend hashing the next guesses (argon2), so the first wait seen
    // comes at attempt 7 with 1 s, or a little later with the doubled delay of that attempt.
    let &(first_attempt, first_wait) = delays.first().expect("the guesses were slowed down");
    assert!(
        (7..=9).contains(&first_attempt) && first_wait == 1 << (first_attempt - 7),
        "{delays:?}"
    );
    // (Retry-After counts from the last failure, and the wall clock moves meanwhile: a second's
    // slack.)
    assert!(
        delays.windows(2).all(|w| w[1].1 + 1 >= w[0].1),
        "{delays:?}"
    );
    assert!(delays.iter().any(|d| d.1 >= 256), "{delays:?}");
    // Locked: even the right passphrase waits fifteen minutes.
    let form = [
        ("csrf_token", csrf.as_str()),
        ("passphrase", PASSPHRASE),
        ("action", "approve"),
    ];
    let locked = a.post_consent(&form).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Fifteen minutes from the twentieth failure (the wall clock moves on meanwhile).
    assert!((890..=900).contains(&wait), "{wait}");
    s.advance(900);
    let csrf = a.consent(&client, &challenge).await;
    let form = [
        ("csrf_token", csrf.as_str()),
        ("passphrase", PASSPHRASE),
        ("action", "approve"),
    ];
    assert_eq!(a.post_consent(&form).await.status(), StatusCode::SEE_OTHER);
    let log = audit_with(&audit, "oauth_approved").await;
    assert_eq!(log.matches("wrong passphrase").count(), 20, "{log}");
    assert!(!log.contains("a wrong guess"));
}

#[tokio::test]
async fn a_registration_flood_is_capped() {
    let s = Setup::with_passphrase();
    let mut command = s.command(&["--auth", "builtin"]);
    command.env("DEEPVAULT_RATE_LIMIT_PER_MINUTE", "0");
    let a = As::start(command).await;
    // Per address: 20 an hour.
    for _ in 0..20 {
        assert_eq!(
            a.register(&[CHATGPT_REDIRECT]).await.status(),
            StatusCode::CREATED
        );
    }
    let refused = a.register(&[CHATGPT_REDIRECT]).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    // In total: 100 clients; never-approved ones lapse after a day and make room.
    for hour in 1..5 {
        s.advance(3600);
        for _ in 0..20 {
            assert_eq!(
                a.register(&[CHATGPT_REDIRECT]).await.status(),
                StatusCode::CREATED,
                "hour {hour}"
            );
        }
    }
    s.advance(3600);
    let refused = a.register(&[CHATGPT_REDIRECT]).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client_metadata");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("maximum of 100")
    );
    s.advance(24 * 3600);
    assert_eq!(
        a.register(&[CHATGPT_REDIRECT]).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_client_id_metadata_document_at_a_private_address_is_refused() {
    let s = Setup::with_passphrase();
    let a = s.serve(&[]).await;
    let (_, challenge) = pkce();
    // Only loopback names here: they resolve (or are) this machine's addresses, refused before
    // any connection. Other private ranges are refused by the same check (unit tests).
    for (client_id, expect) in [
        ("https://localhost/client.json", "not a public address"),
        ("https://127.0.0.1:8443/client.json", "not a public address"),
        ("https://[::1]/client.json", "not a public address"),
        (
            "https://[::ffff:127.0.0.1]/client.json",
            "not a public address",
        ),
        ("https://localhost/", "no path"),
    ] {
        let response = a
            .authorize(&[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", CHATGPT_REDIRECT),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{client_id}");
        assert!(response.headers().get("location").is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains(expect), "{client_id}: {html}");
    }
    let out = s.t.run(&["auth", "clients", s.root(), "--json"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}

#[tokio::test]
async fn an_unknown_scope_is_refused_and_no_scope_means_read() {
    let s = Setup::with_passphrase();
    let a = s.serve(&[]).await;
    let client = a.client().await;
    let (_, challenge) = pkce();
    let response = a
        .authorize(&[
            ("response_type", "code"),
            ("client_id", &client),
            ("redirect_uri", CHATGPT_REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", "vault:read vault:write"),
            ("state", "q"),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(&response);
    assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_scope"));
    assert_eq!(query_param(&to, "state").as_deref(), Some("q"));
    // Denying on the consent page goes back as access_denied.
    let csrf = a.consent(&client, &challenge).await;
    let denied = a
        .post_consent(&[("csrf_token", csrf.as_str()), ("action", "deny")])
        .await;
    assert_eq!(denied.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        query_param(&location(&denied), "error").as_deref(),
        Some("access_denied")
    );
}
