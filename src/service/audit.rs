//! The audit log (`--audit-log FILE`): one JSON line per tool call with the time, the client (a
//! token's label or a JWT subject, never a token), the transport, the tool, its arguments, the
//! ids it returned, how long it took and how it ended.
//!
//! Every line crosses the redaction boundary first: a query that holds a secret is logged with
//! the secret redacted.
//!
//! Lines go through a bounded channel to a writer thread, so logging never slows a search; if
//! the disk cannot keep up, lines are dropped and counted rather than blocking requests.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::service::redact::Redacted;
use crate::vault::redact::Redactor;

/// One tool call.
#[derive(Debug)]
pub(crate) struct AuditEntry {
    pub(crate) client: String,
    pub(crate) transport: &'static str,
    pub(crate) tool: &'static str,
    pub(crate) arguments: Value,
    pub(crate) result_ids: Vec<String>,
    pub(crate) duration: Duration,
    /// `ok`, `not_found`, `bad_argument`, `timeout`, `still_indexing` or `error`.
    pub(crate) outcome: &'static str,
}

/// A handle to the audit log; cheap to clone. A disabled log records nothing.
#[derive(Clone, Default)]
pub(crate) struct AuditLog {
    tx: Option<(crossbeam_channel::Sender<String>, Arc<Redactor>)>,
    dropped: Arc<AtomicU64>,
}

impl AuditLog {
    /// Opens (appends to) the file and starts the writer thread.
    pub(crate) fn open(path: &Path, redactor: Arc<Redactor>) -> Result<AuditLog> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(|e| Error::io(path, e))?;
        let (tx, rx) = crossbeam_channel::bounded::<String>(10_000);
        let shown = path.display().to_string();
        std::thread::Builder::new()
            .name("deepvault-audit".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(file);
                while let Ok(line) = rx.recv() {
                    let mut ok = writeln!(out, "{line}").is_ok();
                    // Flush when the queue is drained, so lines reach the file promptly.
                    while let Ok(more) = rx.try_recv() {
                        ok &= writeln!(out, "{more}").is_ok();
                    }
                    if !(ok && out.flush().is_ok()) {
                        tracing::error!("cannot write the audit log {shown}");
                    }
                }
            })
            .map_err(|e| Error::io(path, e))?;
        Ok(AuditLog {
            tx: Some((tx, redactor)),
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Queues an entry; never blocks.
    pub(crate) fn record(&self, entry: AuditEntry) {
        let Some((tx, redactor)) = &self.tx else {
            return;
        };
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        let line = json!({
            "time": crate::index::fetch::rfc3339(time),
            "client": entry.client,
            "transport": entry.transport,
            "tool": entry.tool,
            "arguments": entry.arguments,
            "result_ids": entry.result_ids,
            "duration_ms": (entry.duration.as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
            "outcome": entry.outcome,
        });
        let line = Redacted::new(line, redactor);
        if tx.try_send(line.to_string()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// An argument as logged: at most 1,000 characters.
pub(crate) fn logged_argument(text: &str) -> Value {
    if text.chars().count() <= 1000 {
        Value::String(text.to_string())
    } else {
        let cut: String = text.chars().take(1000).collect();
        Value::String(format!("{cut}… ({} characters)", text.chars().count()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/audit.jsonl");
        let log = AuditLog::open(&path, Arc::new(Redactor::new(true, &[]).unwrap())).unwrap();
        log.record(AuditEntry {
            client: "laptop".into(),
            transport: "http",
            tool: "search",
            arguments: json!({"query": logged_argument(&format!("AKIAIOSFODNN7EXAMPLE {}", "x".repeat(2000)))}),
            result_ids: vec!["a.md".into()],
            duration: Duration::from_micros(1500),
            outcome: "ok",
        });
        drop(log);
        let mut text = String::new();
        for _ in 0..500 {
            text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.ends_with('\n') {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["client"], "laptop");
        assert_eq!(line["result_ids"], json!(["a.md"]));
        assert_eq!(line["duration_ms"], 1.5);
        let query = line["arguments"]["query"].as_str().unwrap();
        assert!(query.ends_with("(2021 characters)"), "{query}");
        assert!(query.starts_with("[REDACTED aws-access-key] x"), "{query}");
    }
}
