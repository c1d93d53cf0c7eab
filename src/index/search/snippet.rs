//! Passages: the part of a note that best explains why it matched.
//!
//! Each section is scored by the query terms it holds (IDF-weighted, distinct terms first, a
//! little for repeats, a bonus for terms in its heading). In the best section, the window of
//! about `max_chars` characters that covers the most weight is cut at word boundaries (or
//! character boundaries for scripts without spaces), with `…` where text was cut.

use std::cell::RefCell;

use rustc_hash::FxHashMap;

use crate::index::NoteDoc;
use crate::index::analysis::tokenizer::{VaultTokenizer, for_each_match, is_bigram_script};

/// At most this much plain text is scanned per note (a 10 MB note costs no more than this).
const SCAN_BUDGET_BYTES: usize = 512 * 1024;
/// At most this many matches are kept per section.
const MAX_MATCHES: usize = 512;

thread_local! {
    /// One tokenizer per thread, so its stem cache outlives a single search: stemming every
    /// word of every hit afresh was a third of the search profile.
    static TOKENIZER: RefCell<VaultTokenizer> = RefCell::new(VaultTokenizer::default());
}

/// The chosen passage.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Passage {
    pub(crate) text: String,
    /// Index into the note's sections; `None` when no section matched.
    pub(crate) section: Option<usize>,
    /// Index into the note's blocks: the block with an id that holds most of the passage's
    /// match weight, if any does.
    pub(crate) block: Option<usize>,
}

struct Match {
    start: usize,
    end: usize,
    weight: f32,
}

/// Picks the best passage of `doc` for terms with weights.
pub(crate) fn best_passage(
    doc: &NoteDoc,
    weights: &FxHashMap<String, f32>,
    max_chars: usize,
) -> Passage {
    TOKENIZER.with_borrow_mut(|tokenizer| passage_with(tokenizer, doc, weights, max_chars))
}

fn passage_with(
    tokenizer: &mut VaultTokenizer,
    doc: &NoteDoc,
    weights: &FxHashMap<String, f32>,
    max_chars: usize,
) -> Passage {
    let mut best: Option<(f32, usize, Vec<Match>)> = None;
    let mut budget = SCAN_BUDGET_BYTES;
    if !weights.is_empty() {
        for (index, section) in doc.meta.sections.iter().enumerate() {
            if budget == 0 {
                break;
            }
            let text = doc.section_plain(section);
            let scanned = &text[..floor_char_boundary(text, budget.min(text.len()))];
            budget -= scanned.len();
            let mut matches = Vec::new();
            let mut counts: FxHashMap<&str, u32> = FxHashMap::default();
            let mut score = 0.0;
            for_each_match(
                tokenizer,
                scanned,
                weights.keys().map(String::as_str),
                |token| {
                    if let Some((term, &weight)) = weights.get_key_value(token.text.as_str()) {
                        let count = counts.entry(term.as_str()).or_insert(0);
                        *count += 1;
                        score += match *count {
                            1 => weight,
                            2..=4 => 0.15 * weight,
                            _ => 0.0,
                        };
                        if matches.len() < MAX_MATCHES {
                            matches.push(Match {
                                start: token.offset_from,
                                end: token.offset_to,
                                weight,
                            });
                        }
                    }
                },
            );
            if let Some(heading) = section
                .heading
                .and_then(|h| doc.meta.headings.get(h as usize))
            {
                let terms = weights.keys().map(String::as_str);
                for_each_match(tokenizer, &heading.text, terms, |token| {
                    if let Some(weight) = weights.get(token.text.as_str()) {
                        score += 0.5 * weight;
                    }
                });
            }
            if score > 0.0 && best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                best = Some((score, index, matches));
            }
        }
    }
    match best {
        Some((_, index, matches)) => {
            let section = &doc.meta.sections[index];
            let text = doc.section_plain(section);
            let (passage, span) = window(text, &matches, max_chars);
            Passage {
                text: passage,
                section: Some(index),
                block: block_of(doc, &matches, section.plain_start as usize, span),
            }
        }
        None => {
            let text = doc
                .meta
                .sections
                .iter()
                .map(|s| doc.section_plain(s))
                .find(|t| !t.trim().is_empty())
                .unwrap_or("");
            Passage {
                text: window(text, &[], max_chars).0,
                section: None,
                block: None,
            }
        }
    }
}

