//! The metadata heuristics, pure functions over strings: PDF date strings → RFC 3339, PDF text
//! strings → `String`, whether Title metadata is meaningful, and the first heading-like line of
//! a page (the title when the metadata is not). They never fail: what they cannot read is left
//! out (`None`), not guessed.

/// Parse a PDF date string (ISO 32000-1 §7.9.4) `D:YYYYMMDDHHmmSSOHH'mm'` to RFC 3339.
///
/// Everything after the year is optional. `O` is `+`, `-` or `Z`; the apostrophes are
/// optional and a trailing one is tolerated. A missing time zone is reported as UTC
/// (`Z`): the standard says the relation to UT is then unknown, and RFC 3339 needs an
/// offset. Returns `None` for anything that is not a plausible date (so the field is
/// left out rather than wrong).
pub fn pdf_date_to_rfc3339(s: &str) -> Option<String> {
    let s = s.trim().trim_start_matches('\u{feff}');
    let s = s.strip_prefix("D:").unwrap_or(s);
    let b = s.as_bytes();
    let mut i = 0;
    let mut num = |len: usize, default: u32| -> Option<u32> {
        if i >= b.len() || !b[i].is_ascii_digit() {
            return Some(default);
        }
        if i + len > b.len() || !b[i..i + len].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let v = std::str::from_utf8(&b[i..i + len]).ok()?.parse().ok()?;
        i += len;
        Some(v)
    };
    if b.len() < 4 || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let year = num(4, 0)?;
    let month = num(2, 1)?;
    let day = num(2, 1)?;
    let hour = num(2, 0)?;
    let min = num(2, 0)?;
    let sec = num(2, 0)?;
    let rest = &s[i..];
    if !(1000..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let mdays = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day < 1 || day > mdays[month as usize - 1] {
        return None;
    }
    let sec = sec.min(59);
    let tz = parse_tz(rest)?;
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{min:02}:{sec:02}{tz}"
    ))
}

fn parse_tz(rest: &str) -> Option<String> {
    let r = rest.trim();
    let mut c = r.chars();
    match c.next() {
        None => Some("Z".into()),
        Some('Z') | Some('z') => Some("Z".into()),
        Some(sign @ ('+' | '-')) => {
            let digits: String = c
                .as_str()
                .chars()
                .filter(|ch| ch.is_ascii_digit())
                .collect();
            let junk = c
                .as_str()
                .chars()
                .any(|ch| !(ch.is_ascii_digit() || ch == '\'' || ch == ' '));
            if junk {
                return None;
            }
            let (hh, mm) = match digits.len() {
                0 => return Some("Z".into()),
                1 => (digits[..1].parse::<u32>().ok()?, 0),
                2 => (digits.parse::<u32>().ok()?, 0),
                4 => (
                    digits[..2].parse::<u32>().ok()?,
                    digits[2..].parse::<u32>().ok()?,
                ),
                _ => return None,
            };
            if hh > 14 || mm > 59 {
                return None;
            }
            if hh == 0 && mm == 0 {
                return Some("Z".into());
            }
            Some(format!("{sign}{hh:02}:{mm:02}"))
        }
        _ => None,
    }
}

