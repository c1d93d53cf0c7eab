//! Citations that open: every hit's `url` answers with its note, URL templates render hostile
//! names correctly, signed links open one note and nothing else, and hostile HTML is harmless.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{TestVault, call, tool_json};

fn example_vault() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus.example")
        .to_str()
        .unwrap()
        .to_string()
}

/// The ids, urls and titles `search` returns.
fn hits(result: &Value) -> Vec<(String, String, String)> {
    result["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["id"].as_str().unwrap().to_string(),
                h["url"].as_str().unwrap().to_string(),
                h["title"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn html_escape(text: &str) -> String {
    deepvault::server::http::html::escape(text)
}

#[tokio::test]
async fn every_citation_url_opens_its_note() {
    let t = TestVault::new();
    let server = crate::common::Server::start(t.command(&[
        "serve",
        &example_vault(),
        "--listen",
        "127.0.0.1:0",
    ]));
    server.wait_ready().await;
    let client = server.mcp().await;
    let http = reqwest::Client::new();
    let mut checked = 0;
    for query in [
        "coffee",
        "garden tomato",
        "kyoto",
        "release checklist",
        "铁观音",
        "brewlog deploy",
    ] {
        let result = tool_json(&call(&client, "search", json!({ "query": query })).await);
        for (id, url, title) in hits(&result) {
            assert!(url.starts_with(&server.url("/notes/")), "{url}");
            let page = http
                .get(url.split('#').next().unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(page.status(), 200, "{url}");
            let body = page.text().await.unwrap();
            assert!(
                body.contains(&html_escape(&title)),
                "{id}: title {title:?} not on the page"
            );
            // The anchor in the url exists on the page.
            if let Some(anchor) = url.split_once('#').map(|(_, a)| a) {
                let anchor = percent_encoding::percent_decode_str(anchor).decode_utf8_lossy();
                assert!(
                    body.contains(&format!("id=\"{anchor}\"")),
                    "{url}: no heading with id {anchor}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "checked {checked} urls");

    // The page of a note: properties, callouts, wikilinks to other pages, backlinks.
    let page = http
        .get(server.url("/notes/Garden/Tomato%20blight.md"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("class=\"properties\""), "properties table");
    assert!(
        page.contains("class=\"callout callout-warning\""),
        "callout styled"
    );
    assert!(
        page.contains("href=\"/notes/Garden/Compost.md"),
        "wikilink to a page"
    );
    assert!(page.contains("Backlinks"), "backlinks list");
    // The search page shows what `search` returns.
    let home = http
        .get(server.url("/?q=tomato+blight"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Tomato blight") && home.contains("Garden/Tomato blight.md"));
    assert!(
        home.contains("&quot;results&quot;"),
        "the raw tool JSON is shown"
    );
    // Unknown paths are a 404 page; ids never reach the file system.
    for path in [
        "/notes/nope.md",
        "/notes/..%2F..%2Fetc%2Fpasswd",
        "/notes/%2Fetc%2Fpasswd",
        "/notes/Archive/Coffee%20log%202024.md",
        "/notes/Journal/2026-03-14.md",
    ] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body = response.text().await.unwrap();
        assert!(body.contains("No such note"), "{path}");
        assert!(!body.contains("root:"), "{path}");
    }
    // Secrets are redacted on pages too.
    let deploy = http
        .get(server.url("/notes/Projects/brewlog/Deploy%20setup.md"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !deploy.contains("AKIAIOSFODNN7EXAMPLE"),
        "the AWS example key leaked"
    );
    assert!(deploy.contains("[REDACTED aws-access-key]"));
}

/// Template placeholders for every preset, with tldr's hostile file names.
#[tokio::test]
async fn url_template_presets_with_hostile_names() {
    let t = TestVault::new();
    // Pages named like tldr's, whose names are operators: each is an id, a title and a URL.
    for (name, summary) in [
        (
            "[[",
            "Check file types and compare values inside a conditional",
        ),
        ("c++", "Compile C++ source files with the GNU compiler"),
        ("%", "Bring a background job back to the foreground"),
    ] {
        t.note(
            &format!("pages/{name}.md"),
            &format!("# {name}\n\n> {summary}.\n\n- Run it:\n\n`{name} {{{{argument}}}}`\n"),
        );
    }
    // The default template: each page opens.
    let server = t.serve(&[]);
    server.wait_ready().await;
    let client = server.mcp().await;
    let http = reqwest::Client::new();
    for (query, id) in [
        ("[[", "pages/[[.md"),
        ("c++", "pages/c++.md"),
        ("%", "pages/%.md"),
    ] {
        let result = tool_json(&call(&client, "search", json!({ "query": query })).await);
        let (hit_id, url, title) = hits(&result).into_iter().next().expect("a hit");
        assert_eq!(hit_id, id);
        let page = http
            .get(url.split('#').next().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{url}");
        assert!(page.text().await.unwrap().contains(&html_escape(&title)));
    }
    drop(client);
    drop(server);

    // The other presets render exactly.
    let root = t.root().to_str().unwrap().to_string();
    let vault_name = t.root().file_name().unwrap().to_str().unwrap().to_string();
    let presets = [
        (
            "obsidian://open?vault={vault}&file={path_encoded}",
            [
                format!("obsidian://open?vault={vault_name}&file=pages%2F%5B%5B.md"),
                format!("obsidian://open?vault={vault_name}&file=pages%2Fc%2B%2B.md"),
                format!("obsidian://open?vault={vault_name}&file=pages%2F%25.md"),
            ],
        ),
        (
            "https://notes.example.com/{slug}{#anchor}",
            [
                "https://notes.example.com/pages/%5B%5B".to_string(),
                "https://notes.example.com/pages/c++".to_string(),
                "https://notes.example.com/pages/-percent".to_string(),
            ],
        ),
        (
            "https://github.com/me/notes/blob/main/{path}#L{line}",
            [
                "https://github.com/me/notes/blob/main/pages/%5B%5B.md#L".to_string(),
                "https://github.com/me/notes/blob/main/pages/c++.md#L".to_string(),
                "https://github.com/me/notes/blob/main/pages/%25.md#L".to_string(),
            ],
        ),
    ];
    for (template, expected) in presets {
        for ((query, _), want) in [("[[", ()), ("c++", ()), ("%", ())]
            .into_iter()
            .zip(expected)
        {
            let out = t.run(&[
                "search",
                query,
                "--vault",
                &root,
                "--json",
                "--url-template",
                template,
            ]);
            let result: Value = serde_json::from_slice(&out.stdout).unwrap();
            let url = result["results"][0]["url"].as_str().unwrap().to_string();
            assert!(
                url.starts_with(&want),
                "{template} for {query}: {url} does not start with {want}"
            );
        }
    }
}

/// With `pages = "signed"`, a citation link opens its one note and nothing else.
#[tokio::test]
async fn signed_links_open_one_note_only() {
    let t = TestVault::new();
    t.note("a.md", "# Alpha\nalpha links to [[b]]\n")
        .note("b.md", "# Bravo\nbravo text, see [[a]]\n")
        .note("deepvault.toml", "pages = \"signed\"\n");
    let server = t.serve(&[]);
    server.wait_ready().await;
    let client = server.mcp().await;
    let result = tool_json(&call(&client, "search", json!({ "query": "alpha" })).await);
    let (_, url, _) = hits(&result).into_iter().next().unwrap();
    assert!(url.contains("/notes/a.md?sig="), "{url}");
    let http = reqwest::Client::new();
    let signed = http
        .get(url.split('#').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    let page = signed.text().await.unwrap();
    assert!(page.contains("Alpha"));
    assert!(
        !page.contains("href=\"/notes/"),
        "no links to other notes: {page}"
    );
    assert!(!page.contains("Backlinks"), "no listing of other notes");
    assert!(!page.contains("href=\"/\""), "no link to the search page");
    // Without the signature, with another note's signature, or for the search page: 401.
    let sig = url.split("sig=").nth(1).unwrap().split('#').next().unwrap();
    for path in [
        "/notes/a.md".to_string(),
        format!("/notes/b.md?sig={sig}"),
        "/?q=bravo".to_string(),
        format!("/notes/a.md?sig={sig}x"),
    ] {
        let response = http.get(server.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
        let body = response.text().await.unwrap();
        assert!(!body.contains("bravo text"), "{path}");
    }
    // The same link still works after a restart (the secret persists).
    drop(client);
    server.terminate();
    let server = t.serve(&[]);
    server.wait_ready().await;
    let again = http
        .get(format!("{}/notes/a.md?sig={sig}", server.url("")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
}

/// A hostile note renders harmlessly.
#[tokio::test]
async fn hostile_note_renders_harmlessly() {
    let t = TestVault::new();
    t.note(
        "evil.md",
        "# Evil\n<script>alert('x')</script>\n\n<img src=x onerror=\"alert(1)\">\n\n[click me](javascript:alert(2))\n\n<a href=\"JaVaScRiPt:alert(3)\">y</a>\n\n<svg onload=alert(4)></svg>\n\n<iframe src=\"//evil.example\"></iframe>\n\n<div style=\"background:url(javascript:alert(5))\">z</div>\n",
    );
    let server = t.serve(&[]);
    server.wait_ready().await;
    let page = reqwest::get(server.url("/notes/evil.md"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lower = page.to_lowercase();
    for bad in [
        "<script",
        "onerror",
        "onload",
        "javascript:",
        "<iframe",
        "alert(",
    ] {
        // The page's own <style> is the only non-content markup; content has none of these.
        assert!(!lower.contains(bad), "{bad} survived: {page}");
    }
    assert!(page.contains("Evil"));
}
