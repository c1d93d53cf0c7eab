//! Semantic search through the real binary, with a tiny random BERT the tests write themselves:
//! background embedding while serving, readiness, the three modes, edits and deletions, restarts
//! and kill -9, the `index` summary, and `models pull` against a local stand-in for the hub.

use std::path::{Path, PathBuf};
use std::time::Duration;

use deepvault::index::vectors::testutil::{TinyBert, write_tiny_bert};
use serde_json::{Value, json};

use crate::common::{Server, TestVault, call, result_ids, tool_json, wait_until};

/// A tiny model folder, named like no known model (so its own settings apply).
fn tiny_model(dir: &Path) -> PathBuf {
    let folder = dir.join("tiny-model");
    write_tiny_bert(&folder, TinyBert::default()).unwrap();
    folder
}

fn garden_vault() -> TestVault {
    let t = TestVault::new();
    t.note("garden.md", "# Garden\nthe tomato sat in the garden .\n")
        .note("coffee.md", "# Coffee\nthe coffee is in the cat .\n")
        .note("notes.md", "# Notes\nsearch the vault index for notes .\n")
        .note(
            "deep/dog.md",
            "---\ntags: [pets]\n---\n# Dog\nthe dog sat on the mat .\n## Two\nthe dog and the cat .\n",
        );
    t
}

