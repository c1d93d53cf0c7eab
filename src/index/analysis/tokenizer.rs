//! The one analyzer for every text field and every query: words for scripts with spaces,
//! character bigrams for scripts without them.
//!
//! - Letters, digits and combining marks form words. A word is lowercased, Latin and Greek
//!   diacritics are folded (`café` → `cafe`), an English possessive `'s` is dropped, and purely
//!   alphabetic ASCII words are stemmed with Snowball English (`running` → `run`) after British
//!   spellings become American (`tumour` → `tumor`). Acronym plurals lose their `s` (`APIs` →
//!   `api`). A lone Greek letter is its own word, spelt out (`TNF-α` → `tnf`, `alpha`).
//! - Han, kana, Hangul, Thai, Lao, Khmer and Myanmar runs become overlapping bigrams at
//!   consecutive positions (`全文检索` → `全文`, `文检`, `检索`), so any two-character word inside
//!   a run matches and a phrase query over bigrams matches a contiguous string. A one-character
//!   run is a unigram. Mixed text splits at script changes: `Zotero群组` → `zotero`, `群组`.
//! - Tokens longer than [`MAX_TOKEN_BYTES`] (hashes, base64) are dropped; positions still advance
//!   so phrases never match across them.
//!
//! Doing all of this in one hand-written pass (instead of a chain of tantivy filters) keeps
//! indexing fast: no per-token allocation, and the stemmer only sees words it can stem.

use std::ops::Range;

use frostem::{Algorithm, Stemmer};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The name the analyzer is registered under in the index.
pub(crate) const ANALYZER: &str = "deepvault";

/// Longer tokens are dropped.
pub(crate) const MAX_TOKEN_BYTES: usize = 64;

/// The tantivy tokenizer. Each copy (tantivy clones one per indexing thread) keeps its own
/// cache of stems: words repeat so much that stemming each one once per thread saves about a
/// fifth of indexing time.
pub(crate) struct VaultTokenizer {
    stemmer: Stemmer,
    stems: StemCache,
    /// Index mode: CJK characters are unigrams as well as bigrams. Queries use bigrams (and a
    /// unigram for a one-character word), which match either.
    unigrams: bool,
}

/// word → stem, for words whose stem differs or not; cleared when it grows past its bound.
type StemCache = rustc_hash::FxHashMap<Box<str>, Box<str>>;

/// Entries a stem cache holds before it is cleared (a few MB at most).
const STEM_CACHE_ENTRIES: usize = 100_000;

impl Default for VaultTokenizer {
    fn default() -> Self {
        VaultTokenizer {
            stemmer: Stemmer::new(Algorithm::English),
            stems: StemCache::default(),
            unigrams: false,
        }
    }
}

impl VaultTokenizer {
    /// The analyzer the index is built with.
    pub(crate) fn for_indexing() -> VaultTokenizer {
        VaultTokenizer {
            unigrams: true,
            ..VaultTokenizer::default()
        }
    }
}

impl Clone for VaultTokenizer {
    fn clone(&self) -> Self {
        VaultTokenizer {
            unigrams: self.unigrams,
            ..VaultTokenizer::default()
        }
    }
}

impl Tokenizer for VaultTokenizer {
    type TokenStream<'a> = VaultTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VaultTokenStream<'a> {
        VaultTokenStream {
            text,
            cursor: 0,
            next_position: 0,
            run_previous: None,
            run_emitted: false,
            unigrams: self.unigrams,
            unigram_emitted: false,
            token: Token::default(),
            stemmer: self.stemmer,
            stems: &mut self.stems,
            match_first_bytes: None,
        }
    }
}

/// The stream of tokens over one text.
pub(crate) struct VaultTokenStream<'a> {
    text: &'a str,
    cursor: usize,
    next_position: usize,
    /// Inside a bigram run: the previous character and where it starts.
    run_previous: Option<(usize, char)>,
    /// Whether the current run has produced a bigram yet.
    run_emitted: bool,
    /// Index mode: emit each character of a run as a unigram too.
    unigrams: bool,
    /// Whether the unigram of `run_previous` has been emitted.
    unigram_emitted: bool,
    token: Token,
    stemmer: Stemmer,
    stems: &'a mut StemCache,
    /// Matching only (see [`for_each_match`]): the first bytes of the terms to match; words
    /// that start otherwise are skipped or, when not ASCII, left unstemmed.
    match_first_bytes: Option<&'a [bool; 256]>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CharClass {
    Separator,
    Word,
    Bigram,
}