/// The passage of a note that semantic search found by one of its chunks: the window of the
/// chunk's text (`range` in the plain text) that holds the most query weight, or its start; its
/// section is the one that window's best match (or the chunk) starts in.
pub(crate) fn chunk_passage(
    doc: &NoteDoc,
    range: std::ops::Range<usize>,
    section: Option<usize>,
    weights: &FxHashMap<String, f32>,
    max_chars: usize,
) -> Passage {
    let start = floor_char_boundary(&doc.plain, range.start.min(doc.plain.len()));
    let end = floor_char_boundary(&doc.plain, range.end.min(doc.plain.len()));
    let text = &doc.plain[start..end.max(start)];
    if text.trim().is_empty() {
        return best_passage(doc, weights, max_chars);
    }
    let scanned = &text[..floor_char_boundary(text, SCAN_BUDGET_BYTES.min(text.len()))];
    let mut matches = Vec::new();
    if !weights.is_empty() {
        TOKENIZER.with_borrow_mut(|tokenizer| {
            for_each_match(
                tokenizer,
                scanned,
                weights.keys().map(String::as_str),
                |token| {
                    if let Some(&weight) = weights.get(token.text.as_str())
                        && matches.len() < MAX_MATCHES
                    {
                        matches.push(Match {
                            start: token.offset_from,
                            end: token.offset_to,
                            weight,
                        });
                    }
                },
            )
        });
    }
    let anchor = matches
        .iter()
        .max_by(|a, b| a.weight.total_cmp(&b.weight).then(b.start.cmp(&a.start)))
        .map(|m| start + m.start);
    let section = match anchor {
        Some(offset) => doc
            .meta
            .sections
            .iter()
            .position(|s| (s.plain_start as usize) <= offset && offset < s.plain_end as usize)
            .or(section),
        None => section,
    };
    let (text, shown) = window(text, &matches, max_chars);
    Passage {
        text,
        section,
        block: block_of(doc, &matches, start, shown),
    }
}

/// The block (by index) whose plain text holds the most weight of the matches inside `span`
/// (offsets in the section's text, which starts at `base` in the note's plain text). A match in
/// nested blocks counts for the innermost.
fn block_of(
    doc: &NoteDoc,
    matches: &[Match],
    base: usize,
    span: std::ops::Range<usize>,
) -> Option<usize> {
    let blocks = &doc.meta.blocks;
    if blocks.is_empty() {
        return None;
    }
    let mut weights = vec![0.0f32; blocks.len()];
    for m in matches
        .iter()
        .filter(|m| m.start >= span.start && m.end <= span.end)
    {
        let at = (base + m.start) as u32;
        let innermost = blocks
            .iter()
            .enumerate()
            .filter(|(_, b)| b.plain_start <= at && at < b.plain_end)
            .min_by_key(|(_, b)| b.plain_end - b.plain_start);
        if let Some((i, _)) = innermost {
            weights[i] += m.weight;
        }
    }
    weights
        .iter()
        .enumerate()
        .filter(|(_, w)| **w > 0.0)
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .map(|(i, _)| i)
}

/// The window of `text` with the most match weight, cut cleanly and whitespace-collapsed, and
/// the byte range of `text` it shows.
fn window(text: &str, matches: &[Match], max_chars: usize) -> (String, std::ops::Range<usize>) {
    let text_chars = text.chars().count();
    if text_chars <= max_chars {
        return (collapse(text), 0..text.len());
    }
    // Candidate windows start a little before each match; keep the one covering most weight
    // (counting each distinct term once via its weight, repeats a little).
    let lead = (max_chars / 8).max(10);
    let mut best_start = 0;
    let mut best_score = -1.0f32;
    for candidate in matches.iter().take(64) {
        let start = back_chars(text, candidate.start, lead);
        let end = forward_chars(text, start, max_chars);
        let mut seen: Vec<f32> = Vec::new();
        let mut score = 0.0;
        for m in matches.iter().filter(|m| m.start >= start && m.end <= end) {
            if seen.iter().any(|w| (*w - m.weight).abs() < f32::EPSILON) {
                score += 0.1 * m.weight;
            } else {
                seen.push(m.weight);
                score += m.weight;
            }
        }
        if score > best_score {
            best_score = score;
            best_start = start;
        }
    }
    let mut start = best_start;
    // Start at a word boundary: move forward past a partial word.
    if start > 0
        && !boundary_before(text, start)
        && let Some(space) = text[start..].find(char::is_whitespace).filter(|&i| i < 40)
    {
        start += space;
    }
    let mut end = forward_chars(text, start, max_chars);
    if end < text.len() && !boundary_before(text, end) {
        // Back off to the last whitespace if it is near; CJK text is cut at the character.
        if let Some(space) = text[start..end].rfind(char::is_whitespace)
            && (end - (start + space)) < 40
        {
            end = start + space;
        }
    }
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.push_str(collapse(&text[start..end]).trim());
    if end < text.len() {
        out.push('…');
    }
    (out, start..end)
}

/// True when a word may start at `index`: after whitespace or punctuation, or in a script
/// without spaces.
fn boundary_before(text: &str, index: usize) -> bool {
    let before = text[..index].chars().next_back();
    let after = text[index..].chars().next();
    match (before, after) {
        (None, _) | (_, None) => true,
        (Some(b), Some(a)) => {
            !b.is_alphanumeric()
                || !a.is_alphanumeric()
                || is_bigram_script(b)
                || is_bigram_script(a)
        }
    }
}

fn back_chars(text: &str, from: usize, count: usize) -> usize {
    text[..from]
        .char_indices()
        .rev()
        .nth(count.saturating_sub(1))
        .map_or(0, |(i, _)| i)
}

