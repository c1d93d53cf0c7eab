//! Issue 19: `/files/<path>` serves what indexed documents reference, and nothing else, over
//! real sockets: a table of channels (served, private, `private_paths`, excluded, symlink out,
//! dot-file, ambiguous name, traversal), the headers, ranges, and the note pages' access rules.

use std::time::Duration;

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{TestVault, wait_until};

const TOKEN: &str = "files-test-token-0123456789abcdef";

/// 1,000 bytes that start like a PDF, each position distinct enough to check a range.
fn pdf_bytes() -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n".to_vec();
    bytes.extend((0..991u32).map(|i| b'a' + (i % 26) as u8));
    bytes
}

/// The vault of the table: a public note that references every kind of file, a private note,
/// `private_paths`, an exclusion, a symlink out, a dot-file and an ambiguous name.
fn vault(outside: &std::path::Path) -> TestVault {
    let t = TestVault::new();
    t.note(
        "Public.md",
        "# Public\n\n![[diagram.png]]\n[the paper](files/paper.pdf)\n![[vector.svg]]\n\
         ![[Journal/scan.png]]\n![[out.png]]\n![[.hidden.png]]\n![[Archive/old.png]]\n\
         ![[twice.png]]\n![[Secret.md]]\n![a chart](img/chart%20one.png)\n",
    )
    .note(
        "Secret.md",
        "---\ndeepvault: private\n---\n# Secret\n![[secret-only.png]]\n",
    )
    .note("Journal/day.md", "# Day\nmy journal day\n")
    .note(
        "deepvault.toml",
        "exclude = [\"Archive/**\"]\nprivate_paths = [\"Journal/**\"]\n",
    )
    .write_bytes("diagram.png", b"\x89PNG\r\n\x1a\nnot really a png")
    .write_bytes("files/paper.pdf", &pdf_bytes())
    .write_bytes(
        "vector.svg",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
    )
    .write_bytes("Journal/scan.png", b"journal scan")
    .write_bytes("Archive/old.png", b"archived")
    .write_bytes(".hidden.png", b"hidden")
    .write_bytes("secret-only.png", b"only the private note")
    .write_bytes("unlinked.png", b"nobody links here")
    .write_bytes("img/chart one.png", b"a chart")
    .write_bytes("a/twice.png", b"twice a")
    .write_bytes("b/twice.png", b"twice b");
    std::fs::write(outside.join("out.png"), b"OUTSIDE THE VAULT").unwrap();
    std::os::unix::fs::symlink(outside.join("out.png"), t.path("out.png")).unwrap();
    t
}

/// A raw HTTP/1.1 GET, so that `..` and `%2e%2e` reach the server as written (an HTTP client
/// would normalise them away): the status and the body.
async fn raw_get(addr: &str, target: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// Every channel through which a file could leave, as a table: what is served and what gets
/// the one 404.
#[tokio::test]
async fn files_serves_what_indexed_documents_reference_and_nothing_else() {
    let outside = tempfile::tempdir().unwrap();
    let t = vault(outside.path());
    let server = t.serve(&[]);
    server.wait_ready().await;
    let http = reqwest::Client::new();
    let get = async |path: &str| {
        let response = http.get(server.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap();
        (status, headers, body)
    };
    let (_, _, not_found_body) = get("/files/no-such-file.png").await;
    let root = t.root().canonicalize().unwrap();
    for (path, served, why) in [
        ("/files/diagram.png", true, "embedded by a public note"),
        (
            "/files/files/paper.pdf",
            true,
            "a Markdown link of a public note",
        ),
        ("/files/vector.svg", true, "embedded: served, as a download"),
        (
            "/files/img/chart%20one.png",
            true,
            "a Markdown image of a public note",
        ),
        ("/files/Journal/scan.png", false, "under private_paths"),
        (
            "/files/secret-only.png",
            false,
            "referenced only by a private note",
        ),
        ("/files/Archive/old.png", false, "excluded folder"),
        ("/files/out.png", false, "symlink leaving the vault"),
        ("/files/.hidden.png", false, "dot-file"),
        ("/files/unlinked.png", false, "referenced by nothing"),
        (
            "/files/a/twice.png",
            false,
            "an ambiguous name does not resolve",
        ),
        (
            "/files/Public.md",
            false,
            "notes are pages, never raw files",
        ),
        ("/files/Secret.md", false, "a private note"),
        ("/files/Journal/day.md", false, "a note under private_paths"),
        ("/files/deepvault.toml", false, "the config"),
        ("/files/no-such-file.png", false, "missing"),
    ] {
        let (status, headers, body) = get(path).await;
        if served {
            assert_eq!(status, 200, "{path}: {why}");
            assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(headers["content-security-policy"], "sandbox", "{path}");
            assert_eq!(headers["accept-ranges"], "bytes", "{path}");
        } else {
            assert_eq!(status, 404, "{path}: {why}");
            assert_eq!(
                body, not_found_body,
                "{path}: the same 404 whatever the reason"
            );
        }
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains(root.to_str().unwrap()),
            "{path} leaks the vault path"
        );
        assert!(!text.contains("OUTSIDE"), "{path}");
        assert!(!text.contains("my journal"), "{path}");
    }
    let (_, headers, body) = get("/files/diagram.png").await;
    assert_eq!(headers["content-type"], "image/png");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline; filename=\"diagram.png\"")
    );
    assert_eq!(&body[..], b"\x89PNG\r\n\x1a\nnot really a png");
    let (_, headers, body) = get("/files/files/paper.pdf").await;
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(body, pdf_bytes());
    // SVG can run script: a download, never inline, and sandboxed anyway.
    let (_, headers, _) = get("/files/vector.svg").await;
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;"),
        "{headers:?}"
    );
    assert_eq!(headers["content-security-policy"], "sandbox");

    // Traversal as written on the wire, plain and percent-encoded: 404 (or 400), no leak.
    for target in [
        "/files/../Secret.md",
        "/files/a/../secret-only.png",
        "/files/%2e%2e/%2e%2e/etc/passwd",
        "/files/..%2FSecret.md",
        "/files/files/..%2f..%2fSecret.md",
        "/files/%2fetc%2fpasswd",
        "/files/.%2fdiagram.png",
        "/files/diagram.png%00.md",
        "/files/%ff%fe.png",
        "/files/",
    ] {
        let (status, body) = raw_get(&server.addr, target).await;
        assert!(matches!(status, 400 | 404), "{target}: {status}");
        assert!(!body.contains(root.to_str().unwrap()), "{target}: {body}");
        assert!(!body.contains("root:"), "{target}: {body}");
        assert!(!body.contains("Secret"), "{target}: {body}");
    }

    // A note made private takes its attachments with it, once the index has seen the change.
    t.note(
        "Public.md",
        "---\ndeepvault: private\n---\n# Public\n\n![[diagram.png]]\n",
    );
    let gone = wait_until(Duration::from_secs(20), async || {
        get("/files/diagram.png").await.0 == 404
    })
    .await;
    assert!(gone, "{}", server.log());
}