fn classify(c: char) -> CharClass {
    if c.is_ascii() {
        return if c.is_ascii_alphanumeric() {
            CharClass::Word
        } else {
            CharClass::Separator
        };
    }
    if is_bigram_script(c) {
        CharClass::Bigram
    } else if c.is_alphanumeric() || is_combining_mark(c) {
        CharClass::Word
    } else {
        CharClass::Separator
    }
}

/// Scripts written without spaces between words (and Hangul, whose words carry particles).
pub(crate) fn is_bigram_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF          // Thai, Lao
        | 0x1000..=0x109F        // Myanmar
        | 0x1100..=0x11FF        // Hangul Jamo
        | 0x1780..=0x17FF        // Khmer
        | 0x2E80..=0x2FDF        // CJK radicals
        | 0x3005..=0x3007        // 々 〆 〇
        | 0x3040..=0x30FF        // Hiragana, Katakana
        | 0x3100..=0x312F        // Bopomofo
        | 0x3130..=0x318F        // Hangul compatibility Jamo
        | 0x31F0..=0x31FF        // Katakana extensions
        | 0x3400..=0x4DBF        // CJK extension A
        | 0x4E00..=0x9FFF        // CJK unified ideographs
        | 0xA960..=0xA97F        // Hangul Jamo extended A
        | 0xAC00..=0xD7FF        // Hangul syllables, Jamo extended B
        | 0xF900..=0xFAFF        // CJK compatibility ideographs
        | 0xFF66..=0xFF9F        // halfwidth Katakana
        | 0x20000..=0x3134F      // CJK extensions B–G
    )
}

/// Combining marks that belong to the letter before them (accents, Indic vowel signs).
fn is_combining_mark(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x05BF | 0x05C1..=0x05C2
        | 0x05C4..=0x05C5 | 0x05C7 | 0x0610..=0x061A | 0x064B..=0x065F | 0x0670
        | 0x06D6..=0x06DC | 0x06DF..=0x06E4 | 0x06E7..=0x06E8 | 0x06EA..=0x06ED
        | 0x0900..=0x0903 | 0x093A..=0x094F | 0x0951..=0x0957 | 0x0962..=0x0963
        | 0x0981..=0x0983 | 0x09BC..=0x09D7 | 0x0A01..=0x0A03 | 0x0A3C..=0x0A51
        | 0x0A81..=0x0A83 | 0x0ABC..=0x0ACD | 0x0B01..=0x0B03 | 0x0B3C..=0x0B57
        | 0x0B82 | 0x0BBE..=0x0BCD | 0x0C00..=0x0C04 | 0x0C3E..=0x0C56 | 0x0C81..=0x0C83
        | 0x0CBC..=0x0CD6 | 0x0D00..=0x0D03 | 0x0D3B..=0x0D57 | 0x1AB0..=0x1AFF
        | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F
    )
}

impl<'a> VaultTokenStream<'a> {
    fn emit(&mut self, from: usize, to: usize) {
        self.emit_at(from, to, true);
    }

    /// Sets the token's offsets and position; `advance` moves to the next position.
    fn emit_at(&mut self, from: usize, to: usize, advance: bool) {
        self.token.offset_from = from;
        self.token.offset_to = to;
        self.token.position = self.next_position;
        self.token.position_length = 1;
        if advance {
            self.next_position += 1;
        }
    }

    fn next_char(&self) -> Option<char> {
        self.text[self.cursor..].chars().next()
    }
}

