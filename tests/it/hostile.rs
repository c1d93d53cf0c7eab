//! Hostile vaults and hostile clients (issue 13): a file outside the vault is never served, a
//! FIFO or a socket never freezes the index, the watcher heals when the vault folder is
//! recreated, and the HTTP layer holds against HTTP/2 hosts, odd Host headers, silent and slow
//! connections, malformed JSON-RPC and oversize chunked bodies. Every wait is on a condition with
//! a deadline; loops are bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};

use crate::common::{Server, TestVault, call, search_ids, wait_until};

const TIMEOUT: Duration = Duration::from_secs(30);
const TOKEN: &str = "hostile-token-0123456789abcdef";

/// `serve` without the rate limiter (the tests poll).
fn serve(t: &TestVault, env: &[(&str, &str)], extra: &[&str]) -> Server {
    let mut args = vec![
        "serve",
        t.root().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let mut command = t.command(&args);
    command.env("DEEPVAULT_RATE_LIMIT_PER_MINUTE", "0");
    for (key, value) in env {
        command.env(key, value);
    }
    Server::start(command)
}

/// Waits until `search(query)` returns `id`.
async fn expect_found(
    server: &Server,
    client: &RunningService<RoleClient, ()>,
    query: &str,
    id: &str,
) {
    let mut got = Vec::new();
    let ok = wait_until(TIMEOUT, async || {
        got = search_ids(client, query).await;
        got.iter().any(|g| g == id)
    })
    .await;
    assert!(
        ok,
        "search {query:?} never found {id}: {got:?}\n{}",
        server.log()
    );
}

fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Issue 13 #4: a FIFO (and a socket) named like a note, created while serving, is skipped with
/// a reason; later edits stay searchable and `/readyz` stays truthful.
#[tokio::test]
async fn fifo_and_socket_never_freeze_the_index() {
    let t = TestVault::new();
    t.note("a.md", "# A\nalpha\n");
    let server = serve(&t, &[], &[]);
    server.wait_ready().await;
    let client = server.mcp().await;
    mkfifo(&t.path("fifo.md"));
    let _socket = std::os::unix::net::UnixListener::bind(t.path("socket.md")).unwrap();
    // Touch them again so the watcher reports them after their creation for sure.
    t.note("after.md", "# After\nquokkafifo\n");
    expect_found(&server, &client, "quokkafifo", "after.md").await;
    // A FIFO inside a new folder, found by the rescan that a new folder triggers.
    std::fs::create_dir(t.path("pipes")).unwrap();
    mkfifo(&t.path("pipes/deep.md"));
    t.note("pipes/later.md", "# Later\nwombatpipe\n");
    expect_found(&server, &client, "wombatpipe", "pipes/later.md").await;
    let (status, body) = server.readyz().await;
    assert_eq!(status, 200, "{body}");
    let log = server.log();
    assert!(
        log.contains("not a regular file"),
        "the FIFO is logged with a reason\n{log}"
    );
}

/// Issue 13 #5: `rm -rf vault; mkdir vault` and new notes: `/readyz` says the watcher is lost
/// until the folder is back, then the new notes are searchable at once (not after the periodic
/// reconcile, 5 minutes by default).
#[tokio::test]
async fn vault_recreated_while_serving() {
    let t = TestVault::new();
    t.note("old.md", "# Old\noldword\n");
    let server = serve(&t, &[], &[]);
    server.wait_ready().await;
    let client = server.mcp().await;
    std::fs::remove_dir_all(t.root()).unwrap();
    let mut last = Value::Null;
    let lost = wait_until(TIMEOUT, async || {
        let (status, body) = server.readyz().await;
        last = body;
        status == 503
            && last["watcher"]
                .as_str()
                .is_some_and(|w| w.starts_with("lost"))
    })
    .await;
    assert!(
        lost,
        "/readyz never said the watcher is lost: {last}\n{}",
        server.log()
    );
    std::fs::create_dir(t.root()).unwrap();
    for i in 0..50 {
        t.note(
            &format!("new{i}.md"),
            &format!("# New {i}\nnewword number{i}\n"),
        );
    }
    let healed = wait_until(TIMEOUT, async || {
        let (status, body) = server.readyz().await;
        last = body;
        status == 200 && last["notes"] == 50
    })
    .await;
    assert!(healed, "never healed: {last}\n{}", server.log());
    assert!(search_ids(&client, "oldword").await.is_empty());
    assert_eq!(
        search_ids(&client, "newword number7")
            .await
            .first()
            .map(String::as_str),
        Some("new7.md")
    );
    // And the new folder is watched: a later edit is seen.
    t.note("later.md", "# Later\nlaterword\n");
    expect_found(&server, &client, "laterword", "later.md").await;
}

/// Issue 13 #3: the vault folder is moved away and a symlink to another folder takes its place.
/// The reconcile (polling here, so it runs every 200 ms) refuses to follow it, and `/readyz`
/// says why; nothing from the other folder is ever searchable or fetchable.
#[tokio::test]
async fn a_vault_folder_swapped_for_a_symlink_is_not_followed() {
    let parent = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(
        elsewhere.path().join("outside.md"),
        "# Outside\noutsideword\n",
    )
    .unwrap();
    let t = TestVault::new();
    let vault = parent.path().join("vault");
    std::fs::create_dir(&vault).unwrap();
    std::fs::write(vault.join("inside.md"), "# Inside\ninsideword\n").unwrap();
    let mut command = t.command(&[
        "serve",
        vault.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--poll",
    ]);
    command
        .env("DEEPVAULT_POLL_INTERVAL_MS", "200")
        .env("DEEPVAULT_RATE_LIMIT_PER_MINUTE", "0");
    let server = Server::start(command);
    server.wait_ready().await;
    let client = server.mcp().await;
    std::fs::rename(&vault, parent.path().join("vault_real")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), &vault).unwrap();
    let mut last = Value::Null;
    let refused = wait_until(TIMEOUT, async || {
        let (status, body) = server.readyz().await;
        last = body;
        status == 503
            && last["watcher"]
                .as_str()
                .is_some_and(|w| w.contains("symlink"))
    })
    .await;
    assert!(refused, "{last}\n{}", server.log());
    assert!(search_ids(&client, "outsideword").await.is_empty());
    let fetched = call(&client, "fetch", json!({"id": "outside.md"})).await;
    assert_eq!(fetched.is_error, Some(true));
    // Put the real folder back: the watcher heals.
    std::fs::remove_file(&vault).unwrap();
    std::fs::rename(parent.path().join("vault_real"), &vault).unwrap();
    let healed = wait_until(TIMEOUT, async || server.readyz().await.0 == 200).await;
    assert!(healed, "{}", server.log());
    assert_eq!(search_ids(&client, "insideword").await, vec!["inside.md"]);
}

