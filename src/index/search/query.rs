//! The query language: free text, with optional `"phrases"`, `-excluded` words or phrases,
//! `tag:x`, `path:folder/`, `title:word` filters, and `key:value` filters on frontmatter
//! properties and inline fields (`status:done`, `author:"Ada"`). Any string parses; there is no
//! syntax error. A `key:value` whose key no note has (`1:16`, `http://…`) and stray quotes are
//! read as plain text.

/// A query split into its parts. Values are raw (not analyzed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedQuery {
    /// The free text, in order (words and phrase contents), for ranking.
    pub text: String,
    /// Quoted phrases.
    pub phrases: Vec<String>,
    /// `-word` or `-"phrase"`.
    pub excluded: Vec<String>,
    /// `tag:x` (lowercased, without `#`).
    pub(crate) tags: Vec<String>,
    /// `path:x`.
    pub(crate) paths: Vec<String>,
    /// `title:x`.
    pub(crate) titles: Vec<String>,
    /// Any other `key:value`: a property filter when some note has the key, else plain text.
    pub(crate) properties: Vec<PropertyFilter>,
}

/// A `key:value` filter on frontmatter properties and inline fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PropertyFilter {
    /// The key as written.
    pub(crate) key: String,
    /// The value, without quotes.
    pub(crate) value: String,
    /// The token as written, ranked as text when no note has the key.
    pub(crate) raw: String,
    /// `-key:value`: notes with this value are left out.
    pub(crate) negated: bool,
}

impl ParsedQuery {
    /// True when the query asks for nothing at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
            && self.tags.is_empty()
            && self.paths.is_empty()
            && self.titles.is_empty()
            && self.properties.iter().all(|p| p.negated)
    }
}

/// Parses a query. `max_chars` bounds the work on huge inputs: text past it is ignored.
pub fn parse_query(input: &str, max_chars: usize) -> ParsedQuery {
    let input: String = input
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut query = ParsedQuery::default();
    let mut text_parts: Vec<String> = Vec::new();
    let mut rest = input.as_str();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let negated = rest.len() > 1
            && rest.starts_with('-')
            && !rest[1..].starts_with(char::is_whitespace)
            && !rest[1..].starts_with('-');
        if negated {
            rest = &rest[1..];
        }
        let (token, quoted, after) = next_token(rest);
        rest = after;
        if token.trim().is_empty() {
            continue;
        }
        if !quoted && let Some(filter) = property_filter(token, negated) {
            query.properties.push(filter);
            continue;
        }
        if negated {
            query.excluded.push(token.to_string());
            continue;
        }
        if quoted {
            query.phrases.push(token.to_string());
            text_parts.push(token.to_string());
            continue;
        }
        if let Some((field, value)) = token.split_once(':') {
            let field = field.to_ascii_lowercase();
            let value = value
                .strip_prefix('"')
                .map_or(value, |v| v.strip_suffix('"').unwrap_or(v));
            let value = value.to_string();
            let known = matches!(field.as_str(), "tag" | "tags" | "path" | "title");
            if known && !value.trim().is_empty() {
                match field.as_str() {
                    "tag" | "tags" => query
                        .tags
                        .push(value.trim().trim_start_matches('#').to_lowercase()),
                    "path" => query.paths.push(value.trim().to_string()),
                    _ => {
                        text_parts.push(value.clone());
                        query.titles.push(value);
                    }
                }
                continue;
            }
        }
        text_parts.push(token.to_string());
    }
    query.text = text_parts.join(" ");
    query
}

/// `key:value` with a key that is not one of the operators: a property filter. The key is
/// letters, digits, `_`, `-` and `.`; the value is not empty.
fn property_filter(token: &str, negated: bool) -> Option<PropertyFilter> {
    let (key, value) = token.split_once(':')?;
    let known = matches!(
        key.to_ascii_lowercase().as_str(),
        "tag" | "tags" | "path" | "title"
    );
    let value = value
        .strip_prefix('"')
        .map_or(value, |v| v.strip_suffix('"').unwrap_or(v))
        .trim();
    let plain_key = !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    (!known && plain_key && !value.is_empty()).then(|| PropertyFilter {
        key: key.to_string(),
        value: value.to_string(),
        raw: token.to_string(),
        negated,
    })
}

/// The next token: a quoted string (closing quote optional) or a run up to whitespace.
fn next_token(input: &str) -> (&str, bool, &str) {
    if let Some(after_quote) = input.strip_prefix('"') {
        return match after_quote.find('"') {
            Some(end) => (&after_quote[..end], true, &after_quote[end + 1..]),
            None => (after_quote, true, ""),
        };
    }
    let mut end = input.find(char::is_whitespace).unwrap_or(input.len());
    // `field:"two words"` stays one token.
    if let Some(colon_quote) = input[..end].find(":\"") {
        let value_start = colon_quote + 2;
        end = input[value_start..]
            .find('"')
            .map_or(input.len(), |close| value_start + close + 1);
    }
    (&input[..end], false, &input[end..])
}