/// Normalise a metadata title: NUL/control characters dropped, whitespace collapsed.
pub fn clean_title(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

const DOC_EXTENSIONS: &[&str] = &[
    "pdf", "doc", "docx", "dot", "rtf", "odt", "ppt", "pptx", "xls", "xlsx", "tex", "dvi", "ps",
    "eps", "txt", "htm", "html", "md", "indd", "qxd", "qxp", "pub", "tif", "tiff", "jpg", "jpeg",
    "png", "ai", "cdr", "wpd", "pages", "key",
];

const GENERIC: &[&str] = &[
    "untitled",
    "untitled document",
    "no title",
    "title",
    "document",
    "doc",
    "pdf",
    "none",
    "null",
    "unknown",
    "default",
    "new document",
    "blank",
    "slide 1",
    "presentation",
    "powerpoint presentation",
    "microsoft word",
    "(anonymous)",
    "anonymous",
    "tmp",
    "temp",
    "draft",
    "print",
    "output",
    "main",
    "paper",
    "article",
    "thesis",
    "book",
    "report",
];

/// Is this Title metadata worth showing as the document title?
///
/// Rejects: empty; generic placeholders ("untitled", "Title", "Document1", "Slide 1");
/// application-made names ("Microsoft Word - x.doc", "Adobe Photoshop PDF");
/// file-name or path-like strings ("report_v2_final.pdf", "C:\\x\\y.doc", "scan0001",
/// "paper_v2-final"); strings without two letters; mojibake (mostly replacement or
/// private-use characters); absurdly long strings.
pub fn is_meaningful_title(raw: &str) -> bool {
    let t = clean_title(raw);
    let lower = t.to_lowercase();
    let letters = t.chars().filter(|c| c.is_alphabetic()).count();
    if t.is_empty() || letters < 2 || t.chars().count() > 300 {
        return false;
    }
    if GENERIC.contains(&lower.as_str()) {
        return false;
    }
    // Document1, Document 12, Untitled-3, Presentation2, Book1
    let stem: String = lower
        .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == ' ' || c == '_')
        .into();
    if stem.len() < lower.len() && GENERIC.contains(&stem.as_str()) {
        return false;
    }
    for p in [
        "microsoft word -",
        "microsoft powerpoint -",
        "microsoft excel -",
        "microsoft word–",
        "adobe photoshop",
        "untitled-",
        "untitled_",
    ] {
        if lower.starts_with(p) {
            return false;
        }
    }
    // Path-like.
    if t.contains('\\') || (t.contains('/') && !t.contains(' ')) || lower.starts_with("file:") {
        return false;
    }
    // File name with a document extension: "x.doc", "final report.pdf", "a.tex".
    if let Some((_, ext)) = lower.rsplit_once('.')
        && DOC_EXTENSIONS.contains(&ext.trim())
    {
        return false;
    }
    // A single token with underscores or digits-and-letters mixed like a file stem:
    // "scan0001", "paper_v2_final", "IMG-20240101", "ms-2023-0042".
    if !t.contains(' ') {
        let has_sep = t.contains('_') || t.matches('-').count() >= 2;
        let digits = t.chars().filter(|c| c.is_ascii_digit()).count();
        if has_sep || digits >= 3 {
            return false;
        }
    }
    // Mojibake: mostly U+FFFD or private-use characters.
    let weird = t
        .chars()
        .filter(|&c| c == '\u{fffd}' || ('\u{e000}'..='\u{f8ff}').contains(&c))
        .count();
    if weird * 4 > t.chars().count() {
        return false;
    }
    true
}

/// First heading-like line of the first pages' text: the first line (in the first 40
/// non-empty lines) of 3..=150 characters with at least two words of letters, that is
/// not a page number, URL, e-mail address, date-only line or a running header such as
/// "arXiv:...". Returns the cleaned line.
pub fn heading_like_line(text: &str) -> Option<String> {
    for line in text
        .lines()
        .map(clean_title)
        .filter(|l| !l.is_empty())
        .take(40)
    {
        let n = line.chars().count();
        if !(3..=150).contains(&n) {
            continue;
        }
        let lower = line.to_lowercase();
        if lower.contains("http://")
            || lower.contains("https://")
            || lower.contains("www.")
            || lower.contains('@')
        {
            continue;
        }
        if lower.starts_with("arxiv:")
            || lower.starts_with("doi:")
            || lower.starts_with("page ")
            || lower.starts_with("preprint")
        {
            continue;
        }
        let words: Vec<&str> = line
            .split_whitespace()
            .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2)
            .collect();
        if words.len() < 2 && !(words.len() == 1 && words[0].chars().count() >= 4 && n <= 40) {
            continue;
        }
        let letters = line.chars().filter(|c| c.is_alphabetic()).count();
        if letters * 2 < n {
            continue; // mostly digits / symbols: a table row, a date, an equation
        }
        return Some(line);
    }
    None
}

/// Where a PDF's title came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TitleSource {
    /// The Title metadata, judged meaningful.
    Metadata,
    /// The first heading-like line of the first two pages.
    Heading,
}

