//! The query parser and the analyzer on arbitrary strings: no panic, bounded work, and every
//! token a real slice of its input.
#![no_main]

use deepvault::index::search::query::parse_query;
use deepvault::index::analysis::tokenizer::analyze;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parsed = parse_query(text, 4096);
    assert!(parsed.text.chars().count() <= 4096 + parsed.text.matches(' ').count());
    for part in [&parsed.text].into_iter().chain(&parsed.phrases).chain(&parsed.excluded) {
        let mut last = 0;
        for token in analyze(part) {
            assert!(token.offsets.start < token.offsets.end && token.offsets.end <= part.len());
            assert!(part.is_char_boundary(token.offsets.start) && part.is_char_boundary(token.offsets.end));
            assert!(token.position >= last);
            last = token.position;
            assert!(!token.term.is_empty() && token.term.len() <= 4 * 64);
        }
    }
});
