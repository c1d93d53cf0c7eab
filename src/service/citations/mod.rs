//! Citations: the `url` every search hit and fetched note carries.
//!
//! # Layout
//!
//! - this file: [`Citations`], the configured template rendered for one note, signed when the
//!   URL points at deepvault's own pages and `pages = "signed"`.
//! - [`signing`]: HMAC signatures that let one citation link open its one note.
//!
//! The template's syntax and rendering are in [`crate::config::url_template`].

pub(crate) mod signing;

use crate::config::url_template::{
    FILE_PAGE_TEMPLATE, FILE_TEMPLATE, FILES_TEMPLATE, OBSIDIAN_TEMPLATE, Target, UrlTemplate,
};
use crate::config::{Config, DEFAULT_URL_TEMPLATE, PagesMode};
use crate::error::Result;
use crate::vault::Vault;
use crate::vault::note::DocumentKind;
use signing::PageSigner;

/// How citation URLs are made.
#[derive(Clone, Debug)]
pub struct Citations {
    pub(crate) template: UrlTemplate,
    /// What a PDF's citation uses instead, when the template is a default one: the file itself
    /// at the page (`/files/…#page=N`), which a note page could not show.
    pub(crate) pdf_template: Option<UrlTemplate>,
    pub(crate) public_url: String,
    pub(crate) vault_name: String,
    /// The vault folder's absolute path, for `{root}`.
    pub(crate) root: String,
    /// Signs links to deepvault's own note pages (`pages = "signed"`).
    pub(crate) signer: Option<PageSigner>,
}

impl Citations {
    /// Citations for the configured template, with `{public_url}` from `--public-url` or else
    /// `http://` + the address the server listens on.
    pub fn from_config(config: &Config, vault_name: &str) -> Result<Citations> {
        Citations::with_base(config, vault_name, config.base_url())
    }

    /// Citations with an explicit base URL (the actually bound address, e.g. after port 0).
    /// With `pages = "signed"`, links to the note pages carry signatures made with the index
    /// folder's page secret.
    pub(crate) fn with_base(
        config: &Config,
        vault_name: &str,
        base_url: String,
    ) -> Result<Citations> {
        Citations::build(config, vault_name, base_url, &config.url_template)
    }

    /// Citations for a server that serves no note pages (stdio without `--listen`): the
    /// configured template when one was set, or a `--public-url` names pages that another
    /// server provides; else the note itself, in Obsidian for an Obsidian vault, else its file.
    pub(crate) fn without_pages(config: &Config, vault: &Vault) -> Result<Citations> {
        let template = if config.url_template != DEFAULT_URL_TEMPLATE || config.public_url.is_some()
        {
            config.url_template.as_str()
        } else if vault.is_obsidian() {
            OBSIDIAN_TEMPLATE
        } else {
            FILE_TEMPLATE
        };
        Citations::build(config, vault.name(), config.base_url(), template)
    }

    fn build(
        config: &Config,
        vault_name: &str,
        base_url: String,
        template: &str,
    ) -> Result<Citations> {
        let root = std::fs::canonicalize(&config.vault).unwrap_or_else(|_| config.vault.clone());
        let signer = match config.pages {
            PagesMode::Signed => Some(PageSigner::load_or_create(
                &config.index_dir,
                config.page_link_ttl,
            )?),
            PagesMode::Public | PagesMode::Token => None,
        };
        let pdf_template = match template {
            DEFAULT_URL_TEMPLATE => Some(FILES_TEMPLATE),
            FILE_TEMPLATE => Some(FILE_PAGE_TEMPLATE),
            _ => None,
        };
        Ok(Citations {
            template: UrlTemplate::parse(template)?,
            pdf_template: pdf_template.map(UrlTemplate::parse).transpose()?,
            public_url: base_url,
            vault_name: vault_name.to_string(),
            root: root.to_string_lossy().replace('\\', "/"),
            signer,
        })
    }

