//! The state folder: registered clients, grants (token families) and the SHA-256 digests of
//! live tokens, in one JSON file rewritten atomically on every change.
//!
//! Layout: `<state>/oauth/` (mode 0700) holds `state.json` (0600), `passphrase` (0600, an
//! argon2 PHC string, see [`super::passphrase`]) and `lock`. Writes are rare (a registration, a code exchange, an hourly
//! refresh, a revocation), so one small file is enough.
//!
//! The CLI (`deepvault auth revoke`) writes the same file while `serve` runs. Every writer takes
//! an exclusive lock on `lock` and re-reads the file when it was replaced since it last saw it
//! (the inode changes on every rename), and the server looks for such a change at most once a
//! second, so a revocation takes effect on the next request.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use serde::{Deserialize, Serialize};

use super::{ClientRef, Revocation, oauth_dir, redirect_host};
use crate::durable::write_atomic;
use crate::error::{Error, Result};

const FORMAT_VERSION: u32 = 1;
/// A client registered but never approved is dropped after this long.
const UNAPPROVED_CLIENT_TTL: u64 = 24 * 3600;
/// A client with no live grant is dropped once it has been idle this long.
const IDLE_CLIENT_TTL: u64 = 90 * 24 * 3600;
/// `last_used` is written back at most this often per grant; in between it lives in memory.
const LAST_USED_WRITE_INTERVAL: u64 = 3600;

/// The file, as stored.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateFile {
    pub(crate) version: u32,
    /// By client id.
    pub(crate) clients: BTreeMap<String, ClientRecord>,
    /// By grant id.
    pub(crate) grants: BTreeMap<String, GrantRecord>,
    /// By the hex SHA-256 of the access token.
    pub(crate) access_tokens: BTreeMap<String, AccessRecord>,
    /// By the hex SHA-256 of the refresh token; rotated ones stay until they expire, so that
    /// their reuse can be recognised.
    pub(crate) refresh_tokens: BTreeMap<String, RefreshRecord>,
}

/// How a client came to be known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ClientKind {
    /// RFC 7591 dynamic registration (`POST /register`).
    Dcr,
    /// A Client ID Metadata Document (the client id is its https URL); stored on approval.
    Cimd,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientRecord {
    pub(crate) client_id: String,
    pub(crate) client_name: String,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) kind: ClientKind,
    pub(crate) registered_at: u64,
    /// The last approval; `None` until the owner first approves it.
    pub(crate) approved_at: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantRecord {
    pub(crate) client_id: String,
    pub(crate) client_name: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) resource: String,
    pub(crate) approved_at: u64,
    pub(crate) last_used: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccessRecord {
    pub(crate) grant_id: String,
    pub(crate) expires_at: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshRecord {
    pub(crate) grant_id: String,
    pub(crate) expires_at: u64,
    /// Set once this token has been exchanged; presenting it again revokes the grant.
    pub(crate) rotated_at: Option<u64>,
}

/// One registered client and its live grants, for `deepvault auth clients`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ClientSummary {
    pub(crate) client_id: String,
    pub(crate) client_name: String,
    pub(crate) kind: ClientKind,
    /// The hosts of its redirect URIs: what identifies a client better than its chosen name.
    pub(crate) redirect_hosts: Vec<String>,
    pub(crate) registered_at: u64,
    pub(crate) grants: Vec<GrantSummary>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct GrantSummary {
    pub(crate) grant_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) approved_at: u64,
    pub(crate) last_used: Option<u64>,
    /// When the newest refresh token runs out, if not refreshed before.
    pub(crate) expires_at: u64,
}

impl StateFile {
    /// Drops expired tokens, grants left without a live token, and stale clients.
    pub(crate) fn prune(&mut self, now: u64) {
        self.access_tokens.retain(|_, t| t.expires_at > now);
        self.refresh_tokens.retain(|_, t| t.expires_at > now);
        let live: std::collections::HashSet<&str> = self
            .access_tokens
            .values()
            .map(|t| t.grant_id.as_str())
            .chain(
                self.refresh_tokens
                    .values()
                    .filter(|t| t.rotated_at.is_none())
                    .map(|t| t.grant_id.as_str()),
            )
            .collect();
        self.grants.retain(|id, _| live.contains(id.as_str()));
        // Rotated refresh tokens of a grant that is gone have nothing left to protect.
        let grants = &self.grants;
        self.refresh_tokens
            .retain(|_, t| grants.contains_key(&t.grant_id));
        let with_grants: std::collections::HashSet<&str> =
            self.grants.values().map(|g| g.client_id.as_str()).collect();
        self.clients.retain(|id, c| {
            with_grants.contains(id.as_str())
                || match c.approved_at {
                    None => now < c.registered_at + UNAPPROVED_CLIENT_TTL,
                    Some(at) => now < at + IDLE_CLIENT_TTL,
                }
        });
    }

