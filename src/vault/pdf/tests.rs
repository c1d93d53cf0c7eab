//! In-process extraction on PDFs the tests write (`testpdf`), the worker's reply decoding and the
//! reasons users read. The worker processes themselves are tested in `tests/it/pdf.rs`.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use super::testpdf as t;
use super::worker::classify_death;
use super::*;

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// `needle` occurs in `hay` as a contiguous run of words.
fn contains_run(hay: &str, needle: &str) -> bool {
    let (hay, needle) = (words(hay), words(needle));
    hay.windows(needle.len()).any(|w| w == needle.as_slice())
}

#[test]
fn a_multi_page_file_gives_each_page_its_own_text_and_the_metadata() {
    let doc = extract_pdf(&t::multi_page(5), &Limits::default()).unwrap();
    assert_eq!((doc.page_count, doc.pages.len()), (5, 5));
    for k in 1..=5 {
        let page = &doc.pages[k - 1];
        assert!(page.contains(&t::page_marker(k)), "page {k}: {page}");
        assert!(
            page.contains(&format!("Chapter {k}: Observations")),
            "{page}"
        );
        assert!(
            !page.contains(&t::page_marker(k % 5 + 1)),
            "page {k}: {page}"
        );
    }
    assert_eq!(doc.title.as_deref(), Some("A Study of Generated Documents"));
    assert_eq!(doc.title_source, Some(TitleSource::Metadata));
    assert_eq!(doc.author.as_deref(), Some("Ada Lovelace"));
    assert_eq!(doc.producer.as_deref(), Some("deepvault test generator"));
    assert_eq!(doc.created.as_deref(), Some("2024-01-31T23:59:59+01:00"));
    assert_eq!(doc.modified.as_deref(), Some("2024-02-01T12:00:00Z"));
    assert_eq!(doc.pdf_version, "1.5");
    assert_eq!(doc.size_bytes, t::multi_page(5).len() as u64);
    assert!(doc.page_errors.is_empty() && !doc.truncated && !doc.was_encrypted);
}

#[test]
fn the_title_falls_back_to_the_first_heading_then_to_the_file_name() {
    let info = t::Info {
        title: Some("Microsoft Word - draft3.docx"),
        ..t::DEFAULT_INFO
    };
    let pages = vec![t::PageSpec::text(&[
        t::Line(72.0, 720.0, 18.0, "Observations on Lichens"),
        t::Line(72.0, 690.0, 11.0, "Body text."),
    ])];
    let doc = extract_pdf(&t::save(t::build_doc(pages, &info)), &Limits::default()).unwrap();
    assert_eq!(
        doc.meta_title.as_deref(),
        Some("Microsoft Word - draft3.docx")
    );
    assert_eq!(doc.title.as_deref(), Some("Observations on Lichens"));
    assert_eq!(doc.title_source, Some(TitleSource::Heading));
    assert_eq!(doc.title_or("Papers/x.pdf"), "Observations on Lichens");

    let pages = vec![t::PageSpec::text(&[t::Line(72.0, 720.0, 11.0, "42")])];
    let info = t::Info {
        title: None,
        ..t::DEFAULT_INFO
    };
    let doc = extract_pdf(&t::save(t::build_doc(pages, &info)), &Limits::default()).unwrap();
    assert_eq!((doc.title.as_deref(), doc.title_source), (None, None));
    assert_eq!(doc.title_or("Papers/scan 7.pdf"), "scan 7");
}

#[test]
fn max_pages_and_max_total_chars_truncate() {
    let limits = Limits {
        max_pages: 2,
        ..Limits::default()
    };
    let doc = extract_pdf(&t::multi_page(5), &limits).unwrap();
    assert_eq!(
        (doc.page_count, doc.pages.len(), doc.truncated),
        (5, 2, true)
    );
    let limits = Limits {
        max_total_chars: 1,
        ..Limits::default()
    };
    let doc = extract_pdf(&t::multi_page(5), &limits).unwrap();
    assert_eq!((doc.pages.len(), doc.truncated), (1, true));
    assert!(doc.pages[0].contains(&t::page_marker(1)));
}

#[test]
fn a_rotated_page_reads_its_lines_in_order() {
    for (name, bytes) in [
        ("/Rotate 90", t::rotated()),
        ("rotated text matrix", t::rotated_text_matrix()),
    ] {
        let doc = extract_pdf(&bytes, &Limits::default()).unwrap();
        let page = &doc.pages[0];
        let positions: Vec<usize> = t::ROTATED_LINES
            .iter()
            .map(|line| {
                page.find(line)
                    .unwrap_or_else(|| panic!("{name}: {line:?} not in {page:?}"))
            })
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "{name}: lines out of order: {page:?}"
        );
    }
}