/// English words that carry little meaning in a query (NLTK's list without the negations, plus a
/// few question fillers). They are dropped from the ranked terms only when other words remain,
/// and always kept in quoted phrases.
pub(crate) const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "ain",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "aren",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "couldn",
    "d",
    "did",
    "didn",
    "do",
    "does",
    "doesn",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "get",
    "had",
    "hadn",
    "has",
    "hasn",
    "have",
    "haven",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "im",
    "in",
    "into",
    "is",
    "isn",
    "it",
    "its",
    "itself",
    "just",
    "let",
    "ll",
    "m",
    "ma",
    "me",
    "might",
    "mightn",
    "more",
    "most",
    "must",
    "mustn",
    "my",
    "myself",
    "needn",
    "now",
    "o",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "re",
    "s",
    "same",
    "shan",
    "she",
    "should",
    "shouldn",
    "so",
    "some",
    "such",
    "t",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "ve",
    "very",
    "was",
    "wasn",
    "we",
    "were",
    "weren",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "won",
    "would",
    "wouldn",
    "y",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// True for a lowercase word in [`STOP_WORDS`].
pub(crate) fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_text() {
        let q = parse_query("how do I brew coffee", 1000);
        assert_eq!(q.text, "how do I brew coffee");
        assert!(q.phrases.is_empty() && q.excluded.is_empty());
    }

    #[test]
    fn operators() {
        let q = parse_query(
            r#"tag:#Coffee path:Projects/ title:"release plan" "exact words" -decaf -"cold brew" ratio"#,
            1000,
        );
        assert_eq!(q.tags, vec!["coffee"]);
        assert_eq!(q.paths, vec!["Projects/"]);
        assert_eq!(q.titles, vec!["release plan"]);
        assert_eq!(q.phrases, vec!["exact words"]);
        assert_eq!(q.excluded, vec!["decaf", "cold brew"]);
        assert_eq!(q.text, "release plan exact words ratio");
    }

    #[test]
    fn nothing_is_a_syntax_error() {
        for input in [
            "\"",
            "-",
            "--",
            "tag:",
            "title:\"",
            "a:b:c",
            "((foo AND",
            "\"unclosed phrase",
            "- spaced",
            "http://example.com",
            "c++",
            "[[",
            "\u{0}\u{1}",
            "-\"\"",
            "",
        ] {
            let q = parse_query(input, 1000);
            // parse never panics, and unknown fields stay text
            let _ = q.is_empty();
        }
        // `a:b:c` may be a property filter (key `a`); the planner ranks it as text when no note
        // has that key.
        let q = parse_query("a:b:c", 100);
        assert_eq!(q.text, "");
        assert_eq!(q.properties[0].key, "a");
        assert_eq!(q.properties[0].value, "b:c");
        assert_eq!(q.properties[0].raw, "a:b:c");
        assert_eq!(parse_query("error: disk", 100).text, "error: disk");
        assert_eq!(
            parse_query("\"unclosed phrase", 100).phrases,
            vec!["unclosed phrase"]
        );
        assert_eq!(parse_query("- spaced", 100).text, "- spaced");
        assert!(parse_query("   ", 100).is_empty());
        assert!(!parse_query("tag:x", 100).is_empty());
    }

    #[test]
    fn property_filters() {
        let q = parse_query(
            r#"status:done author:"Ada Lovelace" -stage:draft budget"#,
            1000,
        );
        let got: Vec<_> = q
            .properties
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str(), p.negated))
            .collect();
        assert_eq!(
            got,
            vec![
                ("status", "done", false),
                ("author", "Ada Lovelace", false),
                ("stage", "draft", true)
            ]
        );
        assert_eq!(q.text, "budget");
        assert!(!parse_query("status:done", 100).is_empty());
        // Operators stay operators; quoted text and URLs are not filters on their own.
        assert!(
            parse_query("tag:x title:y path:z", 100)
                .properties
                .is_empty()
        );
        assert!(parse_query("\"k:v\"", 100).properties.is_empty());
        assert_eq!(parse_query("http://x.org", 100).properties[0].key, "http");
    }

    #[test]
    fn huge_queries_are_bounded() {
        let q = parse_query(&"word ".repeat(100_000), 1000);
        assert!(q.text.len() <= 1000);
    }

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        let mut sorted = STOP_WORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, STOP_WORDS);
        assert!(is_stop_word("the"));
        assert!(!is_stop_word("not"));
    }
}
