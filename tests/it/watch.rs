//! The live index: every way a vault changes while `serve` runs, start-up reconcile after a
//! crash, polling, and the writer lock. Each test waits for a condition with a bounded timeout;
//! none asserts after a fixed sleep.

use std::time::Duration;

use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};

use crate::common::{Server, TestVault, call, search_ids, wait_until};

const TIMEOUT: Duration = Duration::from_secs(20);

/// Whether `fetch` resolves an id.
async fn fetchable(client: &RunningService<RoleClient, ()>, id: &str) -> bool {
    call(client, "fetch", json!({ "id": id })).await.is_error != Some(true)
}

/// Waits until `search(query)` returns exactly `expected` (as a set).
async fn expect_search(
    server: &Server,
    client: &RunningService<RoleClient, ()>,
    query: &str,
    expected: &[&str],
) {
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    let mut got = Vec::new();
    let ok = wait_until(TIMEOUT, async || {
        got = search_ids(client, query).await;
        got.sort();
        got == want
    })
    .await;
    assert!(
        ok,
        "search {query:?}: expected {want:?}, got {got:?}\n{}",
        server.log()
    );
}

async fn expect_fetchable(
    server: &Server,
    client: &RunningService<RoleClient, ()>,
    id: &str,
    yes: bool,
) {
    let ok = wait_until(TIMEOUT, async || fetchable(client, id).await == yes).await;
    assert!(
        ok,
        "fetch {id}: expected resolvable={yes}\n{}",
        server.log()
    );
}

async fn started(t: &TestVault, extra: &[&str]) -> (Server, RunningService<RoleClient, ()>) {
    let server = t.serve(extra);
    server.wait_ready().await;
    let client = server.mcp().await;
    (server, client)
}

