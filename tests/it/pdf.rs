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
