//! Keeping the index current while serving: one thread owns the [`Indexer`] and turns file
//! events, rescans and periodic reconciles into batched commits.
//!
//! ```text
//! notify watcher ─paths─┐
//! rescan requests ──────┼─▶ sync thread: collect dirty paths ─▶ Indexer.update_paths ─▶ commit
//! periodic timer ───────┘   (commit on quiet / max delay / batch size)     or .reconcile()
//! ```
//!
//! Triggers are named ([`CommitTrigger`]). A watcher error or an event overflow asks for a full
//! rescan (stat only, then re-reads only what changed). A light reconcile runs every
//! `reconcile_interval` to catch whatever the watcher missed, and `--poll` replaces the watcher
//! by a reconcile every `poll_interval`.
//!
//! With semantic search on, each commit also tells the embedding thread ([`embed`]) which notes
//! changed; it embeds them behind the lexical index, on its own bounded pool.

pub(crate) mod embed;
mod policy;
pub(crate) mod status;
pub(crate) mod watch;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::config::WatchConfig;
use crate::index::vectors::Semantic;
use crate::index::writer::{ChangeReport, CommitTrigger, Indexer};
use crate::live::status::Status;
use crate::live::watch::DirWatcher;
use policy::{Due, Schedule};

/// A message to the sync thread.
#[derive(Debug)]
pub(crate) enum SyncMsg {
    /// These paths (absolute) may have changed.
    Paths(Vec<PathBuf>),
    /// Rescan the whole vault, for this reason.
    Rescan(String),
    /// Commit what is pending and stop.
    Shutdown,
}

/// The running sync thread (and the embedding thread, with semantic search on).
pub(crate) struct SyncHandle {
    tx: Sender<SyncMsg>,
    thread: Option<JoinHandle<()>>,
    embed: Option<embed::EmbedHandle>,
}

