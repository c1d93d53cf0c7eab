//! `deepvault models pull` against a local stand-in for the Hugging Face hub: the same endpoints
//! (`/api/models/{repo}/revision/main?blobs=true`, `/{repo}/resolve/{commit}/{path}` with a
//! redirect to a CDN for large files) and headers (`ETag`, `X-Repo-Commit`, `X-Linked-Etag`),
//! serving a tiny random BERT. No network.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use deepvault::index::vectors::testutil::{TinyBert, write_tiny_bert};
use sha1::Digest as _;

use crate::common::TestVault;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A hub serving `files` of `repo`; `model.safetensors` is an LFS file behind a CDN redirect.
/// With `tamper`, the CDN serves that file with one byte changed (the metadata stays right).
fn fake_hub(repo: &str, files: Vec<(String, Vec<u8>)>, tamper: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let siblings: Vec<serde_json::Value> = files
        .iter()
        .map(|(path, bytes)| {
            if path == "model.safetensors" {
                serde_json::json!({
                    "rfilename": path,
                    "blobId": "ffffffffffffffffffffffffffffffffffffffff",
                    "size": bytes.len(),
                    "lfs": {"sha256": hex(&sha2::Sha256::digest(bytes)), "size": bytes.len(), "pointerSize": 135}
                })
            } else {
                let mut blob = sha1::Sha1::new();
                blob.update(format!("blob {}\0", bytes.len()).as_bytes());
                blob.update(bytes);
                serde_json::json!({"rfilename": path, "blobId": hex(&blob.finalize()), "size": bytes.len()})
            }
        })
        .collect();
    let info = serde_json::json!({"id": repo, "sha": COMMIT, "siblings": siblings}).to_string();
    let files: Arc<HashMap<String, Vec<u8>>> = Arc::new(files.into_iter().collect());
    let repo = repo.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split(' ').nth(1).unwrap_or("").to_string();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
            }
            let resolve = format!("/{repo}/resolve/{COMMIT}/");
            let (status, headers, body): (&str, Vec<(String, String)>, Vec<u8>) =
                if path == format!("/api/models/{repo}/revision/main?blobs=true") {
                    (
                        "200 OK",
                        vec![("Content-Type".into(), "application/json".into())],
                        info.clone().into_bytes(),
                    )
                } else if let Some(file) = path.strip_prefix(&resolve) {
                    match files.get(file) {
                        Some(bytes) if file == "model.safetensors" => (
                            "302 Found",
                            vec![
                                ("Location".into(), format!("/cdn/{file}")),
                                ("X-Repo-Commit".into(), COMMIT.into()),
                                (
                                    "X-Linked-Etag".into(),
                                    format!("\"{}\"", hex(&sha2::Sha256::digest(bytes))),
                                ),
                                ("X-Linked-Size".into(), bytes.len().to_string()),
                            ],
                            Vec::new(),
                        ),
                        Some(bytes) => (
                            "200 OK",
                            vec![
                                ("X-Repo-Commit".into(), COMMIT.into()),
                                ("ETag".into(), "\"etag\"".into()),
                            ],
                            bytes.clone(),
                        ),
                        None => ("404 Not Found", Vec::new(), b"Entry not found".to_vec()),
                    }
                } else if let Some(file) = path.strip_prefix("/cdn/") {
                    let mut bytes = files.get(file).cloned().unwrap_or_default();
                    if tamper && let Some(b) = bytes.get_mut(100) {
                        *b ^= 1;
                    }
                    ("200 OK", Vec::new(), bytes)
                } else {
                    (
                        "404 Not Found",
                        Vec::new(),
                        b"Repository not found".to_vec(),
                    )
                };
            let mut response = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                response.push_str(&format!("{k}: {v}\r\n"));
            }
            response.push_str("\r\n");
            let _ = stream.write_all(response.as_bytes());
            let _ = stream.write_all(&body);
            let _ = stream.flush();
        }
    });
    base
}

fn tiny_files() -> (tempfile::TempDir, Vec<(String, Vec<u8>)>) {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), TinyBert::default()).unwrap();
    let files = [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "1_Pooling/config.json",
    ]
    .iter()
    .map(|f| (f.to_string(), std::fs::read(dir.path().join(f)).unwrap()))
    .collect();
    (dir, files)
}

fn pull(t: &TestVault, hub: &str, models: &Path, name: &str) -> std::process::Output {
    t.command(&["models", "pull", name])
        .env("HF_ENDPOINT", hub)
        .env("DEEPVAULT_MODELS_DIR", models)
        .output()
        .unwrap()
}

fn leftovers(models: &Path) -> Vec<String> {
    std::fs::read_dir(models)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn pull_downloads_checks_and_installs_a_model_that_then_serves() {
    let (_src, files) = tiny_files();
    let hub = fake_hub("test-org/tiny-bert", files.clone(), false);
    let t = TestVault::new();
    t.note("garden.md", "# Garden\nthe tomato sat in the garden .\n");
    let models = tempfile::tempdir().unwrap();
    let out = pull(&t, &hub, models.path(), "test-org/tiny-bert");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("every file checked"), "{err}");
    let folder = models.path().join("test-org--tiny-bert");
    for (path, bytes) in &files {
        assert_eq!(&std::fs::read(folder.join(path)).unwrap(), bytes, "{path}");
    }
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("model.lock.json")).unwrap())
            .unwrap();
    assert_eq!(lock["revision"], COMMIT);
    assert_eq!(lock["name"], "test-org/tiny-bert");
    let weights = lock["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "model.safetensors")
        .unwrap();
    assert_eq!(weights["sha256"], hex(&sha2::Sha256::digest(&files[1].1)));
    assert!(
        leftovers(models.path()).is_empty(),
        "{:?}",
        leftovers(models.path())
    );

    // Again: nothing to download.
    let out = pull(&t, &hub, models.path(), "test-org/tiny-bert");
    assert!(String::from_utf8_lossy(&out.stderr).contains("up to date"));

    // The pulled model by its hub id.
    let out = t
        .command(&[
            "index",
            t.root().to_str().unwrap(),
            "--embedding-model",
            "test-org/tiny-bert",
        ])
        .env("DEEPVAULT_MODELS_DIR", models.path())
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{summary}");
    assert!(
        summary.contains("semantic search: test-org/tiny-bert: 1 of 1 notes have vectors"),
        "{summary}"
    );
}

#[test]
fn a_download_that_does_not_match_its_checksum_installs_nothing() {
    let (_src, files) = tiny_files();
    let t = TestVault::new();
    let models = tempfile::tempdir().unwrap();

    let hub = fake_hub("test-org/tiny-bert", files.clone(), true);
    let out = pull(&t, &hub, models.path(), "test-org/tiny-bert");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("model.safetensors does not match its SHA-256"),
        "{err}"
    );
    assert!(!models.path().join("test-org--tiny-bert").exists());
    assert!(
        leftovers(models.path()).is_empty(),
        "{:?}",
        leftovers(models.path())
    );

    // A known model is also checked against the checksums deepvault pins: a hub (or a proxy)
    // serving other bytes, with matching metadata, is refused.
    let hub = fake_hub("sentence-transformers/all-MiniLM-L6-v2", files, false);
    let out = pull(&t, &hub, models.path(), "all-MiniLM-L6-v2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("pinned SHA-256"), "{err}");
    assert!(!models.path().join("all-MiniLM-L6-v2").exists());

    // An unknown repository: the hub's 404, named.
    let out = pull(&t, &hub, models.path(), "nobody/nothing");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("404"), "{err}");
}
