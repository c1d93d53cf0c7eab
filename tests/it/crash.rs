//! Crash safety: a SIGKILL in the middle of a large first index, edits while the server is down,
//! and a restart must leave exactly the index a fresh full run would build.

use std::collections::BTreeMap;
use std::time::Duration;

use deepvault::index::VaultIndex;
use serde_json::Value;

use crate::common::{TestVault, wait_until};

/// id → (size, content hash), and the number of live documents.
fn contents(
    index_dir: &std::path::Path,
    vault: &std::path::Path,
) -> (BTreeMap<String, (u64, u64)>, u64) {
    let vault = std::fs::canonicalize(vault).unwrap();
    // The default redaction and privacy settings, as the server under test uses.
    let stamp = deepvault::vault::ingest::Ingest::default().stamp();
    let index = VaultIndex::open_for_reading(index_dir, &vault, &stamp)
        .unwrap()
        .expect("an index exists");
    let searcher = index.searcher();
    let manifest = index.load_manifest(&searcher).unwrap();
    let map = manifest
        .into_iter()
        .map(|(id, state)| (id, (state.size, state.hash)))
        .collect();
    (map, searcher.num_docs())
}

#[tokio::test]
async fn kill_during_first_index_then_edit_then_restart() {
    let t = TestVault::new();
    let filler = "Words about gardens, coffee and travel fill this paragraph. ".repeat(40);
    // Enough notes that the first index runs for a while after its first progress commit.
    let notes = 12_000;
    for i in 0..notes {
        t.note(
            &format!("folder{}/note {i}.md", i % 20),
            &format!(
                "---\ntags: [t{}]\n---\n# Note {i}\n{filler}\n## Part\nunique{i} words\n",
                i % 7
            ),
        );
    }
    // Frequent progress commits, so the kill lands between two of them.
    t.note("deepvault.toml", "progress_commit_ms = 20\n");
    let server = t.serve(&[]);
    let client = reqwest::Client::new();
    let mut seen = Value::Null;
    // Kill right after a progress commit, while part of the vault is committed and the rest is
    // not: the case the test is about.
    let caught = wait_until(Duration::from_secs(60), async || {
        if let Ok(response) = client.get(server.url("/readyz")).send().await {
            seen = response.json().await.unwrap_or(Value::Null);
        }
        seen["notes"].as_u64().unwrap_or(0) > 0 || seen["ready"] == true
    })
    .await;
    server.kill9();
    assert!(caught, "no progress seen: {seen}");
    let committed = seen["notes"].as_u64().unwrap_or(0);
    assert!(
        seen["ready"] != true && committed > 0 && committed < notes as u64,
        "the kill did not land mid-index (readyz at kill: {seen})"
    );

    // Edits while the server is down.
    for i in (0..notes).step_by(60) {
        t.note(
            &format!("folder{}/note {i}.md", i % 20),
            &format!("# Note {i}\nrewritten while down\n"),
        );
    }
    for i in (1..notes).step_by(120) {
        let _ = std::fs::remove_file(t.path(&format!("folder{}/note {i}.md", i % 20)));
    }
    for i in 0..30 {
        t.note(&format!("added/new {i}.md"), "added while down\n");
    }

    let server = t.serve(&[]);
    server.wait_ready().await;
    let status = server.terminate();
    assert!(status.success());

    let fresh = TestVault::new();
    let out = fresh
        .command(&["index", t.root().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (restarted, restarted_docs) = contents(t.index_dir(), t.root());
    let (reference, reference_docs) = contents(fresh.index_dir(), t.root());
    assert_eq!(restarted.len(), reference.len());
    assert_eq!(
        restarted_docs,
        restarted.len() as u64,
        "no duplicate documents"
    );
    assert_eq!(reference_docs, reference.len() as u64);
    assert!(
        restarted == reference,
        "the restarted index differs from a fresh full index"
    );
    assert!(reference.contains_key("added/new 0.md"));
    assert!(!reference.contains_key("folder1/note 1.md"));
}
