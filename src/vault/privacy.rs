//! Which notes are private: a frontmatter key with a value (`deepvault: private` by default) or a
//! private tag (`#private`, nested tags included). Private notes never enter the index.
//!
//! The marker is read from the note as written, before any redaction, and it fails closed: keys
//! and values match ignoring case (`Deepvault: Private`), and when the frontmatter cannot be
//! parsed (a YAML typo, a duplicated key) its lines are still read for the key and for private
//! tags.

use serde_json::{Map, Value};

use super::note::tag_keys;

/// Who marks a note private.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Privacy {
    /// Frontmatter key, `deepvault` by default.
    pub(crate) key: String,
    /// Value of that key that makes a note private, `private` by default.
    pub(crate) value: String,
    /// Tags that make a note private (lowercase), `private` by default.
    pub(crate) tags: Vec<String>,
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy {
            key: "deepvault".into(),
            value: "private".into(),
            tags: vec!["private".into()],
        }
    }
}

/// True when parsed frontmatter marks the note private, by the key or by a private tag.
pub(crate) fn frontmatter_is_private(frontmatter: &Map<String, Value>, privacy: &Privacy) -> bool {
    frontmatter.iter().any(|(key, value)| {
        let key = key.trim();
        if key.eq_ignore_ascii_case(&privacy.key) && value_marks(value, &privacy.value) {
            return true;
        }
        is_tags_key(key) && value_tags(value).any(|tag| tag_is_private(tag, privacy))
    })
}

/// True when any of these tags (without `#`) is private, or nested under a private tag.
pub(crate) fn tags_are_private<'t>(
    tags: impl IntoIterator<Item = &'t String>,
    privacy: &Privacy,
) -> bool {
    tags.into_iter().any(|tag| tag_is_private(tag, privacy))
}

/// Frontmatter that could not be parsed, read line by line: `key: value`, `key: [a, b]` and
/// `- item` lines under a key. Generous on purpose: a line that looks like the marker marks the
/// note private.
pub(crate) fn raw_frontmatter_is_private(yaml: &str, privacy: &Privacy) -> bool {
    let mut current_key = String::new();
    for line in yaml.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, values) = match line.strip_prefix('-') {
            Some(item) => (current_key.as_str(), item),
            None => match line.split_once(':') {
                Some((key, rest)) => {
                    current_key = key.trim().trim_matches(['"', '\'']).to_string();
                    (current_key.as_str(), rest)
                }
                None => (current_key.as_str(), line),
            },
        };
        let mut words = values
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '{' | '}'))
            .map(|word| word.trim_matches(['"', '\'']))
            .filter(|word| !word.is_empty());
        let marked = if key.eq_ignore_ascii_case(&privacy.key) {
            words.any(|word| word.eq_ignore_ascii_case(&privacy.value))
        } else if is_tags_key(key) {
            words.any(|word| tag_is_private(word, privacy))
        } else {
            false
        };
        if marked {
            return true;
        }
    }
    false
}

fn is_tags_key(key: &str) -> bool {
    key.eq_ignore_ascii_case("tags") || key.eq_ignore_ascii_case("tag")
}

fn value_marks(value: &Value, wanted: &str) -> bool {
    match value {
        Value::String(s) => s.trim().eq_ignore_ascii_case(wanted),
        Value::Bool(b) => wanted.trim().eq_ignore_ascii_case(&b.to_string()),
        Value::Number(n) => wanted.trim() == n.to_string(),
        Value::Array(items) => items.iter().any(|item| value_marks(item, wanted)),
        Value::Null | Value::Object(_) => false,
    }
}

/// The tags a `tags:` value names: a list, or a string of words separated by commas or spaces.
fn value_tags(value: &Value) -> Box<dyn Iterator<Item = &str> + '_> {
    match value {
        Value::String(s) => Box::new(
            s.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|t| !t.is_empty()),
        ),
        Value::Array(items) => Box::new(items.iter().flat_map(value_tags)),
        _ => Box::new(std::iter::empty()),
    }
}

fn tag_is_private(tag: &str, privacy: &Privacy) -> bool {
    let tag = tag.trim().trim_start_matches('#');
    !tag.is_empty() && tag_keys(tag).iter().any(|key| privacy.tags.contains(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frontmatter(yaml: &str) -> Map<String, Value> {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn private(yaml: &str) -> bool {
        frontmatter_is_private(&frontmatter(yaml), &Privacy::default())
    }

    #[test]
    fn string_bool_and_list_values() {
        assert!(private("deepvault: private"));
        assert!(private("deepvault: Private"));
        assert!(
            private("Deepvault: PRIVATE"),
            "the key matches ignoring case"
        );
        assert!(private("deepvault: [public, private]"));
        assert!(private("deepvault:\n  - private\n"));
        assert!(!private("deepvault: public"));
        assert!(
            !private("deepvault: true"),
            "a bool is not the value `private`"
        );
        assert!(!private("other: private"));
        // A configured value of `true` matches a YAML bool, and a string that says so.
        let flag = Privacy {
            key: "secret".into(),
            value: "true".into(),
            tags: vec![],
        };
        for yaml in ["secret: true", "secret: 'True'", "secret: [true]"] {
            assert!(frontmatter_is_private(&frontmatter(yaml), &flag), "{yaml}");
        }
        assert!(!frontmatter_is_private(
            &frontmatter("secret: false"),
            &flag
        ));
    }

    #[test]
    fn private_tags_in_frontmatter_and_text() {
        assert!(private("tags: [private]"));
        assert!(private("tags: work, private"));
        assert!(
            private("tags: '#Private/health'"),
            "nested under a private tag"
        );
        assert!(private("Tags:\n  - private\n"));
        assert!(!private("tags: [privateer, work]"));
        let tags = ["work".to_string(), "Private/diary".to_string()];
        assert!(tags_are_private(&tags, &Privacy::default()));
        assert!(!tags_are_private(&tags[..1], &Privacy::default()));
    }

    /// Frontmatter that YAML refuses still marks the note: the marker fails closed.
    #[test]
    fn unparseable_frontmatter_is_read_line_by_line() {
        let privacy = Privacy::default();
        for yaml in [
            "deepvault: private\ntitle: [unclosed\n",
            "title: a\ntitle: b\ndeepvault: private\n",
            "Deepvault: Private\n\tbad: indent\n",
            "\"deepvault\": 'private'\nx: {\n",
            "deepvault:\n  - private\nbroken: [\n",
            "tags: [work, private\n",
            "tags:\n  - work\n  - '#private'\n: nonsense\n",
        ] {
            let parsed = crate::vault::parse::parse_frontmatter(yaml);
            assert!(parsed.is_err(), "{yaml} parses: {parsed:?}");
            assert!(raw_frontmatter_is_private(yaml, &privacy), "{yaml}");
        }
        for yaml in [
            "title: [unclosed\n",
            "deepvault: public\nx: [\n",
            "description: private matters\nx: [\n",
        ] {
            assert!(!raw_frontmatter_is_private(yaml, &privacy), "{yaml}");
        }
    }
}
