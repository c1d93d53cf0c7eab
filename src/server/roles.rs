//! Who keeps the index current: this process as the writer, or as a follower of another
//! deepvault process that writes the same index, taking over when that one stops.
//!
//! A second `serve` on the same vault is normal: Codex and Claude Desktop each start their own
//! `serve --stdio`. The first takes the writer lock; the others serve the committed index
//! read-only, become ready once the writer's first full index is committed, and try the lock
//! every 2 s so that one of them takes over when the writer exits.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::Error;
use crate::index::vectors::Semantic;
use crate::index::writer::{Indexer, IndexerSettings};
use crate::index::{OpenOutcome, VaultIndex};
use crate::live::status::Status;
use crate::vault::Vault;
use crate::vault::cancel::Cancel;
use crate::vault::ingest::Ingest;

/// Settings of the long-running indexer.
fn serve_settings(config: &Config, ingest: &Ingest) -> IndexerSettings {
    IndexerSettings {
        ingest: ingest.clone(),
        max_file_bytes: config.max_file_bytes,
        ..IndexerSettings::default()
    }
    .with_pdf_workers()
}

/// Who keeps the index current.
pub(crate) enum Role {
    /// This process writes the index.
    Writer(Box<Indexer>),
    /// Another process writes it; this one serves it read-only and takes over when it stops.
    Follower(Box<VaultIndex>),
}

impl Role {
    /// The index that searches and fetches read: it sees every commit as soon as the role that
    /// writes it has made it (a follower's only after a delay, until it takes over).
    pub(crate) fn served(&self) -> VaultIndex {
        match self {
            Role::Writer(indexer) => indexer.index().clone(),
            Role::Follower(index) => VaultIndex::clone(index),
        }
    }
}

/// Opens the index as its writer, or, when another deepvault process writes it (a second
/// `serve --stdio` that Codex or Claude Desktop started, say), as a follower of that process.
pub(crate) async fn open_role(
    config: &Config,
    vault: &Vault,
    ingest: &Ingest,
    status: &Arc<Status>,
) -> anyhow::Result<Role> {
    let opened = {
        let (vault, dir, settings) = (
            vault.clone(),
            config.index_dir.clone(),
            serve_settings(config, ingest),
        );
        tokio::task::spawn_blocking(move || Indexer::open(vault, &dir, settings)).await?
    };
    match opened {
        Ok((indexer, outcome)) => {
            match &outcome {
                OpenOutcome::Rebuilt(reason) => {
                    tracing::warn!(
                        "rebuilding the index at {}: {reason}",
                        config.index_dir.display()
                    );
                    status.set_rebuilt();
                }
                OpenOutcome::Created => {
                    tracing::info!("creating the index at {}", config.index_dir.display())
                }
                OpenOutcome::Opened => {}
            }
            status.set_notes(indexer.note_count());
            status.set_documents(&indexer.index().kind_counts());
            Ok(Role::Writer(Box::new(indexer)))
        }
        Err(Error::IndexLocked { holder, .. }) => {
            // The writer creates a missing index within milliseconds; give it a moment.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            let index = loop {
                if let Some(index) =
                    VaultIndex::open_following(&config.index_dir, vault.root(), &ingest.stamp())?
                {
                    break index;
                }
                if std::time::Instant::now() > deadline {
                    anyhow::bail!(
                        "the index at {} is locked by another deepvault process{holder} that has not created it\n\nhint: stop that process, or pass --index-dir to use a separate index",
                        config.index_dir.display()
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            tracing::info!(
                "another deepvault process{holder} keeps this index current; serving it read-only, and taking over if it stops"
            );
            status.set_watcher(&format!("following another process{holder}"));
            let complete = index.catch_up_if_complete();
            status.set_notes(index.searcher().num_docs() as usize);
            status.set_documents(&index.kind_counts());
            status.set_phase("following");
            if complete {
                status.set_ready();
            } else {
                wait_for_first_index(index.clone(), Arc::clone(status));
            }
            Ok(Role::Follower(Box::new(index)))
        }
        Err(err) => Err(err.into()),
    }
}

/// A follower of an index whose first full index is still being built becomes ready once the
/// writer commits it (or once this process takes over and builds it itself), so that it never
/// answers from a half-built index as if that were the vault.
fn wait_for_first_index(index: VaultIndex, status: Arc<Status>) {
    tokio::spawn(async move {
        while !status.is_ready() {
            let probe = index.clone();
            let complete = tokio::task::spawn_blocking(move || probe.catch_up_if_complete())
                .await
                .unwrap_or(false);
            if complete {
                status.set_notes(index.searcher().num_docs() as usize);
                status.set_documents(&index.kind_counts());
                status.set_ready();
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

/// The sync thread: started at once by a writer, or once a follower takes over.
pub(crate) struct SyncSlot(Arc<std::sync::Mutex<Option<crate::live::SyncHandle>>>);

impl SyncSlot {
    pub(crate) fn shutdown(self) {
        let handle = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            handle.shutdown();
        }
    }
}

/// The served vault: what every role is started with.
#[derive(Clone, Copy)]
pub(crate) struct OpenedVault<'a> {
    pub(crate) config: &'a Config,
    pub(crate) ingest: &'a Ingest,
    pub(crate) vault: &'a Vault,
    pub(crate) status: &'a Arc<Status>,
}

/// Starts syncing now (writer), or keeps trying to take the writer lock (follower). Raising
/// `cancel` stops the indexing in progress (a shutdown). The writer also embeds notes when
/// `semantic` is given.
pub(crate) fn start_sync(
    role: Role,
    vault: &OpenedVault<'_>,
    shutdown: &CancellationToken,
    cancel: &Cancel,
    semantic: Option<Arc<Semantic>>,
) -> SyncSlot {
    let OpenedVault {
        config,
        ingest,
        vault,
        status,
    } = *vault;
    let slot = Arc::new(std::sync::Mutex::new(None));
    let threads = config.semantic.as_ref().map_or(1, |s| s.threads);
    let served = match role {
        Role::Writer(indexer) => {
            let handle = crate::live::start(
                *indexer,
                config.watch.clone(),
                Arc::clone(status),
                cancel.clone(),
                semantic.map(|s| (s, threads)),
            );
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
            return SyncSlot(slot);
        }
        Role::Follower(index) => *index,
    };
    let slot_task = Arc::clone(&slot);
    let (config, ingest, vault, status, shutdown, cancel) = (
        config.clone(),
        ingest.clone(),
        vault.clone(),
        Arc::clone(status),
        shutdown.clone(),
        cancel.clone(),
    );
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            let (vault, dir, settings) = (
                vault.clone(),
                config.index_dir.clone(),
                serve_settings(&config, &ingest),
            );
            let opened =
                tokio::task::spawn_blocking(move || Indexer::open(vault, &dir, settings)).await;
            match opened {
                Ok(Ok((mut indexer, _))) => {
                    // Its commits, and the ready flag that follows them, must reach the index
                    // the tools have been serving from at once, not after the follower's delay.
                    indexer.publish_through(&served);
                    tracing::info!(
                        "the other deepvault process stopped; this one now keeps the index current"
                    );
                    let handle = crate::live::start(
                        indexer,
                        config.watch.clone(),
                        Arc::clone(&status),
                        cancel.clone(),
                        semantic.map(|s| (s, threads)),
                    );
                    *slot_task.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
                    return;
                }
                Ok(Err(Error::IndexLocked { .. })) => continue,
                Ok(Err(err)) => tracing::warn!("cannot take over the index: {err}"),
                Err(_) => return,
            }
        }
    });
    SyncSlot(slot)
}
