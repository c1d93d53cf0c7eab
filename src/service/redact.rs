//! The way out: one boundary that every response crosses. A [`Redacted`] value is one whose every
//! string, at every depth (object keys included), went through the [`Redactor`]: search and fetch
//! responses, the data note pages and the search page are rendered from, tool error messages,
//! `/readyz` and audit-log lines. Transports take `Redacted` values, so nothing reaches a client
//! or the audit log without crossing it.
//!
//! Notes were redacted when they were read for the index (`crate::vault::ingest`); this second
//! pass covers what did not come from there (a client's own words echoed back, error messages,
//! ids) and is cheap when there is nothing to redact: one DFA scan per string.

use std::ops::Deref;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::vault::redact::Redactor;

/// A value that has crossed the redaction boundary. Read it through `Deref`; change it only with
/// [`Redacted::cut`].
#[derive(Clone, Debug, PartialEq)]
pub struct Redacted<T>(T);

impl<T: Serialize + DeserializeOwned> Redacted<T> {
    /// Serializes `value`, redacts every string in it, and reads it back.
    pub(crate) fn new(value: T, redactor: &Redactor) -> Redacted<T> {
        let mut json = serde_json::to_value(&value).expect("responses serialize to JSON");
        if !redactor.redact_json(&mut json, true) {
            return Redacted(value);
        }
        match serde_json::from_value(json) {
            Ok(clean) => Redacted(clean),
            // A pattern matched one of the type's own field names: redact the values only (map
            // keys that are user data, frontmatter keys, were redacted when the note was read).
            Err(_) => {
                let mut json = serde_json::to_value(&value).expect("responses serialize to JSON");
                redactor.redact_json(&mut json, false);
                Redacted(serde_json::from_value(json).expect("values redacted keep the shape"))
            }
        }
    }
}

impl<T> Redacted<T> {
    /// Changes a redacted value in a way that can only remove content (cutting a text to a
    /// length): cutting after redaction can never leave a secret's tail behind.
    pub(crate) fn cut(mut self, cut: impl FnOnce(&mut T)) -> Redacted<T> {
        cut(&mut self.0);
        self
    }
}

impl<T> Deref for Redacted<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Serialize> Serialize for Redacted<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Response {
        text: String,
        items: Vec<Inner>,
        count: u64,
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Inner {
        title: String,
        map: serde_json::Map<String, serde_json::Value>,
    }

    #[test]
    fn every_string_at_every_depth() {
        let redactor = Redactor::new(true, &[]).unwrap();
        let response = Response {
            text: "key AKIAIOSFODNN7EXAMPLE".into(),
            items: vec![Inner {
                title: "password=hunter2hunter2".into(),
                map: serde_json::from_str(
                    r#"{"AKIAIOSFODNN7EXAMPLE": ["sk-proj-abcdefghijklmnopqrstuvwxyz"]}"#,
                )
                .unwrap(),
            }],
            count: 3,
        };
        let redacted = Redacted::new(response, &redactor);
        let wire = serde_json::to_string(&redacted).unwrap();
        for secret in ["AKIAIOSFODNN7EXAMPLE", "hunter2hunter2", "sk-proj-abc"] {
            assert!(!wire.contains(secret), "{secret}: {wire}");
        }
        assert_eq!(redacted.text, "key [REDACTED aws-access-key]");
        assert_eq!(redacted.count, 3);
        let clean = Response {
            text: "nothing here".into(),
            items: Vec::new(),
            count: 1,
        };
        assert_eq!(*Redacted::new(clean.clone(), &redactor), clean);
    }

    /// A pattern that matches one of the type's own field names still redacts every value.
    #[test]
    fn a_pattern_matching_a_field_name_keeps_the_shape() {
        let redactor = Redactor::new(false, &["text|EMP-[0-9]+".to_string()]).unwrap();
        let response = Response {
            text: "id EMP-123456".into(),
            items: Vec::new(),
            count: 0,
        };
        let redacted = Redacted::new(response, &redactor);
        assert_eq!(redacted.text, "id [REDACTED custom]");
    }

    #[test]
    fn cutting_after_redaction_leaves_no_tail() {
        let redactor = Redactor::new(true, &[]).unwrap();
        let text = format!(
            "{}ghp_R3alLookingTokenAbCdEfGhIjKlMnOpQrSt",
            "x ".repeat(10)
        );
        let redacted = Redacted::new(text, &redactor).cut(|t| t.truncate(30));
        assert!(!redacted.contains("ghp_"), "{}", *redacted);
        assert!(redacted.ends_with("[REDACTED "), "{}", *redacted);
    }
}
