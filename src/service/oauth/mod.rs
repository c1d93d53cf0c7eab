//! What the built-in OAuth authorization server (`auth = "builtin"`) keeps between requests and
//! across restarts: registered clients, grants (token families), the SHA-256 digests of live
//! tokens, and the owner's passphrase hash. Nothing here knows HTTP; the endpoints are in
//! `crate::server::http::oauth`, and the `deepvault auth` commands call the functions below on
//! the same folder while a server may be running.
//!
//! # Layout
//!
//! - this file: the folder's paths, the clock, identifiers and digests, and the entry points of
//!   `deepvault auth` ([`set_passphrase`], [`list_clients`], [`revoke`]).
//! - [`store`]: `state.json`, rewritten atomically under a file lock, reloaded when another
//!   process replaced it.
//! - [`passphrase`]: the argon2id hash of the owner's passphrase, set and checked.
//!
//! The folder is `<index_dir>/state/oauth/` (mode 0700, files 0600): beside the index, never in
//! the vault. No token, code or passphrase is ever stored, logged or audited, only digests.

pub(crate) mod passphrase;
pub(crate) mod store;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::Result;

pub(crate) use store::{ClientKind, ClientSummary};

/// The one scope deepvault grants: read the vault.
pub(crate) const READ_SCOPE: &str = "vault:read";

/// The environment variable that names a file of seconds to add to the wall clock. For tests
/// only: they move the authorization server's time (codes, tokens, back-off) without sleeping.
pub(crate) const TEST_CLOCK_ENV: &str = "DEEPVAULT_TEST_CLOCK_FILE";

/// `<state_dir>/oauth`: this module's folder inside the state folder.
pub(crate) fn oauth_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("oauth")
}

/// Seconds since the Unix epoch, replaceable so that tests expire codes and tokens without
/// sleeping.
pub(crate) trait Clock: Send + Sync {
    fn now(&self) -> u64;
}

/// The wall clock.
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// The wall clock plus the number of seconds a file holds ([`TEST_CLOCK_ENV`]); read on every
/// call, so a test advances a running server's time by rewriting the file. An unreadable file
/// counts as 0.
pub(crate) struct OffsetFileClock(pub(crate) PathBuf);

impl Clock for OffsetFileClock {
    fn now(&self) -> u64 {
        let offset: u64 = std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        SystemClock.now() + offset
    }
}

/// The clock a server uses: the wall clock, or [`OffsetFileClock`] when [`TEST_CLOCK_ENV`] is
/// set.
pub(crate) fn clock_from_env() -> std::sync::Arc<dyn Clock> {
    match std::env::var_os(TEST_CLOCK_ENV) {
        Some(path) if !path.is_empty() => {
            tracing::warn!(
                "{TEST_CLOCK_ENV} is set: the OAuth clock is shifted by the seconds in {} (tests only)",
                Path::new(&path).display()
            );
            std::sync::Arc::new(OffsetFileClock(PathBuf::from(path)))
        }
        _ => std::sync::Arc::new(SystemClock),
    }
}

/// A client as the audit log and `deepvault auth clients` name it. Never a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientRef {
    pub(crate) client_id: String,
    pub(crate) client_name: String,
}

/// What `deepvault auth revoke` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Revocation {
    Client(String),
    All,
}

/// 32 random bytes, base64url without padding, after a prefix that says what the string is
/// (`dv_at_` access token, `dv_rt_` refresh token, `dv_code_` code): secret scanners and the
/// resource side can tell a deepvault token at a glance.
pub(crate) fn random_secret(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// An identifier that is not a secret (client and grant ids): 16 random bytes.
pub(crate) fn random_id(prefix: &str) -> String {
    let bytes: [u8; 16] = rand::random();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The key a secret is stored under: the hex SHA-256 of its text.
pub(crate) fn digest_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `https://chatgpt.com/connector_platform_oauth_redirect` → `chatgpt.com`; with the port when
/// there is one (loopback clients differ only by port).
pub(crate) fn redirect_host(uri: &str) -> String {
    uri.parse::<axum::http::Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.as_str().to_string()))
        .unwrap_or_else(|| uri.to_string())
}

/// Stores the owner's passphrase (argon2id) in the state folder; a running server uses it from
/// its next consent on.
pub(crate) fn set_passphrase(state_dir: &Path, passphrase: &str) -> Result<()> {
    passphrase::set(state_dir, passphrase)
}

/// True once `deepvault auth passphrase` has run for this state folder.
pub(crate) fn passphrase_is_set(state_dir: &Path) -> bool {
    passphrase::path(state_dir).is_file()
}

/// Registered clients and their live grants, read from the state folder.
pub(crate) fn list_clients(state_dir: &Path) -> Result<Vec<ClientSummary>> {
    let now = SystemClock.now();
    Ok(store::Store::open(state_dir, now)?.summaries(now))
}

/// Revokes a client (its grants and its registration) or all of them; returns how many grants
/// ended. A running server drops the tokens on its next request.
pub(crate) fn revoke(state_dir: &Path, target: &Revocation) -> Result<(usize, Vec<ClientRef>)> {
    let now = SystemClock.now();
    store::Store::open(state_dir, now)?.revoke(now, target)
}