impl TokenStream for VaultTokenStream<'_> {
    fn advance(&mut self) -> bool {
        loop {
            if let Some((previous_start, previous)) = self.run_previous {
                // When indexing, every character is also a unigram, at its bigram's position:
                // single-character words (茶, 写) then score like any other term.
                if self.unigrams && !self.unigram_emitted {
                    self.unigram_emitted = true;
                    self.token.text.clear();
                    self.token.text.push(previous);
                    self.emit_at(previous_start, previous_start + previous.len_utf8(), false);
                    return true;
                }
                match self.next_char() {
                    Some(c) if classify(c) == CharClass::Bigram => {
                        let end = self.cursor + c.len_utf8();
                        self.token.text.clear();
                        self.token.text.push(previous);
                        self.token.text.push(c);
                        self.emit(previous_start, end);
                        self.run_previous = Some((self.cursor, c));
                        self.run_emitted = true;
                        self.unigram_emitted = false;
                        self.cursor = end;
                        return true;
                    }
                    _ => {
                        self.run_previous = None;
                        if self.unigrams {
                            // Past the last unigram, plus a gap at the script boundary.
                            self.next_position += 2;
                            continue;
                        }
                        if !self.run_emitted {
                            self.token.text.clear();
                            self.token.text.push(previous);
                            self.emit(previous_start, previous_start + previous.len_utf8());
                            return true;
                        }
                        self.next_position += 1; // no phrase across a script boundary
                        continue;
                    }
                }
            }
            // Skip separators, ASCII ones byte by byte.
            let bytes = self.text.as_bytes();
            let mut start = self.cursor;
            while start < bytes.len()
                && bytes[start] < 0x80
                && !bytes[start].is_ascii_alphanumeric()
            {
                start += 1;
            }
            let rest = &self.text[start..];
            let Some((skip, first)) = rest
                .char_indices()
                .find(|&(_, c)| classify(c) != CharClass::Separator)
            else {
                self.cursor = self.text.len();
                return false;
            };
            let start = start + skip;
            if classify(first) == CharClass::Bigram {
                self.run_previous = Some((start, first));
                self.run_emitted = false;
                self.unigram_emitted = false;
                self.cursor = start + first.len_utf8();
                continue;
            }
            let mut end = word_end(self.text, start);
            let mut greek_letter = None;
            if !self.text.as_bytes()[start..end].is_ascii()
                && let Some((piece, name)) = split_greek_letters(&self.text[start..end])
            {
                end = start + piece;
                greek_letter = name;
            }
            self.cursor = end;
            if let Some(name) = greek_letter {
                self.token.text.clear();
                self.token.text.push_str(name);
                self.emit(start, end);
                return true;
            }
            // Matching only: an ASCII word keeps its first letter through normalising and
            // stemming, so one that starts no term is skipped before either.
            if let Some(first) = self.match_first_bytes {
                let byte = self.text.as_bytes()[start];
                if byte < 0x80 && !first[usize::from(byte.to_ascii_lowercase())] {
                    self.next_position += 1;
                    continue;
                }
            }
            normalize_word(&self.text[start..end], &mut self.token.text);
            if is_acronym_plural(&self.text[start..end]) {
                self.token.text.pop();
            }
            if self.token.text.is_empty() || self.token.text.len() > MAX_TOKEN_BYTES {
                self.next_position += 1;
                continue;
            }
            if self
                .match_first_bytes
                .is_none_or(|first| first[usize::from(self.token.text.as_bytes()[0])])
            {
                stem_in_place(&self.stemmer, self.stems, &mut self.token.text);
            }
            self.emit(start, end);
            return true;
        }
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// The end of the word starting at `start`: word characters, plus an apostrophe between two
/// letters (`don't`, `Obsidian's`).
fn word_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    // Fast path: a run of ASCII letters and digits ended by an ASCII separator.
    let mut ascii_end = start;
    while ascii_end < bytes.len() && bytes[ascii_end].is_ascii_alphanumeric() {
        ascii_end += 1;
    }
    if ascii_end == bytes.len() || (bytes[ascii_end] < 0x80 && bytes[ascii_end] != b'\'') {
        return ascii_end;
    }
    let mut end = start;
    let mut chars = text[start..].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let absolute = start + i;
        match classify(c) {
            CharClass::Word => end = absolute + c.len_utf8(),
            _ if (c == '\'' || c == '\u{2019}') && end == absolute => {
                let followed_by_letter = chars
                    .peek()
                    .is_some_and(|&(_, n)| n.is_alphabetic() && classify(n) == CharClass::Word);
                if !followed_by_letter {
                    break;
                }
            }
            _ => break,
        }
    }
    debug_assert!(end <= bytes.len());
    end
}

