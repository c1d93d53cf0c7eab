//! The auth settings a configuration yields: static bearer tokens, an external OAuth issuer, and
//! whether deepvault is its own authorization server (the built-in one, `auth = "builtin"`).
//!
//! These are plain settings: the HTTP layer checks requests against them
//! (`crate::server::http::auth`), and the config layer builds them, so they live below both.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The `auth` key: which way clients prove who they are. `auto` follows what is configured;
/// the others are checked against it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AuthMode {
    /// Static tokens or `oauth_issuer` when configured; otherwise the built-in OAuth server
    /// when `public_url` is not loopback (unless `insecure_no_auth`); otherwise none.
    #[default]
    Auto,
    /// deepvault's own OAuth 2.1 authorization server, on any public URL (also loopback).
    Builtin,
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
    mode: AuthMode,
    tokens: Vec<StaticToken>,
    oauth: Option<OAuthSettings>,
) -> Result<(Vec<StaticToken>, Option<OAuthSettings>)> {
    match mode {
        AuthMode::Auto | AuthMode::Builtin => Ok((tokens, oauth)),
        AuthMode::None => {
            if !tokens.is_empty() || oauth.is_some() {
                tracing::warn!("auth = none: the configured tokens and OAuth issuer are ignored");
            }
            Ok((Vec::new(), None))
        }
        AuthMode::Tokens if tokens.is_empty() => Err(Error::Config {
            message: "auth is `tokens`, but no token is configured\n\nhint: set DEEPVAULT_TOKENS (e.g. DEEPVAULT_TOKENS=$(openssl rand -hex 32)), or pass --tokens-file FILE with one token per line".into(),
        }),
        AuthMode::Tokens => Ok((tokens, None)),
        AuthMode::OAuth if oauth.is_none() => Err(Error::Config {
            message: "auth is `oauth`, but no issuer is configured\n\nhint: pass --oauth-issuer https://your-issuer.example/ and --public-url https://your-host (or set oauth_issuer and public_url)".into(),
        }),
        AuthMode::OAuth => Ok((Vec::new(), oauth)),
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

/// True when a URL's host is loopback (`localhost`, `127.0.0.0/8`, `[::1]`): only this machine
/// reaches it, so no auth is needed by default.
pub(crate) fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl super::AuthConfig {
    /// The auth mode in a few words, for the start-up banner and `deepvault connect`.
    pub(crate) fn describe(&self) -> String {
        let mut modes = Vec::new();
        if self.builtin {
            modes.push("built-in OAuth".to_string());
        }
        if let Some(oauth) = &self.oauth {
            modes.push(format!("OAuth from {}", oauth.issuer));
        }
        if !self.tokens.is_empty() {
            modes.push(format!("{} static token(s)", self.tokens.len()));
        }
        if modes.is_empty() {
            return if self.insecure_no_auth {
                "none (--insecure-no-auth)".into()
            } else {
                "none".into()
            };
        }
        modes.join(" + ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls() {
        for url in [
            "http://127.0.0.1:8765",
            "http://localhost",
            "http://[::1]:9/x",
            "http://127.1.2.3",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "https://notes.example.com",
            "https://abc.trycloudflare.com/",
            "http://192.168.1.5:8765",
            "https://localhost.example.com",
            "http://[2001:db8::1]:80",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }
}
