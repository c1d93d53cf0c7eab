//! `deepvault serve`: MCP over streamable HTTP, the legacy SSE transport and stdio, driven by
//! rmcp's client against the real binary on real sockets.

use std::time::Duration;

use futures::StreamExt;
use rmcp::ServiceExt;
use serde_json::{Value, json};

use crate::common::{TestVault, call, tool_error_text, tool_json};

fn sample_vault() -> TestVault {
    let t = TestVault::new();
    t.note(
        "Coffee/Pour over.md",
        "---\ntags: [coffee]\naliases: [V60]\n---\n# Pour over\nUse a 1:16 ratio.\n\n## Grind\nMedium-fine grind for a V60.\n",
    )
    .note("Garden/Tomatoes.md", "# Tomatoes\nWatch for blight in August. See [[Pour over]].\n")
    .note("Private/Diary.md", "---\ndeepvault: private\n---\nsecret diary zebracorn\n");
    t
}

#[tokio::test]
async fn tools_are_exactly_search_and_fetch_read_only() {
    let t = sample_vault();
    let server = t.serve(&[]);
    let client = server.mcp().await;
    let info = client.peer_info().expect("initialized");
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("deepvault")
    );
    let instructions = info.instructions.clone().unwrap_or_default();
    assert!(instructions.contains("search") && instructions.contains("fetch"));

    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(names, vec!["fetch", "search"]);
    for tool in &tools {
        let annotations = tool.annotations.as_ref().expect("annotations");
        assert_eq!(annotations.read_only_hint, Some(true), "{}", tool.name);
        assert_eq!(annotations.destructive_hint, Some(false), "{}", tool.name);
        assert_eq!(annotations.open_world_hint, Some(false), "{}", tool.name);
        let schema = serde_json::to_value(&*tool.input_schema).unwrap();
        let argument = if tool.name == "search" { "query" } else { "id" };
        assert_eq!(schema["properties"][argument]["type"], "string", "{schema}");
        assert_eq!(schema["required"], json!([argument]), "{schema}");
        let output =
            serde_json::to_value(tool.output_schema.as_deref().expect("outputSchema")).unwrap();
        let top = if tool.name == "search" {
            json!(["results"])
        } else {
            json!(["id", "title", "text", "url", "metadata"])
        };
        assert_eq!(output["type"], "object", "{output}");
        assert_eq!(output["required"], top, "{output}");
    }
    client.cancel().await.unwrap();
}