    /// Ends a grant: its access and refresh tokens go with it.
    pub(crate) fn revoke_grant(&mut self, grant_id: &str) -> Option<GrantRecord> {
        self.access_tokens.retain(|_, t| t.grant_id != grant_id);
        self.refresh_tokens.retain(|_, t| t.grant_id != grant_id);
        self.grants.remove(grant_id)
    }

    pub(crate) fn client_ref(&self, client_id: &str) -> ClientRef {
        ClientRef {
            client_id: client_id.to_string(),
            client_name: self
                .clients
                .get(client_id)
                .map_or_else(|| "unknown client".to_string(), |c| c.client_name.clone()),
        }
    }
}

/// The identity of the file on disk: a rename gives it a new inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
}

pub(crate) struct Store {
    dir: PathBuf,
    file: PathBuf,
    state: RwLock<StateFile>,
    stamp: Mutex<Option<Stamp>>,
    /// Serialises this process's writers; the lock file serialises processes.
    writer: Mutex<()>,
    /// Grant id → last use, newer than what the file says; merged into the next write.
    last_used: Mutex<HashMap<String, u64>>,
    /// When the server last looked for a change by another process.
    last_check: Mutex<u64>,
}

impl Store {
    pub(crate) fn open(state_dir: &Path, now: u64) -> Result<Store> {
        let dir = oauth_dir(state_dir);
        for folder in [state_dir, dir.as_path()] {
            fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
        }
        // Only the owner may read the folder that holds the passphrase hash and token digests.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(&dir, e))?;
        let file = dir.join("state.json");
        let (mut state, stamp) = load(&file)?;
        state.prune(now);
        Ok(Store {
            dir,
            file,
            state: RwLock::new(state),
            stamp: Mutex::new(stamp),
            writer: Mutex::new(()),
            last_used: Mutex::new(HashMap::new()),
            last_check: Mutex::new(now),
        })
    }

    /// Reads the in-memory state.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&StateFile) -> R) -> R {
        f(&self.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Applies `f` to the newest state and writes it out before returning. Blocking: call it
    /// from `spawn_blocking` (or the CLI).
    pub(crate) fn update<R>(&self, now: u64, f: impl FnOnce(&mut StateFile) -> R) -> Result<R> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let lock_path = self.dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        lock.lock().map_err(|e| Error::io(&lock_path, e))?;
        let mut state =
            if current_stamp(&self.file) == *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) {
                self.read(Clone::clone)
            } else {
                load(&self.file)?.0
            };
        for (grant_id, at) in self
            .last_used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
        {
            if let Some(grant) = state.grants.get_mut(&grant_id) {
                grant.last_used = Some(grant.last_used.map_or(at, |old| old.max(at)));
            }
        }
        let result = f(&mut state);
        state.prune(now);
        state.version = FORMAT_VERSION;
        let bytes = serde_json::to_vec_pretty(&state).map_err(|e| Error::OAuthState {
            path: self.file.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&self.file, &bytes)?;
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = current_stamp(&self.file);
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = state;
        drop(lock);
        Ok(result)
    }

    /// Reloads the file if another process replaced it; at most once a second. Cheap (one
    /// `stat`) when nothing changed.
    pub(crate) fn reload_if_changed(&self, now: u64) {
        {
            let mut last = self.last_check.lock().unwrap_or_else(|e| e.into_inner());
            if *last == now {
                return;
            }
            *last = now;
        }
        // A writer in progress re-reads a replaced file itself; skipping here also keeps a
        // reload from installing an older state over the one it is about to publish.
        let Ok(_writer) = self.writer.try_lock() else {
            return;
        };
        let on_disk = current_stamp(&self.file);
        let mut stamp = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
        if on_disk == *stamp {
            return;
        }
        match load(&self.file) {
            Ok((state, new_stamp)) => {
                *self.state.write().unwrap_or_else(|e| e.into_inner()) = state;
                *stamp = new_stamp;
            }
            Err(err) => tracing::warn!("cannot reload the OAuth state: {err}"),
        }
    }