fn serve_with(t: &TestVault, model: &Path, extra_env: &[(&str, &str)]) -> Server {
    let mut command = t.command(&[
        "serve",
        t.root().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    command.env("DEEPVAULT_EMBEDDING_MODEL", model);
    for (key, value) in extra_env {
        command.env(key, value);
    }
    Server::start(command)
}

/// Waits until every note has vectors; returns `/readyz`.
async fn wait_embedded(server: &Server) -> Value {
    let mut last = Value::Null;
    let done = wait_until(Duration::from_secs(60), async || {
        last = server.readyz().await.1;
        let s = &last["semantic"];
        last["ready"] == true
            && s["state"] == "ready"
            && s["total"].as_u64().is_some_and(|n| n > 0)
            && s["embedded"] == s["total"]
    })
    .await;
    assert!(done, "never fully embedded: {last}\n{}", server.log());
    last
}

#[tokio::test]
async fn serve_embeds_in_the_background_and_keeps_the_tools_shapes() {
    let t = garden_vault();
    let models = tempfile::tempdir().unwrap();
    let model = tiny_model(models.path());
    let server = serve_with(&t, &model, &[]);
    server.wait_ready().await;
    let status = wait_embedded(&server).await;
    assert!(
        server.log().contains("semantic search on: tiny-model"),
        "{}",
        server.log()
    );
    let semantic = &status["semantic"];
    assert_eq!(semantic["model"], "tiny-model");
    assert_eq!(semantic["total"], 4);
    for key in ["rate", "eta_secs", "vectors"] {
        assert!(semantic.get(key).is_some(), "{key} missing: {semantic}");
    }
    let vectors = semantic["vectors"].as_u64().unwrap();
    assert!(vectors >= 4, "{semantic}");

    // Hybrid search (the default with a model) answers in the declared shape.
    let client = server.mcp().await;
    let tools = client.list_all_tools().await.unwrap();
    let search = tools.iter().find(|t| t.name == "search").unwrap();
    let schema = serde_json::to_value(search.output_schema.as_deref().unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for query in [
        "tomato garden",
        "a question with no shared word zzqx",
        "tag:pets dog",
    ] {
        let result = call(&client, "search", json!({ "query": query })).await;
        assert_ne!(result.is_error, Some(true), "{query}");
        let content = tool_json(&result);
        let errors: Vec<String> = validator
            .iter_errors(&content)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{query}: {errors:?}");
        for hit in content["results"].as_array().unwrap() {
            assert!(!hit["url"].as_str().unwrap().is_empty());
        }
    }
    let result = tool_json(&call(&client, "search", json!({"query": "tomato garden"})).await);
    assert_eq!(result_ids(&result)[0], "garden.md");
    // Filters hold on both sides: only the tagged note, whatever the vectors say.
    let result = tool_json(&call(&client, "search", json!({"query": "tag:pets coffee"})).await);
    assert_eq!(result_ids(&result), vec!["deep/dog.md"]);
    let result = tool_json(&call(&client, "search", json!({"query": "coffee -cat"})).await);
    assert!(
        !result_ids(&result).contains(&"coffee.md".to_string()),
        "{result}"
    );
    client.cancel().await.unwrap();
    assert!(
        server.log().contains("embedding caught up"),
        "{}",
        server.log()
    );

    // A restart embeds nothing: every text has its vectors already.
    assert!(server.terminate().success());
    let server = serve_with(&t, &model, &[]);
    server.wait_ready().await;
    let status = wait_embedded(&server).await;
    assert_eq!(status["semantic"]["vectors"].as_u64(), Some(vectors));
    // Give an (unwanted) embedding session time to log, then check there was none.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !server.log().contains("embedding caught up"),
        "a restart re-embedded notes:\n{}",
        server.log()
    );
}

#[tokio::test]
async fn edits_are_semantically_searchable_and_deleted_notes_lose_their_vectors() {
    let t = garden_vault();
    let models = tempfile::tempdir().unwrap();
    let model = tiny_model(models.path());
    let server = serve_with(&t, &model, &[("DEEPVAULT_SEARCH_MODE", "semantic")]);
    server.wait_ready().await;
    wait_embedded(&server).await;
    let client = server.mcp().await;

    // The exact text a chunk is embedded from finds it first (cosine 1).
    let top = async |query: &str| {
        let result = tool_json(&call(&client, "search", json!({ "query": query })).await);
        result_ids(&result).first().cloned()
    };
    assert_eq!(
        top("Coffee\nthe coffee is in the cat .").await.as_deref(),
        Some("coffee.md")
    );

    t.note("notes.md", "# Notes\nthe garden is a vault of notes .\n");
    let found = wait_until(Duration::from_secs(30), async || {
        top("Notes\nthe garden is a vault of notes .")
            .await
            .as_deref()
            == Some("notes.md")
    })
    .await;
    assert!(found, "the edit never became searchable\n{}", server.log());
    // Its passage comes from the chunk the vectors found.
    let result = tool_json(
        &call(
            &client,
            "search",
            json!({"query": "Notes\nthe garden is a vault of notes ."}),
        )
        .await,
    );
    assert_eq!(
        result["results"][0]["text"],
        "the garden is a vault of notes ."
    );

    let before = server.readyz().await.1["semantic"]["total"]
        .as_u64()
        .unwrap();
    std::fs::remove_file(t.path("coffee.md")).unwrap();
    let gone = wait_until(Duration::from_secs(30), async || {
        let s = server.readyz().await.1;
        s["semantic"]["total"].as_u64() == Some(before - 1)
            && s["semantic"]["embedded"].as_u64() == Some(before - 1)
    })
    .await;
    assert!(gone, "{}", server.log());
    assert_ne!(
        top("Coffee\nthe coffee is in the cat .").await.as_deref(),
        Some("coffee.md")
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_kill_during_embedding_then_a_restart_embeds_the_rest_once() {
    let t = TestVault::new();
    let words = [
        "the", "cat", "dog", "sat", "on", "mat", "tomato", "garden", "coffee", "note",
    ];
    for i in 0..600 {
        let body: Vec<&str> = (0..40)
            .map(|j| words[(i * 7 + j * (i % 5 + 1)) % words.len()])
            .collect();
        t.note(
            &format!("n{}/note {i}.md", i % 10),
            &format!("# Note {i}\n{} .\n", body.join(" ")),
        );
    }
    let models = tempfile::tempdir().unwrap();
    let model = tiny_model(models.path());
    let server = serve_with(&t, &model, &[]);
    let mut seen = Value::Null;
    let started = wait_until(Duration::from_secs(60), async || {
        seen = server.readyz().await.1;
        seen["semantic"]["embedded"].as_u64().unwrap_or(0) > 0
    })
    .await;
    assert!(started, "{seen}");
    server.kill9();

    let server = serve_with(&t, &model, &[]);
    server.wait_ready().await;
    let status = wait_embedded(&server).await;
    assert!(server.terminate().success());

    // The same vectors as a fresh run: nothing lost, nothing twice.
    let fresh = TestVault::new();
    let out = fresh
        .command(&["index", t.root().to_str().unwrap()])
        .env("DEEPVAULT_EMBEDDING_MODEL", &model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stderr);
    // "embedded 600 notes: N chunks, ..."
    let chunks: u64 = summary
        .split("notes: ")
        .nth(1)
        .and_then(|rest| rest.split(" chunks").next())
        .map(|n| n.replace(',', ""))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no chunk count in {summary}"));
    assert_eq!(status["semantic"]["total"], 600);
    assert_eq!(
        status["semantic"]["vectors"].as_u64(),
        Some(chunks),
        "restarted: {status}\nfresh: {summary}"
    );
    eprintln!("killed at {}", seen["semantic"]);
}

#[test]
fn index_reports_vectors_and_search_has_three_modes() {
    let t = garden_vault();
    let models = tempfile::tempdir().unwrap();
    let model = tiny_model(models.path());
    let model_arg = model.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = t.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let root = t.root().to_str().unwrap();
    let out = run(&["index", root, "--embedding-model", model_arg]);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains("semantic search: tiny-model: 4 of 4 notes have vectors"),
        "{summary}"
    );
    assert!(summary.contains("embedded 4 notes"), "{summary}");
    let out = run(&["index", root, "--embedding-model", model_arg]);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("nothing to embed"), "{summary}");
    let out = run(&["index", root]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("semantic search: off"));

    let search = |mode: &str, query: &str| -> Vec<String> {
        let out = run(&[
            "search",
            query,
            "--json",
            "--vault",
            root,
            "--mode",
            mode,
            "--embedding-model",
            model_arg,
        ]);
        result_ids(&serde_json::from_slice(&out.stdout).unwrap())
    };
    assert_eq!(
        search("semantic", "Garden\nthe tomato sat in the garden .")[0],
        "garden.md"
    );
    assert_eq!(search("lexical", "coffee")[0], "coffee.md");
    assert_eq!(search("hybrid", "coffee")[0], "coffee.md");
    assert_eq!(
        search("semantic", "zzqx").len(),
        4,
        "semantic search always ranks every note"
    );
    assert!(search("lexical", "zzqx").is_empty());

    let out = t.run(&["search", "coffee", "--vault", root, "--mode", "hybrid"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs semantic search") && err.contains("models pull"),
        "{err}"
    );
    let out = t.run(&["index", root, "--embedding-model", "/no/such/model"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("/no/such/model"),
        "{err}"
    );
    let out = t
        .command(&["index", root, "--embedding-model", "all-MiniLM-L6-v2"])
        .env("DEEPVAULT_MODELS_DIR", models.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("deepvault models pull all-MiniLM-L6-v2"),
        "{err}"
    );
}