/// Single byte ranges (206 with `Content-Range`, 416 past the end), HEAD, and revalidation.
#[tokio::test]
async fn ranges_head_and_etags() {
    let outside = tempfile::tempdir().unwrap();
    let t = vault(outside.path());
    let server = t.serve(&[]);
    server.wait_ready().await;
    let http = reqwest::Client::new();
    let url = server.url("/files/files/paper.pdf");
    let pdf = pdf_bytes();
    let len = pdf.len();
    for (range, start, end) in [
        ("bytes=0-9", 0, 9),
        ("bytes=990-", 990, len - 1),
        ("bytes=-5", len - 5, len - 1),
        ("bytes=500-100000", 500, len - 1),
    ] {
        let response = http.get(&url).header("range", range).send().await.unwrap();
        assert_eq!(response.status(), 206, "{range}");
        assert_eq!(
            response.headers()["content-range"],
            format!("bytes {start}-{end}/{len}").as_str(),
            "{range}"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let body = response.bytes().await.unwrap();
        assert_eq!(&body[..], &pdf[start..=end], "{range}");
    }
    for range in [
        format!("bytes={len}-"),
        format!("bytes={}-{}", len + 5, len + 9),
    ] {
        let response = http.get(&url).header("range", &range).send().await.unwrap();
        assert_eq!(response.status(), 416, "{range}");
        assert_eq!(
            response.headers()["content-range"],
            format!("bytes */{len}").as_str()
        );
    }
    // Several ranges are not supported: the whole file.
    let whole = http
        .get(&url)
        .header("range", "bytes=0-1,5-6")
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status(), 200);
    let etag = whole.headers()["etag"].clone();
    assert!(whole.headers().contains_key("last-modified"));
    assert_eq!(whole.bytes().await.unwrap().len(), len);

    let head = http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], len.to_string().as_str());
    assert_eq!(head.headers()["content-type"], "application/pdf");
    assert!(head.bytes().await.unwrap().is_empty());
    // A missing file is the same 404 for HEAD.
    let head = http
        .head(server.url("/files/unlinked.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 404);

    let revalidated = http
        .get(&url)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    // A range for another version of the file: the whole file.
    let stale = http
        .get(&url)
        .header("range", "bytes=0-9")
        .header("if-range", "\"another-version\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
    let current = http
        .get(&url)
        .header("range", "bytes=0-9")
        .header("if-range", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), 206);
}

/// `HMAC-SHA256(page-secret, "v1\n" + id + "\n")`, as the server signs page links.
fn signature(index_dir: &std::path::Path, id: &str) -> String {
    let key = std::fs::read(index_dir.join("page-secret")).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("v1\n{id}\n").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// With auth on, `/files` asks what note pages ask: in `signed` mode a signature for that one
/// file or the token, in `token` mode the token. A refusal says nothing of the file.
#[tokio::test]
async fn files_follow_the_note_pages_access_rules() {
    let outside = tempfile::tempdir().unwrap();
    let t = vault(outside.path());
    let http = reqwest::Client::new();
    for mode in ["signed", "token"] {
        let mut command = t.command(&[
            "serve",
            t.root().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ]);
        command
            .env("DEEPVAULT_TOKENS", TOKEN)
            .env("DEEPVAULT_PAGES", mode);
        let server = crate::common::Server::start(command);
        server.wait_ready().await;
        let url = server.url("/files/diagram.png");
        let sig = signature(t.index_dir(), "diagram.png");
        let other_sig = signature(t.index_dir(), "Public.md");
        for (request, allowed, what) in [
            (http.get(&url), false, "no credentials"),
            (
                http.get(&url).bearer_auth("wrong-token-0123456789"),
                false,
                "a wrong token",
            ),
            (http.get(&url).bearer_auth(TOKEN), true, "the token"),
            (
                http.get(format!("{url}?sig={sig}")),
                mode == "signed",
                "its own signature",
            ),
            (
                http.get(format!("{url}?sig={other_sig}")),
                false,
                "another id's signature",
            ),
            (
                http.get(server.url("/files/unlinked.png")),
                false,
                "a file that is not served, without credentials",
            ),
        ] {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            if allowed {
                assert_eq!(status, 200, "{mode}: {what}");
            } else {
                assert_eq!(status, 401, "{mode}: {what}");
                assert!(!body.contains("not really a png"), "{mode}: {what}");
            }
        }
        server.terminate();
    }
}