#[tokio::test]
async fn create_modify_delete() {
    let t = TestVault::new();
    t.note("a.md", "alpha\n");
    let (server, client) = started(&t, &[]).await;
    t.note("b.md", "bravo created later\n");
    expect_search(&server, &client, "bravo", &["b.md"]).await;
    t.note("b.md", "bravo now says charlie\n");
    expect_search(&server, &client, "charlie", &["b.md"]).await;
    std::fs::remove_file(t.path("b.md")).unwrap();
    expect_search(&server, &client, "bravo", &[]).await;
    expect_fetchable(&server, &client, "b.md", false).await;
    let ready: Value = reqwest::get(server.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(ready["last_event"].is_string(), "{ready}");
    assert_eq!(ready["notes"], 1, "{ready}");
}

#[tokio::test]
async fn write_to_temp_then_rename_saves() {
    let t = TestVault::new();
    t.note("Note.md", "original words\n");
    let (server, client) = started(&t, &[]).await;
    // Obsidian and most editors write a temporary file, then rename it over the note.
    for temp in [".Note.md.tmp", "Note.md.swp~", "Note.tmp"] {
        let marker = format!("saved via {}", temp.replace(['.', '~'], " "));
        std::fs::write(t.path(temp), format!("# Note\n{marker} zulu\n")).unwrap();
        std::fs::rename(t.path(temp), t.path("Note.md")).unwrap();
        expect_search(&server, &client, &marker, &["Note.md"]).await;
    }
    expect_search(&server, &client, "original", &[]).await;
    expect_search(&server, &client, "zulu", &["Note.md"]).await;
}

#[tokio::test]
async fn rename_and_move_notes() {
    let t = TestVault::new();
    t.note("Old name.md", "# Kilo\nkilo words\n")
        .note("Folder/keep.md", "x\n");
    let (server, client) = started(&t, &[]).await;
    std::fs::rename(t.path("Old name.md"), t.path("New name.md")).unwrap();
    expect_search(&server, &client, "kilo", &["New name.md"]).await;
    expect_fetchable(&server, &client, "Old name.md", false).await;
    expect_fetchable(&server, &client, "New name.md", true).await;
    std::fs::rename(t.path("New name.md"), t.path("Folder/Moved.md")).unwrap();
    expect_search(&server, &client, "kilo", &["Folder/Moved.md"]).await;
    expect_fetchable(&server, &client, "New name.md", false).await;
}

#[tokio::test]
async fn whole_folders_move_delete_and_arrive() {
    let t = TestVault::new();
    t.note("Projects/a.md", "lima one\n")
        .note("Projects/deep/b.md", "lima two\n");
    let (server, client) = started(&t, &[]).await;

    std::fs::rename(t.path("Projects"), t.path("Archive2")).unwrap();
    expect_search(
        &server,
        &client,
        "lima",
        &["Archive2/a.md", "Archive2/deep/b.md"],
    )
    .await;
    expect_fetchable(&server, &client, "Projects/a.md", false).await;
    // Edits inside the moved folders are seen under their new paths (watches follow inodes, so
    // stale ones must not report old paths).
    t.note("Archive2/deep/b.md", "lima two juliet\n");
    t.note("Archive2/deep/c.md", "juliet three\n");
    expect_search(
        &server,
        &client,
        "juliet",
        &["Archive2/deep/b.md", "Archive2/deep/c.md"],
    )
    .await;
    // Nothing stays indexed under the folder's old name.
    expect_fetchable(&server, &client, "Projects/deep/b.md", false).await;

    std::fs::remove_dir_all(t.path("Archive2")).unwrap();
    expect_search(&server, &client, "lima", &[]).await;

    // A folder built outside the vault and moved in.
    let outside = tempfile::tempdir_in(t.root().parent().unwrap()).unwrap();
    std::fs::create_dir_all(outside.path().join("Incoming/sub")).unwrap();
    std::fs::write(outside.path().join("Incoming/c.md"), "mike three\n").unwrap();
    std::fs::write(outside.path().join("Incoming/sub/d.md"), "mike four\n").unwrap();
    std::fs::rename(outside.path().join("Incoming"), t.path("Incoming")).unwrap();
    expect_search(
        &server,
        &client,
        "mike",
        &["Incoming/c.md", "Incoming/sub/d.md"],
    )
    .await;

    // A folder created in place, then filled.
    std::fs::create_dir_all(t.path("Fresh/inner")).unwrap();
    t.note("Fresh/inner/e.md", "november five\n");
    expect_search(&server, &client, "november", &["Fresh/inner/e.md"]).await;
}

#[tokio::test]
async fn ignore_rules_and_privacy_marker_changes() {
    let t = TestVault::new();
    t.note("drafts/d.md", "oscar draft\n")
        .note("Old/o.md", "oscar old\n")
        .note("n.md", "oscar note\n");
    let (server, client) = started(&t, &[]).await;
    expect_search(
        &server,
        &client,
        "oscar",
        &["drafts/d.md", "Old/o.md", "n.md"],
    )
    .await;

    t.note(".gitignore", "drafts/\n");
    expect_search(&server, &client, "oscar", &["Old/o.md", "n.md"]).await;
    t.note(".obsidian/app.json", r#"{"userIgnoreFilters":["Old/"]}"#);
    expect_search(&server, &client, "oscar", &["n.md"]).await;
    std::fs::remove_file(t.path(".gitignore")).unwrap();
    expect_search(&server, &client, "oscar", &["drafts/d.md", "n.md"]).await;

    t.note("n.md", "---\ndeepvault: private\n---\noscar note\n");
    expect_search(&server, &client, "oscar", &["drafts/d.md"]).await;
    expect_fetchable(&server, &client, "n.md", false).await;
    t.note("n.md", "oscar note is public again\n");
    expect_search(&server, &client, "oscar", &["drafts/d.md", "n.md"]).await;
    // A private tag works the same way, and so does lifting it.
    t.note("n.md", "---\ntags: [private]\n---\noscar note\n");
    expect_search(&server, &client, "oscar", &["drafts/d.md"]).await;
    expect_fetchable(&server, &client, "n.md", false).await;
    t.note("n.md", "oscar note is public once more\n");
    expect_search(&server, &client, "oscar", &["drafts/d.md", "n.md"]).await;
}

#[tokio::test]
async fn polling_mode_sees_changes() {
    let t = TestVault::new();
    t.note("a.md", "papa\n");
    t.note("deepvault.toml", "poll_interval_ms = 100\n");
    let (server, client) = started(&t, &["--poll"]).await;
    let ready: Value = reqwest::get(server.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        ready["watcher"].as_str().unwrap().starts_with("polling"),
        "{ready}"
    );
    t.note("b.md", "papa quebec\n");
    expect_search(&server, &client, "quebec", &["b.md"]).await;
    std::fs::remove_file(t.path("a.md")).unwrap();
    expect_search(&server, &client, "papa", &["b.md"]).await;
}

/// Edits made while the server is down (after a kill -9) are picked up at the next start, and
/// only the changed files are read.
#[tokio::test]
async fn startup_reconcile_after_kill() {
    let t = TestVault::new();
    for i in 0..50 {
        t.note(&format!("n{i}.md"), &format!("romeo {i}\n"));
    }
    let (server, client) = started(&t, &[]).await;
    drop(client);
    server.kill9();
    t.note("n1.md", "romeo changed sierra\n");
    std::fs::remove_file(t.path("n2.md")).unwrap();
    t.note("new.md", "sierra new\n");
    let (server, client) = started(&t, &[]).await;
    expect_search(&server, &client, "sierra", &["n1.md", "new.md"]).await;
    expect_fetchable(&server, &client, "n2.md", false).await;
    assert!(
        server
            .log()
            .contains("added=1 updated=1 touched=0 removed=1 unchanged=48"),
        "{}",
        server.log()
    );
}

/// `index` while `serve` writes the same index gets a clear message, not a lock error dump.
#[tokio::test]
async fn second_writer_gets_a_clear_message() {
    let t = TestVault::new();
    t.note("a.md", "tango\n");
    let (_server, _client) = started(&t, &[]).await;
    let out = t.run(&["index", t.root().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is being written by another deepvault process (pid"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    // search and fetch work alongside.
    assert_eq!(
        crate::common::result_ids(&t.search_json("tango")),
        vec!["a.md"]
    );
}

/// The periodic light reconcile catches a change no event reported: the note is edited through a
/// hard link outside the vault, which inotify on the vault's folders never sees.
#[tokio::test]
async fn periodic_reconcile_catches_missed_events() {
    let t = TestVault::new();
    t.note("linked.md", "uniform before\n");
    t.note("deepvault.toml", "reconcile_interval_secs = 1\n");
    let outside = tempfile::tempdir().unwrap();
    let link = outside.path().join("linked.md");
    std::fs::hard_link(t.path("linked.md"), &link).unwrap();
    let (server, client) = started(&t, &[]).await;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&link)
        .unwrap();
    std::io::Write::write_all(&mut file, b"victor after\n").unwrap();
    drop(file);
    expect_search(&server, &client, "victor", &["linked.md"]).await;
    let ready: Value = reqwest::get(server.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(ready["last_reconcile"].is_string(), "{ready}");
    assert!(
        server
            .log()
            .contains("the periodic reconcile found changes the watcher missed"),
        "{}",
        server.log()
    );
}