/// PDF text string (ISO 32000-1 §7.9.2.2): UTF-16BE with BOM, UTF-8 with BOM (PDF 2.0),
/// else PDFDocEncoding.
pub fn decode_text_string(b: &[u8]) -> String {
    if let Some(rest) = b.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = b.strip_prefix(&[0xFF, 0xFE]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = b.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    const HIGH: [char; 33] = [
        '•', '†', '‡', '…', '—', '–', 'ƒ', '⁄', '‹', '›', '−', '‰', '„', '“', '”', '‘', '’', '‚',
        '™', 'ﬁ', 'ﬂ', 'Ł', 'Œ', 'Š', 'Ÿ', 'Ž', 'ı', 'ł', 'œ', 'š', 'ž', '\u{FFFD}', '€',
    ];
    const LOW: [char; 8] = ['˘', 'ˇ', 'ˆ', '˙', '˝', '˛', '˚', '˜'];
    b.iter()
        .map(|&c| match c {
            0x18..=0x1F => LOW[(c - 0x18) as usize],
            0x80..=0xA0 => HIGH[(c - 0x80) as usize],
            c => c as char, // ASCII and Latin-1 above 0xA0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let d = pdf_date_to_rfc3339;
        assert_eq!(
            d("D:20240131235959+01'00'").as_deref(),
            Some("2024-01-31T23:59:59+01:00")
        );
        assert_eq!(
            d("D:20240131235959+01'00").as_deref(),
            Some("2024-01-31T23:59:59+01:00")
        );
        assert_eq!(
            d("D:19990209153925-08'00'").as_deref(),
            Some("1999-02-09T15:39:25-08:00")
        );
        assert_eq!(
            d("D:20240201120000Z").as_deref(),
            Some("2024-02-01T12:00:00Z")
        );
        assert_eq!(
            d("D:20240201120000Z00'00'").as_deref(),
            Some("2024-02-01T12:00:00Z")
        );
        assert_eq!(d("D:2024").as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(d("D:202402").as_deref(), Some("2024-02-01T00:00:00Z"));
        assert_eq!(d("20240201").as_deref(), Some("2024-02-01T00:00:00Z"));
        assert_eq!(d("D:20230229000000Z"), None); // not a leap year
        assert_eq!(d("D:20241301000000Z"), None);
        assert_eq!(d("Tue Feb 1 2024"), None);
        assert_eq!(d(""), None);
        assert_eq!(
            d("D:20240131235959+0530").as_deref(),
            Some("2024-01-31T23:59:59+05:30")
        );
    }

    #[test]
    fn titles() {
        for bad in [
            "",
            "  ",
            "untitled",
            "Untitled",
            "Microsoft Word - x.doc",
            "Microsoft Word - Final Report.docx",
            "Document1",
            "report_v2_final",
            "paper_v2_final.pdf",
            "scan0001",
            "C:\\Users\\me\\paper.doc",
            "/tmp/x.pdf",
            "x.tex",
            "1",
            "---",
            "Presentation1",
            "Title",
            "main.pdf",
            "\u{fffd}\u{fffd}\u{fffd}",
        ] {
            assert!(!is_meaningful_title(bad), "{bad:?} should be rejected");
        }
        for good in [
            "Attention Is All You Need",
            "The longtable package",
            "LaTeX2ε font selection",
            "Babel",
            "kpathsea",
            "bibleref.sty: a LaTeX package for typesetting bible references",
            "Élements de géométrie",
        ] {
            assert!(is_meaningful_title(good), "{good:?} should be kept");
        }
    }

    #[test]
    fn text_strings() {
        assert_eq!(decode_text_string(b"\xfe\xff\x00A\x00\xe9"), "A\u{e9}");
        assert_eq!(
            decode_text_string(b"\xef\xbb\xbfLe\xc3\xa7on"),
            "Le\u{e7}on"
        );
        // PDFDocEncoding: 0x93 is "ﬁ", 0x84 an em dash, 0xE9 é as in Latin-1.
        assert_eq!(
            decode_text_string(b"\x93x \x84 caf\xe9"),
            "\u{fb01}x \u{2014} caf\u{e9}"
        );
        // An odd byte after a UTF-16 BOM is dropped, not a panic.
        assert_eq!(decode_text_string(b"\xfe\xff\x00"), "");
    }

    #[test]
    fn heading() {
        let t = "\n  3\narXiv:1706.03762v5 [cs.CL]\nAttention Is All You Need\nAshish Vaswani\n";
        assert_eq!(
            heading_like_line(t).as_deref(),
            Some("Attention Is All You Need")
        );
        assert_eq!(
            heading_like_line("42\n\n2024-01-31\nwww.example.org x"),
            None
        );
    }
}