impl SyncHandle {
    /// Asks the thread to commit and stop, and waits for it; then the embedding thread.
    pub(crate) fn shutdown(mut self) {
        let _ = self.tx.send(SyncMsg::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(embed) = self.embed.take() {
            embed.shutdown();
        }
    }
}

/// Starts watching and the sync thread. The start-up reconcile runs on that thread; `status`
/// turns ready when it has committed. `semantic` (with its thread count) starts the embedding
/// thread too.
pub(crate) fn start(
    mut indexer: Indexer,
    config: WatchConfig,
    status: Arc<Status>,
    semantic: Option<(Arc<Semantic>, usize)>,
) -> SyncHandle {
    let (tx, rx) = crossbeam_channel::unbounded();
    let embed = semantic.map(|(semantic, threads)| {
        let handle = embed::start(semantic, indexer.index().clone(), threads);
        let changes = handle.sender();
        indexer.set_on_changes(move |changed| {
            let _ = changes.send(embed::EmbedMsg::Changed(changed));
        });
        handle
    });
    // Watching starts before the first walk (the root and `.obsidian/`), so no change made
    // during it is lost; the folders the walk finds are watched right after it.
    let watcher = if config.poll {
        status.set_watcher(&format!(
            "polling every {} ms",
            config.poll_interval.as_millis()
        ));
        None
    } else {
        match DirWatcher::new(indexer.vault().root(), tx.clone()) {
            Ok(watcher) => {
                status.set_watcher("native events");
                Some(watcher)
            }
            Err(err) => {
                fall_back_to_polling(&status, &config, &err.to_string());
                None
            }
        }
    };
    let commit_status = Arc::clone(&status);
    indexer.set_on_commit(move |notes| commit_status.committed(notes));
    let thread_status = Arc::clone(&status);
    let thread = std::thread::Builder::new()
        .name("deepvault-sync".into())
        .spawn(move || {
            // Intermediate commits let searches see a long first index grow.
            indexer.set_commit_every(Some(config.progress_commit));
            let folders = startup(&mut indexer, &thread_status);
            indexer.set_commit_every(None);
            let periodic = periodic_interval(&config, watcher.is_some());
            let mut sync = SyncLoop {
                indexer,
                status: thread_status,
                schedule: Schedule::new(config.commit.clone(), periodic, Instant::now()),
                config,
                watcher,
                dirty: HashSet::new(),
                rescan: None,
            };
            // Files created in a folder before its watch existed are caught by one more look.
            if sync.ensure_watches(&folders) {
                sync.rescan = Some("folders appeared during the first index".into());
                sync.schedule.changed(Instant::now(), 0);
            }
            sync.status.set_ready();
            sync.run(&rx);
        })
        .expect("spawn the sync thread");
    SyncHandle {
        tx,
        thread: Some(thread),
        embed,
    }
}

fn fall_back_to_polling(status: &Status, config: &WatchConfig, error: &str) {
    tracing::warn!(
        "cannot watch the vault for changes ({error}); polling every {} ms instead\n\nhint: raise fs.inotify.max_user_watches, or pass --poll",
        config.poll_interval.as_millis()
    );
    status.set_watcher(&format!("polling (native events failed: {error})"));
}

/// The first reconcile; returns the folders it walked.
fn startup(indexer: &mut Indexer, status: &Status) -> Vec<PathBuf> {
    status.set_phase("indexing");
    status.set_notes(indexer.note_count());
    let started = Instant::now();
    let progress = |done: usize, total: usize| status.set_progress(done, total);
    let folders = match indexer.reconcile(Some(&progress)) {
        Ok(report) => {
            if let Err(err) = indexer.commit(CommitTrigger::Startup) {
                tracing::error!("cannot commit the index: {err}");
                status.set_error(Some(err.to_string()));
            }
            log_report("start-up reconcile", &report, started.elapsed());
            status.set_counts(report.skipped.len() + report.private, report.warnings.len());
            report.folders
        }
        Err(err) => {
            tracing::error!("start-up reconcile failed: {err}");
            status.set_error(Some(err.to_string()));
            Vec::new()
        }
    };
    status.committed(indexer.note_count());
    status.reconciled();
    folders
}

fn log_report(what: &str, report: &ChangeReport, took: Duration) {
    tracing::info!(
        notes_seen = report.files_seen,
        added = report.added,
        updated = report.updated,
        touched = report.touched,
        removed = report.removed,
        unchanged = report.unchanged,
        private = report.private,
        skipped = report.skipped.len(),
        took_ms = took.as_millis() as u64,
        "{what} done"
    );
}

struct SyncLoop {
    indexer: Indexer,
    status: Arc<Status>,
    config: WatchConfig,
    /// `None` when polling.
    watcher: Option<DirWatcher>,
    dirty: HashSet<PathBuf>,
    rescan: Option<String>,
    /// When to commit and when to reconcile.
    schedule: Schedule,
}

/// How often the vault is rescanned when nothing else happens: the poll interval without a
/// watcher, else the light reconcile's interval (zero: never).
fn periodic_interval(config: &WatchConfig, watching: bool) -> Option<Duration> {
    if watching {
        Some(config.reconcile_interval)
    } else {
        Some(config.poll_interval)
    }
}

impl SyncLoop {
    fn run(&mut self, rx: &Receiver<SyncMsg>) {
        loop {
            let timeout = self.schedule.wait(Instant::now());
            match rx.recv_timeout(timeout) {
                Ok(SyncMsg::Paths(paths)) => {
                    self.dirty.extend(paths);
                    if let Some(trigger) = self.mark_pending() {
                        self.flush(trigger);
                    }
                }
                Ok(SyncMsg::Rescan(reason)) => {
                    tracing::info!("rescanning the vault: {reason}");
                    self.rescan = Some(reason);
                    self.mark_pending();
                }
                Ok(SyncMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    self.flush(CommitTrigger::Shutdown);
                    return;
                }
                Err(RecvTimeoutError::Timeout) => self.on_timeout(),
            }
        }
    }

    /// A change arrived: batch it; says when the batch is full.
    fn mark_pending(&mut self) -> Option<CommitTrigger> {
        self.status.event_seen(self.dirty.len());
        self.schedule.changed(Instant::now(), self.dirty.len())
    }

