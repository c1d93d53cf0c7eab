//! Wiring the built-in OAuth authorization server into `serve`: the start-up refusal when it is
//! the auth mode but the owner has set no passphrase yet, and opening it on the state folder.
//!
//! This extends the safe default (a server reachable beyond this machine needs auth): with a
//! non-loopback public URL and no tokens or issuer, built-in OAuth *is* the configured auth, so
//! the server refuses to start only while it has no passphrase to ask for.

use anyhow::Context;

use crate::config::Config;
use crate::error::shell_quote;
use crate::server::http::oauth::cimd::CimdNetwork;
use crate::server::http::oauth::{AuthServer, Settings, has_passphrase};
use crate::service::audit::AuditLog;
use crate::service::oauth::clock_from_env;

/// Refuses to serve HTTP with built-in OAuth and no passphrase: nobody could approve a client,
/// and the owner should know before ChatGPT says "could not connect".
pub(crate) fn refuse_without_passphrase(config: &Config) -> anyhow::Result<()> {
    if !config.auth.builtin || has_passphrase(&config.state_dir()) {
        return Ok(());
    }
    let vault = shell_quote(&config.vault.display().to_string());
    let mut also = String::new();
    if let Some(file) = &config.source {
        also.push_str(&format!(
            " --config {}",
            shell_quote(&file.display().to_string())
        ));
    }
    anyhow::bail!(
        "built-in OAuth is the auth mode{why}, but no passphrase is set, so nobody could approve an app\n\nhint: choose one of\n  - set the passphrase you will type on the consent page: deepvault auth passphrase {vault}{also} --index-dir {index}\n  - static bearer tokens instead (Codex, the Responses API; not ChatGPT): DEEPVAULT_TOKENS=$(openssl rand -hex 32) deepvault serve ...\n  - an external issuer: set oauth_issuer in deepvault.toml\n  - or pass --insecure-no-auth if anyone who finds the URL may read every note",
        why = match &config.public_url {
            Some(url) => format!(" for {url}"),
            None => String::new(),
        },
        index = shell_quote(&config.index_dir.display().to_string()),
    )
}

/// Opens the authorization server when `auth` resolves to builtin; `base_url` is the issuer
/// (the public URL, or the bound loopback address).
pub(crate) fn open(
    config: &Config,
    base_url: &str,
    audit: &AuditLog,
) -> anyhow::Result<Option<AuthServer>> {
    if !config.auth.builtin {
        return Ok(None);
    }
    let state_dir = config.state_dir();
    let server = AuthServer::open(
        Settings::new(base_url, state_dir.clone()),
        clock_from_env(),
        audit.clone(),
        CimdNetwork::default(),
    )
    .with_context(|| {
        format!(
            "cannot open the OAuth state folder {}",
            state_dir.join("oauth").display()
        )
    })?;
    Ok(Some(server))
}

/// The auth line of the start-up banner.
pub(crate) fn banner(config: &Config, oauth: Option<&AuthServer>) -> String {
    match oauth {
        Some(server) => format!(
            "auth: {}; issuer {}; clients are approved on {}/authorize",
            config.auth.describe(),
            server.settings().public_url,
            server.settings().public_url,
        ),
        None => format!("auth: {}", config.auth.describe()),
    }
}
