//! What the server knows about its own state, for `/readyz`, the search page and the logs.
//!
//! The sync loop writes it; HTTP handlers read it. It is a small struct behind a mutex: updates
//! happen a few times per commit, reads once per status request.
//!
//! Two notions of ready: [`Status::is_ready`] says the first index has been committed (tool
//! calls stop waiting for it), and [`Status::problems`] lists what makes the index untrustworthy
//! now: a lost watcher, a failing reconcile or commit, or a sync thread that has not shown a
//! sign of life ([`Status::beat`]) for [`STUCK_AFTER`]. `/readyz` is 200 only when the first
//! index is done and there is no problem.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A sync thread silent this long (no loop turn, no file read) is reported stuck.
pub(crate) const STUCK_AFTER: Duration = Duration::from_secs(120);

use crate::vault::note::DocumentKind;
use serde_json::{Value, json};

/// Shared state of a running server.
#[derive(Debug)]
pub(crate) struct Status {
    ready: AtomicBool,
    ready_tx: tokio::sync::watch::Sender<bool>,
    inner: Mutex<Inner>,
    started: Instant,
    /// Milliseconds since `started` of the sync thread's last sign of life; 0 when no sync
    /// thread runs (a follower, a one-shot command).
    heartbeat: AtomicU64,
}

#[derive(Debug, Default, Clone)]
struct Inner {
    notes: usize,
    /// Documents in the index by kind (`markdown`, `pdf`, …), kinds with none left out.
    documents: Vec<(&'static str, usize)>,
    phase: String,
    progress: Option<(usize, usize)>,
    last_commit: Option<SystemTime>,
    last_event: Option<SystemTime>,
    last_reconcile: Option<SystemTime>,
    pending: usize,
    skipped: usize,
    warnings: usize,
    watcher: String,
    /// Why the watcher cannot follow the vault now (its folder is gone or moved).
    watcher_lost: Option<String>,
    last_error: Option<String>,
    rebuilt: Option<String>,
    /// Set when the vault holds no note: says which folder and which files are indexed.
    no_notes: Option<String>,
}

impl Default for Status {
    fn default() -> Self {
        Status::new()
    }
}

impl Status {
    pub(crate) fn new() -> Status {
        let status = Status {
            ready: AtomicBool::new(false),
            ready_tx: tokio::sync::watch::Sender::new(false),
            inner: Mutex::new(Inner::default()),
            started: Instant::now(),
            heartbeat: AtomicU64::new(0),
        };
        status.update(|s| s.phase = "starting".into());
        status
    }