/// Issue 13 #2: a note swapped thousands of times between a regular file and a symlink to a
/// file outside the vault, while it is fetched: not one fetch returns the outside file.
#[tokio::test]
async fn symlink_swap_race_never_serves_an_outside_file() {
    let t = TestVault::new();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.md");
    std::fs::write(&secret, "# Secret\noutsidesecretword\n").unwrap();
    t.note("race.md", "# Race\ninsideword\n");
    let server = serve(&t, &[], &[]);
    server.wait_ready().await;
    let client = server.mcp().await;
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = Arc::clone(&stop);
        let race = t.path("race.md");
        let regular = t.path("race.tmp");
        let link = t.path("race.lnk");
        std::thread::spawn(move || {
            let mut swaps = 0;
            while swaps < 4000 && !stop.load(Ordering::Relaxed) {
                if swaps % 2 == 0 {
                    let _ = std::fs::remove_file(&link);
                    std::os::unix::fs::symlink(&secret, &link).unwrap();
                    std::fs::rename(&link, &race).unwrap();
                } else {
                    std::fs::write(&regular, format!("# Race\ninsideword {swaps}\n")).unwrap();
                    std::fs::rename(&regular, &race).unwrap();
                }
                swaps += 1;
            }
            swaps
        })
    };
    let mut fetches = 0;
    let mut inside_reads = 0;
    let started = Instant::now();
    while !swapper.is_finished() && started.elapsed() < Duration::from_secs(60) {
        let result = call(&client, "fetch", json!({"id": "race.md"})).await;
        let text = format!("{result:?}");
        assert!(
            !text.contains("outsidesecretword"),
            "an outside file was served: {text}"
        );
        fetches += 1;
        inside_reads += usize::from(text.contains("insideword"));
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps >= 1000, "only {swaps} swaps");
    assert!(
        fetches > 0 && inside_reads > 0,
        "{fetches} fetches, {inside_reads} inside"
    );
    // It ends as a regular file, which the index follows; the outside word was never indexed.
    let last = format!("insideword {}", swaps - 1);
    if swaps % 2 == 0 {
        expect_found(&server, &client, &last, "race.md").await;
    }
    assert!(search_ids(&client, "outsidesecretword").await.is_empty());
    let log = server.log();
    assert!(!log.contains("outsidesecretword"));
}

