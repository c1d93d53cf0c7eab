//! Heading-aware chunks of a note's plain text, each small enough for the model's window.
//!
//! The note's sections (from the parser: one per heading, plus the text before the first) are
//! cut into pieces: paragraphs (the plain text's lines), then sentences for a paragraph over
//! the budget, then token windows for a sentence over it. Pieces are packed greedily into chunks
//! of at most the budget, breaking at the strongest boundary that leaves the chunk reasonably
//! full: a heading is worth a quarter-full chunk, a paragraph or sentence end a half-full one.
//! Small sections share a chunk; a long section's consecutive chunks overlap by up to an eighth
//! of the budget (at most 48 tokens) of whole sentences, never across a heading.
//!
//! Each chunk is embedded as `title › heading path` on one line, then its text, so a short
//! section still says what it is about. Its byte range in the plain text and the section it
//! starts in are kept: a vector hit's passage and citation anchor come from them. Tokens are
//! counted with the model's own tokenizer (one pass over the text, then counts per byte range).
//!
//! Bump [`CHUNKER_VERSION`] whenever the chunks of some note change: stored vectors carry it and
//! are rebuilt when it differs.

use std::ops::Range;

use crate::vault::note::{Heading, Section};

/// Stamped on the stored vectors; see the module documentation.
pub(crate) const CHUNKER_VERSION: u32 = 1;

/// At most this much of a note's plain text is chunked (the rest is still found lexically).
pub(crate) const MAX_NOTE_BYTES: usize = 256 * 1024;
/// At most this many chunks per note.
pub(crate) const MAX_CHUNKS: usize = 128;
/// The title and heading path take at most this many bytes of a chunk's input.
const MAX_CONTEXT_BYTES: usize = 200;

/// One chunk of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Byte range in the note's plain text.
    pub(crate) range: Range<usize>,
    /// The section the chunk starts in (index into the note's sections), if any.
    pub(crate) section: Option<usize>,
    /// What the model reads: the context line, then the text.
    pub(crate) input: String,
}

/// What the chunker needs from the model: its budget and its tokenizer.
pub(crate) trait TokenCounter {
    /// Room for text in one input, in tokens.
    fn budget(&self) -> usize;
    /// Byte offsets where each token of `text` starts.
    fn token_starts(&self, text: &str) -> Vec<usize>;
    /// Tokens in `text`.
    fn count(&self, text: &str) -> usize;
}

/// The strength of the boundary before a piece; a higher one is a better place to cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Break {
    Token = 0,
    Sentence = 1,
    Paragraph = 2,
    Heading = 3,
}

#[derive(Clone, Debug)]
struct Piece {
    range: Range<usize>,
    boundary: Break,
    section: usize,
    tokens: usize,
}

/// Token start offsets of a text, for counting tokens in byte ranges.
struct TokenIndex {
    starts: Vec<usize>,
}

impl TokenIndex {
    fn count(&self, range: &Range<usize>) -> usize {
        self.starts.partition_point(|&s| s < range.end)
            - self.starts.partition_point(|&s| s < range.start)
    }

    fn starts_in(&self, range: &Range<usize>) -> &[usize] {
        let a = self.starts.partition_point(|&s| s < range.start);
        let b = self.starts.partition_point(|&s| s < range.end);
        &self.starts[a..b]
    }
}

/// The chunks of a note.
pub(crate) fn chunk_note(
    title: &str,
    headings: &[Heading],
    sections: &[Section],
    plain: &str,
    counter: &dyn TokenCounter,
) -> Vec<Chunk> {
    let text = &plain[..floor_char_boundary(plain, MAX_NOTE_BYTES)];
    // Each section's context line and the budget left beside it.
    let contexts: Vec<String> = sections
        .iter()
        .map(|s| context_line(title, headings, s.heading.map(|h| h as usize)))
        .collect();
    let budgets: Vec<usize> = contexts
        .iter()
        .map(|c| {
            let full = counter.budget();
            full.saturating_sub(counter.count(c) + 1)
                .max(full / 2)
                .max(1)
        })
        .collect();
    let index = TokenIndex {
        starts: counter.token_starts(text),
    };
    let pieces = segment(text, sections, &index, &budgets);
    if pieces.is_empty() {
        // No text: the title (and headings) alone still say what the note is about.
        let context = context_line(title, headings, None);
        let mut all = context.clone();
        for heading in headings.iter().take(16) {
            if heading.text != title {
                all.push('\n');
                all.push_str(&heading.text);
            }
        }
        return if context.trim().is_empty() {
            Vec::new()
        } else {
            vec![Chunk {
                range: 0..0,
                section: None,
                input: all,
            }]
        };
    }
    let overlap = |max: usize| (max / 8).min(48);
    pack(text, &pieces, &budgets, overlap)
        .into_iter()
        .take(MAX_CHUNKS)
        .map(|(range, section)| Chunk {
            input: format!("{}\n{}", contexts[section], &text[range.clone()]),
            section: Some(section),
            range,
        })
        .collect()
}

