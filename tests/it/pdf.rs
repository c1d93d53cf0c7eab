//! Issue 19: PDF extraction in worker processes, run by the real binary (`deepvault
//! __extract-pdf`). What a worker cannot survive (a stack overflow in pdf_oxide, a memory limit,
//! a time limit) costs one skipped file with a reason, and the next file is read.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deepvault::vault::pdf::{
    ExtractorConfig, Limits, PdfError, PdfExtractor, PdfSkip, SkipKind, WORKER_SUBCOMMAND,
};

#[path = "../../src/vault/pdf/testpdf.rs"]
mod testpdf;

/// An extractor whose workers are this build's deepvault, with the defaults changed by
/// `configure`.
fn extractor(configure: impl FnOnce(&mut ExtractorConfig)) -> PdfExtractor {
    let mut config = ExtractorConfig::new(
        PathBuf::from(env!("CARGO_BIN_EXE_deepvault")),
        vec![WORKER_SUBCOMMAND.into()],
        Limits::default(),
    );
    configure(&mut config);
    PdfExtractor::new(config)
}

/// The extractor still reads a good three-page file.
fn assert_reads_a_good_file(extractor: &PdfExtractor) {
    match extractor.extract("good.pdf", &testpdf::multi_page(3)) {
        Ok(doc) => {
            assert_eq!(doc.pages.len(), 3);
            assert!(doc.pages[2].contains(&testpdf::page_marker(3)), "{doc:?}");
        }
        Err(skip) => panic!("a good file after a failure: {skip}"),
    }
}

#[test]
fn a_good_file_and_the_extractors_verdicts_come_back_from_the_worker() {
    let extractor = extractor(|_| {});
    let doc = extractor
        .extract("Papers/Generated.pdf", &testpdf::multi_page(5))
        .unwrap();
    assert_eq!((doc.page_count, doc.pages.len()), (5, 5));
    for k in 1..=5 {
        assert!(doc.pages[k - 1].contains(&testpdf::page_marker(k)));
    }
    assert_eq!(doc.title.as_deref(), Some("A Study of Generated Documents"));
    assert_eq!(doc.author.as_deref(), Some("Ada Lovelace"));
    assert_eq!(doc.created.as_deref(), Some("2024-01-31T23:59:59+01:00"));

    let skip = extractor
        .extract("locked.pdf", &testpdf::encrypted("secret"))
        .unwrap_err();
    assert!(skip.is_encrypted(), "{skip:?}");
    let skip = extractor
        .extract("scan.pdf", &testpdf::no_text(2))
        .unwrap_err();
    assert_eq!(skip, PdfSkip::Rejected(PdfError::NoTextLayer { pages: 2 }));
    assert!(skip.is_no_text_layer());
    let skip = extractor
        .extract("garbage.pdf", &testpdf::garbage())
        .unwrap_err();
    assert_eq!(skip.kind(), SkipKind::Malformed, "{skip:?}");
    let skip = extractor.extract("empty.pdf", b"").unwrap_err();
    assert_eq!(skip.kind(), SkipKind::Malformed, "{skip:?}");
}

#[test]
fn a_real_crash_is_caught_and_the_next_file_is_read() {
    // 100 000 nested arrays in a content stream overflow pdf_oxide's stack: SIGABRT after
    // "has overflowed its stack". No fault is injected. With a process per file, and with a
    // worker serving many files (the crashed one is replaced).
    let nested = testpdf::deep_nesting(100_000);
    for max_uses in [1, 100] {
        let extractor = extractor(|c| c.max_uses = max_uses);
        assert_reads_a_good_file(&extractor);
        let skip = extractor.extract("nested.pdf", &nested).unwrap_err();
        assert_eq!(
            skip,
            PdfSkip::Crashed {
                signal: Some(6),
                code: None,
                detail: "stack overflow".into()
            }
        );
        assert_eq!(
            skip.to_string(),
            "the PDF extractor crashed (signal 6: stack overflow)"
        );
        assert_reads_a_good_file(&extractor);
    }
}

#[test]
fn a_worker_past_its_time_limit_is_killed() {
    // `--test-stall`: the worker reads the file and never answers (see vault::pdf::worker).
    let stalling = extractor(|c| {
        c.args.push("--test-stall".into());
        c.timeout_base = Duration::from_secs(1);
        c.timeout_per_mb = Duration::ZERO;
    });
    let started = Instant::now();
    let skip = stalling
        .extract("slow.pdf", &testpdf::multi_page(3))
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(skip, PdfSkip::Timeout(Duration::from_secs(1)));
    assert_eq!(skip.to_string(), "the PDF extractor took longer than 1s");
    assert!(
        (Duration::from_secs(1)..Duration::from_secs(10)).contains(&took),
        "{took:?}"
    );
    // Both worker slots were given back: two more files time out, not wait forever.
    for _ in 0..2 {
        assert_eq!(
            stalling
                .extract("slow.pdf", b"%PDF-1.5")
                .unwrap_err()
                .kind(),
            SkipKind::Timeout
        );
    }
}