fn forward_chars(text: &str, from: usize, count: usize) -> usize {
    text[from..]
        .char_indices()
        .nth(count)
        .map_or(text.len(), |(i, _)| from + i)
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::StoredNote;
    use crate::vault::parse::parse_note;

    fn doc(src: &str) -> NoteDoc {
        let note = parse_note("n.md", src.as_bytes());
        NoteDoc {
            meta: StoredNote {
                id: note.id.clone(),
                title: note.title.clone(),
                headings: note.headings.clone(),
                sections: note.sections.clone(),
                blocks: note.blocks.clone(),
                ..StoredNote::default()
            },
            body: note.body.clone(),
            plain: note.plain.clone(),
        }
    }

    fn weights(terms: &[(&str, f32)]) -> FxHashMap<String, f32> {
        terms.iter().map(|(t, w)| (t.to_string(), *w)).collect()
    }

    #[test]
    fn picks_the_matching_section() {
        let d = doc(
            "# Intro\nnothing here\n\n## Grind\nA medium grind suits pour over.\n\n## Water\nUse soft water.\n",
        );
        let p = best_passage(&d, &weights(&[("grind", 2.0)]), 300);
        assert_eq!(p.section, Some(1));
        assert_eq!(p.text, "A medium grind suits pour over.");
        let p = best_passage(&d, &weights(&[("water", 2.0), ("soft", 1.0)]), 300);
        assert_eq!(p.section, Some(2));
    }

    #[test]
    fn long_sections_are_windowed_at_word_boundaries() {
        let filler = "lorem ipsum dolor sit amet ".repeat(40);
        let src = format!("# T\n{filler} the zebracorn lives here {filler}\n");
        let p = best_passage(&doc(&src), &weights(&[("zebracorn", 5.0)]), 120);
        assert!(p.text.contains("zebracorn"), "{}", p.text);
        assert!(
            p.text.starts_with('…') && p.text.ends_with('…'),
            "{}",
            p.text
        );
        let inner = p.text.trim_matches('…');
        assert!(inner.chars().count() <= 121, "{}", inner.chars().count());
        assert!(inner.starts_with(|c: char| c.is_alphabetic()), "{inner}");
        let words: Vec<&str> = inner.split(' ').collect();
        for w in [words.first().unwrap(), words.last().unwrap()] {
            assert!(
                ["lorem", "ipsum", "dolor", "sit", "amet", "the"].contains(w),
                "cut word {w}"
            );
        }
    }

    #[test]
    fn cjk_is_cut_at_characters() {
        let filler = "这是一段很长的中文文本。".repeat(60);
        let src = format!("# 标题\n{filler}群组协作功能{filler}\n");
        let p = best_passage(&doc(&src), &weights(&[("群组", 3.0)]), 50);
        assert!(p.text.contains("群组"), "{}", p.text);
        assert!(p.text.trim_matches('…').chars().count() <= 51);
    }

    #[test]
    fn a_chunk_passage_stays_in_the_chunk_and_points_at_its_section() {
        let d =
            doc("# Intro\nwater here\n\n## Grind\nA medium grind.\n\n## Water\nUse soft water.\n");
        let water = &d.meta.sections[2];
        let range = water.plain_start as usize..water.plain_end as usize;
        // The best-matching chunk decides, even where another section has the word too.
        let p = chunk_passage(&d, range.clone(), Some(2), &weights(&[("water", 1.0)]), 300);
        assert_eq!((p.text.as_str(), p.section), ("Use soft water.", Some(2)));
        // No query word in it: its start, its section.
        let p = chunk_passage(&d, range, Some(2), &weights(&[("zebra", 1.0)]), 300);
        assert_eq!((p.text.as_str(), p.section), ("Use soft water.", Some(2)));
        // A chunk spanning two sections points at the one holding the match.
        let span = d.meta.sections[1].plain_start as usize..d.meta.sections[2].plain_end as usize;
        let p = chunk_passage(&d, span, Some(1), &weights(&[("soft", 1.0)]), 300);
        assert_eq!(p.section, Some(2));
    }

    #[test]
    fn a_passage_in_a_block_names_the_block() {
        let d = doc(
            "# Notes\nAn intro line.\n\nThe quokka definition lives here. ^def-1\n\n- a list item\n- another wombat item ^item2\n\nPlain platypus words.\n",
        );
        let p = best_passage(&d, &weights(&[("quokka", 2.0)]), 300);
        assert_eq!(p.block.map(|b| d.meta.blocks[b].id.as_str()), Some("def-1"));
        let p = best_passage(&d, &weights(&[("wombat", 2.0)]), 300);
        assert_eq!(p.block.map(|b| d.meta.blocks[b].id.as_str()), Some("item2"));
        let p = best_passage(&d, &weights(&[("platypus", 2.0)]), 300);
        assert_eq!(p.block, None);
        assert!(!p.text.contains("^def-1"), "{}", p.text);
    }

    #[test]
    fn no_match_gives_the_start() {
        let d = doc("first words of the note\n\n## Later\nmore\n");
        let p = best_passage(&d, &weights(&[("absent", 1.0)]), 300);
        assert_eq!(p.section, None);
        assert_eq!(p.text, "first words of the note");
        assert_eq!(best_passage(&doc(""), &weights(&[]), 300).text, "");
    }
}
