//! A secret planted in arbitrary Markdown never leaves: not in the note as read for the index
//! (parse), not in what the index stores or its terms (index document), not in a `search` or
//! `fetch` response (tool response), not in the note page (page).
//!
//! The input picks a secret kind, a place in the text and a separator (space or line break, so
//! that the secret is a whole token wherever it lands: inside a heading, a link, a table, the
//! frontmatter, a code block …); the rest is the Markdown. One index serves every input: the note
//! is written, the index brought up to date and committed, then read back through each channel.
//! An input that already holds the secret's distinctive part (its needle) is skipped, so that
//! every needle found came from the planted secret. Small `snippet_chars` and `max_fetch_bytes`
//! make the cuts (finding 4) land near the secret.
#![no_main]

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use deepvault::config::{Config, Overrides};
use deepvault::index::writer::{CommitTrigger, Indexer, IndexerSettings};
use deepvault::server::http::pages::note_html;
use deepvault::service::citations::Citations;
use deepvault::service::tools::Tools;
use deepvault::vault::Vault;
use deepvault::vault::ingest::{Ingest, Intake};
use libfuzzer_sys::fuzz_target;

const ID: &str = "fuzz/note.md";
/// A word that finds the note when it is indexed.
const CANARY: &str = "zebracanaryword";

/// The distinctive part of every secret: letters only, so it is one token wherever it goes.
const NEEDLE: &str = "qwhvmzkplxtrgbnsdfjyecuaoiqwhvmzkplxtr";

/// Secrets of each default kind, each holding (part of) the needle.
fn secret(kind: u8) -> String {
    let n = NEEDLE;
    match kind % 7 {
        0 => format!("ghp_{}", &n[..36]),
        1 => format!("AKIA{}", n[..16].to_ascii_uppercase()),
        2 => format!("sk-proj-{}", &n[..30]),
        3 => format!("https://hooks.slack.com/services/T0/B0/{}", &n[..24]),
        4 => format!("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.{}", &n[..30]),
        5 => format!("password={}", &n[..30]),
        _ => format!(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA{}\n-----END RSA PRIVATE KEY-----",
            &n[..30]
        ),
    }
}

/// What is looked for in every output: the needle's first 16 letters, ignoring case.
fn leaks(output: &str) -> bool {
    output.to_ascii_lowercase().contains(&NEEDLE[..16])
}

struct Pipeline {
    root: PathBuf,
    indexer: Indexer,
    tools: Tools,
    ingest: Ingest,
    writes: u64,
}

fn pipeline() -> &'static Mutex<Pipeline> {
    static PIPELINE: OnceLock<Mutex<Pipeline>> = OnceLock::new();
    PIPELINE.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("deepvault-fuzz-secrets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("vault");
        let index_dir = base.join("index");
        std::fs::create_dir_all(root.join("fuzz")).unwrap();
        std::fs::create_dir_all(&index_dir).unwrap();
        // Another note links to this one: its backlinks show on the page.
        std::fs::write(root.join("other.md"), "# Other\n\nSee [[note]].\n").unwrap();
        let env = [
            ("DEEPVAULT_INDEX_DIR", index_dir.to_str().unwrap()),
            ("DEEPVAULT_SNIPPET_CHARS", "48"),
            ("DEEPVAULT_MAX_FETCH_BYTES", "200"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config =
            Config::load_with_env(&Overrides::for_vault(root.clone()), &env).expect("config");
        let vault = Vault::open(&root, &[]).expect("vault");
        let ingest = config.ingest().expect("patterns");
        let settings = IndexerSettings::default();
        let (mut indexer, _) = Indexer::open(vault, &index_dir, settings).expect("index");
        indexer.reconcile(None).expect("first index");
        indexer.commit(CommitTrigger::Command).expect("commit");
        let citations = Citations::from_config(&config, "fuzz").expect("citations");
        let tools = Tools::new(&config, indexer.index().clone(), citations).expect("tools");
        Mutex::new(Pipeline { root, indexer, tools, ingest, writes: 0 })
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let kind = data[0];
    let separator = if data[1] & 1 == 0 || kind % 7 == 6 { "\n" } else { " " };
    let markdown = String::from_utf8_lossy(&data[3..]);
    if leaks(&markdown) {
        return;
    }
    let mut at = (usize::from(data[2]) * 7919) % (markdown.len() + 1);
    while !markdown.is_char_boundary(at) {
        at -= 1;
    }
    // A backslash before the separator would escape it (YAML joins `\` + line break).
    let before = &markdown[..at];
    let pad = if before.ends_with('\\') { " " } else { "" };
    let text = format!(
        "{before}{pad}{separator}{}{separator}{}\n\n{CANARY}\n",
        secret(kind),
        &markdown[at..]
    );

    let mut p = pipeline().lock().unwrap_or_else(|e| e.into_inner());

    // Parse: the note as the index reads it.
    if let Intake::Note(note) = p.ingest.read(ID, text.as_bytes()) {
        let read = format!("{note:?}");
        assert!(!leaks(&read), "parse: the secret is in the note as read: {read}");
    }

    // Index document: what is stored, and every indexed term.
    let path = p.root.join(ID);
    std::fs::write(&path, &text).unwrap();
    // A distinct mtime for every write, so that the index never takes the file as unchanged.
    p.writes += 1;
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000 + p.writes);
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
    p.indexer.reconcile(None).expect("index");
    p.indexer.commit(CommitTrigger::Command).expect("commit");
    for stored in p.indexer.index().every_text().expect("read the index") {
        assert!(!leaks(&stored), "index: the secret is stored or indexed: {stored}");
    }

    // Tool responses: searches (the canary, the secret itself, its needle) and fetches.
    for query in [CANARY.to_string(), secret(kind), NEEDLE[..16].to_string()] {
        if let Ok(found) = p.tools.search(&query) {
            let json = serde_json::to_string(&found).unwrap();
            assert!(!leaks(&json), "search {query:?}: {json}");
        }
    }
    let mut anchors = Vec::new();
    if let Ok(fetched) = p.tools.fetch(ID) {
        let json = serde_json::to_string(&fetched).unwrap();
        assert!(!leaks(&json), "fetch: {json}");
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        if let Some(headings) = value["metadata"]["headings"].as_array() {
            anchors.extend(headings.iter().filter_map(|h| h["anchor"].as_str()).map(String::from).take(3));
        }
    }
    for anchor in anchors {
        if let Ok(section) = p.tools.fetch(&format!("{ID}#{anchor}")) {
            let json = serde_json::to_string(&section).unwrap();
            assert!(!leaks(&json), "fetch #{anchor}: {json}");
        }
    }
    if let Ok(other) = p.tools.fetch("other.md") {
        let json = serde_json::to_string(&other).unwrap();
        assert!(!leaks(&json), "fetch of another note: {json}");
    }

    // Pages: the note and the note that links to it, with every page and by citation link.
    for id in [ID, "other.md"] {
        for full in [true, false] {
            if let Ok(Some(html)) = note_html(&p.tools, "fuzz", id, full) {
                assert!(!leaks(&html), "page {id} (full: {full}): {html}");
            }
        }
    }
});