/// `title › parent heading › heading` for a section, without repeating the title, at most
/// [`MAX_CONTEXT_BYTES`].
fn context_line(title: &str, headings: &[Heading], heading: Option<usize>) -> String {
    let mut path: Vec<&str> = Vec::new();
    if let Some(mut at) = heading.filter(|&h| h < headings.len()) {
        let mut level = headings[at].level + 1;
        loop {
            if headings[at].level < level {
                path.push(&headings[at].text);
                level = headings[at].level;
            }
            if at == 0 || level <= 1 {
                break;
            }
            at -= 1;
        }
        path.reverse();
    }
    let mut line = title.trim().to_string();
    for part in path {
        let part = part.trim();
        if part.is_empty() || part.eq_ignore_ascii_case(title.trim()) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(" › ");
        }
        line.push_str(part);
    }
    let end = floor_char_boundary(&line, MAX_CONTEXT_BYTES);
    line.truncate(end);
    line
}

fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    let mut at = at;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Byte offsets (in `s`) where sentences start: after `.`, `!` or `?` (and closing quotes or
/// brackets) followed by a space and something other than a lowercase letter, and after CJK
/// full stops.
fn sentence_starts(s: &str) -> Vec<usize> {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        if matches!(c, '。' | '！' | '？') {
            let mut j = i + 1;
            while j < chars.len() && chars[j].1.is_whitespace() {
                j += 1;
            }
            if j < chars.len() {
                out.push(chars[j].0);
            }
            i = j.max(i + 1);
            continue;
        }
        if matches!(c, '.' | '!' | '?') {
            let mut j = i + 1;
            while j < chars.len() && matches!(chars[j].1, '"' | '\'' | ')' | ']' | '”' | '’') {
                j += 1;
            }
            let spaces = j;
            while j < chars.len() && chars[j].1.is_whitespace() {
                j += 1;
            }
            if j > spaces && j < chars.len() && !chars[j].1.is_lowercase() {
                out.push(chars[j].0);
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out.dedup();
    out
}

/// Cuts each section's text into pieces of at most its budget, labelled with the boundary
/// before them.
fn segment(text: &str, sections: &[Section], index: &TokenIndex, budgets: &[usize]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for (section, s) in sections.iter().enumerate() {
        let start = (s.plain_start as usize).min(text.len());
        let end = (s.plain_end as usize).min(text.len());
        if start >= end || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            continue;
        }
        if text[start..end].trim().is_empty() {
            continue;
        }
        let max = budgets[section];
        let mut boundary = Break::Heading;
        let mut at = start;
        // The text between the previous piece and this section (its heading) falls inside a
        // chunk that spans both: its tokens count towards this section's first piece.
        let gap = pieces
            .last()
            .map_or(start, |p: &Piece| p.range.end.min(start))..start;
        let first_piece = pieces.len();
        for line in text[start..end].split_inclusive('\n') {
            let range = at..at + line.len();
            at += line.len();
            if line.trim().is_empty() {
                // A blank line joins the piece before it (or is dropped at a section's start).
                if let Some(last) = pieces
                    .last_mut()
                    .filter(|p: &&mut Piece| p.section == section)
                {
                    last.range.end = range.end;
                }
                continue;
            }
            split_over_budget(text, range, boundary, section, max, index, &mut pieces);
            boundary = Break::Paragraph;
        }
        if let Some(piece) = pieces.get_mut(first_piece) {
            piece.tokens += index.count(&gap);
        }
    }
    pieces
}

/// Pushes `range` as one piece, or as sentences, or as token windows, each within `max`.
fn split_over_budget(
    text: &str,
    range: Range<usize>,
    boundary: Break,
    section: usize,
    max: usize,
    index: &TokenIndex,
    pieces: &mut Vec<Piece>,
) {
    let tokens = index.count(&range);
    if tokens <= max {
        pieces.push(Piece {
            range,
            boundary,
            section,
            tokens,
        });
        return;
    }
    let mut bounds = vec![range.start];
    bounds.extend(
        sentence_starts(&text[range.clone()])
            .into_iter()
            .map(|i| range.start + i)
            .filter(|&c| c > range.start && c < range.end),
    );
    bounds.push(range.end);
    for (k, w) in bounds.windows(2).enumerate() {
        let sentence = w[0]..w[1];
        let sentence_boundary = if k == 0 { boundary } else { Break::Sentence };
        let count = index.count(&sentence);
        if count <= max {
            pieces.push(Piece {
                range: sentence,
                boundary: sentence_boundary,
                section,
                tokens: count,
            });
            continue;
        }
        // A sentence over the budget: windows of `max` tokens.
        let starts = index.starts_in(&sentence);
        let mut from = sentence.start;
        let mut first = true;
        for window in starts.chunks(max).skip(1) {
            let to = window[0];
            pieces.push(Piece {
                range: from..to,
                boundary: if first {
                    sentence_boundary
                } else {
                    Break::Token
                },
                section,
                tokens: index.count(&(from..to)),
            });
            first = false;
            from = to;
        }
        pieces.push(Piece {
            range: from..sentence.end,
            boundary: if first {
                sentence_boundary
            } else {
                Break::Token
            },
            section,
            tokens: index.count(&(from..sentence.end)),
        });
    }
}

/// The least fill (tokens, of `max`) a chunk needs before a boundary of this strength ends it.
fn min_fill(boundary: Break, max: usize) -> usize {
    match boundary {
        Break::Heading => max / 4,
        Break::Paragraph | Break::Sentence => max / 2,
        Break::Token => 0,
    }
}

/// Packs pieces into chunks: `(range, section of the first piece)`.
fn pack(
    text: &str,
    pieces: &[Piece],
    budgets: &[usize],
    overlap: impl Fn(usize) -> usize,
) -> Vec<(Range<usize>, usize)> {
    let n = pieces.len();
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let max = budgets[pieces[start].section];
        let mut end = start;
        let mut sum = 0;
        while end < n && sum + pieces[end].tokens <= max {
            sum += pieces[end].tokens;
            end += 1;
        }
        if end == start {
            end = start + 1;
        }
        // The best cut in (start, end]: the strongest boundary whose fill qualifies, latest wins.
        let mut cut = end;
        if end < n {
            let mut best: Option<(Break, usize)> = None;
            let mut fill = 0;
            for j in start + 1..=end {
                fill += pieces[j - 1].tokens;
                let boundary = if j < n {
                    pieces[j].boundary
                } else {
                    Break::Heading
                };
                if fill >= min_fill(boundary, max) && best.is_none_or(|(b, _)| boundary >= b) {
                    best = Some((boundary, j));
                }
            }
            if let Some((_, j)) = best {
                cut = j;
            }
        }
        let raw = pieces[start].range.start..pieces[cut - 1].range.end;
        let s = &text[raw.clone()];
        let lead = s.len() - s.trim_start().len();
        let trail = s.len() - s.trim_end().len();
        if lead < s.len() {
            out.push((raw.start + lead..raw.end - trail, pieces[start].section));
        }
        if cut >= n {
            break;
        }
        // Overlap: back up over whole pieces of the same section, within the overlap budget,
        // keeping room for the piece at `cut`, and always moving forward.
        let mut next = cut;
        if pieces[cut].boundary < Break::Heading {
            let limit = overlap(max);
            let mut taken = 0;
            while next > start + 1 {
                let p = &pieces[next - 1];
                if taken + p.tokens > limit
                    || taken + p.tokens + pieces[cut].tokens > max
                    || pieces[next].boundary >= Break::Heading
                {
                    break;
                }
                taken += p.tokens;
                next -= 1;
            }
        }
        start = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::parse::parse_note;

    /// Counts words as tokens: predictable budgets for the tests.
    struct Words(usize);

    impl TokenCounter for Words {
        fn budget(&self) -> usize {
            self.0
        }
        fn token_starts(&self, text: &str) -> Vec<usize> {
            let mut starts = Vec::new();
            let mut previous_space = true;
            for (i, c) in text.char_indices() {
                if !c.is_whitespace() && previous_space {
                    starts.push(i);
                }
                previous_space = c.is_whitespace();
            }
            starts
        }
        fn count(&self, text: &str) -> usize {
            text.split_whitespace().count()
        }
    }

    fn chunks(markdown: &str, budget: usize) -> (crate::vault::note::Note, Vec<Chunk>) {
        let note = parse_note("Garden/Tomatoes.md", markdown.as_bytes());
        let chunks = chunk_note(
            &note.title,
            &note.headings,
            &note.sections,
            &note.plain,
            &Words(budget),
        );
        (note, chunks)
    }

    #[test]
    fn small_sections_share_a_chunk_and_keep_their_heading_path() {
        let (note, chunks) = chunks(
            "# Tomatoes\nRed fruit.\n## Blight\nBrown spots on leaves.\n## Watering\nDeep and rare.\n",
            64,
        );
        assert_eq!(chunks.len(), 1, "{chunks:#?}");
        let chunk = &chunks[0];
        assert!(
            chunk.input.starts_with("Tomatoes\nRed fruit."),
            "{}",
            chunk.input
        );
        assert!(chunk.input.contains("Deep and rare."));
        assert_eq!(
            &note.plain[chunk.range.clone()],
            &chunk.input["Tomatoes\n".len()..]
        );
    }

    #[test]
    fn long_sections_split_at_sentences_with_overlap_and_never_exceed_the_budget() {
        let soil: String = (0..40)
            .map(|i| format!("Sentence {i} mentions soil. "))
            .collect();
        let pests: String = (0..20).map(|i| format!("Pest {i} eats leaves. ")).collect();
        let markdown = format!("# Tomatoes\n## Soil\n{soil}\n## Pests\n{pests}\n");
        let budget = 40;
        let (note, chunks) = chunks(&markdown, budget);
        assert!(chunks.len() >= 6, "{chunks:#?}");
        let words = Words(budget);
        for chunk in &chunks {
            let text = &note.plain[chunk.range.clone()];
            let context = chunk.input.lines().next().unwrap();
            assert!(
                words.count(text) + words.count(context) < budget,
                "{chunk:?}"
            );
            // Cut between sentences, not inside one.
            assert!(text.ends_with('.'), "{text:?}");
            assert_eq!(&chunk.input[context.len() + 1..], text);
        }
        // Consecutive chunks of a section overlap by a sentence; the first chunk of the pests
        // section starts at its heading, with its own path, and does not reach back into soil.
        assert!(chunks[1].range.start < chunks[0].range.end, "{chunks:#?}");
        let first_pests = chunks
            .iter()
            .position(|c| c.input.starts_with("Tomatoes › Pests\n"))
            .expect("a chunk starts in the pests section");
        assert!(note.plain[chunks[first_pests].range.clone()].starts_with("Pest 0 eats"));
        assert!(
            chunks[..first_pests]
                .iter()
                .all(|c| c.input.starts_with("Tomatoes › Soil\n"))
        );
        assert!(
            chunks[first_pests..]
                .iter()
                .all(|c| c.input.starts_with("Tomatoes › Pests\n"))
        );
    }

    #[test]
    fn a_sentence_longer_than_the_budget_is_cut_in_token_windows() {
        let long = "word ".repeat(100);
        let (_, chunks) = chunks(&format!("{long}\n"), 30);
        assert!(chunks.len() >= 4, "{chunks:#?}");
        for chunk in &chunks {
            assert!(Words(30).count(&chunk.input) <= 30, "{}", chunk.input);
        }
    }

    #[test]
    fn a_note_without_text_is_its_title_and_headings() {
        let (_, headings_only) = chunks("# Reading list\n## Fiction\n## Essays\n", 64);
        assert_eq!(headings_only.len(), 1);
        assert_eq!(headings_only[0].input, "Reading list\nFiction\nEssays");
        assert_eq!(headings_only[0].range, 0..0);
        let (_, empty) = chunks("", 64);
        assert!(empty.len() <= 1);
    }

    #[test]
    fn sentences_split_on_full_stops_before_capitals_and_cjk_stops() {
        let s = "First one. Second, e.g. this. Third? yes lowercase. \"Quoted.\" Next 句子。下一句";
        let starts = sentence_starts(s);
        let mut bounds = vec![0];
        bounds.extend(&starts);
        bounds.push(s.len());
        let parts: Vec<&str> = bounds.windows(2).map(|w| &s[w[0]..w[1]]).collect();
        assert_eq!(
            parts,
            vec![
                "First one. ",
                "Second, e.g. this. ",
                "Third? yes lowercase. ",
                "\"Quoted.\" ",
                "Next 句子。",
                "下一句"
            ]
        );
    }
}