/// `APIs`, `SNPs`, `pDCs`: an acronym with a plural `s`, which the stemmer keeps because no
/// vowel precedes it. Two capitals, the last right before a lowercase `s`, tell it from `Mrs`,
/// `Gas` or `CELLS`.
fn is_acronym_plural(word: &str) -> bool {
    let bytes = word.as_bytes();
    bytes.len() >= 3
        && bytes[bytes.len() - 1] == b's'
        && bytes[bytes.len() - 2].is_ascii_uppercase()
        && bytes.iter().filter(|b| b.is_ascii_uppercase()).count() >= 2
}

/// Science writes `TNF-α`, `TNFα` and `TNF-alpha` for one thing: a Greek letter standing alone
/// or glued to Latin letters or digits is a word of its own, spelt out (`alpha`). Words of two
/// or more Greek letters (Greek text) are left whole.
///
/// Returns `None` when `word` has no lone Greek letter; otherwise the byte length of its first
/// piece (a run of Greek or of other characters), with the letter's name if that piece is a
/// lone Greek letter.
fn split_greek_letters(word: &str) -> Option<(usize, Option<&'static str>)> {
    // Runs of Greek letters and of other characters: (end, letters, greek).
    let mut first_run: Option<(usize, usize, bool)> = None;
    let mut current: Option<(usize, usize, bool)> = None;
    let mut has_lone_letter = false;
    for (i, c) in word.char_indices() {
        let end = i + c.len_utf8();
        let greek = is_greek_letter(c);
        match current.as_mut() {
            // A combining mark belongs to the letter before it.
            Some(run) if run.2 == greek || is_combining_mark(c) => {
                run.0 = end;
                run.1 += usize::from(!is_combining_mark(c));
            }
            _ => {
                if let Some(run) = current {
                    has_lone_letter |= run.2 && run.1 == 1;
                    first_run.get_or_insert(run);
                }
                current = Some((end, 1, greek));
            }
        }
    }
    let last = current?;
    has_lone_letter |= last.2 && last.1 == 1;
    if !has_lone_letter {
        return None;
    }
    let (end, letters, greek) = first_run.unwrap_or(last);
    let name = if greek && letters == 1 {
        word[..end].chars().next().and_then(greek_letter_name)
    } else {
        None
    };
    Some((end, name))
}

fn is_greek_letter(c: char) -> bool {
    matches!(c as u32, 0x0370..=0x03FF | 0x1F00..=0x1FFF) && c.is_alphabetic()
}

/// The English name of a Greek letter, any case, with or without accents.
fn greek_letter_name(c: char) -> Option<&'static str> {
    let mut folded = String::new();
    fold_char(c, &mut folded);
    Some(match folded.chars().next()? {
        'α' => "alpha",
        'β' | 'ϐ' => "beta",
        'γ' => "gamma",
        'δ' => "delta",
        'ε' | 'ϵ' => "epsilon",
        'ζ' => "zeta",
        'η' => "eta",
        'θ' | 'ϑ' => "theta",
        'ι' => "iota",
        'κ' | 'ϰ' => "kappa",
        'λ' => "lambda",
        'μ' => "mu",
        'ν' => "nu",
        'ξ' => "xi",
        'ο' => "omicron",
        'π' | 'ϖ' => "pi",
        'ρ' | 'ϱ' => "rho",
        'σ' | 'ς' => "sigma",
        'τ' => "tau",
        'υ' => "upsilon",
        'φ' | 'ϕ' => "phi",
        'χ' => "chi",
        'ψ' => "psi",
        'ω' => "omega",
        _ => return None,
    })
}

