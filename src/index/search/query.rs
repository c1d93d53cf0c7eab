//! The query language: free text, with optional `"phrases"`, `-excluded` words or phrases, and
//! `tag:x`, `path:folder/`, `title:word` filters. Any string parses; there is no syntax error.
//! Unknown `field:value` pairs and stray quotes are read as plain text.

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
}

impl ParsedQuery {
    /// True when the query asks for nothing at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
            && self.tags.is_empty()
            && self.paths.is_empty()
            && self.titles.is_empty()
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
        assert_eq!(parse_query("a:b:c", 100).text, "a:b:c");
        assert_eq!(
            parse_query("\"unclosed phrase", 100).phrases,
            vec!["unclosed phrase"]
        );
        assert_eq!(parse_query("- spaced", 100).text, "- spaced");
        assert!(parse_query("   ", 100).is_empty());
        assert!(!parse_query("tag:x", 100).is_empty());
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
