//! The PDF extractor wrapper on arbitrary bytes: the in-process extraction (bounded: 64 pages,
//! 1 MiB of text; `fuzz/run.sh` bounds decompression to 16 MiB through pdf_oxide's environment
//! variable, as the worker does with 64 MiB), the metadata heuristics on the same bytes as text,
//! and the parent's decoding of a worker reply.
//! Nothing may panic, and what comes back must be consistent: pages within the page count,
//! page errors on existing pages, dates in RFC 3339 form, a reply that decodes to what was
//! encoded.
//!
//! The extraction runs on a thread with a 1 GiB stack. pdf_oxide recurses once per nesting
//! level of arrays and dictionaries, so 100 000 nested `[` overflow a main thread's 8 MiB (an
//! abort that the product's worker process contains and reports as "crashed (signal 6: stack
//! overflow)"; tests/it/pdf.rs proves it). With `-max_len=262144` an input nests at most
//! 262 144 levels, which a 1 GiB stack holds even with the sanitizer's larger frames, so a
//! stack overflow here is the known weakness only if it needed more than that: a finding.
#![no_main]

use deepvault::vault::pdf::fuzzing::{
    clean_title, decode_reply, decode_text_string, encode_reply, heading_like_line,
    is_meaningful_title, pdf_date_to_rfc3339, tidy_page,
};
use deepvault::vault::pdf::{Limits, PdfDocument, extract_pdf};
use libfuzzer_sys::fuzz_target;

const STACK_BYTES: usize = 1 << 30;

fuzz_target!(|data: &[u8]| {
    heuristics(data);
    let limits = Limits {
        max_pages: 64,
        max_total_chars: 1 << 20,
        ..Limits::default()
    };
    let result = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, || extract_pdf(data, &limits))
            .expect("a thread for the extraction")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    if let Ok(doc) = &result {
        check_document(doc, &limits, data.len());
    }
    // What the worker would send for this file decodes to the same result.
    let line = encode_reply(&result);
    assert!(!line.contains('\n'), "a reply is one line");
    match (decode_reply(&line), &result) {
        (Ok(decoded), Ok(doc)) => assert_eq!(&decoded, doc),
        (Err(skip), Err(error)) => assert_eq!(skip.to_string(), error.to_string()),
        (decoded, _) => panic!("{result:?} came back as {decoded:?}"),
    }
});

fn check_document(doc: &PdfDocument, limits: &Limits, len: usize) {
    assert_eq!(doc.size_bytes, len as u64);
    assert!(doc.pages.len() <= doc.page_count && doc.pages.len() <= limits.max_pages);
    assert!(doc.truncated || doc.pages.len() == doc.page_count);
    for error in &doc.page_errors {
        assert!((1..=doc.pages.len()).contains(&error.page), "{error:?}");
        assert!(doc.pages[error.page - 1].is_empty());
    }
    assert!(
        doc.pages
            .iter()
            .any(|page| page.chars().any(char::is_alphanumeric))
    );
    for page in &doc.pages {
        assert_eq!(&tidy_page(page), page, "pages are tidied");
    }
    if let Some(title) = &doc.title {
        assert!(!title.is_empty() && title.trim() == title, "{title:?}");
    }
    for date in [&doc.created, &doc.modified].into_iter().flatten() {
        assert_rfc3339(date);
    }
}

/// The heuristics on the input read as text: no panics, and their promises kept.
fn heuristics(data: &[u8]) {
    let _ = decode_text_string(data);
    let text = String::from_utf8_lossy(data);
    if let Some(date) = pdf_date_to_rfc3339(&text) {
        assert_rfc3339(&date);
    }
    let cleaned = clean_title(&text);
    assert_eq!(clean_title(&cleaned), cleaned);
    let _ = is_meaningful_title(&text);
    if let Some(line) = heading_like_line(&text) {
        assert!((3..=150).contains(&line.chars().count()), "{line:?}");
        assert_eq!(clean_title(&line), line);
    }
    let tidy = tidy_page(&text);
    assert_eq!(tidy_page(&tidy), tidy, "tidying twice changes nothing");
    let _ = decode_reply(&text);
}

/// `YYYY-MM-DDTHH:MM:SS` then `Z` or `±HH:MM`.
fn assert_rfc3339(date: &str) {
    let b = date.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let zone = &date[19.min(date.len())..];
    let zone_ok = zone == "Z"
        || (zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && zone.as_bytes()[3] == b':'
            && zone[1..3]
                .bytes()
                .chain(zone[4..6].bytes())
                .all(|c| c.is_ascii_digit()));
    assert!(shape && zone_ok, "not RFC 3339: {date:?}");
}