#[test]
fn a_two_column_page_reads_column_by_column_in_either_drawing_order() {
    // Drawn column by column (what LaTeX does), and row by row (stream order is not reading
    // order: pdf_oxide orders by layout).
    for interleaved in [false, true] {
        let doc = extract_pdf(&t::two_column(interleaved), &Limits::default()).unwrap();
        let page = &doc.pages[0];
        assert!(contains_run(page, &t::LEFT_COLUMN.join(" ")), "{page:?}");
        assert!(contains_run(page, &t::RIGHT_COLUMN.join(" ")), "{page:?}");
        assert_eq!(doc.title.as_deref(), Some("A Study of Generated Documents"));
    }
}

#[test]
fn pages_without_text_are_reported_as_no_text_layer() {
    let result = extract_pdf(&t::no_text(3), &Limits::default());
    assert_eq!(result, Err(PdfError::NoTextLayer { pages: 3 }));
    let skip = PdfSkip::from(result.unwrap_err());
    assert!(skip.is_no_text_layer() && !skip.is_encrypted());
    assert_eq!(
        skip.to_string(),
        "no text layer (scanned; OCR is not supported)"
    );
}

#[test]
fn a_page_with_no_text_among_pages_with_text_is_an_empty_page() {
    let mut pages: Vec<t::PageSpec> = (1..=2)
        .map(|k| {
            let body = format!("Text of {}", t::page_marker(k));
            t::PageSpec::text(&[t::Line(72.0, 700.0, 12.0, &body)])
        })
        .collect();
    pages.insert(
        1,
        t::PageSpec {
            content: b"0 0 1 rg 10 10 100 100 re f".to_vec(),
            extra: lopdf::Dictionary::new(),
            compress: false,
        },
    );
    let doc = extract_pdf(
        &t::save(t::build_doc(pages, &t::DEFAULT_INFO)),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(doc.pages.len(), 3);
    assert!(doc.pages[0].contains(&t::page_marker(1)));
    assert_eq!(doc.pages[1], "");
    assert!(doc.pages[2].contains(&t::page_marker(2)));
    assert!(doc.page_errors.is_empty());
}

#[test]
fn an_encrypted_file_needs_its_password_unless_the_password_is_empty() {
    let result = extract_pdf(&t::encrypted("secret"), &Limits::default());
    assert_eq!(result, Err(PdfError::Encrypted));
    let skip = PdfSkip::from(result.unwrap_err());
    assert!(skip.is_encrypted() && !skip.is_no_text_layer());
    assert_eq!(skip.to_string(), "encrypted (a password is needed)");

    // An empty user password: viewers open it without asking, and so do we.
    let doc = extract_pdf(&t::encrypted(""), &Limits::default()).unwrap();
    assert!(doc.was_encrypted);
    assert!(doc.pages[1].contains(&t::page_marker(2)), "{:?}", doc.pages);
    assert_eq!(doc.author.as_deref(), Some("Ada Lovelace")); // metadata decrypted too
}

#[test]
fn truncated_garbage_and_empty_files() {
    // Cut inside the body (no xref, no trailer): pdf_oxide rebuilds the xref by scanning; the
    // pages before the cut are read, the lost one is a page error.
    let doc = extract_pdf(&t::truncated(0.6), &Limits::default()).unwrap();
    assert!(doc.pages[0].contains(&t::page_marker(1)), "{:?}", doc.pages);
    assert!(!doc.page_errors.is_empty());
    // Cut inside the trailer: every page is read.
    let doc = extract_pdf(&t::truncated(0.95), &Limits::default()).unwrap();
    assert_eq!(doc.pages.len(), 5);
    assert!(doc.pages[4].contains(&t::page_marker(5)));

    for (name, bytes) in [("garbage", t::garbage()), ("empty", Vec::new())] {
        let error = match extract_pdf(&bytes, &Limits::default()) {
            Err(error @ PdfError::Malformed(_)) => error,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(PdfSkip::from(error.clone()).kind(), SkipKind::Malformed);
        assert!(error.to_string().starts_with("malformed: "), "{error}");
    }
}

#[test]
fn a_file_over_max_file_bytes_is_not_parsed() {
    let bytes = t::multi_page(1);
    let limits = Limits {
        max_file_bytes: 100,
        ..Limits::default()
    };
    let result = extract_pdf(&bytes, &limits);
    assert_eq!(
        result,
        Err(PdfError::TooLarge {
            bytes: bytes.len() as u64,
            limit: 100
        })
    );
}

#[test]
fn a_flate_bomb_is_refused_not_inflated() {
    // 300 MiB of inflated content in a ~300 KB file: above pdf_oxide's 256 MiB default bound,
    // so the page's stream is refused and the file has no text (in the worker the bound is
    // 64 MiB: tests/it/pdf.rs checks it fits a small memory limit).
    for ops in [false, true] {
        let bytes = t::flate_bomb(300, ops);
        assert!(bytes.len() < 2 << 20, "{}", bytes.len());
        let result = extract_pdf(&bytes, &Limits::default());
        assert!(
            matches!(
                result,
                Err(PdfError::NoTextLayer { .. } | PdfError::Malformed(_))
            ),
            "{result:?}"
        );
    }
}

#[test]
fn a_cyclic_page_tree_ends() {
    let doc = extract_pdf(&t::cyclic_page_tree(), &Limits::default()).unwrap();
    assert!(doc.pages[0].contains("cycle"), "{:?}", doc.pages);
}

#[test]
fn ligatures_nuls_and_blank_runs_are_tidied() {
    assert_eq!(
        tidy_page("\u{FB01}rst \u{FB00}ect\u{0}  \n\n\n\nnext  \n"),
        "first ffect\n\nnext"
    );
}

#[test]
fn replies_round_trip_and_inconsistent_ones_are_refused() {
    let doc = extract_pdf(&t::multi_page(2), &Limits::default()).unwrap();
    let line = worker::encode_reply(&Ok(doc.clone()));
    assert!(!line.contains('\n'));
    assert_eq!(worker::decode_reply(&line), Ok(doc.clone()));
    let line = worker::encode_reply(&Err(PdfError::Encrypted));
    assert_eq!(
        worker::decode_reply(&line),
        Err(PdfSkip::Rejected(PdfError::Encrypted))
    );

    let mut bad = doc.clone();
    bad.page_count = 1; // two pages of text for one page
    let result = worker::decode_reply(&worker::encode_reply(&Ok(bad)));
    assert_eq!(result.unwrap_err().kind(), SkipKind::Crashed);
    let mut bad = doc;
    bad.page_errors.push(PageError {
        page: 9,
        reason: "x".into(),
    });
    let result = worker::decode_reply(&worker::encode_reply(&Ok(bad)));
    assert_eq!(result.unwrap_err().kind(), SkipKind::Crashed);
    let result = worker::decode_reply("thread 'main' panicked");
    let skip = result.unwrap_err();
    assert_eq!(skip.kind(), SkipKind::Crashed);
    assert!(
        skip.to_string()
            .starts_with("the PDF extractor failed: unreadable reply"),
        "{skip}"
    );
}

#[test]
fn a_dead_worker_is_classified_by_its_stderr_and_status() {
    let abort = Some(ExitStatus::from_raw(6)); // killed by SIGABRT
    let overflow =
        "\nthread 'main' has overflowed its stack\nfatal runtime error: stack overflow\n";
    let skip = classify_death(abort, overflow, 512);
    assert_eq!(
        skip.to_string(),
        "the PDF extractor crashed (signal 6: stack overflow)"
    );
    assert_eq!(skip.kind(), SkipKind::Crashed);
    let skip = classify_death(abort, "memory allocation of 1073741824 bytes failed\n", 512);
    assert_eq!(skip, PdfSkip::OutOfMemory { limit_mb: 512 });
    assert_eq!(
        skip.to_string(),
        "the PDF extractor ran out of memory (limit 512 MB)"
    );
    let skip = classify_death(Some(ExitStatus::from_raw(9)), "", 512);
    assert_eq!(skip.to_string(), "the PDF extractor crashed (signal 9)");
    let skip = classify_death(Some(ExitStatus::from_raw(3 << 8)), "", 512);
    assert_eq!(
        skip.to_string(),
        "the PDF extractor exited unexpectedly (code 3)"
    );
    assert_eq!(
        PdfSkip::Timeout(Duration::from_secs(60)).to_string(),
        "the PDF extractor took longer than 60s"
    );
}

#[test]
fn the_time_limit_grows_with_the_file() {
    let config = ExtractorConfig::new("deepvault".into(), Vec::new(), Limits::default());
    assert_eq!(config.timeout_for(0), Duration::from_secs(20));
    assert_eq!(config.timeout_for(1), Duration::from_secs(26));
    assert_eq!(config.timeout_for(10 << 20), Duration::from_secs(80));
    assert_eq!(config.timeout_for(u64::MAX), Duration::from_secs(600));
}
