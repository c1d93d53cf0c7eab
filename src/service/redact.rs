//! Redaction: secrets that sit in notes never leave the server. Every search passage, fetched
//! text (and frontmatter value) and note page goes through [`Redactor::redact`], which replaces
//! matches of the configured patterns with `[REDACTED <kind>]` and counts them for `/readyz`.
//!
//! The defaults cover private-key blocks and common key and token formats: AWS access keys,
//! GitHub, OpenAI, Slack, Stripe and Google keys, JWTs, and `password=`/`api_key:` style
//! assignments (the key stays, the value goes). `redact_patterns` adds patterns;
//! `redact_defaults = false` drops the defaults.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use regex::{Regex, RegexSet};

use crate::error::{Error, Result};

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
pub(crate) struct Redactor {
    set: RegexSet,
    patterns: Vec<(String, Regex)>,
    count: AtomicU64,
}

impl Redactor {
    /// The defaults (when `defaults`) plus the user's patterns; a bad pattern is an error that
    /// names it.
    pub(crate) fn new(defaults: bool, extra: &[String]) -> Result<Redactor> {
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
        Ok(Redactor {
            set,
            patterns: compiled,
            count: AtomicU64::new(0),
        })
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
                match (kind.as_str(), caps.get(1)) {
                    ("assignment", Some(key)) => format!("{}[REDACTED]", key.as_str()),
                    _ => format!("[REDACTED {kind}]"),
                }
            });
            if replaced > 0 {
                out = result.into_owned();
                total += replaced;
            }
        }
        self.count.fetch_add(total, Ordering::Relaxed);
        Cow::Owned(out)
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
        assert_eq!(out, "key:\n[REDACTED private-key]\ndone");
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
}