#[test]
fn a_memory_bomb_hits_the_memory_limit_unless_decompression_is_bounded() {
    // 1 GiB of inflated spaces in a ~1 MB file. With pdf_oxide's decompression bound lifted,
    // the worker runs into its memory limit; with the default bound (64 MiB in the worker) the
    // same file is a verdict within the same limit.
    let bomb = testpdf::flate_bomb(1024, false);
    let unbounded = extractor(|c| {
        c.mem_limit_mb = 512;
        c.limits.max_stream_bytes = 4 << 30;
    });
    let skip = unbounded.extract("bomb.pdf", &bomb).unwrap_err();
    assert_eq!(skip, PdfSkip::OutOfMemory { limit_mb: 512 });
    assert_eq!(
        skip.to_string(),
        "the PDF extractor ran out of memory (limit 512 MB)"
    );
    assert_reads_a_good_file(&unbounded);

    let bounded = extractor(|c| c.mem_limit_mb = 512);
    let skip = bounded.extract("bomb.pdf", &bomb).unwrap_err();
    assert!(
        matches!(skip.kind(), SkipKind::NoTextLayer | SkipKind::Malformed),
        "{skip:?}"
    );
}

#[test]
fn a_file_over_max_file_bytes_is_refused_without_a_worker() {
    let extractor = extractor(|c| {
        c.program = PathBuf::from("/nonexistent/deepvault");
        c.limits.max_file_bytes = 100;
    });
    let skip = extractor.extract("big.pdf", &[b' '; 101]).unwrap_err();
    assert_eq!(skip.kind(), SkipKind::TooLarge);
    let skip = extractor.extract("small.pdf", b"%PDF-1.5").unwrap_err();
    assert_eq!(skip.kind(), SkipKind::Unavailable);
    assert!(
        skip.to_string().contains("/nonexistent/deepvault"),
        "{skip}"
    );
}

