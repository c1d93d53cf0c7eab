//! The auth settings a configuration yields: static bearer tokens and an external OAuth issuer.
//!
//! These are plain settings: the HTTP layer checks requests against them
//! (`crate::server::http::auth`), and the config layer builds them, so they live below both.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The `auth` key: which way clients prove who they are. Unset, it follows what is configured
/// (tokens when there are any, OAuth when `oauth_issuer` is set); set, it is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AuthMode {
    /// No auth (allowed beyond loopback only with `insecure_no_auth`); configured tokens and
    /// issuers are ignored.
    None,
    /// Static bearer tokens, from `DEEPVAULT_TOKENS` or `tokens_file`.
    Tokens,
    /// JWTs from an external OAuth issuer (`oauth_issuer`).
    #[serde(rename = "oauth")]
    OAuth,
}

/// The tokens and OAuth settings that `mode` keeps; an error when the mode lacks what it needs.
pub(crate) fn apply_mode(
    mode: Option<AuthMode>,
    tokens: Vec<StaticToken>,
    oauth: Option<OAuthSettings>,
) -> Result<(Vec<StaticToken>, Option<OAuthSettings>)> {
    match mode {
        None => Ok((tokens, oauth)),
        Some(AuthMode::None) => {
            if !tokens.is_empty() || oauth.is_some() {
                tracing::warn!("auth = none: the configured tokens and OAuth issuer are ignored");
            }
            Ok((Vec::new(), None))
        }
        Some(AuthMode::Tokens) if tokens.is_empty() => Err(Error::Config {
            message: "auth is `tokens`, but no token is configured\n\nhint: set DEEPVAULT_TOKENS (e.g. DEEPVAULT_TOKENS=$(openssl rand -hex 32)), or pass --tokens-file FILE with one token per line".into(),
        }),
        Some(AuthMode::Tokens) => Ok((tokens, None)),
        Some(AuthMode::OAuth) if oauth.is_none() => Err(Error::Config {
            message: "auth is `oauth`, but no issuer is configured\n\nhint: pass --oauth-issuer https://your-issuer.example/ and --public-url https://your-host (or set oauth_issuer and public_url)".into(),
        }),
        Some(AuthMode::OAuth) => Ok((Vec::new(), oauth)),
    }
}

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
