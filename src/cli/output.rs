//! Output for humans: a progress bar on a terminal, and numbers and sizes made readable.

/// A progress bar on a terminal; otherwise (a log, CI) a line now and then.
pub(crate) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    /// When the last line was printed, without a terminal.
    last_line: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Without a terminal, a progress line at most this often.
const LINE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl Progress {
    pub(crate) fn new(enabled: bool) -> Progress {
        Progress::doing(enabled, "indexing")
    }

    /// A bar labelled with what is being done to the notes (`indexing`, `embedding`).
    pub(crate) fn doing(enabled: bool, what: &str) -> Progress {
        let bar = enabled.then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(&format!(
                    "{{spinner}} {what} {{pos}}/{{len}} notes [{{bar:30}}] {{per_sec}} eta {{eta}}"
                ))
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        Progress {
            bar,
            last_line: std::sync::Mutex::new(None),
        }
    }

    pub(crate) fn update(&self, done: usize, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            return;
        }
        let mut last = self.last_line.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|at| at.elapsed() >= LINE_EVERY) && done < total {
            *last = Some(std::time::Instant::now());
            eprintln!("indexing: {}/{} notes", group(done), group(total));
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `1234567.0` → `1.2 MB`.
pub(crate) fn human_bytes(bytes: f64) -> String {
    if bytes >= 1_000_000.0 {
        format!("{:.1} MB", bytes / 1_000_000.0)
    } else if bytes >= 1_000.0 {
        format!("{:.1} KB", bytes / 1_000.0)
    } else {
        format!("{bytes:.0} B")
    }
}

/// `12345` → `12,345`.
pub(crate) fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An error as the user sees it: one line that says what failed and why (each cause once, the
/// OS error included), then the hints.
///
/// anyhow's `{:#}` joins the causes with `: ` after the whole message, hint included, so the OS
/// error came after the hint (`hint: pass the folder …: No such file or directory`). Here each
/// message is split at its `hint:`, the causes are joined on the error line, and the hints go
/// below it. With `--json`, the same report is printed as `{"error": {"message", "hint"}}`.
#[derive(Debug, serde::Serialize)]
pub(crate) struct ErrorReport {
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

const HINT: &str = "\n\nhint: ";

impl ErrorReport {
    pub(crate) fn new(err: &anyhow::Error) -> ErrorReport {
        let mut message = String::new();
        let mut hints: Vec<String> = Vec::new();
        for cause in err.chain() {
            let text = cause.to_string();
            let (head, hint) = match text.split_once(HINT) {
                Some((head, hint)) => (head.trim(), Some(hint.trim())),
                None => (text.trim(), None),
            };
            // A message that quotes its cause (`cannot read …: {source}`) does not repeat it.
            if !head.is_empty() && !message.contains(head) {
                if !message.is_empty() {
                    message.push_str(": ");
                }
                message.push_str(head);
            }
            if let Some(hint) = hint
                && !hints.iter().any(|h| h == hint)
            {
                hints.push(hint.to_string());
            }
        }
        ErrorReport {
            message,
            hint: (!hints.is_empty()).then(|| hints.join("\n")),
        }
    }

    /// `{"error": {"message": …, "hint": …}}`.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string_pretty(&serde_json::json!({ "error": self }))
            .expect("an error report serializes")
    }
}

impl std::fmt::Display for ErrorReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "{HINT}{hint}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_os_error_goes_on_the_error_line_and_the_hint_last() {
        let missing = std::path::Path::new("/no/such/vault");
        let err: anyhow::Error = crate::Error::VaultMissing {
            path: missing.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        }
        .into();
        let report = ErrorReport::new(&err);
        assert_eq!(
            report.message,
            "vault folder /no/such/vault does not exist: entity not found"
        );
        let hint = report.hint.as_deref().unwrap();
        assert!(hint.starts_with("pass the folder"), "{hint}");
        assert!(!hint.contains("not found"), "{hint}");
        let shown = report.to_string();
        assert!(shown.ends_with(hint), "{shown}");

        // A context over an error that already quotes its cause: each said once.
        let err = anyhow::Error::from(crate::Error::IndexDir {
            path: "/x".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        })
        .context("cannot open the index");
        let report = ErrorReport::new(&err);
        assert_eq!(
            report.message,
            "cannot open the index: cannot use the index directory /x: permission denied"
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["error"]["message"], report.message.as_str());
        assert!(
            json["error"]["hint"]
                .as_str()
                .unwrap()
                .contains("--index-dir")
        );
    }
}