/// The structured results conform to the output schemas the tools declare (an MCP client may
/// validate them, and a result that does not conform is refused).
#[tokio::test]
async fn results_conform_to_the_declared_output_schemas() {
    let t = sample_vault();
    let server = t.serve(&[]);
    server.wait_ready().await;
    let client = server.mcp().await;
    let tools = client.list_all_tools().await.unwrap();
    let schema_of = |name: &str| {
        let tool = tools.iter().find(|t| t.name == name).unwrap();
        serde_json::to_value(tool.output_schema.as_deref().unwrap()).unwrap()
    };
    let calls = [
        ("search", json!({"query": "grind ratio"})),
        ("search", json!({"query": "nothing matches zzqx"})),
        ("fetch", json!({"id": "Coffee/Pour over.md"})),
        ("fetch", json!({"id": "Coffee/Pour over.md#Grind"})),
    ];
    for (tool, arguments) in calls {
        let result = call(&client, tool, arguments.clone()).await;
        assert_ne!(result.is_error, Some(true), "{tool} {arguments}");
        let content = result
            .structured_content
            .clone()
            .expect("structuredContent");
        let validator = jsonschema::validator_for(&schema_of(tool)).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&content)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{tool} {arguments}: {errors:?}\n{content}"
        );
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn search_and_fetch_results_have_the_openai_shape() {
    let t = sample_vault();
    let server = t.serve(&[]);
    server.wait_ready().await;
    let client = server.mcp().await;

    let result = call(&client, "search", json!({"query": "grind ratio"})).await;
    assert_ne!(result.is_error, Some(true));
    let json = tool_json(&result);
    let hits = json["results"].as_array().unwrap();
    assert_eq!(hits[0]["id"], "Coffee/Pour over.md");
    for hit in hits {
        assert!(!hit["url"].as_str().unwrap().is_empty());
        assert!(
            hit["url"]
                .as_str()
                .unwrap()
                .starts_with(&server.url("/notes/"))
        );
        assert!(hit["title"].is_string() && hit["text"].is_string());
    }

    let fetched = tool_json(&call(&client, "fetch", json!({"id": "Coffee/Pour over.md"})).await);
    assert_eq!(fetched["id"], "Coffee/Pour over.md");
    assert_eq!(fetched["title"], "Pour over");
    assert!(fetched["text"].as_str().unwrap().starts_with("# Pour over"));
    assert!(!fetched["url"].as_str().unwrap().is_empty());
    assert_eq!(
        fetched["metadata"]["backlinks"],
        json!(["Garden/Tomatoes.md"])
    );

    // Tool failures are results with isError and a message that helps.
    let error = tool_error_text(&call(&client, "fetch", json!({"id": "Nope.md"})).await);
    assert!(error.contains("no note with id `Nope.md`"), "{error}");
    let error = tool_error_text(&call(&client, "fetch", json!({"id": "../../etc/passwd"})).await);
    assert!(error.contains("no note with id"), "{error}");
    let error = tool_error_text(&call(&client, "fetch", json!({"id": "Private/Diary.md"})).await);
    assert!(error.contains("no note with id"), "{error}");
    let error = tool_error_text(&call(&client, "search", json!({"query": 42})).await);
    assert!(error.contains("`query` must be a string"), "{error}");
    let error = tool_error_text(&call(&client, "fetch", json!({})).await);
    assert!(error.contains("`id` is missing"), "{error}");

    // Blank and huge queries.
    assert_eq!(
        tool_json(&call(&client, "search", json!({"query": "  "})).await),
        json!({"results": []})
    );
    let huge = "blight ".repeat(100 * 1024 / 7);
    let result = call(&client, "search", json!({"query": huge})).await;
    assert_eq!(tool_json(&result)["results"][0]["id"], "Garden/Tomatoes.md");
    assert!(
        tool_json(&call(&client, "search", json!({"query": "zebracorn"})).await)["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The server is still fine after all of that.
    let json = tool_json(&call(&client, "search", json!({"query": "blight"})).await);
    assert_eq!(json["results"][0]["id"], "Garden/Tomatoes.md");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn http_routes_health_ready_and_guards() {
    let t = sample_vault();
    let server = t.serve(&[]);
    let ready = server.wait_ready().await;
    assert_eq!(ready["notes"], 2);
    assert_eq!(ready["ready"], true);
    for key in [
        "last_commit",
        "last_event",
        "last_reconcile",
        "pending_changes",
    ] {
        assert!(ready.get(key).is_some(), "readyz lacks {key}: {ready}");
    }
    let http = reqwest::Client::new();
    let health = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    // GET /mcp is a clean 405, never a 500 (ChatGPT probes it).
    let get = http
        .get(server.url("/mcp"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);

    // DNS rebinding: a foreign Host or Origin is refused.
    let evil_host = http
        .get(server.url("/healthz"))
        .header("host", "evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(evil_host.status(), 403);
    let evil_origin = http
        .post(server.url("/mcp"))
        .header("origin", "http://evil.example.com")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(evil_origin.status(), 403);
}

/// Reads SSE events (`event`, `data`) from a streaming response.
struct SseReader {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseReader {
    async fn next_event(&mut self) -> (String, String) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                return (event, data);
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.stream.next())
                .await
                .expect("an SSE event in time")
                .expect("stream open")
                .expect("chunk");
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        }
    }
}

#[tokio::test]
async fn legacy_sse_transport_round_trip() {
    let t = sample_vault();
    let server = t.serve(&[]);
    server.wait_ready().await;
    let http = reqwest::Client::new();
    let response = http
        .get(server.url("/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = SseReader {
        stream: response.bytes_stream().boxed(),
        buffer: String::new(),
    };
    let (kind, endpoint) = events.next_event().await;
    assert_eq!(kind, "endpoint");
    assert!(endpoint.starts_with("/messages?sessionId="), "{endpoint}");
    let post = |body: Value| {
        let http = http.clone();
        let url = server.url(&endpoint);
        async move { http.post(url).json(&body).send().await.unwrap().status() }
    };
    let status = post(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"legacy","version":"1"}}}))
    .await;
    assert_eq!(status, 202);
    let (kind, data) = events.next_event().await;
    assert_eq!(kind, "message");
    let init: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(init["id"], 1);
    assert_eq!(init["result"]["serverInfo"]["name"], "deepvault");
    assert_eq!(
        post(json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await,
        202
    );
    assert_eq!(
        post(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fetch","arguments":{"id":"Garden/Tomatoes.md"}}})).await,
        202
    );
    let (_, data) = events.next_event().await;
    let reply: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(reply["id"], 2);
    assert_eq!(reply["result"]["structuredContent"]["title"], "Tomatoes");

    // Unknown sessions and broken bodies are clean errors.
    let unknown = http
        .post(server.url("/messages?sessionId=nope"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let broken = http
        .post(server.url(&endpoint))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);
}

#[tokio::test]
async fn stdio_transport_serves_the_same_tools() {
    let t = sample_vault();
    let transport = rmcp::transport::TokioChildProcess::new(t.stdio_command()).unwrap();
    let client = ().serve(transport).await.expect("stdio initialize");
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 2);
    // The first search may race the start-up index; wait for the note to appear.
    let mut found = Value::Null;
    let ok = crate::common::wait_until(Duration::from_secs(30), async || {
        let result = call(&client, "search", json!({"query": "tomatoes blight"})).await;
        found = tool_json(&result);
        !found["results"].as_array().unwrap().is_empty()
    })
    .await;
    assert!(ok, "{found}");
    assert_eq!(found["results"][0]["id"], "Garden/Tomatoes.md");
    client.cancel().await.unwrap();
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let t = sample_vault();
    let server = t.serve(&[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(server.wait_ready());
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

#[test]
fn port_in_use_is_a_clear_error() {
    let t = sample_vault();
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = blocker.local_addr().unwrap().to_string();
    let out = t.run(&["serve", t.root().to_str().unwrap(), "--listen", &addr]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the port is in use") && err.contains("--listen"),
        "{err}"
    );
}

/// A second server on the same index (Codex starts one stdio server per session) follows the
/// first one read-only, and takes over keeping the index current when the first one stops.
#[tokio::test]
async fn second_server_follows_then_takes_over() {
    let t = sample_vault();
    let first = t.serve(&[]);
    first.wait_ready().await;

    let transport = rmcp::transport::TokioChildProcess::new(t.stdio_command()).unwrap();
    let follower = ().serve(transport).await.expect("the second server initializes");
    let json = tool_json(&call(&follower, "search", json!({"query": "blight"})).await);
    assert_eq!(json["results"][0]["id"], "Garden/Tomatoes.md");

    // The first server stops; the follower takes over, so a new edit becomes searchable.
    first.kill9();
    t.note(
        "Garden/Peppers.md",
        "# Peppers\nPeppers like heat and a sheltered spot.\n",
    );
    let mut last = Value::Null;
    let found = crate::common::wait_until(Duration::from_secs(30), async || {
        last = tool_json(&call(&follower, "search", json!({"query": "peppers sheltered"})).await);
        last["results"][0]["id"] == "Garden/Peppers.md"
    })
    .await;
    assert!(found, "the follower never picked up the edit: {last}");
    follower.cancel().await.unwrap();
}

/// A follower started while the writer is still building the first index does not answer from
/// the half-built index as if it were the vault (Codex starts a second stdio server at once).
#[tokio::test]
async fn a_follower_waits_for_the_writers_first_index() {
    use deepvault::index::writer::{CommitTrigger, Indexer, IndexerSettings};
    let t = sample_vault();
    // This test process is the writer: it has created the index and not indexed anything yet.
    let vault = deepvault::vault::Vault::open(t.root(), &[]).unwrap();
    let (mut writer, _) = Indexer::open(vault, t.index_dir(), IndexerSettings::default()).unwrap();

    let transport = rmcp::transport::TokioChildProcess::new(t.stdio_command()).unwrap();
    let follower = ().serve(transport).await.expect("the follower initializes");
    // Not an empty list that reads as "nothing matches": the follower says it is indexing.
    let result = call(&follower, "search", json!({"query": "blight"})).await;
    assert_eq!(result.is_error, Some(true), "{result:?}");
    assert!(
        tool_error_text(&result).contains("index"),
        "{}",
        tool_error_text(&result)
    );

    let writer = tokio::task::spawn_blocking(move || {
        writer.reconcile(None).unwrap();
        writer.commit(CommitTrigger::Command).unwrap();
        writer
    })
    .await
    .unwrap();
    // The next search waits for the follower to see the commit, and answers from it.
    let json = tool_json(&call(&follower, "search", json!({"query": "blight"})).await);
    assert_eq!(json["results"][0]["id"], "Garden/Tomatoes.md", "{json}");
    follower.cancel().await.unwrap();
    drop(writer);
}
