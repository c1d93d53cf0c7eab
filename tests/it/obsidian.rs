//! The vault as Obsidian shows it, through MCP and the pages: comments hidden, embeds inlined,
//! block references fetchable and citable, canvases and Excalidraw drawings as documents, inline
//! fields and `key:value` filters; private and excluded notes never inlined anywhere.

use serde_json::{Value, json};

use crate::common::{TestVault, call, tool_error_text, tool_json};

fn obsidian_vault() -> TestVault {
    let t = TestVault::new();
    t.note(
        "Ideas/Definition.md",
        "# The idea\nSome context first.\n\nA zebracorn is a striped unicorn that grazes on moonlight. ^883251\n\n## History\nFirst seen in 1893.\n",
    )
    .note(
        "Essay.md",
        "# Essay\nThe essay quotes its definition:\n\n![[Definition#^883251]]\n\nAnd the history: ![[Definition#History]]\n\nNever the diary: ![[Diary]] nor the plan: ![[Plan]].\n\n%% remember the quagga draft %%\n",
    )
    .note(
        "Diary.md",
        "---\ndeepvault: private\n---\nThe diary speaks of okapi secrets.\n",
    )
    .note("Secret/Plan.md", "The plan mentions narwhal logistics.\n")
    .note(
        "Tasks.md",
        "---\nstatus: done\n---\n# Tasks\nowner:: Ada Lovelace\nShip the capybara report.\n",
    )
    .note(
        "Draft.md",
        "---\nstatus: draft\n---\n# Draft\nstart:: [[Tasks]]\nAnother capybara report.\n",
    )
    .note(
        "Boards/Roadmap.canvas",
        r##"{"nodes":[
            {"id":"g","type":"group","x":0,"y":0,"width":800,"height":600,"label":"Next quarter"},
            {"id":"t","type":"text","x":20,"y":20,"width":300,"height":100,"text":"Launch the axolotl tracker."},
            {"id":"f","type":"file","x":400,"y":20,"width":300,"height":100,"file":"Tasks.md"}
        ],"edges":[{"id":"e","fromNode":"t","toNode":"f","label":"depends on"}]}"##,
    )
    .note("Boards/Broken.canvas", "{\"nodes\": [ {\"id\": ")
    .note(
        "Sketch.excalidraw.md",
        "---\nexcalidraw-plugin: parsed\n---\n# Excalidraw Data\n## Text Elements\nPangolin enclosure ^a1b2\n\n%%\n## Drawing\n```compressed-json\nN4KAkARALgngDgUwgLgAQQQDwMYEMA2AlgCYBOuA7gEwAx\n```\n%%\n",
    )
    .note("deepvault.toml", "exclude = [\"Secret/**\"]\n");
    t
}

