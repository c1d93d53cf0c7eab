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
//! The watcher heals itself: the vault folder is checked every second (and at once on an event
//! on the root); when it is deleted, moved or replaced, the status says `watcher: lost` with the
//! reason, and once a folder is back at the same place, a new watcher is built and the vault
//! reconciled at once. A root that now leads elsewhere (a symlink swapped
//! in) is never followed. The thread beats ([`Status::beat`]) on every turn and every file it
//! reads, so `/readyz` can tell a stuck indexer.
//! Shutdown raises the indexer's [`Cancel`] flag before it asks the thread to stop, so a long
//! reconcile (the first index above all) stops between files instead of running to its end;
//! what is done is committed and the next start resumes from it.
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
use crate::error::Error;
use crate::index::vectors::Semantic;
use crate::index::writer::{ChangeReport, CommitTrigger, Indexer};
use crate::live::status::Status;
use crate::live::watch::DirWatcher;
use crate::vault::cancel::Cancel;
use crate::vault::contain::RootState;
use policy::{Due, Schedule};

/// A message to the sync thread.
#[derive(Debug)]
pub(crate) enum SyncMsg {
    /// These paths (absolute) may have changed.
    Paths(Vec<PathBuf>),
    /// Rescan the whole vault, for this reason.
    Rescan(String),
    /// Something happened to the vault folder itself: check it.
    CheckRoot,
    /// Commit what is pending and stop.
    Shutdown,
}

/// The running sync thread (and the embedding thread, with semantic search on).
pub(crate) struct SyncHandle {
    tx: Sender<SyncMsg>,
    cancel: Cancel,
    thread: Option<JoinHandle<()>>,
    embed: Option<embed::EmbedHandle>,
}