/// Lowercases and folds a word into `out`; drops apostrophes and a possessive `'s`.
fn normalize_word(word: &str, out: &mut String) {
    out.clear();
    if word.is_ascii() {
        for b in word.bytes() {
            if b != b'\'' {
                out.push(b.to_ascii_lowercase() as char);
            }
        }
    } else {
        for c in word.chars() {
            if c == '\'' || c == '\u{2019}' {
                continue;
            }
            fold_char(c, out);
        }
    }
    // `obsidian's` became `obsidians`: the possessive is not a plural.
    if word.len() > 2 {
        let lower_tail = word.char_indices().rev().nth(1).map(|(i, _)| &word[i..]);
        if matches!(lower_tail, Some("'s" | "'S" | "\u{2019}s" | "\u{2019}S")) {
            out.pop();
        }
    }
}

/// Lowercase, and fold Latin and Greek diacritics away.
fn fold_char(c: char, out: &mut String) {
    for lower in c.to_lowercase() {
        let code = lower as u32;
        let foldable = matches!(code, 0x00C0..=0x024F | 0x1E00..=0x1EFF | 0x0370..=0x03FF | 0x1F00..=0x1FFF)
            || lower == 'ё';
        if !foldable {
            if !(0x0300..=0x036F).contains(&code) {
                out.push(lower);
            }
            continue;
        }
        match lower {
            'ß' => out.push_str("ss"),
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            'ø' => out.push('o'),
            'đ' | 'ð' => out.push('d'),
            'ł' => out.push('l'),
            'þ' => out.push_str("th"),
            'ı' => out.push('i'),
            'ħ' => out.push('h'),
            'ŀ' => out.push('l'),
            'ŧ' => out.push('t'),
            'ё' => out.push('е'),
            _ => {
                let before = out.len();
                unicode_normalization::char::decompose_canonical(lower, |d| {
                    if !(0x0300..=0x036F).contains(&(d as u32)) {
                        out.push(d);
                    }
                });
                if out.len() == before {
                    out.push(lower);
                }
            }
        }
    }
}

fn stem_in_place(stemmer: &Stemmer, stems: &mut StemCache, word: &mut String) {
    if word.len() < 3 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return;
    }
    if let Some(stem) = stems.get(word.as_str()) {
        word.clear();
        word.push_str(stem);
        return;
    }
    let stemmed: Box<str> = stemmer.stem(&super::spelling::american(word)).into();
    if stems.len() >= STEM_CACHE_ENTRIES {
        stems.clear();
    }
    stems.insert(word.as_str().into(), stemmed.clone());
    word.clear();
    word.push_str(&stemmed);
}

/// One analyzed token, for query analysis and snippets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analyzed {
    pub term: String,
    pub position: usize,
    pub offsets: Range<usize>,
}

/// Runs the analyzer over `text`.
pub fn analyze(text: &str) -> Vec<Analyzed> {
    let mut tokenizer = VaultTokenizer::default();
    let mut stream = tokenizer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        let token = stream.token();
        out.push(Analyzed {
            term: token.text.clone(),
            position: token.position,
            offsets: token.offset_from..token.offset_to,
        });
    }
    out
}

