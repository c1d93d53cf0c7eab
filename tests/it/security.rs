//! Security and limits: safe defaults, static tokens, OAuth against a local issuer with keys
//! generated here, limits, the audit log, and a bad-input suite after which the server still
//! answers and nothing private, secret or outside the vault has leaked.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::common::{Server, TestVault, call, mcp_with_token, tool_json, wait_until};

const TOKEN: &str = "laptop-token-0123456789abcdef";

/// A vault with a public note, a private note, a secret and a symlink out of the vault.
fn guarded_vault() -> (TestVault, tempfile::TempDir) {
    let t = TestVault::new();
    t.note("public.md", "# Public\nthe quokka lives here\n")
        .note(
            "private.md",
            "---\ndeepvault: private\n---\nquokka secret diary wombatword\n",
        )
        .note(
            "tagged.md",
            "---\ntags: [private]\n---\nquokka health wombatword\n",
        )
        .note(
            "deploy.md",
            "# Deploy\nquokka deploy key AKIAIOSFODNN7EXAMPLE and password = hunter2hunter2\n",
        )
        .note(
            "links.md",
            "# Links\nquokka see [[private]] and [[public]]\n",
        );
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("outside.md"), "quokka outsideword\n").unwrap();
    std::os::unix::fs::symlink(outside.path().join("outside.md"), t.path("escape.md")).unwrap();
    (t, outside)
}

/// Everything a response must never contain.
fn assert_clean(text: &str) {
    for leaked in [
        "wombatword",
        "AKIAIOSFODNN7EXAMPLE",
        "hunter2hunter2",
        "outsideword",
        "root:x:",
        TOKEN,
    ] {
        assert!(
            !text.contains(leaked),
            "{leaked} leaked in: {}",
            &text[..text.len().min(2000)]
        );
    }
}