    /// Waits until ready, at most `timeout`; returns whether it is ready.
    pub(crate) async fn wait_ready(&self, timeout: std::time::Duration) -> bool {
        let mut rx = self.ready_tx.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|ready| *ready)).await;
        self.is_ready()
    }

    /// `(indexed so far, total)` of the first index, while it runs.
    pub(crate) fn progress(&self) -> Option<(usize, usize)> {
        self.inner.lock().ok().and_then(|s| s.progress)
    }

    /// True once the first reconcile has committed: the index has caught up with the vault.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub(crate) fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
        self.ready_tx.send_replace(true);
        self.update(|s| {
            s.phase = "watching".into();
            s.progress = None;
        });
    }

    fn update(&self, f: impl FnOnce(&mut Inner)) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut inner);
    }

    pub(crate) fn set_phase(&self, phase: &str) {
        self.update(|s| s.phase = phase.to_string());
    }

    pub(crate) fn set_progress(&self, done: usize, total: usize) {
        self.update(|s| s.progress = Some((done, total)));
    }

    pub(crate) fn set_notes(&self, notes: usize) {
        self.update(|s| s.notes = notes);
    }

    /// The documents the committed index holds, by kind.
    pub(crate) fn set_documents(&self, kinds: &[(DocumentKind, usize)]) {
        let documents = kinds.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        self.update(|s| s.documents = documents);
    }

    pub(crate) fn committed(&self, notes: usize) {
        self.update(|s| {
            s.notes = notes;
            s.last_commit = Some(SystemTime::now());
        });
    }

    pub(crate) fn event_seen(&self, pending: usize) {
        self.update(|s| {
            s.last_event = Some(SystemTime::now());
            s.pending = pending;
        });
    }

    pub(crate) fn set_pending(&self, pending: usize) {
        self.update(|s| s.pending = pending);
    }

    pub(crate) fn reconciled(&self) {
        self.update(|s| s.last_reconcile = Some(SystemTime::now()));
    }

    pub(crate) fn set_counts(&self, skipped: usize, warnings: usize) {
        self.update(|s| {
            s.skipped = skipped;
            s.warnings = warnings;
        });
    }

    pub(crate) fn set_watcher(&self, watcher: &str) {
        self.update(|s| {
            s.watcher = watcher.to_string();
            s.watcher_lost = None;
        });
    }

    /// The watcher cannot follow the vault until the folder is back.
    pub(crate) fn set_watcher_lost(&self, reason: &str) {
        self.update(|s| {
            s.watcher = format!("lost: {reason}");
            s.watcher_lost = Some(reason.to_string());
        });
    }

    /// A sign of life from the sync thread.
    pub(crate) fn beat(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.heartbeat.store(now.max(1), Ordering::Relaxed);
    }

    /// How long since the sync thread's last sign of life (`None` without a sync thread).
    fn silent_for(&self) -> Option<Duration> {
        let last = self.heartbeat.load(Ordering::Relaxed);
        (last > 0).then(|| {
            self.started
                .elapsed()
                .saturating_sub(Duration::from_millis(last))
        })
    }

    /// Why the index cannot be trusted to follow the vault right now; empty when it can.
    pub(crate) fn problems(&self) -> Vec<String> {
        self.problems_with(STUCK_AFTER)
    }

    fn problems_with(&self, stuck_after: Duration) -> Vec<String> {
        let inner = self.inner.lock().map(|s| s.clone()).unwrap_or_default();
        let mut problems = Vec::new();
        if let Some(reason) = inner.watcher_lost {
            problems.push(format!("watcher lost: {reason}"));
        }
        if let Some(error) = inner.last_error {
            problems.push(format!("the index is not following the vault: {error}"));
        }
        if let Some(silent) = self.silent_for()
            && silent >= stuck_after
        {
            problems.push(format!(
                "the indexer has shown no sign of life for {} s (stuck?)",
                silent.as_secs()
            ));
        }
        problems
    }

    /// The last operation succeeded: no error to show.
    pub(crate) fn clear_error(&self) {
        self.update(|s| s.last_error = None);
    }

    /// Records that the last full walk found no note (`None` once one appears).
    pub(crate) fn set_no_notes(&self, message: Option<String>) {
        self.update(|s| s.no_notes = message);
    }

    /// An operation failed: the detail (which may name paths) goes to the log under an error
    /// id; `/readyz`, which anyone may read, shows the id.
    pub(crate) fn fail(&self, context: &str, err: &dyn std::fmt::Display) {
        let error_id = crate::error::error_id();
        tracing::error!(%error_id, "{context} failed: {err}");
        self.update(|s| {
            s.last_error = Some(format!(
                "{context} failed (error id {error_id}); the server log has the details"
            ))
        });
    }

    /// The index was rebuilt at start-up; the reason (which may name paths) is in the log.
    pub(crate) fn set_rebuilt(&self) {
        self.update(|s| s.rebuilt = Some("at start-up; the server log says why".to_string()));
    }

    /// True when the first index is done and nothing makes it untrustworthy: what `/readyz`
    /// answers 200 for.
    pub(crate) fn is_healthy(&self) -> bool {
        self.is_ready() && self.problems().is_empty()
    }

    /// The `/readyz` body for anyone: whether the server is ready, and why not; no counts, no
    /// error text.
    pub(crate) fn to_public_json(&self) -> Value {
        let inner = self.inner.lock().map(|s| s.clone()).unwrap_or_default();
        json!({
            "ready": self.is_healthy(),
            "phase": inner.phase,
            "watcher": if inner.watcher_lost.is_some() { "lost" } else { "ok" },
        })
    }

    /// The `/readyz` body.
    pub(crate) fn to_json(&self) -> Value {
        let inner = self.inner.lock().map(|s| s.clone()).unwrap_or_default();
        let time = |t: Option<SystemTime>| {
            t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| crate::index::fetch::rfc3339(d.as_nanos() as i64))
        };
        let problems = self.problems();
        json!({
            "ready": self.is_ready() && problems.is_empty(),
            "problems": problems,
            "phase": inner.phase,
            "progress": inner.progress.map(|(done, total)| json!({"done": done, "total": total})),
            "notes": inner.notes,
            "documents": inner.documents.iter().map(|(k, n)| (k.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "pending_changes": inner.pending,
            "skipped": inner.skipped,
            "warnings": inner.warnings,
            "last_commit": time(inner.last_commit),
            "last_event": time(inner.last_event),
            "last_reconcile": time(inner.last_reconcile),
            "watcher": inner.watcher,
            "last_error": inner.last_error,
            "rebuilt": inner.rebuilt,
            "no_notes": inner.no_notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_while_the_index_cannot_follow_the_vault() {
        let status = Status::new();
        assert!(!status.is_healthy(), "not before the first index");
        status.set_ready();
        assert!(status.is_healthy());
        status.set_watcher_lost("the vault folder is gone");
        assert!(!status.is_healthy());
        assert_eq!(
            status.to_json()["watcher"],
            "lost: the vault folder is gone"
        );
        assert_eq!(status.to_public_json()["watcher"], "lost");
        assert_eq!(status.to_public_json()["ready"], false);
        status.set_watcher("native events");
        assert!(status.is_healthy());
        status.fail("a reconcile", &"disk gone");
        assert!(!status.is_healthy());
        status.clear_error();
        // A sync thread that stopped beating.
        status.beat();
        assert!(status.problems_with(Duration::from_secs(60)).is_empty());
        assert!(
            status.problems_with(Duration::ZERO)[0].contains("no sign of life"),
            "{:?}",
            status.problems_with(Duration::ZERO)
        );
        assert!(status.is_ready(), "tool calls need not wait");
    }
}