    /// Watches the folders a reconcile walked; returns true when new ones were added (files
    /// created in them before their watch existed are then caught by one more reconcile).
    fn ensure_watches(&mut self, folders: &[PathBuf]) -> bool {
        let Some(watcher) = &mut self.watcher else {
            return false;
        };
        match watcher.watch_all(folders) {
            Ok(added) => added > 0,
            Err(err) => {
                fall_back_to_polling(&self.status, &self.config, &err.to_string());
                self.watcher = None;
                self.schedule
                    .set_periodic(periodic_interval(&self.config, false));
                false
            }
        }
    }

    /// Unwatches dirty paths that were watched folders and are no longer there.
    fn forget_gone_folders(&mut self) {
        let Some(watcher) = &mut self.watcher else {
            return;
        };
        for path in &self.dirty {
            if watcher.is_watched(path) && !path.is_dir() {
                watcher.forget(path);
            }
        }
    }

    fn on_timeout(&mut self) {
        match self.schedule.due(Instant::now()) {
            Some(Due::Commit(trigger)) => self.flush(trigger),
            Some(Due::Reconcile) => self.reconcile(CommitTrigger::Reconcile),
            None => {}
        }
    }

    fn flush(&mut self, trigger: CommitTrigger) {
        self.schedule.flushed();
        if self.rescan.take().is_some() {
            self.dirty.clear();
            if let Err(err) = self.indexer.reload_rules() {
                tracing::warn!("cannot reload the exclusion rules: {err}");
            }
            self.reconcile(CommitTrigger::Rescan);
            return;
        }
        if self.dirty.is_empty() {
            self.status.set_pending(0);
            return;
        }
        self.forget_gone_folders();
        let dirty = std::mem::take(&mut self.dirty);
        let started = Instant::now();
        match self.indexer.update_paths(&dirty) {
            Ok(Some(report)) => self.commit(trigger, &report, started),
            Ok(None) => {
                // A folder appeared or a rule changed: the whole vault is rescanned (stat only).
                if let Err(err) = self.indexer.reload_rules() {
                    tracing::warn!("cannot reload the exclusion rules: {err}");
                }
                self.reconcile(trigger);
            }
            Err(err) => {
                tracing::error!("updating the index failed: {err}; rescanning");
                self.status.set_error(Some(err.to_string()));
                self.reconcile(CommitTrigger::Rescan);
            }
        }
        self.status.set_pending(self.dirty.len());
    }

    fn reconcile(&mut self, trigger: CommitTrigger) {
        let started = Instant::now();
        match self.indexer.reconcile(None) {
            Ok(report) => {
                if self.ensure_watches(&report.folders) {
                    self.rescan = Some("new folders are watched now".into());
                    self.schedule.changed(Instant::now(), 0);
                }
                if report.changed() && trigger == CommitTrigger::Reconcile {
                    tracing::info!(
                        added = report.added,
                        updated = report.updated,
                        removed = report.removed,
                        "the periodic reconcile found changes the watcher missed"
                    );
                }
                self.commit(trigger, &report, started);
            }
            Err(err) => {
                tracing::error!("reconcile failed: {err}");
                self.status.set_error(Some(err.to_string()));
            }
        }
        self.schedule.reconciled(Instant::now());
        self.status.reconciled();
    }

    fn commit(&mut self, trigger: CommitTrigger, report: &ChangeReport, started: Instant) {
        match self.indexer.commit(trigger) {
            Ok(true) => {
                tracing::debug!(
                    trigger = ?trigger,
                    added = report.added,
                    updated = report.updated,
                    removed = report.removed,
                    took_ms = started.elapsed().as_millis() as u64,
                    "index updated"
                );
                self.status.committed(self.indexer.note_count());
                self.status.set_error(None);
            }
            Ok(false) => {}
            Err(err) => {
                tracing::error!("commit failed: {err}");
                self.status.set_error(Some(err.to_string()));
            }
        }
    }
}