async fn post_mcp(
    server: &Server,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, String, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new()
        .post(server.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (status, text, headers)
}

fn tool_call(name: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
        .to_string()
}

/// The server still answers a normal search correctly.
async fn still_serves(server: &Server, token: Option<&str>) {
    let (status, text, _) = post_mcp(
        server,
        token,
        tool_call("search", json!({"query": "quokka"})),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("public.md"), "{text}");
    assert_clean(&text);
}

#[tokio::test]
async fn open_bind_without_auth_refuses_to_start() {
    let (t, _outside) = guarded_vault();
    let out = t.run(&["serve", t.root().to_str().unwrap(), "--listen", "0.0.0.0:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to serve the vault on 0.0.0.0:0 without authentication"),
        "{err}"
    );
    for hint in ["DEEPVAULT_TOKENS", "oauth_issuer", "--insecure-no-auth"] {
        assert!(err.contains(hint), "{hint} missing: {err}");
    }
    // Knowingly, or with tokens, it starts.
    let server = Server::start(t.command(&[
        "serve",
        t.root().to_str().unwrap(),
        "--listen",
        "0.0.0.0:0",
        "--insecure-no-auth",
    ]));
    server.wait_ready().await;
    drop(server);
    let mut command = t.command(&["serve", t.root().to_str().unwrap(), "--listen", "0.0.0.0:0"]);
    command.env("DEEPVAULT_TOKENS", TOKEN);
    let server = Server::start(command);
    server.wait_ready().await;
}

/// A public URL naming another host (a tunnel, a reverse proxy) publishes the vault as surely
/// as an open bind. Built-in OAuth is then the default auth, so without a passphrase (and no
/// tokens or issuer) the server refuses to start and names the ways forward; with auth the
/// banner names the URL, auth and pages.
#[tokio::test]
async fn public_url_without_auth_refuses_to_start() {
    let (t, _outside) = guarded_vault();
    let root = t.root().to_str().unwrap();
    let out = t.run(&[
        "serve",
        root,
        "--listen",
        "127.0.0.1:0",
        "--public-url",
        "https://x.example",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "built-in OAuth is the auth mode for https://x.example, but no passphrase is set"
        ),
        "{err}"
    );
    for hint in [
        "deepvault auth passphrase",
        "DEEPVAULT_TOKENS",
        "oauth_issuer",
        "--insecure-no-auth",
    ] {
        assert!(err.contains(hint), "{hint} missing: {err}");
    }
    let mut command = t.command(&[
        "serve",
        root,
        "--listen",
        "127.0.0.1:0",
        "--public-url",
        "https://x.example",
    ]);
    command.env("DEEPVAULT_TOKENS", TOKEN);
    let server = Server::start(command);
    server.wait_ready().await;
    let banner = server.log();
    for part in [
        "public URL: https://x.example/mcp",
        "auth: 1 static token(s)",
        "pages: signed links",
    ] {
        assert!(banner.contains(part), "{part} missing: {banner}");
    }
}

#[tokio::test]
async fn static_tokens_guard_mcp_and_pages() {
    let (t, _outside) = guarded_vault();
    let mut command = t.command(&[
        "serve",
        t.root().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    command.env(
        "DEEPVAULT_TOKENS",
        format!("{TOKEN},second-token-abcdefghijkl"),
    );
    let server = Server::start(command);
    server.wait_ready().await;

    let (status, _, headers) = post_mcp(
        &server,
        None,
        tool_call("search", json!({"query": "quokka"})),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let (status, _, headers) = post_mcp(
        &server,
        Some("wrong-token-0123456789"),
        tool_call("search", json!({"query": "x"})),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    // Never from the query string.
    let response = reqwest::Client::new()
        .post(server.url(&format!("/mcp?access_token={TOKEN}")))
        .header("content-type", "application/json")
        .body(tool_call("search", json!({"query": "x"})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let sse = reqwest::get(server.url("/sse")).await.unwrap();
    assert_eq!(sse.status(), 401);
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        200
    );

    // With a token, through rmcp's client: and pages default to signed links.
    let client = mcp_with_token(&server, TOKEN).await;
    let result = tool_json(&call(&client, "search", json!({"query": "quokka"})).await);
    let text = result.to_string();
    assert_clean(&text);
    let url = result["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "public.md")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.contains("?sig="), "{url}");
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(url.split('#').next().unwrap())
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(server.url("/notes/public.md"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(server.url("/?q=quokka"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let home = http
        .get(server.url("/?q=quokka"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    assert_clean(&home.text().await.unwrap());
}

/// A local issuer: RSA and EC keys made here, a JWKS endpoint that can rotate keys.
struct Issuer {
    url: String,
    rsa_pem: String,
    rsa_public_pem: String,
    ec_pem: String,
    keys: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    rotated_rsa_pem: String,
    rotated_jwk: Value,
}

impl Issuer {
    async fn start() -> Issuer {
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
        use rsa::traits::PublicKeyParts;
        let mut rng = rand_core::OsRng;
        let rsa_key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let rotated = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let ec_key = p256::SecretKey::random(&mut rng);
        let rsa_jwk = |key: &rsa::RsaPrivateKey, kid: &str| {
            json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                   "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                   "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be())})
        };
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
            &ec_key.public_key(),
            false,
        );
        let ec_jwk = json!({"kty": "EC", "kid": "ec-1", "crv": "P-256", "alg": "ES256", "use": "sig",
                            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
                            "y": URL_SAFE_NO_PAD.encode(point.y().unwrap())});
        let keys = std::sync::Arc::new(std::sync::Mutex::new(vec![
            rsa_jwk(&rsa_key, "rsa-1"),
            ec_jwk,
        ]));
        let served = keys.clone();
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let keys = served.clone();
                async move { axum::Json(json!({"keys": *keys.lock().unwrap()})) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let pem = |key: &rsa::RsaPrivateKey| {
            key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                .unwrap()
                .to_string()
        };
        Issuer {
            url,
            rsa_pem: pem(&rsa_key),
            rsa_public_pem: rsa_key
                .to_public_key()
                .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
                .unwrap(),
            ec_pem: p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(
                &ec_key,
                p256::pkcs8::LineEnding::LF,
            )
            .unwrap()
            .to_string(),
            keys,
            rotated_rsa_pem: pem(&rotated),
            rotated_jwk: rsa_jwk(&rotated, "rsa-2"),
        }
    }

    fn claims(&self, audience: &str) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        json!({"iss": self.url, "aud": audience, "sub": "alice", "exp": now + 600, "nbf": now - 10, "iat": now, "scope": "vault:read openid"})
    }

    fn sign(&self, alg: jsonwebtoken::Algorithm, kid: &str, pem: &str, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(alg);
        header.kid = Some(kid.to_string());
        let key = match alg {
            jsonwebtoken::Algorithm::ES256 => {
                jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).unwrap()
            }
            _ => jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        };
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }
}

#[tokio::test]
async fn oauth_resource_server() {
    let (t, _outside) = guarded_vault();
    let issuer = Issuer::start().await;
    let public = "http://127.0.0.1:1";
    t.note(
        "deepvault.toml",
        &format!(
            "oauth_issuer = \"{}\"\noauth_jwks_url = \"{}/jwks.json\"\noauth_scopes = [\"vault:read\"]\npublic_url = \"{public}\"\n",
            issuer.url, issuer.url
        ),
    );
    let server = t.serve(&[]);
    server.wait_ready().await;
    let audience = format!("{public}/mcp");
    let good = issuer.claims(&audience);
    use jsonwebtoken::Algorithm::{ES256, HS256, RS256};

    // Metadata, and the challenge that points to it.
    let metadata: Value = reqwest::get(server.url("/.well-known/oauth-protected-resource/mcp"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], audience);
    assert_eq!(metadata["authorization_servers"], json!([issuer.url]));
    let (status, _, headers) = post_mcp(
        &server,
        None,
        tool_call("search", json!({"query": "quokka"})),
    )
    .await;
    assert_eq!(status, 401);
    let challenge = headers["www-authenticate"].to_str().unwrap().to_string();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{public}/.well-known/oauth-protected-resource/mcp\""
        )),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"vault:read\""), "{challenge}");

    // Valid RS256 and ES256 tokens.
    for token in [
        issuer.sign(RS256, "rsa-1", &issuer.rsa_pem, &good),
        issuer.sign(ES256, "ec-1", &issuer.ec_pem, &good),
    ] {
        let (status, text, _) = post_mcp(
            &server,
            Some(&token),
            tool_call("search", json!({"query": "quokka"})),
        )
        .await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("public.md"));
    }

    // Everything that must fail, and why.
    let mut expired = good.clone();
    expired["exp"] = json!(1_000_000_000);
    let mut wrong_audience = good.clone();
    wrong_audience["aud"] = json!("https://other.example/mcp");
    let mut wrong_issuer = good.clone();
    wrong_issuer["iss"] = json!("https://evil.example");
    let mut no_scope = good.clone();
    no_scope["scope"] = json!("openid");
    let none_token = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"rsa-1","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let hs256_with_public_key = {
        let mut header = jsonwebtoken::Header::new(HS256);
        header.kid = Some("rsa-1".into());
        jsonwebtoken::encode(
            &header,
            &good,
            &jsonwebtoken::EncodingKey::from_secret(issuer.rsa_public_pem.as_bytes()),
        )
        .unwrap()
    };
    let cases = [
        (
            "expired",
            issuer.sign(RS256, "rsa-1", &issuer.rsa_pem, &expired),
            401,
            "expired",
        ),
        (
            "wrong audience",
            issuer.sign(RS256, "rsa-1", &issuer.rsa_pem, &wrong_audience),
            401,
            "audience",
        ),
        (
            "wrong issuer",
            issuer.sign(RS256, "rsa-1", &issuer.rsa_pem, &wrong_issuer),
            401,
            "issuer",
        ),
        ("alg none", none_token, 401, "algorithm"),
        (
            "HS256 with the public key",
            hs256_with_public_key,
            401,
            "algorithm",
        ),
        (
            "unknown kid",
            issuer.sign(RS256, "nope", &issuer.rsa_pem, &good),
            401,
            "unknown key id",
        ),
        (
            "key id of another key",
            issuer.sign(RS256, "ec-1", &issuer.rsa_pem, &good),
            401,
            "token",
        ),
        (
            "insufficient scope",
            issuer.sign(RS256, "rsa-1", &issuer.rsa_pem, &no_scope),
            403,
            "insufficient_scope",
        ),
        ("not a JWT", "abc.def.ghi".to_string(), 401, "invalid_token"),
    ];
    for (name, token, want, reason) in cases {
        let (status, text, headers) = post_mcp(
            &server,
            Some(&token),
            tool_call("search", json!({"query": "quokka"})),
        )
        .await;
        assert_eq!(status, want, "{name}: {text}");
        let challenge = headers
            .get("www-authenticate")
            .map(|h| h.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(
            challenge.contains(reason) || text.contains(reason),
            "{name}: {challenge} / {text}"
        );
        assert_clean(&text);
    }

    // A rotated key: the JWKS is fetched again when an unknown kid arrives.
    issuer.keys.lock().unwrap().push(issuer.rotated_jwk.clone());
    let rotated = issuer.sign(RS256, "rsa-2", &issuer.rotated_rsa_pem, &good);
    let mut status = 0;
    let refreshed = wait_until(Duration::from_secs(20), async || {
        status = post_mcp(
            &server,
            Some(&rotated),
            tool_call("search", json!({"query": "quokka"})),
        )
        .await
        .0;
        status == 200
    })
    .await;
    assert!(
        refreshed,
        "the rotated key was never accepted (last status {status})"
    );
}

#[tokio::test]
async fn limits_body_rate_and_fetch_size() {
    let (t, _outside) = guarded_vault();
    t.note(
        "big.md",
        &format!("# Big\nquokka {}\n", "filler text ".repeat(2000)),
    );
    t.note(
        "deepvault.toml",
        "rate_limit_per_minute = 60\nmax_fetch_bytes = 100\nmax_body_bytes = 65536\n",
    );
    let server = t.serve(&[]);
    server.wait_ready().await;

    // A body over the limit: a 413 that names the setting, and the server goes on.
    let huge = tool_call("search", json!({"query": "q".repeat(100_000)}));
    let (status, text, _) = post_mcp(&server, None, huge).await;
    assert_eq!(status, 413);
    assert!(text.contains("max_body_bytes"), "{text}");
    // A client that announces a huge body gets the 413 before it sends a byte of it.
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    write!(stream, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n").unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");

    // Fetched text is cut at max_fetch_bytes, and says so.
    let client = server.mcp().await;
    let fetched = tool_json(&call(&client, "fetch", json!({"id": "big.md"})).await);
    assert!(fetched["text"].as_str().unwrap().len() <= 100);
    assert_eq!(fetched["metadata"]["truncated"], true);
    drop(client);

    // Bursts over the rate limit get 429 with Retry-After.
    let mut limited = None;
    for _ in 0..40 {
        let (status, _, headers) = post_mcp(
            &server,
            None,
            tool_call("search", json!({"query": "quokka"})),
        )
        .await;
        if status == 429 {
            limited = Some(
                headers["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            );
            break;
        }
    }
    let retry_after = limited.expect("a 429 within 40 quick requests");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn audit_log_records_calls_without_secrets() {
    let (t, _outside) = guarded_vault();
    let log = t.index_dir().join("audit.jsonl");
    let mut command = t.command(&[
        "serve",
        t.root().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--audit-log",
        log.to_str().unwrap(),
    ]);
    command.env("DEEPVAULT_TOKENS", TOKEN);
    let server = Server::start(command);
    server.wait_ready().await;
    let client = mcp_with_token(&server, TOKEN).await;
    call(&client, "search", json!({"query": "quokka"})).await;
    call(&client, "fetch", json!({"id": "public.md"})).await;
    call(&client, "fetch", json!({"id": "../etc/passwd"})).await;
    let mut lines: Vec<Value> = Vec::new();
    let written = wait_until(Duration::from_secs(10), async || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        lines = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        lines.len() >= 3
    })
    .await;
    assert!(written, "{lines:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(TOKEN), "the token itself is never logged");
    let label = lines[0]["client"].as_str().unwrap();
    assert!(label.starts_with("token-"), "{label}");
    assert_eq!(lines[0]["tool"], "search");
    assert_eq!(lines[0]["arguments"]["query"], "quokka");
    assert!(
        lines[0]["result_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|id| id == "public.md")
    );
    assert_eq!(lines[0]["outcome"], "ok");
    assert!(lines[0]["duration_ms"].is_number() && lines[0]["time"].is_string());
    assert_eq!(lines[1]["result_ids"], json!(["public.md"]));
    assert_eq!(lines[2]["outcome"], "not_found");
}

#[tokio::test]
async fn bad_input_over_http() {
    let (t, _outside) = guarded_vault();
    let server = t.serve(&[]);
    server.wait_ready().await;
    let raw_cases: Vec<(&str, Vec<u8>)> = vec![
        ("broken JSON", b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ".to_vec()),
        ("not an object", b"[1, 2, 3]".to_vec()),
        ("empty body", Vec::new()),
        ("unknown method", br#"{"jsonrpc":"2.0","id":1,"method":"vault/delete","params":{}}"#.to_vec()),
        ("unknown tool", tool_call("delete", json!({"id": "public.md"})).into_bytes()),
        ("wrong type", tool_call("search", json!({"query": {"$gt": ""}})).into_bytes()),
        ("missing argument", tool_call("fetch", json!({})).into_bytes()),
        ("non-UTF-8 bytes", [b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"search\",\"arguments\":{\"query\":\"".as_slice(), &[0xff, 0xfe, 0xc3], b"\"}}}"].concat()),
        ("lone surrogate", tool_call("search", json!({"query": "x"})).replace("\"x\"", "\"\\ud800\"").into_bytes()),
        ("1 MB query", tool_call("search", json!({"query": "quokka ".repeat(150_000)})).into_bytes()),
        ("100 KB query", tool_call("search", json!({"query": "quokka ".repeat(14_000)})).into_bytes()),
    ];
    for (name, body) in raw_cases {
        let (status, text, _) = post_mcp(&server, None, body).await;
        assert!(status < 500, "{name}: {status} {text}");
        assert_clean(&text);
        still_serves(&server, None).await;
    }
    let (status, text, _) = post_mcp(
        &server,
        None,
        tool_call("search", json!({"query": "quokka ".repeat(14_000)})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(text.contains("public.md"), "a 100 KB query is answered");

    // Ids that try to leave the index or the vault.
    for id in [
        "../etc/passwd",
        "/etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e/%2e%2e/etc/passwd",
        "public.md\u{0}.txt",
        "public.md/../../etc/passwd",
        "escape.md",
        "private.md",
        "tagged.md",
        "C:\\Windows\\win.ini",
        "",
        &"a".repeat(10_000),
    ] {
        let (status, text, _) =
            post_mcp(&server, None, tool_call("fetch", json!({"id": id}))).await;
        assert_eq!(status, 200, "{id}");
        assert!(text.contains("isError\":true"), "{id}: {text}");
        assert_clean(&text);
    }
    // Page paths, too.
    for path in [
        "/notes/..%2F..%2Fetc%2Fpasswd",
        "/notes/escape.md",
        "/notes/private.md",
        "/notes/%00",
        "/notes/public.md%00",
    ] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        assert!(
            response.status() == 404 || response.status() == 400,
            "{path}: {}",
            response.status()
        );
        assert_clean(&response.text().await.unwrap());
    }
    // Link metadata never names private notes.
    let (_, text, _) = post_mcp(&server, None, tool_call("fetch", json!({"id": "links.md"}))).await;
    assert!(
        text.contains(r#"\"target\":\"private\""#) && !text.contains(r#"\"id\":\"private.md\""#),
        "{text}"
    );
    still_serves(&server, None).await;
}

#[tokio::test]
async fn truncated_bodies_and_slow_clients() {
    let (t, _outside) = guarded_vault();
    let server = t.serve(&[]);
    server.wait_ready().await;
    let addr = server.addr.clone();
    // A body shorter than its Content-Length, then the connection closes.
    {
        let mut stream = TcpStream::connect(&addr).unwrap();
        write!(stream, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 500\r\n\r\n{{\"jsonrpc\":").unwrap();
    }
    // Slow-loris clients: headers trickle in and never finish.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(&addr).unwrap();
        write!(
            stream,
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
        )
        .unwrap();
        slow.push(stream);
    }
    // Others are served meanwhile.
    still_serves(&server, None).await;
    // And the slow connections are closed once the header timeout passes.
    let mut first = slow.remove(0);
    first
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buffer = Vec::new();
    let closed = first.read_to_end(&mut buffer);
    // The server closes it (end of stream) well before the 30 s read timeout, which would be an
    // error here; it may say 408 first.
    assert!(
        closed.is_ok(),
        "a slow-loris connection was still open 30 s later: {closed:?}"
    );
    let answer = String::from_utf8_lossy(&buffer);
    assert!(
        buffer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    still_serves(&server, None).await;
}

#[tokio::test]
async fn bad_input_over_stdio() {
    let (t, _outside) = guarded_vault();
    let mut child = t
        .stdio_command()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut send = async |line: String| {
        stdin.write_all(line.as_bytes()).await.unwrap();
        stdin.write_all(b"\n").await.unwrap();
        stdin.flush().await.unwrap();
    };
    send(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}).to_string()).await;
    let init = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(init.contains("deepvault"), "{init}");
    send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}).to_string()).await;
    for garbage in [
        "{not json",
        "[]",
        "null",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"nope\"}",
        &tool_call("fetch", json!({"id": "../etc/passwd"})).replace("\"id\":1", "\"id\":6"),
    ] {
        send(garbage.to_string()).await;
    }
    send(tool_call("search", json!({"query": "quokka"})).replace("\"id\":1", "\"id\":9")).await;
    let mut answered = false;
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(20), stdout.next_line()).await
    {
        assert_clean(&line);
        if line.contains("\"id\":9") {
            assert!(line.contains("public.md"), "{line}");
            answered = true;
            break;
        }
    }
    assert!(
        answered,
        "the stdio server stopped answering after bad input"
    );
    let _ = child.kill().await;
}

#[test]
fn bad_input_on_the_command_line() {
    let (t, _outside) = guarded_vault();
    let root = t.root().to_str().unwrap().to_string();
    use std::os::unix::ffi::OsStrExt;
    let out = t
        .command(&["search", "--vault", &root])
        .arg(std::ffi::OsStr::from_bytes(b"qu\xffokka"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid UTF-8"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for id in ["../etc/passwd", "escape.md", "private.md"] {
        let out = t.run(&["fetch", id, "--vault", &root, "--json"]);
        assert!(!out.status.success());
        assert_clean(&String::from_utf8_lossy(&out.stdout));
        assert_clean(&String::from_utf8_lossy(&out.stderr));
    }
    let out = t.run(&[
        "search",
        &"quokka ".repeat(14_000),
        "--vault",
        &root,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean(&String::from_utf8_lossy(&out.stdout));
    // A malformed token is named, not echoed.
    let mut command = t.command(&["serve", &root, "--listen", "127.0.0.1:0"]);
    command.env("DEEPVAULT_TOKENS", "short");
    let out = command.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DEEPVAULT_TOKENS (token 1) is not a usable token"),
        "{err}"
    );
    assert!(
        !err.contains("short\n") && !err.contains("`short`"),
        "{err}"
    );
}