fn ids(result: &Value) -> Vec<String> {
    result["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// `fetch` inlines an embedded block and section as quotes naming their source; a private or
/// excluded note stays an unresolved embed, in `fetch` and on the page.
#[tokio::test]
async fn fetch_and_the_page_show_the_inlined_embed() {
    let t = obsidian_vault();
    let server = t.serve(&[]);
    server.wait_ready().await;
    let client = server.mcp().await;
    let essay = tool_json(&call(&client, "fetch", json!({"id": "Essay.md"})).await);
    let text = essay["text"].as_str().unwrap();
    assert!(
        text.contains(
            "> Embedded from `Ideas/Definition.md#^883251`:\n>\n> A zebracorn is a striped unicorn that grazes on moonlight. ^883251\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("> Embedded from `Ideas/Definition.md#history`:"),
        "{text}"
    );
    assert!(text.contains("> First seen in 1893."), "{text}");
    assert!(
        text.contains("Never the diary: ![[Diary]] nor the plan: ![[Plan]]."),
        "{text}"
    );
    for secret in ["okapi", "narwhal", "quagga"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let links = essay["metadata"]["links"].as_array().unwrap();
    let diary = links.iter().find(|l| l["target"] == "Diary").unwrap();
    assert_eq!(diary["kind"], "embed");
    assert_eq!(diary["id"], Value::Null);
    // What an embed shows is not indexed under the note that embeds it, as in Obsidian's search.
    let result = tool_json(&call(&client, "search", json!({"query": "zebracorn"})).await);
    assert_eq!(ids(&result), vec!["Ideas/Definition.md"], "{result}");

    let page = reqwest::get(essay["url"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("A zebracorn is a striped unicorn"), "{page}");
    assert!(
        page.contains("href=\"/notes/Ideas/Definition.md#^883251\""),
        "{page}"
    );
    for secret in ["okapi", "narwhal", "quagga"] {
        assert!(!page.contains(secret), "{secret} leaked on the page");
    }
    client.cancel().await.unwrap();
}

/// Words that live only in a `%%comment%%` find nothing, and appear in no fetched text;
/// `keep_comments = true` keeps them.
#[tokio::test]
async fn a_comments_words_find_nothing() {
    let t = obsidian_vault();
    let server = t.serve(&[]);
    server.wait_ready().await;
    let client = server.mcp().await;
    let result = tool_json(&call(&client, "search", json!({"query": "quagga"})).await);
    assert_eq!(ids(&result), Vec::<String>::new(), "{result}");
    client.cancel().await.unwrap();
    drop(server);

    // With `keep_comments`, the index is read again and the words are found; switching it back
    // reads the notes again and they are gone.
    let kept = TestVault::new();
    kept.note("n.md", "visible %% remember the quagga draft %%\n");
    let vault = kept.root().to_str().unwrap();
    for (keep, expected) in [("true", vec!["n.md"]), ("false", vec![])] {
        let out = kept
            .command(&["search", "quagga", "--json", "--vault", vault])
            .env("DEEPVAULT_KEEP_COMMENTS", keep)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let result: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(ids(&result), expected, "keep_comments = {keep}: {result}");
    }
}

/// `fetch Note.md#^id` returns the block; a hit whose passage lies in it cites it, and the page
/// at that url carries the anchor.
#[tokio::test]
async fn a_block_id_is_fetchable_and_citable() {
    let t = obsidian_vault();
    let server = t.serve(&[]);
    server.wait_ready().await;
    let client = server.mcp().await;
    let block = tool_json(
        &call(
            &client,
            "fetch",
            json!({"id": "Ideas/Definition.md#^883251"}),
        )
        .await,
    );
    assert_eq!(
        block["text"],
        "A zebracorn is a striped unicorn that grazes on moonlight. ^883251\n"
    );
    assert_eq!(block["metadata"]["section"]["anchor"], "^883251");
    assert_eq!(block["metadata"]["section"]["heading"], "The idea");
    assert_eq!(block["metadata"]["section"]["line"], 4);
    assert!(
        block["url"]
            .as_str()
            .unwrap()
            .ends_with("/notes/Ideas/Definition.md#^883251"),
        "{block}"
    );
    let error =
        tool_error_text(&call(&client, "fetch", json!({"id": "Ideas/Definition.md#^nope"})).await);
    assert!(error.contains("Ideas/Definition.md#^883251"), "{error}");

    let result = tool_json(
        &call(
            &client,
            "search",
            json!({"query": "striped unicorn moonlight"}),
        )
        .await,
    );
    let hit = &result["results"][0];
    assert_eq!(hit["id"], "Ideas/Definition.md", "{result}");
    let url = hit["url"].as_str().unwrap();
    assert!(url.ends_with("#^883251"), "{url}");
    assert!(!hit["text"].as_str().unwrap().contains("^883251"), "{hit}");
    let page = reqwest::get(url).await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"^883251\""), "{page}");
    assert!(
        !page.contains("moonlight. ^883251"),
        "the marker is hidden: {page}"
    );
    client.cancel().await.unwrap();
}

/// A canvas is a document: its text is searchable, `fetch` renders it as Markdown, its page
/// opens, and the note it shows lists it among its backlinks. A malformed canvas is one skipped
/// file.
#[tokio::test]
async fn canvas_text_is_searchable_and_its_page_opens() {
    let t = obsidian_vault();
    let server = t.serve(&[]);
    server.wait_ready().await;
    let client = server.mcp().await;
    let result = tool_json(&call(&client, "search", json!({"query": "axolotl tracker"})).await);
    assert_eq!(ids(&result)[0], "Boards/Roadmap.canvas", "{result}");
    let url = result["results"][0]["url"].as_str().unwrap().to_string();
    assert_eq!(result["results"][0]["title"], "Roadmap");

    let canvas = tool_json(&call(&client, "fetch", json!({"id": "Boards/Roadmap.canvas"})).await);
    assert_eq!(canvas["metadata"]["kind"], "canvas");
    assert_eq!(
        canvas["text"],
        "## Next quarter\n\nLaunch the axolotl tracker.\n\n[[Tasks.md]]\n\n## Connections\n\n- depends on (Launch the axolotl tracker. → Tasks.md)\n"
    );
    let tasks = tool_json(&call(&client, "fetch", json!({"id": "Tasks.md"})).await);
    let backlinks = tasks["metadata"]["backlinks"].as_array().unwrap();
    assert!(
        backlinks.contains(&json!("Boards/Roadmap.canvas")),
        "{backlinks:?}"
    );

    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(page.contains("Launch the axolotl tracker."), "{page}");
    assert!(
        page.contains("<h2 id=\"next-quarter\">Next quarter</h2>"),
        "{page}"
    );
    assert!(page.contains("href=\"/notes/Tasks.md\""), "{page}");

    let error =
        tool_error_text(&call(&client, "fetch", json!({"id": "Boards/Broken.canvas"})).await);
    assert!(error.contains("no note with id"), "{error}");
    let status: Value = reqwest::get(server.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["skipped"], 2, "{status}");
    assert!(
        server.log().contains("Boards/Broken.canvas"),
        "the bad canvas is logged by path: {}",
        server.log()
    );
    client.cancel().await.unwrap();
}

/// An Excalidraw drawing's text is searchable; its drawing data is never indexed or shown.
#[tokio::test]
async fn excalidraw_text_without_the_drawing() {
    let t = obsidian_vault();
    let server = t.serve(&[]);
    server.wait_ready().await;
    let client = server.mcp().await;
    let result = tool_json(&call(&client, "search", json!({"query": "pangolin enclosure"})).await);
    assert_eq!(ids(&result), vec!["Sketch.excalidraw.md"], "{result}");
    let blob = "N4KAkARALgngDgUwgLgAQQQDwMYEMA2AlgCYBOuA7gEwAx";
    let result = tool_json(&call(&client, "search", json!({ "query": blob })).await);
    assert_eq!(ids(&result), Vec::<String>::new(), "{result}");
    let sketch = tool_json(&call(&client, "fetch", json!({"id": "Sketch.excalidraw.md"})).await);
    assert_eq!(sketch["metadata"]["kind"], "excalidraw");
    assert_eq!(
        sketch["text"],
        "## Text Elements\nPangolin enclosure ^a1b2\n\n"
    );
    client.cancel().await.unwrap();
}

/// Inline fields are in `metadata.fields`; `key:value` filters on them and on frontmatter.
#[tokio::test]
async fn inline_fields_and_property_filters() {
    let t = obsidian_vault();
    let server = t.serve(&[]);
    server.wait_ready().await;
    let client = server.mcp().await;
    let tasks = tool_json(&call(&client, "fetch", json!({"id": "Tasks.md"})).await);
    assert_eq!(
        tasks["metadata"]["fields"],
        json!({"owner": "Ada Lovelace"})
    );
    let search = async |query: &str| {
        ids(&tool_json(
            &call(&client, "search", json!({ "query": query })).await,
        ))
    };
    assert_eq!(search("capybara status:done").await, vec!["Tasks.md"]);
    assert_eq!(search("capybara -status:done").await, vec!["Draft.md"]);
    assert_eq!(search("owner:\"Ada\"").await, vec!["Tasks.md"]);
    assert_eq!(search("start:tasks").await, vec!["Draft.md"]);
    client.cancel().await.unwrap();
}
