//! What the server knows about its own state, for `/readyz`, the search page and the logs.
//!
//! The sync loop writes it; HTTP handlers read it. It is a small struct behind a mutex: updates
//! happen a few times per commit, reads once per status request.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Shared state of a running server.
#[derive(Debug)]
pub(crate) struct Status {
    ready: AtomicBool,
    ready_tx: tokio::sync::watch::Sender<bool>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default, Clone)]
struct Inner {
    notes: usize,
    phase: String,
    progress: Option<(usize, usize)>,
    last_commit: Option<SystemTime>,
    last_event: Option<SystemTime>,
    last_reconcile: Option<SystemTime>,
    pending: usize,
    skipped: usize,
    warnings: usize,
    watcher: String,
    last_error: Option<String>,
    rebuilt: Option<String>,
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
        self.update(|s| s.watcher = watcher.to_string());
    }

    /// The last operation succeeded: no error to show.
    pub(crate) fn clear_error(&self) {
        self.update(|s| s.last_error = None);
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

    /// The `/readyz` body.
    pub(crate) fn to_json(&self) -> Value {
        let inner = self.inner.lock().map(|s| s.clone()).unwrap_or_default();
        let time = |t: Option<SystemTime>| {
            t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| crate::index::fetch::rfc3339(d.as_nanos() as i64))
        };
        json!({
            "ready": self.is_ready(),
            "phase": inner.phase,
            "progress": inner.progress.map(|(done, total)| json!({"done": done, "total": total})),
            "notes": inner.notes,
            "pending_changes": inner.pending,
            "skipped": inner.skipped,
            "warnings": inner.warnings,
            "last_commit": time(inner.last_commit),
            "last_event": time(inner.last_event),
            "last_reconcile": time(inner.last_reconcile),
            "watcher": inner.watcher,
            "last_error": inner.last_error,
            "rebuilt": inner.rebuilt,
        })
    }
}