/// One raw HTTP/1.1 exchange: the status line's code.
fn raw_status(addr: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buffer[..n]),
        }
    }
    String::from_utf8_lossy(&response)
        .split(' ')
        .nth(1)
        .unwrap_or("")
        .to_string()
}

/// Issue 13 #6: the host is checked over HTTP/2 (`:authority`), and a missing, duplicate or
/// userinfo Host is refused.
#[tokio::test]
async fn host_check_holds_on_http2_and_odd_hosts() {
    let t = TestVault::new();
    t.note("a.md", "# A\nalpha\n");
    let server = serve(&t, &[], &[]);
    server.wait_ready().await;
    let addr: std::net::SocketAddr = server.addr.parse().unwrap();
    let port = addr.port();
    // HTTP/2 with the name in :authority, resolved to this server.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve("evil.example.com", addr)
        .build()
        .unwrap();
    for path in ["/readyz", "/healthz", "/", "/notes/a.md", "/mcp"] {
        let response = h2
            .get(format!("http://evil.example.com:{port}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
        assert_eq!(response.status(), 403, "{path}");
    }
    let ok = h2
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "loopback over HTTP/2 is served");
    // HTTP/1.1 without a Host, with two, and with userinfo.
    assert_eq!(
        raw_status(&server.addr, b"GET /readyz HTTP/1.1\r\n\r\n"),
        "403"
    );
    assert_eq!(
        raw_status(
            &server.addr,
            b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example.com\r\n\r\n"
        ),
        "403"
    );
    assert_eq!(
        raw_status(
            &server.addr,
            b"GET /readyz HTTP/1.1\r\nHost: evil.com@localhost\r\n\r\n"
        ),
        "403"
    );
    assert_eq!(
        raw_status(
            &server.addr,
            b"GET http://evil.com/readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        ),
        "403",
        "an absolute-form target names a host too"
    );
    assert_eq!(
        raw_status(
            &server.addr,
            b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        ),
        "200"
    );
}

/// Issue 13 #7 and the `/readyz` counts: the Bearer scheme in any case; with auth on, `/readyz`
/// shows counts only to an authenticated caller.
#[tokio::test]
async fn bearer_in_any_case_and_readyz_counts_need_auth() {
    let t = TestVault::new();
    t.note("a.md", "# A\nalpha\n");
    let server = serve(&t, &[("DEEPVAULT_TOKENS", TOKEN)], &[]);
    server.wait_ready().await;
    let http = reqwest::Client::new();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let response = http
            .post(server.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .header("authorization", format!("{scheme} {TOKEN}"))
            .body(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"alpha"}}}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
        assert!(response.text().await.unwrap().contains("a.md"));
    }
    let anonymous: Value = http
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(anonymous["ready"], true);
    for hidden in [
        "notes",
        "skipped",
        "warnings",
        "redactions",
        "last_error",
        "pending_changes",
    ] {
        assert!(
            anonymous.get(hidden).is_none(),
            "{hidden} shown without auth: {anonymous}"
        );
    }
    let authenticated: Value = http
        .get(server.url("/readyz"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(authenticated["notes"], 1, "{authenticated}");
}

/// Issue 13 #8: a connection that says nothing is closed after the idle timeout, and a body
/// that trickles in gets `408` once the request timeout has passed.
#[tokio::test]
async fn silent_and_slow_connections_are_closed() {
    let t = TestVault::new();
    t.note("a.md", "# A\nalpha\n");
    let server = serve(
        &t,
        &[
            ("DEEPVAULT_IDLE_TIMEOUT_SECS", "1"),
            ("DEEPVAULT_REQUEST_TIMEOUT_SECS", "1"),
        ],
        &[],
    );
    server.wait_ready().await;
    // Silent: never a byte. Closed after the idle timeout (at least request timeout + 5 s).
    let mut silent = TcpStream::connect(&server.addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    let mut buffer = Vec::new();
    let read = silent.read_to_end(&mut buffer);
    assert!(
        matches!(read, Ok(0))
            || read
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "{read:?} after {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    // Slow: a body at one byte a second is answered 408 once the body deadline passes.
    let mut slow = TcpStream::connect(&server.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(900)))
        .unwrap();
    write!(slow, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut response = Vec::new();
    let mut byte = [0u8; 512];
    while Instant::now() < deadline && !response.windows(4).any(|w| w == b"\r\n\r\n") {
        let _ = slow.write_all(b"{");
        match slow.read(&mut byte) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&byte[..n]),
            Err(_) => {}
        }
    }
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    // Others are served all along.
    assert_eq!(server.readyz().await.0, 200);
}

async fn post_raw(
    server: &Server,
    version: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(server.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    if let Some(version) = version {
        request = request.header("mcp-protocol-version", version);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Issue 13 #9: malformed JSON gets JSON-RPC's parse error, batches what the negotiated
/// protocol version says, and a chunked body over the limit gets 413.
#[tokio::test]
async fn jsonrpc_errors_batches_and_oversize_chunked_bodies() {
    let t = TestVault::new();
    t.note("a.md", "# A\nalpha\n").note("b.md", "# B\nbeta\n");
    t.note("deepvault.toml", "max_body_bytes = 65536\n");
    let server = serve(&t, &[], &[]);
    server.wait_ready().await;

    let (status, text) = post_raw(
        &server,
        Some("2025-06-18"),
        "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ",
    )
    .await;
    assert_eq!(status, 400, "{text}");
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["code"], -32700, "{text}");
    assert_eq!(error["id"], Value::Null);
    let (status, text) = post_raw(&server, Some("2025-06-18"), "42").await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["code"],
        -32600,
        "{text}"
    );

    let search = |id: u64, query: &str| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"search","arguments":{"query":query}}});
    let batch = json!([search(1, "alpha"), search(2, "beta"), {"jsonrpc":"2.0","method":"notifications/initialized"}, {"nope": true}]).to_string();
    // 2025-06-18 removed batches.
    let (status, text) = post_raw(&server, Some("2025-06-18"), batch.clone()).await;
    assert_eq!(status, 400, "{text}");
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["code"], -32600);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batches"),
        "{text}"
    );
    // 2025-03-26 has them: one answer per request, in order; the notification has none.
    let (status, text) = post_raw(&server, Some("2025-03-26"), batch).await;
    assert_eq!(status, 200, "{text}");
    let answers: Value = serde_json::from_str(&text).unwrap();
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 3, "{text}");
    assert_eq!(answers[0]["id"], 1);
    assert!(answers[0]["result"].to_string().contains("a.md"), "{text}");
    assert_eq!(answers[1]["id"], 2);
    assert!(answers[1]["result"].to_string().contains("b.md"), "{text}");
    assert_eq!(answers[2]["error"]["code"], -32600);

    // A chunked body (no Content-Length) of 2 MB: 413 that names the setting, not a 500.
    let chunks =
        (0..64).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 32 * 1024])));
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let (status, text) = post_raw(&server, Some("2025-06-18"), body).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("max_body_bytes"), "{text}");
}

/// The search page and note pages share the client's rate limit.
#[tokio::test]
async fn pages_are_rate_limited() {
    let t = TestVault::new();
    t.note("a.md", "# A\nalpha\n");
    let mut command = t.command(&[
        "serve",
        t.root().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    command.env("DEEPVAULT_RATE_LIMIT_PER_MINUTE", "60");
    let server = Server::start(command);
    server.wait_ready().await;
    let http = reqwest::Client::new();
    for path in ["/?q=alpha", "/notes/a.md"] {
        let mut limited = false;
        for _ in 0..40 {
            let status = http.get(server.url(path)).send().await.unwrap().status();
            if status == 429 {
                limited = true;
                break;
            }
            assert_eq!(status, 200, "{path}");
        }
        assert!(limited, "{path} was never rate-limited");
    }
}
