//! The auth settings a configuration yields: static bearer tokens and an external OAuth issuer.
//!
//! These are plain settings: the HTTP layer checks requests against them
//! (`crate::server::http::auth`), and the config layer builds them, so they live below both.

use sha2::{Digest, Sha256};

/// One static token: its label and the SHA-256 of its value.
#[derive(Clone)]
pub(crate) struct StaticToken {
    pub(crate) label: String,
    pub(crate) digest: [u8; 32],
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticToken")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl StaticToken {
    pub(crate) fn new(label: Option<&str>, value: &str) -> StaticToken {
        let digest: [u8; 32] = Sha256::digest(value.as_bytes()).into();
        let label = label.map(str::to_string).unwrap_or_else(|| {
            let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
            format!("token-{hex}")
        });
        StaticToken { label, digest }
    }
}

/// OAuth settings.
#[derive(Clone, Debug)]
pub(crate) struct OAuthSettings {
    pub(crate) issuer: String,
    /// Accepted `aud` values: our canonical resource URL, plus any configured audience.
    pub(crate) audiences: Vec<String>,
    /// The JWKS URL; found by discovery from the issuer when `None`.
    pub(crate) jwks_url: Option<String>,
    /// Scopes every token must carry.
    pub(crate) scopes: Vec<String>,
    /// Our canonical resource URL (`…/mcp`), announced in the metadata.
    pub(crate) resource: String,
    /// Where the protected-resource metadata is served.
    pub(crate) metadata_url: String,
}