#[test]
fn parse_threads_share_the_workers() {
    // As the indexer calls it: several threads at once, more than the workers.
    let extractor = Arc::new(extractor(|c| c.max_workers = 2));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let extractor = extractor.clone();
            std::thread::spawn(move || {
                for _ in 0..3 {
                    assert_reads_a_good_file(&extractor);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

/// A vault with notes and PDFs, served for real: `search` finds a page's words and cites the PDF
/// at that page (`/files/…#page=N`, which serves the file), `fetch …#page=N` returns that page,
/// the literature note is a backlink, and the PDFs that cannot be read are counted by reason.
#[tokio::test]
async fn pdfs_are_searched_fetched_and_cited_to_the_page() {
    use serde_json::json;

    use crate::common::{TestVault, call, tool_json};

    let t = TestVault::new();
    t.note(
        "Reading notes.md",
        "# Reading notes\n\nSee ![[Generated.pdf]] and [[Generated.pdf#page=4|page four]].\n",
    )
    .note(
        "plain.txt",
        "# not a heading\nthe txt file's own words: quokka\n",
    )
    .write_bytes("Papers/Generated.pdf", &testpdf::multi_page(5))
    .write_bytes("Papers/locked.pdf", &testpdf::encrypted("secret"))
    .write_bytes("Papers/scan.pdf", &testpdf::no_text(2))
    .write_bytes("Papers/broken.pdf", &testpdf::garbage());
    let out = t.run(&["index", t.root().to_str().unwrap()]);
    let summary = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{summary}");
    assert!(
        summary.contains("indexed 3 documents (1 note, 1 PDF, 1 text file)"),
        "{summary}"
    );
    assert!(summary.contains("extracted 5 PDF pages"), "{summary}");
    for reason in [
        "1 encrypted PDF",
        "1 PDF without a text layer",
        "1 PDF the extractor could not read",
    ] {
        assert!(summary.contains(reason), "{reason}: {summary}");
    }
    assert!(
        summary.contains("no text layer (scanned; OCR is not supported)"),
        "{summary}"
    );

    let server = t.serve(&[]);
    let ready = server.wait_ready().await;
    assert_eq!(ready["documents"]["pdf"], 1, "{ready}");
    assert_eq!(ready["documents"]["text"], 1, "{ready}");
    let client = server.mcp().await;

    let found =
        tool_json(&call(&client, "search", json!({"query": testpdf::page_marker(3)})).await);
    let hit = &found["results"][0];
    assert_eq!(hit["id"], "Papers/Generated.pdf", "{found}");
    assert_eq!(hit["title"], "A Study of Generated Documents", "{found}");
    let url = hit["url"].as_str().unwrap();
    assert!(url.ends_with("/files/Papers/Generated.pdf#page=3"), "{url}");
    let file = reqwest::get(url.split('#').next().unwrap()).await.unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "application/pdf");
    assert_eq!(file.bytes().await.unwrap(), testpdf::multi_page(5));

    let page = tool_json(
        &call(
            &client,
            "fetch",
            json!({"id": "Papers/Generated.pdf#page=3"}),
        )
        .await,
    );
    let text = page["text"].as_str().unwrap();
    assert!(text.starts_with("## Page 3\n"), "{text}");
    assert!(text.contains(&testpdf::page_marker(3)), "{text}");
    assert!(!text.contains(&testpdf::page_marker(4)), "{text}");
    assert!(page["url"].as_str().unwrap().ends_with("#page=3"), "{page}");
    assert_eq!(page["metadata"]["kind"], "pdf");
    assert_eq!(page["metadata"]["document"]["pages"], 5);
    assert_eq!(page["metadata"]["document"]["author"], "Ada Lovelace");
    assert_eq!(page["metadata"]["backlinks"], json!(["Reading notes.md"]));

    let whole = tool_json(&call(&client, "fetch", json!({"id": "Papers/Generated.pdf"})).await);
    let text = whole["text"].as_str().unwrap();
    for k in 1..=5 {
        assert!(text.contains(&format!("## Page {k}\n")), "{text}");
    }
    let txt = tool_json(&call(&client, "fetch", json!({"id": "plain.txt"})).await);
    assert_eq!(txt["metadata"]["kind"], "text");
    assert!(
        txt["text"].as_str().unwrap().starts_with("# not a heading"),
        "{txt}"
    );
    let quokka = tool_json(&call(&client, "search", json!({"query": "quokka"})).await);
    assert_eq!(quokka["results"][0]["id"], "plain.txt", "{quokka}");
    // The text file is served as its page, never as its bytes.
    let raw = reqwest::get(server.url("/files/plain.txt")).await.unwrap();
    assert_eq!(raw.status(), 404);
}

/// A PDF the extractor gave up on (encrypted, no text layer, unreadable) is not handed to it
/// again while its bytes stay the same, even touched; it is still counted with its reason. A
/// changed file is tried again, and a deleted one is forgotten.
#[test]
fn a_pdf_the_extractor_gave_up_on_is_not_tried_again_until_it_changes() {
    use crate::common::TestVault;

    let t = TestVault::new();
    t.write_bytes("Papers/good.pdf", &testpdf::multi_page(2))
        .write_bytes("Papers/locked.pdf", &testpdf::encrypted("secret"))
        .write_bytes("Papers/scan.pdf", &testpdf::no_text(2))
        .write_bytes("Papers/broken.pdf", &testpdf::garbage());
    let index = |expect: &[&str]| {
        let out = t.run(&["index", t.root().to_str().unwrap()]);
        let summary = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{summary}");
        for line in expect {
            assert!(summary.contains(line), "{line}: {summary}");
        }
        summary
    };
    let reasons = [
        "1 encrypted PDF",
        "1 PDF without a text layer",
        "1 PDF the extractor could not read",
    ];
    let first = index(&reasons);
    assert!(!first.contains("not tried again"), "{first}");
    let kept = t.index_dir().join("pdf-skips.json");
    assert!(kept.exists(), "the verdicts are kept beside the index");

    // Unchanged, and touched with the same bytes: the same reasons, without the extractor.
    index(&[&reasons[..], &["(3 of these PDFs are unchanged since the extractor gave up on them: not tried again)"]].concat());
    let file = std::fs::File::options()
        .write(true)
        .open(t.path("Papers/scan.pdf"))
        .unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(file);
    index(&["(3 of these PDFs are unchanged"]);

    // A repaired file is read again; a deleted one is forgotten.
    t.write_bytes("Papers/broken.pdf", &testpdf::multi_page(3));
    std::fs::remove_file(t.path("Papers/locked.pdf")).unwrap();
    let last = index(&[
        "1 new",
        "skipped 1: 1 PDF without a text layer",
        "(1 of these PDFs are unchanged",
    ]);
    assert!(!last.contains("encrypted"), "{last}");
    let kept = std::fs::read_to_string(&kept).unwrap();
    assert!(kept.contains("Papers/scan.pdf"), "{kept}");
    assert!(
        !kept.contains("locked.pdf") && !kept.contains("broken.pdf"),
        "{kept}"
    );
}
