//! The audit log (`--audit-log FILE`): one JSON line per tool call with the time, the client (a
//! token's label or a JWT subject, never a token), the transport, the tool, its arguments, the
//! ids it returned, how long it took and how it ended; and one line per event of the built-in
//! OAuth server ([`OAuthEvent`]): registrations, approvals, refusals, revocations and token use,
//! naming the client, never a token, code or passphrase. OAuth events also go to the server log.
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
use crate::service::oauth::ClientRef;
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

/// What the built-in OAuth server did. No variant can carry a token, a code or a passphrase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OAuthEvent {
    /// A client registered (RFC 7591).
    Registered { client: ClientRef },
    /// The owner approved a client on the consent page.
    Approved { client: ClientRef },
    /// A request was refused: a wrong passphrase, a denial, a bad parameter.
    Refused { client: ClientRef, reason: String },
    /// A grant's tokens were used (the first use, then at most hourly per grant; every tool
    /// call line names the client as well).
    TokenUsed { client: ClientRef },
    /// Grants ended: by the owner, by the client, or because a code or refresh token came back.
    Revoked { client: ClientRef, reason: String },
}

impl OAuthEvent {
    fn name(&self) -> &'static str {
        match self {
            OAuthEvent::Registered { .. } => "oauth_registered",
            OAuthEvent::Approved { .. } => "oauth_approved",
            OAuthEvent::Refused { .. } => "oauth_refused",
            OAuthEvent::TokenUsed { .. } => "oauth_token_used",
            OAuthEvent::Revoked { .. } => "oauth_revoked",
        }
    }

    fn client(&self) -> &ClientRef {
        match self {
            OAuthEvent::Registered { client }
            | OAuthEvent::Approved { client }
            | OAuthEvent::Refused { client, .. }
            | OAuthEvent::TokenUsed { client }
            | OAuthEvent::Revoked { client, .. } => client,
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            OAuthEvent::Refused { reason, .. } | OAuthEvent::Revoked { reason, .. } => Some(reason),
            _ => None,
        }
    }
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
        let line = json!({
            "time": now_rfc3339(),
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

impl AuditLog {
    /// Records an OAuth event: in the audit file when there is one, and in the server log.
    pub(crate) fn oauth(&self, event: OAuthEvent) {
        let client = event.client();
        let reason = event.reason().unwrap_or("");
        match event {
            OAuthEvent::TokenUsed { .. } => tracing::debug!(
                client_id = %client.client_id,
                client_name = %client.client_name,
                "{}",
                event.name()
            ),
            _ => tracing::info!(
                client_id = %client.client_id,
                client_name = %client.client_name,
                reason,
                "{}",
                event.name()
            ),
        }
        let Some((tx, redactor)) = &self.tx else {
            return;
        };
        let mut line = json!({
            "time": now_rfc3339(),
            "event": event.name(),
            "client_id": client.client_id,
            "client_name": client.client_name,
        });
        if let Some(reason) = event.reason() {
            line["reason"] = reason.into();
        }
        // A client names itself at registration: its name crosses the boundary like any text.
        let line = Redacted::new(line, redactor);
        if tx.try_send(line.to_string()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn now_rfc3339() -> String {
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    crate::index::fetch::rfc3339(time)
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