    /// Notes a grant's use; returns true when it is due to be written back (and audited): on
    /// its first use, then at most once per [`LAST_USED_WRITE_INTERVAL`].
    pub(crate) fn touch(&self, grant_id: &str, now: u64) -> bool {
        let due = |at: Option<u64>| at.is_none_or(|at| now >= at + LAST_USED_WRITE_INTERVAL);
        let previous = self
            .last_used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(grant_id.to_string(), now);
        due(previous) && self.read(|s| s.grants.get(grant_id).is_some_and(|g| due(g.last_used)))
    }

    pub(crate) fn summaries(&self, now: u64) -> Vec<ClientSummary> {
        let recent = self
            .last_used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.read(|s| {
            let mut out: Vec<ClientSummary> = s
                .clients
                .values()
                .map(|c| ClientSummary {
                    client_id: c.client_id.clone(),
                    client_name: c.client_name.clone(),
                    kind: c.kind,
                    redirect_hosts: c.redirect_uris.iter().map(|u| redirect_host(u)).collect(),
                    registered_at: c.registered_at,
                    grants: Vec::new(),
                })
                .collect();
            for (grant_id, g) in &s.grants {
                let expires_at = s
                    .refresh_tokens
                    .values()
                    .filter(|t| t.grant_id == *grant_id && t.rotated_at.is_none())
                    .map(|t| t.expires_at)
                    .chain(
                        s.access_tokens
                            .values()
                            .filter(|t| t.grant_id == *grant_id)
                            .map(|t| t.expires_at),
                    )
                    .filter(|&at| at > now)
                    .max()
                    .unwrap_or(now);
                let summary = GrantSummary {
                    grant_id: grant_id.clone(),
                    scopes: g.scopes.clone(),
                    approved_at: g.approved_at,
                    last_used: match (g.last_used, recent.get(grant_id)) {
                        (Some(a), Some(&b)) => Some(a.max(b)),
                        (a, b) => a.or(b.copied()),
                    },
                    expires_at,
                };
                if let Some(client) = out.iter_mut().find(|c| c.client_id == g.client_id) {
                    client.grants.push(summary);
                }
            }
            out
        })
    }

    /// Ends grants; a revoked client's registration goes too, so it must register again.
    pub(crate) fn revoke(&self, now: u64, target: &Revocation) -> Result<(usize, Vec<ClientRef>)> {
        self.update(now, |s| {
            let clients: Vec<String> = match target {
                Revocation::All => s.clients.keys().cloned().collect(),
                Revocation::Client(id) => {
                    if !s.clients.contains_key(id) && !s.grants.values().any(|g| g.client_id == *id)
                    {
                        return Err(Error::UnknownClient { id: id.clone() });
                    }
                    vec![id.clone()]
                }
            };
            let refs: Vec<ClientRef> = clients.iter().map(|id| s.client_ref(id)).collect();
            let grants: Vec<String> = s
                .grants
                .iter()
                .filter(|(_, g)| {
                    matches!(target, Revocation::All) || clients.contains(&g.client_id)
                })
                .map(|(id, _)| id.clone())
                .collect();
            for grant in &grants {
                s.revoke_grant(grant);
            }
            for id in &clients {
                s.clients.remove(id);
            }
            Ok((grants.len(), refs))
        })?
    }
}

fn current_stamp(file: &Path) -> Option<Stamp> {
    fs::metadata(file).ok().map(|m| Stamp {
        dev: m.dev(),
        ino: m.ino(),
    })
}

fn load(file: &Path) -> Result<(StateFile, Option<Stamp>)> {
    let stamp = current_stamp(file);
    match fs::read(file) {
        Ok(bytes) => {
            let state: StateFile =
                serde_json::from_slice(&bytes).map_err(|e| Error::OAuthState {
                    path: file.to_path_buf(),
                    message: e.to_string(),
                })?;
            if state.version > FORMAT_VERSION {
                return Err(Error::OAuthState {
                    path: file.to_path_buf(),
                    message: format!(
                        "format version {} is newer than this deepvault understands ({FORMAT_VERSION})",
                        state.version
                    ),
                });
            }
            Ok((state, stamp))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((
            StateFile {
                version: FORMAT_VERSION,
                ..StateFile::default()
            },
            None,
        )),
        Err(e) => Err(Error::io(file, e)),
    }
}
