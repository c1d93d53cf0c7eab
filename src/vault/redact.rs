//! Redaction: what of a note's text may ever be kept. Secrets are replaced twice, once at each
//! end: when a note is read for the index (so a secret is never stored, searchable or part of an
//! anchor; see [`crate::vault::ingest`]), and on the way out, where every string of every
//! response goes through the same patterns (`crate::service::redact`).
//!
//! A match becomes `[REDACTED <kind>]`; an assignment keeps its key (`password = [REDACTED]`).
//! A replacement keeps the line count of what it replaced, so line numbers after a redacted
//! private-key block stay those of the file. The defaults cover private-key blocks and common key
//! and token formats: AWS access keys, GitHub, OpenAI, Slack, Stripe and Google keys, JWTs, and
//! `password=`/`api_key:` style assignments. `redact_patterns` adds patterns;
//! `redact_defaults = false` drops the defaults. [`Redactor::fingerprint`] names the effective
//! patterns, so an index made with other patterns is rebuilt.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use regex::{Regex, RegexSet};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Bump when what a redaction produces changes (the label, the line keeping): indexes stamped
/// with another version are rebuilt.
const REDACTION_VERSION: u32 = 1;

/// Frontmatter strings longer than this are not also checked as `key: value` (an assignment's
/// value is short; a long text is checked on its own).
const MAX_JOINED_VALUE: usize = 4096;

/// The default patterns: (kind, regex). An assignment keeps its first capture group. Word
/// boundaries are ASCII (`(?-u:\b)`): secrets are ASCII, and a Unicode `\b` keeps the regex
/// engine off its DFA for any text with a non-ASCII character, which made the no-secret check a
/// tenth of a search's time.
const DEFAULTS: &[(&str, &str)] = &[
    (
        "private-key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\z)",
    ),
    (
        "aws-access-key",
        r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}(?-u:\b)",
    ),
    (
        "github-token",
        r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?-u:\b)",
    ),
    (
        "openai-key",
        r"(?-u:\b)sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
    ),
    ("slack-token", r"(?-u:\b)xox[abposr]-[A-Za-z0-9-]{10,}"),
    (
        "slack-webhook",
        r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+",
    ),
    (
        "stripe-key",
        r"(?-u:\b)(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}(?-u:\b)|(?-u:\b)whsec_[A-Za-z0-9]{10,}(?-u:\b)",
    ),
    ("google-api-key", r"(?-u:\b)AIza[0-9A-Za-z_-]{35}(?-u:\b)"),
    (
        "jwt",
        r"(?-u:\b)eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    ),
    (
        "assignment",
        r#"(?i)((?:(?-u:\b)|_)(?:password|passwd|pwd|passphrase|secret|client[_-]?secret|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|access[_-]?token|auth[_-]?token|token)(?-u:\b)["']?\s*[:=]\s*)["']?[^\s"',;\[][^\s"',;]{3,}["']?"#,
    ),
];

/// A compiled set of patterns and a counter of redactions made.
#[derive(Debug)]
pub struct Redactor {
    set: RegexSet,
    patterns: Vec<(String, Regex)>,
    fingerprint: String,
    count: AtomicU64,
}

