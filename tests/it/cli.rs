//! The command line on real vaults: `index`, `search`, `fetch`, config and error messages.

use serde_json::Value;

use crate::common::{TestVault, result_ids};

fn example_vault() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus.example")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The README's tour works on `corpus.example`: index, search, fetch, exclusions.
#[test]
fn example_vault_index_search_fetch() {
    let t = TestVault::new();
    let vault = example_vault();
    let vault = vault.to_str().unwrap();
    let out = t.run(&["index", vault]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = stderr(&out);
    assert!(
        summary.contains("indexed 34 documents (31 notes, 1 drawing, 1 canvas, 1 PDF)"),
        "{summary}"
    );
    assert!(summary.contains("skipped 2: 2 private"), "{summary}");
    assert!(
        summary.contains("MB/s") || summary.contains("KB/s"),
        "{summary}"
    );

    let search = |query: &str| -> Value {
        let out = t.run(&["search", query, "--vault", vault, "--json", "--no-update"]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let result = search("pour over ratio");
    assert_eq!(result_ids(&result)[0], "Coffee/Pour over ratio.md");
    for hit in result["results"].as_array().unwrap() {
        let keys: Vec<&str> = hit
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(keys, vec!["id", "title", "url", "text"]);
        // A PDF is cited as the file at its page, a note as its page.
        let own = if hit["id"].as_str().unwrap().ends_with(".pdf") {
            "http://127.0.0.1:8765/files/"
        } else {
            "http://127.0.0.1:8765/notes/"
        };
        assert!(hit["url"].as_str().unwrap().starts_with(own), "{hit}");
    }
    assert_eq!(
        result_ids(&search("AeroPress"))[0],
        "Coffee/Inverted brewing.md"
    );
    assert_eq!(
        result_ids(&search("铁观音 盖碗"))[0],
        "Travel/Taipei/猫空喝茶.md"
    );
    assert_eq!(
        result_ids(&search("kyoto temples"))[0],
        "Travel/Kyoto 2025/Kyoto temples.md"
    );

    // Canary words live only in notes that must stay out of the index: whatever a search for
    // them returns (typo tolerance may find similar words), it is never those notes or words.
    for (canary, excluded) in [
        ("Skerton", "Archive/Coffee log 2024.md"),
        ("Moccamaster", "Archive/Coffee log 2024.md"),
        ("\"Pink Fir Apple\"", "Archive/Garden plan 2023.md"),
        (
            "Toddy",
            "drafts/Why I stopped buying cold brew concentrate.md",
        ),
        ("snorkel", ".trash/Old packing list.md"),
        ("dermatologist", "Journal/2026-03-14.md"),
        ("cetirizine", "Journal/Health log.md"),
    ] {
        let result = search(canary);
        let word = canary.trim_matches('"').to_lowercase();
        for hit in result["results"].as_array().unwrap() {
            assert_ne!(hit["id"], excluded, "{canary} found its excluded note");
            assert!(
                !hit["text"].as_str().unwrap().to_lowercase().contains(&word),
                "{canary}: {hit}"
            );
        }
    }

    let out = t.run(&[
        "fetch",
        "Garden/Tomato blight.md",
        "--vault",
        vault,
        "--json",
        "--no-update",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(keys, vec!["id", "title", "text", "url", "metadata"]);
    assert_eq!(doc["title"], "Tomato blight");
    assert!(
        !doc["text"].as_str().unwrap().starts_with("---"),
        "frontmatter is not text"
    );
    let meta = &doc["metadata"];
    for key in [
        "path",
        "tags",
        "aliases",
        "frontmatter",
        "headings",
        "links",
        "backlinks",
        "modified",
        "size",
    ] {
        assert!(meta.get(key).is_some(), "metadata.{key} missing: {meta}");
    }
    let backlinks: Vec<&str> = meta["backlinks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(backlinks.contains(&"Garden/Compost.md"), "{backlinks:?}");
    let compost = meta["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["target"] == "Compost")
        .expect("link to Compost");
    assert_eq!(compost["id"], "Garden/Compost.md");

    // A section by heading.
    let out = t.run(&[
        "fetch",
        "Garden/Compost.md#What stays out",
        "--vault",
        vault,
        "--json",
        "--no-update",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let section: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        section["text"]
            .as_str()
            .unwrap()
            .starts_with("## What stays out")
    );
    assert!(
        section["url"]
            .as_str()
            .unwrap()
            .ends_with("#what-stays-out")
    );

    // The vault as Obsidian shows it: a canvas and an Excalidraw drawing are searchable, a
    // comment's words are not, and an embedded block is inlined where it is embedded.
    assert_eq!(
        result_ids(&search("Melodrip"))[0],
        "Coffee/Brewing board.canvas"
    );
    assert_eq!(
        result_ids(&search("chaff collector"))[0],
        "Coffee/Roaster sketch.excalidraw.md"
    );
    for (comment, note) in [
        ("Kinu", "Coffee/Water chemistry.md"),
        ("gauge", "Coffee/Espresso dialing in.md"),
    ] {
        for hit in search(comment)["results"].as_array().unwrap() {
            assert_ne!(hit["id"], note, "{comment} found its comment");
            let text = hit["text"].as_str().unwrap().to_lowercase();
            assert!(!text.contains(&comment.to_lowercase()), "{comment}: {hit}");
        }
    }
    let fetch = |id: &str| -> Value {
        let out = t.run(&["fetch", id, "--vault", vault, "--json", "--no-update"]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let espresso = fetch("Coffee/Espresso dialing in.md");
    let text = espresso["text"].as_str().unwrap();
    assert!(
        text.contains("> Embedded from `Coffee/Water chemistry.md#^hardness`:"),
        "{text}"
    );
    assert!(!text.contains("gauge reads"), "{text}");
    let block = fetch("Coffee/Water chemistry.md#^hardness");
    assert!(
        block["text"]
            .as_str()
            .unwrap()
            .starts_with("Hardness is the dissolved calcium"),
        "{block}"
    );
}

/// Unknown ids, including path tricks, are clear errors and never read files.
#[test]
fn unknown_ids_are_errors() {
    let t = TestVault::new();
    t.note("a.md", "# A\ntext\n");
    let root = t.root().to_str().unwrap().to_string();
    for id in [
        "../etc/passwd",
        "/etc/passwd",
        "a.md/../../x",
        "%2e%2e/a.md",
        "nope.md",
    ] {
        let out = t.run(&["fetch", id, "--vault", &root, "--json"]);
        assert!(!out.status.success(), "{id} should fail");
        let err = stderr(&out);
        assert!(err.contains("no note with id"), "{id}: {err}");
        // With --json the error is JSON on stdout too, and nothing else is.
        let error: Value = serde_json::from_slice(&out.stdout).expect("a JSON error on stdout");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("no note with id"), "{id}: {error}");
    }
    let out = t.run(&["fetch", "sub/a.md", "--vault", &root]);
    assert!(
        stderr(&out).contains("did you mean `a.md`"),
        "{}",
        stderr(&out)
    );
}

/// Every kind of hostile input real vaults contain is indexed, and one bad file stops nothing.
#[test]
fn hostile_inputs_are_indexed() {
    let t = TestVault::new();
    t.write_bytes(
        "bom.md",
        b"\xEF\xBB\xBF# Bom title\nbyteorder marker text\n",
    )
    .write_bytes(
        "crlf.md",
        b"---\r\ntitle: Crlf\r\n---\r\ncarriage returns here\r\n",
    )
    .note("empty.md", "")
    .write_bytes("latin1.md", b"# Latin\nna\xEFve caf\xE9 lossyword\n")
    .note("[[.md", "bracket page\n")
    .note("c++.md", "a language page\n")
    .note("%.md", "percent page\n")
    .note("emoji 🎉 party.md", "celebration words\n")
    .note("中文/笔记.md", "# 中文笔记\n全文检索的测试\n")
    .note("rtl.md", "مرحبا بالعالم\n");
    let big = "bigword filler text for size. ".repeat(360_000);
    t.note("big.md", &big);
    let root = t.root().to_str().unwrap().to_string();
    let out = t.run(&["index", &root]);
    let summary = stderr(&out);
    assert!(out.status.success(), "{summary}");
    assert!(
        summary.contains("indexed 11 documents (11 notes)"),
        "{summary}"
    );
    assert!(
        summary.contains("1 notes indexed with warnings"),
        "{summary}"
    );
    assert!(
        summary.contains("invalid UTF-8"),
        "the log names the problem: {summary}"
    );

    let find = |q: &str| result_ids(&t.search_json(q));
    assert_eq!(find("byteorder"), vec!["bom.md"]);
    assert_eq!(find("carriage"), vec!["crlf.md"]);
    assert_eq!(find("lossyword"), vec!["latin1.md"]);
    assert_eq!(find("[["), vec!["[[.md"]);
    assert_eq!(find("c++")[0], "c++.md");
    assert_eq!(find("%"), vec!["%.md"]);
    assert_eq!(find("celebration"), vec!["emoji 🎉 party.md"]);
    assert_eq!(find("检索"), vec!["中文/笔记.md"]);
    assert_eq!(find("بالعالم"), vec!["rtl.md"]);
    assert_eq!(find("bigword"), vec!["big.md"]);
    let urls = t.search_json("[[");
    assert!(
        urls["results"][0]["url"]
            .as_str()
            .unwrap()
            .ends_with("/notes/%5B%5B.md")
    );
}

/// A second run reads nothing unchanged; edits, touches and deletions are picked up.
#[test]
fn incremental_index() {
    let t = TestVault::new();
    t.note("a.md", "alpha words\n")
        .note("b.md", "beta words\n")
        .note("c.md", "gamma\n");
    let root = t.root().to_str().unwrap().to_string();
    let first = stderr(&t.run(&["index", &root]));
    assert!(
        first.contains("3 new, 0 changed, 0 touched, 0 removed, 0 unchanged"),
        "{first}"
    );
    let second = stderr(&t.run(&["index", &root]));
    assert!(
        second.contains("0 new, 0 changed, 0 touched, 0 removed, 3 unchanged"),
        "{second}"
    );
    assert!(second.contains("read 0 B"), "{second}");

    t.note("a.md", "alpha rewritten with delta\n");
    // Same bytes, new mtime: not re-parsed.
    let b = std::fs::read(t.path("b.md")).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    let file = std::fs::File::options()
        .write(true)
        .open(t.path("b.md"))
        .unwrap();
    file.set_modified(later).unwrap();
    drop(file);
    assert_eq!(std::fs::read(t.path("b.md")).unwrap(), b);
    std::fs::remove_file(t.path("c.md")).unwrap();
    t.note("d.md", "new note\n");
    let third = stderr(&t.run(&["index", &root]));
    assert!(
        third.contains("1 new, 1 changed, 1 touched, 1 removed, 0 unchanged"),
        "{third}"
    );
    assert_eq!(result_ids(&t.search_json("delta")), vec!["a.md"]);
    assert!(result_ids(&t.search_json("gamma")).is_empty());
    assert_eq!(result_ids(&t.search_json("beta")), vec!["b.md"]);
}

/// Bad input on the command line gets a message that names the thing and suggests a fix.
#[test]
fn clear_errors() {
    let t = TestVault::new();
    let missing = t.root().join("missing");
    let out = t.run(&["index", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));

    t.note("file.md", "x");
    let out = t.run(&["index", t.path("file.md").to_str().unwrap()]);
    assert!(
        stderr(&out).contains("is a file, not a folder"),
        "{}",
        stderr(&out)
    );

    t.note("deepvault.toml", "max_result = 3\n");
    let out = t.run(&["index", t.root().to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("unknown key `max_result`") && err.contains("deepvault.toml"),
        "{err}"
    );
    std::fs::remove_file(t.path("deepvault.toml")).unwrap();

    let out = t.run(&[
        "search",
        "x",
        "--vault",
        t.root().to_str().unwrap(),
        "--url-template",
        "{nope}",
    ]);
    assert!(
        stderr(&out).contains("unknown placeholder `{nope}`"),
        "{}",
        stderr(&out)
    );
}

/// A query never produces a syntax error.
#[test]
fn queries_never_fail() {
    let t = TestVault::new();
    t.note("a.md", "# Title\nsome text (with parens) and \"quotes\"\n");
    for query in [
        "\"",
        "(((",
        "title:",
        "tag:",
        "-",
        "a AND OR NOT",
        "[[",
        "*?~^",
        "\"unclosed",
        "path:/../..",
        "😀",
    ] {
        let result = t.search_json(query);
        assert!(result["results"].is_array(), "{query}: {result}");
    }
    assert_eq!(result_ids(&t.search_json("   ")), Vec::<String>::new());
}

/// An index of another schema version is rebuilt, with a log line that says why.
#[test]
fn schema_mismatch_rebuilds() {
    let t = TestVault::new();
    t.note("a.md", "alpha\n");
    let root = t.root().to_str().unwrap().to_string();
    assert!(t.run(&["index", &root]).status.success());
    let meta = t.index_dir().join("tantivy/meta.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    let current = format!(
        "\\\"schema\\\":{}",
        deepvault::index::schema::SCHEMA_VERSION
    );
    let bumped = text.replace(&current, "\\\"schema\\\":999");
    assert_ne!(text, bumped, "payload carries the schema version: {text}");
    std::fs::write(&meta, bumped).unwrap();
    let out = t.run(&["index", &root]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("rebuilding the index") && err.contains("schema version 999"),
        "{err}"
    );
    assert!(err.contains("1 new"), "{err}");

    // Garbage instead of an index: rebuilt too.
    std::fs::write(&meta, "{not json").unwrap();
    let out = t.run(&["index", &root]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("rebuilding the index"),
        "{}",
        stderr(&out)
    );
    assert_eq!(result_ids(&t.search_json("alpha")), vec!["a.md"]);
}

/// Near-identical copies (the same page for several versions) do not crowd the results: the
/// best-ranked copy stands for them.
#[test]
fn near_duplicates_are_collapsed() {
    let t = TestVault::new();
    let body = "# Get-Widget\n\nGets widgets from the widget store.\n\n".to_string()
        + &"## Parameters\n\n-Name filters widgets by name, and -Color by their colour.\n\n"
            .repeat(12);
    for version in ["v2016", "v2019", "v2022", "v2025"] {
        t.note(
            &format!("{version}/Get-Widget.md"),
            &format!("---\nonline version: https://example.com/{version}\n---\n{body}"),
        );
    }
    t.note(
        "v2025/Set-Widget.md",
        &format!(
            "# Set-Widget\n\nChanges widgets in the store.\n\n{}",
            "-Name names the widget. ".repeat(30)
        ),
    );
    let ids = result_ids(&t.search_json("widget name"));
    let copies = ids
        .iter()
        .filter(|id| id.ends_with("Get-Widget.md"))
        .count();
    assert_eq!(copies, 1, "{ids:?}");
    assert!(ids.contains(&"v2025/Set-Widget.md".to_string()), "{ids:?}");
    // A query that names a version finds that copy.
    assert_eq!(
        result_ids(&t.search_json("widget v2019"))[0],
        "v2019/Get-Widget.md"
    );
    // And collapsing can be turned off.
    let out = t
        .command(&[
            "search",
            "widget name",
            "--vault",
            t.root().to_str().unwrap(),
            "--json",
            "--no-update",
        ])
        .env("DEEPVAULT_RANKING", r#"{"duplicate_bits": -1}"#)
        .output()
        .unwrap();
    let all = result_ids(&serde_json::from_slice(&out.stdout).unwrap());
    assert_eq!(
        all.iter()
            .filter(|id| id.ends_with("Get-Widget.md"))
            .count(),
        4,
        "{all:?}"
    );
}

/// British and American spellings, `TNF-α` and `TNF-alpha`, `APIs` and `API` find each other,
/// in both directions.
#[test]
fn spelling_variants_meet() {
    let t = TestVault::new();
    t.note("uk.md", "The tumour shrank in the randomised trial.\n")
        .note("greek.md", "Serum TNF-α rose after the infusion.\n")
        .note("plural.md", "Our public APIs changed.\n")
        .note("other.md", "Nothing to see here.\n");
    for (query, id) in [
        ("tumor randomized", "uk.md"),
        ("tumour randomised", "uk.md"),
        ("TNF alpha", "greek.md"),
        ("TNFα", "greek.md"),
        ("public API", "plural.md"),
    ] {
        assert_eq!(result_ids(&t.search_json(query)), vec![id], "{query}");
    }
}