impl SyncHandle {
    /// Stops the work in progress, asks the thread to commit and stop, and waits for it; then
    /// the embedding thread.
    pub(crate) fn shutdown(mut self) {
        self.cancel.cancel();
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
/// turns ready when it has committed. Raising `cancel` (a shutdown) stops indexing between
/// files. `semantic` (with its thread count) starts the embedding thread too.
pub(crate) fn start(
    mut indexer: Indexer,
    config: WatchConfig,
    status: Arc<Status>,
    cancel: Cancel,
    semantic: Option<(Arc<Semantic>, usize)>,
) -> SyncHandle {
    indexer.set_cancel(cancel.clone());
    let (tx, rx) = crossbeam_channel::unbounded();
    let announce = semantic.as_ref().map(|(semantic, _)| Arc::clone(semantic));
    let embed = semantic.map(|(semantic, threads)| {
        let latest = Arc::clone(&semantic);
        let handle = embed::start(semantic, indexer.index().clone(), threads);
        let changes = handle.sender();
        indexer.set_on_changes(move |changed| {
            let _ = changes.send(embed::EmbedMsg::Changed(changed, latest.latest_commit()));
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
    indexer.set_on_commit(move |notes| {
        if let Some(semantic) = &announce {
            semantic.commit_coming();
        }
        commit_status.committed(notes)
    });
    let beat_status = Arc::clone(&status);
    indexer.set_heartbeat(move || beat_status.beat());
    status.beat();
    let thread_status = Arc::clone(&status);
    let loop_tx = tx.clone();
    let thread = std::thread::Builder::new()
        .name("deepvault-sync".into())
        .spawn(move || {
            // Intermediate commits let searches see a long first index grow.
            indexer.set_commit_every(Some(config.progress_commit));
            let Some(folders) = startup(&mut indexer, &thread_status) else {
                return; // shut down during the first index; what was done is committed
            };
            indexer.set_commit_every(None);
            let periodic = periodic_interval(&config, watcher.is_some());
            let mut sync = SyncLoop {
                indexer,
                status: thread_status,
                schedule: Schedule::new(config.commit.clone(), periodic, Instant::now()),
                native: !config.poll && watcher.is_some(),
                config,
                watcher,
                root_lost: None,
                last_root_check: Instant::now(),
                tx: loop_tx,
                dirty: HashSet::new(),
                rescan: None,
            };
            // Files created in a folder before its watch existed are caught by one more look.
            if sync.ensure_watches(&folders) {
                sync.rescan = Some("folders appeared during the first index".into());
                sync.schedule.changed(Instant::now(), 0);
            }
            sync.status.set_ready();
            if let Some(reason) = startup_root_problem(&sync.indexer) {
                sync.lose_root(reason);
            }
            sync.run(&rx);
        })
        .expect("spawn the sync thread");
    SyncHandle {
        tx,
        cancel,
        thread: Some(thread),
        embed,
    }
}

fn fall_back_to_polling(status: &Status, config: &WatchConfig, error: &str) {
    tracing::warn!(
        "cannot watch the vault for changes ({error}); polling every {} ms instead\n\nhint: raise fs.inotify.max_user_watches, or pass --poll",
        config.poll_interval.as_millis()
    );
    // The reason may name paths: it is in the log, not in `/readyz`.
    status.set_watcher("polling (native file events failed; the server log says why)");
}

/// The first reconcile; returns the folders it walked, or `None` when a shutdown cancelled it
/// (what it did is committed then).
fn startup(indexer: &mut Indexer, status: &Status) -> Option<Vec<PathBuf>> {
    status.set_phase("indexing");
    status.set_notes(indexer.note_count());
    let started = Instant::now();
    let progress = |done: usize, total: usize| status.set_progress(done, total);
    let folders = match indexer.reconcile(Some(&progress)) {
        Ok(report) if report.cancelled => {
            commit_on_shutdown(indexer);
            log_report("start-up reconcile (stopped)", &report, started.elapsed());
            return None;
        }
        Ok(report) => {
            if report.files_seen == 0 {
                let message = indexer.vault().no_notes_message();
                tracing::warn!(
                    "{message}\n\nhint: pass the folder that holds your notes, e.g. `deepvault serve ~/Notes`"
                );
                status.set_no_notes(Some(indexer.vault().no_notes_message_without_path()));
            }
            if let Err(err) = indexer.commit(CommitTrigger::Startup) {
                status.fail("committing the index", &err);
            }
            log_report("start-up reconcile", &report, started.elapsed());
            status.set_counts(report.skipped.len() + report.private, report.warnings.len());
            report.folders
        }
        Err(err) => {
            status.fail("the start-up reconcile", &err);
            Vec::new()
        }
    };
    status.committed(indexer.note_count());
    status.set_documents(&indexer.index().kind_counts());
    status.reconciled();
    Some(folders)
}

/// The last commit before the process exits; says so when there is something to wait for.
fn commit_on_shutdown(indexer: &mut Indexer) {
    if !indexer.has_uncommitted() {
        return;
    }
    eprintln!("finishing the current commit…");
    let started = Instant::now();
    match indexer.commit(CommitTrigger::Shutdown) {
        Ok(_) => tracing::info!(
            notes = indexer.note_count(),
            took_ms = started.elapsed().as_millis() as u64,
            "committed; the next start resumes from here"
        ),
        Err(err) => tracing::error!("cannot commit the index: {err}"),
    }
}

/// The reason the vault folder cannot be followed, when the first reconcile found that.
fn startup_root_problem(indexer: &Indexer) -> Option<String> {
    match indexer.vault().dir().check() {
        RootState::Missing(reason) | RootState::Moved(reason) => Some(reason),
        RootState::Same | RootState::Reopened => None,
    }
}

/// How often the vault folder is checked (and the longest the loop waits between beats).
const ROOT_CHECK_EVERY: Duration = Duration::from_secs(1);

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
    /// `None` when polling, or while the vault folder is lost.
    watcher: Option<DirWatcher>,
    /// Native events are wanted (not polling by choice or after a watcher failure).
    native: bool,
    /// Why the vault folder cannot be followed now; checked every [`ROOT_CHECK_EVERY`].
    root_lost: Option<String>,
    last_root_check: Instant,
    /// For a new watcher's events.
    tx: Sender<SyncMsg>,
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
            self.status.beat();
            // inotify reports a deleted root only once the last handle of it closes, and ours
            // is open: the root is looked at every second (two system calls).
            if self.last_root_check.elapsed() >= ROOT_CHECK_EVERY {
                self.check_root();
            }
            let timeout = self.next_timeout().min(ROOT_CHECK_EVERY);
            match rx.recv_timeout(timeout) {
                Ok(SyncMsg::CheckRoot) => self.check_root(),
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
                    // The paths the watcher reported are indexed (a few files); a pending
                    // rescan is left to the next start, whose reconcile does the same.
                    self.rescan = None;
                    if self.indexer.has_uncommitted() || !self.dirty.is_empty() {
                        eprintln!("finishing the current commit…");
                    }
                    self.flush(CommitTrigger::Shutdown);
                    if self.indexer.has_uncommitted() {
                        self.commit(
                            CommitTrigger::Shutdown,
                            &ChangeReport::default(),
                            Instant::now(),
                        );
                    }
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
                self.native = false;
                self.schedule
                    .set_periodic(periodic_interval(&self.config, false));
                false
            }
        }
    }

    /// The vault folder cannot be followed: its watches are dead (they follow the old inode),
    /// and `/readyz` says why until it is back.
    fn lose_root(&mut self, reason: String) {
        if self.root_lost.as_ref() != Some(&reason) {
            tracing::warn!(
                "the vault folder cannot be followed: {reason}; waiting for it to come back\n\nhint: put the vault folder back at {}; to serve another folder, restart deepvault with its path",
                self.indexer.vault().root().display()
            );
        }
        self.watcher = None;
        self.status.set_watcher_lost(&reason);
        self.root_lost = Some(reason);
    }

    /// Looks at the vault folder: when it is back (or was replaced by a new one), watches it
    /// again and reconciles at once; when it is gone or leads elsewhere, marks the watcher lost.
    fn check_root(&mut self) {
        self.last_root_check = Instant::now();
        match self.indexer.vault().dir().check() {
            RootState::Missing(reason) | RootState::Moved(reason) => self.lose_root(reason),
            RootState::Same if self.root_lost.is_none() => {}
            RootState::Same | RootState::Reopened => self.recover_root(),
        }
    }

    fn recover_root(&mut self) {
        tracing::info!(
            vault = %self.indexer.vault().root().display(),
            "the vault folder is back; watching it again and reconciling"
        );
        self.root_lost = None;
        if self.native {
            match DirWatcher::new(self.indexer.vault().root(), self.tx.clone()) {
                Ok(watcher) => {
                    self.watcher = Some(watcher);
                    self.status.set_watcher("native events");
                }
                Err(err) => {
                    fall_back_to_polling(&self.status, &self.config, &err.to_string());
                    self.native = false;
                    self.schedule
                        .set_periodic(periodic_interval(&self.config, false));
                }
            }
        } else {
            self.status.set_watcher(&format!(
                "polling every {} ms",
                self.config.poll_interval.as_millis()
            ));
        }
        self.dirty.clear();
        self.schedule.flushed();
        self.rescan = None;
        if let Err(err) = self.indexer.reload_rules() {
            tracing::warn!("cannot reload the exclusion rules: {err}");
        }
        self.reconcile(CommitTrigger::Rescan);
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

    fn next_timeout(&self) -> Duration {
        if self.root_lost.is_some() {
            return ROOT_CHECK_EVERY;
        }
        self.schedule.wait(Instant::now())
    }

    fn on_timeout(&mut self) {
        if self.root_lost.is_some() {
            self.check_root();
            return;
        }
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
                self.status.fail("updating the index (rescanning)", &err);
                self.reconcile(CommitTrigger::Rescan);
            }
        }
        self.status.set_pending(self.dirty.len());
    }

    fn reconcile(&mut self, trigger: CommitTrigger) {
        if self.root_lost.is_some() {
            // Nothing to follow until the folder is back; `check_root` reconciles then.
            return;
        }
        let started = Instant::now();
        match self.indexer.reconcile(None) {
            Ok(report) => {
                self.status.clear_error();
                if report.root_reopened {
                    // A new folder took the old one's place: the old watches are dead.
                    self.root_lost = Some("the vault folder was replaced".into());
                    self.recover_root();
                    return;
                }
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
            Err(Error::VaultChanged { reason, .. }) => self.lose_root(reason),
            Err(err) => {
                self.status.fail("a reconcile", &err);
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
                self.status
                    .set_documents(&self.indexer.index().kind_counts());
                self.status.clear_error();
                if self.indexer.note_count() > 0 {
                    self.status.set_no_notes(None);
                }
            }
            Ok(false) => {}
            Err(err) => {
                self.status.fail("a commit", &err);
            }
        }
    }
}