impl Redactor {
    /// The defaults (when `defaults`) plus the user's patterns; a bad pattern is an error that
    /// names it.
    pub fn new(defaults: bool, extra: &[String]) -> Result<Redactor> {
        let mut patterns: Vec<(String, String)> = Vec::new();
        if defaults {
            patterns.extend(DEFAULTS.iter().map(|(k, p)| (k.to_string(), p.to_string())));
        }
        patterns.extend(extra.iter().map(|p| ("custom".to_string(), p.clone())));
        let compiled = patterns
            .iter()
            .map(|(kind, pattern)| {
                Regex::new(pattern)
                    .map(|regex| (kind.clone(), regex))
                    .map_err(|err| Error::Config {
                        message: format!(
                            "redact pattern `{pattern}` is not a valid regular expression: {err}"
                        ),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let set = RegexSet::new(patterns.iter().map(|(_, p)| p)).map_err(|err| Error::Config {
            message: format!("redact patterns cannot be combined: {err}"),
        })?;
        let mut stamp = format!("redaction {REDACTION_VERSION}");
        for (kind, pattern) in &patterns {
            stamp.push('\n');
            stamp.push_str(kind);
            stamp.push('\t');
            stamp.push_str(pattern);
        }
        Ok(Redactor {
            set,
            patterns: compiled,
            fingerprint: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(stamp.as_bytes())),
            count: AtomicU64::new(0),
        })
    }

    /// Names the effective patterns (and how they are applied): equal for equal redaction.
    pub(crate) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// True when `text` holds something to redact.
    pub fn is_match(&self, text: &str) -> bool {
        self.set.is_match(text)
    }

    /// Where secrets are in `text`: the match of every pattern (ranges may overlap).
    pub(crate) fn spans(&self, text: &str) -> Vec<Range<usize>> {
        if !self.set.is_match(text) {
            return Vec::new();
        }
        self.set
            .matches(text)
            .iter()
            .flat_map(|index| self.patterns[index].1.find_iter(text).map(|m| m.range()))
            .collect()
    }

    /// Replaces every secret in `text`; borrows when there is none.
    pub(crate) fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        // `is_match` stops at the first match and can use the set's DFA; `matches` must find
        // every pattern that matches, which runs the slow PikeVM over the whole text (a tenth of
        // the search profile, for the common case of nothing to redact).
        if !self.set.is_match(text) {
            return Cow::Borrowed(text);
        }
        let matched = self.set.matches(text);
        let mut out = text.to_string();
        let mut total = 0u64;
        for index in matched.iter() {
            let (kind, regex) = &self.patterns[index];
            let mut replaced = 0u64;
            let result = regex.replace_all(&out, |caps: &regex::Captures<'_>| {
                replaced += 1;
                // Assignments keep their key: `password = [REDACTED]`.
                let mut label = match (kind.as_str(), caps.get(1)) {
                    ("assignment", Some(key)) => format!("{}[REDACTED]", key.as_str()),
                    _ => format!("[REDACTED {kind}]"),
                };
                // The same number of lines, so that line numbers after it stay true.
                let kept = label.matches('\n').count();
                let lines = caps[0].matches('\n').count().saturating_sub(kept);
                label.extend(std::iter::repeat_n('\n', lines));
                label
            });
            if replaced > 0 {
                out = result.into_owned();
                total += replaced;
            }
        }
        self.count.fetch_add(total, Ordering::Relaxed);
        Cow::Owned(out)
    }

    /// Redacts a string in place; true when it changed.
    pub(crate) fn redact_string(&self, text: &mut String) -> bool {
        match self.redact(text) {
            Cow::Borrowed(_) => false,
            Cow::Owned(clean) => {
                *text = clean;
                true
            }
        }
    }

    /// Redacts every string inside a JSON value, at every depth, and the keys of its objects
    /// when `keys`. True when something changed.
    pub(crate) fn redact_json(&self, value: &mut Value, keys: bool) -> bool {
        match value {
            Value::String(text) => self.redact_string(text),
            Value::Array(items) => items.iter_mut().fold(false, |changed, item| {
                self.redact_json(item, keys) | changed
            }),
            Value::Object(map) => {
                let mut changed = false;
                if keys && map.keys().any(|key| self.is_match(key)) {
                    *map = std::mem::take(map)
                        .into_iter()
                        .map(|(key, value)| (self.redact(&key).into_owned(), value))
                        .collect();
                    changed = true;
                }
                map.values_mut().fold(changed, |changed, item| {
                    self.redact_json(item, keys) | changed
                })
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }

    /// Redacts a note's frontmatter: keys, and every string and number at every depth. A value
    /// is also checked together with its key, so that `password: hunter2` in YAML loses its
    /// value as `password = hunter2` does in text.
    pub(crate) fn redact_frontmatter(&self, map: &mut Map<String, Value>) {
        let entries = std::mem::take(map);
        for (key, mut value) in entries {
            let key = self.redact(&key).into_owned();
            self.redact_entry(&key, &mut value);
            map.insert(key, value);
        }
    }

    fn redact_entry(&self, key: &str, value: &mut Value) {
        match value {
            Value::String(text) => {
                self.redact_string(text);
                if let Some(clean) = self.redact_with_key(key, text) {
                    *text = clean;
                }
            }
            Value::Number(number) => {
                let mut text = number.to_string();
                let mut changed = self.redact_string(&mut text);
                if let Some(clean) = self.redact_with_key(key, &text) {
                    text = clean;
                    changed = true;
                }
                if changed {
                    *value = Value::String(text);
                }
            }
            Value::Array(items) => items
                .iter_mut()
                .for_each(|item| self.redact_entry(key, item)),
            Value::Object(map) => self.redact_frontmatter(map),
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// `value` redacted as the `key: value` line it was written as, when that changes it.
    fn redact_with_key(&self, key: &str, value: &str) -> Option<String> {
        if value.len() > MAX_JOINED_VALUE {
            return None;
        }
        let prefix = format!("{key}: ");
        let joined = format!("{prefix}{value}");
        match self.redact(&joined) {
            Cow::Owned(clean) => clean.strip_prefix(&prefix).map(str::to_string),
            Cow::Borrowed(_) => None,
        }
    }

    /// Redactions made since start.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(text: &str) -> String {
        Redactor::new(true, &[]).unwrap().redact(text).into_owned()
    }

    #[test]
    fn default_patterns() {
        let cases = [
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
            "sk-abcdefghijklmnopqrstuvwxyz012345",
            "xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx",
            "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
            "sk_live_abcdefghijklmnop1234",
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ];
        for secret in cases {
            let out = redacted(&format!("before {secret} after"));
            assert!(!out.contains(secret), "{secret} survived: {out}");
            assert!(out.starts_with("before [REDACTED"), "{out}");
            assert!(out.ends_with(" after"), "{out}");
        }
    }

    #[test]
    fn private_key_blocks_and_assignments() {
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAA\n-----END OPENSSH PRIVATE KEY-----";
        let out = redacted(&format!("key:\n{key}\ndone"));
        // The lines of the block are kept, so that line numbers after it stay true.
        assert_eq!(out, "key:\n[REDACTED private-key]\n\n\n\ndone");
        assert_eq!(redacted("password = hunter22"), "password = [REDACTED]");
        assert_eq!(redacted("api_key: \"abcd1234efgh\""), "api_key: [REDACTED]");
        assert_eq!(redacted("DB_PASSWORD=s3cr3t!x"), "DB_PASSWORD=[REDACTED]");
        assert_eq!(
            redacted("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG"),
            "aws_secret_access_key = [REDACTED]"
        );
        assert_eq!(redacted("the password is long"), "the password is long");
        // A value another pattern already redacted is not redacted twice.
        assert_eq!(
            redacted("api_key = \"sk-test-abcdefghijklmnopqrstuvwx\""),
            "api_key = \"[REDACTED openai-key]\""
        );
    }

    #[test]
    fn ordinary_text_is_untouched_and_borrowed() {
        let redactor = Redactor::new(true, &[]).unwrap();
        let text = "A token of appreciation; sk-learn is a library; AKIA is a prefix.";
        assert!(matches!(redactor.redact(text), Cow::Borrowed(_)));
        assert_eq!(redactor.count(), 0);
    }

    #[test]
    fn custom_patterns_and_counting() {
        let redactor = Redactor::new(false, &[r"\bEMP-\d{6}\b".to_string()]).unwrap();
        assert_eq!(
            redactor.redact("ids EMP-123456 and EMP-654321"),
            "ids [REDACTED custom] and [REDACTED custom]"
        );
        assert_eq!(redactor.count(), 2);
        assert_eq!(
            redactor.redact("AKIAIOSFODNN7EXAMPLE"),
            "AKIAIOSFODNN7EXAMPLE"
        );
        let err = Redactor::new(true, &["(unclosed".to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("(unclosed"), "{err}");
    }

    #[test]
    fn frontmatter_keys_values_and_assignments_by_key() {
        let redactor = Redactor::new(true, &[]).unwrap();
        let mut map: Map<String, Value> = serde_json::from_str(
            r#"{"password": "hunter2hunter2", "db_password": 12345678, "note": "ok",
                "aliases": ["password=aliaspass123", "fine"],
                "nested": {"api_key": "abcd1234efgh", "deep": ["AKIAIOSFODNN7EXAMPLE"]},
                "ghp_abcdefghijklmnopqrstuvwxyz0123456789": true,
                "title": "a title", "count": 3}"#,
        )
        .unwrap();
        redactor.redact_frontmatter(&mut map);
        let text = serde_json::to_string(&map).unwrap();
        for secret in [
            "hunter2hunter2",
            "12345678",
            "aliaspass123",
            "abcd1234efgh",
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_abcdefghij",
        ] {
            assert!(!text.contains(secret), "{secret} survived: {text}");
        }
        assert_eq!(map["password"], "[REDACTED]");
        assert_eq!(map["db_password"], "[REDACTED]");
        assert_eq!(map["aliases"][0], "password=[REDACTED]");
        assert_eq!(map["nested"]["api_key"], "[REDACTED]");
        assert_eq!(map["note"], "ok");
        assert_eq!(map["title"], "a title");
        assert_eq!(map["count"], 3, "numbers that hold no secret stay numbers");
        assert!(map.contains_key("[REDACTED github-token]"), "{text}");
    }

    #[test]
    fn json_strings_at_every_depth() {
        let redactor = Redactor::new(true, &[]).unwrap();
        let mut value = serde_json::json!({
            "a": ["x", {"b": "key AKIAIOSFODNN7EXAMPLE here"}],
            "AKIAIOSFODNN7EXAMPLE": 1,
            "n": 5
        });
        let mut values_only = value.clone();
        assert!(redactor.redact_json(&mut values_only, false));
        assert!(values_only.get("AKIAIOSFODNN7EXAMPLE").is_some());
        assert!(redactor.redact_json(&mut value, true));
        assert_eq!(
            value,
            serde_json::json!({
                "a": ["x", {"b": "key [REDACTED aws-access-key] here"}],
                "[REDACTED aws-access-key]": 1,
                "n": 5
            })
        );
        assert!(!redactor.redact_json(&mut value, true), "idempotent");
    }

    #[test]
    fn the_fingerprint_names_the_patterns() {
        let a = Redactor::new(true, &[]).unwrap();
        assert_eq!(
            a.fingerprint(),
            Redactor::new(true, &[]).unwrap().fingerprint()
        );
        for other in [
            Redactor::new(false, &[]).unwrap(),
            Redactor::new(true, &["EMP-[0-9]+".to_string()]).unwrap(),
        ] {
            assert_ne!(a.fingerprint(), other.fingerprint());
        }
    }
}