/// Calls `sink` for the tokens of `text` that could equal one of `terms` (stemmed terms), at
/// their usual positions and offsets; other tokens may be skipped or passed on unstemmed. A stem
/// keeps its word's first letter, so a word whose first byte starts none of the terms cannot
/// match: most words of a passage, and normalising and stemming them was most of the cost of
/// picking passages.
pub(crate) fn for_each_match<'t>(
    tokenizer: &mut VaultTokenizer,
    text: &str,
    terms: impl IntoIterator<Item = &'t str>,
    mut sink: impl FnMut(&Token),
) {
    let mut first_bytes = [false; 256];
    for term in terms {
        if let Some(&byte) = term.as_bytes().first() {
            first_bytes[usize::from(byte)] = true;
        }
    }
    // British spellings: `oestrogen` and `aetiology` stem to `estrogen` and `etiolog`.
    if first_bytes[usize::from(b'e')] {
        first_bytes[usize::from(b'a')] = true;
        first_bytes[usize::from(b'o')] = true;
    }
    let mut stream = tokenizer.token_stream(text);
    stream.match_first_bytes = Some(&first_bytes);
    while stream.advance() {
        sink(stream.token());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Calls `sink` for each token of `text`: the full tokenizer, as indexing runs it.
    fn for_each_token(tokenizer: &mut VaultTokenizer, text: &str, mut sink: impl FnMut(&Token)) {
        let mut stream = tokenizer.token_stream(text);
        while stream.advance() {
            sink(stream.token());
        }
    }

    fn terms(text: &str) -> Vec<String> {
        analyze(text).into_iter().map(|t| t.term).collect()
    }

    #[test]
    fn words_are_lowercased_folded_and_stemmed() {
        assert_eq!(
            terms("Running CAFÉ naïve Straße"),
            vec!["run", "cafe", "naiv", "strass"]
        );
        assert_eq!(
            terms("Obsidian's don't v1.2_beta"),
            vec!["obsidian", "dont", "v1", "2", "beta"]
        );
        assert_eq!(terms("Get-ChildItem"), vec!["get", "childitem"]);
    }

    #[test]
    fn acronym_plurals_lose_their_s() {
        assert_eq!(
            terms("APIs SNPs pDCs iPSCs"),
            vec!["api", "snp", "pdc", "ipsc"]
        );
        assert_eq!(terms("API SNP pDC iPSC"), vec!["api", "snp", "pdc", "ipsc"]);
        // Not acronyms with a plural s: one capital, a capital S, or no capital before it.
        assert_eq!(terms("Mrs CELLS Bus Ms"), vec!["mrs", "cell", "bus", "ms"]);
    }

    #[test]
    fn lone_greek_letters_are_spelt_out() {
        let spelt = vec!["tnf", "alpha"];
        assert_eq!(terms("TNF-α"), spelt);
        assert_eq!(terms("TNFα"), spelt);
        assert_eq!(terms("TNF-alpha"), spelt);
        assert_eq!(terms("TNF-Α"), spelt);
        assert_eq!(terms("αvβ8"), vec!["alpha", "v", "beta", "8"]);
        assert_eq!(terms("IκB kinase"), vec!["i", "kappa", "b", "kinas"]);
        assert_eq!(terms("ά"), vec!["alpha"]);
        // Greek words stay Greek.
        assert_eq!(terms("Καλημέρα κόσμε"), vec!["καλημερα", "κοσμε"]);
        let tokens = analyze("IL-1β level");
        let got: Vec<_> = tokens
            .iter()
            .map(|t| (t.term.as_str(), t.position, t.offsets.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("il", 0, 0..2),
                ("1", 1, 3..4),
                ("beta", 2, 4..6),
                ("level", 3, 7..12)
            ]
        );
    }

    #[test]
    fn cjk_runs_become_bigrams_with_positions() {
        let tokens = analyze("全文检索");
        let got: Vec<_> = tokens
            .iter()
            .map(|t| (t.term.as_str(), t.position))
            .collect();
        assert_eq!(got, vec![("全文", 0), ("文检", 1), ("检索", 2)]);
        assert_eq!(tokens[2].offsets, 6..12);
        assert_eq!(terms("茶"), vec!["茶"]);
        assert_eq!(terms("Zotero群组"), vec!["zotero", "群组"]);
        assert_eq!(terms("日本語メモ"), vec!["日本", "本語", "語メ", "メモ"]);
        assert_eq!(terms("검색을 합니다"), vec!["검색", "색을", "합니", "니다"]);
    }

    #[test]
    fn indexing_adds_unigrams_at_bigram_positions() {
        let mut tokenizer = VaultTokenizer::for_indexing();
        let mut got = Vec::new();
        for_each_token(&mut tokenizer, "全文检索 ok 茶", |t| {
            got.push((t.text.clone(), t.position))
        });
        let got: Vec<(&str, usize)> = got.iter().map(|(t, p)| (t.as_str(), *p)).collect();
        assert_eq!(
            got,
            vec![
                ("全", 0),
                ("全文", 0),
                ("文", 1),
                ("文检", 1),
                ("检", 2),
                ("检索", 2),
                ("索", 3),
                ("ok", 5),
                ("茶", 6)
            ]
        );
    }

    #[test]
    fn script_boundaries_break_phrases() {
        let tokens = analyze("群组 abc 群组");
        let positions: Vec<_> = tokens.iter().map(|t| t.position).collect();
        // a one-character gap after each run so that no phrase spans scripts
        assert_eq!(positions, vec![0, 2, 3]);
    }

    #[test]
    fn rtl_thai_emoji_do_not_break() {
        assert_eq!(terms("مرحبا بالعالم"), vec!["مرحبا", "بالعالم"]);
        assert_eq!(terms("สวัสดี"), vec!["สว", "วั", "ัส", "สด", "ดี"]);
        assert_eq!(terms("🎉 party 🎉"), vec!["parti"]);
        assert_eq!(terms("नमस्ते दुनिया"), vec!["नमस्ते", "दुनिया"]);
        assert!(terms("").is_empty());
        assert!(terms("!!! ... ---").is_empty());
    }

    #[test]
    fn long_tokens_are_dropped_but_count_as_positions() {
        let long = "a".repeat(100);
        let tokens = analyze(&format!("one {long} two"));
        let got: Vec<_> = tokens
            .iter()
            .map(|t| (t.term.as_str(), t.position))
            .collect();
        assert_eq!(got, vec![("one", 0), ("two", 2)]);
    }

    #[test]
    fn greek_and_vietnamese_fold() {
        assert_eq!(terms("Ελληνικά"), vec!["ελληνικα"]);
        assert_eq!(terms("Tiếng Việt"), vec!["tieng", "viet"]);
    }

    /// Every word of the example vault and the stemmer's exceptional forms.
    fn vocabulary() -> String {
        let mut text = String::from(
            "skis skies dying lying tying idly gently ugly early only singly sky news howe atlas \
             cosmos bias andes yesterday yelling y'all generously ionization happily \
             oestrogen aetiology etiology estrogen tumours tumor randomised randomized TNF-α alpha APIs api",
        );
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus.example");
        for entry in ignore::WalkBuilder::new(root).hidden(false).build() {
            let entry = entry.unwrap();
            if entry.path().extension().is_some_and(|e| e == "md") {
                text.push(' ');
                text.push_str(&std::fs::read_to_string(entry.path()).unwrap());
            }
        }
        text
    }

    #[test]
    fn stems_keep_their_first_letter() {
        let stemmer = Stemmer::new(Algorithm::English);
        let text = vocabulary();
        let mut checked = 0;
        for word in text.split(|c: char| !c.is_ascii_alphabetic()) {
            let word = word.to_ascii_lowercase();
            if word.len() >= 3 {
                let stem = stemmer
                    .stem(&crate::index::analysis::spelling::american(&word))
                    .into_owned();
                let first = word.as_bytes()[0];
                // British `oe`/`ae` spellings start with `e` once American (`for_each_match`
                // widens its filter for them).
                let allowed = match first {
                    b'a' | b'o' => vec![first, b'e'],
                    _ => vec![first],
                };
                assert!(allowed.contains(&stem.as_bytes()[0]), "{word} → {stem}");
                checked += 1;
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    #[test]
    fn matching_tokens_are_the_tokens_that_match() {
        let text = vocabulary();
        let terms = [
            "garden", "brew", "run", "coffe", "tomato", "kyoto", "is", "estrogen", "etiolog",
            "tumor", "random", "alpha", "api",
        ];
        let mut all = Vec::new();
        for_each_token(&mut VaultTokenizer::default(), &text, |t| {
            if terms.contains(&t.text.as_str()) {
                all.push((t.text.clone(), t.offset_from, t.position));
            }
        });
        let mut matched = Vec::new();
        for_each_match(&mut VaultTokenizer::default(), &text, terms, |t| {
            if terms.contains(&t.text.as_str()) {
                matched.push((t.text.clone(), t.offset_from, t.position));
            }
        });
        assert!(all.len() > 20, "{}", all.len());
        for british in ["estrogen", "etiolog", "tumor", "random", "alpha", "api"] {
            assert!(
                all.iter().filter(|(t, ..)| t == british).count() >= 2,
                "{british}"
            );
        }
        assert_eq!(matched, all);
    }
}