    /// The scheme citations use (`http`, `obsidian`, `file`, …), for the log.
    pub(crate) fn scheme(&self) -> String {
        let url = self.url(Target {
            id: "note.md",
            ..Target::default()
        });
        match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}:// links"),
            None => "custom links".to_string(),
        }
    }

    pub(crate) fn url(&self, target: Target<'_>) -> String {
        let template = match &self.pdf_template {
            Some(pdf)
                if crate::vault::rules::document_kind(target.id) == Some(DocumentKind::Pdf) =>
            {
                pdf
            }
            _ => &self.template,
        };
        let url = template.render(&self.public_url, &self.vault_name, &self.root, target);
        match &self.signer {
            Some(signer) if template.uses_own_pages() => {
                let (before, fragment) = match url.split_once('#') {
                    Some((before, fragment)) => (before, Some(fragment)),
                    None => (url.as_str(), None),
                };
                let separator = if before.contains('?') { '&' } else { '?' };
                let mut signed = format!("{before}{separator}{}", signer.query(target.id));
                if let Some(fragment) = fragment {
                    signed.push('#');
                    signed.push_str(fragment);
                }
                signed
            }
            _ => url,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn citations(template: &str, signed: bool) -> Citations {
        Citations {
            template: UrlTemplate::parse(template).unwrap(),
            pdf_template: (template == DEFAULT_URL_TEMPLATE)
                .then(|| UrlTemplate::parse(FILES_TEMPLATE).unwrap()),
            public_url: "https://notes.example.com".into(),
            vault_name: "Vault".into(),
            root: "/home/me/Vault".into(),
            signer: signed.then(|| PageSigner::with_key([7; 32], None)),
        }
    }

    fn target<'a>(id: &'a str, anchor: Option<&'a str>) -> Target<'a> {
        Target {
            id,
            anchor,
            heading: anchor,
            line: Some(3),
        }
    }

    /// The signature goes into the query string, before the fragment, joined with `?` or `&`
    /// as the template's URL needs; URLs that do not open deepvault's pages are never signed.
    #[test]
    fn signatures_are_spliced_before_the_fragment() {
        let signer = PageSigner::with_key([7; 32], None);
        let sig = signer.query("A b.md");

        let plain = citations("{public_url}/notes/{path}{#anchor}", true);
        assert_eq!(
            plain.url(target("A b.md", Some("part-two"))),
            format!("https://notes.example.com/notes/A%20b.md?{sig}#part-two")
        );
        assert_eq!(
            plain.url(target("A b.md", None)),
            format!("https://notes.example.com/notes/A%20b.md?{sig}")
        );

        let with_query = citations("{public_url}/notes/{path}?view=1{#anchor}", true);
        assert_eq!(
            with_query.url(target("A b.md", Some("x"))),
            format!("https://notes.example.com/notes/A%20b.md?view=1&{sig}#x")
        );

        let unsigned = citations("{public_url}/notes/{path}{#anchor}", false);
        assert_eq!(
            unsigned.url(target("A b.md", Some("x"))),
            "https://notes.example.com/notes/A%20b.md#x"
        );
        // A PDF's citation opens the file at the page, signed the same way.
        let paper = signer.query("P/Paper.pdf");
        assert_eq!(
            plain.url(target("P/Paper.pdf", Some("page=3"))),
            format!("https://notes.example.com/files/P/Paper.pdf?{paper}#page=3")
        );
        let paged = citations("https://example.com/{path}?p={page}", false);
        assert_eq!(
            paged.url(target("P/Paper.pdf", Some("page=12"))),
            "https://example.com/P/Paper.pdf?p=12"
        );
        assert_eq!(
            paged.url(target("a.md", Some("x"))),
            "https://example.com/a.md?p=1"
        );
        let elsewhere = citations("https://github.com/me/notes/blob/main/{path}#L{line}", true);
        assert_eq!(
            elsewhere.url(target("A b.md", Some("x"))),
            "https://github.com/me/notes/blob/main/A%20b.md#L3"
        );
    }
}
