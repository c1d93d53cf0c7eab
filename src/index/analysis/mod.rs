//! Text analysis: the one analyzer that turns note text and queries into terms.
//!
//! # Layout
//!
//! - [`tokenizer`]: the tokenizer registered with tantivy (Unicode words, CJK bigrams and jieba,
//!   diacritic folding, Snowball stems with a per-thread cache, Greek letters and acronym plurals
//!   normalised); queries go through the same code.
//! - [`spelling`]: British spellings made American before stemming.
//!
//! Any change here changes the terms in the index: bump [`ANALYZER_VERSION`], and existing indexes
//! rebuild at start-up.

pub(crate) mod spelling;
pub mod tokenizer;

/// The analyzer's version, stamped into every commit. Bump the number for any change in how text
/// becomes terms; the stemmer's exact version is part of it.
pub(crate) const ANALYZER_VERSION: &str = "1; frostem 1.20260821.8";

#[cfg(test)]
mod tests {
    /// `cargo update` must not change stems behind an unchanged stamp: the pinned stemmer in
    /// Cargo.lock is the one [`super::ANALYZER_VERSION`] names.
    #[test]
    fn the_stamp_names_the_locked_stemmer() {
        let lock = include_str!("../../../Cargo.lock");
        let version = lock
            .split("[[package]]")
            .find(|package| package.contains("name = \"frostem\""))
            .and_then(|package| package.lines().find(|l| l.starts_with("version = ")))
            .map(|line| line.trim_start_matches("version = ").trim_matches('"'))
            .expect("frostem in Cargo.lock");
        assert!(
            super::ANALYZER_VERSION.ends_with(&format!("frostem {version}")),
            "Cargo.lock has frostem {version}; bump ANALYZER_VERSION to match"
        );
    }
}
